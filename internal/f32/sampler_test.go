package f32

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"
)

// samplerKernel describes one sampler kernel for the tests. Its inputs are
// x, y (eps) and w: noise or z, or for the DPM-Solver kernels the x0
// buffer, which they read (second order) and overwrite. run calls the
// kernel with the constants k; ref is its formula written out for one
// sample, returning dst's value and the new x0 (DPM-Solver only); exact is
// the same with every operation done in math/big, for finite operands in
// float64's normal range, or with the last product and the sum that takes
// it fused into one rounding if fused is set (which a kernel must not do).
// x0Deps says which constants and inputs the new x0 depends on, for
// counting the NaNs that meet in it.
type samplerKernel struct {
	name   string
	consts int
	readsW bool
	writes bool // w is the x0 buffer, written
	run    func(dst []float32, k []float64, x, y, w []float32)
	ref    func(k []float64, x, y, w float32) (out, x0 float32)
	exact  func(k []float64, x, y, w float32, fused bool) (out, x0 float32)
	x0Deps []int // indices into k, then -1 for x and -2 for y
	// cancel returns a y and a w for x that make the formula's last sum
	// cancel to about zero, where rounding shows most.
	cancel func(k []float64, x, y, w float32) (float32, float32)
	// clampsNaN reports whether the clamp of the x0 kernels meets a NaN,
	// which it replaces with math.NaN(): a NaN of its own.
	clampsNaN func(k []float64, x, y float32) bool
}

// mathClamp is the samplers' clamp, written out.
func mathClamp(v, r float64) float64 { return math.Max(-r, math.Min(r, v)) }

// refX0 is (x - sigma·eps)/alpha, clamped to [-r, r] when r > 0.
func refX0(alpha, sigma, r float64, x, e float32) float64 {
	se := float64(sigma * float64(e))
	diff := float64(x) - se
	x0 := diff / alpha
	if r > 0 {
		x0 = mathClamp(x0, r)
	}
	return x0
}

func exactX0(alpha, sigma, r float64, x, e float32) float64 {
	x0 := bigQuo(bigSub(float64(x), bigMul(sigma, float64(e))), alpha)
	if r > 0 {
		x0 = mathClamp(x0, r)
	}
	return x0
}

// exactSum is p·u + q·v in math/big, one rounding per operation or, fused,
// with q·v and the sum rounded once.
func exactSum(p, u, q, v float64, fused bool) float64 {
	if fused {
		return math.FMA(q, v, bigMul(p, u))
	}
	return bigAdd(bigMul(p, u), bigMul(q, v))
}

// epsFor returns the eps that gives x0 = (x - sigma·eps)/alpha.
func epsFor(x0, alpha, sigma float64, x float32) float32 {
	return float32((float64(x) - alpha*x0) / sigma)
}

