package ort

import (
	"math"

	"github.com/x448/float16"
)

// The conversions between float32 and IEEE 754 binary16 of float16
// graphs' inputs and outputs. They give the bits github.com/x448/float16
// gives (round to nearest, ties to even; NaN payloads kept, quiet bit
// set), which half_test.go checks. With F16C (half_f16c.go) a latent of SD
// size (2 x 4 x 64 x 64) converts in about 2 µs each way; the Go loops
// below, for other processors and short slices, take 35 to 45 µs, half
// the time of calling float16 per value.

// toHalf writes the binary16 bits of src into dst.
func toHalf(dst []uint16, src []float32) {
	if useF16C {
		n := toHalfF16C(dst, src)
		dst, src = dst[n:], src[n:]
	}
	toHalfGo(dst, src)
}

// fromHalf writes the float32 values of the binary16 bits src into dst
// (exactly: every binary16 is a float32).
func fromHalf(dst []float32, src []uint16) {
	if useF16C {
		n := fromHalfF16C(dst, src)
		dst, src = dst[n:], src[n:]
	}
	fromHalfGo(dst, src)
}

// toHalfGo is toHalf without F16C. Finite values take the arithmetic of
// Fabian Giesen's float_to_half_fast3_rtne; infinities and NaNs
// float16.Fromfloat32's path. The loop body is written out here, rather
// than calling a per-value function, which halves the cost.
func toHalfGo(dst []uint16, src []float32) {
	const (
		infinity  = 0xff << 23
		halfMax   = (127 + 16) << 23                   // 2^16: from here on, binary16 infinity
		minNormal = 113 << 23                          // 2^-14, the least normal binary16
		denorm    = ((127 - 15) + (23 - 10) + 1) << 23 // 0.5: aligns subnormal mantissas at the bottom
		rebias    = (127 - 15) << 23                   // from float32's exponent bias to binary16's
	)
	dst = dst[:len(src)]
	for i, f := range src {
		u := math.Float32bits(f)
		sign := uint16(u>>16) & 0x8000
		u &^= 0x80000000
		var h uint16
		switch {
		case u < minNormal:
			// Adding 0.5 rounds the mantissa to the subnormal binary16's
			// resolution (float32 addition rounds to nearest even), and
			// the bits above 0.5's are the result.
			h = uint16(math.Float32bits(math.Float32frombits(u)+math.Float32frombits(denorm)) - denorm)
		case u < halfMax:
			// Round to nearest even: add just under half a binary16 ulp,
			// plus one when the kept mantissa is odd, and truncate.
			h = uint16((u - rebias + 0xfff + (u>>13)&1) >> 13)
		case u < infinity:
			h = 0x7c00
		default:
			h = float16.Fromfloat32(f).Bits() &^ 0x8000
		}
		dst[i] = sign | h
	}
}

// fromHalfGo is fromHalf without F16C. Subnormals are scaled by a float32
// subtraction; infinities and NaNs take float16's path.
func fromHalfGo(dst []float32, src []uint16) {
	const (
		shiftedExp = 0x7c00 << 13
		magic      = 113 << 23 // 2^-14
	)
	dst = dst[:len(src)]
	for i, h := range src {
		u := uint32(h&0x7fff) << 13
		exp := u & shiftedExp
		u += (127 - 15) << 23
		switch exp {
		case shiftedExp:
			dst[i] = float16.Frombits(h).Float32()
			continue
		case 0:
			u += 1 << 23
			u = math.Float32bits(math.Float32frombits(u) - math.Float32frombits(magic))
		}
		dst[i] = math.Float32frombits(u | uint32(h&0x8000)<<16)
	}
}
