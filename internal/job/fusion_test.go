package job_test

import (
	"context"
	"testing"

	"github.com/coop-diffusion/coop/adapters"
	"github.com/coop-diffusion/coop/internal/job"
	"github.com/coop-diffusion/coop/latent"
)

// misScaledVAE decodes latents with a wrong scaling factor (off by
// factor), the classic bridge bug: encode and decode no longer agree.
type misScaledVAE struct {
	adapters.Autoencoder
	factor float64
	buf    *latent.Tensor
}

func (m *misScaledVAE) Decode(ctx context.Context, lat, dst *latent.Tensor) error {
	if m.buf == nil || !m.buf.SameShape(lat) {
		m.buf = latent.New(lat.Shape...)
	}
	latent.Axpby(m.buf, m.factor, lat, 0, lat)
	return m.Autoencoder.Decode(ctx, m.buf, dst)
}

const fusionRecipe = `
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
      - {model: xl, weight: 0.5}
`

func TestFusionAcrossSpaces(t *testing.T) {
	p := prepare(t, fusionRecipe)
	res := p.run(t, job.RunOptions{})
	db := wantPhoto(t, "sd15+sdxl at d=0.5", "sd15", res.Image, "coffee", 30)
	t.Logf("sd15+sdxl fused at d=0.5: coffee at %.1f dB; report %+v", db, res.Report.Bridges)
	if len(res.Report.Bridges) < 2 {
		t.Errorf("report shows bridges %+v, want both directions", res.Report.Bridges)
	}

	// Negative control: the same fusion through a bridge whose decoder
	// uses a wrong scaling factor must miss the bar.
	xl := p.models.ByName["xl"]
	orig := xl.VAE
	xl.VAE = &misScaledVAE{Autoencoder: orig, factor: 1.6}
	defer func() { xl.VAE = orig }()
	bad := p.run(t, job.RunOptions{})
	k, badDB := bestPhoto(t, "sd15", bad.Image)
	if badDB >= 30 {
		t.Errorf("negative control: a mis-scaled bridge still reached %.1f dB (photo %d): the test cannot fail", badDB, k)
	}
	t.Logf("negative control (decoder scaling off by 1.6x): best %.1f dB", badDB)
}

func TestFusionWeights(t *testing.T) {
	const recipe = `
version: 1
models:
  sd: {path: sd15}
  xl: {path: sdxl}
seed: 9
steps: 20
stages:
  - participants:
      - {model: sd, weight: 1, prompt: a photo of a cat}
      - {model: xl, weight: %s, prompt: a photo of a rocket}
`
	single := runRecipe(t, `
version: 1
models:
  sd: {path: sd15}
prompt: a photo of a cat
seed: 9
steps: 20
`)
	zero := runRecipe(t, sprintf(recipe, "0"))
	for i := range single.Image.Data {
		if single.Image.Data[i] != zero.Image.Data[i] {
			t.Fatalf("weight 0 changed the image at %d: %v vs %v", i, single.Image.Data[i], zero.Image.Data[i])
		}
	}
	one := runRecipe(t, sprintf(`
version: 1
models:
  sd: {path: sd15}
  xl: {path: sdxl}
seed: 9
steps: 20
stages:
  - participants:
      - {model: sd, weight: 0, prompt: a photo of a cat}
      - {model: xl, weight: 1, prompt: a photo of a rocket}
`))
	wantPhoto(t, "weight 1 on sdxl (rocket)", "sd15", one.Image, "rocket", 30)
}
