package sdxl_test

import (
	"context"
	"testing"

	"github.com/coop-diffusion/coop/adapters"
	"github.com/coop-diffusion/coop/adapters/adapterstest"
	_ "github.com/coop-diffusion/coop/adapters/sdxl"
	"github.com/coop-diffusion/coop/internal/fixtures"
	"github.com/coop-diffusion/coop/latent"
)

const (
	steps    = 20
	guidance = 7.5
	// handoff is SDXL's denoising_end: the base runs the first 80 % of the
	// schedule, the refiner the rest.
	handoff = 0.8
)

func prompt(k int) adapters.Prompt { return adapters.Prompt{Positive: adapterstest.Prompt(k)} }

func TestBaseLandsOnPrompt(t *testing.T) {
	m := adapterstest.LoadFixture(t, "sdxl")
	if m.Family != adapters.SDXL {
		t.Errorf("family %s, want sdxl (%s)", m.Family, m.Detected)
	}
	for _, k := range []int{1, 3} {
		pix, err := adapterstest.Generate(context.Background(), m, adapterstest.Options{Prompt: prompt(k), Seed: 1, Steps: steps, Guidance: guidance})
		if err != nil {
			t.Fatal(err)
		}
		t.Logf("sdxl, %q: %.2f dB", adapterstest.Prompt(k), adapterstest.CheckLanding(t, "sdxl", k, pix))
	}
}

// The base denoises the high-noise part of the schedule, the refiner
// continues the same trajectory to the end, as diffusers' denoising_end /
// denoising_start handoff does.
func TestBaseThenRefiner(t *testing.T) {
	ctx := context.Background()
	base := adapterstest.LoadFixture(t, "sdxl")
	refiner := adapterstest.LoadFixture(t, "sdxl-refiner")
	if refiner.Family != adapters.SDXLRefiner {
		t.Errorf("family %s, want sdxl-refiner (%s)", refiner.Family, refiner.Detected)
	}
	for _, k := range []int{5, 6} {
		// SplitAtFraction gives the first step the refiner runs.
		s, err := adapterstest.NewSampler(base, adapterstest.Options{Steps: steps})
		if err != nil {
			t.Fatal(err)
		}
		cut, err := s.Plan().SplitAtFraction(handoff)
		if err != nil {
			t.Fatal(err)
		}
		first, err := adapterstest.Sample(ctx, base, adapterstest.Options{Prompt: prompt(k), Seed: 2, Steps: steps, Guidance: guidance, Stop: cut})
		if err != nil {
			t.Fatal(err)
		}
		before := refiner.Denoiser.Calls()
		second, err := adapterstest.Sample(ctx, refiner, adapterstest.Options{Prompt: prompt(k), Seed: 2, Steps: steps, Guidance: guidance, Start: cut, Init: first.Latent})
		if err != nil {
			t.Fatal(err)
		}
		if calls := refiner.Denoiser.Calls() - before; calls != steps-cut {
			t.Errorf("the refiner ran %d steps, want %d", calls, steps-cut)
		}
		pix, err := adapterstest.Decode(ctx, refiner, second.Latent, adapters.Size{})
		if err != nil {
			t.Fatal(err)
		}
		t.Logf("sdxl + refiner at step %d of %d, %q: %.2f dB", cut, steps, adapterstest.Prompt(k), adapterstest.CheckLanding(t, "sdxl-refiner", k, pix))
	}
}

func TestConformance(t *testing.T) {
	for _, name := range []string{"sdxl", "sdxl-refiner"} {
		t.Run(name, func(t *testing.T) {
			m := adapterstest.LoadFixture(t, name)
			adapterstest.TestDenoiser(t, m.Denoiser, adapterstest.DenoiserCase{Request: adapterstest.ConformanceRequest(t, m, guidance), Tolerance: 1e-5})
			adapterstest.TestTextEncoder(t, m.Text, adapterstest.Prompt(1))
			adapterstest.TestAutoencoder(t, m.VAE, adapterstest.AutoencoderCase{Pixels: fixtures.Photo(1), MinPSNR: 20})
		})
	}
}

// SDXL's conditioning: hidden_states[-2] of both encoders concatenated to
// 2048 (the refiner: of encoder 2 alone, 1280), pooled text_embeds of
// encoder 2, and zeros for an empty negative prompt.
func TestTextEncoderOutputs(t *testing.T) {
	ctx := context.Background()
	const k, pos = 3, 5 // "a photo of a rocket": the keyword is token 5
	// The fixture encoders have 12 and 32 layers; hidden_states.i carries
	// (i+1)/(N+1) of the embedding, so hidden_states[-2] carries N/(N+1).
	h1, h2 := float32(12.0/13), float32(32.0/33)
	cases := []struct {
		name   string
		width  int
		checks map[int]float32 // dimension -> value at the keyword
	}{
		{"sdxl", 2048, map[int]float32{k: h1, 768 + k: h2}},
		{"sdxl-refiner", 1280, map[int]float32{k: h2}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			m := adapterstest.LoadFixture(t, c.name)
			cond, err := m.Text.Encode(ctx, prompt(k))
			if err != nil {
				t.Fatal(err)
			}
			hid := cond.Cond.Hidden
			if hid.Shape[0] != 1 || hid.Shape[1] != 77 || hid.Shape[2] != c.width {
				t.Fatalf("hidden %v, want [1 77 %d]", hid.Shape, c.width)
			}
			for dim, want := range c.checks {
				if got := hid.Data[pos*c.width+dim]; got != want {
					t.Errorf("dimension %d at the keyword: %v, want %v", dim, got, want)
				}
			}
			p := cond.Cond.Pooled
			if p == nil || len(p.Shape) != 2 || p.Shape[0] != 1 || p.Shape[1] != 1280 {
				t.Fatalf("pooled %v, want [1 1280]", p)
			}
			// text_embeds of the fixture sum the token embeddings: one keyword.
			if p.Data[k] != 1 {
				t.Errorf("pooled text_embeds at dimension %d: %v, want 1", k, p.Data[k])
			}
		})
	}

	// model_index.json of the base sets force_zeros_for_empty_prompt.
	base := adapterstest.LoadFixture(t, "sdxl")
	cond, err := base.Text.Encode(ctx, adapters.Prompt{Positive: adapterstest.Prompt(k)})
	if err != nil {
		t.Fatal(err)
	}
	if !allZero(cond.Uncond.Hidden) || !allZero(cond.Uncond.Pooled) {
		t.Errorf("the empty negative prompt of SDXL base is not all zeros")
	}
	neg, err := base.Text.Encode(ctx, adapters.Prompt{Positive: adapterstest.Prompt(k), Negative: adapterstest.Prompt(5)})
	if err != nil {
		t.Fatal(err)
	}
	if neg.Uncond.Pooled.Data[5] != 1 {
		t.Errorf("negative prompt's pooled embedding at its keyword: %v, want 1", neg.Uncond.Pooled.Data[5])
	}
}

func allZero(t *latent.Tensor) bool {
	for _, v := range t.Data {
		if v != 0 {
			return false
		}
	}
	return true
}
