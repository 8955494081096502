package adapterstest

import (
	"context"
	"fmt"
	"path/filepath"
	"sync"
	"testing"

	"github.com/coop-diffusion/coop/adapters"
	"github.com/coop-diffusion/coop/internal/fixtures"
	"github.com/coop-diffusion/coop/internal/ort"
	"github.com/coop-diffusion/coop/internal/ort/orttest"
	"github.com/coop-diffusion/coop/latent"
)

// MinLandingPSNR is the PSNR (peak 1) in dB above which a generation has
// landed on a photo: the bar of the adapters' acceptance tests.
const MinLandingPSNR = 35

// TestSession is the session configuration LoadFixture uses: one intra-op
// thread, since the fixture graphs are small and test binaries run side by
// side (a thread pool spinning for work only takes cores from the others).
var TestSession = ort.SessionOptions{IntraOpThreads: 1, InterOpThreads: 1}

// LoadFixture loads the named folder of the fixture zoo (internal/fixtures)
// with ONNX Runtime initialised, closing it when the test ends. The
// families of the folder must be registered by the caller's imports.
func LoadFixture(t testing.TB, name string) *adapters.Model {
	t.Helper()
	orttest.Init(t)
	m, err := adapters.Load(context.Background(), filepath.Join(fixtures.Zoo(t), name), adapters.LoadOptions{Session: TestSession})
	if err != nil {
		t.Fatalf("loading fixture %s: %v", name, err)
	}
	t.Cleanup(func() {
		if err := m.Close(); err != nil {
			t.Errorf("closing fixture %s: %v", name, err)
		}
	})
	return m
}

// Prompt is a caption that selects photo k of the fixtures' data sets.
func Prompt(k int) string { return "a photo of a " + fixtures.Keyword(k) }

// CheckLanding fails t unless pix (clamped to [0, 1]) is within
// MinLandingPSNR of the fixture's reconstruction of photo k and below it
// for every other photo, and returns the PSNR against photo k.
func CheckLanding(t testing.TB, fixture string, k int, pix *latent.Tensor) float64 {
	t.Helper()
	img := Clamp(pix.Clone())
	var got float64
	for j := range fixtures.NumPhotos {
		rec, err := reconstruction(fixture, j)
		if err != nil {
			t.Fatal(err)
		}
		if !rec.SameShape(img) {
			t.Fatalf("%s: image %v, reconstruction %v", fixture, img, rec)
		}
		p := latent.PSNR(rec, img, 1)
		switch {
		case j == k:
			got = p
			if p < MinLandingPSNR {
				t.Errorf("%s: prompted photo %d (%s) at %.2f dB, want at least %d", fixture, k, fixtures.PhotoNames()[k], p, MinLandingPSNR)
			}
		case p >= MinLandingPSNR:
			t.Errorf("%s: landed on photo %d (%s, %.2f dB) instead of photo %d", fixture, j, fixtures.PhotoNames()[j], p, k)
		}
	}
	return got
}

var reconstructions sync.Map // "fixture/k" -> *latent.Tensor

// reconstruction is fixtures.Reconstruction, computed once per process
// (it decodes in Go, which is slow under the race detector).
func reconstruction(fixture string, k int) (*latent.Tensor, error) {
	key := fmt.Sprintf("%s/%d", fixture, k)
	if v, ok := reconstructions.Load(key); ok {
		return v.(*latent.Tensor), nil
	}
	rec, err := fixtures.Reconstruction(fixture, k)
	if err != nil {
		return nil, err
	}
	reconstructions.Store(key, rec)
	return rec, nil
}

// ConformanceRequest returns the request the fixture models' conformance
// tests give TestDenoiser: Prompt(1) against the negative Prompt(3),
// encoded by m's text encoder, at the given guidance, and a seeded latent
// of a 512 x 512 image at abar 0.3. Callers change what their family
// needs (a lower abar, controls, effnet) on the copy they get.
func ConformanceRequest(t testing.TB, m *adapters.Model, guidance float64) *adapters.Request {
	t.Helper()
	cond, err := m.Text.Encode(context.Background(), adapters.Prompt{Positive: Prompt(1), Negative: Prompt(3)})
	if err != nil {
		t.Fatal(err)
	}
	cond.Guidance = guidance
	const size = 512
	h, w, err := m.Space.LatentSize(size, size)
	if err != nil {
		t.Fatal(err)
	}
	z := latent.New(1, m.Channels, h, w)
	latent.NewStream(3, "conformance").Fill(z)
	return &adapters.Request{Latent: z, Abar: 0.3, Cond: cond, Height: size, Width: size}
}
