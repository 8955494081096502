package adapterstest

import (
	"context"
	"math"
	"testing"

	"github.com/coop-diffusion/coop/adapters"
	"github.com/coop-diffusion/coop/latent"
)

// DenoiserCase is a request to run the denoiser conformance suite with.
type DenoiserCase struct {
	// Request is a valid request whose Cond has Guidance > 1 and distinct
	// positive and negative embeddings.
	Request *adapters.Request
	// Tolerance bounds |guided - (u + w (c - u))| relative to the largest
	// |epsilon|, where c and u are the predictions with guidance 1 for the
	// prompt and for the negative prompt: batching the two rows must not
	// change what each row computes beyond float rounding (float16 graphs
	// need more room).
	Tolerance float64
	// Uncond, when set, is the request whose prediction at guidance 1 is
	// the unguided row, for denoisers whose unconditional row differs in
	// more than the embeddings (Stable Cascade's decoder zeroes effnet).
	// By default it is Request with the negative embeddings in Cond.
	Uncond *adapters.Request
}

// TestDenoiser checks the contract of adapters.Denoiser on d:
//   - Predict writes a finite prediction of the latent's shape and leaves
//     the request's latent untouched;
//   - repeated calls give bit-identical results, also after calls with
//     other embeddings;
//   - Calls counts one graph evaluation per unguided prediction and one
//     (batched) or two per guided prediction;
//   - guidance is eps_u + w (eps_c - eps_u) of the two unguided
//     predictions, within c.Tolerance;
//   - a latent with the wrong channel count and a noise level outside
//     (0, 1) are errors, not panics.
func TestDenoiser(t *testing.T, d adapters.Denoiser, c DenoiserCase) {
	t.Helper()
	ctx := context.Background()
	req := *c.Request
	if req.Cond == nil || req.Cond.Guidance <= 1 {
		t.Fatalf("TestDenoiser needs a request with guidance above 1")
	}
	if d.Channels() != req.Latent.C() {
		t.Errorf("%s: Channels() = %d for a latent of %d channels", d.Name(), d.Channels(), req.Latent.C())
	}
	if d.Schedule() == nil {
		t.Errorf("%s: Schedule() is nil", d.Name())
	}
	before := req.Latent.Clone()

	predict := func(r *adapters.Request) (*latent.Tensor, int) {
		t.Helper()
		eps := latent.New(r.Latent.Shape...)
		for i := range eps.Data {
			eps.Data[i] = float32(math.NaN()) // Predict must overwrite everything
		}
		n := d.Calls()
		if err := d.Predict(ctx, r, eps); err != nil {
			t.Fatalf("%s: Predict: %v", d.Name(), err)
		}
		return eps, d.Calls() - n
	}

	guided, calls := predict(&req)
	if calls != 1 && calls != 2 {
		t.Errorf("%s: a guided prediction counted %d calls, want 1 (batched) or 2", d.Name(), calls)
	}
	for i, v := range req.Latent.Data {
		if v != before.Data[i] {
			t.Fatalf("%s: Predict modified the request's latent at %d", d.Name(), i)
		}
	}
	for i, v := range guided.Data {
		if math.IsNaN(float64(v)) || math.IsInf(float64(v), 0) {
			t.Fatalf("%s: prediction element %d is %v", d.Name(), i, v)
		}
	}
	again, _ := predict(&req)
	for i := range guided.Data {
		if guided.Data[i] != again.Data[i] {
			t.Fatalf("%s: repeated Predict differs at element %d: %v, then %v", d.Name(), i, guided.Data[i], again.Data[i])
		}
	}

	w := req.Cond.Guidance
	one := *req.Cond
	one.Guidance = 1
	condReq := req
	condReq.Cond = &one
	cond, calls := predict(&condReq)
	if calls != 1 {
		t.Errorf("%s: an unguided prediction counted %d calls, want 1", d.Name(), calls)
	}
	neg := adapters.Conditioning{Cond: req.Cond.Uncond, Uncond: req.Cond.Uncond, Guidance: 1}
	uncondReq := req
	if c.Uncond != nil {
		uncondReq = *c.Uncond
	}
	uncondReq.Cond = &neg
	uncond, _ := predict(&uncondReq)

	scale, worst, at := 0.0, 0.0, 0
	for i := range guided.Data {
		scale = math.Max(scale, math.Abs(float64(guided.Data[i])))
		want := float64(uncond.Data[i]) + w*(float64(cond.Data[i])-float64(uncond.Data[i]))
		if e := math.Abs(float64(guided.Data[i]) - want); e > worst {
			worst, at = e, i
		}
	}
	if worst > c.Tolerance*math.Max(scale, 1) {
		t.Errorf("%s: guided prediction is not u + %g (c - u): error %.3g at element %d (max |eps| %.3g, tolerance %g relative)",
			d.Name(), w, worst, at, scale, c.Tolerance)
	}
	if same := maxAbsDiff(cond, uncond); same == 0 {
		t.Errorf("%s: the positive and negative prompts predict the same noise; the case does not test guidance", d.Name())
	}
	// A denoiser may keep embeddings in its batch buffers from one call to
	// the next: after the predictions with other embeddings in each row,
	// the first request must predict what it did.
	back, _ := predict(&req)
	if diff := maxAbsDiff(back, guided); diff != 0 {
		t.Errorf("%s: the guided prediction after predictions with other conditionings differs from the first by up to %g", d.Name(), diff)
	}

	bad := req
	bad.Latent = latent.New(1, d.Channels()+1, req.Latent.H(), req.Latent.W())
	if err := d.Predict(ctx, &bad, latent.New(bad.Latent.Shape...)); err == nil {
		t.Errorf("%s: Predict accepted a latent of %d channels", d.Name(), d.Channels()+1)
	}
	for _, abar := range []float64{0, 1, math.NaN()} {
		bad := req
		bad.Abar = abar
		if err := d.Predict(ctx, &bad, latent.New(req.Latent.Shape...)); err == nil {
			t.Errorf("%s: Predict accepted abar = %v", d.Name(), abar)
		}
	}
}

