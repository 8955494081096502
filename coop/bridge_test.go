package coop

import (
	"context"
	"math"
	"sync"
	"testing"

	"github.com/coop-diffusion/coop/adapters"
	"github.com/coop-diffusion/coop/graphs"
	"github.com/coop-diffusion/coop/latent"
)

// rangedVAE is cheapVAE with a pixel range: its "graphs" (cheapVAE's
// subsampling and repetition) work in the range, and Encode and Decode
// convert from and to [0, 1] around them, as the vae adapter does.
type rangedVAE struct {
	cheap *cheapVAE
	space latent.Space
}

func newRangedVAE(name string, channels, f int, r latent.PixelRange) *rangedVAE {
	v := newCheapVAE(name, channels, f)
	sp := v.space
	sp.PixelRange = r
	return &rangedVAE{cheap: v, space: sp}
}

var _ adapters.RawPixels = (*rangedVAE)(nil)

func (v *rangedVAE) Space() latent.Space { return v.space }

func (v *rangedVAE) EncodeRaw(ctx context.Context, pix, dst *latent.Tensor) error {
	return v.cheap.Encode(ctx, pix, dst)
}

func (v *rangedVAE) DecodeRaw(ctx context.Context, lat, dst *latent.Tensor) error {
	return v.cheap.Decode(ctx, lat, dst)
}

func (v *rangedVAE) Encode(ctx context.Context, pix, dst *latent.Tensor) error {
	in := pix.Clone()
	v.space.PixelsToModel(in)
	return v.cheap.Encode(ctx, in, dst)
}

func (v *rangedVAE) Decode(ctx context.Context, lat, dst *latent.Tensor) error {
	if err := v.cheap.Decode(ctx, lat, dst); err != nil {
		return err
	}
	v.space.ModelToPixels(dst)
	return nil
}

// plainVAE hides the raw methods of the autoencoder it wraps, as the
// wrappers of tests and tools do: the bridge then goes through [0, 1].
type plainVAE struct{ adapters.Autoencoder }

// TestRawPixelBridge compares the pixel bridge between two autoencoders
// that exchange pixels in their own ranges with the bridge through
// [0, 1] pixels. Where the ranges differ, or both are [0, 1], the raw
// bridge converts exactly where the autoencoders would have, and the
// latents agree bit for bit. Where both are [-1, 1] it skips the round
// trip v -> (v + 1) / 2 -> 2u - 1, which rounds v to a multiple of
// ulp(1 + |v|) / 2: the latents differ by that rounding, carried through
// the resize (bicubic weights of absolute sum below 1.3) together with
// the resize's own rounding in either range, a few float32 ulps of
// 1 + max |v| in all; without a resize the raw bridge is exact.
func TestRawPixelBridge(t *testing.T) {
	signed, unit := latent.MinusOneToOne, latent.ZeroToOne
	for _, c := range []struct {
		name     string
		from, to latent.PixelRange
		exact    bool
	}{
		{"signed-to-signed", signed, signed, false},
		{"signed-to-unit", signed, unit, true},
		{"unit-to-signed", unit, signed, true},
		{"unit-to-unit", unit, unit, true},
	} {
		for _, size := range [][2]int{{64, 64}, {48, 64}, {64, 48}} {
			fromVAE, toVAE := newRangedVAE("from", 3, 8, c.from), newRangedVAE("to", 3, 8, c.to)
			bridge := func(a, b adapters.Autoencoder, wantRaw bool) *latent.Tensor {
				from := end{model: &Model{Name: "from", VAE: a}, height: size[0], width: size[0]}
				to := end{model: &Model{Name: "to", VAE: b}, height: size[1], width: size[1]}
				br, err := newPixelBridge(from, to, newRecorder())
				if err != nil {
					t.Fatal(err)
				}
				if raw := br.rawDec != nil && br.rawEnc != nil; raw != wantRaw {
					t.Fatalf("%s: raw path %t for %T -> %T", c.name, raw, a, b)
				}
				x0 := latent.New(1, 3, size[0]/8, size[0]/8)
				latent.NewStream(7, "raw-bridge").Fill(x0)
				latent.Scale(x0, 0.6) // mostly within [-1, 1], some values beyond
				dst := latent.New(1, 3, size[1]/8, size[1]/8)
				if err := br.carry(context.Background(), x0, dst); err != nil {
					t.Fatal(err)
				}
				if size[0] == size[1] && c.from == signed && c.to == signed && br.rawDec != nil {
					for i, v := range dst.Data {
						if v != x0.Data[i] {
							t.Fatalf("%s at %d px: the raw bridge changed latent %d from %v to %v", c.name, size[0], i, x0.Data[i], v)
						}
					}
				}
				return dst
			}
			raw := bridge(fromVAE, toVAE, true)
			plain := bridge(plainVAE{fromVAE}, plainVAE{toVAE}, false)
			tol := 0.0
			if !c.exact {
				tol = math.Ldexp(1+maxAbs(plain.Data), -21) // 4 ulp(1 + max |v|)
			}
			for i := range raw.Data {
				r, p := float64(raw.Data[i]), float64(plain.Data[i])
				if math.Abs(r-p) > tol {
					t.Fatalf("%s, %d -> %d px: latent %d is %v through raw pixels, %v through [0, 1] (tolerance %.3g)", c.name, size[0], size[1], i, r, p, tol)
				}
			}
		}
	}
}