// x0Kernel builds the test description of X0Blend (eps false) or
// X0EpsBlend (eps true), re-noising or not; k holds alpha, sigma, r, a, b
// and for re-noising p and q.
func x0Kernel(name string, eps, noise bool) samplerKernel {
	kern := samplerKernel{name: name, consts: 5, readsW: noise}
	if noise {
		kern.consts = 7
	}
	kern.run = func(dst []float32, k []float64, x, y, w []float32) {
		switch {
		case !eps && !noise:
			X0Blend(dst, x, y, k[0], k[1], k[2], k[3], k[4])
		case !eps:
			X0BlendRenoise(dst, x, y, k[0], k[1], k[2], k[3], k[4], k[5], k[6], w)
		case !noise:
			X0EpsBlend(dst, x, y, k[0], k[1], k[2], k[3], k[4])
		default:
			X0EpsBlendRenoise(dst, x, y, k[0], k[1], k[2], k[3], k[4], k[5], k[6], w)
		}
	}
	kern.ref = func(k []float64, x, y, w float32) (float32, float32) {
		x0 := refX0(k[0], k[1], k[2], x, y)
		second := float64(x)
		if eps {
			ax0 := float64(k[0] * x0)
			diff := float64(x) - ax0
			second = diff / k[1]
		}
		ax := float64(k[3] * x0)
		bz := float64(k[4] * second)
		v := ax + bz
		if noise {
			pv := float64(k[5] * v)
			qn := float64(k[6] * float64(w))
			v = pv + qn
		}
		return float32(v), 0
	}
	kern.exact = func(k []float64, x, y, w float32, fused bool) (float32, float32) {
		x0 := exactX0(k[0], k[1], k[2], x, y)
		second := float64(x)
		if eps {
			second = bigQuo(bigSub(float64(x), bigMul(k[0], x0)), k[1])
		}
		v := exactSum(k[3], x0, k[4], second, fused && !noise)
		if noise {
			v = exactSum(k[5], v, k[6], float64(w), fused)
		}
		return float32(v), 0
	}
	kern.cancel = func(k []float64, x, y, w float32) (float32, float32) {
		if noise {
			// p·v + q·noise = 0.
			x0 := refX0(k[0], k[1], k[2], x, y)
			second := float64(x)
			if eps {
				second = (float64(x) - k[0]*x0) / k[1]
			}
			v := k[3]*x0 + k[4]*second
			return y, float32(-k[5] * v / k[6])
		}
		// a·x0 + b·x = 0, or a·x0 + b·(x - alpha·x0)/sigma = 0.
		x0 := -k[4] * float64(x) / k[3]
		if eps {
			x0 = -k[4] * float64(x) / (k[1]*k[3] - k[4]*k[0])
		}
		return epsFor(x0, k[0], k[1], x), w
	}
	kern.clampsNaN = func(k []float64, x, y float32) bool {
		return k[2] > 0 && math.IsNaN(refX0(k[0], k[1], 0, x, y))
	}
	return kern
}

var samplerKernels = []samplerKernel{
	{
		name: "DPMSolverFirstOrder", consts: 4, writes: true,
		run: func(dst []float32, k []float64, x, y, w []float32) {
			DPMSolverFirstOrder(dst, w, x, y, k[0], k[1], k[2], k[3])
		},
		ref: func(k []float64, x, e, _ float32) (float32, float32) {
			z := float64(x)
			se := float64(k[0] * float64(e))
			diff := z - se
			m := float64(diff * k[1])
			cxz := float64(k[2] * z)
			cdm := float64(k[3] * m)
			return float32(cxz + cdm), float32(m)
		},
		exact: func(k []float64, x, e, _ float32, fused bool) (float32, float32) {
			m := bigMul(bigSub(float64(x), bigMul(k[0], float64(e))), k[1])
			return float32(exactSum(k[2], float64(x), k[3], m, fused)), float32(m)
		},
		x0Deps: []int{0, 1, -1, -2},
		// cx·x + cd·m = 0 for m = (x - sigma·eps)·invAlpha = -cx·x/cd.
		cancel: func(k []float64, x, _, w float32) (float32, float32) {
			m := -k[2] * float64(x) / k[3]
			return float32((float64(x) - m/k[1]) / k[0]), w
		},
	},
	{
		name: "DPMSolverSecondOrder", consts: 5, readsW: true, writes: true,
		run: func(dst []float32, k []float64, x, y, w []float32) {
			DPMSolverSecondOrder(dst, w, x, y, k[0], k[1], k[2], k[3], k[4])
		},
		ref: func(k []float64, x, e, prev float32) (float32, float32) {
			z := float64(x)
			se := float64(k[0] * float64(e))
			diff := z - se
			m := float64(diff * k[1])
			delta := m - float64(prev)
			kd := float64(k[2] * delta)
			d := m + kd
			cxz := float64(k[3] * z)
			cdd := float64(k[4] * d)
			return float32(cxz + cdd), float32(m)
		},
		exact: func(k []float64, x, e, prev float32, fused bool) (float32, float32) {
			m := bigMul(bigSub(float64(x), bigMul(k[0], float64(e))), k[1])
			d := bigAdd(m, bigMul(k[2], bigSub(m, float64(prev))))
			return float32(exactSum(k[3], float64(x), k[4], d, fused)), float32(m)
		},
		x0Deps: []int{0, 1, -1, -2},
		// cx·x + cd·d = 0 for d = m + k·(m - prev) = -cx·x/cd.
		cancel: func(k []float64, x, e, _ float32) (float32, float32) {
			m := (float64(x) - k[0]*float64(e)) * k[1]
			d := -k[3] * float64(x) / k[4]
			return e, float32((m*(1+k[2]) - d) / k[2])
		},
	},
	{
		name: "AXPBYPCZ", consts: 3, readsW: true,
		run: func(dst []float32, k []float64, x, y, w []float32) {
			AXPBYPCZ(dst, k[0], x, k[1], y, k[2], w)
		},
		ref: func(k []float64, x, y, z float32) (float32, float32) {
			ax := float64(k[0] * float64(x))
			by := float64(k[1] * float64(y))
			cz := float64(k[2] * float64(z))
			sum := ax + by
			return float32(sum + cz), 0
		},
		exact: func(k []float64, x, y, z float32, fused bool) (float32, float32) {
			sum := bigAdd(bigMul(k[0], float64(x)), bigMul(k[1], float64(y)))
			return float32(exactSum(1, sum, k[2], float64(z), fused)), 0
		},
		// a·x + b·y + c·z = 0.
		cancel: func(k []float64, x, y, _ float32) (float32, float32) {
			return y, float32(-(k[0]*float64(x) + k[1]*float64(y)) / k[2])
		},
	},
	x0Kernel("X0Blend", false, false),
	x0Kernel("X0BlendRenoise", false, true),
	x0Kernel("X0EpsBlend", true, false),
	x0Kernel("X0EpsBlendRenoise", true, true),
}

