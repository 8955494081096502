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
