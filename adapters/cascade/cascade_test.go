package cascade_test

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/coop-diffusion/coop/adapters"
	"github.com/coop-diffusion/coop/adapters/adapterstest"
	_ "github.com/coop-diffusion/coop/adapters/cascade"
	"github.com/coop-diffusion/coop/internal/fixtures"
	"github.com/coop-diffusion/coop/internal/ort/orttest"
	"github.com/coop-diffusion/coop/latent"
)

// Stable Cascade's defaults: the prior 20 steps at guidance 4, the decoder
// 10 steps without guidance.
const (
	priorSteps, priorGuidance     = 20, 4.0
	decoderSteps, decoderGuidance = 10, 0.0
)

// Stage C from the prompt, stage B from stage C's latent, stage A decodes.
func TestPriorDecoderVQGAN(t *testing.T) {
	ctx := context.Background()
	prior := adapterstest.LoadFixture(t, "cascade-prior")
	decoder := adapterstest.LoadFixture(t, "cascade-decoder")
	if prior.Family != adapters.CascadePrior || decoder.Family != adapters.CascadeDecoder {
		t.Fatalf("families %s and %s", prior.Family, decoder.Family)
	}
	for _, k := range []int{1, 5} {
		p := adapters.Prompt{Positive: adapterstest.Prompt(k)}
		c, err := adapterstest.Sample(ctx, prior, adapterstest.Options{Prompt: p, Seed: 1, Steps: priorSteps, Guidance: priorGuidance})
		if err != nil {
			t.Fatal(err)
		}
		want, err := fixtures.DataLatent("cascade-prior", k)
		if err != nil {
			t.Fatal(err)
		}
		if psnr := latent.PSNR(want, c.Latent, 8); psnr < adapterstest.MinLandingPSNR {
			t.Errorf("stage C latent for %q at %.2f dB (peak 8) from photo %d's", p.Positive, psnr, k)
		}
		before := decoder.Denoiser.Calls()
		pix, err := adapterstest.Generate(ctx, decoder, adapterstest.Options{Prompt: p, Seed: 1, Steps: decoderSteps, Guidance: decoderGuidance, Effnet: c.Latent})
		if err != nil {
			t.Fatal(err)
		}
		if calls := decoder.Denoiser.Calls() - before; calls != decoderSteps {
			t.Errorf("the decoder without guidance made %d calls in %d steps", calls, decoderSteps)
		}
		t.Logf("cascade C, B, A for %q: %.2f dB", p.Positive, adapterstest.CheckLanding(t, "cascade-decoder", k, pix))
	}
}

func TestDecoderNeedsEffnet(t *testing.T) {
	_, err := adapterstest.Sample(context.Background(), adapterstest.LoadFixture(t, "cascade-decoder"),
		adapterstest.Options{Prompt: adapters.Prompt{Positive: "a cat"}, Steps: 2})
	if err == nil {
		t.Fatal("the decoder ran without a stage C latent")
	}
	t.Log(err)
}

// clip_text is the bigG encoder's last_hidden_state [1, 77, 1280],
// clip_text_pooled its text_embeds as [1, 1, 1280].
func TestTextEncoderOutputs(t *testing.T) {
	const k, pos = 6, 5
	m := adapterstest.LoadFixture(t, "cascade-prior")
	c, err := m.Text.Encode(context.Background(), adapters.Prompt{Positive: adapterstest.Prompt(k)})
	if err != nil {
		t.Fatal(err)
	}
	h, p := c.Cond.Hidden, c.Cond.Pooled
	if h.Shape[0] != 1 || h.Shape[1] != 77 || h.Shape[2] != 1280 {
		t.Fatalf("clip_text %v, want [1 77 1280]", h.Shape)
	}
	if v := h.Data[pos*1280+k]; v != 1 {
		t.Errorf("clip_text at the keyword: %v, want 1 (last_hidden_state)", v)
	}
	if p == nil || len(p.Shape) != 3 || p.Shape[0] != 1 || p.Shape[1] != 1 || p.Shape[2] != 1280 {
		t.Fatalf("clip_text_pooled %v, want [1 1 1280]", p)
	}
	if p.Data[k] != 1 {
		t.Errorf("clip_text_pooled at dimension %d: %v, want 1", k, p.Data[k])
	}
	adapterstest.TestTextEncoder(t, m.Text, adapterstest.Prompt(k))
}