// samplerInputs returns n samples of x, y and w for kern with constants k;
// a fifth of them make the formula's last sum cancel, give or take an ulp
// of the last input changed.
func samplerInputs(rng *rand.Rand, kern samplerKernel, k []float64, n int) (x, y, w []float32) {
	x, y, w = make([]float32, n), make([]float32, n), make([]float32, n)
	for i := range n {
		x[i], y[i], w[i] = randomSample(rng), randomSample(rng), randomSample(rng)
		if rng.IntN(5) == 0 {
			cy, cw := kern.cancel(k, x[i], y[i], w[i])
			switch rng.IntN(3) {
			case 1:
				cy = math.Nextafter32(cy, float32(math.Inf(1)))
			case 2:
				cw = math.Nextafter32(cw, float32(math.Inf(-1)))
			}
			y[i], w[i] = cy, cw
		}
	}
	return x, y, w
}

// samplerNaNs counts the NaNs that meet in the computation of sample i's
// output and of its new x0: the NaN operands the value depends on, one
// more if an invalid operation makes a NaN of its own, which shows when the
// formula gives NaN with every NaN operand replaced by 1, and one more if
// the clamp, which returns math.NaN() for any NaN, meets one.
func samplerNaNs(kern samplerKernel, k []float64, x, y, w float32) (out, x0 int) {
	clean := func(v float64) (float64, int) {
		if math.IsNaN(v) {
			return 1, 1
		}
		return v, 0
	}
	kc := make([]float64, len(k))
	nanK := make([]int, len(k))
	for j, v := range k {
		kc[j], nanK[j] = clean(v)
	}
	xc, nanX := clean(float64(x))
	yc, nanY := clean(float64(y))
	wc, nanW := clean(float64(w))
	if !kern.readsW {
		nanW = 0
	}
	for _, v := range nanK[:kern.consts] {
		out += v
	}
	out += nanX + nanY + nanW
	for _, d := range kern.x0Deps {
		switch d {
		case -1:
			x0 += nanX
		case -2:
			x0 += nanY
		default:
			x0 += nanK[d]
		}
	}
	refOut, refX0 := kern.ref(kc, float32(xc), float32(yc), float32(wc))
	if math.IsNaN(float64(refOut)) {
		out++
	}
	if math.IsNaN(float64(refX0)) {
		x0++
	}
	if kern.clampsNaN != nil && kern.clampsNaN(k, x, y) {
		out++
	}
	return out, x0
}

