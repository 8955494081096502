package adapterstest

import (
	"context"
	"fmt"

	"github.com/coop-diffusion/coop/adapters"
	"github.com/coop-diffusion/coop/coop/sampler"
	"github.com/coop-diffusion/coop/latent"
)

// Options configure Sample and Generate.
type Options struct {
	Prompt adapters.Prompt
	Seed   uint64
	// Steps is the length of the full schedule (default 20).
	Steps int
	// Guidance is the classifier-free guidance scale.
	Guidance float64
	// Sampler is a sampler name; default ddim, or ddpm_wuerstchen for a
	// scheduler of class DDPMWuerstchenScheduler.
	Sampler string
	// Size is the image size; the model's native size when zero.
	Size adapters.Size
	// Controls act at every step.
	Controls []adapters.Control
	// Effnet is the stage C latent for a Stable Cascade decoder.
	Effnet *latent.Tensor
	// Start and Stop select the steps [Start, Stop) of the schedule to
	// run; Stop 0 means the end. With Start > 0, Init is the VP latent at
	// step Start (a handoff from another model), else the run starts
	// from seeded noise.
	Start, Stop int
	Init        *latent.Tensor
	// Cond is used instead of encoding Prompt when set; its Guidance is
	// overwritten by Options.Guidance.
	Cond *adapters.Conditioning
}

// Result is the end of a Sample run.
type Result struct {
	// Latent is the VP latent at the step the run stopped at: clean data
	// after a full run, the handoff point after a run with Stop.
	Latent *latent.Tensor
	// Abar is Latent's noise level (1 after the last step).
	Abar float64
	// Plan is the schedule that ran.
	Plan *sampler.Plan
}

// Sample runs m's denoiser from seeded noise (or opt.Init) over the
// selected steps with m's scheduler configuration and returns the final
// latent.
func Sample(ctx context.Context, m *adapters.Model, opt Options) (*Result, error) {
	if m.Denoiser == nil {
		return nil, fmt.Errorf("model %q has no denoiser", m.Name)
	}
	size := opt.Size
	if size.Height == 0 {
		size = m.Native
	}
	h, w, err := m.Space.LatentSize(size.Height, size.Width)
	if err != nil {
		return nil, err
	}
	s, err := NewSampler(m, opt)
	if err != nil {
		return nil, err
	}
	plan := s.Plan()
	stop := opt.Stop
	if stop == 0 {
		stop = plan.Len()
	}
	if opt.Start < 0 || opt.Start >= stop || stop > plan.Len() {
		return nil, fmt.Errorf("steps [%d, %d) of a %d-step plan", opt.Start, stop, plan.Len())
	}

	cond := opt.Cond
	if cond == nil {
		if m.Text == nil {
			return nil, fmt.Errorf("model %q has no text encoder", m.Name)
		}
		if cond, err = m.Text.Encode(ctx, opt.Prompt); err != nil {
			return nil, err
		}
	}
	cond.Guidance = opt.Guidance

	x := latent.New(1, m.Channels, h, w)
	if opt.Start == 0 {
		latent.NewStream(opt.Seed, "adapterstest/init").Fill(x)
		if err := s.Init(x, x); err != nil {
			return nil, err
		}
	} else {
		if opt.Init == nil || !opt.Init.SameShape(x) {
			return nil, fmt.Errorf("starting at step %d needs Init of shape %v, got %v", opt.Start, x.Shape, opt.Init)
		}
		if err := s.SetFromModelSpace(opt.Start, x, opt.Init); err != nil {
			return nil, err
		}
	}
	z := latent.New(x.Shape...)
	eps := latent.New(x.Shape...)
	req := &adapters.Request{Latent: z, Cond: cond, Controls: opt.Controls, Effnet: opt.Effnet, Height: size.Height, Width: size.Width}
	for i := opt.Start; i < stop; i++ {
		if err := s.ModelInput(i, x, z); err != nil {
			return nil, err
		}
		req.Abar = plan.Steps[i].Abar
		if err := m.Denoiser.Predict(ctx, req, eps); err != nil {
			return nil, fmt.Errorf("step %d: %w", i, err)
		}
		if err := s.Step(i, x, eps); err != nil {
			return nil, err
		}
	}
	res := &Result{Latent: x, Abar: 1, Plan: plan}
	if stop < plan.Len() {
		res.Abar = plan.Steps[stop].Abar
		if err := s.ModelInput(stop, x, z); err != nil {
			return nil, err
		}
		res.Latent = z
	}
	return res, nil
}

// NewSampler returns the sampler Sample uses for m: opt.Sampler (ddim, or
// ddpm_wuerstchen for Stable Cascade's scheduler class) configured by m's
// scheduler_config.json with opt.Steps steps and noise seeded by opt.Seed.
func NewSampler(m *adapters.Model, opt Options) (sampler.Sampler, error) {
	cfg := m.Scheduler
	cfg.Steps = opt.Steps
	if cfg.Steps == 0 {
		cfg.Steps = 20
	}
	cfg.Noise = latent.NewStream(opt.Seed, "adapterstest/sampler")
	name := opt.Sampler
	if name == "" {
		name = "ddim"
		if cfg.Class == "DDPMWuerstchenScheduler" {
			name = "ddpm_wuerstchen"
		}
	}
	return sampler.New(name, cfg)
}

// Generate runs Sample and decodes the result with m's autoencoder into
// [1, 3, H, W] pixels in [0, 1] (not clamped).
func Generate(ctx context.Context, m *adapters.Model, opt Options) (*latent.Tensor, error) {
	res, err := Sample(ctx, m, opt)
	if err != nil {
		return nil, err
	}
	return Decode(ctx, m, res.Latent, opt.Size)
}

// Decode decodes a latent of m's space at size (m's native size when zero).
func Decode(ctx context.Context, m *adapters.Model, z *latent.Tensor, size adapters.Size) (*latent.Tensor, error) {
	if m.VAE == nil {
		return nil, fmt.Errorf("model %q has no autoencoder", m.Name)
	}
	if size.Height == 0 {
		size = m.Native
	}
	img := latent.New(1, 3, size.Height, size.Width)
	if err := m.VAE.Decode(ctx, z, img); err != nil {
		return nil, err
	}
	return img, nil
}

// Clamp limits pixels to [0, 1] in place, as writing an image does.
func Clamp(img *latent.Tensor) *latent.Tensor {
	for i, v := range img.Data {
		img.Data[i] = min(max(v, 0), 1)
	}
	return img
}
