package f32_test

import (
	"fmt"

	"github.com/coop-diffusion/coop/internal/f32"
)

// Linear interpolation of a row of 4 samples to 8, as a resize's
// horizontal pass: each output averages the two source samples around it.
func ExampleWindows_Dots() {
	starts := []int{0, 0, 0, 1, 1, 2, 2, 2}
	weights := []float32{
		1, 0, 0.75, 0.25, 0.25, 0.75, 0.75, 0.25,
		0.25, 0.75, 0.75, 0.25, 0.25, 0.75, 0, 1,
	}
	w, err := f32.NewWindows(4, 2, starts, weights)
	if err != nil {
		panic(err)
	}
	dst := make([]float32, 8)
	w.Dots(dst, []float32{0, 4, 8, 12})
	fmt.Println(dst)
	// Output: [0 1 3 5 7 9 11 12]
}

// Three phase planes of four samples become four groups of three: the
// depth-to-space step of an interposer with three output phases.
func ExampleInterleave() {
	planes := []float32{
		0, 1, 2, 3, // phase 0
		10, 11, 12, 13, // phase 1
		20, 21, 22, 23, // phase 2
	}
	row := make([]float32, 12)
	f32.Interleave(row, 0, planes, 0, 4, 3, 4, 1)
	fmt.Println(row)
	// Output: [0 10 20 1 11 21 2 12 22 3 13 23]
}

// Classifier-free guidance with a weight of 7.5: each output moves from
// the unconditional prediction past the conditional one.
func ExampleGuide() {
	uncond := []float32{0, 1, 2, -0.5}
	cond := []float32{1, 1, 4, -0.25}
	guided := make([]float32, 4)
	f32.Guide(guided, uncond, cond, 7.5)
	fmt.Println(guided)
	// Output: [7.5 1 17 1.375]
}

// Decoded pixels from [-1, 1] to [0, 1] in place, with the check for
// NaN and infinity that comes with it.
func ExampleAddMulFinite() {
	pixels := []float32{-1, 0, 0.5, 1, 3}
	finite := f32.AddMulFinite(pixels, pixels, 1, 0.5)
	fmt.Println(pixels, finite)
	// Output: [0 0.5 0.75 1 2] true
}