// runSampler runs kern into a fresh dst of len(x) samples plus a guard,
// on a copy of w (which the DPM-Solver kernels overwrite), and checks
// that it left the guards alone.
func runSampler(t *testing.T, kern samplerKernel, k []float64, x, y, w []float32) (dst, x0 []float32) {
	t.Helper()
	n := len(x)
	const guard = 5
	buf, wbuf := make([]float32, n+guard), make([]float32, n+guard)
	for i := range buf {
		buf[i], wbuf[i] = -1234, -1234
	}
	copy(wbuf, w)
	kern.run(buf[:n], k, x, y, wbuf[:n])
	for i := n; i < n+guard; i++ {
		if buf[i] != -1234 || wbuf[i] != -1234 {
			t.Fatalf("%s of %d samples wrote past its end, at %d", kern.name, n, i)
		}
	}
	return buf[:n], wbuf[:n]
}

// checkSampler runs kern with the Go implementation and checks it against
// the formula, then with the assembly (where there is one) and checks it
// against the Go results: dst and, for the DPM-Solver kernels, the x0 they
// write.
func checkSampler(t *testing.T, kern samplerKernel, k []float64, x, y, w []float32) {
	t.Helper()
	useAsm = false
	got, gotX0 := runSampler(t, kern, k, x, y, w)
	for i := range got {
		want, wantX0 := kern.ref(k, x[i], y[i], w[i])
		nOut, nX0 := samplerNaNs(kern, k, x[i], y[i], w[i])
		if !sameSample(got[i], want, nOut) || kern.writes && !sameSample(gotX0[i], wantX0, nX0) {
			t.Fatalf("go: %s of %d samples, constants %v: sample %d of %v, %v, %v gives %v (%#08x) and x0 %v, want %v (%#08x) and %v",
				kern.name, len(x), k, i, x[i], y[i], w[i], got[i], math.Float32bits(got[i]), gotX0[i], want, math.Float32bits(want), wantX0)
		}
	}
	if !hasAVX2FMA {
		return
	}
	useAsm = true
	asm, asmX0 := runSampler(t, kern, k, x, y, w)
	for i := range asm {
		nOut, nX0 := samplerNaNs(kern, k, x[i], y[i], w[i])
		if !sameSample(asm[i], got[i], nOut) || kern.writes && !sameSample(asmX0[i], gotX0[i], nX0) {
			t.Fatalf("asm: %s of %d samples, constants %v: sample %d of %v, %v, %v gives %v (%#08x) and x0 %v (%#08x), Go gives %v (%#08x) and %v (%#08x)",
				kern.name, len(x), k, i, x[i], y[i], w[i], asm[i], math.Float32bits(asm[i]), asmX0[i], math.Float32bits(asmX0[i]),
				got[i], math.Float32bits(got[i]), gotX0[i], math.Float32bits(gotX0[i]))
		}
	}
}

// randomSamplerConstants returns n constants: random or special values,
// with the clamp range (the third of the x0 kernels) one that clamps
// half the time.
func randomSamplerConstants(rng *rand.Rand, kern samplerKernel) []float64 {
	k := make([]float64, kern.consts)
	for j := range k {
		k[j] = randomConstant(rng)
	}
	if kern.consts >= 5 && !kern.writes && rng.IntN(2) == 0 {
		k[2] = []float64{0.5, 1, 1.5, 3, math.Inf(1), math.SmallestNonzeroFloat64}[rng.IntN(6)]
	}
	return k
}

// Every sampler kernel computes its formula, operation by operation, for
// any inputs at all, with the Go and the assembly implementations giving
// the same bits, at every length of the assembly's blocks with every tail.
func TestSamplerKernelsMatchFormula(t *testing.T) {
	saved := useAsm
	defer func() { useAsm = saved }()
	for _, kern := range samplerKernels {
		t.Run(kern.name, func(t *testing.T) {
			rng := rand.New(rand.NewPCG(21, uint64(len(kern.name))))
			for _, n := range elementwiseLengths() {
				tries := 4
				if n > 1000 {
					tries = 2
				}
				for range tries {
					k := randomSamplerConstants(rng, kern)
					x, y, w := samplerInputs(rng, kern, k, n)
					checkSampler(t, kern, k, x, y, w)
				}
			}
		})
	}
}

