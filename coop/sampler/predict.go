package sampler

import (
	"fmt"
	"math"

	"github.com/coop-diffusion/coop/internal/f32"
	"github.com/coop-diffusion/coop/latent"
)

// Prediction is what a model's output means (diffusers' prediction_type).
type Prediction string

const (
	// Epsilon: the model predicts the noise eps (SD 1.x, SDXL, Cascade).
	Epsilon Prediction = "epsilon"
	// VPrediction: the model predicts v = sqrt(abar) eps - sqrt(1-abar) x0
	// (SD 2.x 768-v).
	VPrediction Prediction = "v_prediction"
	// Sample: the model predicts x0 directly.
	Sample Prediction = "sample"
)

func (p Prediction) valid() bool { return p == Epsilon || p == VPrediction || p == Sample }

// ToEpsilon converts a model's raw output at noise level abar into the
// epsilon prediction every sampler steps with. z is the VP latent the model
// saw (ModelInput's dst). With v-prediction eps = sqrt(abar) v +
// sqrt(1-abar) z; with sample prediction eps = (z - sqrt(abar) x0) /
// sqrt(1-abar). dst may be raw itself; it allocates nothing.
func ToEpsilon(pred Prediction, raw, z *latent.Tensor, abar float64, dst *latent.Tensor) error {
	if err := sameShapes("ToEpsilon", raw, z, dst); err != nil {
		return err
	}
	if err := checkAbar(abar, pred == Sample); err != nil {
		return err
	}
	switch pred {
	case Epsilon:
		copy(dst.Data, raw.Data)
	case VPrediction:
		axpby(dst.Data, math.Sqrt(abar), raw.Data, math.Sqrt(1-abar), z.Data)
	case Sample:
		s := math.Sqrt(1 - abar)
		axpby(dst.Data, 1/s, z.Data, -math.Sqrt(abar)/s, raw.Data)
	default:
		return fmt.Errorf("sampler: unknown prediction type %q (known: epsilon, v_prediction, sample)", pred)
	}
	return nil
}

// X0FromEpsilon writes the clean-data estimate x0 = (z - sqrt(1-abar) eps) /
// sqrt(abar) of a VP latent z at noise level abar into dst (which may be z
// or eps).
func X0FromEpsilon(z, eps *latent.Tensor, abar float64, dst *latent.Tensor) error {
	if err := sameShapes("X0FromEpsilon", z, eps, dst); err != nil {
		return err
	}
	if err := checkAbar(abar, false); err != nil {
		return err
	}
	s := math.Sqrt(abar)
	axpby(dst.Data, 1/s, z.Data, -math.Sqrt(1-abar)/s, eps.Data)
	return nil
}

// EpsilonFromX0 writes the noise eps = (z - sqrt(abar) x0) / sqrt(1-abar)
// that takes x0 to the VP latent z at noise level abar into dst (which may
// be z or x0). Coop-Diffusion uses it to turn a foreign model's x0 estimate
// into a prediction on this trajectory.
func EpsilonFromX0(z, x0 *latent.Tensor, abar float64, dst *latent.Tensor) error {
	if err := sameShapes("EpsilonFromX0", z, x0, dst); err != nil {
		return err
	}
	if err := checkAbar(abar, true); err != nil {
		return err
	}
	s := math.Sqrt(1 - abar)
	axpby(dst.Data, 1/s, z.Data, -math.Sqrt(abar)/s, x0.Data)
	return nil
}

// Noised writes the VP latent z = sqrt(abar) x0 + sqrt(1-abar) noise into
// dst (which may be x0 or noise): the forward process, used for img2img and
// to re-noise after a resolution switch.
func Noised(x0, noise *latent.Tensor, abar float64, dst *latent.Tensor) error {
	if err := sameShapes("Noised", x0, noise, dst); err != nil {
		return err
	}
	if !(abar >= 0 && abar <= 1) {
		return fmt.Errorf("sampler: noise level abar = %g outside [0, 1]", abar)
	}
	axpby(dst.Data, math.Sqrt(abar), x0.Data, math.Sqrt(1-abar), noise.Data)
	return nil
}

// checkAbar rejects noise levels that make a conversion divide by zero:
// abar = 0 always, abar = 1 when dividing by sqrt(1-abar).
func checkAbar(abar float64, divByNoise bool) error {
	if !(abar > 0 && abar <= 1) || (divByNoise && abar == 1) {
		return fmt.Errorf("sampler: noise level abar = %g outside the open interval (0, 1)", abar)
	}
	return nil
}

func sameShapes(op string, ts ...*latent.Tensor) error {
	for _, t := range ts[1:] {
		if !t.SameShape(ts[0]) || len(t.Data) != len(ts[0].Data) {
			return fmt.Errorf("sampler: %s: shapes %v and %v differ", op, ts[0].Shape, t.Shape)
		}
	}
	return nil
}

// axpby sets dst = a x + b y elementwise, in float64 arithmetic so that each
// step rounds only once to float32. dst may alias x or y.
func axpby(dst []float32, a float64, x []float32, b float64, y []float32) {
	f32.AXPBY(dst, a, x, b, y)
}

// scale sets dst = a x elementwise; dst may alias x.
func scale(dst []float32, a float64, x []float32) { f32.Scale(dst, a, x) }
