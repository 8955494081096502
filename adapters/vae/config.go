package vae

import (
	"math"

	"github.com/coop-diffusion/coop/adapters/internal/graph"
	"github.com/coop-diffusion/coop/latent"
)

// SpaceFromConfig returns base updated with what a component's config.json
// says about the latent space, later configs winning: latent_channels,
// scaling_factor and shift_factor (AutoencoderKL), latents_mean and
// latents_std (when both are given with one value per channel), the
// downsampling factor 2^(len(block_out_channels)-1) of an AutoencoderKL,
// and PaellaVQModel's scale_factor (the latent is multiplied by it before
// decoding, so the space's ScalingFactor is its inverse).
func SpaceFromConfig(base latent.Space, configs ...map[string]any) latent.Space {
	s := base
	for _, cfg := range configs {
		if cfg == nil {
			continue
		}
		if c, ok := graph.Int(cfg, "latent_channels"); ok && c > 0 {
			s.Channels = c
		}
		if v, ok := graph.Number(cfg, "scaling_factor"); ok && v > 0 {
			s.ScalingFactor = v
		}
		if v, ok := graph.Number(cfg, "scale_factor"); ok && v > 0 {
			s.ScalingFactor = 1 / v
		}
		if v, ok := graph.Number(cfg, "shift_factor"); ok {
			s.ShiftFactor = v
		}
		class, _ := cfg["_class_name"].(string)
		if blocks, ok := graph.Ints(cfg, "block_out_channels"); ok && len(blocks) > 0 && (class == "" || class == "AutoencoderKL") && s.IntegerFactor() {
			s.Factor = math.Ldexp(1, len(blocks)-1)
		}
	}
	for _, cfg := range configs {
		mean, ok1 := graph.Numbers(cfg, "latents_mean")
		std, ok2 := graph.Numbers(cfg, "latents_std")
		if ok1 && ok2 && len(mean) == s.Channels && len(std) == s.Channels {
			s.LatentsMean, s.LatentsStd, s.ShiftFactor = mean, std, 0
		}
	}
	return s
}
