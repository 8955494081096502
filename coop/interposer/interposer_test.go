package interposer

import (
	"context"
	"math"
	"strings"
	"testing"

	"gonum.org/v1/gonum/mat"

	"github.com/coop-diffusion/coop/coop/cooptest"
	"github.com/coop-diffusion/coop/latent"
)

// Between two linear autoencoders of the same factor the pixel bridge is
// exactly a per-pixel linear map, M = s_to/s_from · B_to B_fromᵀ: the fit
// must find it, and reproduce the bridge on images it has not seen.
func TestFitRecoversLinearMap(t *testing.T) {
	ctx := context.Background()
	from := cooptest.NewLinearVAE("a", 4, 4, 0.5, 1)
	to := cooptest.NewLinearVAE("b", 6, 4, 0.2, 2)
	images := noiseImages(6, 32, 1)
	ip, err := Fit(ctx, from, to, images[:4], px(32), px(32))
	if err != nil {
		t.Fatal(err)
	}
	if l := ip.Layout(); l.InPhases != [2]int{1, 1} || l.OutPhases != [2]int{1, 1} || l.Window != 1 {
		t.Errorf("layout %+v, want per-pixel without phases", l)
	}
	// The exact map, column by column: the bridge's output for unit
	// latents on a 1x1 grid.
	b, err := newPixelBridge(from, to, px(4), px(4))
	if err != nil {
		t.Fatal(err)
	}
	got := ip.Matrix()
	const tol = 1e-4
	for c := range 4 {
		unit := latent.New(1, 4, 1, 1)
		unit.Data[c] = 1
		out := latent.New(1, 6, 1, 1)
		if err := b.carry(ctx, unit, out); err != nil {
			t.Fatal(err)
		}
		for o := range 6 {
			if d := math.Abs(got.At(o, c) - float64(out.Data[o])); d > tol {
				t.Errorf("weight [%d, %d] = %.6f, want %.6f", o, c, got.At(o, c), out.Data[o])
			}
		}
	}
	for o := range 6 {
		if bias := got.At(o, 4); math.Abs(bias) > tol {
			t.Errorf("bias %d = %g, want 0", o, bias)
		}
	}
	c := ip.Calibration()
	if c.Images != 4 || c.Samples != 4*8*8 || c.Rank != 4 || c.RelativeResidual > 1e-5 {
		t.Errorf("calibration %+v: want 4 images, 256 samples, rank 4, relative residual below 1e-5", c)
	}
	q, err := Evaluate(ctx, ip, from, to, images[4:], px(32), px(32))
	if err != nil {
		t.Fatal(err)
	}
	if q.PSNR < 90 || q.MinPSNR < 90 || q.LatentSNR < 80 {
		t.Errorf("held-out quality %+v: want PSNR above 90 dB and latent SNR above 80 dB", q)
	}
}