func maxAbsDiff(a, b *latent.Tensor) float64 {
	m := 0.0
	for i := range a.Data {
		m = math.Max(m, math.Abs(float64(a.Data[i])-float64(b.Data[i])))
	}
	return m
}

// AutoencoderCase is an image to run the autoencoder conformance suite
// with.
type AutoencoderCase struct {
	// Pixels is [1, 3, H, W] in [0, 1] at a size the space can encode.
	Pixels *latent.Tensor
	// DecodedSize is the size Decode should produce from the encoded
	// latent; Pixels' size when zero.
	DecodedSize adapters.Size
	// MinPSNR, when positive, is the least PSNR (peak 1) of the round trip
	// Decode(Encode(Pixels)) against Pixels.
	MinPSNR float64
}

// TestAutoencoder checks the contract of adapters.Autoencoder on a:
// latents of the space's channel count and latent size, finite values,
// bit-identical repeated calls, inputs left untouched, and errors for a
// latent of the wrong channel count, and optionally the quality of the
// round trip.
func TestAutoencoder(t *testing.T, a adapters.Autoencoder, c AutoencoderCase) {
	t.Helper()
	ctx := context.Background()
	sp := a.Space()
	if err := sp.Validate(); err != nil {
		t.Fatalf("Space(): %v", err)
	}
	px := c.Pixels
	h, w, err := sp.LatentSize(px.H(), px.W())
	if err != nil {
		t.Fatalf("latent size of %v: %v", px, err)
	}
	orig := px.Clone()
	z := latent.New(1, sp.Channels, h, w)
	if err := a.Encode(ctx, px, z); err != nil {
		t.Fatalf("Encode: %v", err)
	}
	z2 := latent.New(z.Shape...)
	if err := a.Encode(ctx, px, z2); err != nil {
		t.Fatalf("Encode: %v", err)
	}
	if d := maxAbsDiff(z, z2); d != 0 {
		t.Errorf("repeated Encode differs by %g", d)
	}
	if d := maxAbsDiff(px, orig); d != 0 {
		t.Errorf("Encode modified its pixels by %g", d)
	}
	finite(t, "encoded latent", z)
	if err := a.Encode(ctx, px, latent.New(1, sp.Channels+1, h, w)); err == nil {
		t.Errorf("Encode accepted a destination of %d channels", sp.Channels+1)
	}

	size := c.DecodedSize
	if size.Height == 0 {
		size = adapters.Size{Height: px.H(), Width: px.W()}
	}
	img := latent.New(1, 3, size.Height, size.Width)
	zOrig := z.Clone()
	if err := a.Decode(ctx, z, img); err != nil {
		t.Fatalf("Decode: %v", err)
	}
	img2 := latent.New(img.Shape...)
	if err := a.Decode(ctx, z, img2); err != nil {
		t.Fatalf("Decode: %v", err)
	}
	if d := maxAbsDiff(img, img2); d != 0 {
		t.Errorf("repeated Decode differs by %g", d)
	}
	if d := maxAbsDiff(z, zOrig); d != 0 {
		t.Errorf("Decode modified its latent by %g", d)
	}
	finite(t, "decoded image", img)
	if err := a.Decode(ctx, latent.New(1, sp.Channels+1, h, w), img); err == nil {
		t.Errorf("Decode accepted a latent of %d channels", sp.Channels+1)
	}
	if c.MinPSNR > 0 && size.Height == px.H() && size.Width == px.W() {
		if p := latent.PSNR(px, Clamp(img), 1); p < c.MinPSNR {
			t.Errorf("round trip PSNR %.2f dB, want at least %.2f", p, c.MinPSNR)
		}
	}
}

