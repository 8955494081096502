package coop

import (
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/coop-diffusion/coop/adapters"
	"github.com/coop-diffusion/coop/coop/sampler"
	"github.com/coop-diffusion/coop/graphs"
	"github.com/coop-diffusion/coop/latent"
)

// trajectory is one participant's own path through the stage: the primary
// always has one; a foreign participant (another space or size) keeps its
// own while active. All its buffers are its own, so participants can
// predict concurrently.
type trajectory struct {
	p     *graphs.Participant
	model *Model
	end   end
	cond  *adapters.Conditioning
	smp   sampler.Sampler
	x, z  *latent.Tensor // sampler state and model input
	// in is the model input of the step being run, set by modelInput:
	// z, or x itself where the two coincide.
	in  *latent.Tensor
	eps *latent.Tensor // the model's prediction in its own space
	x0  *latent.Tensor // clean-latent scratch in its own space
	// carried is the fused clean estimate carried into its space.
	carried *latent.Tensor
	// lastCarried is its latest clean estimate carried into the primary
	// space, reused between bridged steps when Bridge.Every > 1, and
	// carriedEps the epsilon it gives at the primary's latent.
	lastCarried, carriedEps *latent.Tensor
	// contrib is what the participant adds to this step's fusion.
	contrib *latent.Tensor
	shared  bool // same space and size as the primary: predicts on its z
	live    bool // the trajectory is in step with the primary
	// toPrimary and fromPrimary are the bridges of a foreign participant.
	toPrimary, fromPrimary *pixelBridge
	controls               []stageControl
	req                    adapters.Request
	// every is Bridge.Every (at least 1); lastBridge the stage step of
	// the last carried prediction, -1 before the first.
	every, lastBridge int
	// behind is set when the trajectory rests at schedule step restStep
	// (its VP latent in z, at noise level restAbar) and must take up the
	// fused estimate before it predicts again.
	behind   bool
	restStep int
	restAbar float64

	clock ortClock
	// The last task's outcome: its error, wall time and time inside ONNX
	// Runtime.
	err       error
	wall, ort time.Duration
	// lastWall is the wall time of its last task of each kind (taskKind).
	lastWall [2]time.Duration
	// wake starts a task on the trajectory's worker; nil when its tasks
	// run on the stage's goroutine.
	wake chan struct{}
}

type stageControl struct {
	spec graphs.Control
	ctl  adapters.Control
}

// stageRun is one stage in progress.
type stageRun struct {
	r       *run
	si      int
	st      *graphs.Stage
	plan    *sampler.Plan
	primEnd end
	trajs   []*trajectory
	pt      *trajectory // trajs[0], the primary
	fused   *latent.Tensor
	weights []float64
	next    []float64
	// activeW and activeC are the weights and contributions fused at the
	// current step, in participant order.
	activeW []float64
	activeC [][]float32
	// The step being run, read by the tasks: the stage's step k, the
	// schedule's step i and its noise level.
	k, i int
	abar float64
	// foreign is set when a participant lives in another space or size.
	foreign bool
	// done receives one value per finished worker task.
	done chan struct{}
	// parts are the distinct model parts the stage's tasks run, and
	// clock reads their time inside ONNX Runtime around each step.
	parts []any
	clock ortClock
}

func (r *run) stage(ctx context.Context, si int, st *graphs.Stage) error {
	stageStart := time.Now()
	s, err := r.newStage(ctx, si, st)
	if err != nil {
		return err
	}
	defer s.stop()
	n := st.Steps()
	for k := 0; k < n; k++ {
		if err := s.step(ctx, k); err != nil {
			return err
		}
		if r.engine.Progress != nil {
			r.engine.Progress(Event{Stage: st.Name, StageIndex: si, Stages: len(r.plan.Stages), Step: k + 1, Steps: n, Elapsed: time.Since(stageStart)})
		}
	}

	pt := s.pt
	h := &handover{end: s.primEnd, x0: pt.x0, steps: n}
	if st.End < s.plan.Len() {
		h.z = r.latents.take(pt.model, pt.x.Shape...)
		if err := pt.smp.ModelInput(st.End, pt.x, h.z); err != nil {
			return err
		}
	} else {
		// The schedule is finished: the state is the clean latent (sigma
		// space and VP coincide at noise level 1).
		h.final = pt.x
	}
	r.carry = h
	r.rec.stage(StageReport{Name: st.Name, Entry: string(st.Entry), Steps: n, First: st.First, Time: time.Since(stageStart)})
	return nil
}

