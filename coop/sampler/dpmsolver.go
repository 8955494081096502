package sampler

import (
	"errors"
	"fmt"
	"math"

	"github.com/coop-diffusion/coop/internal/f32"
	"github.com/coop-diffusion/coop/latent"
)

// dpmSolver is DPM-Solver++ 2M (Lu et al., "DPM-Solver++"; diffusers'
// DPMSolverMultistepScheduler with algorithm_type dpmsolver++, solver_order
// 2, solver_type midpoint, final sigma 0) in the VP state. With
// alpha = 1/sqrt(sigma^2+1), sigma_t = sigma alpha, lambda = log alpha -
// log sigma_t and m the x0 estimate at each step:
//
//	h = lambda' - lambda, r0 = (lambda - lambda_prev) / h
//	D = m + (m - m_prev) / (2 r0)             (second order)
//	D = m                                     (first order)
//	x' = (sigma_t'/sigma_t) x - alpha' (e^-h - 1) D
//
// The first step of a trajectory and the last step of the plan are first
// order.
type dpmSolver struct {
	core
	steps []dpmStep
}

type dpmStep struct {
	alpha, sigmaT float64 // of this step, for x0 = (x - sigmaT eps) / alpha
	cx, cd        float64 // x' = cx x + cd D
	halfInvR0     float64 // 1/(2 r0); 0 where there is no previous step
	firstOrder    bool    // forced first order (the plan's last step)
}

func newDPMSolver(cfg Config) (Sampler, error) {
	d, err := discreteSetup(&cfg, true)
	if err != nil {
		return nil, err
	}
	ts, err := dpmTimesteps(&cfg, d.TrainSteps())
	if err != nil {
		return nil, err
	}
	sigmas := make([]float64, len(ts))
	if cfg.Karras {
		T := d.TrainSteps()
		sigmas = KarrasSigmas(Sigma(d.Abar(0)), Sigma(d.Abar(T-1)), cfg.Steps, KarrasRho)
		for i, s := range sigmas {
			ts[i] = math.RoundToEven(d.sigmaToTimestep(s))
		}
	} else {
		for i, t := range ts {
			sigmas[i] = d.sigmaLinear(t)
		}
	}
	p := sigmaSteps("dpmpp_2m", d, ts, sigmas, false)
	s := &dpmSolver{steps: make([]dpmStep, len(p.Steps))}
	s.core = newCore(p, &cfg, false, 1)
	lambda := func(sigma float64) float64 { return -math.Log(sigma) } // log alpha - log(sigma alpha)
	n := len(p.Steps)
	for i, st := range p.Steps {
		sg, sn := st.Sigma, nextSigma(p, i)
		alpha := 1 / math.Sqrt(sg*sg+1)
		c := dpmStep{alpha: alpha, sigmaT: sg * alpha}
		// diffusers: the last step is first order when the final sigma is
		// zero (always here) or the plan has fewer than 15 steps.
		c.firstOrder = i == n-1
		if sn == 0 {
			// lambda' = +inf: e^-h = 0, alpha' = 1, sigma_t' = 0, so x' = D.
			c.cx, c.cd = 0, 1
		} else {
			alphaN := 1 / math.Sqrt(sn*sn+1)
			h := lambda(sn) - lambda(sg)
			c.cx = (sn * alphaN) / (sg * alpha)
			c.cd = -alphaN * math.Expm1(-h)
			if i > 0 {
				r0 := (lambda(sg) - lambda(p.Steps[i-1].Sigma)) / h
				c.halfInvR0 = 0.5 / r0
			}
		}
		s.steps[i] = c
	}
	return s, nil
}

// dpmTimesteps are DPMSolverMultistepScheduler's own spacings, which
// differ from DDIM's: linspace and leading divide T into N+1 parts and drop
// the last (leading: arange(N+1) * (T // (N+1)), reversed, without its
// final 0, plus steps_offset); trailing is DDIM's.
func dpmTimesteps(cfg *Config, T int) ([]float64, error) {
	n := cfg.Steps
	if n > T {
		return nil, fmt.Errorf("%d steps exceed num_train_timesteps %d", n, T)
	}
	ts := make([]float64, n)
	switch cfg.Spacing {
	case Linspace:
		for i := range ts {
			ts[i] = math.RoundToEven(linspaceAt(0, float64(T-1), n+1, n-i))
		}
	case Leading:
		ratio := T / (n + 1)
		if ratio == 0 {
			return nil, errors.New("leading spacing needs steps < num_train_timesteps")
		}
		for i := range ts {
			ts[i] = float64((n-i)*ratio + cfg.StepsOffset)
		}
	default: // trailing
		return timesteps(Trailing, T, n, 0)
	}
	return ts, checkTimestepRange(ts, T)
}

func (s *dpmSolver) Step(i int, x, eps *latent.Tensor) error {
	if err := s.beginStep(i, x, eps); err != nil {
		return err
	}
	c := s.steps[i]
	// prev holds the x0 estimate m = (x - sigma_t eps)/alpha of the last
	// step: the second-order step reads it, both write this step's. The
	// kernels keep m and D in float64 (and multiply by 1/alpha, not
	// divide).
	prev := s.bufs[0].Data
	inv := 1 / c.alpha
	if i == s.first || c.firstOrder || c.halfInvR0 == 0 {
		f32.DPMSolverFirstOrder(x.Data, prev, x.Data, eps.Data, c.sigmaT, inv, c.cx, c.cd)
	} else {
		f32.DPMSolverSecondOrder(x.Data, prev, x.Data, eps.Data, c.sigmaT, inv, c.halfInvR0, c.cx, c.cd)
	}
	s.next++
	return nil
}
