package sampler

import (
	"errors"
	"fmt"
	"math"

	"github.com/coop-diffusion/coop/internal/f32"
	"github.com/coop-diffusion/coop/latent"
)

// discreteSetup validates the fields the discrete-schedule samplers share and
// builds the schedule.
func discreteSetup(cfg *Config, karrasOK bool) (*Discrete, error) {
	if err := cfg.validateCommon(); err != nil {
		return nil, err
	}
	if cfg.Karras && !karrasOK {
		return nil, errors.New("Karras sigmas are only available for euler, euler_a and dpmpp_2m")
	}
	if !cfg.Spacing.valid() {
		return nil, fmt.Errorf("unknown timestep_spacing %q (known: leading, trailing, linspace)", cfg.Spacing)
	}
	if cfg.StepsOffset < 0 {
		return nil, fmt.Errorf("steps_offset %d is negative", cfg.StepsOffset)
	}
	return cfg.discrete()
}

// tablePlan builds the plan of DDIM and DDPM: integer timesteps (linspace
// rounded half to even) and, as in diffusers, a step from t to
// t - T/N (integer division) whatever the next listed timestep is, landing
// on final below zero.
func tablePlan(name string, cfg *Config, d *Discrete, final float64) (*Plan, []int, error) {
	ts, err := timesteps(cfg.Spacing, d.TrainSteps(), cfg.Steps, cfg.StepsOffset)
	if err != nil {
		return nil, nil, err
	}
	ratio := d.TrainSteps() / cfg.Steps
	p := &Plan{Sampler: name, Schedule: d, Steps: make([]Step, len(ts)), InitNoiseSigma: 1}
	prev := make([]int, len(ts))
	for i, tf := range ts {
		t := int(math.RoundToEven(tf))
		prev[i] = t - ratio
		next := final
		if prev[i] >= 0 {
			next = d.Abar(prev[i])
		}
		a := d.Abar(t)
		p.Steps[i] = Step{Timestep: float64(t), Abar: a, AbarNext: next, Sigma: Sigma(a), InputScale: 1}
	}
	return p, prev, nil
}

// ddim is DDIM with eta (Song et al., "Denoising Diffusion Implicit
// Models"), in the VP state:
//
//	x0 = (x - sqrt(1-a) eps) / sqrt(a)
//	s  = eta sqrt((1-a')/(1-a)) sqrt(1 - a/a')
//	x' = sqrt(a') x0 + sqrt(1 - a' - s^2) eps + s n
//
// with a = Abar and a' = AbarNext.
type ddim struct {
	core
	clip  float64 // clip range for x0; 0 when clipping is off
	steps []ddimStep
}

type ddimStep struct {
	sa, s1a  float64 // sqrt(a), sqrt(1-a)
	sap, dir float64 // sqrt(a'), sqrt(1-a'-s^2)
	std      float64
}

func newDDIM(cfg Config) (Sampler, error) {
	d, err := discreteSetup(&cfg, false)
	if err != nil {
		return nil, err
	}
	if !(cfg.Eta >= 0) {
		return nil, fmt.Errorf("eta %g must be >= 0", cfg.Eta)
	}
	final := 1.0
	if !cfg.SetAlphaToOne {
		final = d.Abar(0)
	}
	p, _, err := tablePlan("ddim", &cfg, d, final)
	if err != nil {
		return nil, err
	}
	s := &ddim{steps: make([]ddimStep, len(p.Steps))}
	stochastic := cfg.Eta > 0
	nbuf := 0
	if stochastic {
		nbuf = 1
	}
	s.core = newCore(p, &cfg, stochastic, nbuf)
	if cfg.ClipSample {
		s.clip = cfg.ClipSampleRange
	}
	for i, st := range p.Steps {
		a, ap := st.Abar, st.AbarNext
		std := cfg.Eta * math.Sqrt((1-ap)/(1-a)*(1-a/ap))
		s.steps[i] = ddimStep{sa: math.Sqrt(a), s1a: math.Sqrt(1 - a), sap: math.Sqrt(ap),
			dir: math.Sqrt(math.Max(0, 1-ap-std*std)), std: std}
	}
	return s, nil
}

