package sampler

import (
	"fmt"
	"math"
)

// Spacing is how inference timesteps are picked from the training steps, in
// diffusers' spelling (timestep_spacing), after Table 2 of Lin et al.,
// "Common Diffusion Noise Schedules and Sample Steps are Flawed".
type Spacing string

const (
	// Leading: arange(N) * (T // N), reversed, plus steps_offset
	// (981..1 for N = 50 with offset 1).
	Leading Spacing = "leading"
	// Trailing: round(arange(T, 0, -T/N)) - 1 (999..19 for N = 50).
	Trailing Spacing = "trailing"
	// Linspace: linspace(0, T-1, N), reversed; fractional for the
	// Euler-family samplers, rounded for samplers that index the table.
	Linspace Spacing = "linspace"
)

// Spacings lists the known spacings.
var Spacings = []Spacing{Leading, Trailing, Linspace}

func (s Spacing) valid() bool {
	for _, k := range Spacings {
		if s == k {
			return true
		}
	}
	return false
}

// Timesteps returns the N inference timesteps, descending, that DDIM, DDPM
// and the Euler samplers use for a spacing over trainSteps training steps.
// Leading and trailing timesteps are integers; linspace timesteps are
// fractional (round them with math.RoundToEven where the table is indexed).
// offset (steps_offset) only applies to leading spacing, as in diffusers.
func Timesteps(spacing Spacing, trainSteps, steps, offset int) ([]float64, error) {
	ts, err := timesteps(spacing, trainSteps, steps, offset)
	if err != nil {
		return nil, fmt.Errorf("sampler: %w", err)
	}
	return ts, nil
}

func timesteps(spacing Spacing, trainSteps, steps, offset int) ([]float64, error) {
	if steps <= 0 {
		return nil, fmt.Errorf("%d steps: need at least 1", steps)
	}
	if steps > trainSteps {
		return nil, fmt.Errorf("%d steps exceed num_train_timesteps %d", steps, trainSteps)
	}
	ts := make([]float64, steps)
	switch spacing {
	case Leading:
		ratio := trainSteps / steps
		for i := range ts {
			ts[i] = float64((steps-1-i)*ratio + offset)
		}
	case Trailing:
		ratio := float64(trainSteps) / float64(steps)
		for i := range ts {
			ts[i] = math.RoundToEven(float64(trainSteps)-float64(i)*ratio) - 1
		}
	case Linspace:
		for i := range ts {
			ts[i] = linspaceAt(0, float64(trainSteps-1), steps, steps-1-i)
		}
	default:
		return nil, fmt.Errorf("unknown timestep_spacing %q (known: leading, trailing, linspace)", spacing)
	}
	if err := checkTimestepRange(ts, trainSteps); err != nil {
		return nil, err
	}
	return ts, nil
}

func checkTimestepRange(ts []float64, trainSteps int) error {
	for _, t := range ts {
		if t < 0 || t > float64(trainSteps-1) {
			return fmt.Errorf("timestep %g outside the schedule's 0..%d (steps_offset too large for this step count?)", t, trainSteps-1)
		}
	}
	return nil
}

// linspaceAt is element i of numpy's linspace(start, stop, n), computed the
// way numpy does: start + i*step with the last element exactly stop.
func linspaceAt(start, stop float64, n, i int) float64 {
	if n == 1 {
		return start
	}
	if i == n-1 {
		return stop
	}
	step := (stop - start) / float64(n-1)
	return start + float64(i)*step
}

// KarrasRho is the rho of Karras et al. (2022), used by every sampler here.
const KarrasRho = 7.0

// KarrasSigmas returns n sigmas from sigmaMax down to sigmaMin, evenly
// spaced in sigma^(1/rho):
//
//	sigma_i = (smax^(1/rho) + i/(n-1) (smin^(1/rho) - smax^(1/rho)))^rho
//
// With n = 1 it returns sigmaMax alone.
func KarrasSigmas(sigmaMin, sigmaMax float64, n int, rho float64) []float64 {
	minInv, maxInv := math.Pow(sigmaMin, 1/rho), math.Pow(sigmaMax, 1/rho)
	s := make([]float64, n)
	for i := range s {
		s[i] = math.Pow(maxInv+linspaceAt(0, 1, n, i)*(minInv-maxInv), rho)
	}
	return s
}
