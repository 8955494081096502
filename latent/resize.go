package latent

import (
	"fmt"
	"math"
)

// Filter is a resampling kernel for Resize.
type Filter int

const (
	// Bilinear is the triangle kernel, support 1.
	Bilinear Filter = iota
	// Bicubic is the cubic convolution kernel with a = -0.5 (Catmull-Rom),
	// support 2: PIL's BICUBIC, torch's bicubic with antialias=True and
	// golang.org/x/image/draw's CatmullRom. (torch without antialias uses
	// a = -0.75.)
	Bicubic
	// Lanczos3 is sinc(x) sinc(x/3) for |x| < 3, PIL's LANCZOS.
	Lanczos3
)

func (f Filter) String() string {
	switch f {
	case Bilinear:
		return "bilinear"
	case Bicubic:
		return "bicubic"
	case Lanczos3:
		return "lanczos3"
	}
	return fmt.Sprintf("Filter(%d)", int(f))
}

// support is the kernel's half-width in source pixels at scale 1.
func (f Filter) support() float64 {
	switch f {
	case Bilinear:
		return 1
	case Bicubic:
		return 2
	case Lanczos3:
		return 3
	}
	return 0
}

// at evaluates the kernel at distance x.
func (f Filter) at(x float64) float64 {
	x = math.Abs(x)
	switch f {
	case Bilinear:
		if x < 1 {
			return 1 - x
		}
	case Bicubic:
		const a = -0.5
		if x < 1 {
			return ((a+2)*x-(a+3))*x*x + 1
		}
		if x < 2 {
			return ((a*x-5*a)*x+8*a)*x - 4*a
		}
	case Lanczos3:
		if x < 3 {
			return sinc(x) * sinc(x/3)
		}
	}
	return 0
}

func sinc(x float64) float64 {
	if x == 0 {
		return 1
	}
	x *= math.Pi
	return math.Sin(x) / x
}

// axisWeights resamples one axis: output o is the dot product of taps
// weights with the source samples start[o] .. start[o]+taps-1. Windows are
// padded with zero weights to a common length and shifted to lie inside the
// source, so the inner loops have no bounds cases.
type axisWeights struct {
	start   []int
	taps    int
	weights []float32 // len(start) * taps
}

// newAxisWeights precomputes resampling from src to dst samples. Output
// sample o is centred at source coordinate (o + 0.5) * src/dst (pixel
// centres at half-integers, align_corners=false). When shrinking, the
// kernel is stretched by src/dst so that it averages every source sample
// (antialiasing); samples beyond the border are left out and the remaining
// weights renormalised, as PIL does.
func newAxisWeights(src, dst int, f Filter) axisWeights {
	scale := float64(src) / float64(dst)
	stretch := max(scale, 1)
	support := f.support() * stretch

	type window struct {
		lo int
		w  []float64
	}
	windows := make([]window, dst)
	taps := 0
	for o := range dst {
		centre := (float64(o) + 0.5) * scale
		lo := max(int(math.Floor(centre-support)), 0)
		hi := min(int(math.Ceil(centre+support)), src)
		w := make([]float64, hi-lo)
		total := 0.0
		for i := range w {
			w[i] = f.at((float64(lo+i) + 0.5 - centre) / stretch)
			total += w[i]
		}
		for i := range w {
			w[i] /= total
		}
		// Trim zero weights at the ends (points exactly at the support).
		for len(w) > 0 && w[len(w)-1] == 0 {
			w = w[:len(w)-1]
		}
		for len(w) > 0 && w[0] == 0 {
			w = w[1:]
			lo++
		}
		windows[o] = window{lo, w}
		taps = max(taps, len(w))
	}
	a := axisWeights{start: make([]int, dst), taps: taps, weights: make([]float32, dst*taps)}
	for o, win := range windows {
		start := min(win.lo, src-taps)
		a.start[o] = start
		row := a.weights[o*taps : (o+1)*taps]
		for i, w := range win.w {
			row[win.lo-start+i] = float32(w)
		}
	}
	return a
}

// Resizer resamples NCHW tensors of one source size to one destination size
// with one filter. It precomputes the kernel weights and owns the
// intermediate buffer, so Resize allocates nothing. A Resizer is not safe
// for concurrent use; make one per goroutine.
type Resizer struct {
	srcH, srcW, dstH, dstW int
	horizontal, vertical   *axisWeights // nil where the size does not change
	tmp                    []float32    // srcH x dstW, one plane
}