// With factors 4 and 8 one latent pixel of the coarse space covers 2x2 of
// the fine one, and the bridge is linear in those blocks: the phases make
// the map exact both ways, where resampling to the target grid and mapping
// per pixel cannot be.
func TestFitFactorsDiffer(t *testing.T) {
	ctx := context.Background()
	fine := cooptest.NewLinearVAE("f4", 4, 4, 0.5, 3)
	coarse := cooptest.NewLinearVAE("f8", 4, 8, 0.3, 4)
	images := noiseImages(6, 64, 2)
	for _, tc := range []struct {
		name        string
		from, to    *cooptest.LinearVAE
		in, out     [2]int
		features    int
		outputs     int
		perPixelMax float64 // per-pixel maps stay below this latent SNR
	}{
		{"shrink", fine, coarse, [2]int{2, 2}, [2]int{1, 1}, 16, 4, 40},
		{"enlarge", coarse, fine, [2]int{1, 1}, [2]int{2, 2}, 4, 16, 40},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ip, err := Fit(ctx, tc.from, tc.to, images[:4], px(64), px(64))
			if err != nil {
				t.Fatal(err)
			}
			if l := ip.Layout(); l.InPhases != tc.in || l.OutPhases != tc.out {
				t.Errorf("phases in %v out %v, want %v and %v", l.InPhases, l.OutPhases, tc.in, tc.out)
			}
			if ip.Features() != tc.features || ip.Outputs() != tc.outputs {
				t.Errorf("%d features and %d outputs, want %d and %d", ip.Features(), ip.Outputs(), tc.features, tc.outputs)
			}
			q, err := Evaluate(ctx, ip, tc.from, tc.to, images[4:], px(64), px(64))
			if err != nil {
				t.Fatal(err)
			}
			if q.PSNR < 90 || q.LatentSNR < 80 {
				t.Errorf("held-out quality %+v: want PSNR above 90 dB, latent SNR above 80 dB", q)
			}
			opts := DefaultOptions()
			opts.PerPixel = true
			pp, err := FitWith(ctx, tc.from, tc.to, images[:4], px(64), px(64), opts)
			if err != nil {
				t.Fatal(err)
			}
			qp, err := Evaluate(ctx, pp, tc.from, tc.to, images[4:], px(64), px(64))
			if err != nil {
				t.Fatal(err)
			}
			t.Logf("phases: PSNR %.1f dB, latent SNR %.1f dB; per pixel: %.1f dB, %.1f dB", q.PSNR, q.LatentSNR, qp.PSNR, qp.LatentSNR)
			if qp.LatentSNR > tc.perPixelMax {
				t.Errorf("per-pixel map reaches a latent SNR of %.1f dB, want below %.0f dB (the phases carry what it cannot)", qp.LatentSNR, tc.perPixelMax)
			}
		})
	}
}

// Sizes that are no integer multiple of each other resample to the phase
// grid before or after the map; pixel sizes that differ go through the
// pixel bridge's resize. Neither is exact, both must stay close on smooth
// images.
func TestFitResampled(t *testing.T) {
	ctx := context.Background()
	f4 := cooptest.NewLinearVAE("f4", 4, 4, 0.5, 5)
	f6 := cooptest.NewLinearVAE("f6", 4, 6, 0.4, 6)
	f8 := cooptest.NewLinearVAE("f8", 4, 8, 0.3, 7)
	images := smoothImages(6, 96, 3)
	for _, tc := range []struct {
		name         string
		from, to     *cooptest.LinearVAE
		fromPx, toPx int
		in, out      [2]int
		minSNR       float64 // latent SNR, dB, a few dB below what it measures
	}{
		// 24x24 latents to 16x16: input phases 2, the source resampled
		// to 32x32 first.
		{"f4-to-f6", f4, f6, 96, 96, [2]int{2, 2}, [2]int{1, 1}, 15},
		// 16x16 to 24x24: output phases 2 on a 32x32 grid, resampled to
		// 24x24 after.
		{"f6-to-f4", f6, f4, 96, 96, [2]int{1, 1}, [2]int{2, 2}, 12},
		// Pixel sizes 48 and 96: 12x12 f4 latents to 12x12 f8 latents.
		{"f4-48px-to-f8-96px", f4, f8, 48, 96, [2]int{1, 1}, [2]int{1, 1}, 25},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ip, err := Fit(ctx, tc.from, tc.to, images[:4], px(tc.fromPx), px(tc.toPx))
			if err != nil {
				t.Fatal(err)
			}
			if l := ip.Layout(); l.InPhases != tc.in || l.OutPhases != tc.out {
				t.Errorf("phases in %v out %v, want %v and %v", l.InPhases, l.OutPhases, tc.in, tc.out)
			}
			q, err := Evaluate(ctx, ip, tc.from, tc.to, images[4:], px(tc.fromPx), px(tc.toPx))
			if err != nil {
				t.Fatal(err)
			}
			t.Logf("held out: PSNR %.1f dB (min %.1f), latent SNR %.1f dB; against the image: bridge %.1f dB, interposer %.1f dB",
				q.PSNR, q.MinPSNR, q.LatentSNR, q.BridgePSNR, q.InterposerPSNR)
			if q.LatentSNR < tc.minSNR || math.IsNaN(q.PSNR) {
				t.Errorf("held-out latent SNR %.1f dB, want at least %.0f dB", q.LatentSNR, tc.minSNR)
			}
		})
	}
}

