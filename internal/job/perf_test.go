package job_test

import (
	"context"
	"math"
	"strings"
	"testing"

	"github.com/coop-diffusion/coop/coop"
	"github.com/coop-diffusion/coop/internal/job"
	"github.com/coop-diffusion/coop/latent"
)

// TestConcurrentParticipantsMatchSequential: the fusion across spaces
// gives the same image bit for bit whether the two participants of a
// step run concurrently or one after the other.
func TestConcurrentParticipantsMatchSequential(t *testing.T) {
	p := demoJob(t, "3-blend.yaml", 1, "steps=6")
	seq := p.run(t, job.RunOptions{Concurrency: coop.Sequential})
	con := p.run(t, job.RunOptions{Concurrency: coop.AlwaysConcurrent})
	if seq.Report.Concurrent || !con.Report.Concurrent {
		t.Errorf("reports say concurrent %t and %t, want false then true", seq.Report.Concurrent, con.Report.Concurrent)
	}
	if i := firstDifference(seq.Image.Data, con.Image.Data); i >= 0 {
		t.Fatalf("pixel %d is %v sequentially, %v concurrently", i, seq.Image.Data[i], con.Image.Data[i])
	}
}

// fourModels uses four models in four stages: the 256 px model alone,
// SDXL fused with SD 1.5, SDXL alone continuing its trajectory, then the
// SDXL refiner. No stage uses all four, and SDXL predicts in two stages.
const fourModels = `
version: 1
models:
  small: {path: sd15-small}
  sd: {path: sd15}
  xl: {path: sdxl}
  refiner: {path: sdxl-refiner}
prompt: a photo of a rocket
seed: 4
steps: 20
stages:
  - {model: small, until: 0.4}
  - participants:
      - {model: xl}
      - {model: sd, weight: 0.5}
    until: 0.6
  - {model: xl, until: 0.8}
  - {model: refiner}
`

// TestReleaseAfterLastStage: with Release, each model's sessions close
// after the last stage that uses it, so the models of the first stages are
// closed while the last ones run; sessions are opened once per run and
// shared by the stages (SDXL's unet session counts the predictions of both
// stages using it); the report accounts for the time inside ONNX Runtime.
func TestReleaseAfterLastStage(t *testing.T) {
	p := prepare(t, fourModels)
	openRoles := func(name string) int {
		n := 0
		for _, g := range p.models.ByName[name].Sessions.RuntimeStats() {
			if g.Runs > 0 {
				n++
			}
		}
		return n
	}
	var during [4]map[string]int
	res := p.run(t, job.RunOptions{Release: true, Progress: func(ev coop.Event) {
		if ev.Step == 1 {
			during[ev.StageIndex] = map[string]int{"small": openRoles("small"), "sd": openRoles("sd"), "xl": openRoles("xl")}
		}
	}})
	wantPhoto(t, "four models in four stages", "sdxl", res.Image, "rocket", 30)
	if during[1]["small"] == 0 || during[2]["small"] != 0 || during[2]["sd"] != 0 || during[2]["xl"] == 0 || during[3]["xl"] != 0 {
		t.Errorf("graphs with runs, at the first step of each stage: %v; want small open in stage 1 (it decodes the handover), small and sd released in stage 2, xl in stage 3", during)
	}
	xlCalls := 0
	for _, st := range res.Report.Stages[1:3] {
		xlCalls += st.Steps
	}
	rep := res.Report
	for _, m := range rep.Models {
		if !m.Released {
			t.Errorf("model %s not released", m.Name)
		}
		if m.ORT <= 0 || m.ORTRuns == 0 {
			t.Errorf("model %s: %v inside ONNX Runtime in %d runs", m.Name, m.ORT, m.ORTRuns)
		}
		for _, g := range m.Graphs {
			if g.Role == "unet" && int(g.Runs) != m.Calls {
				t.Errorf("model %s: its unet session ran %d times for %d graph evaluations: sessions were not shared across stages", m.Name, g.Runs, m.Calls)
			}
		}
		if m.Name == "xl" && m.Calls != xlCalls {
			t.Errorf("xl: %d graph evaluations, want one per step of its two stages (%d)", m.Calls, xlCalls)
		}
	}
	if rep.ORT <= 0 || rep.Overhead != rep.Wall-(rep.ORT-rep.Overlap)-rep.Open {
		t.Errorf("report: wall %v, ORT %v (overlap %v), open %v, overhead %v do not add up", rep.Wall, rep.ORT, rep.Overlap, rep.Open, rep.Overhead)
	}
	if _, err := p.job.Run(context.Background(), p.models, job.RunOptions{Seed: 4}); err == nil || !strings.Contains(err.Error(), "closed") {
		t.Errorf("a run after release: %v, want an error saying the model is closed", err)
	}

	q := prepare(t, fourModels)
	b, err := q.job.Bench(context.Background(), q.models, job.BenchOptions{Release: true})
	if err != nil {
		t.Fatal(err)
	}
	m := b.Memory
	if m.HeldModelBytes >= m.TotalModelBytes || m.HeldModelBytes != m.TotalModelBytes-m.ModelBytes["refiner"] {
		t.Errorf("model bytes held at once %d of %d (%v): want all but the refiner's", m.HeldModelBytes, m.TotalModelBytes, m.ModelBytes)
	}
}

// TestBridgeEvery: bridging the foreign participant of the fusion every 2
// or 4 steps carries its prediction to the primary space at every k-th
// step only, takes up the fused estimate only before those steps, and
// lands on the photo bridging every step lands on.
func TestBridgeEvery(t *testing.T) {
	ref := demoJob(t, "3-blend.yaml", 0).run(t, job.RunOptions{})
	refPhoto, _ := bestPhoto(t, "sd15", ref.Image)
	for _, k := range []int{2, 4} {
		res := demoJob(t, "3-blend.yaml", 0, sprintf("stages.0.participants.1.bridge={every: %d}", k)).run(t, job.RunOptions{})
		to, back := 0, 0
		for _, b := range res.Report.Bridges {
			switch {
			case b.From == "xl" && b.To == "sd15":
				to = b.Encodes
			case b.From == "sd15" && b.To == "xl":
				back = b.Encodes
			}
		}
		steps := 20
		want := (steps + k - 1) / k
		if to != want || back != want-1 {
			t.Errorf("every %d: %d carries to the primary and %d back, want %d and %d", k, to, back, want, want-1)
		}
		photo, db := bestPhoto(t, "sd15", res.Image)
		psnr := latent.PSNR(res.Image, ref.Image, 1)
		t.Logf("every %d: photo %d at %.1f dB, %.1f dB from bridging every step", k, photo, db, psnr)
		if photo != refPhoto || db < 30 || psnr < 45 || math.IsNaN(psnr) {
			t.Errorf("every %d: photo %d at %.1f dB, %.1f dB from bridging every step (photo %d): want the same photo within 45 dB", k, photo, db, psnr, refPhoto)
		}
	}
}
