package coop

import (
	"context"
	"fmt"
	"math"
	"testing"
	"time"

	"github.com/coop-diffusion/coop/adapters"
	"github.com/coop-diffusion/coop/coop/sampler"
	"github.com/coop-diffusion/coop/graphs"
	"github.com/coop-diffusion/coop/latent"
)

// The models here cost next to nothing and allocate nothing, so that the
// tests and benchmarks of this file see the engine's own arithmetic: the
// sampler, the fusion and the bridges' resizing and bookkeeping.

// cheapDenoiser predicts eps = 0.5 z + bias, bias from the prompt.
type cheapDenoiser struct {
	name     string
	channels int
}

func (d *cheapDenoiser) Name() string               { return d.name }
func (d *cheapDenoiser) Family() adapters.Family    { return adapters.Generic }
func (d *cheapDenoiser) Schedule() sampler.Schedule { return nil }
func (d *cheapDenoiser) Channels() int              { return d.channels }
func (d *cheapDenoiser) Calls() int                 { return 0 }

func (d *cheapDenoiser) Encode(_ context.Context, p adapters.Prompt) (*adapters.Conditioning, error) {
	t := latent.New(1, 1, 1)
	t.Data[0] = float32(len(p.Positive)%7) / 10
	return &adapters.Conditioning{Cond: adapters.Embeddings{Hidden: t}, Uncond: adapters.Embeddings{Hidden: latent.New(1, 1, 1)}}, nil
}

func (d *cheapDenoiser) Predict(_ context.Context, req *adapters.Request, eps *latent.Tensor) error {
	bias := req.Cond.Cond.Hidden.Data[0]
	for i, v := range req.Latent.Data {
		eps.Data[i] = 0.5*v + bias
	}
	return nil
}

// cheapVAE is a subsampling autoencoder: a latent pixel is the top-left
// pixel of its f x f patch in one pixel channel (channels cycle over
// RGB), and decoding repeats it over the patch.
type cheapVAE struct {
	space latent.Space
	f     int
}

func newCheapVAE(name string, channels, f int) *cheapVAE {
	return &cheapVAE{space: latent.Space{Name: name, Channels: channels, Factor: float64(f), ScalingFactor: 1}, f: f}
}

func (v *cheapVAE) Space() latent.Space { return v.space }

func (v *cheapVAE) Encode(_ context.Context, pix, dst *latent.Tensor) error {
	h, w, pw := dst.H(), dst.W(), pix.W()
	for c := range dst.C() {
		src := pix.Data[(c%3)*pix.H()*pw:]
		out := dst.Data[c*h*w : (c+1)*h*w]
		for y := range h {
			row := src[y*v.f*pw : y*v.f*pw+w*v.f]
			o := out[y*w : (y+1)*w]
			for x := range o {
				o[x] = row[x*v.f]
			}
		}
	}
	return nil
}

func (v *cheapVAE) Decode(_ context.Context, lat, dst *latent.Tensor) error {
	h, w, pw := lat.H(), lat.W(), dst.W()
	for c := range 3 {
		src := lat.Data[(c%lat.C())*h*w:]
		out := dst.Data[c*dst.H()*pw:]
		for y := range h {
			row := out[y*v.f*pw : y*v.f*pw+pw]
			for x, l := range src[y*w : (y+1)*w] {
				for dx := range v.f {
					row[x*v.f+dx] = l
				}
			}
			for dy := 1; dy < v.f; dy++ {
				copy(out[(y*v.f+dy)*pw:(y*v.f+dy+1)*pw], row)
			}
		}
	}
	return nil
}

func cheapModel(name string, channels, f int) *Model {
	d := &cheapDenoiser{name: name, channels: channels}
	return &Model{Name: name, Denoiser: d, VAE: newCheapVAE(name, channels, f), Text: d}
}

// cheapPlan fuses a primary at size with a participant in another space
// at foreignSize (bridged every `every` steps) and a third sharing the
// primary's space.
func cheapPlan(size, foreignSize, steps, every int) *graphs.Plan {
	cfg := sampler.DefaultConfig()
	cfg.Steps = steps
	part := func(model, prompt string, w float64) *graphs.Participant {
		p := &graphs.Participant{Model: model, Weight: graphs.Constant(w), Guidance: 1}
		p.Prompt.Positive = prompt
		return p
	}
	foreign := part("b", "a rocket", 0.3)
	foreign.Width, foreign.Height = foreignSize, foreignSize
	foreign.Bridge.Every = every
	return &graphs.Plan{Seed: 1, Stages: []*graphs.Stage{{
		Name: "s", Width: size, Height: size, Sampler: "ddim", Config: cfg, First: 0, End: steps, Entry: graphs.Fresh,
		Participants: []*graphs.Participant{part("a", "a cat", 0.5), foreign, part("c", "a cup", 0.2)},
	}}}
}

