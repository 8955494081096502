//go:build !purego

package f32

// hasAVX2FMA reports whether the processor and the operating system
// support AVX2 and FMA (the OS must save the YMM registers).
var hasAVX2FMA = detectAVX2FMA()

// useAsm selects the assembly kernels; tests turn it off to check the Go
// ones.
var useAsm = hasAVX2FMA

func detectAVX2FMA() bool {
	maxLeaf, _, _, _ := cpuid(0, 0)
	if maxLeaf < 7 {
		return false
	}
	_, _, ecx1, _ := cpuid(1, 0)
	const fma, osxsave, avx = 1 << 12, 1 << 27, 1 << 28
	if ecx1&(fma|osxsave|avx) != fma|osxsave|avx {
		return false
	}
	// XCR0 bits 1 and 2: the OS saves the SSE and AVX state.
	if xcr0, _ := xgetbv(); xcr0&6 != 6 {
		return false
	}
	_, ebx7, _, _ := cpuid(7, 0)
	const avx2 = 1 << 5
	return ebx7&avx2 != 0
}

func cpuid(leaf, subleaf uint32) (eax, ebx, ecx, edx uint32)
func xgetbv() (eax, edx uint32)

// weightedRowsAVX2 is WeightedRows for len(dst) > 0 and len(weights) > 0,
// with src long enough.
//
//go:noescape
func weightedRowsAVX2(dst []float32, bias float32, weights, src []float32, stride int)

// windowDots4AVX2 and windowDots8AVX2 are Windows.Dots for 4 and 8 taps
// over rows rows of srcLen samples, for the first len(starts) rounded down
// to a multiple of 8 windows of each row, every window inside its row;
// dst holds rows rows of len(starts).
//
//go:noescape
func windowDots4AVX2(dst, src []float32, starts []int32, weights []float32, srcLen, rows int)

//go:noescape
func windowDots8AVX2(dst, src []float32, starts []int32, weights []float32, srcLen, rows int)

// windowDotsWideAVX2 is windowDots8AVX2 for any multiple of 8 taps.
//
//go:noescape
func windowDotsWideAVX2(dst, src []float32, starts []int32, weights []float32, taps, srcLen, rows int)

func weightedRowsAsm(dst []float32, bias float32, weights, src []float32, stride int) {
	weightedRowsAVX2(dst, bias, weights, src, stride)
}

// windowDotsAsm computes the windows of every row it can and returns how
// many of each row.
func windowDotsAsm(dst, src []float32, starts []int32, weights []float32, taps, srcLen, rows int) int {
	switch {
	case len(starts) < 8:
		return 0
	case taps == 4:
		windowDots4AVX2(dst, src, starts, weights, srcLen, rows)
	case taps == 8:
		windowDots8AVX2(dst, src, starts, weights, srcLen, rows)
	case taps%8 == 0:
		windowDotsWideAVX2(dst, src, starts, weights, taps, srcLen, rows)
	default:
		return 0
	}
	return len(starts) &^ 7
}

// interleave2AVX2 and interleaveAVX2 are Interleave for n >= 8 and k = 2
// and 3 <= k <= 8; deinterleave2AVX2 and deinterleaveAVX2 Deinterleave.
//
//go:noescape
func interleave2AVX2(dst []float32, dstRow int, src []float32, srcRow, stride, n, rows int)

//go:noescape
func interleaveAVX2(dst []float32, dstRow int, src []float32, srcRow, stride, k, n, rows int)

//go:noescape
func deinterleave2AVX2(dst []float32, dstRow, stride int, src []float32, srcRow, n, rows int)

//go:noescape
func deinterleaveAVX2(dst []float32, dstRow, stride int, src []float32, srcRow, k, n, rows int)

// The elementwise kernels below handle the first len(dst) rounded down to
// a multiple of 4 outputs, reading as many samples from their inputs,
// which must be that long; those returning finite report whether every
// value they wrote is.

//go:noescape
func axpbyAVX2(dst []float32, a float64, x []float32, b float64, y []float32) (finite bool)

//go:noescape
func scaleAVX2(dst []float32, a float64, x []float32)

//go:noescape
func addMulAVX2(dst, x []float32, p, q float64)

//go:noescape
func addMulFiniteAVX2(dst, x []float32, p, q float64) (finite bool)

//go:noescape
func divAddAVX2(dst, x []float32, gain, c float64)

//go:noescape
func mulAddAVX2(dst, x []float32, q, p float64)

//go:noescape
func guideAVX2(dst, u, c []float32, w float64)

//go:noescape
func fuse2AVX2(dst []float32, w0 float64, c0 []float32, w1 float64, c1 []float32) (finite bool)

// finiteAVX2 is Finite for the first len(xs) rounded down to a multiple
// of 8 samples.
//
//go:noescape
func finiteAVX2(xs []float32) bool

// addScaled32AVX2 and scaleOntoZero32AVX2 are AddScaled32 and
// ScaleOntoZero32 for the first len(dst) &^ 7 samples, with x long
// enough.
//
//go:noescape
func addScaled32AVX2(dst []float32, a float32, x []float32)

//go:noescape
func scaleOntoZero32AVX2(dst []float32, a float32)

// The sampler kernels below, like the elementwise ones, handle the first
// len(dst) rounded down to a multiple of 4 outputs, with inputs (and x0)
// that long; x0BlendAVX2 and x0EpsBlendAVX2 read noise only with the
// x0Noise flag.

//go:noescape
func dpmSolverFirstOrderAVX2(dst, x0, x, eps []float32, sigma, invAlpha, cx, cd float64)

//go:noescape
func dpmSolverSecondOrderAVX2(dst, x0, x, eps []float32, sigma, invAlpha, k, cx, cd float64)

//go:noescape
func axpbypczAVX2(dst []float32, a float64, x []float32, b float64, y []float32, c float64, z []float32)

//go:noescape
func x0BlendAVX2(dst, x, eps, noise []float32, alpha, sigma, r, a, b, p, q float64, flags int)

//go:noescape
func x0EpsBlendAVX2(dst, x, eps, noise []float32, alpha, sigma, r, a, b, p, q float64, flags int)