// newStage prepares the stage's trajectories, enters it and starts the
// workers that run participants concurrently.
func (r *run) newStage(ctx context.Context, si int, st *graphs.Stage) (*stageRun, error) {
	prim := st.Primary()
	pm, err := r.model(prim.Model)
	if err != nil {
		return nil, err
	}
	if pm.Denoiser == nil || pm.VAE == nil {
		return nil, fmt.Errorf("stage %s: model %s cannot be a primary participant (it has no denoiser and autoencoder)", st.Name, pm.Name)
	}
	s := &stageRun{r: r, si: si, st: st, primEnd: end{model: pm, height: st.Height, width: st.Width}}
	shape, err := s.primEnd.latentShape()
	if err != nil {
		return nil, fmt.Errorf("stage %s: %w", st.Name, err)
	}

	s.trajs = make([]*trajectory, len(st.Participants))
	for j, p := range st.Participants {
		tj, err := s.trajectory(ctx, si, j, p, shape)
		if err != nil {
			return nil, err
		}
		s.trajs[j] = tj
	}
	pt := s.trajs[0]
	s.pt = pt
	take := func(shape []int) *latent.Tensor { return r.latents.take(pm, shape...) }
	pt.x, pt.z, pt.x0 = take(shape), take(shape), take(shape)
	pt.live = true
	s.fused = take(shape)
	s.plan = pt.smp.Plan()
	if st.End > s.plan.Len() {
		return nil, fmt.Errorf("stage %s runs to step %d of a %d-step schedule", st.Name, st.End, s.plan.Len())
	}

	for _, tj := range s.trajs {
		s.foreign = s.foreign || !tj.shared
	}
	r.noise = nil
	if s.foreign && st.Entry == graphs.Fresh && st.First == 0 {
		r.noise = take(shape) // enter fills it
	}
	var effnet *latent.Tensor
	if err := r.enter(ctx, si, st, pt, s.primEnd, s.plan, &effnet); err != nil {
		return nil, atStep(err, st.Name, 0)
	}
	for _, tj := range s.trajs {
		tj.req.Effnet = effnet
	}
	if r.engine.OnEnter != nil {
		if err := pt.smp.ModelInput(st.First, pt.x, pt.z); err != nil {
			return nil, err
		}
		r.engine.OnEnter(si, pt.z, pt.x0, s.plan.Steps[st.First].Abar)
	}

	s.parts = stageParts(s.trajs, pm)
	if r.engine.Concurrency != Sequential && len(s.trajs) > 1 {
		// Every participant has a worker; in a concurrent step the one
		// expected to take longest runs on this goroutine instead (see
		// lead).
		s.done = make(chan struct{}, len(s.trajs))
		for _, tj := range s.trajs {
			tj.wake = make(chan struct{})
			go s.worker(ctx, tj, tj.wake)
		}
	}
	return s, nil
}

