package f32

import (
	"fmt"
	"math"
	"math/big"
	"math/rand/v2"
	"testing"
)

// elementwiseKernel describes one elementwise function for the tests: run
// calls it with constants k and inputs x and y (y unused by one-input
// kernels) and returns what it reports about finiteness, if it does; ref
// is its formula written out for one sample; exact is the same computed
// with math/big, each operation rounded to float64 on its own, for finite
// operands in float64's normal range; fused, where the formula has a
// product followed by a sum, is the formula with that pair fused, which a
// kernel must not compute; cancel returns a last input that makes the
// formula cancel to about zero given the constants and the first input.
type elementwiseKernel struct {
	name   string
	inputs int
	run    func(dst []float32, k [2]float64, x, y []float32) (finite, reports bool)
	ref    func(k [2]float64, x, y float32) float32
	exact  func(k [2]float64, x, y float32) float32
	fused  func(k [2]float64, x, y float32) float32
	cancel func(k [2]float64, x float32) float32
}

// Operations on float64 with one rounding each, done in math/big so that
// no compiler can fuse them.
func bigOp(op func(z, x, y *big.Float) *big.Float, a, b float64) float64 {
	z := new(big.Float).SetPrec(53).SetMode(big.ToNearestEven)
	v, _ := op(z, big.NewFloat(a), big.NewFloat(b)).Float64()
	return v
}

func bigMul(a, b float64) float64 { return bigOp((*big.Float).Mul, a, b) }
func bigAdd(a, b float64) float64 { return bigOp((*big.Float).Add, a, b) }
func bigSub(a, b float64) float64 { return bigOp((*big.Float).Sub, a, b) }
func bigQuo(a, b float64) float64 { return bigOp((*big.Float).Quo, a, b) }

func axpbyKernel(name string, finite bool) elementwiseKernel {
	return elementwiseKernel{
		name: name, inputs: 2,
		run: func(dst []float32, k [2]float64, x, y []float32) (bool, bool) {
			if finite {
				return AXPBYFinite(dst, k[0], x, k[1], y), true
			}
			AXPBY(dst, k[0], x, k[1], y)
			return false, false
		},
		ref: func(k [2]float64, x, y float32) float32 {
			ax := float64(k[0] * float64(x))
			by := float64(k[1] * float64(y))
			return float32(ax + by)
		},
		exact: func(k [2]float64, x, y float32) float32 {
			return float32(bigAdd(bigMul(k[0], float64(x)), bigMul(k[1], float64(y))))
		},
		fused: func(k [2]float64, x, y float32) float32 {
			return float32(math.FMA(k[0], float64(x), float64(k[1]*float64(y))))
		},
		cancel: func(k [2]float64, x float32) float32 { return float32(-k[0] * float64(x) / k[1]) },
	}
}

func addMulKernel(name string, finite bool) elementwiseKernel {
	return elementwiseKernel{
		name: name, inputs: 1,
		run: func(dst []float32, k [2]float64, x, _ []float32) (bool, bool) {
			if finite {
				return AddMulFinite(dst, x, k[0], k[1]), true
			}
			AddMul(dst, x, k[0], k[1])
			return false, false
		},
		ref: func(k [2]float64, x, _ float32) float32 {
			sum := float64(x) + k[0]
			return float32(sum * k[1])
		},
		exact: func(k [2]float64, x, _ float32) float32 {
			return float32(bigMul(bigAdd(float64(x), k[0]), k[1]))
		},
		cancel: func(k [2]float64, _ float32) float32 { return float32(-k[0]) },
	}
}

