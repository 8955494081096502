package interposer

import (
	"context"
	"fmt"
	"math"

	"gonum.org/v1/gonum/mat"

	"github.com/coop-diffusion/coop/adapters"
	"github.com/coop-diffusion/coop/latent"
)

// noiseImages returns n images of size x size pixels in [0, 1]: white
// noise around grey, which every linear map sees at full rank.
func noiseImages(n, size int, seed uint64) []*latent.Tensor {
	out := make([]*latent.Tensor, n)
	for i := range out {
		t := latent.New(1, 3, size, size)
		latent.NewStream(seed, fmt.Sprintf("interposer-test/image%d", i)).Fill(t)
		for j, v := range t.Data {
			t.Data[j] = 0.5 + 0.15*v
		}
		out[i] = t
	}
	return out
}

// smoothImages returns n images of size x size pixels in [0, 1] whose
// detail is about 8 pixels across: noise on a grid 8 times coarser, upsampled
// bicubically. Latents of such images survive resampling between latent
// grids, as those of photographs mostly do.
func smoothImages(n, size int, seed uint64) []*latent.Tensor {
	out := make([]*latent.Tensor, n)
	for i, coarse := range noiseImages(n, size/8, seed) {
		out[i] = latent.New(1, 3, size, size)
		if err := latent.Resize(out[i], coarse, latent.Bicubic); err != nil {
			panic(err)
		}
	}
	return out
}

// randomMatrix returns an r x c matrix of seeded Gaussian values.
func randomMatrix(r, c int, seed uint64) *mat.Dense {
	noise := latent.NewStream(seed, "interposer-test/matrix")
	m := mat.NewDense(r, c, nil)
	for i := range r {
		for j := range c {
			m.Set(i, j, float64(noise.At(uint64(i*c+j))))
		}
	}
	return m
}

// randomLatent returns a [n, c, h, w] tensor of seeded Gaussian values.
func randomLatent(seed uint64, n, c, h, w int) *latent.Tensor {
	t := latent.New(n, c, h, w)
	latent.NewStream(seed, "interposer-test/latent").Fill(t)
	return t
}

func px(size int) adapters.Size { return adapters.Size{Height: size, Width: size} }

// referenceApply is Apply written from the documentation, one output
// value at a time in float64: resample the source to the input phase grid,
// read each working pixel's window and phases, write its output phases,
// resample to the target grid. The working grid along an axis is the
// target's, or the source's where the output phases exceed 1. The source
// is resampled with SourceFilter, the outputs with Filter.
func referenceApply(ip *Interposer, src *latent.Tensor, dstH, dstW int) *latent.Tensor {
	l := ip.Layout()
	var work, pre, post [2]int
	for i, sd := range [2][2]int{{src.H(), dstH}, {src.W(), dstW}} {
		work[i] = sd[1]
		if l.OutPhases[i] > 1 {
			work[i] = sd[0]
		}
		pre[i], post[i] = l.InPhases[i]*work[i], l.OutPhases[i]*work[i]
	}
	in := src
	if pre != [2]int{src.H(), src.W()} {
		in = latent.New(src.N(), src.C(), pre[0], pre[1])
		if err := latent.Resize(in, src, l.SourceFilter); err != nil {
			panic(err)
		}
	}
	cin, cout := ip.From().Channels, ip.To().Channels
	k, r := l.Window, l.Window/2
	ay, ax, by, bx := l.InPhases[0], l.InPhases[1], l.OutPhases[0], l.OutPhases[1]
	m := ip.Matrix()
	bias := ip.Features()
	out := latent.New(src.N(), cout, post[0], post[1])
	clamp := func(v, n int) int { return min(max(v, 0), n-1) }
	for n := range src.N() {
		for y := range work[0] {
			for x := range work[1] {
				for o := range cout {
					for qy := range by {
						for qx := range bx {
							row := o*by*bx + qy*bx + qx
							v := m.At(row, bias)
							for c := range cin {
								for dy := -r; dy <= r; dy++ {
									for dx := -r; dx <= r; dx++ {
										for py := range ay {
											for pxx := range ax {
												col := ((c*k+dy+r)*k+dx+r)*ay*ax + py*ax + pxx
												sy := clamp(y+dy, work[0])*ay + py
												sx := clamp(x+dx, work[1])*ax + pxx
												v += m.At(row, col) * float64(in.At(n, c, sy, sx))
											}
										}
									}
								}
							}
							out.Set(n, o, y*by+qy, x*bx+qx, float32(v))
						}
					}
				}
			}
		}
	}
	if post == [2]int{dstH, dstW} {
		return out
	}
	dst := latent.New(src.N(), cout, dstH, dstW)
	if err := latent.Resize(dst, out, l.Filter); err != nil {
		panic(err)
	}
	return dst
}

