package f32

import (
	"fmt"
	"math"
)

// The sampler kernels are the per-sample updates of the diffusion samplers
// that are more than one AXPBY: DPM-Solver++ 2M's step, which writes the
// new state and the x0 estimate it keeps for the next step, three-term
// combinations with fresh noise, and the updates that estimate x0 from the
// state x and the noise prediction eps as
//
//	x0 = (x - sigma·eps)/alpha
//
// and clamp it. They follow the elementwise kernels' rules: every output
// computed in float64 from the float32 inputs, one IEEE operation at a time
// in the order of the formula (products never fused into sums), rounded
// once to float32; the same bits from the Go and the assembly versions; a
// panic if an input is shorter than dst; dst may be the same slice as an
// input (x, eps, noise), but the x0 of the DPM-Solver kernels must not
// overlap any other argument.
//
// The clamp is the one the samplers use, math.Max(-r, math.Min(r, v)) for
// a positive r: it turns a NaN into math.NaN() rather than passing the NaN
// on, and the assembly does the same.

// DPMSolverFirstOrder is DPM-Solver++'s first-order step (DDIM in log-SNR):
// with m = (x[i] - sigma·eps[i])·invAlpha, the x0 estimate, it sets
//
//	x0[i]  = float32(m)
//	dst[i] = float32(cx·x[i] + cd·m)
//
// computed in float64 with m not rounded before its use in dst.
func DPMSolverFirstOrder(dst, x0, x, eps []float32, sigma, invAlpha, cx, cd float64) {
	x0, x, eps = inputs3("DPMSolverFirstOrder", dst, x0, x, eps)
	if done := len(dst) &^ (asmBlock - 1); useAsm && done > 0 {
		dpmSolverFirstOrderAVX2(dst[:done], x0, x, eps, sigma, invAlpha, cx, cd)
		dst, x0, x, eps = dst[done:], x0[done:], x[done:], eps[done:]
	}
	x0, x, eps = x0[:len(dst)], x[:len(dst)], eps[:len(dst)]
	for i := range dst {
		z := float64(x[i])
		m := float64(float64(z-float64(sigma*float64(eps[i]))) * invAlpha)
		x0[i] = float32(m)
		dst[i] = float32(float64(cx*z) + float64(cd*m))
	}
}

// DPMSolverSecondOrder is DPM-Solver++ 2M's second-order step: with m =
// (x[i] - sigma·eps[i])·invAlpha, the new x0 estimate, and x0[i] on entry
// the previous one, it sets
//
//	d      = m + k·(m - x0[i])
//	x0[i]  = float32(m)
//	dst[i] = float32(cx·x[i] + cd·d)
//
// computed in float64 with m and d not rounded before their use.
func DPMSolverSecondOrder(dst, x0, x, eps []float32, sigma, invAlpha, k, cx, cd float64) {
	x0, x, eps = inputs3("DPMSolverSecondOrder", dst, x0, x, eps)
	if done := len(dst) &^ (asmBlock - 1); useAsm && done > 0 {
		dpmSolverSecondOrderAVX2(dst[:done], x0, x, eps, sigma, invAlpha, k, cx, cd)
		dst, x0, x, eps = dst[done:], x0[done:], x[done:], eps[done:]
	}
	x0, x, eps = x0[:len(dst)], x[:len(dst)], eps[:len(dst)]
	for i := range dst {
		z := float64(x[i])
		m := float64(float64(z-float64(sigma*float64(eps[i]))) * invAlpha)
		d := m + float64(k*float64(m-float64(x0[i])))
		x0[i] = float32(m)
		dst[i] = float32(float64(cx*z) + float64(cd*d))
	}
}

// AXPBYPCZ sets dst[i] = float32(a·x[i] + b·y[i] + c·z[i]), computed in
// float64 and summed left to right: a step of a sampler that adds fresh
// noise z.
func AXPBYPCZ(dst []float32, a float64, x []float32, b float64, y []float32, c float64, z []float32) {
	x, y, z = inputs3("AXPBYPCZ", dst, x, y, z)
	if done := len(dst) &^ (asmBlock - 1); useAsm && done > 0 {
		axpbypczAVX2(dst[:done], a, x, b, y, c, z)
		dst, x, y, z = dst[done:], x[done:], y[done:], z[done:]
	}
	x, y, z = x[:len(dst)], y[:len(dst)], z[:len(dst)]
	for i := range dst {
		v := float64(a*float64(x[i])) + float64(b*float64(y[i]))
		dst[i] = float32(v + float64(c*float64(z[i])))
	}
}

// X0Blend mixes the x0 estimate with the state: with x0 = (x[i] -
// sigma·eps[i])/alpha, clamped to [-r, r] when r > 0 and left alone
// otherwise, it sets
//
//	dst[i] = float32(a·x0 + b·x[i])
//
// computed in float64: LCM's denoised sample (c_out x0 + c_skip x) and
// the DDPM posterior mean of a clipped x0.
func X0Blend(dst, x, eps []float32, alpha, sigma, r, a, b float64) {
	x, eps = inputs2("X0Blend", dst, x, eps)
	x0Blend(dst, x, eps, nil, alpha, sigma, r, a, b, 0, 0, x0Flags(r, false))
}

