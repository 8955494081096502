//go:build !purego

package latent

import (
	"math"

	"github.com/coop-diffusion/coop/internal/f32"
)

// useNoiseAsm selects the AVX2 noise kernel; the tests turn it off to check
// the Go code, which is the reference, against it. The kernel uses no FMA:
// it performs the same IEEE-754 operations in the same order as the Go
// code, four pairs per instruction, so its output is bit-identical. It
// needs only AVX2 but follows the choice of the f32 kernels, so that one
// switch (the purego tag) turns all assembly off.
var useNoiseAsm = f32.HasAVX2FMA()

// noiseKernelPairs is the number of pairs the kernel computes per loop
// iteration: two groups of four, whose long dependency chains overlap.
const noiseKernelPairs = 8

// noiseKernelKeys are the Philox round keys of one Noise, each repeated over
// the four 64-bit lanes of a YMM register: [round][k0, k1]. The counter
// words that come from the stream are the same for every pair, so the
// kernel folds them into the keys of the first two rounds instead of
// multiplying them again and again (see kernelKeys).
type noiseKernelKeys [10][2][4]uint64

// noiseVectors holds the constants of the kernel, each repeated over four
// 64-bit lanes so that the kernel reads them as memory operands. Integer
// fields hold integers, the others the bits of float64s.
type noiseVectors struct {
	lanes     [2][4]uint64 // pair offsets of the two groups, 0..3 and 4..7
	philoxM0  [4]uint64
	philoxM1  [4]uint64
	one       [4]uint64 // integer 1
	exp52     [4]uint64 // 2^52: OR an integer below 2^52 into its mantissa to get 2^52 + it
	exp84     [4]uint64 // 2^84: OR an integer below 2^52 in to get 2^84 + 2^32 * it
	exp84p52  [4]uint64 // 2^84 + 2^52
	mantissa  [4]uint64 // the mantissa field
	sqrtHalfM [4]uint64 // the mantissa field of sqrt(1/2), minus one
	oneBits   [4]uint64 // 1.0
	expBias   [4]uint64 // 2^52 + 1076, see the kernel
	ln        [12][4]uint64
	ln2       [4]uint64
	minusTwo  [4]uint64
	half50    [4]uint64 // integer 2^50
	low51     [4]uint64 // integer 2^51 - 1
	exp52p50  [4]uint64 // 2^52 + 2^50
	twoM51    [4]uint64 // 2^-51
	halfPi    [4]uint64
	sin       [8][4]uint64
	cos       [9][4]uint64
	sign      [4]uint64 // the sign bit
}

var noiseVec = newNoiseVectors()

func newNoiseVectors() *noiseVectors {
	splat := func(x uint64) [4]uint64 { return [4]uint64{x, x, x, x} }
	bits := func(x float64) [4]uint64 { return splat(math.Float64bits(x)) }
	v := &noiseVectors{
		lanes:     [2][4]uint64{{0, 1, 2, 3}, {4, 5, 6, 7}},
		philoxM0:  splat(philoxM0),
		philoxM1:  splat(philoxM1),
		one:       splat(1),
		exp52:     bits(0x1p52),
		exp84:     bits(0x1p84),
		exp84p52:  bits(0x1p84 + 0x1p52),
		mantissa:  splat(1<<52 - 1),
		sqrtHalfM: splat(math.Float64bits(math.Sqrt2/2)&(1<<52-1) - 1),
		oneBits:   bits(1),
		expBias:   bits(0x1p52 + 1076),
		ln2:       bits(math.Ln2),
		minusTwo:  bits(-2),
		half50:    splat(1 << 50),
		low51:     splat(1<<51 - 1),
		exp52p50:  bits(0x1p52 + 0x1p50),
		twoM51:    bits(0x1p-51),
		halfPi:    bits(math.Pi / 2),
		sign:      splat(1 << 63),
	}
	for k, c := range lnCoeffs {
		v.ln[k] = bits(c)
	}
	for k, c := range sinCoeffs {
		v.sin[k] = bits(c)
	}
	for k, c := range cosCoeffs {
		v.cos[k] = bits(c)
	}
	return v
}

// kernelKeys returns the round keys of n for the kernel. Philox's first
// round multiplies the counter word c2, the low half of the stream, which
// is the same for every pair: the kernel takes hi(M1*c2) ^ k0 and c3 ^ k1
// as the first round's keys, and lo(M1*c2), the second round's c1, folded
// into the second round's k0.
func (n Noise) kernelKeys(keys *noiseKernelKeys) {
	k0, k1 := uint32(n.Seed), uint32(n.Seed>>32)
	c2, c3 := uint32(n.Stream), uint32(n.Stream>>32)
	p1 := uint64(philoxM1) * uint64(c2)
	for round := range keys {
		a, b := k0, k1
		switch round {
		case 0:
			a, b = uint32(p1>>32)^k0, c3^k1
		case 1:
			a ^= uint32(p1)
		}
		keys[round][0] = [4]uint64{uint64(a), uint64(a), uint64(a), uint64(a)}
		keys[round][1] = [4]uint64{uint64(b), uint64(b), uint64(b), uint64(b)}
		k0 += philoxW0
		k1 += philoxW1
	}
}

// fillPairsAsm writes pairs j, j+1, ... into dst in whole kernel blocks and
// returns how many pairs it wrote.
func (n Noise) fillPairsAsm(dst []float32, j uint64) int {
	blocks := len(dst) / (2 * noiseKernelPairs)
	if blocks == 0 {
		return 0
	}
	var keys noiseKernelKeys
	n.kernelKeys(&keys)
	gaussianPairsAVX2(&dst[0], blocks, j, &keys, noiseVec)
	return blocks * noiseKernelPairs
}

// gaussianPairsAVX2 writes the 8*blocks pairs from index j on to dst, which
// must have room for 16*blocks values.
//
//go:noescape
func gaussianPairsAVX2(dst *float32, blocks int, j uint64, keys *noiseKernelKeys, vec *noiseVectors)

// gaussianPairs64AVX2 is the kernel's Box-Muller transform alone, on four
// pairs of 53-bit integers, before rounding to float32 (as gaussianPair64),
// for the tests.
//
//go:noescape
func gaussianPairs64AVX2(m1, m2 *[4]uint64, x, y *[4]float64, vec *noiseVectors)
