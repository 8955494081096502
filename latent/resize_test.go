package latent

import (
	"fmt"
	"image"
	"math"
	"strings"
	"testing"

	xdraw "golang.org/x/image/draw"
)

var allFilters = []Filter{Bilinear, Bicubic, Lanczos3}

// smoothTensor fills a [n, c, h, w] tensor with a smooth function of the
// pixel centre in unit coordinates, so that different sizes sample one
// underlying picture.
func smoothTensor(n, c, h, w int) *Tensor {
	t := New(n, c, h, w)
	for b := range n {
		for ch := range c {
			for y := range h {
				for x := range w {
					u, v := (float64(x)+0.5)/float64(w), (float64(y)+0.5)/float64(h)
					t.Set(b, ch, y, x, float32(0.5+0.3*math.Sin(2*math.Pi*u+float64(ch))*math.Cos(1.5*math.Pi*v)+0.1*float64(b)*u))
				}
			}
		}
	}
	return t
}

func maxAbsDiff(a, b *Tensor) float64 {
	d := 0.0
	for i := range a.Data {
		d = max(d, math.Abs(float64(a.Data[i]-b.Data[i])))
	}
	return d
}

var resizeSizes = [][4]int{ // srcH, srcW, dstH, dstW
	{16, 16, 32, 32},
	{32, 32, 16, 16},
	{17, 23, 40, 9},
	{64, 48, 7, 13},
	{5, 5, 1, 1},
	{1, 1, 4, 6},
	{12, 12, 12, 30},
	{12, 12, 30, 12},
}

func TestResizeConstant(t *testing.T) {
	const value, tol = 0.7312, 1e-6
	for _, f := range allFilters {
		for _, s := range resizeSizes {
			src, dst := New(2, 3, s[0], s[1]), New(2, 3, s[2], s[3])
			Fill(src, value)
			if err := Resize(dst, src, f); err != nil {
				t.Fatal(err)
			}
			for i, v := range dst.Data {
				if math.Abs(float64(v)-value) > tol {
					t.Fatalf("%v %v: element %d = %v, want %v", f, s, i, v, value)
				}
			}
		}
	}
}

func TestResizeIdentityIsExactCopy(t *testing.T) {
	src := New(2, 3, 9, 14)
	NewStream(3, "identity").Fill(src)
	for _, f := range allFilters {
		dst := New(2, 3, 9, 14)
		if err := Resize(dst, src, f); err != nil {
			t.Fatal(err)
		}
		if !equalBits(dst, src) {
			t.Errorf("%v: identity resize is not an exact copy", f)
		}
	}
}

// A smooth picture sampled at 48x40, resized up to 96x72 and back, stays
// close to itself: the round trip only blurs, and smooth content barely
// notices.
func TestResizeRoundTrip(t *testing.T) {
	tolerance := map[Filter]float64{Bilinear: 0.02, Bicubic: 0.004, Lanczos3: 0.004}
	src := smoothTensor(1, 3, 48, 40)
	for _, f := range allFilters {
		up, back := New(1, 3, 96, 72), New(1, 3, 48, 40)
		if err := Resize(up, src, f); err != nil {
			t.Fatal(err)
		}
		if err := Resize(back, up, f); err != nil {
			t.Fatal(err)
		}
		if d := maxAbsDiff(back, src); d > tolerance[f] {
			t.Errorf("%v: up and down round trip differs by %.5f, tolerance %v", f, d, tolerance[f])
		} else {
			t.Logf("%v: round trip max difference %.5f", f, d)
		}
	}
}

// Resizing a smooth picture agrees with sampling it directly at the new
// size, away from the borders where kernels are cut.
func TestResizeMatchesResampling(t *testing.T) {
	tolerance := map[Filter]float64{Bilinear: 0.01, Bicubic: 0.002, Lanczos3: 0.002}
	for _, s := range [][4]int{{40, 40, 100, 90}, {120, 100, 50, 40}} {
		src, want := smoothTensor(1, 3, s[0], s[1]), smoothTensor(1, 3, s[2], s[3])
		for _, f := range allFilters {
			dst := New(1, 3, s[2], s[3])
			if err := Resize(dst, src, f); err != nil {
				t.Fatal(err)
			}
			d := 0.0
			for c := range 3 {
				for y := s[2] / 8; y < s[2]-s[2]/8; y++ {
					for x := s[3] / 8; x < s[3]-s[3]/8; x++ {
						d = max(d, math.Abs(float64(dst.At(0, c, y, x)-want.At(0, c, y, x))))
					}
				}
			}
			if d > tolerance[f] {
				t.Errorf("%v %v: differs from direct sampling by %.5f, tolerance %v", f, s, d, tolerance[f])
			}
		}
	}
}

// referenceResize is a direct, non-separable transcription of the
// definition: every output pixel is the double sum over source pixels of
// the product of the two axis kernels, renormalised over the pixels inside
// the image, all in float64.
func referenceResize(src *Tensor, dstH, dstW int, f Filter) *Tensor {
	weights := func(srcN, dstN, o int) []float64 {
		scale := float64(srcN) / float64(dstN)
		stretch := max(scale, 1)
		centre := (float64(o) + 0.5) * scale
		w := make([]float64, srcN)
		total := 0.0
		for i := range w {
			w[i] = f.at((float64(i) + 0.5 - centre) / stretch)
			total += w[i]
		}
		for i := range w {
			w[i] /= total
		}
		return w
	}
	h, w := src.H(), src.W()
	dst := New(src.N(), src.C(), dstH, dstW)
	for n := range src.N() {
		for c := range src.C() {
			for y := range dstH {
				wy := weights(h, dstH, y)
				for x := range dstW {
					wx := weights(w, dstW, x)
					sum := 0.0
					for i := range h {
						for j := range w {
							sum += wy[i] * wx[j] * float64(src.At(n, c, i, j))
						}
					}
					dst.Set(n, c, y, x, float32(sum))
				}
			}
		}
	}
	return dst
}