// Every special constant in every position, over inputs of every kind.
func TestSamplerKernelsSpecialConstants(t *testing.T) {
	saved := useAsm
	defer func() { useAsm = saved }()
	for _, kern := range samplerKernels {
		t.Run(kern.name, func(t *testing.T) {
			rng := rand.New(rand.NewPCG(22, uint64(len(kern.name))))
			for j := range kern.consts {
				for _, c := range specialFloat64s {
					for range 3 {
						k := randomSamplerConstants(rng, kern)
						k[j] = c
						x, y, w := samplerInputs(rng, kern, k, 23)
						checkSampler(t, kern, k, x, y, w)
					}
				}
			}
		})
	}
}

// The kernels round every operation to float64 on its own: they agree
// with math/big doing one operation at a time, on ordinary samples (many
// of them cancelling, so that fusing would show) and constants that make
// the clamp bite.
func TestSamplerKernelsRoundEachOperation(t *testing.T) {
	withKernels(t, func(t *testing.T) {
		for _, kern := range samplerKernels {
			rng := rand.New(rand.NewPCG(23, uint64(len(kern.name))))
			const n = 1003
			fusionShows := 0
			for range 4 {
				k := make([]float64, kern.consts)
				for j := range k {
					k[j] = rng.NormFloat64()
				}
				if kern.consts >= 5 && !kern.writes {
					k[0], k[1], k[2] = 0.1+rng.Float64(), 0.1+rng.Float64(), 1.5
				}
				x, y, w := make([]float32, n), make([]float32, n), make([]float32, n)
				for i := range n {
					x[i], y[i], w[i] = float32(rng.NormFloat64()), float32(rng.NormFloat64()), float32(rng.NormFloat64())
					if i%2 == 0 {
						y[i], w[i] = kern.cancel(k, x[i], y[i], w[i])
					}
				}
				got, gotX0 := runSampler(t, kern, k, x, y, w)
				for i := range got {
					want, wantX0 := kern.exact(k, x[i], y[i], w[i], false)
					if math.Float32bits(got[i]) != math.Float32bits(want) || kern.writes && math.Float32bits(gotX0[i]) != math.Float32bits(wantX0) {
						t.Fatalf("%s, constants %v: sample %d of %v, %v, %v gives %v and x0 %v, want %v and %v",
							kern.name, k, i, x[i], y[i], w[i], got[i], gotX0[i], want, wantX0)
					}
					if fused, _ := kern.exact(k, x[i], y[i], w[i], true); math.Float32bits(fused) != math.Float32bits(want) {
						fusionShows++
					}
				}
			}
			if fusionShows == 0 {
				t.Errorf("%s: no input on which fusing would show", kern.name)
			}
		}
	})
}

// dst may be x, y or the noise (not the x0 of the DPM-Solver kernels).
func TestSamplerKernelsInPlace(t *testing.T) {
	withKernels(t, func(t *testing.T) {
		rng := rand.New(rand.NewPCG(24, 25))
		for _, kern := range samplerKernels {
			for _, n := range []int{3, 21, 100} {
				k := randomSamplerConstants(rng, kern)
				x, y, w := samplerInputs(rng, kern, k, n)
				want, wantX0 := runSampler(t, kern, k, x, y, w)
				for which, name := range []string{"dst = x", "dst = y", "dst = w"} {
					if which == 2 && (kern.writes || !kern.readsW) {
						continue
					}
					in := [3][]float32{clone(x), clone(y), clone(w)}
					dst := in[which]
					kern.run(dst, k, in[0], in[1], in[2])
					for i := range dst {
						nOut, nX0 := samplerNaNs(kern, k, x[i], y[i], w[i])
						if !sameSample(dst[i], want[i], nOut) || kern.writes && !sameSample(in[2][i], wantX0[i], nX0) {
							t.Fatalf("%s, %s, %d samples: sample %d is %v, want %v", kern.name, name, n, i, dst[i], want[i])
						}
					}
				}
			}
		}
	})
}

