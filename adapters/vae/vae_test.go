package vae_test

import (
	"context"
	"math"
	"testing"

	"github.com/coop-diffusion/coop/adapters"
	"github.com/coop-diffusion/coop/adapters/adapterstest"
	_ "github.com/coop-diffusion/coop/adapters/cascade"
	_ "github.com/coop-diffusion/coop/adapters/sd"
	_ "github.com/coop-diffusion/coop/adapters/sdxl"
	"github.com/coop-diffusion/coop/adapters/vae"
	"github.com/coop-diffusion/coop/internal/fixtures"
	"github.com/coop-diffusion/coop/latent"
)

func TestSpaceFromConfig(t *testing.T) {
	sd := latent.StableDiffusion()
	got := vae.SpaceFromConfig(sd, map[string]any{
		"_class_name": "AutoencoderKL", "latent_channels": 16.0, "scaling_factor": 0.3611, "shift_factor": 0.1159,
		"block_out_channels": []any{128.0, 256.0, 512.0, 512.0},
	})
	if got.Channels != 16 || got.ScalingFactor != 0.3611 || got.ShiftFactor != 0.1159 || got.Factor != 8 {
		t.Errorf("AutoencoderKL config: %+v", got)
	}
	got = vae.SpaceFromConfig(sd, map[string]any{"block_out_channels": []any{128.0, 256.0, 512.0}})
	if got.Factor != 4 {
		t.Errorf("three blocks: factor %v, want 4", got.Factor)
	}
	mean, std := []any{0.1, 0.2, 0.3, 0.4}, []any{1.0, 2.0, 3.0, 4.0}
	got = vae.SpaceFromConfig(latent.StableDiffusionXL(), map[string]any{"latents_mean": mean, "latents_std": std})
	if len(got.LatentsMean) != 4 || got.LatentsStd[3] != 4 || got.Validate() != nil {
		t.Errorf("latents_mean / latents_std: %+v", got)
	}
	got = vae.SpaceFromConfig(latent.StableDiffusionXL(), map[string]any{"latents_mean": mean[:3], "latents_std": std[:3]})
	if got.LatentsMean != nil {
		t.Errorf("latents_mean of 3 values for 4 channels was taken: %+v", got)
	}
	// PaellaVQModel multiplies latents by scale_factor before decoding.
	got = vae.SpaceFromConfig(latent.StableCascadeStageA(), map[string]any{"_class_name": "PaellaVQModel", "scale_factor": 0.3764})
	if math.Abs(got.ScalingFactor*0.3764-1) > 1e-12 || got.Factor != 4 {
		t.Errorf("PaellaVQModel config: %+v", got)
	}
	if got := vae.SpaceFromConfig(sd, nil); got.ScalingFactor != sd.ScalingFactor {
		t.Errorf("no config changed the space: %+v", got)
	}
}

// Encoding a photo gives the fixture's data latent: the adapter applies
// the pixel range and the scaling factor outside the graphs as the
// fixtures expect, for latent_parameters (sd15), latent_sample (sdxl), the
// stage A VQGAN and EfficientNet (stage C).
func TestEncodeMatchesFixture(t *testing.T) {
	ctx := context.Background()
	for _, c := range []struct {
		model, space string
		params       bool
	}{{"sd15", "sd15", true}, {"sdxl", "sdxl", false}, {"cascade-decoder", "cascade-decoder", false}, {"cascade-prior", "cascade-prior", false}} {
		m := adapterstest.LoadFixture(t, c.model)
		ae := m.VAE.(*vae.Autoencoder)
		if ae.Params() != c.params {
			t.Errorf("%s: Params() = %v", c.model, ae.Params())
		}
		const k = 2
		want, err := fixtures.DataLatent(c.space, k)
		if err != nil {
			t.Fatal(err)
		}
		got := latent.New(want.Shape...)
		if err := ae.Encode(ctx, fixtures.Photo(k), got); err != nil {
			t.Fatal(err)
		}
		if p := latent.PSNR(want, got, 8); p < 80 {
			t.Errorf("%s: encoded photo at %.1f dB (peak 8) from the fixture's latent", c.model, p)
		}
	}
}

// latent_parameters are read at the mean unless a noise stream is set;
// then each Encode draws fresh noise scaled by exp(logvar / 2).
func TestSampledEncode(t *testing.T) {
	ctx := context.Background()
	ae := adapterstest.LoadFixture(t, "sd15").VAE.(*vae.Autoencoder)
	px := fixtures.Photo(3)
	encode := func() *latent.Tensor {
		z := latent.New(1, 4, 64, 64)
		if err := ae.Encode(ctx, px, z); err != nil {
			t.Fatal(err)
		}
		return z
	}
	mean := encode()
	noise := latent.NewStream(9, "vae-test")
	ae.SetEncodeNoise(noise)
	first, second := encode(), encode()
	// The fixture's log-variance is -20: std exp(-10), times the scaling
	// factor 0.18215 in the scaled latent.
	std := math.Exp(-10) * 0.18215
	n := mean.Len()
	for i := range n {
		for draw, z := range []*latent.Tensor{first, second} {
			want := float64(mean.Data[i]) + std*float64(noise.At(uint64(draw)<<40+uint64(i)))
			if math.Abs(float64(z.Data[i])-want) > 1e-6*(1+math.Abs(want)) {
				t.Fatalf("draw %d element %d: %v, want mean + std n = %v", draw, i, z.Data[i], want)
			}
		}
	}
	ae.SetEncodeNoise(nil)
	if again := encode(); latent.PSNR(mean, again, 1) != math.Inf(1) {
		t.Error("SetEncodeNoise(nil) does not return to the mean")
	}
}

func TestDecodeShapes(t *testing.T) {
	ctx := context.Background()
	m := adapterstest.LoadFixture(t, "sd15")
	z, _ := fixtures.DataLatent("sd15", 1)
	for _, dst := range []*latent.Tensor{latent.New(1, 3, 256, 256), latent.New(1, 4, 512, 512), latent.New(2, 3, 512, 512)} {
		if err := m.VAE.Decode(ctx, z, dst); err == nil {
			t.Errorf("decoding %v into %v: no error", z, dst)
		}
	}
	if err := m.VAE.Encode(ctx, latent.New(1, 3, 500, 512), latent.New(1, 4, 64, 64)); err == nil {
		t.Error("encoding a 500 px image: no error")
	}
	var _ adapters.SampledEncoder = m.VAE.(*vae.Autoencoder)
}
