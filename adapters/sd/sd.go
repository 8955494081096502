package sd

import (
	"github.com/coop-diffusion/coop/adapters"
	"github.com/coop-diffusion/coop/adapters/internal/unetfamily"
	"github.com/coop-diffusion/coop/latent"
)

// SD1 and SD2 are the families' specifications.
var (
	SD1 = unetfamily.Spec{
		Family:       adapters.SD1,
		About:        "SD 1.x",
		Space:        latent.StableDiffusion(),
		ContextWidth: 768,
		Encoders:     []unetfamily.Encoder{{Role: "text_encoder"}},
		Native:       adapters.Size{Height: 512, Width: 512},
	}
	SD2 = unetfamily.Spec{
		Family:       adapters.SD2,
		About:        "SD 2.x",
		Space:        latent.StableDiffusion(),
		ContextWidth: 1024,
		Encoders:     []unetfamily.Encoder{{Role: "text_encoder"}},
		Native:       adapters.Size{Height: 512, Width: 512},
		NativeV:      adapters.Size{Height: 768, Width: 768},
	}
)

func init() {
	adapters.Register(adapters.SD1, unetfamily.Loader(SD1))
	adapters.Register(adapters.SD2, unetfamily.Loader(SD2))
}
