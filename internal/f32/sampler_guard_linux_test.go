package f32

import "testing"

// The sampler kernels read their inputs and write their outputs in
// blocks: run each with every slice ending at an inaccessible page, for
// every tail.
func TestSamplerKernelsStayInsideTheirSlices(t *testing.T) {
	withKernels(t, func(t *testing.T) {
		for n := 1; n <= 37; n++ {
			x, y, w, dst := guarded(t, n), guarded(t, n), guarded(t, n), guarded(t, n)
			for _, kern := range samplerKernels {
				for i := range x {
					x[i], y[i], w[i] = float32(i), 1, 2
				}
				k := []float64{0.5, 2, 1.5, 3, 0.25, 1, 0.5}[:kern.consts]
				kern.run(dst, k, x, y, w)
				want, wantX0 := kern.ref(k, x[n-1], y[n-1], 2)
				if dst[n-1] != want || kern.writes && w[n-1] != wantX0 {
					t.Fatalf("%s of %d samples: last sample %v and x0 %v, want %v and %v", kern.name, n, dst[n-1], w[n-1], want, wantX0)
				}
			}
		}
	})
}