func fuse2Kernel(name string, finite bool) elementwiseKernel {
	return elementwiseKernel{
		name: name, inputs: 2,
		run: func(dst []float32, k [2]float64, x, y []float32) (bool, bool) {
			if finite {
				return Fuse2Finite(dst, k[0], x, k[1], y), true
			}
			Fuse2(dst, k[0], x, k[1], y)
			return false, false
		},
		ref: func(k [2]float64, x, y float32) float32 {
			first := float32(k[0] * float64(x))
			second := float64(k[1] * float64(y))
			return float32(float64(first) + second)
		},
		exact: func(k [2]float64, x, y float32) float32 {
			first := float32(bigMul(k[0], float64(x)))
			return float32(bigAdd(float64(first), bigMul(k[1], float64(y))))
		},
		fused: func(k [2]float64, x, y float32) float32 {
			return float32(math.FMA(k[1], float64(y), float64(float32(k[0]*float64(x)))))
		},
		cancel: func(k [2]float64, x float32) float32 {
			return float32(-float64(float32(k[0]*float64(x))) / k[1])
		},
	}
}

var elementwiseKernels = []elementwiseKernel{
	axpbyKernel("AXPBY", false),
	axpbyKernel("AXPBYFinite", true),
	{
		name: "Scale", inputs: 1,
		run: func(dst []float32, k [2]float64, x, _ []float32) (bool, bool) {
			Scale(dst, k[0], x)
			return false, false
		},
		ref:   func(k [2]float64, x, _ float32) float32 { return float32(k[0] * float64(x)) },
		exact: func(k [2]float64, x, _ float32) float32 { return float32(bigMul(k[0], float64(x))) },
	},
	addMulKernel("AddMul", false),
	addMulKernel("AddMulFinite", true),
	{
		name: "DivAdd", inputs: 1,
		run: func(dst []float32, k [2]float64, x, _ []float32) (bool, bool) {
			DivAdd(dst, x, k[0], k[1])
			return false, false
		},
		ref: func(k [2]float64, x, _ float32) float32 {
			quo := float64(x) / k[0]
			return float32(quo + k[1])
		},
		exact: func(k [2]float64, x, _ float32) float32 {
			return float32(bigAdd(bigQuo(float64(x), k[0]), k[1]))
		},
		cancel: func(k [2]float64, _ float32) float32 { return float32(-k[1] * k[0]) },
	},
	{
		name: "MulAdd", inputs: 1,
		run: func(dst []float32, k [2]float64, x, _ []float32) (bool, bool) {
			MulAdd(dst, x, k[0], k[1])
			return false, false
		},
		ref: func(k [2]float64, x, _ float32) float32 {
			prod := float64(float64(x) * k[0])
			return float32(prod + k[1])
		},
		exact: func(k [2]float64, x, _ float32) float32 {
			return float32(bigAdd(bigMul(float64(x), k[0]), k[1]))
		},
		fused:  func(k [2]float64, x, _ float32) float32 { return float32(math.FMA(float64(x), k[0], k[1])) },
		cancel: func(k [2]float64, _ float32) float32 { return float32(-k[1] / k[0]) },
	},
	{
		name: "Guide", inputs: 2,
		run: func(dst []float32, k [2]float64, u, c []float32) (bool, bool) {
			Guide(dst, u, c, k[0])
			return false, false
		},
		ref: func(k [2]float64, u, c float32) float32 {
			diff := float64(c) - float64(u)
			step := float64(k[0] * diff)
			return float32(float64(u) + step)
		},
		exact: func(k [2]float64, u, c float32) float32 {
			return float32(bigAdd(float64(u), bigMul(k[0], bigSub(float64(c), float64(u)))))
		},
		fused: func(k [2]float64, u, c float32) float32 {
			return float32(math.FMA(k[0], float64(c)-float64(u), float64(u)))
		},
		// u + w·(c - u) = 0 for c = u·(1 - 1/w).
		cancel: func(k [2]float64, u float32) float32 { return float32(float64(u) * (1 - 1/k[0])) },
	},
	fuse2Kernel("Fuse2", false),
	fuse2Kernel("Fuse2Finite", true),
}

