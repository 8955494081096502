package latent_test

import (
	"fmt"

	"github.com/coop-diffusion/coop/latent"
)

func ExampleSpace_LatentSize() {
	for _, s := range []latent.Space{latent.StableDiffusionXL(), latent.StableCascadePrior()} {
		h, w, err := s.LatentSize(1024, 1536)
		fmt.Println(s.Name, h, w, err)
	}
	_, _, err := latent.StableDiffusion().LatentSize(500, 512)
	fmt.Println(err)
	// Output:
	// sdxl 128 192 <nil>
	// cascade-c 24 36 <nil>
	// latent space "sd": image height 500 is not a multiple of 8
}

func ExampleNoise_Fill() {
	// The initial latent of a 512x512 SD image. The values depend only on
	// the seed, the stream name and the position, on every machine.
	z := latent.New(1, 4, 64, 64)
	latent.NewStream(42, "init").Fill(z)
	fmt.Printf("%.6f %.6f %.6f\n", z.Data[0], z.Data[1], z.Data[2])

	// A later use of randomness gets its own stream.
	renoise := latent.NewStream(42, "bridge/resolution/step12")
	fmt.Printf("%.6f\n", renoise.At(0))
	// Output:
	// -1.103296 -0.080303 -0.400083
	// 0.130270
}

func ExampleResize() {
	// Upsample a 2x2 image to 4x4 bilinearly, pixel centres aligned.
	src := latent.FromData([]float32{
		0, 1,
		1, 0,
	}, 1, 1, 2, 2)
	dst := latent.New(1, 1, 4, 4)
	if err := latent.Resize(dst, src, latent.Bilinear); err != nil {
		panic(err)
	}
	for y := range 4 {
		fmt.Printf("%.3f\n", dst.Data[y*4:(y+1)*4])
	}
	// Output:
	// [0.000 0.250 0.750 1.000]
	// [0.250 0.375 0.625 0.750]
	// [0.750 0.625 0.375 0.250]
	// [1.000 0.750 0.250 0.000]
}
