package controlnet

import (
	"fmt"
	"sort"
	"strings"

	"github.com/coop-diffusion/coop/adapters"
	"github.com/coop-diffusion/coop/adapters/internal/graph"
	"github.com/coop-diffusion/coop/internal/onnx"
)

// Ports finds the residual values among vs (a split ControlNet's outputs
// or a ControlNet unet's inputs): names containing "down" and ending in a
// number are down-block residuals, a name containing "mid" the mid-block
// residual. Down residuals come back in index order; their indices must
// be 0..N-1.
func Ports(vs []onnx.ValueInfo) (adapters.ControlPorts, error) {
	var p adapters.ControlPorts
	for i := range vs {
		v := &vs[i]
		name := strings.ToLower(v.Name)
		ch, _ := graph.Dim(v, 1)
		switch {
		case strings.Contains(name, "down") && (strings.Contains(name, "res") || strings.Contains(name, "additional")):
			idx, ok := graph.Suffix(v.Name)
			if !ok {
				return p, fmt.Errorf("down-block residual %s has no numeric suffix", v.Name)
			}
			p.Down = append(p.Down, adapters.Residual{Name: v.Name, Index: idx, Channels: ch})
		case strings.Contains(name, "mid") && (strings.Contains(name, "res") || strings.Contains(name, "additional")):
			if p.Mid != nil {
				return p, fmt.Errorf("two mid-block residuals, %s and %s", p.Mid.Name, v.Name)
			}
			p.Mid = &adapters.Residual{Name: v.Name, Index: -1, Channels: ch}
		}
	}
	sort.Slice(p.Down, func(i, j int) bool { return p.Down[i].Index < p.Down[j].Index })
	for i, r := range p.Down {
		if r.Index != i {
			return p, fmt.Errorf("down-block residuals are not numbered 0..%d (found %s)", len(p.Down)-1, names(p.Down))
		}
	}
	return p, nil
}

func names(rs []adapters.Residual) string {
	out := make([]string, len(rs))
	for i, r := range rs {
		out[i] = r.Name
	}
	return strings.Join(out, ", ")
}

// Architecture is the shape of a unet's down path, from which the size of
// each residual follows.
type Architecture struct {
	// BlockChannels are the output channels of the down blocks
	// (block_out_channels in config.json).
	BlockChannels []int
	// LayersPerBlock is the number of resnets per down block.
	LayersPerBlock int
}

// ArchitectureFor returns the down path of a unet or ControlNet from its
// config.json, or else the one of SD 1.x / 2.x (12 down residuals) or SDXL
// (9) as told by the residual count.
func ArchitectureFor(config map[string]any, downResiduals int) (Architecture, error) {
	a := Architecture{LayersPerBlock: 2}
	if l, ok := graph.Int(config, "layers_per_block"); ok && l > 0 {
		a.LayersPerBlock = l
	}
	if ch, ok := graph.Ints(config, "block_out_channels"); ok && len(ch) > 0 {
		a.BlockChannels = ch
	} else {
		switch downResiduals {
		case 12:
			a.BlockChannels = []int{320, 640, 1280, 1280}
		case 9:
			a.BlockChannels = []int{320, 640, 1280}
		default:
			return a, fmt.Errorf("%d down-block residuals and no block_out_channels in config.json: the residual sizes are unknown", downResiduals)
		}
	}
	if n := a.DownResiduals(); n != downResiduals {
		return a, fmt.Errorf("block_out_channels %v with %d layers per block make %d down-block residuals, the graph has %d", a.BlockChannels, a.LayersPerBlock, n, downResiduals)
	}
	return a, nil
}

// DownResiduals is the number of down-block residuals: the input
// convolution, LayersPerBlock per block and a downsampler after every block
// but the last.
func (a Architecture) DownResiduals() int {
	n := len(a.BlockChannels)
	return 1 + n*a.LayersPerBlock + (n - 1)
}

// Down returns the channel count and the downsampling (a power of two) of
// down-block residual i.
func (a Architecture) Down(i int) (channels, factor int) {
	if i == 0 {
		return a.BlockChannels[0], 1
	}
	i--
	per := a.LayersPerBlock + 1
	b := i / per
	factor = 1 << b
	if i%per == a.LayersPerBlock {
		factor <<= 1 // the downsampler's output
	}
	return a.BlockChannels[b], factor
}

// Mid returns the channel count and the downsampling of the mid-block
// residual.
func (a Architecture) Mid() (channels, factor int) {
	n := len(a.BlockChannels)
	return a.BlockChannels[n-1], 1 << (n - 1)
}

// Shape returns the shape of residual v for a batch of b latents of h x w
// whose declared dims are sample's: fixed dims as declared, the batch and
// spatial dims that share a symbolic name with sample's as sample's, and
// whatever remains from the architecture (channels, and h and w divided
// by the residual's downsampling and rounded up, as a stride-2 convolution
// with padding 1 does).
func (a Architecture) Shape(v *onnx.ValueInfo, sample *onnx.ValueInfo, index, b, h, w int) []int {
	var ch, f int
	if index < 0 {
		ch, f = a.Mid()
	} else {
		ch, f = a.Down(index)
	}
	arch := []int{b, ch, (h + f - 1) / f, (w + f - 1) / f}
	given := []int{b, 0, h, w}
	shape := make([]int, 4)
	for k := range 4 {
		shape[k] = arch[k]
		if v == nil || !v.HasShape || len(v.Dims) != 4 {
			continue
		}
		d := v.Dims[k]
		switch {
		case k > 0 && d.Fixed():
			shape[k] = int(d.Value)
		case d.Symbolic() && sample != nil && sample.HasShape && len(sample.Dims) == 4:
			for j, sd := range sample.Dims {
				if sd.Param == d.Param && j != 1 {
					shape[k] = given[j]
				}
			}
		}
	}
	return shape
}
