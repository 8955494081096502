package job_test

import (
	"context"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/coop-diffusion/coop/adapters/cascade"
	"github.com/coop-diffusion/coop/coop"
	"github.com/coop-diffusion/coop/internal/fixtures"
	"github.com/coop-diffusion/coop/internal/job"
	"github.com/coop-diffusion/coop/latent"
	"github.com/coop-diffusion/coop/recipes"
)

func TestCascadeStages(t *testing.T) {
	res := runRecipe(t, `
version: 1
models:
  prior: {path: cascade-prior}
  decoder: {path: cascade-decoder}
prompt: a photo of a cat
seed: 8
stages:
  - {model: prior, transition: condition}
  - {model: decoder}
`)
	st := res.Report.Stages
	if len(st) != 2 || st[0].Steps != 20 || st[1].Steps != 10 || st[1].Entry != "effnet" {
		t.Errorf("stages %+v, want prior 20 steps then decoder 10 steps conditioned on it", st)
	}
	db := wantPhoto(t, "Stable Cascade C, B, A", "cascade-decoder", res.Image, "cat", 35)
	t.Logf("cascade C->B->A: cat at %.1f dB", db)
}

// The Cascade prior's 16-channel space keeps only coarse structure, so
// the recipe gives it a say over the noisy part of the trajectory and fades
// it out before the details settle: the use PanGu-Draw makes of a
// structure model.
func TestCascadeAsParticipant(t *testing.T) {
	res := runRecipe(t, `
version: 1
models:
  sd: {path: sd15}
  prior: {path: cascade-prior}
prompt: a photo of a coffee
seed: 8
steps: 20
stages:
  - participants:
      - {model: sd, weight: 0.5}
      - {model: prior, weight: [[1, 0.5], [0.3, 0.5], [0.1, 0]]}
`)
	db := wantPhoto(t, "sd15 fused with the Cascade prior", "sd15", res.Image, "coffee", 30)
	t.Logf("sd15 + cascade prior (bridged through effnet and the previewer): coffee at %.1f dB; bridges %+v", db, res.Report.Bridges)
}

// cascadeFusion is TestCascadeAsParticipant's recipe with the prior's
// model entry and weight left to fill in.
const cascadeFusion = `
version: 1
models:
  sd: {path: sd15}
  prior: {path: cascade-prior%s}
  dec: {path: cascade-decoder}
prompt: a photo of a coffee
seed: 8
steps: 20
stages:
  - participants:
      - {model: sd, weight: 0.5}
      - {model: prior, weight: %s}
`

// The Cascade prior fused with sd15 and bridged through stage B and stage
// A (the decoder model's) instead of its previewer: the fusion still lands
// on the prompted photo, each decode of the prior's estimate costs the
// decoder's stage B steps, and those calls show in the report under the
// decoder's name.
func TestCascadeBridgedThroughStageB(t *testing.T) {
	for _, w := range []struct{ name, weight string }{
		{"curve", "[[1, 0.5], [0.3, 0.5], [0.1, 0]]"},
		{"constant", "0.5"},
	} {
		t.Run(w.name, func(t *testing.T) {
			preview := prepare(t, sprintf(cascadeFusion, "", w.weight)).run(t, job.RunOptions{})
			p := prepare(t, sprintf(cascadeFusion, ", decoder: dec", w.weight))
			if _, ok := p.models.ByName["prior"].VAE.(*cascade.Bridge); !ok {
				t.Fatalf("the prior's autoencoder is %T, want a *cascade.Bridge", p.models.ByName["prior"].VAE)
			}
			res := p.run(t, job.RunOptions{})
			db := wantPhoto(t, "sd15 fused with the Cascade prior through stage B and A", "sd15", res.Image, "coffee", 30)
			dbPreview := coffeePSNR(t, preview.Image)

			rep := res.Report
			decodes, carry := 0, time.Duration(0)
			for _, b := range rep.Bridges {
				if b.From == "prior" {
					decodes += b.Decodes
					carry += b.Time
				}
			}
			var dec coop.ModelReport
			for _, m := range rep.Models {
				if m.Name == "dec" {
					dec = m
				}
			}
			if want := decodes * cascade.DefaultBridgeSteps; dec.Calls != want || dec.Predictions != 0 {
				t.Errorf("decoder: %d predictions, %d calls; want none and %d (%d decodes of %d stage B steps)", dec.Predictions, dec.Calls, want, decodes, cascade.DefaultBridgeSteps)
			}
			previewCarry, previewDecodes := time.Duration(0), 0
			for _, b := range preview.Report.Bridges {
				if b.From == "prior" {
					previewDecodes += b.Decodes
					previewCarry += b.Time
				}
			}
			t.Logf("weight %s: through stage B (%d steps) and A, coffee at %.1f dB (previewer bridge: %.1f dB); %d decodes, %v per carry from the prior (the decoder's graphs %v inside ONNX Runtime per decode), previewer %v per carry; run %v, previewer run %v; %d model evaluations against %d",
				w.weight, cascade.DefaultBridgeSteps, db, dbPreview, decodes, per(carry, decodes), per(dec.ORT, decodes), per(previewCarry, previewDecodes),
				rep.Wall.Round(time.Millisecond), preview.Report.Wall.Round(time.Millisecond), rep.ModelEvaluations, preview.Report.ModelEvaluations)
		})
	}
}

