package cascade_test

import (
	"context"
	"fmt"
	"math"
	"strings"
	"testing"

	"github.com/coop-diffusion/coop/adapters"
	"github.com/coop-diffusion/coop/adapters/adapterstest"
	"github.com/coop-diffusion/coop/adapters/cascade"
	_ "github.com/coop-diffusion/coop/adapters/sd"
	"github.com/coop-diffusion/coop/internal/fixtures"
	"github.com/coop-diffusion/coop/latent"
)

// bridgeSteps is what the tests run per decode: fewer than the default
// keeps them fast, and the fixture's stage B lands in far fewer.
const bridgeSteps = 4

func newBridge(t testing.TB, steps int) (*cascade.Bridge, *adapters.Model, *adapters.Model) {
	t.Helper()
	prior := adapterstest.LoadFixture(t, "cascade-prior")
	decoder := adapterstest.LoadFixture(t, "cascade-decoder")
	b, err := cascade.NewBridge(prior, decoder, cascade.BridgeOptions{Steps: steps})
	if err != nil {
		t.Fatal(err)
	}
	return b, prior, decoder
}

// A stage C latent decoded through stage B and A is stage A's
// reconstruction of its photo, where the previewer gives a coarse preview
// of it.
func TestBridgeDecodesThroughStageBAndA(t *testing.T) {
	ctx := context.Background()
	b, prior, decoder := newBridge(t, bridgeSteps)
	if b.Steps() != bridgeSteps || b.CallsPerDecode() != bridgeSteps || b.Decoder() != decoder.Name {
		t.Errorf("steps %d, calls per decode %d, decoder %q", b.Steps(), b.CallsPerDecode(), b.Decoder())
	}
	if s := b.Space(); s.Name != prior.Space.Name || s.Channels != 16 {
		t.Errorf("space %+v, want the prior's", s)
	}
	for _, k := range []int{0, 5} {
		z, err := fixtures.DataLatent("cascade-prior", k)
		if err != nil {
			t.Fatal(err)
		}
		before := decoder.Denoiser.Calls()
		pix := latent.New(1, 3, fixtures.PhotoSize, fixtures.PhotoSize)
		if err := b.Decode(ctx, z, pix); err != nil {
			t.Fatal(err)
		}
		if n := decoder.Denoiser.Calls() - before; n != bridgeSteps {
			t.Errorf("a decode made %d stage B calls, want %d", n, bridgeSteps)
		}
		db := adapterstest.CheckLanding(t, "cascade-decoder", k, pix)

		preview := latent.New(pix.Shape...)
		if err := prior.VAE.Decode(ctx, z, preview); err != nil {
			t.Fatal(err)
		}
		photo := fixtures.Photo(k)
		viaB := latent.PSNR(photo, adapterstest.Clamp(pix), 1)
		viaPreview := latent.PSNR(photo, adapterstest.Clamp(preview), 1)
		if viaB < viaPreview+3 {
			t.Errorf("photo %d: stage B and A at %.2f dB from the photo, the previewer at %.2f dB; want B and A at least 3 dB closer", k, viaB, viaPreview)
		}
		t.Logf("photo %d: stage B (%d steps) and A at %.2f dB from stage A's reconstruction; from the photo %.2f dB, previewer %.2f dB", k, bridgeSteps, db, viaB, viaPreview)
	}
}

// The stage B loop's noise is fixed: a latent decodes to the same pixels
// every time, whatever was decoded in between.
func TestBridgeDeterministic(t *testing.T) {
	ctx := context.Background()
	b, _, _ := newBridge(t, 2)
	decode := func(k int) *latent.Tensor {
		z, err := fixtures.DataLatent("cascade-prior", k)
		if err != nil {
			t.Fatal(err)
		}
		// A blend of two photos' latents, so that stage B's noise matters.
		w, _ := fixtures.DataLatent("cascade-prior", k+1)
		for i := range z.Data {
			z.Data[i] = 0.5*z.Data[i] + 0.5*w.Data[i]
		}
		pix := latent.New(1, 3, fixtures.PhotoSize, fixtures.PhotoSize)
		if err := b.Decode(ctx, z, pix); err != nil {
			t.Fatal(err)
		}
		return pix
	}
	first := decode(2)
	decode(6)
	again := decode(2)
	for i := range first.Data {
		if first.Data[i] != again.Data[i] {
			t.Fatalf("pixel %d: %v, then %v after another decode", i, first.Data[i], again.Data[i])
		}
	}
	// A second bridge with the same options decodes the same way; one
	// with another seed does not, which shows that the noise matters.
	z, _ := fixtures.DataLatent("cascade-prior", 2)
	w, _ := fixtures.DataLatent("cascade-prior", 3)
	for i := range z.Data {
		z.Data[i] = 0.5*z.Data[i] + 0.5*w.Data[i]
	}
	prior, decoder := adapterstest.LoadFixture(t, "cascade-prior"), adapterstest.LoadFixture(t, "cascade-decoder")
	for _, seed := range []uint64{0, 1} {
		other, err := cascade.NewBridge(prior, decoder, cascade.BridgeOptions{Steps: 2, Seed: seed})
		if err != nil {
			t.Fatal(err)
		}
		pix := latent.New(first.Shape...)
		if err := other.Decode(ctx, z, pix); err != nil {
			t.Fatal(err)
		}
		if d := maxDiff(first, pix); (d == 0) != (seed == 0) {
			t.Errorf("seed %d: decodes %g from the first bridge's", seed, d)
		}
	}
}