// A window of 3 reproduces a 3x3 convolution of the source latent exactly.
func TestFitWindowRecoversConvolution(t *testing.T) {
	ctx := context.Background()
	from := cooptest.NewLinearVAE("a", 3, 4, 0.5, 8)
	kernel := randomMatrix(3, 3*9+1, 9)
	to := convolvedVAE{Autoencoder: from, kernel: kernel}
	opts := DefaultOptions()
	opts.Window = 3
	opts.Target = EncodedImage
	ip, err := FitWith(ctx, from, to, noiseImages(3, 48, 4), px(48), px(48), opts)
	if err != nil {
		t.Fatal(err)
	}
	if !mat.EqualApprox(ip.Matrix(), kernel, 1e-4) {
		t.Errorf("fitted window map\n%.4f\nwant\n%.4f", mat.Formatted(ip.Matrix()), mat.Formatted(kernel))
	}
	if c := ip.Calibration(); c.Target != EncodedImage || c.Rank != 27 {
		t.Errorf("calibration %+v: want target encoded-image, rank 27", c)
	}
}

// A duplicated channel and a constant one leave the features rank
// deficient: the fit must still reproduce the bridge, with the minimum-norm
// weights (the duplicate pair shares its weight, the constant gets none).
func TestFitRankDeficient(t *testing.T) {
	ctx := context.Background()
	from := duplicateVAE{cooptest.NewLinearVAE("a", 4, 4, 0.5, 10)}
	to := cooptest.NewLinearVAE("b", 4, 4, 0.2, 11)
	images := noiseImages(5, 32, 5)
	ip, err := Fit(ctx, from, to, images[:3], px(32), px(32))
	if err != nil {
		t.Fatal(err)
	}
	c := ip.Calibration()
	if c.Rank != 4 || c.RelativeResidual > 1e-5 {
		t.Errorf("calibration %+v: want rank 4 of 6 features, relative residual below 1e-5", c)
	}
	m := ip.Matrix()
	for o := range 4 {
		if w0, w4 := m.At(o, 0), m.At(o, 4); math.Abs(w0-w4) > 1e-4 {
			t.Errorf("row %d: duplicated channels weigh %.6f and %.6f, want equal shares", o, w0, w4)
		}
		if w5 := m.At(o, 5); w5 != 0 {
			t.Errorf("row %d: the constant channel weighs %g, want 0", o, w5)
		}
	}
	q, err := Evaluate(ctx, ip, from, to, images[3:], px(32), px(32))
	if err != nil {
		t.Fatal(err)
	}
	if q.PSNR < 90 {
		t.Errorf("held-out PSNR %.1f dB, want above 90 dB", q.PSNR)
	}
}

func TestFitErrors(t *testing.T) {
	ctx := context.Background()
	a := cooptest.NewLinearVAE("a", 4, 8, 0.5, 1)
	b := cooptest.NewLinearVAE("b", 4, 8, 0.5, 2)
	good := noiseImages(2, 32, 6)
	cancelled, cancel := context.WithCancel(ctx)
	cancel()
	for _, tc := range []struct {
		name   string
		ctx    context.Context
		images []*latent.Tensor
		fromPx int
		opts   func(*Options)
		want   string
	}{
		{"no images", ctx, nil, 32, nil, "no images"},
		{"grey image", ctx, []*latent.Tensor{latent.New(1, 1, 32, 32)}, 32, nil, "image 0 is tensor[1x1x32x32]"},
		{"size", ctx, good, 36, nil, "not a multiple of 8"},
		{"even window", ctx, good, 32, func(o *Options) { o.Window = 2 }, "window 2"},
		{"filter", ctx, good, 32, func(o *Options) { o.Filter = latent.Filter(9) }, "Filter(9)"},
		{"names", ctx, good, 32, func(o *Options) { o.Names = []string{"x"} }, "1 names for 2"},
		{"target", ctx, good, 32, func(o *Options) { o.Target = Target(5) }, "Target(5)"},
		{"window too large", ctx, good, 32, func(o *Options) { o.Window = 9 }, "more than 256"},
		{"cancelled", cancelled, good, 32, nil, "context canceled"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			opts := DefaultOptions()
			if tc.opts != nil {
				tc.opts(&opts)
			}
			_, err := FitWith(tc.ctx, a, b, tc.images, px(tc.fromPx), px(32), opts)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %v, want one containing %q", err, tc.want)
			}
		})
	}
}

