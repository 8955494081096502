package ort_test

import (
	"context"
	"math"
	"math/rand/v2"
	"path/filepath"
	"testing"

	"github.com/x448/float16"

	"github.com/coop-diffusion/coop/internal/onnx"
	"github.com/coop-diffusion/coop/internal/ort"
	"github.com/coop-diffusion/coop/internal/ort/orttest"
	"github.com/coop-diffusion/coop/latent"
)

// Tolerances of the comparisons with pure-Go references, relative to
// max(1, |want|). References compute in float64 from the very values the
// model sees, so float32 graphs differ only by float32 rounding of sums of
// a few dozen terms; float16 graphs add the rounding of every float16
// intermediate (2^-11 relative each) over a few operations.
const (
	tolFloat32 = 1e-5
	tolFloat16 = 4.0 / 1024
)

// uniform returns n reproducible values in [-1, 1).
func uniform(seed uint64, n int) []float32 {
	r := rand.New(rand.NewPCG(seed, 0x636f6f70))
	out := make([]float32, n)
	for i := range out {
		out[i] = float32(2*r.Float64() - 1)
	}
	return out
}

// toHalf rounds values to float16 precision, as a float16 graph sees them.
func toHalf(v []float32) []float32 {
	out := make([]float32, len(v))
	for i, x := range v {
		out[i] = float16.Fromfloat32(x).Float32()
	}
	return out
}

func widen(v []float32) []float64 {
	out := make([]float64, len(v))
	for i, x := range v {
		out[i] = float64(x)
	}
	return out
}

// writeModel serialises b into a temporary model.onnx.
func writeModel(t testing.TB, b *onnx.Builder) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "model.onnx")
	if err := b.WriteFile(path); err != nil {
		t.Fatal(err)
	}
	return path
}

// openModel loads ONNX Runtime and opens path, closing it when the test ends.
func openModel(t testing.TB, path string, opts ort.SessionOptions) *ort.Session {
	t.Helper()
	orttest.Init(t)
	s, err := ort.Open(path, opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// runOne runs a session and returns the output called name, allocated with
// the given shape.
func runOne(t testing.TB, s *ort.Session, inputs map[string]ort.Input, name string, shape ...int) *latent.Tensor {
	t.Helper()
	out := latent.New(shape...)
	if err := s.Run(context.Background(), inputs, map[string]*latent.Tensor{name: out}); err != nil {
		t.Fatal(err)
	}
	return out
}

// assertClose compares got with want within tol relative to max(1, |want|).
func assertClose(t testing.TB, what string, got []float32, want []float64, tol float64) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%s: %d values, want %d", what, len(got), len(want))
	}
	worst, at := 0.0, -1
	for i := range got {
		err := math.Abs(float64(got[i])-want[i]) / math.Max(1, math.Abs(want[i]))
		if !(err <= worst) { // also catches NaN
			worst, at = err, i
		}
	}
	if worst > tol || math.IsNaN(worst) {
		t.Errorf("%s: value %d is %g, want %g (relative error %.3g > %.3g)", what, at, got[at], want[at], worst, tol)
	}
}

// Pure-Go references of the operators the tests run, in float64.

// matmul multiplies a [m,k] by b [k,n].
func matmul(a, b []float64, m, k, n int) []float64 {
	out := make([]float64, m*n)
	for i := 0; i < m; i++ {
		for j := 0; j < n; j++ {
			var s float64
			for p := 0; p < k; p++ {
				s += a[i*k+p] * b[p*n+j]
			}
			out[i*n+j] = s
		}
	}
	return out
}

// conv2d is Conv for NCHW input [n,c,h,w], weights [o,c,kh,kw], bias [o],
// symmetric padding and equal strides.
func conv2d(x, w, bias []float64, n, c, h, wd, o, kh, kw, pad, stride int) ([]float64, int, int) {
	oh := (h+2*pad-kh)/stride + 1
	ow := (wd+2*pad-kw)/stride + 1
	out := make([]float64, n*o*oh*ow)
	for b := 0; b < n; b++ {
		for f := 0; f < o; f++ {
			for y := 0; y < oh; y++ {
				for xx := 0; xx < ow; xx++ {
					s := bias[f]
					for ch := 0; ch < c; ch++ {
						for ky := 0; ky < kh; ky++ {
							for kx := 0; kx < kw; kx++ {
								iy, ix := y*stride+ky-pad, xx*stride+kx-pad
								if iy < 0 || iy >= h || ix < 0 || ix >= wd {
									continue
								}
								s += x[((b*c+ch)*h+iy)*wd+ix] * w[((f*c+ch)*kh+ky)*kw+kx]
							}
						}
					}
					out[((b*o+f)*oh+y)*ow+xx] = s
				}
			}
		}
	}
	return out, oh, ow
}

