package f32_test

import (
	"fmt"

	"github.com/coop-diffusion/coop/internal/f32"
)

// An Euler ancestral step, x + dt·eps + up·noise, with 1·x standing for x
// (exactly: the product by one rounds nothing).
func ExampleAXPBYPCZ() {
	x := []float32{1, -2, 0.5, 4}
	eps := []float32{0.5, 1, -1, 0}
	noise := []float32{1, 0, 2, -1}
	f32.AXPBYPCZ(x, 1, x, -2, eps, 0.25, noise)
	fmt.Println(x)
	// Output: [0.25 -4 3 3.75]
}

// A DPM-Solver++ 2M step: the new x0 estimate m = (x - sigma·eps)/alpha
// extrapolated from the previous one, D = m + k·(m - previous), moves x to
// cx·x + cd·D, and m replaces the previous estimate.
func ExampleDPMSolverSecondOrder() {
	x := []float32{2, -1}
	eps := []float32{1, 1}
	x0 := []float32{0.5, -3} // the previous step's estimate
	// sigma 1, 1/alpha 2 (alpha 0.5), k 0.5, cx 0.5, cd 0.25.
	f32.DPMSolverSecondOrder(x, x0, x, eps, 1, 2, 0.5, 0.5, 0.25)
	fmt.Println(x, x0)
	// Output: [1.6875 -1.625] [2 -4]
}
