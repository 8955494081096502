package graphs

import (
	"fmt"
	"sort"

	"github.com/coop-diffusion/coop/adapters"
	"github.com/coop-diffusion/coop/coop/sampler"
)

// Entry says how the trajectory enters a stage.
type Entry string

const (
	// Fresh starts from seeded Gaussian noise (the first stage).
	Fresh Entry = "fresh"
	// Img2Img encodes an input image and noises it to the stage's first
	// step (diffusers' strength rule).
	Img2Img Entry = "img2img"
	// Continue hands the noisy latent on unchanged: same space and size
	// (SDXL base to refiner).
	Continue Entry = "continue"
	// Renoise is the IID-preserving resolution bridge: decode the previous
	// stage's x0 estimate, resize in pixel space, encode in the new space and
	// add fresh seeded noise at the stage's first noise level.
	Renoise Entry = "renoise"
	// Naive bilinearly resizes the noisy latent itself. It correlates the
	// noise and shrinks its variance; kept for comparison only.
	Naive Entry = "naive"
	// Effnet starts a new schedule from noise, conditioned on the previous
	// stage's result (Stable Cascade stage B after stage C).
	Effnet Entry = "effnet"
)

// Curve is a weight: a constant (one point) or a piecewise-linear function
// of the noise level t in [0, 1] (1 = pure noise, 0 = clean), the
// normalised timestep of the scaled_linear schedule shared by SD and SDXL
// (t = 0.5 is PanGu-Draw's split at timestep 500). Between points it
// interpolates linearly; beyond the ends it holds the end values.
type Curve struct {
	// Points are (t, weight) pairs sorted by t.
	Points [][2]float64
}

// Constant is a curve with the same weight everywhere.
func Constant(w float64) Curve { return Curve{Points: [][2]float64{{0, w}}} }

// At evaluates the curve at noise level t.
func (c Curve) At(t float64) float64 {
	p := c.Points
	switch {
	case len(p) == 0:
		return 1
	case len(p) == 1 || t <= p[0][0]:
		return p[0][1]
	case t >= p[len(p)-1][0]:
		return p[len(p)-1][1]
	}
	i := sort.Search(len(p), func(i int) bool { return p[i][0] >= t })
	a, b := p[i-1], p[i]
	if b[0] == a[0] {
		return b[1]
	}
	f := (t - a[0]) / (b[0] - a[0])
	return a[1] + f*(b[1]-a[1])
}

// Validate checks that the points are sorted, inside [0, 1] and that the
// weights are finite and not negative.
func (c Curve) Validate() error {
	for i, p := range c.Points {
		if p[0] < 0 || p[0] > 1 {
			return fmt.Errorf("weight curve point %d: noise level %g outside [0, 1]", i, p[0])
		}
		if p[1] < 0 || p[1] != p[1] || p[1] > 1e6 {
			return fmt.Errorf("weight curve point %d: weight %g must be a finite value >= 0", i, p[1])
		}
		if i > 0 && p[0] < c.Points[i-1][0] {
			return fmt.Errorf("weight curve point %d: noise levels must be sorted", i)
		}
	}
	return nil
}

// Window is the active part of a stage as fractions of its steps: step k
// of n (0-based) is active when Start <= k/n < End, the convention of
// ControlNet start/end percentages in AUTOMATIC1111 and ComfyUI. The zero
// Window means always active.
type Window struct{ Start, End float64 }

// Active reports whether step k of a stage of n steps is inside w.
func (w Window) Active(k, n int) bool {
	if w.Start == 0 && w.End == 0 {
		return true
	}
	f := float64(k) / float64(n)
	return f >= w.Start && (f < w.End || w.End >= 1)
}

// Control is a ControlNet attached to a participant.
type Control struct {
	// Model is the ControlNet's recipe name.
	Model string
	// Image is the control image's path.
	Image  string
	Scale  float64
	Window Window
}

// Bridge says how a foreign participant's prediction reaches the primary
// space.
type Bridge struct {
	// Every bridges every k-th step and reuses the last carried prediction
	// in between; 0 and 1 bridge every step.
	Every int
	// Interposer names a fitted linear latent-to-latent map that replaces
	// decode-resize-encode into the primary's space; empty for the pixel
	// bridge.
	Interposer string
	// Back is the interposer for the other direction, from the primary's
	// space into the participant's; empty for the pixel bridge.
	Back string
}

