package sampler

import (
	"fmt"
	"math"
)

// Step is one model evaluation of a plan.
type Step struct {
	// Timestep is the time the model is told: a timestep of a discrete
	// schedule (fractional where the sampler interpolates; round it only for
	// graphs with an integer timestep input) or Stable Cascade's
	// timestep_ratio.
	Timestep float64
	// Abar is the noise level of the VP latent the model sees at this step.
	Abar float64
	// AbarNext is the noise level the step moves the trajectory to: the next
	// step's Abar for most samplers, 1 (clean data) after the last step, and
	// diffusers' quirks where they differ (DDIM and DDPM step by T/N
	// training steps; Cascade ends at its clamp 0.9999).
	AbarNext float64
	// Sigma is sqrt((1-Abar)/Abar), the noise scale in sigma space.
	Sigma float64
	// InputScale is what ModelInput multiplies the sampler's state by:
	// 1/sqrt(Sigma^2+1) for samplers whose state lives in sigma space
	// (euler, euler_a), 1 for the others.
	InputScale float64
}

// Plan is the full noise schedule of a sampler: the steps in order from
// most to least noise, indexed 0..len(Steps)-1. Splits (SplitAtFraction,
// StrengthStart, SplitAtAbar) return indices into Steps; a trajectory that
// starts part-way calls Sampler.SetFromModelSpace at the first index it
// runs, and one that stops part-way simply stops calling Step.
type Plan struct {
	// Sampler is the canonical name of the sampler the plan belongs to.
	Sampler string
	// Schedule is the time axis the Timesteps refer to: *Discrete or Cosine.
	Schedule Schedule
	Steps    []Step
	// InitNoiseSigma is what Init multiplies unit Gaussian noise by
	// (diffusers' init_noise_sigma).
	InitNoiseSigma float64
}

// Len is the number of steps.
func (p *Plan) Len() int { return len(p.Steps) }

// Timesteps returns the steps' timesteps.
func (p *Plan) Timesteps() []float64 {
	ts := make([]float64, len(p.Steps))
	for i, s := range p.Steps {
		ts[i] = s.Timestep
	}
	return ts
}

// SplitAtFraction cuts the plan where a fraction frac of the denoising is
// done, by SDXL's denoising_end / denoising_start rule: the first model
// keeps the steps with t >= int(round(T - T*frac)) (T training steps, round
// half to even as Python does), the second runs the rest. It returns the
// index of the second model's first step: steps [0, cut) and [cut, Len()).
// For Cascade's ratio axis the rule reads r >= 1 - frac. 40 steps at 0.8
// give 32 steps (976..201) and 8 steps (176..1).
func (p *Plan) SplitAtFraction(frac float64) (int, error) {
	if !(frac > 0 && frac < 1) {
		return 0, fmt.Errorf("sampler: denoising split %g must lie strictly between 0 and 1", frac)
	}
	var keep func(t float64) bool
	switch s := p.Schedule.(type) {
	case *Discrete:
		T := float64(s.TrainSteps())
		cutoff := math.RoundToEven(T - T*frac)
		keep = func(t float64) bool { return t >= cutoff }
	default:
		cutoff := 1 - frac
		keep = func(r float64) bool { return r >= cutoff-1e-12 }
	}
	cut := 0
	for cut < len(p.Steps) && keep(p.Steps[cut].Timestep) {
		cut++
	}
	return cut, p.checkCut(cut, fmt.Sprintf("a denoising split at %g", frac))
}

// StrengthStart is the index of the first step img2img runs at a strength
// in [0, 1], by diffusers' rule: init_timestep = min(int(N*strength), N),
// start = N - init_timestep. Strength 1 starts from pure noise (index 0);
// a strength too small to leave a step is an error.
func (p *Plan) StrengthStart(strength float64) (int, error) {
	if !(strength >= 0 && strength <= 1) {
		return 0, fmt.Errorf("sampler: strength %g outside [0, 1]", strength)
	}
	n := len(p.Steps)
	init := min(int(float64(n)*strength), n)
	start := n - init
	if start == n {
		return 0, fmt.Errorf("sampler: strength %g leaves no steps of %d (need strength >= %g)", strength, n, 1/float64(n))
	}
	return start, nil
}

// SplitAtAbar cuts the plan at noise level abar, for a resolution switch or
// a handoff between models whose plans differ: the second part starts at the
// first step whose Abar is >= abar (no noisier than the switch level), and
// that step's Abar is the level the second model must be (re-)noised to;
// the first part runs the steps before it. It returns that index.
func (p *Plan) SplitAtAbar(abar float64) (int, error) {
	if !(abar > 0 && abar < 1) {
		return 0, fmt.Errorf("sampler: switch noise level abar = %g must lie strictly between 0 and 1", abar)
	}
	cut := 0
	for cut < len(p.Steps) && p.Steps[cut].Abar < abar {
		cut++
	}
	return cut, p.checkCut(cut, fmt.Sprintf("a switch at abar = %g (sigma %.4g)", abar, Sigma(abar)))
}

func (p *Plan) checkCut(cut int, what string) error {
	n := len(p.Steps)
	switch cut {
	case 0:
		return fmt.Errorf("sampler: %s leaves the first model no steps (first of %d steps at t = %g)", what, n, p.Steps[0].Timestep)
	case n:
		return fmt.Errorf("sampler: %s leaves the second model no steps (last of %d steps at t = %g)", what, n, p.Steps[n-1].Timestep)
	}
	return nil
}