// specialFloat32s are the values at the edges of float32: signed zeros
// and infinities, NaNs with different signs and payloads (quiet and
// signalling), denormals, the extremes of the normal range.
var specialFloat32s = []float32{
	0, float32(math.Copysign(0, -1)),
	float32(math.Inf(1)), float32(math.Inf(-1)),
	math.Float32frombits(0x7fc00000), math.Float32frombits(0xffc00000),
	math.Float32frombits(0x7fc12345), math.Float32frombits(0xffd54321),
	math.Float32frombits(0x7f800001), math.Float32frombits(0xff8abcde),
	math.Float32frombits(1), math.Float32frombits(0x80000001),
	math.Float32frombits(0x007fffff), math.Float32frombits(0x807fffff),
	math.Float32frombits(0x00800000), -math.Float32frombits(0x00800000),
	math.MaxFloat32, -math.MaxFloat32, math.Nextafter32(math.MaxFloat32, 0),
	1, -1, 0.5, 2, 3, -0.1, 1e-30, -1e30, 65504,
}

// specialFloat64s are the constants the tests use: the engine's (guidance
// weights, latent scale factors and shifts, 1 and 0.5) and the edges of
// float64.
var specialFloat64s = []float64{
	0, math.Copysign(0, -1), 1, -1, 0.5, 2, 7.5, -3,
	0.18215, 1 / 0.18215, 0.13025, -0.1159, 1.1e-7,
	1e-310, math.SmallestNonzeroFloat64, 1e300, math.MaxFloat64, -math.MaxFloat64,
	math.Inf(1), math.Inf(-1), math.NaN(), math.Float64frombits(0xfff0000000000123),
}

// randomConstant returns one of specialFloat64s or a random value.
func randomConstant(rng *rand.Rand) float64 {
	if rng.IntN(3) == 0 {
		return rng.NormFloat64() * math.Exp2(float64(rng.IntN(21)-10))
	}
	return specialFloat64s[rng.IntN(len(specialFloat64s))]
}

// randomSample returns a normal value of random magnitude, a random bit
// pattern (any float32 at all) or a special value.
func randomSample(rng *rand.Rand) float32 {
	switch rng.IntN(8) {
	case 0, 1, 2, 3:
		return float32(rng.NormFloat64() * math.Exp2(float64(rng.IntN(41)-20)))
	case 4, 5:
		return math.Float32frombits(rng.Uint32())
	}
	return specialFloat32s[rng.IntN(len(specialFloat32s))]
}

// kernelInputs returns n samples of each of a kernel's inputs; a fifth of
// the last input's samples make the formula cancel, give or take an ulp.
func kernelInputs(rng *rand.Rand, kern elementwiseKernel, k [2]float64, n int) (x, y []float32) {
	x, y = make([]float32, n), make([]float32, n)
	last := x
	if kern.inputs == 2 {
		last = y
	}
	for i := range n {
		x[i], y[i] = randomSample(rng), randomSample(rng)
		if kern.cancel != nil && rng.IntN(5) == 0 {
			v := kern.cancel(k, x[i])
			switch rng.IntN(3) {
			case 1:
				v = math.Nextafter32(v, float32(math.Inf(1)))
			case 2:
				v = math.Nextafter32(v, float32(math.Inf(-1)))
			}
			last[i] = v
		}
	}
	return x, y
}

// nanSources counts the NaNs that meet in the computation of sample i:
// the NaN operands, and one more if an invalid operation (0·∞, ∞ - ∞, 0/0,
// ∞/∞) makes a NaN of its own, which shows when the formula gives NaN with
// every NaN operand replaced by 1.
func nanSources(kern elementwiseKernel, k [2]float64, x, y []float32, i int) int {
	n := 0
	clean := func(v float64) float64 {
		if math.IsNaN(v) {
			n++
			return 1
		}
		return v
	}
	k = [2]float64{clean(k[0]), clean(k[1])}
	xi, yi := float32(clean(float64(x[i]))), y[i]
	if kern.inputs == 2 {
		yi = float32(clean(float64(yi)))
	}
	if math.IsNaN(float64(kern.ref(k, xi, yi))) {
		n++
	}
	return n
}

// sameSample reports whether got is want bit for bit, except that any NaN
// matches any NaN where two NaNs met: IEEE 754 and the Go specification
// leave open whose payload an operation on two NaNs passes on (x86 passes
// its first operand's, and the Go compiler may order the operands of a
// sum or a product either way).
func sameSample(got, want float32, nans int) bool {
	if math.Float32bits(got) == math.Float32bits(want) {
		return true
	}
	return nans >= 2 && got != got && want != want
}

