package coop

import "github.com/coop-diffusion/coop/internal/f32"

// fuse writes the weighted sum of contribs into dst, adding the terms in
// participant order and rounding to float32 after each, as successive
// latent.Axpby calls would (so the result does not depend on how the
// participants were scheduled), and reports whether every value is
// finite. contribs holds one slice per weight, each as long as dst.
func fuse(dst []float32, weights []float64, contribs [][]float32) bool {
	if len(contribs) == 1 {
		f32.Scale(dst, weights[0], contribs[0])
		return finite(dst)
	}
	ok := f32.Fuse2Finite(dst, weights[0], contribs[0], weights[1], contribs[1])
	// 1 * dst is exact: each further term is added to the rounded sum.
	for j := 2; j < len(contribs); j++ {
		ok = f32.AXPBYFinite(dst, 1, dst, weights[j], contribs[j])
	}
	return ok
}

// finite reports whether xs holds no NaN and no infinity.
func finite(xs []float32) bool { return f32.Finite(xs) }

// toUnitRangeFinite maps xs from [-1, 1] to [0, 1] in place, as
// latent.ToUnitRange does (the same rounding), and reports whether every
// value is finite.
func toUnitRangeFinite(xs []float32) bool { return f32.AddMulFinite(xs, xs, 1, 0.5) }
