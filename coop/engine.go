package coop

import (
	"context"
	"fmt"
	"reflect"
	"sync"
	"time"

	"github.com/coop-diffusion/coop/adapters"
	"github.com/coop-diffusion/coop/coop/interposer"
	"github.com/coop-diffusion/coop/coop/sampler"
	"github.com/coop-diffusion/coop/graphs"
	"github.com/coop-diffusion/coop/latent"
)

// Model is a loaded model as the engine sees it. Denoising models have a
// Denoiser, a TextEncoder and an Autoencoder (the space their latents live
// in); ControlNets have only ControlNet.
type Model struct {
	Name       string
	Denoiser   adapters.Denoiser
	VAE        adapters.Autoencoder
	Text       adapters.TextEncoder
	ControlNet adapters.ControlNetModel
	// ControlNets, for a unet with ControlNets fused in, holds one per
	// slot in slot order (ControlNet is the first): the k-th control of a
	// participant that names its own model drives slot k.
	ControlNets []adapters.ControlNetModel
	// Sessions, when set, holds the model's ONNX Runtime sessions (the
	// *adapters.Model the parts come from): the engine opens them before
	// the first stage that uses the model, reports the time spent inside
	// ONNX Runtime and, with Engine.Release, closes them after the last
	// stage that uses the model. Without it the engine counts the model's
	// time as its own.
	Sessions Sessions

	// prompts keeps the text encoder's conditioning by prompt across
	// runs, so that a batch of seeds or a sweep encodes each prompt once.
	prompts promptCache
	// bridges keeps the pixel bridges into this model's space between
	// runs.
	bridges bridgePool
	// latents keeps its trajectories' latent buffers between runs.
	latents latentPool
}

// promptCache holds a model's encoded prompts; the entries belong to the
// text encoder they came from and are dropped when Model.Text changes.
type promptCache struct {
	mu   sync.Mutex
	text adapters.TextEncoder
	m    map[adapters.Prompt]*adapters.Conditioning
}

// encode returns p's conditioning, encoding it on first use. ok reports
// whether it was cached.
func (c *promptCache) encode(ctx context.Context, text adapters.TextEncoder, p adapters.Prompt) (cond *adapters.Conditioning, cached bool, err error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.m == nil || !sameEncoder(c.text, text) {
		c.text, c.m = text, map[adapters.Prompt]*adapters.Conditioning{}
	}
	if cond := c.m[p]; cond != nil {
		return cond, true, nil
	}
	cond, err = text.Encode(ctx, p)
	if err != nil {
		return nil, false, err
	}
	c.m[p] = cond
	return cond, false, nil
}

// sameEncoder reports whether a and b are the same text encoder.
func sameEncoder(a, b adapters.TextEncoder) bool { return samePart(a, b) }

// samePart reports whether a and b are the same model part: values of
// one comparable type that are equal (comparing values of a type that
// cannot be compared would panic; such parts are never the same).
func samePart(a, b any) bool {
	return a != nil && b != nil && reflect.TypeOf(a) == reflect.TypeOf(b) && reflect.TypeOf(a).Comparable() && a == b
}

// Event reports progress after each step.
type Event struct {
	Stage      string `json:"stage"`
	StageIndex int    `json:"stage_index"`
	Stages     int    `json:"stages"`
	// Step counts the stage's steps from 1 to Steps.
	Step    int           `json:"step"`
	Steps   int           `json:"steps"`
	Elapsed time.Duration `json:"elapsed_ns"`
}