func allFinite(xs []float32) bool {
	for _, v := range xs {
		if math.IsNaN(float64(v)) || math.IsInf(float64(v), 0) {
			return false
		}
	}
	return true
}

// runKernel runs kern into a fresh buffer of n samples plus a guard and
// checks that it left the guard alone and reported finiteness right.
func runKernel(t *testing.T, kern elementwiseKernel, k [2]float64, x, y []float32) []float32 {
	t.Helper()
	n := len(x)
	const guard = 5
	buf := make([]float32, n+guard)
	for i := range buf {
		buf[i] = -1234
	}
	dst := buf[:n]
	finite, reports := kern.run(dst, k, x, y)
	for i, v := range buf[n:] {
		if v != -1234 {
			t.Fatalf("%s of %d samples wrote %v past its end, at %d", kern.name, n, v, n+i)
		}
	}
	if reports && finite != allFinite(dst) {
		t.Fatalf("%s of %d samples, constants %v: reports finite %v for %v", kern.name, n, k, finite, dst)
	}
	return dst
}

// elementwiseLengths covers every length of the assembly's 16- and
// 4-sample blocks with every tail, and a long run.
func elementwiseLengths() []int {
	lengths := make([]int, 0, 70)
	for n := range 68 {
		lengths = append(lengths, n)
	}
	return append(lengths, 4*64*64+5)
}

// Every kernel computes its formula, operation by operation, for any
// inputs at all, with the Go and the assembly implementations giving the
// same bits.
func TestElementwiseMatchesFormula(t *testing.T) {
	saved := useAsm
	defer func() { useAsm = saved }()
	for _, kern := range elementwiseKernels {
		t.Run(kern.name, func(t *testing.T) {
			rng := rand.New(rand.NewPCG(11, uint64(len(kern.name))))
			for _, n := range elementwiseLengths() {
				tries := 4
				if n > 1000 {
					tries = 2
				}
				for range tries {
					k := [2]float64{randomConstant(rng), randomConstant(rng)}
					x, y := kernelInputs(rng, kern, k, n)
					checkKernel(t, kern, k, x, y)
				}
			}
		})
	}
}

// Every pair of special constants, over inputs of every kind.
func TestElementwiseSpecialConstants(t *testing.T) {
	saved := useAsm
	defer func() { useAsm = saved }()
	for _, kern := range elementwiseKernels {
		t.Run(kern.name, func(t *testing.T) {
			rng := rand.New(rand.NewPCG(12, uint64(len(kern.name))))
			for _, k0 := range specialFloat64s {
				for _, k1 := range specialFloat64s {
					k := [2]float64{k0, k1}
					x, y := kernelInputs(rng, kern, k, 23)
					checkKernel(t, kern, k, x, y)
				}
			}
		})
	}
}

// checkKernel runs kern with the Go implementation and checks it against
// the formula, then with the assembly (where there is one) and checks it
// against the Go results.
func checkKernel(t *testing.T, kern elementwiseKernel, k [2]float64, x, y []float32) {
	t.Helper()
	useAsm = false
	got := runKernel(t, kern, k, x, y)
	for i, v := range got {
		if want := kern.ref(k, x[i], y[i]); !sameSample(v, want, nanSources(kern, k, x, y, i)) {
			t.Fatalf("go: %s of %d samples, constants %v: sample %d of %v, %v is %v (%#08x), want %v (%#08x)",
				kern.name, len(x), k, i, x[i], y[i], v, math.Float32bits(v), want, math.Float32bits(want))
		}
	}
	if !hasAVX2FMA {
		return
	}
	useAsm = true
	asm := runKernel(t, kern, k, x, y)
	for i, v := range asm {
		if !sameSample(v, got[i], nanSources(kern, k, x, y, i)) {
			t.Fatalf("asm: %s of %d samples, constants %v: sample %d of %v, %v is %v (%#08x), Go gives %v (%#08x)",
				kern.name, len(x), k, i, x[i], y[i], v, math.Float32bits(v), got[i], math.Float32bits(got[i]))
		}
	}
}

