package f32

import (
	"fmt"
	"math"
)

// The elementwise kernels compute every output in float64 from the
// float32 inputs, one IEEE operation at a time in the order their formulas
// give, and round once to float32 at the end. The Go versions convert
// every product explicitly, which keeps the compiler from fusing a
// multiply and an add (the Go specification allows fusion across
// operations, not across a conversion); the assembly versions run the same
// operations four float64 lanes at a time, so both give the same bits.
//
// Each but Finite takes len(dst) as the number of outputs and panics if an
// input is shorter. dst may be the same slice as an input: every output is
// written after the inputs at its own index are read. Slices that overlap
// at different offsets give unspecified results.

// asmBlock is the granule of the elementwise assembly kernels: they handle
// the outputs up to the last multiple of it, Go the rest.
const asmBlock = 4

// AXPBY sets dst[i] = float32(a·x[i] + b·y[i]), computed in float64: the
// linear combinations of samplers and latent blending.
func AXPBY(dst []float32, a float64, x []float32, b float64, y []float32) {
	AXPBYFinite(dst, a, x, b, y)
}

// AXPBYFinite is AXPBY that also reports whether every value it wrote is
// finite (neither NaN nor infinite).
func AXPBYFinite(dst []float32, a float64, x []float32, b float64, y []float32) bool {
	x, y = inputs2("AXPBY", dst, x, y)
	finite := true
	if done := len(dst) &^ (asmBlock - 1); useAsm && done > 0 {
		finite = axpbyAVX2(dst[:done], a, x, b, y)
		dst, x, y = dst[done:], x[done:], y[done:]
	}
	x, y = x[:len(dst)], y[:len(dst)]
	var special uint32
	for i := range dst {
		v := float32(float64(a*float64(x[i])) + float64(b*float64(y[i])))
		dst[i] = v
		special |= notFinite(v)
	}
	return int32(special) >= 0 && finite
}

// Scale sets dst[i] = float32(a·x[i]), computed in float64.
func Scale(dst []float32, a float64, x []float32) {
	x = input("Scale", dst, x)
	if done := len(dst) &^ (asmBlock - 1); useAsm && done > 0 {
		scaleAVX2(dst[:done], a, x)
		dst, x = dst[done:], x[done:]
	}
	x = x[:len(dst)]
	for i := range dst {
		dst[i] = float32(a * float64(x[i]))
	}
}

// AddMul sets dst[i] = float32((x[i] + p)·q), computed in float64: the
// step into a latent space, (v - shift)·scale, and pixels from [-1, 1] to
// [0, 1] as (v + 1)·0.5, which is (v + 1)/2 exactly.
func AddMul(dst, x []float32, p, q float64) {
	x = input("AddMul", dst, x)
	if done := len(dst) &^ (asmBlock - 1); useAsm && done > 0 {
		addMulAVX2(dst[:done], x, p, q)
		dst, x = dst[done:], x[done:]
	}
	x = x[:len(dst)]
	for i := range dst {
		dst[i] = float32(float64(float64(x[i])+p) * q)
	}
}

// AddMulFinite is AddMul that also reports whether every value it wrote is
// finite.
func AddMulFinite(dst, x []float32, p, q float64) bool {
	x = input("AddMul", dst, x)
	finite := true
	if done := len(dst) &^ (asmBlock - 1); useAsm && done > 0 {
		finite = addMulFiniteAVX2(dst[:done], x, p, q)
		dst, x = dst[done:], x[done:]
	}
	x = x[:len(dst)]
	var special uint32
	for i := range dst {
		v := float32(float64(float64(x[i])+p) * q)
		dst[i] = v
		special |= notFinite(v)
	}
	return int32(special) >= 0 && finite
}

// DivAdd sets dst[i] = float32(x[i]/g + c), computed in float64: the step
// out of a latent space, v/scale + shift. It divides rather than
// multiplying by a reciprocal, which would round differently.
func DivAdd(dst, x []float32, g, c float64) {
	x = input("DivAdd", dst, x)
	if done := len(dst) &^ (asmBlock - 1); useAsm && done > 0 {
		divAddAVX2(dst[:done], x, g, c)
		dst, x = dst[done:], x[done:]
	}
	x = x[:len(dst)]
	for i := range dst {
		dst[i] = float32(float64(x[i])/g + c)
	}
}

