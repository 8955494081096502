package sampler

import (
	"math"

	"github.com/coop-diffusion/coop/internal/f32"
	"github.com/coop-diffusion/coop/latent"
)

// sigmaPlan builds the plan of the Euler samplers, as diffusers'
// EulerDiscreteScheduler does: sigmas at the spacing's timesteps by linear
// interpolation of the sigma table (fractional linspace timesteps), or
// Karras sigmas between the first and last of those with the timesteps
// found back by log-sigma interpolation; then a final sigma of 0.
// init_noise_sigma is sigma_max, or sqrt(sigma_max^2 + 1) with leading
// spacing.
func sigmaPlan(name string, cfg *Config, d *Discrete) (*Plan, error) {
	ts, err := timesteps(cfg.Spacing, d.TrainSteps(), cfg.Steps, cfg.StepsOffset)
	if err != nil {
		return nil, err
	}
	sigmas := make([]float64, len(ts))
	for i, t := range ts {
		sigmas[i] = d.sigmaLinear(t)
	}
	if cfg.Karras {
		sigmas = KarrasSigmas(sigmas[len(sigmas)-1], sigmas[0], len(sigmas), KarrasRho)
		for i, s := range sigmas {
			ts[i] = d.sigmaToTimestep(s)
		}
	}
	p := sigmaSteps(name, d, ts, sigmas, true)
	p.InitNoiseSigma = sigmas[0]
	if cfg.Spacing == Leading {
		p.InitNoiseSigma = math.Sqrt(sigmas[0]*sigmas[0] + 1)
	}
	return p, nil
}

// sigmaSteps fills a plan from timesteps and descending sigmas, with a
// final sigma of 0. sigmaSpace says whether the state is kept in sigma
// space (InputScale 1/sqrt(sigma^2+1)) or is the VP latent itself.
func sigmaSteps(name string, d *Discrete, ts, sigmas []float64, sigmaSpace bool) *Plan {
	p := &Plan{Sampler: name, Schedule: d, Steps: make([]Step, len(ts)), InitNoiseSigma: 1}
	for i, s := range sigmas {
		next := 1.0
		if i+1 < len(sigmas) {
			next = AbarFromSigma(sigmas[i+1])
		}
		in := 1.0
		if sigmaSpace {
			in = 1 / math.Sqrt(s*s+1)
		}
		p.Steps[i] = Step{Timestep: ts[i], Abar: AbarFromSigma(s), AbarNext: next, Sigma: s, InputScale: in}
	}
	return p
}

// nextSigma is the sigma after step i: the next step's, or 0 after the last.
func nextSigma(p *Plan, i int) float64 {
	if i+1 < len(p.Steps) {
		return p.Steps[i+1].Sigma
	}
	return 0
}

// euler is Euler's method on the probability-flow ODE dx/dsigma = eps in
// sigma space (Karras et al.; diffusers' EulerDiscreteScheduler without
// churn): x0 = x - sigma eps, x' = x + (x - x0)/sigma (sigma' - sigma)
// = x + eps (sigma' - sigma).
type euler struct {
	core
	dt []float64 // sigma' - sigma per step
}

func newEuler(cfg Config) (Sampler, error) {
	d, err := discreteSetup(&cfg, true)
	if err != nil {
		return nil, err
	}
	p, err := sigmaPlan("euler", &cfg, d)
	if err != nil {
		return nil, err
	}
	s := &euler{dt: make([]float64, len(p.Steps))}
	s.core = newCore(p, &cfg, false, 0)
	for i, st := range p.Steps {
		s.dt[i] = nextSigma(p, i) - st.Sigma
	}
	return s, nil
}

func (s *euler) Step(i int, x, eps *latent.Tensor) error {
	if err := s.beginStep(i, x, eps); err != nil {
		return err
	}
	axpby(x.Data, 1, x.Data, s.dt[i], eps.Data)
	s.next++
	return nil
}

// eulerAncestral takes an Euler step down to sigma_down and adds fresh
// noise of scale sigma_up, with sigma_up^2 + sigma_down^2 = sigma'^2:
//
//	sigma_up   = sqrt(sigma'^2 (sigma^2 - sigma'^2) / sigma^2)
//	sigma_down = sqrt(sigma'^2 - sigma_up^2)
//	x' = x + eps (sigma_down - sigma) + sigma_up n
type eulerAncestral struct {
	core
	dt, up []float64
}

func newEulerAncestral(cfg Config) (Sampler, error) {
	d, err := discreteSetup(&cfg, true)
	if err != nil {
		return nil, err
	}
	p, err := sigmaPlan("euler_a", &cfg, d)
	if err != nil {
		return nil, err
	}
	s := &eulerAncestral{dt: make([]float64, len(p.Steps)), up: make([]float64, len(p.Steps))}
	s.core = newCore(p, &cfg, true, 1)
	for i, st := range p.Steps {
		from, to := st.Sigma, nextSigma(p, i)
		up := math.Sqrt(to * to * (from*from - to*to) / (from * from))
		down := math.Sqrt(math.Max(0, to*to-up*up))
		s.dt[i], s.up[i] = down-from, up
	}
	return s, nil
}

func (s *eulerAncestral) Step(i int, x, eps *latent.Tensor) error {
	if err := s.beginStep(i, x, eps); err != nil {
		return err
	}
	dt, up := s.dt[i], s.up[i]
	if up == 0 {
		axpby(x.Data, 1, x.Data, dt, eps.Data)
	} else {
		// x + dt eps + up n as 1·x + dt eps + up n: 1·x is x exactly.
		f32.AXPBYPCZ(x.Data, 1, x.Data, dt, eps.Data, up, s.drawNoise(i))
	}
	s.next++
	return nil
}