// The kernels round every operation to float64 on its own: they agree with
// math/big doing one operation at a time, on inputs (many of them
// cancelling) for which fusing a multiply and an add would change the
// result.
func TestElementwiseRoundsEachOperation(t *testing.T) {
	withKernels(t, func(t *testing.T) {
		for _, kern := range elementwiseKernels {
			rng := rand.New(rand.NewPCG(13, uint64(len(kern.name))))
			const n = 1003
			fusionShows := 0
			for range 4 {
				k := [2]float64{rng.NormFloat64() * 3, rng.NormFloat64()}
				x, y := make([]float32, n), make([]float32, n)
				for i := range n {
					x[i], y[i] = float32(rng.NormFloat64()), float32(rng.NormFloat64())
					if kern.cancel != nil && i%2 == 0 {
						if kern.inputs == 2 {
							y[i] = kern.cancel(k, x[i])
						} else {
							x[i] = kern.cancel(k, x[i])
						}
					}
				}
				if kern.name == "MulAdd" {
					// x·q + p cancels exactly, unfused, where p is
					// minus a product x0·q rounded: fused, it leaves
					// that product's rounding error.
					x0 := x[1]
					k[1] = -float64(float64(x0) * k[0])
					for i := 0; i < n; i += 2 {
						x[i] = x0
					}
				}
				got := runKernel(t, kern, k, x, y)
				for i, v := range got {
					want := kern.exact(k, x[i], y[i])
					if math.Float32bits(v) != math.Float32bits(want) {
						t.Fatalf("%s, constants %v: sample %d of %v, %v is %v, want %v", kern.name, k, i, x[i], y[i], v, want)
					}
					if kern.fused != nil && math.Float32bits(kern.fused(k, x[i], y[i])) != math.Float32bits(want) {
						fusionShows++
					}
				}
			}
			if kern.fused != nil && fusionShows == 0 {
				t.Errorf("%s: no input on which fusing would show", kern.name)
			}
		}
	})
}

// dst may be an input, or both.
func TestElementwiseInPlace(t *testing.T) {
	withKernels(t, func(t *testing.T) {
		rng := rand.New(rand.NewPCG(14, 15))
		for _, kern := range elementwiseKernels {
			for _, n := range []int{3, 21, 100} {
				k := [2]float64{rng.NormFloat64(), rng.NormFloat64()}
				x, y := kernelInputs(rng, kern, k, n)
				want := runKernel(t, kern, k, x, y)
				aliases := map[string]func() ([]float32, []float32, []float32){
					"dst = x": func() ([]float32, []float32, []float32) {
						xc := append([]float32(nil), x...)
						return xc, xc, y
					},
				}
				if kern.inputs == 2 {
					aliases["dst = y"] = func() ([]float32, []float32, []float32) {
						yc := append([]float32(nil), y...)
						return yc, x, yc
					}
				}
				for name, alias := range aliases {
					dst, xa, ya := alias()
					kern.run(dst, k, xa, ya)
					for i := range dst {
						if !sameSample(dst[i], want[i], nanSources(kern, k, x, y, i)) {
							t.Fatalf("%s, %s, %d samples: sample %d is %v, want %v", kern.name, name, n, i, dst[i], want[i])
						}
					}
				}
				// Both inputs the same slice, and dst too.
				if kern.inputs == 2 {
					same := append([]float32(nil), x...)
					want := runKernel(t, kern, k, x, x)
					kern.run(same, k, same, same)
					for i := range same {
						if !sameSample(same[i], want[i], nanSources(kern, k, x, x, i)) {
							t.Fatalf("%s, dst = x = y, %d samples: sample %d is %v, want %v", kern.name, n, i, same[i], want[i])
						}
					}
				}
			}
		}
	})
}

