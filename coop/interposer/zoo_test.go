package interposer

import (
	"context"
	"fmt"
	"math"
	"path/filepath"
	"sync"
	"testing"

	"github.com/coop-diffusion/coop/adapters"
	"github.com/coop-diffusion/coop/adapters/adapterstest"
	_ "github.com/coop-diffusion/coop/adapters/all"
	"github.com/coop-diffusion/coop/internal/fixtures"
	"github.com/coop-diffusion/coop/internal/ort/orttest"
	"github.com/coop-diffusion/coop/latent"
)

// zooSpaces are the latent spaces of the fixture zoo, each with the folder
// whose autoencoder (run by ONNX Runtime) gives it: the SD and SDXL VAEs,
// Stable Cascade stage C's effnet and previewer, and stage A's VQGAN.
var zooSpaces = []struct{ space, folder string }{
	{"sd", "sd15"}, {"sdxl", "sdxl"}, {"cascade-c", "cascade-prior"}, {"cascade-a", "cascade-decoder"},
}

// zooSize is the pixel size of every zoo space (the Cascade effnet takes
// 512 px only).
var zooSize = adapters.Size{Height: fixtures.PhotoSize, Width: fixtures.PhotoSize}

// Photos 0 to 5 calibrate, 6 and 7 (grass and gravel) are held out.
const zooCalibration = 6

// zooMinPSNR is the held-out PSNR (dB, decoded, against the pixel bridge)
// each pair must reach: a few dB below what it measures. Between the f8
// and f4 spaces, whose autoencoders are linear in whole patches, the
// phases make the map exact; stage C's latents are 6x6 patches of a 7x7
// pooled image, which no fixed linear map of the others reproduces.
func zooMinPSNR(from, to string) float64 {
	switch {
	case to == "cascade-c":
		return 29
	case from == "cascade-c":
		return 34
	}
	return 100
}

func zooPhotos() []*latent.Tensor {
	out := make([]*latent.Tensor, fixtures.NumPhotos)
	for k := range out {
		out[k] = fixtures.Photo(k)
	}
	return out
}

// zooAutoencoders loads each space's autoencoder, closed when t ends.
func zooAutoencoders(t testing.TB) map[string]adapters.Autoencoder {
	out := map[string]adapters.Autoencoder{}
	for _, s := range zooSpaces {
		m := adapterstest.LoadFixture(t, s.folder)
		if m.VAE == nil || m.VAE.Space().Name != s.space {
			t.Fatalf("fixture %s: autoencoder %v, want space %s", s.folder, m.VAE, s.space)
		}
		out[s.space] = m.VAE
	}
	return out
}

// zooPair is one ordered pair of zoo spaces.
type zooPair struct{ from, to string }

func (p zooPair) String() string { return p.from + "-to-" + p.to }

func zooPairs() []zooPair {
	var out []zooPair
	for _, a := range zooSpaces {
		for _, b := range zooSpaces {
			if a != b {
				out = append(out, zooPair{a.space, b.space})
			}
		}
	}
	return out
}

// Fit an interposer for every ordered pair of zoo spaces on six photos
// and compare it with the pixel bridge on the other two.
func TestZooPairs(t *testing.T) {
	ctx := context.Background()
	aes := zooAutoencoders(t)
	photos := zooPhotos()
	t.Logf("%-26s %8s %8s %8s %8s %8s %8s %8s %7s", "pair", "PSNR", "min", "latSNR", "bridge", "interp", "ridge", "heldout", "feat/out")
	for _, p := range zooPairs() {
		ip, err := Fit(ctx, aes[p.from], aes[p.to], photos[:zooCalibration], zooSize, zooSize)
		if err != nil {
			t.Errorf("%v: %v", p, err)
			continue
		}
		q, err := Evaluate(ctx, ip, aes[p.from], aes[p.to], photos[zooCalibration:], zooSize, zooSize)
		if err != nil {
			t.Errorf("%v: %v", p, err)
			continue
		}
		c := ip.Calibration()
		t.Logf("%-26s %8.1f %8.1f %8.1f %8.1f %8.1f %8.0e %8.3f %3d/%d", p, q.PSNR, q.MinPSNR, q.LatentSNR,
			q.BridgePSNR, q.InterposerPSNR, c.Ridge, c.HeldOutRelativeResidual, ip.Features(), ip.Outputs())
		if want := zooMinPSNR(p.from, p.to); q.MinPSNR < want || math.IsNaN(q.PSNR) {
			t.Errorf("%v: held-out PSNR against the pixel bridge %.1f dB (worst photo %.1f), want at least %.0f dB", p, q.PSNR, q.MinPSNR, want)
		}
		// Whatever the interposer loses against the bridge must not make
		// it much worse at keeping the picture.
		if q.InterposerPSNR < q.BridgePSNR-0.5 {
			t.Errorf("%v: against the photos the interposer keeps %.1f dB, the bridge %.1f dB", p, q.InterposerPSNR, q.BridgePSNR)
		}
	}
}

// zooBench is shared by the benchmarks: autoencoders, fitted interposers
// and each pair's source latent, made once per process.
var zooBench struct {
	once    sync.Once
	ready   bool
	aes     map[string]adapters.Autoencoder
	ips     map[zooPair]*Interposer
	sources map[string]*latent.Tensor
}

