package sampler

import (
	"fmt"
	"math"
)

// Schedule maps a model's own notion of time to the noise level abar (the
// cumulative signal level, alpha-bar) and back. Every model adapter converts
// the engine's abar into its graph's timestep input through one of these.
type Schedule interface {
	// TimestepToAbar returns the noise level at timestep t, fractional t
	// allowed. Values outside the schedule's range are clamped to it.
	TimestepToAbar(t float64) float64
	// AbarToTimestep returns the (possibly fractional) timestep whose noise
	// level is abar. Noise levels beyond either end of the schedule map to
	// the end timestep: a model is told its extreme time, never an
	// extrapolated one.
	AbarToTimestep(abar float64) float64
}

// Sigma is the noise-to-signal ratio sqrt((1-abar)/abar) of a noise level:
// the scale of the noise in the sigma-space parameterisation x = x0 + sigma n
// that Euler-family samplers use.
func Sigma(abar float64) float64 { return math.Sqrt((1 - abar) / abar) }

// AbarFromSigma is the inverse of Sigma: 1 / (1 + sigma^2).
func AbarFromSigma(sigma float64) float64 { return 1 / (1 + sigma*sigma) }

// LogSNR is the log signal-to-noise ratio log(abar / (1-abar)) = -2 log sigma.
func LogSNR(abar float64) float64 { return math.Log(abar / (1 - abar)) }

// AbarFromLogSNR is the inverse of LogSNR, the logistic function.
func AbarFromLogSNR(lambda float64) float64 { return 1 / (1 + math.Exp(-lambda)) }

// BetaSchedule names the beta table of a discrete schedule, in diffusers'
// spelling (beta_schedule in scheduler_config.json).
type BetaSchedule string

const (
	// ScaledLinear is Stable Diffusion's schedule: betas linear in sqrt(beta).
	ScaledLinear BetaSchedule = "scaled_linear"
	// Linear is DDPM's original schedule: betas linear in beta.
	Linear BetaSchedule = "linear"
	// SquaredCosCapV2 is the improved-DDPM cosine schedule discretised into
	// betas capped at 0.999 (diffusers' "squaredcos_cap_v2").
	SquaredCosCapV2 BetaSchedule = "squaredcos_cap_v2"
)

// zeroSNRFloor replaces the zero abar that rescaling to zero terminal SNR
// leaves at the last training step: a zero abar has infinite sigma and makes
// an epsilon prediction carry no information about x0. diffusers' Euler
// scheduler uses the same floor, 2^-24.
const zeroSNRFloor = 1.0 / (1 << 24)

// Discrete is a schedule of num_train_timesteps integer steps built from a
// beta table, the time axis of SD 1.x, SD 2.x and SDXL. Timestep t in
// [0, T-1] has abar_t = prod_{s<=t} (1 - beta_s). Tables are computed in
// float64; diffusers builds them in float32, which puts its values within
// about 1e-6 relative of these.
type Discrete struct {
	abar      []float64
	logSigma  []float64 // ascending in t
	schedule  BetaSchedule
	betaStart float64
	betaEnd   float64
	zeroSNR   bool
}

// NewDiscrete builds the abar table of a beta schedule with trainSteps
// steps. rescaleZeroSNR applies the zero-terminal-SNR rescaling of Lin et al.
// (diffusers' rescale_betas_zero_snr), with the last abar floored at 2^-24.
func NewDiscrete(schedule BetaSchedule, trainSteps int, betaStart, betaEnd float64, rescaleZeroSNR bool) (*Discrete, error) {
	d, err := newDiscrete(schedule, trainSteps, betaStart, betaEnd, rescaleZeroSNR)
	if err != nil {
		return nil, fmt.Errorf("sampler: %w", err)
	}
	return d, nil
}