func (s *ddim) Step(i int, x, eps *latent.Tensor) error {
	if err := s.beginStep(i, x, eps); err != nil {
		return err
	}
	c := s.steps[i]
	var n []float32
	if c.std > 0 {
		n = s.drawNoise(i)
	}
	xd, ed := x.Data, eps.Data
	switch {
	case s.clip > 0:
		// x0 clamped to the clip range (math.Max(-r, math.Min(r, x0))),
		// eps re-derived from it, x' = sqrt(a') x0 + dir eps, plus std n
		// (1·v is v exactly).
		if n == nil {
			f32.X0EpsBlend(xd, xd, ed, c.sa, c.s1a, s.clip, c.sap, c.dir)
		} else {
			f32.X0EpsBlendRenoise(xd, xd, ed, c.sa, c.s1a, s.clip, c.sap, c.dir, 1, c.std, n)
		}
	default:
		// x' = (sqrt(a')/sqrt(a)) x + (dir - sqrt(a') sqrt(1-a)/sqrt(a)) eps
		cx := c.sap / c.sa
		ce := c.dir - c.sap*c.s1a/c.sa
		if n == nil {
			axpby(xd, cx, xd, ce, ed)
		} else {
			f32.AXPBYPCZ(xd, cx, xd, ce, ed, c.std, n)
		}
	}
	s.next++
	return nil
}

// ddpm is DDPM ancestral sampling (Ho et al.) with diffusers' "fixed_small"
// variance, on the DDIM timesteps:
//
//	b  = 1 - a/a'
//	x' = sqrt(a') b/(1-a) x0 + sqrt(a/a') (1-a')/(1-a) x + std n
//	std = sqrt(max((1-a')/(1-a) b, 1e-20)), drawn when t > 0
type ddpm struct {
	core
	clip  float64
	steps []ddpmStep
}

type ddpmStep struct {
	sa, s1a float64 // sqrt(a), sqrt(1-a)
	cx0, cx float64 // coefficients of x0 and x
	std     float64 // 0: no noise at this step
}

func newDDPM(cfg Config) (Sampler, error) {
	d, err := discreteSetup(&cfg, false)
	if err != nil {
		return nil, err
	}
	p, _, err := tablePlan("ddpm", &cfg, d, 1)
	if err != nil {
		return nil, err
	}
	s := &ddpm{steps: make([]ddpmStep, len(p.Steps))}
	if cfg.ClipSample {
		s.clip = cfg.ClipSampleRange
	}
	stochastic := false
	for i, st := range p.Steps {
		a, ap := st.Abar, st.AbarNext
		b := 1 - a/ap
		c := ddpmStep{sa: math.Sqrt(a), s1a: math.Sqrt(1 - a),
			cx0: math.Sqrt(ap) * b / (1 - a), cx: math.Sqrt(a/ap) * (1 - ap) / (1 - a)}
		if st.Timestep > 0 {
			c.std = math.Sqrt(math.Max((1-ap)/(1-a)*b, 1e-20))
		}
		s.steps[i] = c
		stochastic = stochastic || c.std > 0
	}
	s.core = newCore(p, &cfg, stochastic, 1)
	return s, nil
}

func (s *ddpm) Step(i int, x, eps *latent.Tensor) error {
	if err := s.beginStep(i, x, eps); err != nil {
		return err
	}
	c := s.steps[i]
	var n []float32
	if c.std > 0 {
		n = s.drawNoise(i)
	}
	xd, ed := x.Data, eps.Data
	// Without clipping x0 is linear in x and eps: fold it in.
	kx, ke := c.cx0/c.sa+c.cx, -c.cx0*c.s1a/c.sa
	switch {
	case s.clip > 0 && n == nil:
		f32.X0Blend(xd, xd, ed, c.sa, c.s1a, s.clip, c.cx0, c.cx)
	case s.clip > 0:
		// v + std n as 1·v + std n: 1·v is v exactly.
		f32.X0BlendRenoise(xd, xd, ed, c.sa, c.s1a, s.clip, c.cx0, c.cx, 1, c.std, n)
	case n == nil:
		axpby(xd, kx, xd, ke, ed)
	default:
		f32.AXPBYPCZ(xd, kx, xd, ke, ed, c.std, n)
	}
	s.next++
	return nil
}
