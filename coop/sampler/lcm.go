package sampler

import (
	"errors"
	"fmt"
	"math"

	"github.com/coop-diffusion/coop/internal/f32"
	"github.com/coop-diffusion/coop/latent"
)

// lcm is multistep Latent Consistency Model sampling (Luo et al.;
// diffusers' LCMScheduler). Each step estimates x0, applies the consistency
// boundary scalings at the step's timestep, and re-noises the result to the
// next step's noise level with fresh noise; the last step returns the
// denoised estimate itself:
//
//	x0  = (x - sqrt(1-a) eps) / sqrt(a)
//	den = c_out x0 + c_skip x,  c_skip = 0.25/(u^2+0.25), c_out = u/sqrt(u^2+0.25), u = t * TimestepScaling
//	x'  = sqrt(a') den + sqrt(1-a') n   (den after the last step)
//
// The timesteps are LCM's own: k = T // OriginalSteps, the distillation
// schedule k-1, 2k-1, ..., T-1 reversed, sampled at floor(i*OriginalSteps/N)
// (999, 759, 499, 259 for 4 steps). Spacing and StepsOffset do not apply.
type lcm struct {
	core
	clip  float64
	steps []lcmStep
}

type lcmStep struct {
	sa, s1a     float64 // sqrt(a), sqrt(1-a)
	cSkip, cOut float64
	sapN, s1apN float64 // sqrt(a'), sqrt(1-a') of the re-noising
	last        bool
}

func newLCM(cfg Config) (Sampler, error) {
	if err := cfg.validateCommon(); err != nil {
		return nil, err
	}
	if cfg.Karras {
		return nil, errors.New("Karras sigmas are only available for euler, euler_a and dpmpp_2m")
	}
	d, err := cfg.discrete()
	if err != nil {
		return nil, err
	}
	T, orig, n := d.TrainSteps(), cfg.OriginalSteps, cfg.Steps
	if orig < 1 || orig > T {
		return nil, fmt.Errorf("original_inference_steps %d must lie in 1..%d", orig, T)
	}
	if n > orig {
		return nil, fmt.Errorf("%d steps exceed original_inference_steps %d (LCM picks its steps from that schedule)", n, orig)
	}
	if !(cfg.TimestepScaling > 0) {
		return nil, fmt.Errorf("timestep_scaling %g must be positive", cfg.TimestepScaling)
	}
	k := T / orig
	ts := make([]int, n)
	for i := range ts {
		idx := int(math.Floor(float64(i) * (float64(orig) / float64(n))))
		ts[i] = (orig-idx)*k - 1
	}
	p := &Plan{Sampler: "lcm", Schedule: d, Steps: make([]Step, n), InitNoiseSigma: 1}
	s := &lcm{steps: make([]lcmStep, n)}
	if cfg.ClipSample {
		s.clip = cfg.ClipSampleRange
	}
	for i, t := range ts {
		a := d.Abar(t)
		next := 1.0
		if i+1 < n {
			next = d.Abar(ts[i+1])
		}
		p.Steps[i] = Step{Timestep: float64(t), Abar: a, AbarNext: next, Sigma: Sigma(a), InputScale: 1}
		u := float64(t) * cfg.TimestepScaling
		const sigmaData2 = 0.25 // sigma_data = 0.5
		s.steps[i] = lcmStep{sa: math.Sqrt(a), s1a: math.Sqrt(1 - a),
			cSkip: sigmaData2 / (u*u + sigmaData2), cOut: u / math.Sqrt(u*u+sigmaData2),
			sapN: math.Sqrt(next), s1apN: math.Sqrt(1 - next), last: i == n-1}
	}
	s.core = newCore(p, &cfg, n > 1, 1) // a single step only denoises
	return s, nil
}

func (s *lcm) Step(i int, x, eps *latent.Tensor) error {
	if err := s.beginStep(i, x, eps); err != nil {
		return err
	}
	c := s.steps[i]
	// x0 (clamped where s.clip > 0), den = c_out x0 + c_skip x, re-noised
	// except at the last step.
	xd, ed := x.Data, eps.Data
	if c.last {
		f32.X0Blend(xd, xd, ed, c.sa, c.s1a, s.clip, c.cOut, c.cSkip)
	} else {
		f32.X0BlendRenoise(xd, xd, ed, c.sa, c.s1a, s.clip, c.cOut, c.cSkip, c.sapN, c.s1apN, s.drawNoise(i))
	}
	s.next++
	return nil
}

// wuerstchen is Stable Cascade's DDPM (diffusers' DDPMWuerstchenScheduler)
// on the cosine schedule over timestep_ratio r = linspace(1, 0, N+1)
// without its last value, stepping from r to the next ratio (0 after the
// last step, where abar is clamped to 0.9999):
//
//	alpha = a / a'
//	mu    = (x - (1-alpha) eps / sqrt(1-a)) / sqrt(alpha)
//	std   = sqrt((1-alpha)(1-a')/(1-a)), no noise when the next ratio is 0
//	x'    = mu + std n
type wuerstchen struct {
	core
	steps []wuerstchenStep
}

type wuerstchenStep struct {
	cx, ce, std float64
}

func newWuerstchen(cfg Config) (Sampler, error) {
	if err := cfg.validateCommon(); err != nil {
		return nil, err
	}
	if cfg.Karras {
		return nil, errors.New("Karras sigmas are only available for euler, euler_a and dpmpp_2m")
	}
	if err := cfg.Cosine.validate(); err != nil {
		return nil, err
	}
	n := cfg.Steps
	cos := cfg.Cosine
	p := &Plan{Sampler: "ddpm_wuerstchen", Schedule: cos, Steps: make([]Step, n), InitNoiseSigma: 1}
	s := &wuerstchen{steps: make([]wuerstchenStep, n)}
	for i := range n {
		r, rn := linspaceAt(1, 0, n+1, i), linspaceAt(1, 0, n+1, i+1)
		a, ap := cos.RatioToAbar(r), cos.RatioToAbar(rn)
		p.Steps[i] = Step{Timestep: r, Abar: a, AbarNext: ap, Sigma: Sigma(a), InputScale: 1}
		alpha := a / ap
		c := wuerstchenStep{cx: 1 / math.Sqrt(alpha), ce: -(1 - alpha) / math.Sqrt(1-a) / math.Sqrt(alpha)}
		if rn != 0 {
			c.std = math.Sqrt((1 - alpha) * (1 - ap) / (1 - a))
		}
		s.steps[i] = c
	}
	s.core = newCore(p, &cfg, n > 1, 1) // the last step adds no noise
	return s, nil
}

func (s *wuerstchen) Step(i int, x, eps *latent.Tensor) error {
	if err := s.beginStep(i, x, eps); err != nil {
		return err
	}
	c := s.steps[i]
	if c.std == 0 {
		axpby(x.Data, c.cx, x.Data, c.ce, eps.Data)
	} else {
		f32.AXPBYPCZ(x.Data, c.cx, x.Data, c.ce, eps.Data, c.std, s.drawNoise(i))
	}
	s.next++
	return nil
}