func TestResizeMatchesDefinition(t *testing.T) {
	const tol = 2e-6
	for _, f := range allFilters {
		for _, s := range resizeSizes {
			src := New(1, 2, s[0], s[1])
			NewStream(5, "definition").Fill(src)
			dst := New(1, 2, s[2], s[3])
			if err := Resize(dst, src, f); err != nil {
				t.Fatal(err)
			}
			want := referenceResize(src, s[2], s[3], f)
			if d := maxAbsDiff(dst, want); d > tol {
				t.Errorf("%v %v: differs from the direct definition by %.2g, tolerance %v", f, s, d, tol)
			}
		}
	}
}

// golang.org/x/image/draw implements the same kernels with the same pixel
// alignment, widening and border renormalisation, on 8-bit images with
// 16-bit intermediates: the results must agree to within its rounding,
// one 8-bit level.
func TestResizeAgreesWithXImageDraw(t *testing.T) {
	const tol = 1.0/255 + 1e-6
	photo := testPhoto(60, 44)
	src := FromImage(photo)
	for _, c := range []struct {
		filter Filter
		kernel *xdraw.Kernel
	}{{Bilinear, xdraw.BiLinear}, {Bicubic, xdraw.CatmullRom}} {
		for _, size := range [][2]int{{100, 130}, {21, 17}, {44, 25}} {
			h, w := size[0], size[1]
			dst := New(1, 3, h, w)
			if err := Resize(dst, src, c.filter); err != nil {
				t.Fatal(err)
			}
			ref := image.NewNRGBA(image.Rect(0, 0, w, h))
			c.kernel.Scale(ref, ref.Bounds(), photo, photo.Bounds(), xdraw.Src, nil)
			if d := maxAbsDiff(dst, FromImage(ref)); d > tol {
				t.Errorf("%v to %dx%d: differs from x/image/draw by %.5f (%.2f levels)", c.filter, h, w, d, d*255)
			} else {
				t.Logf("%v to %dx%d: max difference from x/image/draw %.2f levels", c.filter, h, w, d*255)
			}
		}
	}
}

// Shrinking a pixel checkerboard by 4 must average it to grey, not alias it
// into a pattern: that is what widening the kernel is for.
func TestResizeAntialiases(t *testing.T) {
	src := New(1, 1, 64, 64)
	for y := range 64 {
		for x := range 64 {
			src.Set(0, 0, y, x, float32((x+y)%2))
		}
	}
	for _, f := range allFilters {
		dst := New(1, 1, 16, 16)
		if err := Resize(dst, src, f); err != nil {
			t.Fatal(err)
		}
		mean, std := MeanStd(dst)
		if math.Abs(mean-0.5) > 1e-3 || std > 0.02 {
			t.Errorf("%v: checkerboard shrunk by 4 has mean %.4f and std %.4f, want grey", f, mean, std)
		}
	}
}

func TestResizerErrors(t *testing.T) {
	if _, err := NewResizer(0, 4, 4, 4, Bilinear); err == nil || !strings.Contains(err.Error(), "positive") {
		t.Errorf("zero size: %v", err)
	}
	if _, err := NewResizer(4, 4, 4, 4, Filter(9)); err == nil || !strings.Contains(err.Error(), "Filter(9)") {
		t.Errorf("unknown filter: %v", err)
	}
	r, err := NewResizer(4, 4, 8, 8, Bicubic)
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		dst, src *Tensor
		want     string
	}{
		{New(1, 3, 8, 8), New(1, 3, 4, 5), "resizer is for 4x4 to 8x8"},
		{New(1, 3, 8, 8), New(1, 2, 4, 4), "channel"},
		{New(3, 8, 8), New(1, 3, 4, 4), "rank 4"},
	}
	for _, c := range cases {
		if err := r.Resize(c.dst, c.src); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("Resize(%v, %v) = %v, want %q", c.dst, c.src, err, c.want)
		}
	}
}

func TestResizerAllocatesNothing(t *testing.T) {
	for _, s := range [][4]int{{64, 64, 128, 96}, {64, 64, 64, 32}, {64, 64, 32, 64}, {64, 64, 64, 64}} {
		src, dst := New(1, 3, s[0], s[1]), New(1, 3, s[2], s[3])
		r, err := NewResizer(s[0], s[1], s[2], s[3], Lanczos3)
		if err != nil {
			t.Fatal(err)
		}
		if a := testing.AllocsPerRun(5, func() { r.Resize(dst, src) }); a != 0 {
			t.Errorf("%v: Resizer.Resize allocates %v times", s, a)
		}
	}
}

func BenchmarkResizer(b *testing.B) {
	for _, c := range []struct {
		name                   string
		srcH, srcW, dstH, dstW int
	}{
		{"up2x-512to1024", 512, 512, 1024, 1024},
		{"down2x-1024to512", 1024, 1024, 512, 512},
	} {
		for _, f := range allFilters {
			b.Run(fmt.Sprintf("%s/%v", c.name, f), func(b *testing.B) {
				src, dst := New(1, 3, c.srcH, c.srcW), New(1, 3, c.dstH, c.dstW)
				r, err := NewResizer(c.srcH, c.srcW, c.dstH, c.dstW, f)
				if err != nil {
					b.Fatal(err)
				}
				b.ReportAllocs()
				for b.Loop() {
					r.Resize(dst, src)
				}
			})
		}
	}
}