// Apply must compute exactly what the documentation says, for every
// layout: compare with a direct float64 implementation.
func TestApplyMatchesReference(t *testing.T) {
	for _, tc := range []struct {
		name        string
		cin, cout   int
		layout      Layout
		src, dst    [2]int
		batch       int
		approximate bool // Apply maps before resampling, the reference after
	}{
		{"same grid", 4, 3, Layout{Filter: latent.Bicubic, Window: 1}, [2]int{8, 6}, [2]int{8, 6}, 2, false},
		{"window 3", 3, 2, Layout{Filter: latent.Bicubic, Window: 3}, [2]int{5, 7}, [2]int{5, 7}, 1, false},
		{"window 5 tiny grid", 2, 2, Layout{Filter: latent.Bicubic, Window: 5}, [2]int{2, 3}, [2]int{2, 3}, 1, false},
		{"shrink per pixel", 4, 4, Layout{SourceFilter: latent.Lanczos3, Filter: latent.Bilinear, Window: 1}, [2]int{16, 12}, [2]int{5, 4}, 1, false},
		{"enlarge per pixel", 16, 4, Layout{SourceFilter: latent.Bicubic, Filter: latent.Bilinear, Window: 1}, [2]int{6, 6}, [2]int{20, 18}, 1, true},
		{"enlarge per pixel window 3", 5, 4, Layout{Filter: latent.Bilinear, Window: 3}, [2]int{6, 6}, [2]int{13, 12}, 1, false},
		{"in phases exact", 4, 16, Layout{Filter: latent.Bicubic, Window: 1, InPhases: [2]int{3, 2}}, [2]int{12, 8}, [2]int{4, 4}, 1, false},
		{"in phases resampled", 4, 16, Layout{SourceFilter: latent.Lanczos3, Filter: latent.Bicubic, Window: 3, InPhases: [2]int{6, 6}}, [2]int{64, 64}, [2]int{12, 12}, 1, false},
		{"out phases exact", 16, 4, Layout{Filter: latent.Bicubic, Window: 1, OutPhases: [2]int{2, 3}}, [2]int{5, 4}, [2]int{10, 12}, 2, false},
		{"out phases resampled", 16, 4, Layout{SourceFilter: latent.Lanczos3, Filter: latent.Bicubic, Window: 3, OutPhases: [2]int{6, 6}}, [2]int{12, 12}, [2]int{64, 64}, 1, false},
		{"mixed axes", 3, 5, Layout{Filter: latent.Bicubic, Window: 1, InPhases: [2]int{2, 1}, OutPhases: [2]int{1, 3}}, [2]int{10, 4}, [2]int{5, 12}, 1, false},
		// Grids wide enough for the vector kernels of the phase shuffles
		// (2 and 6 phases, at least 8 working pixels a row), phases
		// beyond them (more than 8), and a window wider than the grid.
		{"in phases 2 wide", 4, 3, Layout{Filter: latent.Bicubic, Window: 1, InPhases: [2]int{2, 2}}, [2]int{32, 24}, [2]int{16, 12}, 2, false},
		{"in phases 6 wide", 2, 3, Layout{Filter: latent.Bicubic, Window: 3, InPhases: [2]int{6, 6}}, [2]int{66, 60}, [2]int{11, 10}, 1, false},
		{"out phases 2 wide", 3, 4, Layout{Filter: latent.Bicubic, Window: 1, OutPhases: [2]int{2, 2}}, [2]int{16, 12}, [2]int{32, 24}, 2, false},
		{"out phases 6 wide", 3, 2, Layout{Filter: latent.Bicubic, Window: 1, OutPhases: [2]int{6, 6}}, [2]int{12, 9}, [2]int{72, 54}, 1, false},
		{"out phases beyond 8", 4, 3, Layout{Filter: latent.Bicubic, Window: 1, OutPhases: [2]int{9, 10}}, [2]int{3, 2}, [2]int{27, 20}, 1, false},
		{"window 5 narrow grid", 2, 2, Layout{Filter: latent.Bicubic, Window: 5}, [2]int{3, 2}, [2]int{3, 2}, 1, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			for i := range 2 {
				if tc.layout.InPhases[i] == 0 {
					tc.layout.InPhases[i] = 1
				}
				if tc.layout.OutPhases[i] == 0 {
					tc.layout.OutPhases[i] = 1
				}
			}
			from := Endpoint{Space: "a", Channels: tc.cin, Factor: 8, Height: 64, Width: 64, LatentHeight: 8, LatentWidth: 8}
			to := Endpoint{Space: "b", Channels: tc.cout, Factor: 8, Height: 64, Width: 64, LatentHeight: 8, LatentWidth: 8}
			k := tc.layout.Window
			rows := tc.cout * tc.layout.OutPhases[0] * tc.layout.OutPhases[1]
			cols := tc.cin*k*k*tc.layout.InPhases[0]*tc.layout.InPhases[1] + 1
			ip, err := New(from, to, tc.layout, randomMatrix(rows, cols, 12), Calibration{})
			if err != nil {
				t.Fatal(err)
			}
			src := randomLatent(13, tc.batch, tc.cin, tc.src[0], tc.src[1])
			dst := latent.New(tc.batch, tc.cout, tc.dst[0], tc.dst[1])
			// Twice: the second call reuses the plan and its buffers.
			for range 2 {
				latent.Fill(dst, 7)
				if err := ip.Apply(src, dst); err != nil {
					t.Fatal(err)
				}
				want := referenceApply(ip, src, tc.dst[0], tc.dst[1])
				diff, scale := maxAbsDiff(want, dst)
				tol := 1e-5 * scale
				if tc.approximate {
					tol = 1e-4 * scale
				}
				if diff > tol {
					t.Fatalf("Apply differs from the reference by %g (values up to %g)", diff, scale)
				}
			}
		})
	}
}

