package job_test

import (
	"context"
	"path/filepath"
	"testing"

	"github.com/coop-diffusion/coop/adapters"
	"github.com/coop-diffusion/coop/coop/interposer"
	"github.com/coop-diffusion/coop/internal/fixtures"
	"github.com/coop-diffusion/coop/internal/job"
	"github.com/coop-diffusion/coop/latent"
)

// TestFusionThroughInterposers runs the cross-space fusion with fitted
// interposers in both directions instead of the pixel bridge: it lands on
// the same photo, the report shows no decode or encode in the bridges, and
// the plan's counts agree with the run's.
func TestFusionThroughInterposers(t *testing.T) {
	pixel := prepare(t, fusionRecipe)
	ref := pixel.run(t, job.RunOptions{})

	ctx := context.Background()
	sd, xl := pixel.models.ByName["sd"].VAE, pixel.models.ByName["xl"].VAE
	var photos []*latent.Tensor
	for k := 0; k < 6; k++ {
		photos = append(photos, fixtures.Photo(k))
	}
	size := adapters.Size{Height: 512, Width: 512}
	dir := t.TempDir()
	for _, f := range []struct {
		from, to adapters.Autoencoder
		file     string
	}{{xl, sd, "xl-to-sd.json"}, {sd, xl, "sd-to-xl.json"}} {
		ip, err := interposer.Fit(ctx, f.from, f.to, photos, size, size)
		if err != nil {
			t.Fatal(err)
		}
		if err := ip.Save(filepath.Join(dir, f.file)); err != nil {
			t.Fatal(err)
		}
	}
	p := prepare(t, sprintf(`
version: 1
models:
  sd: {path: sd15}
  xl: {path: sdxl}
prompt: a photo of a coffee
seed: 5
steps: 20
stages:
  - participants:
      - {model: sd, weight: 0.5}
      - model: xl
        weight: 0.5
        bridge: {interposer: %s, back: %s}
`, filepath.Join(dir, "xl-to-sd.json"), filepath.Join(dir, "sd-to-xl.json")))
	est, err := p.job.Estimate(p.models)
	if err != nil {
		t.Fatal(err)
	}
	res := p.run(t, job.RunOptions{})
	db := wantPhoto(t, "fusion through interposers", "sd15", res.Image, "coffee", 30)
	agree := latent.PSNR(res.Image, ref.Image, 1)
	t.Logf("interposer fusion: coffee at %.1f dB, %.1f dB from the pixel-bridge result; bridges %+v", db, agree, res.Report.Bridges)
	if agree < 40 {
		t.Errorf("the interposer fusion is %.1f dB from the pixel-bridge fusion, want >= 40 (sd <-> sdxl are linearly related)", agree)
	}
	interposed := 0
	for _, b := range res.Report.Bridges {
		if b.Kind == "interposer" {
			interposed++
			if b.Decodes != 0 || b.Encodes != 0 {
				t.Errorf("interposer bridge %+v decoded or encoded", b)
			}
		}
	}
	if interposed != 2 {
		t.Errorf("bridges %+v, want both directions through interposers", res.Report.Bridges)
	}
	// The plan counts the interposers' maps as such, not as pixel-bridge
	// carries.
	maps, carries := 0, 0
	for _, c := range est.Stages[0].PerStep {
		maps += c.InterposerMaps
		carries += c.Carries
	}
	bridged := est.Stages[0].Participants[1]
	if carries != 0 || maps == 0 || maps != bridged.ToPrimary+bridged.FromPrimary {
		t.Errorf("plan steps: %d pixel-bridge carries and %d interposer maps, want none and %d", carries, maps, bridged.ToPrimary+bridged.FromPrimary)
	}
	if len(est.Bridges) != len(res.Report.Bridges) {
		t.Fatalf("plan bridges %+v, run bridges %+v", est.Bridges, res.Report.Bridges)
	}
	for i, b := range est.Bridges {
		r := res.Report.Bridges[i]
		if b.From != r.From || b.To != r.To || b.Kind != r.Kind || b.Decodes != r.Decodes || b.Encodes != r.Encodes || b.Maps != r.Maps {
			t.Errorf("plan bridge %+v, run bridge %+v", b, r)
		}
		if r.Kind == "interposer" && r.Maps == 0 {
			t.Errorf("run bridge %+v counts no maps", r)
		}
	}
}
