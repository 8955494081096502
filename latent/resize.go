package latent

import (
	"fmt"
	"math"

	"github.com/coop-diffusion/coop/internal/f32"
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

// newAxis precomputes resampling from src to dst samples along one axis:
// output o is the dot product of a window of weights with the source
// samples from its start on. Output sample o is centred at source
// coordinate (o + 0.5) * src/dst (pixel centres at half-integers,
// align_corners=false). When shrinking, the kernel is stretched by src/dst
// so that it averages every source sample (antialiasing); samples beyond
// the border are left out and the remaining weights renormalised, as PIL
// does. Windows are padded with zero weights to a common length and shifted
// to lie inside the source, so the kernels have no bounds cases; within
// rows (horizontal), to the length f32.Windows.Dots runs fastest with.
func newAxis(src, dst int, f Filter, horizontal bool) (*f32.Windows, error) {
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
	if horizontal {
		if p := f32.PaddedTaps(taps); p <= src {
			taps = p
		}
	}
	starts := make([]int, dst)
	weights := make([]float32, dst*taps)
	for o, win := range windows {
		start := min(win.lo, src-taps)
		starts[o] = start
		row := weights[o*taps : (o+1)*taps]
		for i, w := range win.w {
			row[win.lo-start+i] = float32(w)
		}
	}
	return f32.NewWindows(src, taps, starts, weights)
}

// Resizer resamples NCHW tensors of one source size to one destination size
// with one filter. It precomputes the kernel weights and owns the
// intermediate buffer, so Resize allocates nothing. A Resizer is not safe
// for concurrent use; make one per goroutine.
//
// The two axes are resampled one after the other by the kernels of
// internal/f32: the vertical pass as weighted sums of whole rows
// (f32.Windows.Rows), the horizontal one as a short dot product per output
// (f32.Windows.Dots), which costs several times as much per output.
// NewResizer picks the order that costs less.
type Resizer struct {
	srcH, srcW, dstH, dstW int
	horizontal, vertical   *f32.Windows // nil where the size does not change
	verticalFirst          bool
	tmp                    []float32 // one plane after the first pass
}

// Costs of the kernels in hundredths of a nanosecond per output on an AVX2
// core, from f32's benchmarks: they pick the order of the passes.
func dotsCost(taps int) int { return 16 + 5*taps }
func rowsCost(taps int) int { return 3 * taps }

// NewResizer prepares resizing from srcH x srcW to dstH x dstW pixels.
func NewResizer(srcH, srcW, dstH, dstW int, filter Filter) (*Resizer, error) {
	if srcH <= 0 || srcW <= 0 || dstH <= 0 || dstW <= 0 {
		return nil, fmt.Errorf("resize from %dx%d to %dx%d (height x width): sizes must be positive", srcH, srcW, dstH, dstW)
	}
	if filter.support() == 0 {
		return nil, fmt.Errorf("resize: unknown %v", filter)
	}
	r := &Resizer{srcH: srcH, srcW: srcW, dstH: dstH, dstW: dstW}
	var err error
	if srcW != dstW {
		if r.horizontal, err = newAxis(srcW, dstW, filter, true); err != nil {
			return nil, fmt.Errorf("resize from %dx%d to %dx%d: %w", srcH, srcW, dstH, dstW, err)
		}
	}
	if srcH != dstH {
		if r.vertical, err = newAxis(srcH, dstH, filter, false); err != nil {
			return nil, fmt.Errorf("resize from %dx%d to %dx%d: %w", srcH, srcW, dstH, dstW, err)
		}
	}
	if r.horizontal != nil && r.vertical != nil {
		h, v := dotsCost(r.horizontal.Taps()), rowsCost(r.vertical.Taps())
		horizontalFirst := srcH*dstW*h + dstH*dstW*v
		verticalFirst := dstH*srcW*v + dstH*dstW*h
		r.verticalFirst = verticalFirst < horizontalFirst
		if r.verticalFirst {
			r.tmp = make([]float32, dstH*srcW)
		} else {
			r.tmp = make([]float32, srcH*dstW)
		}
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
	switch {
	case r.horizontal == nil && r.vertical == nil:
		copy(dst.Data, src.Data)
		return nil
	case r.vertical == nil:
		// The rows of every plane alike: one pass over all of them.
		r.horizontal.Dots(dst.Data, src.Data)
		return nil
	}
	srcPlane, dstPlane := r.srcH*r.srcW, r.dstH*r.dstW
	for p := range src.N() * src.C() {
		s := src.Data[p*srcPlane : (p+1)*srcPlane]
		d := dst.Data[p*dstPlane : (p+1)*dstPlane]
		switch {
		case r.horizontal == nil:
			r.vertical.Rows(d, s, r.srcW)
		case r.verticalFirst:
			r.vertical.Rows(r.tmp, s, r.srcW)
			r.horizontal.Dots(d, r.tmp)
		default:
			r.horizontal.Dots(r.tmp, s)
			r.vertical.Rows(d, r.tmp, r.dstW)
		}
	}
	return nil
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