// Engine runs compiled plans on loaded models.
type Engine struct {
	// Models maps recipe names to loaded models.
	Models map[string]*Model
	// Progress, when set, is called after every step.
	Progress func(Event)
	// LoadImage reads control and img2img images as [1, 3, H, W] in [0, 1];
	// latent.LoadImage when nil. It serves runs without Images, each of
	// which loads its images anew.
	LoadImage func(path string) (*latent.Tensor, error)
	// Images, when set, holds the control and img2img images across the
	// runs that share it (its Load replaces LoadImage).
	Images *ImageCache
	// OnEnter, when set, sees each stage's entry: the primary's VP latent z
	// at the first step, its clean estimate x0 and the noise level. Tests
	// use it to check that the resolution bridge keeps the noise white.
	// z and x0 are the run's buffers, recycled by later runs: copy what
	// must outlive the call.
	OnEnter func(stage int, z, x0 *latent.Tensor, abar float64)
	// Release closes each model's sessions (Model.Sessions) after the
	// last stage that uses it, so that a run whose stages use different
	// models never holds all of them at once. The models cannot run
	// again: set it for the last run of loaded models.
	Release bool
	// Concurrency says when the independent work of a step, each
	// participant's prediction and bridges, runs concurrently: by default
	// when it pays. Every choice gives the same results bit for bit, since
	// each participant writes its own buffers and the fusion sums in
	// participant order.
	Concurrency Concurrency
	// Image, when set and of the result's shape [1, 3, H, W], receives
	// the decoded image in place of a new tensor, and is Result.Image: a
	// caller rendering image after image reuses one buffer instead of
	// having a 3 MiB one (at 512 px) allocated and zeroed for each.
	Image *latent.Tensor
}

// Concurrency says when the participants of a step work concurrently.
type Concurrency int

const (
	// ConcurrentWhenItPays runs a step's participants concurrently when,
	// by the durations of their previous steps, the work that would run
	// beside the longest participant's is a millisecond or more; below
	// that, waking goroutines and Go's scheduling of the models' many
	// short cgo calls cost more than the overlap gains.
	ConcurrentWhenItPays Concurrency = iota
	// AlwaysConcurrent runs every step's participants concurrently.
	AlwaysConcurrent
	// Sequential runs them one after the other.
	Sequential
)

// ParseConcurrency reads "auto" (or ""), "always" or "sequential".
func ParseConcurrency(s string) (Concurrency, error) {
	switch s {
	case "", "auto":
		return ConcurrentWhenItPays, nil
	case "always":
		return AlwaysConcurrent, nil
	case "sequential":
		return Sequential, nil
	}
	return 0, fmt.Errorf("concurrency %q: want auto, always or sequential", s)
}

func (c Concurrency) String() string {
	switch c {
	case ConcurrentWhenItPays:
		return "auto"
	case AlwaysConcurrent:
		return "always"
	case Sequential:
		return "sequential"
	}
	return fmt.Sprintf("Concurrency(%d)", int(c))
}

// Result is a finished run.
type Result struct {
	// Image is [1, 3, H, W] in [0, 1].
	Image *latent.Tensor
	// Latent is the final clean latent in the last stage's space.
	Latent *latent.Tensor
	Report *Report
}

// NonFiniteError reports a NaN or Inf in a model output or a fused
// prediction.
type NonFiniteError struct {
	Stage string
	// Step counts the stage's steps from 1; 0 is the stage's entry (a
	// bridge carrying the previous stage's estimate).
	Step  int
	Model string
	What  string
	// Bridge, for an output of a bridge's decoder or encoder, names the
	// bridge ("xl@1024x1024 -> sd@512x512"); Model is then the model
	// whose autoencoder gave the output.
	Bridge string
}

func (e *NonFiniteError) Error() string {
	where := fmt.Sprintf("stage %s, step %d", e.Stage, e.Step)
	if e.Step == 0 {
		where = fmt.Sprintf("stage %s, on entering it", e.Stage)
	}
	what := fmt.Sprintf("%s of model %s", e.What, e.Model)
	if e.Bridge != "" {
		what += " in the bridge " + e.Bridge
	}
	return fmt.Sprintf("%s: %s contains NaN or Inf; stopping (no image written)", where, what)
}