// trajectory prepares participant j of the stage.
func (s *stageRun) trajectory(ctx context.Context, si, j int, p *graphs.Participant, shape []int) (*trajectory, error) {
	r, st := s.r, s.st
	m, err := r.model(p.Model)
	if err != nil {
		return nil, fmt.Errorf("stage %s: %w", st.Name, err)
	}
	if m.Denoiser == nil || m.VAE == nil {
		return nil, fmt.Errorf("stage %s: model %s cannot be a participant (it has no denoiser and autoencoder)", st.Name, m.Name)
	}
	h, w := p.Height, p.Width
	if h == 0 || w == 0 {
		h, w = st.Height, st.Width
	}
	tj := &trajectory{p: p, model: m, end: end{model: m, height: h, width: w}, every: max(p.Bridge.Every, 1), lastBridge: -1}
	tj.shared = j == 0 || sameSpace(tj.end, s.primEnd)
	if tj.cond, err = r.conditioning(ctx, m, p); err != nil {
		return nil, fmt.Errorf("stage %s: %w", st.Name, err)
	}
	fused := 0 // controls driving the participant's own fused slots
	for _, c := range p.Controls {
		cm, err := r.model(c.Model)
		if err != nil {
			return nil, fmt.Errorf("stage %s: %w", st.Name, err)
		}
		if cm.ControlNet == nil {
			return nil, fmt.Errorf("stage %s: model %s is not a ControlNet", st.Name, cm.Name)
		}
		net := cm.ControlNet
		if slices.ContainsFunc(m.ControlNets, func(slot adapters.ControlNetModel) bool { return samePart(slot, net) }) {
			// A ControlNet fused into the participant's unet: each
			// control takes the next slot, with its own image and scale.
			if fused >= len(m.ControlNets) {
				return nil, fmt.Errorf("stage %s: model %s has %d ControlNet slots fused into its unet and participant %s names %d controls of them", st.Name, m.Name, len(m.ControlNets), p.Model, fused+1)
			}
			net = m.ControlNets[fused]
			fused++
		}
		img, err := r.image(c.Image, h, w)
		if err != nil {
			return nil, fmt.Errorf("stage %s: control %s: %w", st.Name, c.Model, err)
		}
		tj.controls = append(tj.controls, stageControl{spec: c, ctl: adapters.Control{Net: net, Image: img, Scale: c.Scale}})
	}
	take := func(shape []int) *latent.Tensor { return r.latents.take(m, shape...) }
	if tj.shared {
		tj.eps = take(shape)
	} else {
		ts, err := tj.end.latentShape()
		if err != nil {
			return nil, fmt.Errorf("stage %s: %w", st.Name, err)
		}
		tj.x, tj.z, tj.eps, tj.x0, tj.carried = take(ts), take(ts), take(ts), take(ts), take(ts)
		tj.lastCarried, tj.carriedEps = take(shape), take(shape)
		if tj.toPrimary, err = r.bridges.take(tj.end, s.primEnd, false); err != nil {
			return nil, err
		}
		if tj.fromPrimary, err = r.bridges.take(s.primEnd, tj.end, false); err != nil {
			return nil, err
		}
		if p.Bridge.Interposer != "" {
			if tj.toPrimary.ip, err = r.interposer(p.Bridge.Interposer, tj.end, s.primEnd); err != nil {
				return nil, fmt.Errorf("stage %s, participant %s: %w", st.Name, p.Model, err)
			}
		}
		if p.Bridge.Back != "" {
			if tj.fromPrimary.ip, err = r.interposer(p.Bridge.Back, s.primEnd, tj.end); err != nil {
				return nil, fmt.Errorf("stage %s, participant %s: %w", st.Name, p.Model, err)
			}
		}
	}
	cfg := st.Config
	cfg.Noise = latent.NewStream(r.plan.Seed, fmt.Sprintf("sampler/stage%d/%s", si, p.Model))
	cfg.Scratch = r.latents.scratch(m)
	if tj.smp, err = sampler.New(st.Sampler, cfg); err != nil {
		return nil, fmt.Errorf("stage %s: %w", st.Name, err)
	}
	tj.req.Cond = tj.cond
	tj.req.Height, tj.req.Width = tj.end.height, tj.end.width
	return tj, nil
}

