package sdxl

import (
	"github.com/coop-diffusion/coop/adapters"
	"github.com/coop-diffusion/coop/adapters/internal/unetfamily"
	"github.com/coop-diffusion/coop/latent"
)

// Aesthetic scores of the refiner's time_ids, diffusers' defaults.
const (
	AestheticScore         = 6.0
	NegativeAestheticScore = 2.5
)

// Base and Refiner are the families' specifications.
var (
	Base = unetfamily.Spec{
		Family:       adapters.SDXL,
		About:        "SDXL base",
		Space:        latent.StableDiffusionXL(),
		ContextWidth: 2048,
		Encoders: []unetfamily.Encoder{
			{Role: "text_encoder", Depth: 2},
			{Role: "text_encoder_2", Depth: 2, Pooled: true},
		},
		Pooled:       1280,
		TimeIDs:      6,
		FillTimeIDs:  baseTimeIDs,
		ZeroNegative: true,
		Native:       adapters.Size{Height: 1024, Width: 1024},
	}
	Refiner = unetfamily.Spec{
		Family:       adapters.SDXLRefiner,
		About:        "SDXL refiner",
		Space:        latent.StableDiffusionXL(),
		ContextWidth: 1280,
		Encoders:     []unetfamily.Encoder{{Role: "text_encoder_2", Depth: 2, Pooled: true}},
		Pooled:       1280,
		TimeIDs:      5,
		FillTimeIDs:  refinerTimeIDs,
		ZeroNegative: true,
		Native:       adapters.Size{Height: 1024, Width: 1024},
	}
)

// baseTimeIDs writes (original h, w, crop top, left, target h, w).
func baseTimeIDs(req *adapters.Request, _ bool, row []float32) {
	h, w := float32(req.Height), float32(req.Width)
	copy(row, []float32{h, w, 0, 0, h, w})
}

// refinerTimeIDs writes (original h, w, crop top, left, aesthetic score).
func refinerTimeIDs(req *adapters.Request, uncond bool, row []float32) {
	h, w := float32(req.Height), float32(req.Width)
	score := float32(AestheticScore)
	if uncond {
		score = NegativeAestheticScore
	}
	copy(row, []float32{h, w, 0, 0, score})
}

func init() {
	adapters.Register(adapters.SDXL, unetfamily.Loader(Base))
	adapters.Register(adapters.SDXLRefiner, unetfamily.Loader(Refiner))
}
