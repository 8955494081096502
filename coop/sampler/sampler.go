package sampler

import (
	"fmt"
	"sort"
	"strings"

	"github.com/coop-diffusion/coop/latent"
)

// Sampler advances one trajectory through its Plan. It holds the
// trajectory's buffers and history (DPM++ 2M keeps the previous x0
// estimate), so each trajectory gets its own Sampler.
//
// The state x passed to every method is the sampler's own: a VP latent for
// most samplers, x = z sqrt(sigma^2+1) in sigma space for euler and
// euler_a. Callers never need to know which: they create the state with
// Init or SetFromModelSpace, show the model ModelInput, and Step with the
// epsilon prediction (ToEpsilon) at that input.
//
// A trajectory calls Init (or SetFromModelSpace at its first step), then
// for i = first, first+1, ...: ModelInput(i), the model, Step(i). Steps
// must come in order; stopping early is allowed. After Init or
// SetFromModelSpace, Step allocates nothing.
type Sampler interface {
	// Plan is the sampler's full schedule, shared: do not modify it.
	Plan() *Plan
	// Init sets x to the initial state for step 0 from unit Gaussian noise
	// (scaled by Plan().InitNoiseSigma). x and noise may be the same tensor.
	Init(x, noise *latent.Tensor) error
	// SetFromModelSpace sets x to the state at step i whose VP latent is z
	// (noise level Plan().Steps[i].Abar), and makes i the next step to run
	// with no history: for img2img, handoffs between models and resolution
	// switches. x and z may be the same tensor.
	SetFromModelSpace(i int, x, z *latent.Tensor) error
	// ModelInput writes the VP latent the model sees at step i into dst
	// (which may be x).
	ModelInput(i int, x, dst *latent.Tensor) error
	// Step advances x in place from step i to i+1 given the epsilon
	// prediction at ModelInput(i). Stochastic samplers draw fresh noise from
	// Config.Noise.
	Step(i int, x, eps *latent.Tensor) error
}

// NoiseSource is a fixed, seeded sequence of independent standard Gaussian
// values: FillSlice writes elements first .. first+len(dst)-1 of it and
// must not allocate. latent.Noise (a counter-based Philox generator, as
// returned by latent.NewStream) is the intended source, so a recipe and a
// seed always reproduce.
//
// Step i draws its noise from elements i*2^40 onwards, so each step of a
// trajectory has its own noise whatever the latent's shape (a resolution
// switch cannot make two steps share values), a trajectory that starts
// part-way gets the same noise at step i as one that ran from the start,
// and batch item 0 sees the same noise whatever the batch size. Two
// trajectories given the same source get the same noise: give each its own
// stream.
type NoiseSource interface {
	FillSlice(dst []float32, first uint64)
}

// NoiseStride is the distance between the first noise elements of
// consecutive steps in a NoiseSource's sequence.
const NoiseStride = 1 << 40

// Constructor builds a sampler from a configuration; it validates cfg.
type Constructor func(cfg Config) (Sampler, error)

type registration struct {
	name  string
	about string
	build Constructor
}

var (
	registry = map[string]*registration{}
	aliases  = map[string]string{} // lower-case alias -> canonical name
	spelled  []string              // aliases as registered, for messages
)

// Register adds a sampler under a canonical name (lower case) and any
// aliases, typically diffusers class names. It panics on a name already
// taken, as duplicate registration is a programming error. about is one
// line for listings such as coop schedule's help.
func Register(name, about string, build Constructor, alias ...string) {
	key := lowerName(name)
	if _, dup := registry[key]; dup {
		panic("sampler: Register called twice for " + name)
	}
	if _, dup := aliases[key]; dup {
		panic("sampler: Register: name " + name + " is already an alias")
	}
	registry[key] = &registration{name: key, about: about, build: build}
	for _, a := range alias {
		ak := lowerName(a)
		if _, dup := registry[ak]; dup {
			panic("sampler: Register: alias " + a + " is already a sampler")
		}
		if _, dup := aliases[ak]; dup {
			panic("sampler: Register: alias " + a + " registered twice")
		}
		aliases[ak] = key
		spelled = append(spelled, a)
	}
}