func cheapEngine(c Concurrency) *Engine {
	return &Engine{Concurrency: c, Models: map[string]*Model{
		"a": cheapModel("a", 4, 8), "b": cheapModel("b", 3, 4), "c": cheapModel("c", 4, 8), "d": cheapModel("d", 3, 4),
	}}
}

// twoForeignPlan fuses a primary at size with two participants in
// another space at foreignSize: two chains of equal work (a prediction
// and two resizing bridges each) that can run side by side.
func twoForeignPlan(size, foreignSize, steps int) *graphs.Plan {
	plan := cheapPlan(size, foreignSize, steps, 1)
	st := plan.Stages[0]
	d := *st.Participants[1]
	d.Model = "d"
	st.Participants[2] = &d
	return plan
}

// newCheapStage enters the plan's only stage and runs its first step,
// where the foreign participant joins.
func newCheapStage(tb testing.TB, e *Engine, plan *graphs.Plan) *stageRun {
	r := &run{engine: e, plan: plan, rec: newRecorder(), lastUse: plan.LastUse(),
		conds: map[condKey]*adapters.Conditioning{}, images: &ImageCache{}}
	r.bridges = &bridges{m: map[[2]string]*pixelBridge{}, rec: r.rec}
	r.beginUsage()
	s, err := r.newStage(context.Background(), 0, plan.Stages[0])
	if err != nil {
		tb.Fatal(err)
	}
	if err := s.step(context.Background(), 0); err != nil {
		tb.Fatal(err)
	}
	return s
}

// TestStepAllocatesNothing: once a stage has started, a step (predictions
// on workers, bridges with resizing, fusion, sampler steps of every
// trajectory) allocates nothing.
func TestStepAllocatesNothing(t *testing.T) {
	for _, c := range []Concurrency{AlwaysConcurrent, Sequential} {
		for _, every := range []int{1, 2} {
			plan := cheapPlan(64, 48, 30, every)
			s := newCheapStage(t, cheapEngine(c), plan)
			k := 1
			allocs := testing.AllocsPerRun(20, func() {
				if err := s.step(context.Background(), k); err != nil {
					t.Fatal(err)
				}
				k++
			})
			s.stop()
			if allocs != 0 {
				t.Errorf("concurrency %v, bridge every %d: %g allocations per step", c, every, allocs)
			}
		}
	}
}

// TestConcurrentIsSequential: running participants concurrently changes
// nothing, bit for bit, with bridges every step and every third step, and
// whatever the automatic choice makes of each step.
func TestConcurrentIsSequential(t *testing.T) {
	for _, every := range []int{1, 3} {
		plan := cheapPlan(64, 48, 12, every)
		var images [3]*latent.Tensor
		for i, c := range []Concurrency{Sequential, AlwaysConcurrent, ConcurrentWhenItPays} {
			res, err := cheapEngine(c).Run(context.Background(), plan)
			if err != nil {
				t.Fatal(err)
			}
			if c != ConcurrentWhenItPays && res.Report.Concurrent != (c == AlwaysConcurrent) {
				t.Errorf("concurrency %v: report says concurrent %t", c, res.Report.Concurrent)
			}
			images[i] = res.Image
		}
		for _, img := range images[1:] {
			for i := range images[0].Data {
				if images[0].Data[i] != img.Data[i] {
					t.Fatalf("bridge every %d: pixel %d is %v sequentially, %v concurrently", every, i, images[0].Data[i], img.Data[i])
				}
			}
		}
	}
}

// TestConcurrentWhenItPays: the automatic choice runs a step concurrently
// only when the work beside the longest participant's, by their previous
// tasks, reaches minConcurrentWork or hides in the longest (leadRatio), and runs a step one after the other
// while a participant has no previous task to judge by.
func TestConcurrentWhenItPays(t *testing.T) {
	s := newCheapStage(t, cheapEngine(ConcurrentWhenItPays), cheapPlan(64, 48, 12, 2))
	defer s.stop()
	set := func(walls ...time.Duration) {
		for j, tj := range s.trajs {
			tj.lastWall[tj.taskKind(s.k)] = walls[j]
		}
	}
	s.k = 2 // a step at which the foreign participant bridges
	for _, c := range []struct {
		walls []time.Duration
		want  bool
	}{
		{[]time.Duration{5 * time.Millisecond, 5 * time.Millisecond, time.Millisecond}, true},
		// Work beside the lead that hides in it: a fusion across spaces.
		{[]time.Duration{time.Millisecond / 4, 8 * time.Millisecond, time.Millisecond / 4}, true},
		// Too little beside the lead to pay for a worker.
		{[]time.Duration{time.Millisecond / 40, 8 * time.Millisecond, time.Millisecond / 40}, false},
		// Small tasks of equal size: waiting for a worker would be on
		// the critical path.
		{[]time.Duration{time.Millisecond / 2, time.Millisecond / 2, time.Millisecond / 4}, false},
		{[]time.Duration{time.Millisecond, 8 * time.Millisecond, 0}, false},
	} {
		set(c.walls...)
		if got := s.concurrentNow(); got != c.want {
			t.Errorf("previous tasks %v: concurrent %t, want %t", c.walls, got, c.want)
		}
	}
	s.r.engine.Concurrency = AlwaysConcurrent
	if !s.concurrentNow() {
		t.Error("AlwaysConcurrent: a step ran one participant after the other")
	}
}

