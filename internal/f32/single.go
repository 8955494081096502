package f32

// The float32 kernels below compute in float32, one rounding per
// operation, as the Go loops they replace did: the residuals ControlNets
// add into a unet's inputs, tens of megabytes per prediction.

// AddScaled32 sets dst[i] = dst[i] + a·x[i] in float32, the product
// rounded before the sum (never fused). It panics if x is shorter than
// dst; dst may be x.
func AddScaled32(dst []float32, a float32, x []float32) {
	x = input("AddScaled32", dst, x)
	if done := len(dst) &^ 7; useAsm && done > 0 {
		addScaled32AVX2(dst[:done], a, x)
		dst, x = dst[done:], x[done:]
	}
	x = x[:len(dst)]
	for i := range dst {
		dst[i] = dst[i] + float32(a*x[i])
	}
}

// ScaleOntoZero32 sets dst[i] = +0 + a·dst[i] in float32: what adding
// a·dst into a zeroed buffer would give (-0 turns into +0), without the
// buffer.
func ScaleOntoZero32(dst []float32, a float32) {
	if done := len(dst) &^ 7; useAsm && done > 0 {
		scaleOntoZero32AVX2(dst[:done], a)
		dst = dst[done:]
	}
	for i := range dst {
		var zero float32
		dst[i] = zero + float32(a*dst[i])
	}
}