func finite(t *testing.T, what string, x *latent.Tensor) {
	t.Helper()
	for i, v := range x.Data {
		if math.IsNaN(float64(v)) || math.IsInf(float64(v), 0) {
			t.Fatalf("%s element %d is %v", what, i, v)
		}
	}
}

// TestTextEncoder checks the contract of adapters.TextEncoder on e: the
// positive and negative embeddings have equal shapes (the denoiser batches
// them), a long prompt gives a longer sequence unless truncated, and
// repeated calls give identical results.
func TestTextEncoder(t *testing.T, e adapters.TextEncoder, positive string) {
	t.Helper()
	ctx := context.Background()
	c, err := e.Encode(ctx, adapters.Prompt{Positive: positive})
	if err != nil {
		t.Fatalf("Encode: %v", err)
	}
	if c.Cond.Hidden == nil || len(c.Cond.Hidden.Shape) != 3 || c.Cond.Hidden.Shape[0] != 1 {
		t.Fatalf("hidden states %v, want [1, T, W]", c.Cond.Hidden)
	}
	if c.Uncond.Hidden == nil || !c.Uncond.Hidden.SameShape(c.Cond.Hidden) {
		t.Errorf("negative hidden states %v, positive %v: shapes differ", c.Uncond.Hidden, c.Cond.Hidden)
	}
	if (c.Cond.Pooled == nil) != (c.Uncond.Pooled == nil) || (c.Cond.Pooled != nil && !c.Cond.Pooled.SameShape(c.Uncond.Pooled)) {
		t.Errorf("pooled %v and negative pooled %v differ", c.Cond.Pooled, c.Uncond.Pooled)
	}
	c2, err := e.Encode(ctx, adapters.Prompt{Positive: positive})
	if err != nil {
		t.Fatalf("Encode: %v", err)
	}
	if d := maxAbsDiff(c.Cond.Hidden, c2.Cond.Hidden); d != 0 {
		t.Errorf("repeated Encode differs by %g", d)
	}
	long := positive
	for range 40 {
		long += " and more words"
	}
	lc, err := e.Encode(ctx, adapters.Prompt{Positive: long})
	if err != nil {
		t.Fatalf("Encode of a long prompt: %v", err)
	}
	tc, err := e.Encode(ctx, adapters.Prompt{Positive: long, Truncate: true})
	if err != nil {
		t.Fatalf("Encode of a truncated long prompt: %v", err)
	}
	if tc.Cond.Hidden.Shape[1] != c.Cond.Hidden.Shape[1] {
		t.Errorf("a truncated long prompt has %d tokens, a short one %d", tc.Cond.Hidden.Shape[1], c.Cond.Hidden.Shape[1])
	}
	if lc.Cond.Hidden.Shape[1] < tc.Cond.Hidden.Shape[1] {
		t.Errorf("a long prompt has %d tokens, fewer than truncated (%d)", lc.Cond.Hidden.Shape[1], tc.Cond.Hidden.Shape[1])
	}
}
