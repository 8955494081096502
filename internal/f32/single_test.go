package f32

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"
)

// single32Formula is each float32 kernel written out per sample: the
// reference both implementations must match bit for bit (any NaN matches
// any NaN where two NaNs meet).
var single32Formula = map[string]func(d, a, x float32) float32{
	"AddScaled32":     func(d, a, x float32) float32 { p := float32(a * x); return d + p },
	"ScaleOntoZero32": func(d, a, _ float32) float32 { p := float32(a * d); z := float32(0); return z + p },
}

func runSingle32(name string, dst []float32, a float32, x []float32) {
	switch name {
	case "AddScaled32":
		AddScaled32(dst, a, x)
	case "ScaleOntoZero32":
		ScaleOntoZero32(dst, a)
	}
}

// TestSingle32MatchesFormula: both float32 kernels, Go and assembly, give
// their formula's bits for random and special samples and constants, at
// every length up to 67 and one latent's, and ScaleOntoZero32 turns -0
// into +0 as adding into a zeroed buffer does.
func TestSingle32MatchesFormula(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 11))
	for name, formula := range single32Formula {
		for _, asm := range []bool{false, hasAVX2FMA} {
			saved := useAsm
			useAsm = asm
			for _, n := range elementwiseLengths() {
				for range 3 {
					a := float32(randomConstant(rng))
					d0, x := make([]float32, n), make([]float32, n)
					for i := range n {
						d0[i], x[i] = randomSample(rng), randomSample(rng)
					}
					if n > 0 {
						d0[0], x[0] = float32(math.Copysign(0, -1)), float32(math.Copysign(0, -1))
					}
					dst := append([]float32(nil), d0...)
					runSingle32(name, dst, a, x)
					for i := range n {
						want := formula(d0[i], a, x[i])
						nans := 0
						for _, v := range []float32{d0[i], a, x[i]} {
							if v != v {
								nans++
							}
						}
						if math.IsInf(float64(a), 0) || a == 0 {
							nans++ // 0·∞ makes a NaN of its own
						}
						if !sameSample(dst[i], want, nans) {
							t.Fatalf("%s (asm %t), n %d, sample %d: %v %v %v gives %v (%08x), want %v (%08x)",
								name, asm, n, i, d0[i], a, x[i], dst[i], math.Float32bits(dst[i]), want, math.Float32bits(want))
						}
					}
				}
			}
			useAsm = saved
		}
	}
	z := []float32{float32(math.Copysign(0, -1))}
	ScaleOntoZero32(z, 1)
	if math.Signbit(float64(z[0])) {
		t.Error("ScaleOntoZero32 left -0 negative")
	}
}

// TestAddScaled32InPlace: dst may be x.
func TestAddScaled32InPlace(t *testing.T) {
	for _, asm := range []bool{false, hasAVX2FMA} {
		saved := useAsm
		useAsm = asm
		xs := []float32{1, 2, 3, 4, 5, 6, 7, 8, 9}
		AddScaled32(xs, 0.5, xs)
		for i, v := range xs {
			if want := float32(i+1) * 1.5; v != want {
				t.Errorf("asm %t: sample %d is %v, want %v", asm, i, v, want)
			}
		}
		useAsm = saved
	}
	defer func() {
		if recover() == nil {
			t.Error("AddScaled32 with a short x did not panic")
		}
	}()
	AddScaled32(make([]float32, 9), 1, make([]float32, 8))
}

func BenchmarkSingle32(b *testing.B) {
	const n = 2 * 320 * 64 * 64 // one SD 1.5 down-block residual, a batch of two
	for _, asm := range []bool{false, hasAVX2FMA} {
		for _, name := range []string{"AddScaled32", "ScaleOntoZero32"} {
			b.Run(fmt.Sprintf("%s/%s", name, kernelName(asm)), func(b *testing.B) {
				saved := useAsm
				defer func() { useAsm = saved }()
				useAsm = asm
				rng := rand.New(rand.NewPCG(1, 1))
				dst, x := make([]float32, n), make([]float32, n)
				for i := range n {
					dst[i], x[i] = float32(rng.NormFloat64()), float32(rng.NormFloat64())
				}
				b.SetBytes(4 * n)
				b.ReportAllocs()
				for b.Loop() {
					runSingle32(name, dst, 0.5, x)
				}
			})
		}
	}
}