// TestBridgeEveryCarries counts the carries of a foreign participant: with
// every = k it predicts and carries its estimate to the primary at every
// k-th step and takes up the fused estimate only before those steps.
func TestBridgeEveryCarries(t *testing.T) {
	const steps = 12
	for _, c := range []struct{ every, to, back int }{{1, 12, 11}, {2, 6, 5}, {4, 3, 2}, {5, 3, 2}} {
		res, err := cheapEngine(ConcurrentWhenItPays).Run(context.Background(), cheapPlan(64, 48, steps, c.every))
		if err != nil {
			t.Fatal(err)
		}
		var to, back int
		for _, b := range res.Report.Bridges {
			switch {
			case b.From == "b" && b.To == "a":
				to = b.Encodes
			case b.From == "a" && b.To == "b":
				back = b.Encodes
			}
		}
		if to != c.to || back != c.back {
			t.Errorf("every %d: %d carries to the primary and %d back, want %d and %d", c.every, to, back, c.to, c.back)
		}
	}
}

func TestFuseMatchesAxpby(t *testing.T) {
	const n = 1000
	for parts := 1; parts <= 4; parts++ {
		ws := make([]float64, parts)
		cs := make([][]float32, parts)
		want := latent.New(n)
		for j := range parts {
			ws[j] = 0.1 + 0.37*float64(j)
			c := latent.New(n)
			latent.NewStream(uint64(j), "fuse").Fill(c)
			cs[j] = c.Data
			if j == 0 {
				latent.Axpby(want, 0, want, ws[j], c)
			} else {
				latent.Axpby(want, 1, want, ws[j], c)
			}
		}
		got := make([]float32, n)
		if !fuse(got, ws, cs) {
			t.Fatalf("%d parts: finite values reported as not finite", parts)
		}
		for i := range got {
			if got[i] != want.Data[i] {
				t.Fatalf("%d parts: element %d is %v, successive Axpby give %v", parts, i, got[i], want.Data[i])
			}
		}
	}
}

func TestFinite(t *testing.T) {
	inf := float32(math.Inf(1))
	for _, c := range []struct {
		xs   []float32
		want bool
	}{
		{nil, true},
		{[]float32{0, -0.5, 3e38, 1e-45}, true},
		{[]float32{1, inf}, false},
		{[]float32{-inf, 1}, false},
		{[]float32{1, 2, inf - inf}, false},
	} {
		if got := finite(c.xs); got != c.want {
			t.Errorf("finite(%v) = %t", c.xs, got)
		}
	}
}

// BenchmarkStep is one engine step of a three-participant fusion at 512
// px, with the participants' work run concurrently and one after the
// other. In "one-foreign" a participant shares the primary's space and a
// foreign one renders at 384 px (so both of its bridges resize); in
// "two-foreign" both others are foreign at 384 px, two chains of equal
// work. The models are nearly free, so this is the engine's own cost of a
// step: the sampler steps, the fusion, the bridges' resizing.
func BenchmarkStep(b *testing.B) {
	for _, c := range []struct {
		name string
		plan *graphs.Plan
		mode Concurrency
	}{
		{"one-foreign/concurrent", cheapPlan(512, 384, 50, 1), AlwaysConcurrent},
		{"one-foreign/sequential", cheapPlan(512, 384, 50, 1), Sequential},
		{"two-foreign/concurrent", twoForeignPlan(512, 384, 50), AlwaysConcurrent},
		{"two-foreign/sequential", twoForeignPlan(512, 384, 50), Sequential},
	} {
		b.Run(c.name, func(b *testing.B) {
			plan := c.plan
			s := newCheapStage(b, cheapEngine(c.mode), plan)
			b.ReportAllocs()
			k := 1
			for b.Loop() {
				if k == 50 {
					b.StopTimer()
					s.stop()
					s = newCheapStage(b, cheapEngine(c.mode), plan)
					k = 1
					b.StartTimer()
				}
				if err := s.step(context.Background(), k); err != nil {
					b.Fatal(err)
				}
				k++
			}
			s.stop()
		})
	}
}