// After its first call for a pair of shapes, Apply allocates nothing.
func TestApplyAllocatesNothing(t *testing.T) {
	for _, tc := range []struct {
		name      string
		layout    Layout
		cin, cout int
		src, dst  int
	}{
		{"same grid", Layout{Filter: latent.Bicubic, Window: 1, InPhases: [2]int{1, 1}, OutPhases: [2]int{1, 1}}, 4, 4, 64, 64},
		{"shrink phases", Layout{Filter: latent.Bicubic, Window: 1, InPhases: [2]int{6, 6}, OutPhases: [2]int{1, 1}}, 4, 16, 64, 12},
		{"enlarge phases", Layout{Filter: latent.Bicubic, Window: 3, InPhases: [2]int{1, 1}, OutPhases: [2]int{6, 6}}, 16, 4, 12, 64},
		{"enlarge per pixel", Layout{Filter: latent.Bicubic, Window: 1, InPhases: [2]int{1, 1}, OutPhases: [2]int{1, 1}}, 4, 4, 64, 128},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := Endpoint{Space: "x", Channels: tc.cin, Factor: 8, Height: 8, Width: 8, LatentHeight: 1, LatentWidth: 1}
			f := e
			f.Channels = tc.cout
			ip := mustNew(t, e, f, tc.layout)
			src := randomLatent(1, 1, tc.cin, tc.src, tc.src)
			dst := latent.New(1, tc.cout, tc.dst, tc.dst)
			if err := ip.Apply(src, dst); err != nil {
				t.Fatal(err)
			}
			if n := testing.AllocsPerRun(5, func() {
				if err := ip.Apply(src, dst); err != nil {
					t.Fatal(err)
				}
			}); n != 0 {
				t.Errorf("Apply allocates %.0f times per call, want 0", n)
			}
		})
	}
}