// atStep sets the stage and step of a NonFiniteError that does not have them
// yet (a bridge's, which does not know where it runs); other errors pass
// unchanged.
func atStep(err error, stage string, step int) error {
	if nf, ok := err.(*NonFiniteError); ok && nf.Stage == "" {
		nf.Stage, nf.Step = stage, step
	}
	return err
}

// timeAxis is the reference for weight curves: the scaled_linear schedule
// of SD and SDXL, so t = 0.5 means timestep 500 whatever the models.
var timeAxis = mustDiscrete()

func mustDiscrete() *sampler.Discrete {
	d, err := sampler.NewDiscrete(sampler.ScaledLinear, 1000, 0.00085, 0.012, false)
	if err != nil {
		panic(err)
	}
	return d
}

// NoiseLevel is the normalised time t in [0, 1] of a noise level abar on
// the reference axis weight curves use.
func NoiseLevel(abar float64) float64 { return timeAxis.AbarToTimestep(abar) / 1000 }

// Run executes plan and decodes the final latent. Each stage first opens
// the sessions of the models it uses (see Model.Sessions). A context
// already cancelled opens nothing.
func (e *Engine) Run(ctx context.Context, plan *graphs.Plan) (*Result, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if err := plan.Validate(); err != nil {
		return nil, err
	}
	start := time.Now()
	r := &run{engine: e, plan: plan, rec: newRecorder(), lastUse: plan.LastUse(),
		conds: map[condKey]*adapters.Conditioning{}, images: e.Images}
	if r.images == nil {
		r.images = &ImageCache{Load: e.LoadImage}
	}
	r.bridges = &bridges{m: map[[2]string]*pixelBridge{}, rec: r.rec}
	defer r.bridges.release()
	defer r.latents.release()
	r.beginUsage()
	var img *latent.Tensor
	for i, st := range plan.Stages {
		// Opening a large model takes seconds that ONNX Runtime cannot
		// interrupt: do not start one after a cancellation.
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		if err := r.open(i); err != nil {
			return nil, err
		}
		if err := r.stage(ctx, i, st); err != nil {
			return nil, err
		}
		if i == len(plan.Stages)-1 {
			var err error
			if img, err = r.decode(ctx); err != nil {
				return nil, err
			}
		}
		if e.Release {
			if err := r.release(i); err != nil {
				return nil, err
			}
		}
	}
	for name := range r.usage {
		r.endUsage(name)
	}
	rep := r.rec.report(r.usage, time.Since(start), r.concurrent)
	r.latents.keep(r.carry.final)
	return &Result{Image: img, Latent: r.carry.final, Report: rep}, nil
}

// decode decodes the last stage's final latent into the image.
func (r *run) decode(ctx context.Context) (*latent.Tensor, error) {
	last := r.carry
	m := last.end.model
	h, w := last.end.height, last.end.width
	img := r.engine.Image
	if img == nil || len(img.Shape) != 4 || img.N() != 1 || img.C() != 3 || img.H() != h || img.W() != w || len(img.Data) != 3*h*w {
		img = latent.New(1, 3, h, w)
	}
	var clock ortClock
	t0, ort0 := time.Now(), clock.read(m.VAE)
	// An autoencoder in [-1, 1] that can leave its pixels there lets the
	// conversion to [0, 1] and the finiteness check share one pass over
	// the image.
	raw, signed := m.VAE.(adapters.RawPixels)
	signed = signed && m.VAE.Space().PixelRange == latent.MinusOneToOne
	var err error
	if signed {
		err = raw.DecodeRaw(ctx, last.final, img)
	} else {
		err = m.VAE.Decode(ctx, last.final, img)
	}
	if err != nil {
		return nil, fmt.Errorf("decoding the result with %s: %w", m.Name, err)
	}
	d := time.Since(t0)
	r.rec.call(d)
	r.rec.bridge(m.Name, "image", "decode", 1, 0, d, clock.read(m.VAE)-ort0)
	var ok bool
	if signed {
		ok = toUnitRangeFinite(img.Data)
	} else {
		ok = finite(img.Data)
	}
	if !ok {
		return nil, &NonFiniteError{Stage: r.plan.Stages[len(r.plan.Stages)-1].Name, Step: last.steps, Model: m.Name, What: "the decoded image"}
	}
	return img, nil
}