func newDiscrete(schedule BetaSchedule, trainSteps int, betaStart, betaEnd float64, rescaleZeroSNR bool) (*Discrete, error) {
	if trainSteps < 2 {
		return nil, fmt.Errorf("num_train_timesteps %d: need at least 2", trainSteps)
	}
	betas := make([]float64, trainSteps)
	switch schedule {
	case ScaledLinear, Linear:
		if !(betaStart > 0 && betaEnd > 0 && betaStart < 1 && betaEnd < 1) {
			return nil, fmt.Errorf("beta_start %g and beta_end %g must lie in (0, 1)", betaStart, betaEnd)
		}
		lo, hi := betaStart, betaEnd
		if schedule == ScaledLinear {
			lo, hi = math.Sqrt(lo), math.Sqrt(hi)
		}
		for i := range betas {
			b := lo + (hi-lo)*float64(i)/float64(trainSteps-1)
			if schedule == ScaledLinear {
				b *= b
			}
			betas[i] = b
		}
	case SquaredCosCapV2:
		f := func(t float64) float64 {
			c := math.Cos((t + 0.008) / 1.008 * math.Pi / 2)
			return c * c
		}
		n := float64(trainSteps)
		for i := range betas {
			betas[i] = math.Min(1-f(float64(i+1)/n)/f(float64(i)/n), 0.999)
		}
	default:
		return nil, fmt.Errorf("unknown beta_schedule %q (known: %s, %s, %s)", schedule, ScaledLinear, Linear, SquaredCosCapV2)
	}
	abar := make([]float64, trainSteps)
	p := 1.0
	for i, b := range betas {
		p *= 1 - b
		abar[i] = p
	}
	if rescaleZeroSNR {
		rescaleToZeroSNR(abar)
	}
	d := &Discrete{abar: abar, logSigma: make([]float64, trainSteps), schedule: schedule,
		betaStart: betaStart, betaEnd: betaEnd, zeroSNR: rescaleZeroSNR}
	for i, a := range abar {
		d.logSigma[i] = math.Log(Sigma(a))
	}
	return d, nil
}

// rescaleToZeroSNR shifts and scales sqrt(abar) so that the first value is
// kept and the last becomes zero, then floors the last abar at zeroSNRFloor.
func rescaleToZeroSNR(abar []float64) {
	a0, aT := math.Sqrt(abar[0]), math.Sqrt(abar[len(abar)-1])
	for i, a := range abar {
		s := (math.Sqrt(a) - aT) * a0 / (a0 - aT)
		abar[i] = s * s
	}
	abar[len(abar)-1] = zeroSNRFloor
}

// TrainSteps is the number of training timesteps T.
func (d *Discrete) TrainSteps() int { return len(d.abar) }

// Abar returns the table value abar_t for an integer timestep; it panics
// outside [0, T-1].
func (d *Discrete) Abar(t int) float64 { return d.abar[t] }

// TimestepToAbar interpolates log sigma linearly between the table entries
// either side of t, so it is exact at integers and the inverse of
// AbarToTimestep everywhere in [0, T-1].
func (d *Discrete) TimestepToAbar(t float64) float64 {
	last := len(d.abar) - 1
	switch {
	case !(t > 0): // also NaN
		return d.abar[0]
	case t >= float64(last):
		return d.abar[last]
	}
	lo := int(t)
	w := t - float64(lo)
	if w == 0 {
		return d.abar[lo]
	}
	ls := (1-w)*d.logSigma[lo] + w*d.logSigma[lo+1]
	return AbarFromSigma(math.Exp(ls))
}

// AbarToTimestep finds the fractional timestep by interpolating in log
// sigma between neighbouring table entries, the rule of diffusers'
// _sigma_to_t. Noise levels outside the table clamp to 0 or T-1.
func (d *Discrete) AbarToTimestep(abar float64) float64 {
	return d.sigmaToTimestep(Sigma(abar))
}

// sigmaToTimestep is AbarToTimestep on sigma, diffusers' _sigma_to_t.
func (d *Discrete) sigmaToTimestep(sigma float64) float64 {
	ls := math.Log(math.Max(sigma, 1e-10))
	n := len(d.logSigma)
	// lo is the last index whose log sigma is <= ls, limited to n-2 so that
	// lo+1 exists; logSigma is ascending.
	lo := searchAscending(d.logSigma, ls)
	if lo < 0 {
		lo = 0
	}
	if lo > n-2 {
		lo = n - 2
	}
	w := (d.logSigma[lo] - ls) / (d.logSigma[lo] - d.logSigma[lo+1])
	w = math.Max(0, math.Min(1, w))
	t := (1-w)*float64(lo) + w*float64(lo+1)
	if r := math.Round(t); math.Abs(t-r) < 1e-9 {
		t = r // an exact table entry, up to rounding in the logs
	}
	return t
}

// AbarToIntTimestep is AbarToTimestep rounded half to even (numpy's round),
// for graphs whose timestep input is an integer type.
func (d *Discrete) AbarToIntTimestep(abar float64) int {
	return int(math.RoundToEven(d.AbarToTimestep(abar)))
}

