package interposer_test

import (
	"context"
	"fmt"
	"math"

	"gonum.org/v1/gonum/mat"

	"github.com/coop-diffusion/coop/adapters"
	"github.com/coop-diffusion/coop/coop/cooptest"
	"github.com/coop-diffusion/coop/coop/interposer"
	"github.com/coop-diffusion/coop/latent"
)

// Fit a map from a space with factor 4 to one with factor 8, where each
// target latent pixel covers 2x2 source pixels, and compare it with the
// pixel bridge on an image it was not fitted on.
func ExampleFit() {
	ctx := context.Background()
	fine := cooptest.NewLinearVAE("fine", 4, 4, 0.5, 1)
	coarse := cooptest.NewLinearVAE("coarse", 4, 8, 0.3, 2)
	images := make([]*latent.Tensor, 5)
	for i := range images {
		images[i] = latent.New(1, 3, 64, 64)
		latent.NewStream(uint64(i), "example").Fill(images[i])
		for j, v := range images[i].Data {
			images[i].Data[j] = 0.5 + 0.1*v
		}
	}
	size := adapters.Size{Height: 64, Width: 64}
	ip, err := interposer.Fit(ctx, fine, coarse, images[:4], size, size)
	if err != nil {
		fmt.Println(err)
		return
	}
	l := ip.Layout()
	fmt.Printf("%v: input phases %v, %d features, %d outputs\n", ip, l.InPhases, ip.Features(), ip.Outputs())

	// In the engine: carry a clean latent of the fine space.
	src, dst := latent.New(1, 4, 16, 16), latent.New(1, 4, 8, 8)
	if err := fine.Encode(ctx, images[4], src); err != nil {
		fmt.Println(err)
		return
	}
	if err := ip.Apply(src, dst); err != nil {
		fmt.Println(err)
		return
	}
	q, err := interposer.Evaluate(ctx, ip, fine, coarse, images[4:], size, size)
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Printf("held out: PSNR against the pixel bridge above 90 dB: %v\n", q.PSNR > 90)
	// Output:
	// interposer fine -> coarse: input phases [2 2], 16 features, 4 outputs
	// held out: PSNR against the pixel bridge above 90 dB: true
}

// A map written by hand: swap two channels and add one to the second.
func ExampleNew() {
	side := interposer.Endpoint{Space: "a", Channels: 2, Factor: 8, Height: 16, Width: 16, LatentHeight: 2, LatentWidth: 2}
	other := side
	other.Space = "b"
	weights := mat.NewDense(2, 3, []float64{
		0, 1, 0, // out 0 = in 1
		1, 0, 1, // out 1 = in 0 + 1
	})
	layout := interposer.Layout{Filter: latent.Bicubic, Window: 1, InPhases: [2]int{1, 1}, OutPhases: [2]int{1, 1}}
	ip, err := interposer.New(side, other, layout, weights, interposer.Calibration{})
	if err != nil {
		fmt.Println(err)
		return
	}
	src := latent.FromData([]float32{1, 2, 3, 4, 10, 20, 30, 40}, 1, 2, 2, 2)
	dst := latent.New(1, 2, 2, 2)
	if err := ip.Apply(src, dst); err != nil {
		fmt.Println(err)
		return
	}
	for i, v := range dst.Data {
		dst.Data[i] = float32(math.Round(float64(v)*1e4) / 1e4)
	}
	fmt.Println(dst.Data)
	// Output:
	// [10 20 30 40 2 3 4 5]
}
