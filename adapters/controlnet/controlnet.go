package controlnet

import (
	"context"
	"fmt"
	"sync"

	"github.com/coop-diffusion/coop/adapters"
	"github.com/coop-diffusion/coop/adapters/internal/graph"
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
	down []*latent.Tensor // output buffers, reused across steps
	mid  *latent.Tensor
	runs int
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
	ports := s.info.Control
	if len(down) != len(ports.Down) || (mid == nil) != (ports.Mid == nil) {
		return fmt.Errorf("ControlNet %q: %d down-block residuals and mid %t for a unet taking %d and mid %t", s.info.Name, len(ports.Down), ports.Mid != nil, len(down), mid != nil)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	in := make(map[string]ort.Input, len(s.g.Sig.Inputs))
	graphScale := false
	for _, v := range s.g.Sig.Inputs {
		switch v.Name {
		case CondInput:
			in[v.Name] = ort.Float(image)
		case ScaleInput:
			in[v.Name] = ort.Scalar(scale)
			graphScale = true
		default:
			x, ok := unetInputs[v.Name]
			if !ok {
				return s.g.Errorf("input %s (%s) has no counterpart among the unet's inputs", v.Name, graph.Describe(&v))
			}
			in[v.Name] = x
		}
	}
	out := make(map[string]*latent.Tensor, len(down)+1)
	if len(s.down) != len(down) {
		s.down = make([]*latent.Tensor, len(down))
	}
	for i, d := range down {
		s.down[i] = reuse(s.down[i], d.Shape)
		out[ports.Down[i].Name] = s.down[i]
	}
	if mid != nil {
		s.mid = reuse(s.mid, mid.Shape)
		out[ports.Mid.Name] = s.mid
	}
	if err := s.g.Run(ctx, in, out); err != nil {
		return err
	}
	s.runs++
	k := float32(scale)
	if graphScale {
		k = 1
	}
	for i, d := range down {
		axpy(d.Data, k, s.down[i].Data)
	}
	if mid != nil {
		axpy(mid.Data, k, s.mid.Data)
	}
	return nil
}

func axpy(dst []float32, a float32, x []float32) {
	for i, v := range x {
		dst[i] += a * v
	}
}

func reuse(t *latent.Tensor, shape []int) *latent.Tensor {
	if t != nil && len(t.Shape) == len(shape) {
		same := true
		for i := range shape {
			same = same && t.Shape[i] == shape[i]
		}
		if same {
			return t
		}
	}
	return latent.New(shape...)
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
