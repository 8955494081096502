package coop

import (
	"context"
	"fmt"
	"math"
	"time"

	"github.com/coop-diffusion/coop/adapters"
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
	// latent.LoadImage when nil.
	LoadImage func(path string) (*latent.Tensor, error)
	// OnEnter, when set, sees each stage's entry: the primary's VP latent z
	// at the first step, its clean estimate x0 and the noise level. Tests
	// use it to check that the resolution bridge keeps the noise white.
	OnEnter func(stage int, z, x0 *latent.Tensor, abar float64)
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
	Step  int
	Model string
	What  string
}

func (e *NonFiniteError) Error() string {
	return fmt.Sprintf("stage %s, step %d: %s of model %s contains NaN or Inf; stopping (no image written)", e.Stage, e.Step, e.What, e.Model)
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

// Run executes plan and decodes the final latent.
func (e *Engine) Run(ctx context.Context, plan *graphs.Plan) (*Result, error) {
	if err := plan.Validate(); err != nil {
		return nil, err
	}
	start := time.Now()
	r := &run{engine: e, plan: plan, rec: newRecorder(), conds: map[condKey]*adapters.Conditioning{}, images: map[imageKey]*latent.Tensor{}}
	r.bridges = &bridges{m: map[[2]string]*pixelBridge{}, rec: r.rec}
	for i, st := range plan.Stages {
		if err := r.stage(ctx, i, st); err != nil {
			return nil, err
		}
	}
	last := r.carry
	img := latent.New(1, 3, last.end.height, last.end.width)
	t0 := time.Now()
	if err := last.end.model.VAE.Decode(ctx, last.final, img); err != nil {
		return nil, fmt.Errorf("decoding the result with %s: %w", last.end.model.Name, err)
	}
	r.rec.bridge(last.end.model.Name, "image", "decode", 1, 0, time.Since(t0))
	if !finite(img.Data) {
		return nil, &NonFiniteError{Stage: plan.Stages[len(plan.Stages)-1].Name, Step: last.steps, Model: last.end.model.Name, What: "the decoded image"}
	}
	calls := map[string]int{}
	for name, m := range e.Models {
		if m.Denoiser != nil {
			calls[name] = m.Denoiser.Calls()
		}
	}
	return &Result{Image: img, Latent: last.final, Report: r.rec.report(calls, time.Since(start))}, nil
}

// run is the state of one Engine.Run.
type run struct {
	engine  *Engine
	plan    *graphs.Plan
	rec     *recorder
	bridges *bridges
	conds   map[condKey]*adapters.Conditioning
	images  map[imageKey]*latent.Tensor
	carry   *handover
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

type imageKey struct {
	path          string
	height, width int
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
	c, err := m.Text.Encode(ctx, p.Prompt)
	if err != nil {
		return nil, fmt.Errorf("encoding the prompt for %s: %w", m.Name, err)
	}
	cc := *c
	cc.Guidance = p.Guidance
	r.conds[key] = &cc
	return &cc, nil
}

// image loads an image resized to the given pixel size, once per run.
func (r *run) image(path string, height, width int) (*latent.Tensor, error) {
	key := imageKey{path, height, width}
	if t, ok := r.images[key]; ok {
		return t, nil
	}
	load := r.engine.LoadImage
	if load == nil {
		load = latent.LoadImage
	}
	src, err := load(path)
	if err != nil {
		return nil, err
	}
	t := src
	if src.H() != height || src.W() != width {
		t = latent.New(1, 3, height, width)
		if err := latent.Resize(t, src, latent.Lanczos3); err != nil {
			return nil, fmt.Errorf("%s: %w", path, err)
		}
	}
	r.images[key] = t
	return t, nil
}

// trajectory is one participant's own path through the stage: the primary
// always has one; a foreign participant (another space or size) keeps its
// own while active.
type trajectory struct {
	p       *graphs.Participant
	model   *Model
	end     end
	cond    *adapters.Conditioning
	smp     sampler.Sampler
	x, z    *latent.Tensor // sampler state and model input
	eps     *latent.Tensor // the model's prediction in its own space
	x0      *latent.Tensor // clean-latent scratch in its own space
	carried *latent.Tensor // the fused prediction carried into its space
	// lastCarried is its latest prediction carried into the primary space,
	// reused between bridged steps when Bridge.Every > 1.
	lastCarried *latent.Tensor
	shared      bool // same space and size as the primary: predicts on its z
	live        bool // the trajectory is in step with the primary
	// toPrimary and fromPrimary are the bridges of a foreign participant.
	toPrimary, fromPrimary *pixelBridge
	controls               []stageControl
	req                    adapters.Request
	lastBridge             int // step of the last carried prediction (Bridge.Every)
}

type stageControl struct {
	spec graphs.Control
	ctl  adapters.Control
}

func (r *run) stage(ctx context.Context, si int, st *graphs.Stage) error {
	stageStart := time.Now()
	prim := st.Primary()
	pm, err := r.model(prim.Model)
	if err != nil {
		return err
	}
	if pm.Denoiser == nil || pm.VAE == nil {
		return fmt.Errorf("stage %s: model %s cannot be a primary participant (it has no denoiser and autoencoder)", st.Name, pm.Name)
	}
	primEnd := end{model: pm, height: st.Height, width: st.Width}
	shape, err := primEnd.latentShape()
	if err != nil {
		return fmt.Errorf("stage %s: %w", st.Name, err)
	}

	trajs := make([]*trajectory, len(st.Participants))
	for j, p := range st.Participants {
		m, err := r.model(p.Model)
		if err != nil {
			return fmt.Errorf("stage %s: %w", st.Name, err)
		}
		if m.Denoiser == nil || m.VAE == nil {
			return fmt.Errorf("stage %s: model %s cannot be a participant (it has no denoiser and autoencoder)", st.Name, m.Name)
		}
		h, w := p.Height, p.Width
		if h == 0 || w == 0 {
			h, w = st.Height, st.Width
		}
		tj := &trajectory{p: p, model: m, end: end{model: m, height: h, width: w}}
		tj.shared = j == 0 || sameSpace(tj.end, primEnd)
		if tj.cond, err = r.conditioning(ctx, m, p); err != nil {
			return fmt.Errorf("stage %s: %w", st.Name, err)
		}
		for _, c := range p.Controls {
			cm, err := r.model(c.Model)
			if err != nil {
				return fmt.Errorf("stage %s: %w", st.Name, err)
			}
			if cm.ControlNet == nil {
				return fmt.Errorf("stage %s: model %s is not a ControlNet", st.Name, cm.Name)
			}
			img, err := r.image(c.Image, h, w)
			if err != nil {
				return fmt.Errorf("stage %s: control %s: %w", st.Name, c.Model, err)
			}
			tj.controls = append(tj.controls, stageControl{spec: c, ctl: adapters.Control{Net: cm.ControlNet, Image: img, Scale: c.Scale}})
		}
		if !tj.shared {
			ts, err := tj.end.latentShape()
			if err != nil {
				return fmt.Errorf("stage %s: %w", st.Name, err)
			}
			tj.x, tj.z, tj.eps, tj.x0 = latent.New(ts...), latent.New(ts...), latent.New(ts...), latent.New(ts...)
			tj.carried = latent.New(ts...)
			tj.lastCarried = latent.New(shape...)
			if tj.toPrimary, err = r.bridges.get(tj.end, primEnd); err != nil {
				return err
			}
			if tj.fromPrimary, err = r.bridges.get(primEnd, tj.end); err != nil {
				return err
			}
		} else {
			tj.eps = latent.New(shape...)
		}
		cfg := st.Config
		cfg.Noise = latent.NewStream(r.plan.Seed, fmt.Sprintf("sampler/stage%d/%s", si, p.Model))
		if tj.smp, err = sampler.New(st.Sampler, cfg); err != nil {
			return fmt.Errorf("stage %s: %w", st.Name, err)
		}
		tj.req.Cond = tj.cond
		tj.req.Height, tj.req.Width = tj.end.height, tj.end.width
		trajs[j] = tj
	}
	pt := trajs[0]
	pt.x, pt.z, pt.x0 = latent.New(shape...), latent.New(shape...), latent.New(shape...)
	pt.live = true
	fused := latent.New(shape...)
	carriedEps := latent.New(shape...)
	plan := pt.smp.Plan()
	if st.End > plan.Len() {
		return fmt.Errorf("stage %s runs to step %d of a %d-step schedule", st.Name, st.End, plan.Len())
	}

	var effnet *latent.Tensor
	if err := r.enter(ctx, si, st, pt, primEnd, plan, &effnet); err != nil {
		return err
	}
	for _, tj := range trajs {
		tj.req.Effnet = effnet
	}
	if r.engine.OnEnter != nil {
		if err := pt.smp.ModelInput(st.First, pt.x, pt.z); err != nil {
			return err
		}
		r.engine.OnEnter(si, pt.z, pt.x0, plan.Steps[st.First].Abar)
	}

	n := st.Steps()
	var weights, next []float64
	for k := 0; k < n; k++ {
		if err := ctx.Err(); err != nil {
			return err
		}
		i := st.First + k
		abar := plan.Steps[i].Abar
		tnorm := NoiseLevel(abar)
		if err := pt.smp.ModelInput(i, pt.x, pt.z); err != nil {
			return err
		}
		latent.Fill(fused, 0)
		weights = st.Weights(k, tnorm, weights)
		for j, tj := range trajs {
			w := weights[j]
			if w <= 0 {
				tj.live = tj.live && j == 0
				continue
			}
			contrib := tj.eps
			if tj.shared {
				if err := r.predict(ctx, st, k, tj, pt.z, abar, tj.eps); err != nil {
					return err
				}
			} else {
				if !tj.live {
					if err := r.join(ctx, si, st, k, i, tj, pt, abar); err != nil {
						return err
					}
				}
				if err := tj.smp.ModelInput(i, tj.x, tj.z); err != nil {
					return err
				}
				every := tj.p.Bridge.Every
				if every <= 1 || k%every == 0 || tj.lastBridge < 0 {
					if err := r.predict(ctx, st, k, tj, tj.z, abar, tj.eps); err != nil {
						return err
					}
					if err := sampler.X0FromEpsilon(tj.z, tj.eps, abar, tj.x0); err != nil {
						return err
					}
					if err := tj.toPrimary.carry(ctx, tj.x0, tj.lastCarried); err != nil {
						return err
					}
					tj.lastBridge = k
				}
				if err := sampler.EpsilonFromX0(pt.z, tj.lastCarried, abar, carriedEps); err != nil {
					return err
				}
				contrib = carriedEps
			}
			latent.Axpby(fused, 1, fused, w, contrib)
		}
		if !finite(fused.Data) {
			return &NonFiniteError{Stage: st.Name, Step: k + 1, Model: pm.Name, What: "the fused prediction"}
		}
		if err := sampler.X0FromEpsilon(pt.z, fused, abar, pt.x0); err != nil {
			return err
		}
		if err := pt.smp.Step(i, pt.x, fused); err != nil {
			return err
		}
		if k+1 < n {
			next = st.Weights(k+1, NoiseLevel(plan.Steps[i+1].Abar), next)
		}
		// Carry the fused prediction back into each foreign participant's
		// space to step its own trajectory, but only for participants that
		// take part in the next step: an inactive one costs nothing and
		// rejoins from the primary when it is active again.
		for j, tj := range trajs {
			if j == 0 || tj.shared || !tj.live {
				continue
			}
			if k+1 >= n || next[j] <= 0 {
				tj.live = false
				continue
			}
			if err := tj.fromPrimary.carry(ctx, pt.x0, tj.carried); err != nil {
				return err
			}
			if err := sampler.EpsilonFromX0(tj.z, tj.carried, abar, tj.eps); err != nil {
				return err
			}
			if err := tj.smp.Step(i, tj.x, tj.eps); err != nil {
				return err
			}
		}
		if r.engine.Progress != nil {
			r.engine.Progress(Event{Stage: st.Name, StageIndex: si, Stages: len(r.plan.Stages), Step: k + 1, Steps: n, Elapsed: time.Since(stageStart)})
		}
	}

	h := &handover{end: primEnd, x0: pt.x0, steps: n}
	if st.End < plan.Len() {
		h.z = latent.New(shape...)
		if err := pt.smp.ModelInput(st.End, pt.x, h.z); err != nil {
			return err
		}
	} else {
		// The schedule is finished: the state is the clean latent (sigma
		// space and VP coincide at noise level 1).
		h.final = pt.x
	}
	r.carry = h
	r.rec.mu.Lock()
	r.rec.stages = append(r.rec.stages, StageReport{Name: st.Name, Entry: string(st.Entry), Steps: n, First: st.First, Time: time.Since(stageStart)})
	r.rec.mu.Unlock()
	return nil
}

// predict asks tj's model for a prediction at latent z, with the controls
// active at step k, and checks it is finite.
func (r *run) predict(ctx context.Context, st *graphs.Stage, k int, tj *trajectory, z *latent.Tensor, abar float64, eps *latent.Tensor) error {
	tj.req.Latent = z
	tj.req.Abar = abar
	tj.req.Controls = tj.req.Controls[:0]
	for _, c := range tj.controls {
		if c.spec.Window.Active(k, st.Steps()) {
			tj.req.Controls = append(tj.req.Controls, c.ctl)
		}
	}
	start := time.Now()
	if err := tj.model.Denoiser.Predict(ctx, &tj.req, eps); err != nil {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		return fmt.Errorf("stage %s, step %d, model %s: %w", st.Name, k+1, tj.model.Name, err)
	}
	r.rec.prediction(tj.model.Name, time.Since(start))
	if !finite(eps.Data) {
		return &NonFiniteError{Stage: st.Name, Step: k + 1, Model: tj.model.Name, What: "the noise prediction"}
	}
	return nil
}

// join starts a foreign participant's trajectory at step i (stage step k).
// At the very start of a fresh stage it starts from the primary's noise
// when the shapes agree, else from its own seeded noise; later it starts
// from the primary's current clean estimate carried into its space and
// re-noised with fresh seeded noise (the IID-preserving rule of the
// resolution bridge).
func (r *run) join(ctx context.Context, si int, st *graphs.Stage, k, i int, tj, pt *trajectory, abar float64) error {
	tj.lastBridge = -1
	if k == 0 && st.Entry == graphs.Fresh && st.First == 0 {
		if tj.x.SameShape(pt.z) {
			latent.NewStream(r.plan.Seed, fmt.Sprintf("init/stage%d", si)).Fill(tj.x)
		} else {
			latent.NewStream(r.plan.Seed, fmt.Sprintf("init/stage%d/%s", si, tj.p.Model)).Fill(tj.x)
		}
		if err := tj.smp.Init(tj.x, tj.x); err != nil {
			return err
		}
	} else {
		if err := tj.fromPrimary.carry(ctx, pt.x0, tj.x0); err != nil {
			return err
		}
		latent.NewStream(r.plan.Seed, fmt.Sprintf("join/stage%d/%s/step%d", si, tj.p.Model, i)).Fill(tj.z)
		if err := sampler.Noised(tj.x0, tj.z, abar, tj.z); err != nil {
			return err
		}
		if err := tj.smp.SetFromModelSpace(i, tj.x, tj.z); err != nil {
			return err
		}
	}
	tj.live = true
	return nil
}

// enter sets the primary trajectory's state at the stage's first step.
func (r *run) enter(ctx context.Context, si int, st *graphs.Stage, pt *trajectory, primEnd end, plan *sampler.Plan, effnet **latent.Tensor) error {
	first := st.First
	switch st.Entry {
	case graphs.Fresh, graphs.Effnet:
		latent.NewStream(r.plan.Seed, fmt.Sprintf("init/stage%d", si)).Fill(pt.x)
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
		if err := pt.model.VAE.Encode(ctx, img, pt.x0); err != nil {
			return fmt.Errorf("img2img: encoding with %s: %w", pt.model.Name, err)
		}
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

func finite(xs []float32) bool {
	for _, v := range xs {
		if math.IsNaN(float64(v)) || math.IsInf(float64(v), 0) {
			return false
		}
	}
	return true
}