// run is the state of one Engine.Run.
type run struct {
	engine  *Engine
	plan    *graphs.Plan
	rec     *recorder
	bridges *bridges
	conds   map[condKey]*adapters.Conditioning
	images  *ImageCache
	// latents are the pooled buffers the run has taken (runLatents).
	latents runLatents
	carry   *handover
	// lastUse maps each model the plan uses to its last stage; usage
	// holds their counters.
	lastUse map[string]int
	usage   map[string]*modelUsage
	// concurrent is set once a step has run participants concurrently.
	concurrent bool
	// interposers are the latent interposers the plan names, by path.
	interposers map[string]*interposer.Interposer
	// noise, when set, holds the current stage's initial noise for the
	// foreign participants of its shape that start from it (join):
	// drawing it costs as much as a fixture step, copying it next to
	// nothing.
	noise *latent.Tensor
}

// interposer loads the interposer file at path once per run and checks
// that it maps from's latent space to to's.
func (r *run) interposer(path string, from, to end) (*interposer.Interposer, error) {
	ip, ok := r.interposers[path]
	if !ok {
		var err error
		if ip, err = interposer.Load(path); err != nil {
			return nil, err
		}
		if r.interposers == nil {
			r.interposers = map[string]*interposer.Interposer{}
		}
		r.interposers[path] = ip
	}
	if err := ip.CheckSpaces(from.model.VAE.Space(), to.model.VAE.Space()); err != nil {
		return nil, fmt.Errorf("interposer %s for the bridge %s -> %s: %w", path, from, to, err)
	}
	return ip, nil
}

// handover is what a stage leaves for the next one.
type handover struct {
	end end
	// z is the VP latent at the stage's End step (the next stage's First),
	// nil when the stage ran to the end of its schedule.
	z *latent.Tensor
	// x0 is the last clean-latent estimate; final is the clean latent when
	// the schedule is finished.
	x0, final *latent.Tensor
	steps     int
}

type condKey struct {
	model    string
	prompt   adapters.Prompt
	guidance float64
}

func (r *run) model(name string) (*Model, error) {
	m := r.engine.Models[name]
	if m == nil {
		return nil, fmt.Errorf("model %q is not loaded", name)
	}
	return m, nil
}

func (r *run) conditioning(ctx context.Context, m *Model, p *graphs.Participant) (*adapters.Conditioning, error) {
	key := condKey{m.Name, p.Prompt, p.Guidance}
	if c, ok := r.conds[key]; ok {
		return c, nil
	}
	if m.Text == nil {
		return nil, fmt.Errorf("model %s has no text encoder", m.Name)
	}
	start := time.Now()
	c, cached, err := m.prompts.encode(ctx, m.Text, p.Prompt)
	if err != nil {
		return nil, fmt.Errorf("encoding the prompt for %s: %w", m.Name, err)
	}
	if !cached {
		r.rec.text(m.Name, time.Since(start))
	}
	cc := *c
	cc.Guidance = p.Guidance
	r.conds[key] = &cc
	return &cc, nil
}

// image returns an image resized to the given pixel size from the
// engine's ImageCache, or from the run's own when it has none.
func (r *run) image(path string, height, width int) (*latent.Tensor, error) {
	return r.images.image(path, height, width)
}