// softmaxRows applies softmax along the last axis of rows of length n.
func softmaxRows(x []float64, n int) []float64 {
	out := make([]float64, len(x))
	for r := 0; r < len(x); r += n {
		mx := math.Inf(-1)
		for _, v := range x[r : r+n] {
			mx = math.Max(mx, v)
		}
		var sum float64
		for i, v := range x[r : r+n] {
			out[r+i] = math.Exp(v - mx)
			sum += out[r+i]
		}
		for i := range out[r : r+n] {
			out[r+i] /= sum
		}
	}
	return out
}

// spaceToDepth moves bs x bs blocks into channels: output channel
// (by*bs+bx)*c + ch holds x[ch, y*bs+by, x*bs+bx] (ONNX SpaceToDepth).
func spaceToDepth(x []float64, n, c, h, w, bs int) []float64 {
	oh, ow := h/bs, w/bs
	oc := c * bs * bs
	out := make([]float64, len(x))
	for b := 0; b < n; b++ {
		for by := 0; by < bs; by++ {
			for bx := 0; bx < bs; bx++ {
				for ch := 0; ch < c; ch++ {
					for y := 0; y < oh; y++ {
						for xx := 0; xx < ow; xx++ {
							o := (by*bs+bx)*c + ch
							out[((b*oc+o)*oh+y)*ow+xx] = x[((b*c+ch)*h+y*bs+by)*w+xx*bs+bx]
						}
					}
				}
			}
		}
	}
	return out
}

// depthToSpaceCRD is DepthToSpace in CRD mode: input channel
// ch*bs*bs + by*bs + bx goes to x[ch, y*bs+by, x*bs+bx].
func depthToSpaceCRD(x []float64, n, c, h, w, bs int) []float64 {
	oc, oh, ow := c/(bs*bs), h*bs, w*bs
	out := make([]float64, len(x))
	for b := 0; b < n; b++ {
		for ch := 0; ch < oc; ch++ {
			for by := 0; by < bs; by++ {
				for bx := 0; bx < bs; bx++ {
					for y := 0; y < h; y++ {
						for xx := 0; xx < w; xx++ {
							in := ch*bs*bs + by*bs + bx
							out[((b*oc+ch)*oh+y*bs+by)*ow+xx*bs+bx] = x[((b*c+in)*h+y)*w+xx]
						}
					}
				}
			}
		}
	}
	return out
}

// resize2x upsamples the last two axes by 2: nearest with asymmetric
// coordinates and floor rounding, or linear with half-pixel centres
// (PyTorch's bilinear with align_corners=False).
func resize2x(x []float64, planes, h, w int, linear bool) []float64 {
	oh, ow := 2*h, 2*w
	out := make([]float64, planes*oh*ow)
	src := func(o, n int) (int, int, float64) {
		if !linear {
			return o / 2, o / 2, 0
		}
		s := (float64(o)+0.5)/2 - 0.5
		if s < 0 {
			s = 0
		}
		i0 := int(math.Floor(s))
		i1 := min(i0+1, n-1)
		return i0, i1, s - float64(i0)
	}
	for p := 0; p < planes; p++ {
		for y := 0; y < oh; y++ {
			y0, y1, fy := src(y, h)
			for xx := 0; xx < ow; xx++ {
				x0, x1, fx := src(xx, w)
				at := func(yy, xi int) float64 { return x[(p*h+yy)*w+xi] }
				top := at(y0, x0)*(1-fx) + at(y0, x1)*fx
				bot := at(y1, x0)*(1-fx) + at(y1, x1)*fx
				out[(p*oh+y)*ow+xx] = top*(1-fy) + bot*fy
			}
		}
	}
	return out
}