// Inputs may be longer than dst; shorter ones panic, whichever input it is.
func TestElementwisePanicsOnShortInputs(t *testing.T) {
	withKernels(t, func(t *testing.T) {
		k := [2]float64{1, 2}
		for _, kern := range elementwiseKernels {
			long := make([]float32, 20)
			kern.run(make([]float32, 19), k, long, long)
			for which := range kern.inputs {
				func() {
					defer func() {
						if recover() == nil {
							t.Errorf("%s: no panic for input %d one sample short", kern.name, which)
						}
					}()
					x, y := long, long
					if which == 0 {
						x = long[:19]
					} else {
						y = long[:19]
					}
					kern.run(make([]float32, 20), k, x, y)
				}()
			}
		}
	})
}

func TestFinite(t *testing.T) {
	withKernels(t, func(t *testing.T) {
		rng := rand.New(rand.NewPCG(16, 17))
		for _, n := range append(elementwiseLengths(), 100, 131) {
			xs := make([]float32, n)
			for i := range xs {
				// Finite values of every kind, the largest and the
				// denormals included.
				for {
					xs[i] = randomSample(rng)
					if !math.IsNaN(float64(xs[i])) && !math.IsInf(float64(xs[i]), 0) {
						break
					}
				}
			}
			if n > 0 {
				xs[rng.IntN(n)] = math.MaxFloat32
			}
			if !Finite(xs) {
				t.Fatalf("%d finite samples: Finite is false", n)
			}
			positions := []int{0, n - 1, n / 2, n &^ 7, n &^ 31, rng.IntN(n + 1)}
			if n < 70 {
				positions = positions[:0]
				for i := range n {
					positions = append(positions, i)
				}
			}
			for _, p := range positions {
				if p < 0 || p >= n {
					continue
				}
				for _, bad := range []float32{float32(math.Inf(1)), float32(math.Inf(-1)), float32(math.NaN()), math.Float32frombits(0xff800001)} {
					saved := xs[p]
					xs[p] = bad
					if Finite(xs) {
						t.Fatalf("%d samples with %v at %d: Finite is true", n, bad, p)
					}
					xs[p] = saved
				}
			}
		}
	})
}

// benchmarkSizes are one 512-pixel SD latent (4 x 64 x 64) and one 512 x
// 512 RGB image.
var benchmarkSizes = []struct {
	name string
	n    int
}{{"latent", 4 * 64 * 64}, {"image", 3 * 512 * 512}}

// BenchmarkElementwise runs every kernel on a latent and the pixel range
// conversions and Scale on an image too. SetBytes counts the samples
// written, so MB/s reads as 0.25 M samples per second.
func BenchmarkElementwise(b *testing.B) {
	for _, kern := range elementwiseKernels {
		for _, size := range benchmarkSizes {
			if size.name == "image" && kern.name != "Scale" && kern.name != "AddMul" && kern.name != "MulAdd" {
				continue
			}
			for _, asm := range kernels() {
				b.Run(fmt.Sprintf("%s/%s/%s", kern.name, size.name, kernelName(asm)), func(b *testing.B) {
					saved := useAsm
					defer func() { useAsm = saved }()
					useAsm = asm
					rng := rand.New(rand.NewPCG(1, 1))
					x, y, dst := randomSlice(rng, size.n), randomSlice(rng, size.n), make([]float32, size.n)
					k := [2]float64{0.7, 1.3}
					b.SetBytes(int64(4 * size.n))
					b.ReportAllocs()
					for b.Loop() {
						kern.run(dst, k, x, y)
					}
				})
			}
		}
	}
	for _, asm := range kernels() {
		b.Run("Finite/latent/"+kernelName(asm), func(b *testing.B) {
			saved := useAsm
			defer func() { useAsm = saved }()
			useAsm = asm
			xs := randomSlice(rand.New(rand.NewPCG(1, 1)), 4*64*64)
			b.SetBytes(int64(4 * len(xs)))
			b.ReportAllocs()
			for b.Loop() {
				if !Finite(xs) {
					b.Fatal("not finite")
				}
			}
		})
	}
}