func TestConformance(t *testing.T) {
	ctx := context.Background()
	prior := adapterstest.LoadFixture(t, "cascade-prior")
	decoder := adapterstest.LoadFixture(t, "cascade-decoder")
	for _, m := range []*adapters.Model{prior, decoder} {
		t.Run(m.Name, func(t *testing.T) {
			req := adapterstest.ConformanceRequest(t, m, 4)
			c := adapterstest.DenoiserCase{Request: req, Tolerance: 1e-5}
			if m == decoder {
				// The unconditional row of stage B sees a zero effnet, as in
				// diffusers. At abar 0.3 a random 4x128x128 latent outweighs
				// any conditioning of the fixture; at 0.01 it does not.
				req.Abar = 0.01
				req.Effnet, _ = fixtures.DataLatent("cascade-prior", 2)
				u := *req
				u.Effnet = latent.New(req.Effnet.Shape...)
				c.Uncond = &u
			}
			adapterstest.TestDenoiser(t, m.Denoiser, c)
		})
	}
	// The prior's autoencoder is EfficientNet and the previewer, which
	// makes a 72 px image of a 12 x 12 latent.
	adapterstest.TestAutoencoder(t, prior.VAE, adapterstest.AutoencoderCase{Pixels: fixtures.Photo(2), DecodedSize: adapters.Size{Height: 72, Width: 72}})
	adapterstest.TestAutoencoder(t, decoder.VAE, adapterstest.AutoencoderCase{Pixels: fixtures.Photo(2), MinPSNR: 20})

	// Decoded at the previewer's own size, stage C latents give the
	// fixture's reconstruction; at 512 px the preview is resized.
	z, _ := fixtures.DataLatent("cascade-prior", 4)
	want, _ := fixtures.Reconstruction("cascade-prior", 4)
	for _, size := range []int{72, 512} {
		img := latent.New(1, 3, size, size)
		if err := prior.VAE.Decode(ctx, z, img); err != nil {
			t.Fatal(err)
		}
		if size == 72 {
			if p := latent.PSNR(want, adapterstest.Clamp(img), 1); p < 60 {
				t.Errorf("previewer image at %.2f dB from the reconstruction", p)
			}
		}
	}
	if s := decoder.Space; s.ScalingFactor*0.3764 < 0.9999 || s.ScalingFactor*0.3764 > 1.0001 {
		t.Errorf("stage A scaling factor %v, want 1/0.3764 (latents multiplied by 0.3764 before decoding)", s.ScalingFactor)
	}
}

// A folder holding only stage A loads as an autoencoder without a
// denoiser.
func TestVQGANAlone(t *testing.T) {
	orttest.Init(t)
	src := filepath.Join(fixtures.Zoo(t), "cascade-decoder")
	dir := t.TempDir()
	for _, sub := range []string{"vqgan", "vqgan_encoder"} {
		if err := os.MkdirAll(filepath.Join(dir, sub), 0o755); err != nil {
			t.Fatal(err)
		}
		for _, f := range []string{"model.onnx", "config.json"} {
			if err := os.Symlink(filepath.Join(src, sub, f), filepath.Join(dir, sub, f)); err != nil {
				t.Fatal(err)
			}
		}
	}
	m, err := adapters.Load(context.Background(), dir, adapters.LoadOptions{Session: adapterstest.TestSession})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	if m.Family != adapters.CascadeVQGAN || m.Denoiser != nil || m.VAE == nil {
		t.Fatalf("family %s, denoiser %v, autoencoder %v", m.Family, m.Denoiser, m.VAE)
	}
	adapterstest.TestAutoencoder(t, m.VAE, adapterstest.AutoencoderCase{Pixels: fixtures.Photo(0), MinPSNR: 20})
}
