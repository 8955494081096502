package controlnet

import (
	"context"
	"fmt"
	"sync"

	"github.com/coop-diffusion/coop/adapters"
	"github.com/coop-diffusion/coop/adapters/internal/graph"
	"github.com/coop-diffusion/coop/internal/f32"
	"github.com/coop-diffusion/coop/internal/ort"
	"github.com/coop-diffusion/coop/latent"
)

// Input names of a split ControlNet beside the unet's own.
const (
	CondInput  = "controlnet_cond"
	ScaleInput = "conditioning_scale"
)

// Split is a ControlNet in its own graph.
type Split struct {
	info *adapters.Info
	g    *graph.Model

	mu   sync.Mutex
	down []*latent.Tensor // output buffers of AddResiduals, reused across steps
	mid  *latent.Tensor
	runs int
	// The graph's input and output maps, reused by every run.
	in  map[string]ort.Input
	out map[string]*latent.Tensor
}

var _ adapters.ControlNetModel = (*Split)(nil)

// NewSplit returns the ControlNet of g, which info describes (Check).
func NewSplit(info *adapters.Info, g *graph.Model) *Split { return &Split{info: info, g: g} }

// Name is the ControlNet's name in the recipe.
func (s *Split) Name() string { return s.info.Name }

// Fused is false: the ControlNet is a graph of its own.
func (s *Split) Fused() bool { return false }

// Info describes the ControlNet.
func (s *Split) Info() *adapters.Info { return s.info }

// Runs is the number of times the ControlNet graph ran.
func (s *Split) Runs() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.runs
}

// Close releases the graph's session.
func (s *Split) Close() error { return s.g.Close() }

// AddResiduals runs the ControlNet on the unet's inputs (looked up by name
// for every graph input but the control image and scale), the control
// image batch [B, 3, H, W] in [0, 1] and scale, and adds the residuals,
// times scale, into down (in index order) and mid, which have the unet's
// residual input shapes.
func (s *Split) AddResiduals(ctx context.Context, unetInputs map[string]ort.Input, image *latent.Tensor, scale float64, down []*latent.Tensor, mid *latent.Tensor) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.down) != len(down) {
		s.down = make([]*latent.Tensor, len(down))
	}
	for i, d := range down {
		s.down[i] = graph.Reuse(s.down[i], d.Shape...)
	}
	if mid != nil {
		s.mid = graph.Reuse(s.mid, mid.Shape...)
	}
	k, err := s.run(ctx, unetInputs, image, scale, s.down, s.mid, down, mid)
	if err != nil {
		return err
	}
	for i, d := range down {
		f32.AddScaled32(d.Data, k, s.down[i].Data)
	}
	if mid != nil {
		f32.AddScaled32(mid.Data, k, s.mid.Data)
	}
	return nil
}

// WriteResiduals is AddResiduals into zeroed down and mid, the only
// ControlNet acting on a prediction: the graph writes its residuals
// straight into them and they are scaled in place, the same values
// without the zeroing, the buffers of the graph's own and the sum. Where
// the graph applies the scale itself the residuals are its outputs as
// they are: a -0 stays -0 where adding into zeros made it +0, which the
// unet's sum of residual and hidden state only tells apart from an exact
// zero's sign.
func (s *Split) WriteResiduals(ctx context.Context, unetInputs map[string]ort.Input, image *latent.Tensor, scale float64, down []*latent.Tensor, mid *latent.Tensor) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	k, err := s.run(ctx, unetInputs, image, scale, down, mid, down, mid)
	if err != nil || k == 1 {
		return err
	}
	for _, d := range down {
		f32.ScaleOntoZero32(d.Data, k)
	}
	if mid != nil {
		f32.ScaleOntoZero32(mid.Data, k)
	}
	return nil
}

// run runs the graph with its residuals written into outDown and outMid
// (shaped as the unet's down and mid) and returns the factor they still
// need: the scale, or 1 when the graph applied it. Called with s.mu held.
func (s *Split) run(ctx context.Context, unetInputs map[string]ort.Input, image *latent.Tensor, scale float64, outDown []*latent.Tensor, outMid *latent.Tensor, down []*latent.Tensor, mid *latent.Tensor) (float32, error) {
	ports := s.info.Control
	if len(down) != len(ports.Down) || (mid == nil) != (ports.Mid == nil) {
		return 0, fmt.Errorf("ControlNet %q: %d down-block residuals and mid %t for a unet taking %d and mid %t", s.info.Name, len(ports.Down), ports.Mid != nil, len(down), mid != nil)
	}
	if s.in == nil {
		s.in, s.out = map[string]ort.Input{}, map[string]*latent.Tensor{}
	}
	graphScale := false
	for _, v := range s.g.Sig.Inputs {
		switch v.Name {
		case CondInput:
			s.in[v.Name] = ort.Float(image)
		case ScaleInput:
			s.in[v.Name] = ort.Scalar(scale)
			graphScale = true
		default:
			x, ok := unetInputs[v.Name]
			if !ok {
				return 0, s.g.Errorf("input %s (%s) has no counterpart among the unet's inputs", v.Name, graph.Describe(&v))
			}
			s.in[v.Name] = x
		}
	}
	for i := range down {
		s.out[ports.Down[i].Name] = outDown[i]
	}
	if mid != nil {
		s.out[ports.Mid.Name] = outMid
	}
	if err := s.g.Run(ctx, s.in, s.out); err != nil {
		return 0, err
	}
	s.runs++
	if graphScale {
		return 1, nil
	}
	return float32(scale), nil
}

// Slot is one of the ControlNets fused into a unet graph.
type Slot struct {
	// Model is the name of the model whose unet holds the ControlNet.
	Model string
	// Index is the slot's position on the first axis of the unet's
	// control image and scale inputs.
	Index int
}

var _ adapters.ControlNetModel = Slot{}

// Name names the slot as "model/controlnet[i]".
func (s Slot) Name() string { return fmt.Sprintf("%s/controlnet[%d]", s.Model, s.Index) }

// Fused is true: the ControlNet is part of the unet graph.
func (s Slot) Fused() bool { return true }
