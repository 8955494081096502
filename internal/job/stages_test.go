package job_test

import (
	"math"
	"path/filepath"
	"testing"

	"github.com/coop-diffusion/coop/internal/job"
	"github.com/coop-diffusion/coop/latent"
)

// noiseStats measures the noise part n = z - sqrt(abar) x0 of the latent a
// stage enters with: its variance relative to 1 - abar, and its lag-1
// spatial autocorrelation.
func noiseStats(t *testing.T, recipe string) (varianceRatio, rho float64) {
	p := prepare(t, recipe)
	p.run(t, job.RunOptions{OnEnter: func(stage int, z, x0 *latent.Tensor, abar float64) {
		if stage != 1 {
			return
		}
		n := latent.New(z.Shape...)
		latent.Axpby(n, 1, z, -math.Sqrt(abar), x0)
		_, std := latent.MeanStd(n)
		varianceRatio, rho = std*std/(1-abar), latent.Lag1Autocorrelation(n)
	}})
	return
}

func TestResolutionSwitchKeepsNoiseWhite(t *testing.T) {
	const recipe = `
version: 1
models:
  small: {path: sd15-small}
  big: {path: sd15}
prompt: a photo of a cat
seed: 3
steps: 20
stages:
  - {model: small, until: 0.5, transition: %s}
  - {model: big}
`
	v, rho := noiseStats(t, sprintf(recipe, "renoise"))
	t.Logf("renoise: variance %.4f of 1-abar, lag-1 autocorrelation %.4f", v, rho)
	if math.Abs(v-1) > 0.05 || math.Abs(rho) >= 0.05 {
		t.Errorf("renoise: noise variance %.4f of 1-abar (want within 5%%), lag-1 autocorrelation %.4f (want |rho| < 0.05)", v, rho)
	}
	v, rho = noiseStats(t, sprintf(recipe, "naive"))
	t.Logf("naive: variance %.4f of 1-abar, lag-1 autocorrelation %.4f", v, rho)
	if v >= 0.95 || rho <= 0.3 {
		t.Errorf("naive: noise variance %.4f of 1-abar and lag-1 autocorrelation %.4f: want the variance shrinking and rho > 0.3", v, rho)
	}
}

func TestSinglePassSuperResolution(t *testing.T) {
	sr := runRecipe(t, `
version: 1
models:
  small: {path: sd15-small}
  xl: {path: sdxl}
prompt: a photo of a rocket
seed: 4
steps: 20
stages:
  - {model: small, until: 0.5}
  - {model: xl}
`)
	db := wantPhoto(t, "256 px sd15-small then 512 px sdxl", "sdxl", sr.Image, "rocket", 35)
	if got := sr.Report.Stages; len(got) != 2 || got[1].Entry != "renoise" {
		t.Errorf("stages %+v, want two with the second entered by renoise", got)
	}
	// The two-pass alternative: 256 px to the end, then a 512 px img2img
	// pass over the same second half of the schedule.
	low := runRecipe(t, `
version: 1
models:
  small: {path: sd15-small}
prompt: a photo of a rocket
seed: 4
steps: 20
`)
	lowPNG := filepath.Join(t.TempDir(), "low.png")
	if err := latent.SavePNG(lowPNG, low.Image, latent.NoOverwrite); err != nil {
		t.Fatal(err)
	}
	second := runRecipe(t, sprintf(`
version: 1
models:
  xl: {path: sdxl}
prompt: a photo of a rocket
seed: 4
steps: 20
img2img: {image: %s, strength: 0.5}
`, lowPNG))
	twoPass := low.Report.ModelEvaluations + second.Report.ModelEvaluations
	t.Logf("single pass: %.1f dB, %d model evaluations; two passes: %d", db, sr.Report.ModelEvaluations, twoPass)
	if sr.Report.ModelEvaluations >= twoPass {
		t.Errorf("single pass used %d model evaluations, two passes %d", sr.Report.ModelEvaluations, twoPass)
	}
}

func TestHandoffSplitsSteps(t *testing.T) {
	res := runRecipe(t, `
version: 1
models:
  base: {path: sdxl}
  refiner: {path: sdxl-refiner}
prompt: a photo of an astronaut
seed: 2
steps: 40
stages:
  - {model: base, until: 0.8}
  - {model: refiner}
`)
	st := res.Report.Stages
	if len(st) != 2 || st[0].Steps != 32 || st[1].Steps != 8 || st[1].Entry != "continue" {
		t.Fatalf("stages %+v, want 32 steps then 8 continuing", st)
	}
	db := wantPhoto(t, "sdxl base then refiner", "sdxl", res.Image, "astronaut", 35)
	t.Logf("handoff 32+8 steps: astronaut at %.1f dB", db)
}
