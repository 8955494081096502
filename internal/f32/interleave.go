package f32

import "fmt"

// Interleave writes k runs of n samples as n groups of k samples, for each
// of rows rows:
//
//	dst[t·dstRow + x·k + r] = src[t·srcRow + r·stride + x]
//
// for t < rows, r < k and x < n: the transpose of a k x n block whose rows
// lie stride apart into a contiguous n x k block. It is the depth-to-space
// step of a latent interposer (k output phases of a working pixel become k
// neighbouring samples). It panics if dst or src is too short.
func Interleave(dst []float32, dstRow int, src []float32, srcRow, stride, k, n, rows int) {
	if k <= 0 || n <= 0 || rows <= 0 {
		return
	}
	if dstRow < 0 || srcRow < 0 || stride < 0 ||
		len(dst) < (rows-1)*dstRow+n*k || len(src) < (rows-1)*srcRow+(k-1)*stride+n {
		panic(fmt.Sprintf("f32: Interleave of %d rows of %d x %d into %d samples (rows %d apart) from %d (rows %d, runs %d apart)",
			rows, k, n, len(dst), dstRow, len(src), srcRow, stride))
	}
	switch {
	case k == 1:
		for t := range rows {
			copy(dst[t*dstRow:t*dstRow+n], src[t*srcRow:t*srcRow+n])
		}
	case useAsm && n >= 8 && k <= 8:
		if k == 2 {
			interleave2AVX2(dst, dstRow, src, srcRow, stride, n, rows)
		} else {
			interleaveAVX2(dst, dstRow, src, srcRow, stride, k, n, rows)
		}
	default:
		interleaveGo(dst, dstRow, src, srcRow, stride, k, n, rows)
	}
}

func interleaveGo(dst []float32, dstRow int, src []float32, srcRow, stride, k, n, rows int) {
	for t := range rows {
		d := dst[t*dstRow : t*dstRow+n*k]
		for r := range k {
			s := src[t*srcRow+r*stride : t*srcRow+r*stride+n]
			for x, v := range s {
				d[x*k+r] = v
			}
		}
	}
}

// Deinterleave is the inverse of Interleave: it splits n groups of k
// samples into k runs of n samples, for each of rows rows:
//
//	dst[t·dstRow + r·stride + x] = src[t·srcRow + x·k + r]
//
// (the space-to-depth step of a latent interposer). It panics if dst or src
// is too short.
func Deinterleave(dst []float32, dstRow, stride int, src []float32, srcRow, k, n, rows int) {
	if k <= 0 || n <= 0 || rows <= 0 {
		return
	}
	if dstRow < 0 || srcRow < 0 || stride < 0 ||
		len(src) < (rows-1)*srcRow+n*k || len(dst) < (rows-1)*dstRow+(k-1)*stride+n {
		panic(fmt.Sprintf("f32: Deinterleave of %d rows of %d x %d from %d samples (rows %d apart) into %d (rows %d, runs %d apart)",
			rows, n, k, len(src), srcRow, len(dst), dstRow, stride))
	}
	switch {
	case k == 1:
		for t := range rows {
			copy(dst[t*dstRow:t*dstRow+n], src[t*srcRow:t*srcRow+n])
		}
	case useAsm && n >= 8 && k <= 8:
		if k == 2 {
			deinterleave2AVX2(dst, dstRow, stride, src, srcRow, n, rows)
		} else {
			deinterleaveAVX2(dst, dstRow, stride, src, srcRow, k, n, rows)
		}
	default:
		deinterleaveGo(dst, dstRow, stride, src, srcRow, k, n, rows)
	}
}

func deinterleaveGo(dst []float32, dstRow, stride int, src []float32, srcRow, k, n, rows int) {
	for t := range rows {
		s := src[t*srcRow : t*srcRow+n*k]
		for r := range k {
			d := dst[t*dstRow+r*stride : t*dstRow+r*stride+n]
			for x := range d {
				d[x] = s[x*k+r]
			}
		}
	}
}
