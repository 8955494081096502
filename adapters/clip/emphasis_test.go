package clip

import (
	"math"
	"slices"
	"testing"

	"github.com/coop-diffusion/coop/latent"
)

func TestApplyWeights(t *testing.T) {
	// Two windows of two tokens of width 2. The first is weighted [2, 1]:
	// mean 2.5, scaled [[2 4] [3 4]] with mean 3.25, restored by 2.5/3.25.
	z := latent.FromData([]float32{1, 2, 3, 4, 5, 6, 7, 8}, 2, 2, 2)
	if err := ApplyWeights(z, [][]float32{{2, 1}, {1, 1}}); err != nil {
		t.Fatal(err)
	}
	want := []float32{1.5384615, 3.0769231, 2.3076923, 3.0769231, 5, 6, 7, 8}
	const tol = 1e-6
	for i := range want {
		if math.Abs(float64(z.Data[i]-want[i])) > tol {
			t.Fatalf("z = %v, want %v (±%g)", z.Data, want, tol)
		}
	}
	if m := (sum(z.Data[:4])) / 4; math.Abs(m-2.5) > tol {
		t.Errorf("weighted window's mean %v, want 2.5 restored", m)
	}
}

// TestApplyWeightsUnit checks that all-one weights leave the embedding
// bit-for-bit alone, and that a zero weighted mean skips restoration.
func TestApplyWeightsUnit(t *testing.T) {
	data := []float32{0.1, -0.3, 7, 1e-3, 2, 3}
	z := latent.FromData(slices.Clone(data), 1, 3, 2)
	if err := ApplyWeights(z, [][]float32{{1, 1, 1}}); err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(z.Data, data) {
		t.Errorf("unit weights changed %v to %v", data, z.Data)
	}
	zero := latent.FromData([]float32{1, 1, 1, 1}, 1, 2, 2)
	if err := ApplyWeights(zero, [][]float32{{0, 0}}); err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(zero.Data, []float32{0, 0, 0, 0}) {
		t.Errorf("zero weights: %v", zero.Data)
	}
}

func TestApplyWeightsShapes(t *testing.T) {
	z := latent.New(2, 3, 4)
	for _, c := range []struct {
		z *latent.Tensor
		w [][]float32
	}{
		{latent.New(3, 4), [][]float32{{1, 1, 1}}},
		{z, [][]float32{{1, 1, 1}}},
		{z, [][]float32{{1, 1, 1}, {1, 1}}},
	} {
		if err := ApplyWeights(c.z, c.w); err == nil {
			t.Errorf("ApplyWeights(%v, %d windows) succeeded", c.z, len(c.w))
		}
	}
}

func TestJoinWindows(t *testing.T) {
	z := latent.New(3, 77, 8)
	z.Data[77*8] = 5 // first value of the second window
	j, err := JoinWindows(z)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(j.Shape, []int{1, 231, 8}) || j.Data[77*8] != 5 || &j.Data[0] != &z.Data[0] {
		t.Errorf("JoinWindows: %v sharing=%v", j, &j.Data[0] == &z.Data[0])
	}
	if _, err := JoinWindows(latent.New(77, 8)); err == nil {
		t.Error("JoinWindows of a rank-2 tensor succeeded")
	}
}