func mustNew(t testing.TB, from, to Endpoint, l Layout) *Interposer {
	t.Helper()
	k := l.Window
	rows := to.Channels * l.outBlock()
	cols := from.Channels*k*k*l.inBlock() + 1
	ip, err := New(from, to, l, randomMatrix(rows, cols, 14), Calibration{})
	if err != nil {
		t.Fatal(err)
	}
	return ip
}

func TestApplyErrors(t *testing.T) {
	e4 := Endpoint{Space: "a", Channels: 4, Factor: 8, Height: 64, Width: 64, LatentHeight: 8, LatentWidth: 8}
	e3 := e4
	e3.Space, e3.Channels = "b", 3
	ip := mustNew(t, e4, e3, Layout{Filter: latent.Bicubic, Window: 1, InPhases: [2]int{1, 1}, OutPhases: [2]int{1, 1}})
	for _, tc := range []struct {
		name     string
		src, dst *latent.Tensor
		want     string
	}{
		{"rank", latent.New(4, 8, 8), latent.New(1, 3, 8, 8), "rank 4"},
		{"source channels", latent.New(1, 3, 8, 8), latent.New(1, 3, 8, 8), "want [N, 4, h, w] to [N, 3, H, W]"},
		{"target channels", latent.New(1, 4, 8, 8), latent.New(1, 4, 8, 8), "want [N, 4, h, w] to [N, 3, H, W]"},
		{"batch", latent.New(2, 4, 8, 8), latent.New(1, 3, 8, 8), "want [N, 4, h, w]"},
		{"empty", latent.New(1, 4, 0, 8), latent.New(1, 3, 8, 8), "empty grid"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := ip.Apply(tc.src, tc.dst)
			if err == nil || !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), "interposer a -> b") {
				t.Errorf("error %v, want one naming the interposer and containing %q", err, tc.want)
			}
		})
	}
}

func TestNewErrors(t *testing.T) {
	e := Endpoint{Space: "a", Channels: 2, Factor: 8, Height: 64, Width: 64, LatentHeight: 8, LatentWidth: 8}
	ones := [2]int{1, 1}
	layout := Layout{Filter: latent.Bicubic, Window: 1, InPhases: ones, OutPhases: ones}
	nan := mat.NewDense(2, 3, nil)
	nan.Set(1, 2, math.NaN())
	bad := e
	bad.Factor = 0
	for _, tc := range []struct {
		name    string
		from    Endpoint
		layout  Layout
		weights mat.Matrix
		want    string
	}{
		{"factor", bad, layout, mat.NewDense(2, 3, nil), "from: factor: 0"},
		{"shape", e, layout, mat.NewDense(2, 4, nil), "weights are 2x4, want 2x3"},
		{"NaN", e, layout, nan, "weight [1, 2] is NaN"},
		{"window", e, Layout{Filter: latent.Bicubic, Window: 4, InPhases: ones, OutPhases: ones}, mat.NewDense(2, 3, nil), "window 4"},
		{"phases both", e, Layout{Filter: latent.Bicubic, Window: 1, InPhases: [2]int{2, 1}, OutPhases: [2]int{2, 1}}, mat.NewDense(4, 5, nil), "at most one may exceed 1"},
		{"phases zero", e, Layout{Filter: latent.Bicubic, Window: 1, InPhases: [2]int{0, 1}, OutPhases: ones}, mat.NewDense(2, 1, nil), "must be at least 1"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := New(tc.from, e, tc.layout, tc.weights, Calibration{})
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %v, want one containing %q", err, tc.want)
			}
		})
	}
}

