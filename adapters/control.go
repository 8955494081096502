package adapters

import (
	"fmt"

	"github.com/coop-diffusion/coop/coop/sampler"
)

// CheckControl reports whether the split ControlNet cn can feed the unet of
// base: the unet must take residual inputs, one for each residual the
// ControlNet outputs (matched by numeric suffix) with the same channel
// counts, and both must work in the same latent channels and context
// width. Fused ControlNets need no check: they are part of the unet graph.
// It reads Infos only, so a recipe can be checked before any model runs.
func CheckControl(base, cn *Info) error {
	if cn.Family != ControlNet {
		return fmt.Errorf("model %q is a %s model, not a ControlNet", cn.Name, cn.Family)
	}
	who := fmt.Sprintf("ControlNet %q on model %q", cn.Name, base.Name)
	bp, cp := base.Control, cn.Control
	if !bp.Split() {
		if bp.Fused > 0 {
			return fmt.Errorf("%s: the unet of %q has its ControlNets fused into the graph (%d slots) and takes no residuals from a separate ControlNet", who, base.Name, bp.Fused)
		}
		return fmt.Errorf("%s: the unet of %q takes no ControlNet residuals (no down_block_additional_residuals inputs)", who, base.Name)
	}
	if len(cp.Down) != len(bp.Down) {
		return fmt.Errorf("%s: the ControlNet outputs %d down-block residuals, the unet takes %d (%s)", who, len(cp.Down), len(bp.Down), residualNames(bp.Down))
	}
	for i := range bp.Down {
		b, c := bp.Down[i], cp.Down[i]
		if b.Index != c.Index {
			return fmt.Errorf("%s: ControlNet residual %s has no unet input with suffix %d (the unet takes %s)", who, c.Name, c.Index, residualNames(bp.Down))
		}
		if b.Channels != 0 && c.Channels != 0 && b.Channels != c.Channels {
			return fmt.Errorf("%s: ControlNet residual %s has %d channels, unet input %s expects %d", who, c.Name, c.Channels, b.Name, b.Channels)
		}
	}
	switch {
	case bp.Mid == nil && cp.Mid != nil:
		return fmt.Errorf("%s: the ControlNet outputs %s, the unet takes no mid-block residual", who, cp.Mid.Name)
	case bp.Mid != nil && cp.Mid == nil:
		return fmt.Errorf("%s: the unet takes %s, the ControlNet outputs no mid-block residual", who, bp.Mid.Name)
	case bp.Mid != nil && bp.Mid.Channels != 0 && cp.Mid.Channels != 0 && bp.Mid.Channels != cp.Mid.Channels:
		return fmt.Errorf("%s: ControlNet residual %s has %d channels, unet input %s expects %d", who, cp.Mid.Name, cp.Mid.Channels, bp.Mid.Name, bp.Mid.Channels)
	}
	if base.Channels != 0 && cn.Channels != 0 && base.Channels != cn.Channels {
		return fmt.Errorf("%s: the ControlNet's sample has %d latent channels, the unet's %d", who, cn.Channels, base.Channels)
	}
	if base.ContextWidth != 0 && cn.ContextWidth != 0 && base.ContextWidth != cn.ContextWidth {
		return fmt.Errorf("%s: the ControlNet's encoder_hidden_states width is %d, the unet's %d (the ControlNet was trained for another base model)", who, cn.ContextWidth, base.ContextWidth)
	}
	return nil
}

func residualNames(rs []Residual) string {
	if len(rs) == 0 {
		return "none"
	}
	return fmt.Sprintf("%s .. %s", rs[0].Name, rs[len(rs)-1].Name)
}

// ControlChecker is implemented by denoisers that take ControlNets. The
// engine calls CheckControl for every control of a recipe before the first
// step; Predict checks again and fails on a control it cannot drive.
type ControlChecker interface {
	CheckControl(c ControlNetModel) error
}

// SampledEncoder is implemented by autoencoders whose encoder returns
// latent_parameters (mean and log-variance). By default they encode to the
// mean, which is deterministic; after SetEncodeNoise(src) the k-th Encode
// draws mean + std * n with n taken from src at elements k *
// sampler.NoiseStride onwards, so a run with a seed reproduces. A nil src
// returns to the mean.
type SampledEncoder interface {
	SetEncodeNoise(src sampler.NoiseSource)
}