// sigmaLinear returns sigma at a fractional timestep by interpolating sigma
// (not log sigma) linearly, which is how diffusers' Euler and DPM-Solver
// schedulers place sigmas at the timesteps of a spacing (np.interp). It
// differs from TimestepToAbar by at most about 2e-5 relative between
// integers, and not at all at integers.
func (d *Discrete) sigmaLinear(t float64) float64 {
	last := len(d.abar) - 1
	switch {
	case !(t > 0):
		return Sigma(d.abar[0])
	case t >= float64(last):
		return Sigma(d.abar[last])
	}
	lo := int(t)
	w := t - float64(lo)
	s0 := Sigma(d.abar[lo])
	if w == 0 {
		return s0
	}
	return (1-w)*s0 + w*Sigma(d.abar[lo+1])
}

// searchAscending returns the last index i with xs[i] <= v, or -1 when v is
// below xs[0]. xs must be ascending.
func searchAscending(xs []float64, v float64) int {
	lo, hi := 0, len(xs) // invariant: xs[:lo] <= v, xs[hi:] > v
	for lo < hi {
		m := int(uint(lo+hi) >> 1)
		if xs[m] <= v {
			lo = m + 1
		} else {
			hi = m
		}
	}
	return lo - 1
}

// String describes the schedule.
func (d *Discrete) String() string {
	s := fmt.Sprintf("%s(T=%d", d.schedule, len(d.abar))
	if d.schedule != SquaredCosCapV2 {
		s += fmt.Sprintf(", beta %g..%g", d.betaStart, d.betaEnd)
	}
	if d.zeroSNR {
		s += ", zero terminal SNR"
	}
	return s + ")"
}

// Cosine is Stable Cascade's continuous schedule over timestep_ratio
// r in [0, 1] (r = 1 is pure noise):
//
//	abar(r) = cos^2((r+S)/(1+S) * pi/2) / cos^2(S/(1+S) * pi/2)
//
// clamped to [1e-4, 0.9999]. Scaler warps r first, as diffusers'
// DDPMWuerstchenScheduler does: r' = 1-(1-r)^Scaler above 1, r^Scaler below.
type Cosine struct {
	S      float64
	Scaler float64
}

// Cascade's clamp of abar; the ends of its time axis are not pure noise or
// pure signal.
const (
	cosineAbarMin = 1e-4
	cosineAbarMax = 0.9999
)

// CascadeCosine is Stable Cascade's schedule: S = 0.008, Scaler = 1.
func CascadeCosine() Cosine { return Cosine{S: 0.008, Scaler: 1} }

func (c Cosine) validate() error {
	if !(c.S > 0 && c.S < 1) {
		return fmt.Errorf("cosine schedule offset s = %g must lie in (0, 1)", c.S)
	}
	if !(c.Scaler > 0) {
		return fmt.Errorf("cosine schedule scaler %g must be positive", c.Scaler)
	}
	return nil
}

// RatioToAbar returns the noise level at timestep_ratio r.
func (c Cosine) RatioToAbar(r float64) float64 {
	switch {
	case c.Scaler > 1:
		r = 1 - math.Pow(1-r, c.Scaler)
	case c.Scaler < 1:
		r = math.Pow(r, c.Scaler)
	}
	c0 := math.Cos(c.S / (1 + c.S) * math.Pi / 2)
	cr := math.Cos((r + c.S) / (1 + c.S) * math.Pi / 2)
	a := cr * cr / (c0 * c0)
	return math.Max(cosineAbarMin, math.Min(cosineAbarMax, a))
}

// AbarToRatio inverts RatioToAbar on the clamped range:
// r = acos(sqrt(abar) cos(S/(1+S) pi/2)) / (pi/2) (1+S) - S, then the
// inverse of the Scaler warp. Noise levels beyond the clamp map to the
// ratio of the clamp.
func (c Cosine) AbarToRatio(abar float64) float64 {
	abar = math.Max(cosineAbarMin, math.Min(cosineAbarMax, abar))
	c0 := math.Cos(c.S / (1 + c.S) * math.Pi / 2)
	r := math.Acos(math.Sqrt(abar)*c0)/(math.Pi/2)*(1+c.S) - c.S
	r = math.Max(0, math.Min(1, r))
	switch {
	case c.Scaler > 1:
		r = 1 - math.Pow(1-r, 1/c.Scaler)
	case c.Scaler < 1:
		r = math.Pow(r, 1/c.Scaler)
	}
	return r
}

// TimestepToAbar is RatioToAbar: Cascade's timestep is the ratio.
func (c Cosine) TimestepToAbar(r float64) float64 { return c.RatioToAbar(r) }

// AbarToTimestep is AbarToRatio.
func (c Cosine) AbarToTimestep(abar float64) float64 { return c.AbarToRatio(abar) }

// String describes the schedule.
func (c Cosine) String() string { return fmt.Sprintf("cosine(s=%g, scaler=%g)", c.S, c.Scaler) }
