package f32

import "fmt"

// WeightedRows sets dst[i] = bias + Σ_k weights[k]·src[k·stride+i] for
// every i < len(dst): a weighted sum of len(weights) rows of src that start
// stride elements apart. It panics if src is too short for that.
func WeightedRows(dst []float32, bias float32, weights, src []float32, stride int) {
	n, taps := len(dst), len(weights)
	if n == 0 {
		return
	}
	if taps == 0 {
		for i := range dst {
			dst[i] = bias
		}
		return
	}
	if stride < 0 || len(src) < (taps-1)*stride+n {
		panic(fmt.Sprintf("f32: WeightedRows of %d rows of %d, stride %d, from a source of %d", taps, n, stride, len(src)))
	}
	if useAsm {
		weightedRowsAsm(dst, bias, weights, src, stride)
		return
	}
	weightedRowsGo(dst, bias, weights, src, stride)
}

func weightedRowsGo(dst []float32, bias float32, weights, src []float32, stride int) {
	n := len(dst)
	w0 := weights[0]
	row := src[:n]
	for i := range dst {
		dst[i] = bias + w0*row[i]
	}
	for k := 1; k < len(weights); k++ {
		wk := weights[k]
		row := src[k*stride : k*stride+n]
		for i := range dst {
			dst[i] += wk * row[i]
		}
	}
}

// Windows is a set of weighted windows over SourceLen() samples: window j
// has Taps() weights and reads the samples from its start on (a caller with
// windows of different lengths pads the shorter ones with zero weights).
// Dots applies them within rows (the horizontal pass of a resize), Rows to
// whole rows (the vertical pass). NewWindows checks that every window lies
// inside the source, so they need not.
type Windows struct {
	sourceLen, taps int
	starts          []int32
	weights         []float32
}

// NewWindows returns windows of taps samples starting at starts over
// sourceLen samples, with weights (len(starts)·taps of them, window by
// window). It copies starts and weights.
func NewWindows(sourceLen, taps int, starts []int, weights []float32) (*Windows, error) {
	if taps <= 0 || taps > sourceLen {
		return nil, fmt.Errorf("f32: windows of %d taps over %d samples", taps, sourceLen)
	}
	if len(weights) != len(starts)*taps {
		return nil, fmt.Errorf("f32: %d weights for %d windows of %d taps", len(weights), len(starts), taps)
	}
	w := &Windows{sourceLen: sourceLen, taps: taps, starts: make([]int32, len(starts)), weights: append([]float32(nil), weights...)}
	for j, s := range starts {
		if s < 0 || s > sourceLen-taps {
			return nil, fmt.Errorf("f32: window %d starts at %d, outside 0 to %d", j, s, sourceLen-taps)
		}
		w.starts[j] = int32(s)
	}
	return w, nil
}

// Len is the number of windows, SourceLen the number of samples they read.
func (w *Windows) Len() int       { return len(w.starts) }
func (w *Windows) SourceLen() int { return w.sourceLen }

// Taps is the number of samples in every window.
func (w *Windows) Taps() int { return w.taps }

// Dots treats src as rows of SourceLen() samples and writes the dot
// product of every window with every row into dst, Len() values per row.
// It panics unless len(src) is a multiple of SourceLen() and dst has room
// for exactly that many rows.
func (w *Windows) Dots(dst, src []float32) {
	n := len(w.starts)
	rows := len(src) / w.sourceLen
	if len(src) != rows*w.sourceLen || len(dst) != rows*n {
		panic(fmt.Sprintf("f32: %d windows over %d samples applied to %d samples into %d", n, w.sourceLen, len(src), len(dst)))
	}
	if rows == 0 || n == 0 {
		return
	}
	done := 0
	if useAsm {
		done = windowDotsAsm(dst, src, w.starts, w.weights, w.taps, w.sourceLen, rows)
	}
	if done == n {
		return
	}
	for t := range rows {
		windowDotsGo(dst[t*n+done:(t+1)*n], src[t*w.sourceLen:(t+1)*w.sourceLen], w.starts[done:], w.weights[done*w.taps:], w.taps)
	}
}

func windowDotsGo(dst, src []float32, starts []int32, weights []float32, taps int) {
	for j := range dst {
		s := int(starts[j])
		window := src[s : s+taps]
		ws := weights[j*taps : (j+1)*taps]
		var sum float32
		for k, wk := range ws {
			sum += wk * window[k]
		}
		dst[j] = sum
	}
}

// Rows treats src as SourceLen() rows of width samples and writes, for
// every window, the weighted sum of its rows into dst, Len() rows of
// width. It panics unless src and dst have those lengths.
func (w *Windows) Rows(dst, src []float32, width int) {
	if width <= 0 || len(src) != w.sourceLen*width || len(dst) != len(w.starts)*width {
		panic(fmt.Sprintf("f32: %d windows over %d rows applied to %d samples into %d, rows of %d", len(w.starts), w.sourceLen, len(src), len(dst), width))
	}
	taps := w.taps
	for j, s := range w.starts {
		d := dst[j*width : (j+1)*width]
		weights := w.weights[j*taps : (j+1)*taps]
		rows := src[int(s)*width:]
		if useAsm {
			weightedRowsAsm(d, 0, weights, rows, width)
		} else {
			weightedRowsGo(d, 0, weights, rows, width)
		}
	}
}

// PaddedTaps is the window length Windows.Dots runs fastest with for
// windows of up to taps nonzero weights, when the row holds at least that
// many samples: the assembly kernels take windows of 4 or a multiple of 8
// samples.
func PaddedTaps(taps int) int {
	switch {
	case !useAsm:
		return taps
	case taps <= 4:
		return 4
	}
	return (taps + 7) &^ 7
}