func zooBenchSetup(b *testing.B) {
	zooBench.once.Do(func() {
		ctx := context.Background()
		// Loaded for the whole process rather than closed with the first
		// benchmark, which every later one would find closed.
		orttest.Init(b)
		zooBench.aes = map[string]adapters.Autoencoder{}
		for _, s := range zooSpaces {
			m, err := adapters.Load(ctx, filepath.Join(fixtures.Zoo(b), s.folder), adapters.LoadOptions{Session: adapterstest.TestSession})
			if err != nil {
				b.Fatal(err)
			}
			zooBench.aes[s.space] = m.VAE
		}
		zooBench.ips = map[zooPair]*Interposer{}
		zooBench.sources = map[string]*latent.Tensor{}
		photos := zooPhotos()
		for _, s := range zooSpaces {
			e, err := endpoint(zooBench.aes[s.space].Space(), zooSize)
			if err != nil {
				b.Fatal(err)
			}
			x := e.latent()
			if err := zooBench.aes[s.space].Encode(ctx, photos[zooCalibration], x); err != nil {
				b.Fatal(err)
			}
			zooBench.sources[s.space] = x
		}
		for _, p := range zooPairs() {
			ip, err := Fit(ctx, zooBench.aes[p.from], zooBench.aes[p.to], photos[:zooCalibration], zooSize, zooSize)
			if err != nil {
				b.Fatal(err)
			}
			zooBench.ips[p] = ip
		}
		zooBench.ready = true
	})
	if !zooBench.ready {
		b.Fatal("zoo benchmark setup failed in an earlier benchmark")
	}
}

// BenchmarkInterposer is one carry of a clean latent by the interposer:
// compare with BenchmarkPixelBridge of the same pair.
func BenchmarkInterposer(b *testing.B) {
	zooBenchSetup(b)
	for _, p := range zooPairs() {
		b.Run(p.String(), func(b *testing.B) {
			ip := zooBench.ips[p]
			src := zooBench.sources[p.from]
			dst := ip.To().latent()
			if err := ip.Apply(src, dst); err != nil {
				b.Fatal(err)
			}
			b.ReportAllocs()
			b.ResetTimer()
			loopCPU(b, func() {
				if err := ip.Apply(src, dst); err != nil {
					b.Fatal(err)
				}
			})
		})
	}
}

// BenchmarkPixelBridge is one carry by the pixel bridge the interposer
// replaces: decode, resize, encode, through ONNX Runtime (one intra-op
// thread, as the interposer computes on one core).
func BenchmarkPixelBridge(b *testing.B) {
	zooBenchSetup(b)
	ctx := context.Background()
	for _, p := range zooPairs() {
		b.Run(p.String(), func(b *testing.B) {
			br, err := newPixelBridge(zooBench.aes[p.from], zooBench.aes[p.to], zooSize, zooSize)
			if err != nil {
				b.Fatal(err)
			}
			src := zooBench.sources[p.from]
			dst := zooBench.ips[p].To().latent()
			if err := br.carry(ctx, src, dst); err != nil {
				b.Fatal(err)
			}
			b.ReportAllocs()
			b.ResetTimer()
			loopCPU(b, func() {
				if err := br.carry(ctx, src, dst); err != nil {
					b.Fatal(err)
				}
			})
		})
	}
}

// BenchmarkFit is the one-off cost of fitting on six photos, most of it
// the calibration encodes and bridge carries.
func BenchmarkFit(b *testing.B) {
	zooBenchSetup(b)
	ctx := context.Background()
	photos := zooPhotos()[:zooCalibration]
	for _, p := range []zooPair{{"sd", "sdxl"}, {"sd", "cascade-c"}, {"cascade-c", "sd"}} {
		b.Run(fmt.Sprint(p), func(b *testing.B) {
			for b.Loop() {
				if _, err := Fit(ctx, zooBench.aes[p.from], zooBench.aes[p.to], photos, zooSize, zooSize); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkZooQuality fits each variant of the options for every pair
// and reports its held-out quality against the pixel bridge as metrics
// (psnr-dB, worst-psnr-dB, latent-snr-dB): the figures behind
// DefaultOptions. Run it with -benchtime 1x; the time per op is the fit
// and the evaluation.
func BenchmarkZooQuality(b *testing.B) {
	zooBenchSetup(b)
	ctx := context.Background()
	photos := zooPhotos()
	variants := []struct {
		name   string
		change func(*Options)
	}{
		{"default", func(*Options) {}},
		{"per-pixel", func(o *Options) { o.PerPixel = true }},
		{"window-3", func(o *Options) { o.Window = 3 }},
		{"max-phases-4", func(o *Options) { o.MaxPhases = 4 }},
		{"max-phases-64", func(o *Options) { o.MaxPhases = 64 }},
		{"target-filter-bilinear", func(o *Options) { o.Filter = latent.Bilinear }},
		{"target-filter-lanczos3", func(o *Options) { o.Filter = latent.Lanczos3 }},
		{"source-filter-bicubic", func(o *Options) { o.SourceFilter = latent.Bicubic }},
		{"encoded-image", func(o *Options) { o.Target = EncodedImage }},
	}
	for _, v := range variants {
		b.Run(v.name, func(b *testing.B) {
			for _, p := range zooPairs() {
				b.Run(p.String(), func(b *testing.B) {
					opts := DefaultOptions()
					v.change(&opts)
					var q Quality
					for b.Loop() {
						ip, err := FitWith(ctx, zooBench.aes[p.from], zooBench.aes[p.to], photos[:zooCalibration], zooSize, zooSize, opts)
						if err != nil {
							b.Fatal(err)
						}
						if q, err = Evaluate(ctx, ip, zooBench.aes[p.from], zooBench.aes[p.to], photos[zooCalibration:], zooSize, zooSize); err != nil {
							b.Fatal(err)
						}
					}
					b.ReportMetric(q.PSNR, "psnr-dB")
					b.ReportMetric(q.MinPSNR, "worst-psnr-dB")
					b.ReportMetric(q.LatentSNR, "latent-snr-dB")
				})
			}
		})
	}
}