// stageParts lists the distinct model parts that the stage's steps run:
// every participant's denoiser, autoencoder and ControlNets, and the
// primary's autoencoder.
func stageParts(trajs []*trajectory, primary *Model) []any {
	var parts []any
	add := func(p any) {
		if _, ok := p.(adapters.Timed); !ok {
			return
		}
		if !slices.ContainsFunc(parts, func(q any) bool { return samePart(q, p) }) {
			parts = append(parts, p)
		}
	}
	add(primary.VAE)
	for _, tj := range trajs {
		add(tj.model.Denoiser)
		add(tj.model.VAE)
		for _, c := range tj.controls {
			add(c.ctl.Net)
		}
	}
	return parts
}

// ortTime is the stage's parts' total time inside ONNX Runtime.
func (s *stageRun) ortTime() time.Duration {
	var d time.Duration
	for _, p := range s.parts {
		d += s.clock.read(p)
	}
	return d
}

func (s *stageRun) worker(ctx context.Context, tj *trajectory, wake <-chan struct{}) {
	for range wake {
		s.task(ctx, tj)
		s.done <- struct{}{}
	}
}

// stop ends the workers; no task is running when it is called.
func (s *stageRun) stop() {
	for _, tj := range s.trajs {
		if tj.wake != nil {
			close(tj.wake)
			tj.wake = nil
		}
	}
}

// step runs stage step k: every active participant's contribution
// (concurrently on the workers beside the lead's, or one after the other
// starting with the lead's), the fusion in participant order, the
// primary's sampler step.
func (s *stageRun) step(ctx context.Context, k int) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	st, pt := s.st, s.pt
	i := st.First + k
	abar := s.plan.Steps[i].Abar
	if err := pt.modelInput(i); err != nil {
		return err
	}
	s.weights = st.Weights(k, NoiseLevel(abar), s.weights)
	s.k, s.i, s.abar = k, i, abar

	for j, tj := range s.trajs {
		tj.contrib, tj.err, tj.wall, tj.ort = nil, nil, 0, 0
		if s.weights[j] <= 0 {
			tj.live = tj.live && j == 0
		}
	}
	var ort0 time.Duration
	concurrent := s.concurrentNow()
	dispatched, lead := 0, -1
	if concurrent {
		ort0 = s.ortTime()
		lead = s.lead()
		for j, tj := range s.trajs {
			if s.weights[j] > 0 && j != lead {
				tj.wake <- struct{}{}
				dispatched++
			}
		}
	}
	if concurrent {
		s.task(ctx, s.trajs[lead])
	} else {
		// The longest task first: the shorter ones' results are then
		// still in the cache when the fusion reads them (a foreign
		// participant's bridges pass megabytes of pixels through it).
		// The order changes no result: each task writes its own buffers
		// and the fusion adds in participant order.
		lead = s.lead()
		s.task(ctx, s.trajs[lead])
		for j, tj := range s.trajs {
			if s.weights[j] > 0 && j != lead {
				s.task(ctx, tj)
			}
		}
	}
	for n := dispatched; n > 0; n-- {
		<-s.done
	}
	for j, tj := range s.trajs {
		if s.weights[j] > 0 && tj.err != nil {
			return tj.err
		}
	}
	if concurrent {
		s.r.concurrent = true
		s.accountOverlap(s.ortTime() - ort0)
	}

	s.activeW, s.activeC = s.activeW[:0], s.activeC[:0]
	var only *trajectory
	for j, tj := range s.trajs {
		if w := s.weights[j]; w > 0 {
			s.activeW = append(s.activeW, w)
			s.activeC = append(s.activeC, tj.contrib.Data)
			only = tj
		}
	}
	fused := s.fused
	if len(s.activeW) == 1 && s.activeW[0] == 1 {
		// A lone participant's contribution is the fused prediction
		// (fuse would copy it unchanged); a prediction in the primary's
		// space was checked when it was made.
		fused = only.contrib
		if !only.shared && !finite(fused.Data) {
			return &NonFiniteError{Stage: st.Name, Step: k + 1, Model: pt.model.Name, What: "the fused prediction"}
		}
	} else if !fuse(fused.Data, s.activeW, s.activeC) {
		return &NonFiniteError{Stage: st.Name, Step: k + 1, Model: pt.model.Name, What: "the fused prediction"}
	}
	// The clean estimate is read by foreign participants (catching up,
	// joining) and handed to the next stage; a stage without them needs
	// it after its last step only.
	n := st.Steps()
	if s.foreign || k+1 == n {
		if err := sampler.X0FromEpsilon(pt.in, fused, abar, pt.x0); err != nil {
			return err
		}
	}
	if err := pt.smp.Step(i, pt.x, fused); err != nil {
		return err
	}

	// A foreign participant that takes part in the next step rests here
	// and takes up the fused estimate before it next predicts; one that
	// does not drops out and rejoins from the primary when it is active
	// again.
	if k+1 < n {
		s.next = st.Weights(k+1, NoiseLevel(s.plan.Steps[i+1].Abar), s.next)
	}
	for j, tj := range s.trajs {
		if tj.shared || !tj.live {
			continue
		}
		if k+1 >= n || s.next[j] <= 0 {
			tj.live = false
			continue
		}
		if tj.lastBridge == k {
			tj.behind, tj.restStep, tj.restAbar = true, i, abar
		}
	}
	return nil
}