// Participant is one model shaping a stage.
type Participant struct {
	// Model is the recipe name of the model.
	Model  string
	Weight Curve
	// Shares marks a participant without a weight of its own: the
	// participants that share divide equally what the given weights leave
	// of 1.
	Shares   bool
	Window   Window
	Prompt   adapters.Prompt
	Guidance float64
	Controls []Control
	Bridge   Bridge
	// Width and Height are the pixel size the participant renders at; the
	// stage's size when zero.
	Width, Height int
}

// Stage is a part of the trajectory owned by one primary participant.
type Stage struct {
	Name string
	// Width and Height are the pixel size of the primary's latent.
	Width, Height int
	// Sampler and Config define the stage's full schedule; stages that
	// continue one trajectory share it and cut it with First and End.
	Sampler string
	Config  sampler.Config
	// First and End delimit the steps [First, End) of the schedule that the
	// stage runs.
	First, End int
	Entry      Entry
	// Participants[0] is the primary: its space owns the trajectory.
	Participants []*Participant
}

// Steps is the number of steps the stage runs.
func (s *Stage) Steps() int { return s.End - s.First }

// Primary is the participant whose space owns the stage's trajectory.
func (s *Stage) Primary() *Participant { return s.Participants[0] }

// Img2ImgInput is the image and strength of an img2img run.
type Img2ImgInput struct {
	Image    string
	Strength float64
}

// Plan is a compiled recipe.
type Plan struct {
	Seed    uint64
	Stages  []*Stage
	Img2Img *Img2ImgInput
}

// Validate checks the plan's internal consistency: stage ranges, entries
// and curves. Model-dependent checks belong to the compiler.
func (p *Plan) Validate() error {
	if len(p.Stages) == 0 {
		return fmt.Errorf("plan has no stages")
	}
	for i, s := range p.Stages {
		if len(s.Participants) == 0 {
			return fmt.Errorf("stage %d (%s) has no participants", i, s.Name)
		}
		if s.First < 0 || s.End <= s.First || s.End > s.Config.Steps {
			return fmt.Errorf("stage %d (%s) runs steps [%d, %d) of %d: it needs at least one step", i, s.Name, s.First, s.End, s.Config.Steps)
		}
		if s.Width <= 0 || s.Height <= 0 {
			return fmt.Errorf("stage %d (%s) has size %dx%d", i, s.Name, s.Width, s.Height)
		}
		if i == 0 && s.Entry != Fresh && s.Entry != Img2Img {
			return fmt.Errorf("stage 0 (%s) cannot enter by %q", s.Name, s.Entry)
		}
		if i > 0 && (s.Entry == Fresh || s.Entry == Img2Img) {
			return fmt.Errorf("stage %d (%s) cannot enter by %q", i, s.Name, s.Entry)
		}
		for _, pt := range s.Participants {
			if err := pt.Weight.Validate(); err != nil {
				return fmt.Errorf("stage %d (%s), participant %s: %v", i, s.Name, pt.Model, err)
			}
		}
	}
	return nil
}

// Weights writes the participants' normalised fusion weights at stage step
// k at noise level t into dst (allocating only when dst is too short). A
// participant outside its window weighs 0; participants that Share divide
// equally what the given weights leave of 1; then the weights are scaled
// to sum to 1. When nothing is left the primary gets 1, since its
// trajectory must move on.
func (s *Stage) Weights(k int, t float64, dst []float64) []float64 {
	n := len(s.Participants)
	if cap(dst) < n {
		dst = make([]float64, n)
	}
	dst = dst[:n]
	given, sharing := 0.0, 0
	for i, p := range s.Participants {
		dst[i] = 0
		if !p.Window.Active(k, s.Steps()) {
			continue
		}
		if p.Shares {
			dst[i] = -1
			sharing++
			continue
		}
		dst[i] = p.Weight.At(t)
		given += dst[i]
	}
	share := 0.0
	if sharing > 0 && given < 1 {
		share = (1 - given) / float64(sharing)
	}
	sum := 0.0
	for i := range dst {
		if dst[i] < 0 {
			dst[i] = share
		}
		sum += dst[i]
	}
	if sum <= 0 {
		dst[0] = 1
		return dst
	}
	for i := range dst {
		dst[i] /= sum
	}
	return dst
}
