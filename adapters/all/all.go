package all

import (
	_ "github.com/coop-diffusion/coop/adapters/cascade"    // cascade-prior, cascade-decoder, cascade-vqgan
	_ "github.com/coop-diffusion/coop/adapters/controlnet" // controlnet
	_ "github.com/coop-diffusion/coop/adapters/generic"    // generic (manifest)
	_ "github.com/coop-diffusion/coop/adapters/sd"         // sd1, sd2
	_ "github.com/coop-diffusion/coop/adapters/sdxl"       // sdxl, sdxl-refiner
)