// enter sets the primary trajectory's state at the stage's first step.
func (r *run) enter(ctx context.Context, si int, st *graphs.Stage, pt *trajectory, primEnd end, plan *sampler.Plan, effnet **latent.Tensor) error {
	first := st.First
	switch st.Entry {
	case graphs.Fresh, graphs.Effnet:
		latent.NewStream(r.plan.Seed, fmt.Sprintf("init/stage%d", si)).Fill(pt.x)
		if r.noise != nil {
			r.noise.CopyFrom(pt.x)
		}
		if first == 0 {
			if err := pt.smp.Init(pt.x, pt.x); err != nil {
				return err
			}
		} else if err := pt.smp.SetFromModelSpace(first, pt.x, pt.x); err != nil {
			return err
		}
		if st.Entry == graphs.Effnet {
			if r.carry == nil || r.carry.final == nil {
				return fmt.Errorf("stage %s: the previous stage must finish its schedule to condition stage B", st.Name)
			}
			*effnet = r.carry.final
		}
		pt.x0.CopyFrom(pt.x)
	case graphs.Img2Img:
		in := r.plan.Img2Img
		if in == nil {
			return fmt.Errorf("stage %s enters by img2img but the plan has no input image", st.Name)
		}
		img, err := r.image(in.Image, st.Height, st.Width)
		if err != nil {
			return fmt.Errorf("img2img: %w", err)
		}
		t0 := time.Now()
		if err := pt.model.VAE.Encode(ctx, img, pt.x0); err != nil {
			return fmt.Errorf("img2img: encoding with %s: %w", pt.model.Name, err)
		}
		r.rec.call(time.Since(t0))
		latent.NewStream(r.plan.Seed, "img2img").Fill(pt.z)
		if err := sampler.Noised(pt.x0, pt.z, plan.Steps[first].Abar, pt.z); err != nil {
			return err
		}
		if err := pt.smp.SetFromModelSpace(first, pt.x, pt.z); err != nil {
			return err
		}
	case graphs.Continue:
		c := r.carry
		if c == nil || c.z == nil {
			return fmt.Errorf("stage %s continues a trajectory but the previous stage finished its schedule", st.Name)
		}
		if !c.z.SameShape(pt.x) {
			return fmt.Errorf("stage %s continues the trajectory of %s but its latent is %v, not %v", st.Name, c.end.model.Name, pt.x.Shape, c.z.Shape)
		}
		pt.x0.CopyFrom(c.x0)
		if err := pt.smp.SetFromModelSpace(first, pt.x, c.z); err != nil {
			return err
		}
	case graphs.Renoise:
		c := r.carry
		if c == nil {
			return fmt.Errorf("stage %s has no previous stage to take over from", st.Name)
		}
		b, err := r.bridges.get(c.end, primEnd)
		if err != nil {
			return err
		}
		if err := b.carry(ctx, c.x0, pt.x0); err != nil {
			return err
		}
		latent.NewStream(r.plan.Seed, fmt.Sprintf("renoise/stage%d", si)).Fill(pt.z)
		if err := sampler.Noised(pt.x0, pt.z, plan.Steps[first].Abar, pt.z); err != nil {
			return err
		}
		if err := pt.smp.SetFromModelSpace(first, pt.x, pt.z); err != nil {
			return err
		}
	case graphs.Naive:
		c := r.carry
		if c == nil || c.z == nil {
			return fmt.Errorf("stage %s has no noisy latent to take over", st.Name)
		}
		if c.z.C() != pt.z.C() {
			return fmt.Errorf("stage %s: the naive transition resizes the noisy latent itself and needs equal channel counts (%d vs %d); use renoise", st.Name, c.z.C(), pt.z.C())
		}
		if err := latent.Resize(pt.z, c.z, latent.Bilinear); err != nil {
			return err
		}
		// The clean estimate still crosses the pixel bridge: participants
		// joining later start from it, and it is what the noise part of
		// the naive latent is measured against.
		b, err := r.bridges.get(c.end, primEnd)
		if err != nil {
			return err
		}
		if err := b.carry(ctx, c.x0, pt.x0); err != nil {
			return err
		}
		if err := pt.smp.SetFromModelSpace(first, pt.x, pt.z); err != nil {
			return err
		}
	default:
		return fmt.Errorf("stage %s: unknown entry %q", st.Name, st.Entry)
	}
	return nil
}