// BenchmarkFuse is the fusion of two and three 4x64x64 predictions (512
// px in SD's space) with the finiteness check.
func BenchmarkFuse(b *testing.B) {
	for _, parts := range []int{2, 3} {
		b.Run(fmt.Sprint(parts), func(b *testing.B) {
			ws := make([]float64, parts)
			cs := make([][]float32, parts)
			for j := range cs {
				ws[j] = 1 / float64(parts)
				c := latent.New(1, 4, 64, 64)
				latent.NewStream(uint64(j), "fuse").Fill(c)
				cs[j] = c.Data
			}
			dst := make([]float32, len(cs[0]))
			b.ReportAllocs()
			b.SetBytes(int64(4 * len(dst) * (parts + 1)))
			for b.Loop() {
				if !fuse(dst, ws, cs) {
					b.Fatal("not finite")
				}
			}
		})
	}
}

// BenchmarkBridgeCarry is one carry through the pixel bridge with the
// autoencoders nearly free: the bridge's own work is the resize between
// the two pixel sizes (here 384 to 512 px, bicubic) and the bookkeeping.
func BenchmarkBridgeCarry(b *testing.B) {
	for _, c := range []struct {
		name     string
		from, to int
	}{{"same-size-512", 512, 512}, {"up-384-512", 384, 512}, {"down-512-384", 512, 384}} {
		b.Run(c.name, func(b *testing.B) {
			a, m := cheapModel("a", 4, 8), cheapModel("b", 4, 8)
			br, err := newPixelBridge(end{model: a, height: c.from, width: c.from}, end{model: m, height: c.to, width: c.to}, newRecorder())
			if err != nil {
				b.Fatal(err)
			}
			x0, dst := latent.New(1, 4, c.from/8, c.from/8), latent.New(1, 4, c.to/8, c.to/8)
			latent.NewStream(1, "x0").Fill(x0)
			b.ReportAllocs()
			for b.Loop() {
				if err := br.carry(context.Background(), x0, dst); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// TestPlaneResizer: resizing the planes concurrently gives the single
// resizer's result bit for bit.
func TestPlaneResizer(t *testing.T) {
	from, to := end{height: 40, width: 56}, end{height: 64, width: 48}
	src := latent.New(1, 3, from.height, from.width)
	latent.NewStream(1, "planes").Fill(src)
	want, got := latent.New(1, 3, to.height, to.width), latent.New(1, 3, to.height, to.width)
	r, err := latent.NewResizer(from.height, from.width, to.height, to.width, bridgeFilter)
	if err != nil {
		t.Fatal(err)
	}
	if err := r.Resize(want, src); err != nil {
		t.Fatal(err)
	}
	p, err := newPlaneResizer(from, to)
	if err != nil {
		t.Fatal(err)
	}
	if err := p.resize(got, src); err != nil {
		t.Fatal(err)
	}
	for i := range want.Data {
		if got.Data[i] != want.Data[i] {
			t.Fatalf("element %d: %v concurrently, %v with one resizer", i, got.Data[i], want.Data[i])
		}
	}
	if err := p.resize(latent.New(1, 1, to.height, to.width), latent.New(1, 1, from.height, from.width)); err == nil {
		t.Error("a one-channel image was resized as three planes")
	}
}

// BenchmarkEntryResize is the resize of the single-pass super-resolution
// entry, 256 to 512 px, with one resizer and with the planes resized
// concurrently (what the stage-entry bridges do).
func BenchmarkEntryResize(b *testing.B) {
	from, to := end{height: 256, width: 256}, end{height: 512, width: 512}
	src, dst := latent.New(1, 3, 256, 256), latent.New(1, 3, 512, 512)
	latent.NewStream(1, "resize").Fill(src)
	b.Run("one-resizer", func(b *testing.B) {
		r, err := latent.NewResizer(256, 256, 512, 512, bridgeFilter)
		if err != nil {
			b.Fatal(err)
		}
		for b.Loop() {
			if err := r.Resize(dst, src); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("planes-concurrently", func(b *testing.B) {
		p, err := newPlaneResizer(from, to)
		if err != nil {
			b.Fatal(err)
		}
		for b.Loop() {
			if err := p.resize(dst, src); err != nil {
				b.Fatal(err)
			}
		}
	})
}