// NewResizer prepares resizing from srcH x srcW to dstH x dstW pixels.
func NewResizer(srcH, srcW, dstH, dstW int, filter Filter) (*Resizer, error) {
	if srcH <= 0 || srcW <= 0 || dstH <= 0 || dstW <= 0 {
		return nil, fmt.Errorf("resize from %dx%d to %dx%d (height x width): sizes must be positive", srcH, srcW, dstH, dstW)
	}
	if filter.support() == 0 {
		return nil, fmt.Errorf("resize: unknown %v", filter)
	}
	r := &Resizer{srcH: srcH, srcW: srcW, dstH: dstH, dstW: dstW}
	if srcW != dstW {
		a := newAxisWeights(srcW, dstW, filter)
		r.horizontal = &a
		if srcH != dstH {
			r.tmp = make([]float32, srcH*dstW)
		}
	}
	if srcH != dstH {
		a := newAxisWeights(srcH, dstH, filter)
		r.vertical = &a
	}
	return r, nil
}

// Resize resamples src into dst, plane by plane. Both must be rank 4 with
// equal batch and channel counts and the Resizer's sizes, or it returns an
// error. When a dimension keeps its size it is copied exactly.
func (r *Resizer) Resize(dst, src *Tensor) error {
	if len(src.Shape) != 4 || len(dst.Shape) != 4 {
		return fmt.Errorf("resize: %v to %v: tensors must be rank 4 (NCHW)", src, dst)
	}
	if src.N() != dst.N() || src.C() != dst.C() {
		return fmt.Errorf("resize: %v to %v: batch and channel counts differ", src, dst)
	}
	if src.H() != r.srcH || src.W() != r.srcW || dst.H() != r.dstH || dst.W() != r.dstW {
		return fmt.Errorf("resize: %v to %v: resizer is for %dx%d to %dx%d", src, dst, r.srcH, r.srcW, r.dstH, r.dstW)
	}
	srcPlane, dstPlane := r.srcH*r.srcW, r.dstH*r.dstW
	for p := range src.N() * src.C() {
		s := src.Data[p*srcPlane : (p+1)*srcPlane]
		d := dst.Data[p*dstPlane : (p+1)*dstPlane]
		switch {
		case r.horizontal == nil && r.vertical == nil:
			copy(d, s)
		case r.vertical == nil:
			resampleRows(d, s, r.srcW, r.dstW, r.horizontal)
		case r.horizontal == nil:
			resampleColumns(d, s, r.dstW, r.vertical)
		default:
			resampleRows(r.tmp, s, r.srcW, r.dstW, r.horizontal)
			resampleColumns(d, r.tmp, r.dstW, r.vertical)
		}
	}
	return nil
}

// resampleRows resamples each row of src (rows of srcW) into dst (rows of
// dstW).
func resampleRows(dst, src []float32, srcW, dstW int, a *axisWeights) {
	rows := len(src) / srcW
	taps := a.taps
	for y := range rows {
		in := src[y*srcW : (y+1)*srcW]
		out := dst[y*dstW : (y+1)*dstW]
		for x := range out {
			start := a.start[x]
			window := in[start : start+taps]
			weights := a.weights[x*taps : (x+1)*taps]
			var sum float32
			for k, w := range weights {
				sum += w * window[k]
			}
			out[x] = sum
		}
	}
}

// resampleColumns resamples along the height: each output row is a weighted
// sum of whole input rows of width w, which keeps memory access sequential.
func resampleColumns(dst, src []float32, w int, a *axisWeights) {
	taps := a.taps
	for y := range len(dst) / w {
		out := dst[y*w : (y+1)*w]
		weights := a.weights[y*taps : (y+1)*taps]
		start := a.start[y]
		in := src[start*w : (start+1)*w]
		w0 := weights[0]
		for x := range out {
			out[x] = w0 * in[x]
		}
		for k := 1; k < taps; k++ {
			wk := weights[k]
			in := src[(start+k)*w : (start+k+1)*w]
			in = in[:len(out)]
			for x := range out {
				out[x] += wk * in[x]
			}
		}
	}
}

// Resize resamples src into dst, whose height and width say the target size,
// with filter (see Resizer). It prepares a Resizer per call: make one with
// NewResizer to resize repeatedly without allocating.
func Resize(dst, src *Tensor, filter Filter) error {
	if len(src.Shape) != 4 || len(dst.Shape) != 4 {
		return fmt.Errorf("resize: %v to %v: tensors must be rank 4 (NCHW)", src, dst)
	}
	r, err := NewResizer(src.H(), src.W(), dst.H(), dst.W(), filter)
	if err != nil {
		return err
	}
	return r.Resize(dst, src)
}