// TestBridgesReused: a run gives its pixel bridges back to the models'
// pools and the next run takes them instead of making new ones, with the
// same result bit for bit; runs side by side take bridges of their own.
func TestBridgesReused(t *testing.T) {
	e := cheapEngine(Sequential)
	plan := cheapPlan(64, 48, 6, 1)
	// A second stage at another size, entered through the resolution
	// bridge: an entry bridge with concurrent plane resizers.
	second := *plan.Stages[0]
	second.Name, second.Width, second.Height = "t", 96, 96
	second.Participants = second.Participants[:1]
	second.Entry = graphs.Renoise
	plan.Stages[0].End = 3
	second.First = 3
	plan.Stages = append(plan.Stages, &second)

	idle := func() map[*pixelBridge]bool {
		set := map[*pixelBridge]bool{}
		for _, m := range e.Models {
			for _, list := range m.bridges.idle {
				for _, b := range list {
					set[b] = true
				}
			}
		}
		return set
	}
	run := func() *latent.Tensor {
		res, err := e.Run(context.Background(), plan)
		if err != nil {
			t.Fatal(err)
		}
		return res.Image
	}
	first := run()
	pooled := idle()
	// Two for each participant in a space of its own (b, and c, whose
	// autoencoder is another object), one for the entry.
	if len(pooled) != 5 {
		t.Fatalf("%d bridges pooled after a run, want 5", len(pooled))
	}
	again := run()
	if after := idle(); len(after) != len(pooled) {
		t.Errorf("%d bridges pooled after the second run, %d after the first: the second made new ones", len(after), len(pooled))
	} else {
		for b := range after {
			if !pooled[b] {
				t.Error("the second run made a new bridge instead of taking a pooled one")
			}
		}
	}
	same := func(what string, img *latent.Tensor) {
		for i := range first.Data {
			if math.Float32bits(img.Data[i]) != math.Float32bits(first.Data[i]) {
				t.Fatalf("%s: pixel %d is %v, %v in the first run", what, i, img.Data[i], first.Data[i])
			}
		}
	}
	same("second run", again)

	var wg sync.WaitGroup
	images := make([]*latent.Tensor, 3)
	for i := range images {
		wg.Go(func() { images[i] = run() })
	}
	wg.Wait()
	for _, img := range images {
		same("runs side by side", img)
	}
	if n := len(idle()); n < len(pooled) || n > 3*len(pooled) {
		t.Errorf("%d bridges pooled after three runs side by side, want %d to %d", n, len(pooled), 3*len(pooled))
	}
}

func maxAbs(xs []float32) float64 {
	m := 0.0
	for _, v := range xs {
		m = math.Max(m, math.Abs(float64(v)))
	}
	return m
}

// A model's pool keeps at most maxIdleBridges, whatever runs give back.
func TestBridgePoolBounded(t *testing.T) {
	var p bridgePool
	for i := range 2 * maxIdleBridges {
		p.give(&pixelBridge{key: bridgeKey{fromH: i % 3}})
	}
	n := 0
	for _, list := range p.idle {
		n += len(list)
	}
	if n != maxIdleBridges || p.n != n {
		t.Errorf("%d bridges kept (counted %d), want %d", n, p.n, maxIdleBridges)
	}
	if b := p.take(bridgeKey{fromH: 1}); b == nil || b.key.fromH != 1 {
		t.Errorf("take of a kept key: %v", b)
	}
	if b := p.take(bridgeKey{fromH: 7}); b != nil {
		t.Errorf("take of a key never given: %v", b)
	}
}

// doubledVAE decodes latents at twice their value: a wrapper that hides
// the raw methods of the autoencoder it wraps and changes what it decodes.
type doubledVAE struct{ adapters.Autoencoder }

func (v doubledVAE) Decode(ctx context.Context, lat, dst *latent.Tensor) error {
	l := lat.Clone()
	latent.Scale(l, 2)
	return v.Autoencoder.Decode(ctx, l, dst)
}

// A pooled bridge follows its models' current autoencoders: after a
// model's autoencoder is replaced, the next run carries through the new
// one, as a fresh engine would.
func TestPooledBridgeFollowsAutoencoder(t *testing.T) {
	models := func() *Engine {
		e := cheapEngine(Sequential)
		for _, m := range e.Models {
			m.VAE = newRangedVAE(m.Name, m.VAE.Space().Channels, int(m.VAE.Space().Factor), latent.MinusOneToOne)
		}
		return e
	}
	plan := cheapPlan(64, 48, 6, 1)
	run := func(e *Engine) *latent.Tensor {
		res, err := e.Run(context.Background(), plan)
		if err != nil {
			t.Fatal(err)
		}
		return res.Image
	}
	e := models()
	before := run(e)
	e.Models["b"].VAE = doubledVAE{e.Models["b"].VAE}
	after := run(e)
	fresh := models()
	fresh.Models["b"].VAE = doubledVAE{fresh.Models["b"].VAE}
	want := run(fresh)
	changed := false
	for i := range want.Data {
		if math.Float32bits(after.Data[i]) != math.Float32bits(want.Data[i]) {
			t.Fatalf("pixel %d is %v after replacing b's autoencoder, %v on a fresh engine", i, after.Data[i], want.Data[i])
		}
		changed = changed || after.Data[i] != before.Data[i]
	}
	if !changed {
		t.Error("replacing b's autoencoder changed nothing: the test cannot fail")
	}
}