// minConcurrentWork is the work that must run beside a step's longest
// task for ConcurrentWhenItPays to run the step's tasks concurrently.
// Waking a worker takes tens of microseconds, and with the models' many
// short cgo calls on two goroutines Go's scheduler adds more: on the
// fixture zoo's 0.1 ms unets two concurrent predictions took longer than
// one after the other (docs/PERFORMANCE.md).
const minConcurrentWork = time.Millisecond

// Below minConcurrentWork a step still runs concurrently when the lead
// task (which runs on the stage's goroutine, see lead) is at least
// leadRatio times the work beside it and that work is at least
// minHiddenWork: the workers then finish well within the lead's task, so
// neither waking them nor waiting for them lies on the step's critical
// path. This is a fusion across latent spaces, where a foreign
// participant's bridges take milliseconds and the primary's prediction a
// fraction of one.
const (
	leadRatio     = 4
	minHiddenWork = 100 * time.Microsecond
)

// concurrentNow decides whether the current step's tasks run concurrently:
// always, never, or when the work they would overlap, judged by each
// active participant's previous task of the same kind, reaches
// minConcurrentWork or hides in the lead task (leadRatio). A participant
// without such a task yet runs the step one after the other, which
// measures it.
func (s *stageRun) concurrentNow() bool {
	if len(s.trajs) < 2 || s.trajs[0].wake == nil {
		return false
	}
	active := 0
	var sum, longest time.Duration
	for j, tj := range s.trajs {
		if s.weights[j] <= 0 {
			continue
		}
		active++
		d := tj.lastWall[tj.taskKind(s.k)]
		if d == 0 && s.r.engine.Concurrency == ConcurrentWhenItPays {
			return false
		}
		sum += d
		longest = max(longest, d)
	}
	if active < 2 {
		return false
	}
	switch s.r.engine.Concurrency {
	case AlwaysConcurrent:
		return true
	case ConcurrentWhenItPays:
		beside := sum - longest
		return beside >= minConcurrentWork || beside >= minHiddenWork && longest >= leadRatio*beside
	}
	return false
}

// modelInput sets tj.in to the VP latent tj's model sees at schedule step
// i. Where the sampler's input scale is 1 (DDIM, DDPM, LCM and every
// sampler on the VP latent itself) that is the state x, which is used as
// it is instead of being copied into z: the step reads tj.in only before
// the sampler moves x. Otherwise ModelInput writes it into z.
func (tj *trajectory) modelInput(i int) error {
	steps := tj.smp.Plan().Steps
	if i >= 0 && i < len(steps) && steps[i].InputScale == 1 {
		tj.in = tj.x
		return nil
	}
	tj.in = tj.z
	return tj.smp.ModelInput(i, tj.x, tj.z)
}