func maxDiff(a, b *latent.Tensor) float64 {
	d := 0.0
	for i := range a.Data {
		d = max(d, math.Abs(float64(a.Data[i]-b.Data[i])))
	}
	return d
}

func TestBridgeConformance(t *testing.T) {
	b, prior, _ := newBridge(t, bridgeSteps)
	adapterstest.TestAutoencoder(t, b, adapterstest.AutoencoderCase{Pixels: fixtures.Photo(3), MinPSNR: 20})

	// Encode is the prior's EfficientNet encoder.
	px := fixtures.Photo(1)
	want, got := latent.New(1, 16, 12, 12), latent.New(1, 16, 12, 12)
	if err := prior.VAE.Encode(context.Background(), px, want); err != nil {
		t.Fatal(err)
	}
	if err := b.Encode(context.Background(), px, got); err != nil {
		t.Fatal(err)
	}
	for i := range want.Data {
		if want.Data[i] != got.Data[i] {
			t.Fatalf("element %d: bridge %v, effnet %v", i, got.Data[i], want.Data[i])
		}
	}
	// The parts' sessions are reported, so that the engine can time
	// decodes.
	var roles []string
	for _, g := range b.RuntimeStats(nil) {
		roles = append(roles, g.Role)
	}
	for _, role := range []string{"decoder", "vqgan", "text_encoder", "effnet"} {
		if !strings.Contains(strings.Join(roles, " "), role) {
			t.Errorf("runtime stats of %v lack %s", roles, role)
		}
	}
}

func TestCheckBridge(t *testing.T) {
	prior := adapterstest.LoadFixture(t, "cascade-prior")
	decoder := adapterstest.LoadFixture(t, "cascade-decoder")
	sd := adapterstest.LoadFixture(t, "sd15")
	if err := cascade.CheckBridge(&prior.Info, &decoder.Info); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		prior, decoder *adapters.Model
		want           string
	}{
		{prior, sd, "not a Stable Cascade decoder"},
		{prior, prior, "not a Stable Cascade decoder"},
		{sd, decoder, "only a Stable Cascade prior"},
	} {
		err := cascade.CheckBridge(&c.prior.Info, &c.decoder.Info)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s through %s: %v, want an error saying %q", c.prior.Family, c.decoder.Family, err, c.want)
		}
		if _, err := cascade.NewBridge(c.prior, c.decoder, cascade.BridgeOptions{}); err == nil {
			t.Errorf("NewBridge accepted %s through %s", c.prior.Family, c.decoder.Family)
		}
	}
	if _, err := cascade.NewBridge(prior, decoder, cascade.BridgeOptions{Steps: -1}); err == nil {
		t.Error("NewBridge accepted -1 steps")
	}
	b, err := cascade.NewBridge(prior, decoder, cascade.BridgeOptions{})
	if err != nil || b.Steps() != cascade.DefaultBridgeSteps {
		t.Errorf("default steps: %v, %v", b, err)
	}
}

// BenchmarkBridgeDecode decodes a stage C latent at 512 px through stage
// B and A, and with the prior's previewer for comparison. The bridge's own
// buffers are reused, so what allocates is the adapters' binding of each
// ONNX Runtime run.
func BenchmarkBridgeDecode(b *testing.B) {
	z, err := fixtures.DataLatent("cascade-prior", 4)
	if err != nil {
		b.Fatal(err)
	}
	bench := func(b *testing.B, a adapters.Autoencoder) {
		pix := latent.New(1, 3, fixtures.PhotoSize, fixtures.PhotoSize)
		ctx := context.Background()
		if err := a.Decode(ctx, z, pix); err != nil {
			b.Fatal(err)
		}
		b.ReportAllocs()
		b.ResetTimer()
		for range b.N {
			if err := a.Decode(ctx, z, pix); err != nil {
				b.Fatal(err)
			}
		}
	}
	for _, steps := range []int{1, bridgeSteps, cascade.DefaultBridgeSteps} {
		b.Run(fmt.Sprintf("steps=%d", steps), func(b *testing.B) {
			br, _, _ := newBridge(b, steps)
			bench(b, br)
		})
	}
	b.Run("previewer", func(b *testing.B) {
		bench(b, adapterstest.LoadFixture(b, "cascade-prior").VAE)
	})
}