// MulAdd sets dst[i] = float32(x[i]·q + p), computed in float64 with the
// product rounded before the sum: pixels from [0, 1] to [-1, 1] as 2v - 1.
func MulAdd(dst, x []float32, q, p float64) {
	x = input("MulAdd", dst, x)
	if done := len(dst) &^ (asmBlock - 1); useAsm && done > 0 {
		mulAddAVX2(dst[:done], x, q, p)
		dst, x = dst[done:], x[done:]
	}
	x = x[:len(dst)]
	for i := range dst {
		dst[i] = float32(float64(float64(x[i])*q) + p)
	}
}

// Guide sets dst[i] = float32(u[i] + w·(c[i] - u[i])), computed in
// float64: classifier-free guidance of the unconditional prediction u
// towards the conditional c.
func Guide(dst, u, c []float32, w float64) {
	u, c = inputs2("Guide", dst, u, c)
	if done := len(dst) &^ (asmBlock - 1); useAsm && done > 0 {
		guideAVX2(dst[:done], u, c, w)
		dst, u, c = dst[done:], u[done:], c[done:]
	}
	u, c = u[:len(dst)], c[:len(dst)]
	for i := range dst {
		ui := float64(u[i])
		dst[i] = float32(ui + float64(w*(float64(c[i])-ui)))
	}
}

// Fuse2 sets dst[i] = float32(float32(w0·c0[i]) + w1·c1[i]), computed in
// float64 with the first term rounded to float32 on its own: the weighted
// sum of two predictions as two successive accumulations into a float32
// buffer would give it.
func Fuse2(dst []float32, w0 float64, c0 []float32, w1 float64, c1 []float32) {
	Fuse2Finite(dst, w0, c0, w1, c1)
}

// Fuse2Finite is Fuse2 that also reports whether every value it wrote is
// finite.
func Fuse2Finite(dst []float32, w0 float64, c0 []float32, w1 float64, c1 []float32) bool {
	c0, c1 = inputs2("Fuse2", dst, c0, c1)
	finite := true
	if done := len(dst) &^ (asmBlock - 1); useAsm && done > 0 {
		finite = fuse2AVX2(dst[:done], w0, c0, w1, c1)
		dst, c0, c1 = dst[done:], c0[done:], c1[done:]
	}
	c0, c1 = c0[:len(dst)], c1[:len(dst)]
	var special uint32
	for i := range dst {
		v := float32(float64(float32(w0*float64(c0[i]))) + float64(w1*float64(c1[i])))
		dst[i] = v
		special |= notFinite(v)
	}
	return int32(special) >= 0 && finite
}

// Finite reports whether no element of xs is NaN or infinite: none has all
// its exponent bits set.
func Finite(xs []float32) bool {
	// The assembly takes blocks of 8 samples.
	if done := len(xs) &^ 7; useAsm && done > 0 {
		if !finiteAVX2(xs[:done]) {
			return false
		}
		xs = xs[done:]
	}
	for _, v := range xs {
		if math.Float32bits(v)&expMask == expMask {
			return false
		}
	}
	return true
}

// expMask selects the exponent bits of a float32.
const expMask = 0x7f800000

// notFinite returns a word whose sign bit is set if v is NaN or infinite:
// 0x7f7fffff (the largest finite magnitude) minus v's magnitude bits goes
// negative exactly then. The Go loops OR these together rather than
// branch on every sample.
func notFinite(v float32) uint32 {
	return 0x7f7fffff - math.Float32bits(v)&0x7fffffff
}

// input checks that x holds at least len(dst) samples and returns the
// first len(dst) of them.
func input(op string, dst, x []float32) []float32 {
	if len(x) < len(dst) {
		panic(fmt.Sprintf("f32: %s of %d samples from %d", op, len(dst), len(x)))
	}
	return x[:len(dst)]
}

// inputs2 is input for two inputs.
func inputs2(op string, dst, x, y []float32) ([]float32, []float32) {
	if len(x) < len(dst) || len(y) < len(dst) {
		panic(fmt.Sprintf("f32: %s of %d samples from %d and %d", op, len(dst), len(x), len(y)))
	}
	return x[:len(dst)], y[:len(dst)]
}