func per(d time.Duration, n int) time.Duration {
	if n == 0 {
		return 0
	}
	return (d / time.Duration(n)).Round(time.Microsecond)
}

// coffeePSNR is the PSNR of img against the sd15 reconstruction of the
// coffee photo.
func coffeePSNR(t *testing.T, img *latent.Tensor) float64 {
	t.Helper()
	rec, err := fixtures.Reconstruction("sd15", fixtures.PhotoIndex("coffee"))
	if err != nil {
		t.Fatal(err)
	}
	return latent.PSNR(img, rec, 1)
}

// A prior that names its decoder needs no stages: its latent decodes
// through stage B and A into the prompted photo, at stage A's
// reconstruction, as the C, B, A pipeline does.
func TestCascadePriorDecodedThroughStageB(t *testing.T) {
	res := runRecipe(t, `
version: 1
models:
  prior: {path: cascade-prior, decoder: dec, decoder_steps: 4}
  dec: {path: cascade-decoder}
prompt: a photo of a rocket
seed: 3
`)
	db := wantPhoto(t, "the Cascade prior decoded through stage B and A", "cascade-decoder", res.Image, "rocket", 35)
	t.Logf("cascade prior, decoded through 4 stage B steps and stage A: rocket at %.1f dB; report models %+v", db, res.Report.Models)
}

// A decoder that is not a Stable Cascade decoder, or a decoder on a model
// that is not a Stable Cascade prior, is refused at the field, before any
// model loads.
func TestDecoderMustBeCascade(t *testing.T) {
	dir := zoo(t)
	for _, c := range []struct{ yaml, at, msg string }{
		{"version: 1\nmodels:\n  prior: {path: cascade-prior, decoder: sd}\n  sd: {path: sd15}\n", "3:41", "not a Stable Cascade decoder"},
		{"version: 1\nmodels:\n  sd: {path: sd15, decoder: dec}\n  dec: {path: cascade-decoder}\n", "3:29", "only a Stable Cascade prior"},
	} {
		r, err := recipes.LoadBytes(filepath.Join(dir, "bad.yaml"), []byte(c.yaml), dir)
		if err != nil {
			t.Fatal(err)
		}
		_, err = job.Prepare(r)
		want := filepath.Join(dir, "bad.yaml") + ":" + c.at + ": "
		if err == nil || !strings.HasPrefix(err.Error(), want) || !strings.Contains(err.Error(), c.msg) {
			t.Errorf("Prepare: %v\nwant an error at %s saying %q", err, want, c.msg)
		}
		t.Log(err)
	}
}

// With Engine.Release the decoder's sessions close with the prior that
// decodes through them (the decoder is in no stage), and the report still
// has their runs.
func TestCascadeBridgeReleased(t *testing.T) {
	p := prepare(t, sprintf(cascadeFusion, ", decoder: dec, decoder_steps: 2", "0.5"))
	res := p.run(t, job.RunOptions{Release: true})
	for _, m := range res.Report.Models {
		if m.Name != "dec" {
			continue
		}
		runs := int64(0)
		for _, g := range m.Graphs {
			if g.Role == "decoder" {
				runs = g.Runs
			}
		}
		if m.Calls == 0 || runs != int64(m.Calls) {
			t.Errorf("decoder: %d calls, %d runs of its graph", m.Calls, runs)
		}
	}
	z, _ := fixtures.DataLatent("cascade-prior", 1)
	err := p.models.ByName["prior"].VAE.Decode(context.Background(), z, latent.New(1, 3, 512, 512))
	if err == nil || !strings.Contains(err.Error(), "closed") {
		t.Errorf("decoding after the released run: %v, want the decoder's sessions closed", err)
	}
}

// A prior decoded through a decoder's stage B and A opens only the graphs
// the bridge runs: not the prior's previewer (the bridge replaces it) nor
// stage A's encoder (the bridge only decodes with stage A).
func TestCascadeBridgeOpensWhatItRuns(t *testing.T) {
	p := prepare(t, `
version: 1
models:
  prior: {path: cascade-prior, decoder: dec, decoder_steps: 2}
  dec: {path: cascade-decoder}
prompt: a photo of a rocket
seed: 3
steps: 4
`)
	p.run(t, job.RunOptions{})
	open := map[string]bool{}
	for _, name := range []string{"prior", "dec"} {
		for _, g := range p.models.ByName[name].Sessions.RuntimeStats() {
			open[name+"/"+g.Role] = g.Open
		}
	}
	t.Logf("sessions open: %v", open)
	for role, want := range map[string]bool{
		"prior/prior": true, "prior/effnet": true, "prior/previewer": false,
		"dec/decoder": true, "dec/vqgan": true, "dec/vqgan_encoder": false,
	} {
		got, ok := open[role]
		if !ok {
			t.Errorf("no graph %s in the models' stats", role)
			continue
		}
		if got != want {
			t.Errorf("%s: open %t, want %t", role, got, want)
		}
	}
}
