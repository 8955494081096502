package vae_test

import (
	"context"
	"math"
	"testing"
	"time"

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

// The raw methods differ from Encode and Decode by the pixel range
// conversion alone, bit for bit: DecodeRaw then latent.ToUnitRange is
// Decode, and EncodeRaw of latent.ToSignedRange(pixels) is Encode, for a
// [-1, 1] autoencoder (sd15) and a [0, 1] one (stage A); EncodeRaw reads
// the pixels without modifying them.
func TestRawPixels(t *testing.T) {
	ctx := context.Background()
	for _, c := range []struct {
		model, space string
		signed       bool
	}{{"sd15", "sd15", true}, {"cascade-decoder", "cascade-decoder", false}} {
		ae := adapterstest.LoadFixture(t, c.model).VAE.(*vae.Autoencoder)
		if got := ae.Space().PixelRange == latent.MinusOneToOne; got != c.signed {
			t.Fatalf("%s: pixel range %v", c.model, ae.Space().PixelRange)
		}
		z, err := fixtures.DataLatent(c.space, 4)
		if err != nil {
			t.Fatal(err)
		}
		h, w := fixtures.Photo(4).H(), fixtures.Photo(4).W()
		want, raw := latent.New(1, 3, h, w), latent.New(1, 3, h, w)
		if err := ae.Decode(ctx, z, want); err != nil {
			t.Fatal(err)
		}
		if err := ae.DecodeRaw(ctx, z, raw); err != nil {
			t.Fatal(err)
		}
		got := raw.Clone()
		if c.signed {
			latent.ToUnitRange(got)
		}
		if i := firstDifference(got, want); i >= 0 {
			t.Errorf("%s: DecodeRaw in [0, 1] differs from Decode at %d: %v, want %v", c.model, i, got.Data[i], want.Data[i])
		}

		px := fixtures.Photo(4)
		wantZ, gotZ := latent.New(z.Shape...), latent.New(z.Shape...)
		if err := ae.Encode(ctx, px, wantZ); err != nil {
			t.Fatal(err)
		}
		rawPx := px.Clone()
		if c.signed {
			latent.ToSignedRange(rawPx)
		}
		kept := rawPx.Clone()
		if err := ae.EncodeRaw(ctx, rawPx, gotZ); err != nil {
			t.Fatal(err)
		}
		if i := firstDifference(gotZ, wantZ); i >= 0 {
			t.Errorf("%s: EncodeRaw differs from Encode at %d: %v, want %v", c.model, i, gotZ.Data[i], wantZ.Data[i])
		}
		if i := firstDifference(rawPx, kept); i >= 0 {
			t.Errorf("%s: EncodeRaw modified its pixels at %d", c.model, i)
		}
	}
}

// firstDifference is the first index at which a and b differ, -1 when
// they are equal bit for bit.
func firstDifference(a, b *latent.Tensor) int {
	for i := range a.Data {
		if math.Float32bits(a.Data[i]) != math.Float32bits(b.Data[i]) {
			return i
		}
	}
	return -1
}

// BenchmarkRaw measures the adapter's cost around ONNX Runtime in a pixel
// bridge's halves at 512 px: DecodeRaw and EncodeRaw of the sd15 fixture
// (latent_parameters, [-1, 1]), beside the time inside ONNX Runtime
// (ort-ns/op).
func BenchmarkRaw(b *testing.B) {
	ctx := context.Background()
	ae := adapterstest.LoadFixture(b, "sd15").VAE.(*vae.Autoencoder)
	z, err := fixtures.DataLatent("sd15", 1)
	if err != nil {
		b.Fatal(err)
	}
	pix := latent.New(1, 3, 512, 512)
	ortTime := func() time.Duration {
		var d time.Duration
		for _, g := range ae.RuntimeStats(nil) {
			d += g.Time
		}
		return d
	}
	for _, c := range []struct {
		name string
		run  func() error
	}{
		{"decode", func() error { return ae.DecodeRaw(ctx, z, pix) }},
		{"encode", func() error { return ae.EncodeRaw(ctx, pix, z) }},
	} {
		b.Run(c.name, func(b *testing.B) {
			if err := c.run(); err != nil {
				b.Fatal(err)
			}
			ort0 := ortTime()
			b.ReportAllocs()
			for b.Loop() {
				if err := c.run(); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(ortTime()-ort0)/float64(b.N), "ort-ns/op")
		})
	}
}