func init() {
	Register("ddim", "DDIM (Song et al.); deterministic unless Eta > 0", newDDIM, "DDIMScheduler",
		// PNDM (PLMS) is not implemented. It is a deterministic multistep
		// method over the same leading timesteps; the original Stable
		// Diffusion release offered DDIM beside it, so SD 1.x folders whose
		// scheduler_config names PNDMScheduler get DDIM.
		"PNDMScheduler")
	Register("ddpm", "DDPM ancestral sampling with the posterior variance (fixed_small)", newDDPM, "DDPMScheduler")
	Register("euler", "Euler's method on the probability-flow ODE in sigma space (k-diffusion)", newEuler, "EulerDiscreteScheduler")
	Register("euler_a", "Euler ancestral: an Euler step down to sigma_down plus fresh noise sigma_up", newEulerAncestral, "EulerAncestralDiscreteScheduler")
	Register("dpmpp_2m", "DPM-Solver++ 2M, second-order multistep in log-SNR", newDPMSolver, "DPMSolverMultistepScheduler")
	Register("dpmpp_2m_karras", "DPM-Solver++ 2M on Karras sigmas", func(cfg Config) (Sampler, error) {
		cfg.Karras = true
		s, err := newDPMSolver(cfg)
		if s != nil {
			s.(*dpmSolver).plan.Sampler = "dpmpp_2m_karras"
		}
		return s, err
	})
	Register("lcm", "Latent Consistency Model multistep sampling", newLCM, "LCMScheduler")
	Register("ddpm_wuerstchen", "Stable Cascade's DDPM on the cosine timestep_ratio schedule", newWuerstchen, "DDPMWuerstchenScheduler")
}