func TestCheckSpaces(t *testing.T) {
	e4 := Endpoint{Space: "sd", Channels: 4, Factor: 8, Height: 64, Width: 64, LatentHeight: 8, LatentWidth: 8}
	e16 := Endpoint{Space: "cascade-c", Channels: 16, Factor: 42.67, Height: 512, Width: 512, LatentHeight: 12, LatentWidth: 12}
	ip := mustNew(t, e4, e16, Layout{Filter: latent.Bicubic, Window: 1, InPhases: [2]int{1, 1}, OutPhases: [2]int{1, 1}})
	if err := ip.CheckSpaces(latent.StableDiffusion(), latent.StableCascadePrior()); err != nil {
		t.Errorf("matching spaces: %v", err)
	}
	if err := ip.CheckSpaces(latent.StableDiffusionXL(), latent.StableCascadePrior()); err == nil || !strings.Contains(err.Error(), `not "sdxl"`) {
		t.Errorf("source sdxl: error %v, want one naming sdxl", err)
	}
	if err := ip.CheckSpaces(latent.StableDiffusion(), latent.StableCascadeStageA()); err == nil || !strings.Contains(err.Error(), `not "cascade-a"`) {
		t.Errorf("target cascade-a: error %v, want one naming cascade-a", err)
	}
}

// BenchmarkApply measures Apply alone on the latent shapes of the zoo's
// pairs at 512 px, with random weights (no ONNX Runtime needed).
func BenchmarkApply(b *testing.B) {
	ones := [2]int{1, 1}
	for _, bc := range []struct {
		name      string
		cin, cout int
		src, dst  int
		layout    Layout
	}{
		{"sd-to-sdxl", 4, 4, 64, 64, Layout{Filter: latent.Bicubic, Window: 1, InPhases: ones, OutPhases: ones}},
		{"sd-to-cascade-a", 4, 4, 64, 128, Layout{Filter: latent.Bicubic, Window: 1, InPhases: ones, OutPhases: [2]int{2, 2}}},
		{"cascade-a-to-sd", 4, 4, 128, 64, Layout{Filter: latent.Bicubic, Window: 1, InPhases: [2]int{2, 2}, OutPhases: ones}},
		{"sd-to-cascade-c", 4, 16, 64, 12, Layout{Filter: latent.Bicubic, Window: 1, InPhases: [2]int{6, 6}, OutPhases: ones}},
		{"cascade-c-to-sd", 16, 4, 12, 64, Layout{Filter: latent.Bicubic, Window: 1, InPhases: ones, OutPhases: [2]int{6, 6}}},
		{"cascade-c-to-cascade-a", 16, 4, 12, 128, Layout{Filter: latent.Bicubic, Window: 1, InPhases: ones, OutPhases: [2]int{6, 6}}},
		{"cascade-a-to-cascade-c", 4, 16, 128, 12, Layout{Filter: latent.Bicubic, Window: 1, InPhases: [2]int{6, 6}, OutPhases: ones}},
		{"sd-to-sdxl-window-3", 4, 4, 64, 64, Layout{Filter: latent.Bicubic, Window: 3, InPhases: ones, OutPhases: ones}},
		// What MaxPhases 64 would choose for stage C against stage A.
		{"cascade-c-to-cascade-a-11-phases", 16, 4, 12, 128, Layout{Filter: latent.Bicubic, Window: 1, InPhases: ones, OutPhases: [2]int{11, 11}}},
		{"cascade-a-to-cascade-c-8-phases", 4, 16, 128, 12, Layout{Filter: latent.Bicubic, Window: 1, InPhases: [2]int{8, 8}, OutPhases: ones}},
		{"sd-to-cascade-c-per-pixel", 4, 16, 64, 12, Layout{Filter: latent.Bicubic, Window: 1, InPhases: ones, OutPhases: ones}},
	} {
		b.Run(bc.name, func(b *testing.B) {
			e := Endpoint{Space: "x", Channels: bc.cin, Factor: 8, Height: 8, Width: 8, LatentHeight: 1, LatentWidth: 1}
			f := e
			f.Channels = bc.cout
			ip := mustNew(b, e, f, bc.layout)
			src := randomLatent(1, 1, bc.cin, bc.src, bc.src)
			dst := latent.New(1, bc.cout, bc.dst, bc.dst)
			if err := ip.Apply(src, dst); err != nil {
				b.Fatal(err)
			}
			b.ReportAllocs()
			loopCPU(b, func() {
				if err := ip.Apply(src, dst); err != nil {
					b.Fatal(err)
				}
			})
		})
	}
}