// lead picks the active participant whose task runs on the stage's
// goroutine in a concurrent step: the one whose previous task of the same
// kind took longest (the primary when none has run yet). The others, on
// their workers, then usually finish first, so the stage goroutine rarely
// waits for a worker: waking a parked goroutine costs tens of
// microseconds, and only the wake at the start, which overlaps the lead's
// task, is left on the step's critical path.
func (s *stageRun) lead() int {
	lead := -1
	var longest time.Duration
	for j, tj := range s.trajs {
		if s.weights[j] <= 0 {
			continue
		}
		if d := tj.lastWall[tj.taskKind(s.k)]; lead < 0 || d > longest {
			lead, longest = j, d
		}
	}
	return lead
}

// taskKind tells apart, for the durations concurrentNow judges by, the
// steps at which a foreign participant predicts and bridges (0) from those
// at which it reuses its last carried estimate (1).
func (tj *trajectory) taskKind(k int) int {
	if tj.shared || !tj.live || tj.lastBridge < 0 || k-tj.lastBridge >= tj.every {
		return 0
	}
	return 1
}

// accountOverlap records how much of a concurrent step's time inside ONNX
// Runtime (stepORT, all tasks together) ran beside its critical path: the
// task that took longest.
func (s *stageRun) accountOverlap(stepORT time.Duration) {
	var crit *trajectory
	for j, tj := range s.trajs {
		if s.weights[j] > 0 && (crit == nil || tj.wall > crit.wall) {
			crit = tj
		}
	}
	if d := stepORT - crit.ort; d > 0 {
		s.r.rec.addOverlap(d)
	}
}

// task runs tj's contribution to the current step and times it.
func (s *stageRun) task(ctx context.Context, tj *trajectory) {
	start := time.Now()
	kind := tj.taskKind(s.k)
	var bridged time.Duration
	if !tj.shared {
		bridged = tj.toPrimary.ort + tj.fromPrimary.ort
	}
	tj.err = atStep(s.contribute(ctx, tj), s.st.Name, s.k+1)
	if !tj.shared {
		tj.ort += tj.toPrimary.ort + tj.fromPrimary.ort - bridged
	}
	tj.wall = time.Since(start)
	tj.lastWall[kind] = tj.wall
}

// contribute computes what tj adds to the fusion of the current step, in
// the primary space: its own prediction when it shares the primary's
// space, else its clean estimate carried over (at every Bridge.Every-th
// step; the last carried one in between) and turned into an epsilon at the
// primary's latent.
func (s *stageRun) contribute(ctx context.Context, tj *trajectory) error {
	pt, k, i, abar := s.pt, s.k, s.i, s.abar
	if tj.shared {
		if err := s.predict(ctx, tj, pt.in, tj.eps); err != nil {
			return err
		}
		tj.contrib = tj.eps
		return nil
	}
	if !tj.live {
		if err := s.join(ctx, tj); err != nil {
			return err
		}
	}
	if tj.lastBridge < 0 || k-tj.lastBridge >= tj.every {
		if tj.behind {
			if err := s.catchUp(ctx, tj); err != nil {
				return err
			}
		}
		if err := tj.modelInput(i); err != nil {
			return err
		}
		if err := s.predict(ctx, tj, tj.in, tj.eps); err != nil {
			return err
		}
		if err := sampler.X0FromEpsilon(tj.in, tj.eps, abar, tj.x0); err != nil {
			return err
		}
		if err := tj.toPrimary.carry(ctx, tj.x0, tj.lastCarried); err != nil {
			return err
		}
		tj.lastBridge = k
	}
	if err := sampler.EpsilonFromX0(pt.in, tj.lastCarried, abar, tj.carriedEps); err != nil {
		return err
	}
	tj.contrib = tj.carriedEps
	return nil
}