// X0BlendRenoise is X0Blend followed by re-noising: with v = a·x0 + b·x[i],
// it sets
//
//	dst[i] = float32(p·v + q·noise[i])
//
// computed in float64 with v not rounded (p = 1 adds q·noise to v as it
// is).
func X0BlendRenoise(dst, x, eps []float32, alpha, sigma, r, a, b, p, q float64, noise []float32) {
	x, eps, noise = inputs3("X0BlendRenoise", dst, x, eps, noise)
	x0Blend(dst, x, eps, noise, alpha, sigma, r, a, b, p, q, x0Flags(r, true))
}

// X0EpsBlend mixes the x0 estimate with the noise prediction re-derived from
// it: with x0 = (x[i] - sigma·eps[i])/alpha, clamped to [-r, r] when r > 0
// and left alone otherwise, and e = (x[i] - alpha·x0)/sigma, it sets
//
//	dst[i] = float32(a·x0 + b·e)
//
// computed in float64: DDIM's step with a clipped x0.
func X0EpsBlend(dst, x, eps []float32, alpha, sigma, r, a, b float64) {
	x, eps = inputs2("X0EpsBlend", dst, x, eps)
	x0EpsBlend(dst, x, eps, nil, alpha, sigma, r, a, b, 0, 0, x0Flags(r, false))
}

// X0EpsBlendRenoise is X0EpsBlend followed by re-noising: with v = a·x0 +
// b·e, it sets
//
//	dst[i] = float32(p·v + q·noise[i])
//
// computed in float64 with v not rounded.
func X0EpsBlendRenoise(dst, x, eps []float32, alpha, sigma, r, a, b, p, q float64, noise []float32) {
	x, eps, noise = inputs3("X0EpsBlendRenoise", dst, x, eps, noise)
	x0EpsBlend(dst, x, eps, noise, alpha, sigma, r, a, b, p, q, x0Flags(r, true))
}

// The flags tell the assembly of X0Blend and X0EpsBlend which steps to
// take.
const (
	x0Clamp = 1 << iota // clamp x0 to [-r, r]
	x0Noise             // re-noise: p·v + q·noise
)

func x0Flags(r float64, noise bool) int {
	flags := 0
	if r > 0 {
		flags |= x0Clamp
	}
	if noise {
		flags |= x0Noise
	}
	return flags
}

// x0Blend is X0Blend and X0BlendRenoise for inputs as long as dst; noise
// is used only with the x0Noise flag.
func x0Blend(dst, x, eps, noise []float32, alpha, sigma, r, a, b, p, q float64, flags int) {
	if done := len(dst) &^ (asmBlock - 1); useAsm && done > 0 {
		x0BlendAVX2(dst[:done], x, eps, noise, alpha, sigma, r, a, b, p, q, flags)
		dst, x, eps = dst[done:], x[done:], eps[done:]
		if flags&x0Noise != 0 {
			noise = noise[done:]
		}
	}
	x, eps = x[:len(dst)], eps[:len(dst)]
	clamp, noisy := flags&x0Clamp != 0, flags&x0Noise != 0
	if noisy {
		noise = noise[:len(dst)]
	}
	for i := range dst {
		z := float64(x[i])
		x0 := float64(z-float64(sigma*float64(eps[i]))) / alpha
		if clamp {
			x0 = math.Max(-r, math.Min(r, x0))
		}
		v := float64(a*x0) + float64(b*z)
		if noisy {
			v = float64(p*v) + float64(q*float64(noise[i]))
		}
		dst[i] = float32(v)
	}
}

// x0EpsBlend is X0EpsBlend and X0EpsBlendRenoise for inputs as long as
// dst.
func x0EpsBlend(dst, x, eps, noise []float32, alpha, sigma, r, a, b, p, q float64, flags int) {
	if done := len(dst) &^ (asmBlock - 1); useAsm && done > 0 {
		x0EpsBlendAVX2(dst[:done], x, eps, noise, alpha, sigma, r, a, b, p, q, flags)
		dst, x, eps = dst[done:], x[done:], eps[done:]
		if flags&x0Noise != 0 {
			noise = noise[done:]
		}
	}
	x, eps = x[:len(dst)], eps[:len(dst)]
	clamp, noisy := flags&x0Clamp != 0, flags&x0Noise != 0
	if noisy {
		noise = noise[:len(dst)]
	}
	for i := range dst {
		z := float64(x[i])
		x0 := float64(z-float64(sigma*float64(eps[i]))) / alpha
		if clamp {
			x0 = math.Max(-r, math.Min(r, x0))
		}
		e := float64(z-float64(alpha*x0)) / sigma
		v := float64(a*x0) + float64(b*e)
		if noisy {
			v = float64(p*v) + float64(q*float64(noise[i]))
		}
		dst[i] = float32(v)
	}
}

// inputs3 is input for three inputs.
func inputs3(op string, dst, x, y, z []float32) ([]float32, []float32, []float32) {
	if len(x) < len(dst) || len(y) < len(dst) || len(z) < len(dst) {
		panic(fmt.Sprintf("f32: %s of %d samples from %d, %d and %d", op, len(dst), len(x), len(y), len(z)))
	}
	return x[:len(dst)], y[:len(dst)], z[:len(dst)]
}