func clone(xs []float32) []float32 { return append([]float32(nil), xs...) }

// Inputs may be longer than dst; a shorter one panics, whichever it is.
func TestSamplerKernelsPanicOnShortInputs(t *testing.T) {
	withKernels(t, func(t *testing.T) {
		for _, kern := range samplerKernels {
			k := make([]float64, kern.consts)
			for j := range k {
				k[j] = 1 + float64(j)
			}
			long := func() []float32 { return make([]float32, 20) }
			kern.run(make([]float32, 19), k, long(), long(), long())
			inputs := 2
			if kern.readsW || kern.writes {
				inputs = 3
			}
			for which := range inputs {
				func() {
					defer func() {
						if recover() == nil {
							t.Errorf("%s: no panic for input %d one sample short", kern.name, which)
						}
					}()
					in := [3][]float32{long(), long(), long()}
					in[which] = in[which][:19]
					kern.run(make([]float32, 20), k, in[0], in[1], in[2])
				}()
			}
		}
	})
}

// The clamp is the samplers' math.Max(-r, math.Min(r, v)): the bounds
// themselves, infinities pulled in, NaN turned into math.NaN() whatever
// its payload and sign, and no clamp at all for r <= 0 or NaN.
func TestX0BlendClamp(t *testing.T) {
	withKernels(t, func(t *testing.T) {
		nan := math.Float32frombits(0xffc12345)
		inf := float32(math.Inf(1))
		v := []float32{3, -3, 0.5, inf, -inf, nan, 1, 2, -2.5}
		// x = 0, sigma = -1, alpha = 1: x0 = 0 - (-1·v) is v, bit for bit;
		// a = 1, b = 0: dst is the clamped x0.
		x, dst := make([]float32, len(v)), make([]float32, len(v))
		X0Blend(dst, x, v, 1, -1, 2, 1, 0)
		want := []float32{2, -2, 0.5, 2, -2, float32(math.NaN()), 1, 2, -2}
		for i := range dst {
			if math.Float32bits(dst[i]) != math.Float32bits(want[i]) {
				t.Errorf("clamp of %v to 2 is %v (%#08x), want %v (%#08x)", v[i], dst[i], math.Float32bits(dst[i]), want[i], math.Float32bits(want[i]))
			}
		}
		for _, r := range []float64{0, -1, math.NaN()} {
			X0Blend(dst, x, v, 1, -1, r, 1, 0)
			for i := range dst {
				if math.Float32bits(dst[i]) != math.Float32bits(v[i]) {
					t.Errorf("r %v: x0 %v (%#08x) became %v (%#08x)", r, v[i], math.Float32bits(v[i]), dst[i], math.Float32bits(dst[i]))
				}
			}
		}
	})
}

// BenchmarkSamplerKernels runs every kernel on an SDXL latent (4 x 128 x
// 128). SetBytes counts the samples written to dst.
func BenchmarkSamplerKernels(b *testing.B) {
	const n = 4 * 128 * 128
	for _, kern := range samplerKernels {
		for _, asm := range kernels() {
			b.Run(fmt.Sprintf("%s/%s", kern.name, kernelName(asm)), func(b *testing.B) {
				saved := useAsm
				defer func() { useAsm = saved }()
				useAsm = asm
				rng := rand.New(rand.NewPCG(1, 1))
				x, y, w, dst := randomSlice(rng, n), randomSlice(rng, n), randomSlice(rng, n), make([]float32, n)
				k := []float64{0.7, 1.3, 1.5, 0.9, 0.2, 1, 0.3}[:kern.consts]
				b.SetBytes(4 * n)
				b.ReportAllocs()
				for b.Loop() {
					kern.run(dst, k, x, y, w)
				}
			})
		}
	}
}
