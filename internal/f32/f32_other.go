//go:build !amd64 || purego

package f32

// There are no assembly kernels for this build.
const hasAVX2FMA = false

var useAsm = false

func weightedRowsAsm(dst []float32, bias float32, weights, src []float32, stride int) {
	panic("f32: no assembly kernels")
}

func windowDotsAsm(dst, src []float32, starts []int32, weights []float32, taps, srcLen, rows int) int {
	panic("f32: no assembly kernels")
}

func interleave2AVX2(dst []float32, dstRow int, src []float32, srcRow, stride, n, rows int) {
	panic("f32: no assembly kernels")
}

func interleaveAVX2(dst []float32, dstRow int, src []float32, srcRow, stride, k, n, rows int) {
	panic("f32: no assembly kernels")
}

func deinterleave2AVX2(dst []float32, dstRow, stride int, src []float32, srcRow, n, rows int) {
	panic("f32: no assembly kernels")
}

func deinterleaveAVX2(dst []float32, dstRow, stride int, src []float32, srcRow, k, n, rows int) {
	panic("f32: no assembly kernels")
}

func axpbyAVX2(dst []float32, a float64, x []float32, b float64, y []float32) bool {
	panic("f32: no assembly kernels")
}

func scaleAVX2(dst []float32, a float64, x []float32) {
	panic("f32: no assembly kernels")
}

func addMulAVX2(dst, x []float32, p, q float64) {
	panic("f32: no assembly kernels")
}

func addMulFiniteAVX2(dst, x []float32, p, q float64) bool {
	panic("f32: no assembly kernels")
}

func divAddAVX2(dst, x []float32, g, c float64) {
	panic("f32: no assembly kernels")
}

func mulAddAVX2(dst, x []float32, q, p float64) {
	panic("f32: no assembly kernels")
}

func guideAVX2(dst, u, c []float32, w float64) {
	panic("f32: no assembly kernels")
}

func fuse2AVX2(dst []float32, w0 float64, c0 []float32, w1 float64, c1 []float32) bool {
	panic("f32: no assembly kernels")
}

func finiteAVX2(xs []float32) bool {
	panic("f32: no assembly kernels")
}

func addScaled32AVX2(dst []float32, a float32, x []float32) { panic("f32: no assembly kernels") }

func scaleOntoZero32AVX2(dst []float32, a float32) { panic("f32: no assembly kernels") }

func dpmSolverFirstOrderAVX2(dst, x0, x, eps []float32, sigma, invAlpha, cx, cd float64) {
	panic("f32: no assembly kernels")
}

func dpmSolverSecondOrderAVX2(dst, x0, x, eps []float32, sigma, invAlpha, k, cx, cd float64) {
	panic("f32: no assembly kernels")
}

func axpbypczAVX2(dst []float32, a float64, x []float32, b float64, y []float32, c float64, z []float32) {
	panic("f32: no assembly kernels")
}

func x0BlendAVX2(dst, x, eps, noise []float32, alpha, sigma, r, a, b, p, q float64, flags int) {
	panic("f32: no assembly kernels")
}

func x0EpsBlendAVX2(dst, x, eps, noise []float32, alpha, sigma, r, a, b, p, q float64, flags int) {
	panic("f32: no assembly kernels")
}
