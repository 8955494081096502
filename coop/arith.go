package coop

import "math"

// fuse writes the weighted sum of contribs into dst in one pass, adding
// the terms in participant order and rounding to float32 after each, as
// successive latent.Axpby calls would (so the result does not depend on
// how the participants were scheduled), and reports whether every value
// is finite. contribs holds one slice per weight, each as long as dst.
func fuse(dst []float32, weights []float64, contribs [][]float32) bool {
	switch len(contribs) {
	case 1:
		w, c := weights[0], contribs[0][:len(dst)]
		for i := range dst {
			dst[i] = float32(w * float64(c[i]))
		}
	case 2:
		w0, w1 := weights[0], weights[1]
		c0, c1 := contribs[0][:len(dst)], contribs[1][:len(dst)]
		for i := range dst {
			v := float32(w0 * float64(c0[i]))
			dst[i] = float32(float64(v) + w1*float64(c1[i]))
		}
	default:
		w, c := weights[0], contribs[0][:len(dst)]
		for i := range dst {
			dst[i] = float32(w * float64(c[i]))
		}
		for j := 1; j < len(contribs); j++ {
			w, c := weights[j], contribs[j][:len(dst)]
			for i := range dst {
				dst[i] = float32(float64(dst[i]) + w*float64(c[i]))
			}
		}
	}
	return finite(dst)
}

// finite reports whether xs holds no NaN and no infinity: no value has
// every exponent bit set. Testing the bits is about twice as fast as
// math.IsNaN and math.IsInf, which matters for the decoded image.
func finite(xs []float32) bool {
	const exp = 0x7f800000
	for _, v := range xs {
		if math.Float32bits(v)&exp == exp {
			return false
		}
	}
	return true
}

// toUnitRangeFinite maps xs from [-1, 1] to [0, 1] in place, as
// latent.ToUnitRange does (the same rounding), and reports whether every
// value is finite: the two passes over a decoded image in one. It stops at
// the first value that is not, leaving the rest unconverted.
func toUnitRangeFinite(xs []float32) bool {
	const exp = 0x7f800000
	for i, v := range xs {
		u := float32((float64(v) + 1) / 2)
		if math.Float32bits(u)&exp == exp {
			return false
		}
		xs[i] = u
	}
	return true
}