// catchUp brings a resting foreign trajectory to the current step i,
// starting from the primary's latest fused estimate carried into its
// space. After a rest of one step (bridging every step) it takes the
// sampler's step from its resting latent with the epsilon that estimate
// implies there: the Coop-Diffusion update. After a longer rest (Bridge.Every
// > 1) it moves straight to the current noise level along its own last
// noise prediction, z = sqrt(abar) x0 + sqrt(1 - abar) eps, a DDIM step
// with eta 0 over the skipped steps. Deriving the noise from the fused
// estimate instead would turn the models' disagreement, amplified by
// sqrt(abar / (1 - abar)), into noise; on the fixture blends the result
// then settles on a mix of two images instead of one.
func (s *stageRun) catchUp(ctx context.Context, tj *trajectory) error {
	if err := tj.fromPrimary.carry(ctx, s.pt.x0, tj.carried); err != nil {
		return err
	}
	tj.behind = false
	if tj.restStep+1 == s.i {
		// tj.x has not moved since it came to rest: tj.in is still the
		// model input of that step.
		if err := sampler.EpsilonFromX0(tj.in, tj.carried, tj.restAbar, tj.eps); err != nil {
			return err
		}
		return tj.smp.Step(tj.restStep, tj.x, tj.eps)
	}
	// tj.eps still holds the prediction the trajectory made when it
	// came to rest.
	if err := sampler.Noised(tj.carried, tj.eps, s.abar, tj.z); err != nil {
		return err
	}
	return tj.smp.SetFromModelSpace(s.i, tj.x, tj.z)
}

// predict asks tj's model for a prediction at latent z, with the controls
// active at the current step, and checks it is finite.
func (s *stageRun) predict(ctx context.Context, tj *trajectory, z, eps *latent.Tensor) error {
	st, k := s.st, s.k
	tj.req.Latent = z
	tj.req.Abar = s.abar
	tj.req.Controls = tj.req.Controls[:0]
	for _, c := range tj.controls {
		if c.spec.Window.Active(k, st.Steps()) {
			tj.req.Controls = append(tj.req.Controls, c.ctl)
		}
	}
	start := time.Now()
	ort0 := tj.partsORT()
	if err := tj.model.Denoiser.Predict(ctx, &tj.req, eps); err != nil {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		return fmt.Errorf("stage %s, step %d, model %s: %w", st.Name, k+1, tj.model.Name, err)
	}
	tj.ort += tj.partsORT() - ort0
	s.r.rec.prediction(tj.model.Name, time.Since(start))
	if !finite(eps.Data) {
		return &NonFiniteError{Stage: st.Name, Step: k + 1, Model: tj.model.Name, What: "the noise prediction"}
	}
	return nil
}

// partsORT is the time inside ONNX Runtime of tj's denoiser and of the
// ControlNets of its current request.
func (tj *trajectory) partsORT() time.Duration {
	d := tj.clock.read(tj.model.Denoiser)
	for _, c := range tj.req.Controls {
		d += tj.clock.read(c.Net)
	}
	return d
}

// join starts a foreign participant's trajectory at the current step. At
// the very start of a fresh stage it starts from the primary's noise when
// the shapes agree, else from its own seeded noise; later it starts from
// the primary's current clean estimate carried into its space and
// re-noised with fresh seeded noise (the IID-preserving rule of the
// resolution bridge).
func (s *stageRun) join(ctx context.Context, tj *trajectory) error {
	r, st, si, pt, k, i := s.r, s.st, s.si, s.pt, s.k, s.i
	tj.lastBridge = -1
	tj.behind = false
	if k == 0 && st.Entry == graphs.Fresh && st.First == 0 {
		if n := r.noise; n != nil && tj.x.SameShape(n) {
			tj.x.CopyFrom(n)
		} else if tj.x.SameShape(pt.z) {
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
		if err := sampler.Noised(tj.x0, tj.z, s.abar, tj.z); err != nil {
			return err
		}
		if err := tj.smp.SetFromModelSpace(i, tj.x, tj.z); err != nil {
			return err
		}
	}
	tj.live = true
	return nil
}
