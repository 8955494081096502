//go:build !purego

package latent

import (
	"math"
	"math/rand/v2"
	"testing"
)

// The kernel's Box-Muller transform, before the rounding to float32 that
// would hide a wrong last bit, against gaussianPair64 bit for bit: at the
// edges of its integer-to-float conversions (every binade of u1, the
// sqrt(1/2) boundary of the logarithm's reduction, u1 = 2^-53 and 1, the
// quadrant boundaries and exact multiples of pi/2, where a sine is a
// signed zero) and at random inputs spread over all binades.
func TestNoiseKernelBoxMuller(t *testing.T) {
	if !haveNoiseAsm {
		t.Skip("this processor has no AVX2: the kernel is not used")
	}
	const max53 = 1<<53 - 1
	var edges1 []uint64
	for k := range 54 {
		for _, d := range []int64{-2, -1, 0, 1} {
			if v := int64(1)<<k + d; 0 <= v && v <= max53 {
				edges1 = append(edges1, uint64(v))
			}
		}
	}
	// v = m1+1 whose significand is near that of sqrt(1/2), in every binade.
	sqrtHalf := uint64(1)<<52 | math.Float64bits(math.Sqrt2/2)&(1<<52-1)
	for s := range 53 {
		for _, d := range []int64{-2, -1, 0, 1} {
			if v := int64(sqrtHalf>>s) + d; 1 <= v && v <= 1<<53 {
				edges1 = append(edges1, uint64(v-1))
			}
		}
	}
	edges1 = append(edges1, max53-1, max53)
	var edges2 []uint64
	for q := range int64(5) {
		for _, d := range []int64{-1 << 50, -1<<50 + 1, -1, 0, 1, 1<<50 - 1, 1 << 50, 1<<50 + 1} {
			if v := q<<51 + d; 0 <= v && v <= max53 {
				edges2 = append(edges2, uint64(v))
			}
		}
	}
	edges2 = append(edges2, max53-1, max53)

	var m1s, m2s []uint64
	for _, a := range edges1 {
		for _, b := range edges2 {
			m1s, m2s = append(m1s, a), append(m2s, b)
		}
	}
	r := rand.New(rand.NewPCG(1, 2))
	for range 200_000 {
		m1s = append(m1s, r.Uint64()>>(11+r.IntN(53)))
		m2s = append(m2s, r.Uint64()>>11)
	}

	var m1, m2 [4]uint64
	var x, y [4]float64
	for i := 0; i < len(m1s); i += 4 {
		for l := range 4 {
			m1[l], m2[l] = m1s[(i+l)%len(m1s)], m2s[(i+l)%len(m2s)]
		}
		gaussianPairs64AVX2(&m1, &m2, &x, &y, noiseVec)
		for l := range 4 {
			wx, wy := gaussianPair64(m1[l], m2[l])
			if math.Float64bits(x[l]) != math.Float64bits(wx) || math.Float64bits(y[l]) != math.Float64bits(wy) {
				t.Fatalf("m1 %#x, m2 %#x: kernel (%v, %v), Go (%v, %v)", m1[l], m2[l], x[l], y[l], wx, wy)
			}
		}
	}
}

// The kernel's coefficient table must hold the Go coefficients in all four
// lanes: an error of one unit in the last place in a high-order
// coefficient changes the output too rarely for the tests above to see.
func TestNoiseKernelCoefficients(t *testing.T) {
	check := func(name string, k int, got [4]uint64, want float64) {
		t.Helper()
		for lane, g := range got {
			if g != math.Float64bits(want) {
				t.Errorf("%s[%d] lane %d = %#x, want %#x (%v)", name, k, lane, g, math.Float64bits(want), want)
			}
		}
	}
	for k, c := range lnCoeffs {
		check("ln", k, noiseVec.ln[k], c)
	}
	for k, c := range sinCoeffs {
		check("sin", k, noiseVec.sin[k], c)
	}
	for k, c := range cosCoeffs {
		check("cos", k, noiseVec.cos[k], c)
	}
	check("ln2", 0, noiseVec.ln2, math.Ln2)
	check("halfPi", 0, noiseVec.halfPi, math.Pi/2)
}