// Names lists the canonical sampler names, sorted.
func Names() []string {
	names := make([]string, 0, len(registry))
	for n := range registry {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// About returns the one-line description a sampler was registered with.
func About(name string) string {
	if r, ok := registry[lowerName(name)]; ok {
		return r.about
	}
	return ""
}

// Canonical resolves a sampler name or alias (case-insensitive) to its
// canonical name.
func Canonical(name string) (string, error) {
	key := lowerName(name)
	if _, ok := registry[key]; ok {
		return key, nil
	}
	if c, ok := aliases[key]; ok {
		return c, nil
	}
	return "", fmt.Errorf("unknown scheduler %q (known: %s; or a diffusers class: %s)", name, strings.Join(Names(), ", "), strings.Join(aliasNames(), ", "))
}

func aliasNames() []string {
	names := append([]string(nil), spelled...)
	sort.Strings(names)
	return names
}

// New builds the sampler registered under name (canonical or alias) for
// cfg. The names are ddim, ddpm, euler, euler_a, dpmpp_2m,
// dpmpp_2m_karras, lcm and ddpm_wuerstchen, and the diffusers classes
// DDIMScheduler, DDPMScheduler, EulerDiscreteScheduler,
// EulerAncestralDiscreteScheduler, DPMSolverMultistepScheduler,
// LCMScheduler and DDPMWuerstchenScheduler. PNDMScheduler, which coop does
// not implement, falls back to ddim.
func New(name string, cfg Config) (Sampler, error) {
	key, err := Canonical(name)
	if err != nil {
		return nil, err
	}
	s, err := registry[key].build(cfg)
	if err != nil {
		return nil, fmt.Errorf("sampler %s: %w", key, err)
	}
	return s, nil
}

// NewPlan is New(name, cfg).Plan(): the schedule a configuration produces,
// without a noise source.
func NewPlan(name string, cfg Config) (*Plan, error) {
	s, err := New(name, cfg)
	if err != nil {
		return nil, err
	}
	return s.Plan(), nil
}

// core is the bookkeeping every built-in sampler shares: the plan, step
// order, the state shape and the scratch buffers, which are (re)allocated
// only when Init or SetFromModelSpace sees a new shape.
type core struct {
	plan  *Plan
	name  string
	noise NoiseSource
	// scratch is Config.Scratch: where bufs come from when set.
	scratch func(shape ...int) *latent.Tensor
	// stochastic samplers need noise; the check happens when a trajectory
	// starts, so plans can be built without a source.
	stochastic bool
	nbuf       int
	bufs       []*latent.Tensor // nbuf scratch tensors shaped like the state
	shape      []int            // state shape; nil before the first start
	numel      int              // element count of the state
	first      int              // index of the trajectory's first step
	next       int              // index Step must be called with next
}

func newCore(plan *Plan, cfg *Config, stochastic bool, nbuf int) core {
	return core{plan: plan, name: plan.Sampler, noise: cfg.Noise, scratch: cfg.Scratch, stochastic: stochastic, nbuf: nbuf}
}

func (c *core) Plan() *Plan { return c.plan }

func (c *core) checkIndex(i int) error {
	if i < 0 || i >= len(c.plan.Steps) {
		return fmt.Errorf("sampler %s: step %d outside the plan's 0..%d", c.name, i, len(c.plan.Steps)-1)
	}
	return nil
}

// start begins a trajectory at step i with state shaped like x.
func (c *core) start(i int, x *latent.Tensor) error {
	if c.stochastic && c.noise == nil {
		return fmt.Errorf("sampler %s draws fresh noise but Config.Noise is nil", c.name)
	}
	if len(x.Data) == 0 || len(x.Data) >= NoiseStride {
		return fmt.Errorf("sampler %s: state tensor %v is empty or too large", c.name, x)
	}
	if c.shape == nil || !equalInts(x.Shape, c.shape) || len(x.Data) != c.numel {
		c.shape = append(c.shape[:0], x.Shape...)
		c.numel = len(x.Data)
		c.bufs = c.bufs[:0]
		for range c.nbuf {
			if c.scratch != nil {
				c.bufs = append(c.bufs, c.scratch(x.Shape...))
			} else {
				c.bufs = append(c.bufs, latent.New(x.Shape...))
			}
		}
	}
	c.first, c.next = i, i
	return nil
}

func (c *core) Init(x, noise *latent.Tensor) error {
	if err := sameShapes("Init", x, noise); err != nil {
		return err
	}
	if err := c.start(0, x); err != nil {
		return err
	}
	scale(x.Data, c.plan.InitNoiseSigma, noise.Data)
	return nil
}

func (c *core) SetFromModelSpace(i int, x, z *latent.Tensor) error {
	if err := c.checkIndex(i); err != nil {
		return err
	}
	if err := sameShapes("SetFromModelSpace", x, z); err != nil {
		return err
	}
	if err := c.start(i, x); err != nil {
		return err
	}
	scale(x.Data, 1/c.plan.Steps[i].InputScale, z.Data)
	return nil
}

func (c *core) ModelInput(i int, x, dst *latent.Tensor) error {
	if err := c.checkIndex(i); err != nil {
		return err
	}
	if err := sameShapes("ModelInput", x, dst); err != nil {
		return err
	}
	if s := c.plan.Steps[i].InputScale; s == 1 {
		copy(dst.Data, x.Data)
	} else {
		scale(dst.Data, s, x.Data)
	}
	return nil
}

// beginStep checks a Step call; the sampler then advances c.next.
func (c *core) beginStep(i int, x, eps *latent.Tensor) error {
	if c.shape == nil {
		return fmt.Errorf("sampler %s: Step(%d) before Init or SetFromModelSpace", c.name, i)
	}
	if err := c.checkIndex(i); err != nil {
		return err
	}
	if i != c.next {
		if c.next == len(c.plan.Steps) {
			return fmt.Errorf("sampler %s: Step(%d) after the plan's last step", c.name, i)
		}
		return fmt.Errorf("sampler %s: Step(%d) out of order: next step is %d", c.name, i, c.next)
	}
	if !equalInts(x.Shape, c.shape) || !equalInts(eps.Shape, c.shape) || len(x.Data) != c.numel || len(eps.Data) != c.numel {
		return fmt.Errorf("sampler %s: Step(%d): state %v and epsilon %v must both have the trajectory's shape %v", c.name, i, x.Shape, eps.Shape, c.shape)
	}
	return nil
}

func equalInts(a, b []int) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// drawNoise fills the noise buffer (the last scratch tensor) with step i's
// noise.
func (c *core) drawNoise(i int) []float32 {
	b := c.bufs[len(c.bufs)-1].Data
	c.noise.FillSlice(b, uint64(i)*NoiseStride)
	return b
}