// maxAbsDiff returns the largest |a - b| and the largest |a|.
func maxAbsDiff(a, b *latent.Tensor) (diff, scale float64) {
	for i, v := range a.Data {
		diff = math.Max(diff, math.Abs(float64(v)-float64(b.Data[i])))
		scale = math.Max(scale, math.Abs(float64(v)))
	}
	return diff, scale
}

// duplicateVAE wraps an autoencoder and appends to its latents a copy of
// channel 0 and a constant channel, which the decoder ignores: latents
// whose features are rank deficient.
type duplicateVAE struct{ adapters.Autoencoder }

func (d duplicateVAE) Space() latent.Space {
	sp := d.Autoencoder.Space()
	sp.Name += "+dup"
	sp.Channels += 2
	return sp
}

func (d duplicateVAE) Encode(ctx context.Context, pix, dst *latent.Tensor) error {
	c := dst.C() - 2
	inner := latent.New(1, c, dst.H(), dst.W())
	if err := d.Autoencoder.Encode(ctx, pix, inner); err != nil {
		return err
	}
	plane := dst.H() * dst.W()
	copy(dst.Data, inner.Data)
	copy(dst.Data[c*plane:(c+1)*plane], inner.Data[:plane])
	for i := range plane {
		dst.Data[(c+1)*plane+i] = 0.5
	}
	return nil
}

func (d duplicateVAE) Decode(ctx context.Context, lat, dst *latent.Tensor) error {
	c := lat.C() - 2
	plane := lat.H() * lat.W()
	return d.Autoencoder.Decode(ctx, latent.FromData(lat.Data[:c*plane], 1, c, lat.H(), lat.W()), dst)
}

// convolvedVAE encodes like its inner autoencoder, then convolves every
// output channel with a 3x3 kernel over all channels (edges clamped) and
// adds a bias: a target the window-3 map reproduces exactly. It cannot
// decode.
type convolvedVAE struct {
	adapters.Autoencoder
	kernel *mat.Dense // c x (c·9 + 1), the columns in New's order
}

func (v convolvedVAE) Encode(ctx context.Context, pix, dst *latent.Tensor) error {
	inner := latent.New(dst.Shape...)
	if err := v.Autoencoder.Encode(ctx, pix, inner); err != nil {
		return err
	}
	c, h, w := dst.C(), dst.H(), dst.W()
	for o := range c {
		for y := range h {
			for x := range w {
				s := v.kernel.At(o, c*9)
				for ci := range c {
					for dy := -1; dy <= 1; dy++ {
						for dx := -1; dx <= 1; dx++ {
							sy, sx := min(max(y+dy, 0), h-1), min(max(x+dx, 0), w-1)
							s += v.kernel.At(o, (ci*3+dy+1)*3+dx+1) * float64(inner.At(0, ci, sy, sx))
						}
					}
				}
				dst.Set(0, o, y, x, float32(s))
			}
		}
	}
	return nil
}

func (v convolvedVAE) Decode(context.Context, *latent.Tensor, *latent.Tensor) error {
	return fmt.Errorf("convolvedVAE cannot decode")
}
