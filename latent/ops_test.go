package latent

import (
	"math"
	"strings"
	"testing"
)

func TestArithmetic(t *testing.T) {
	x := FromData([]float32{1, 2, -3, 0.5}, 1, 1, 2, 2)
	y := FromData([]float32{4, -1, 2, 0.25}, 1, 1, 2, 2)
	dst := New(1, 1, 2, 2)
	expect := func(op string, got *Tensor, want ...float32) {
		t.Helper()
		for i, w := range want {
			if math.Abs(float64(got.Data[i]-w)) > 1e-6 {
				t.Errorf("%s: element %d = %v, want %v", op, i, got.Data[i], w)
			}
		}
	}
	Axpby(dst, 2, x, -0.5, y)
	expect("Axpby", dst, 0, 4.5, -7, 0.875)
	Add(dst, x, y)
	expect("Add", dst, 5, 1, -1, 0.75)
	Lerp(dst, x, y, 0.25)
	expect("Lerp", dst, 1.75, 1.25, -1.75, 0.4375)
	Lerp(dst, x, y, 0)
	if !equalBits(dst, x) {
		t.Error("Lerp at 0 is not exactly x")
	}
	Lerp(dst, x, y, 1)
	if !equalBits(dst, y) {
		t.Error("Lerp at 1 is not exactly y")
	}
	Fill(dst, 3)
	expect("Fill", dst, 3, 3, 3, 3)
	Scale(dst, -0.5)
	expect("Scale", dst, -1.5, -1.5, -1.5, -1.5)
	// dst may alias an input.
	z := x.Clone()
	Axpby(z, 1, z, 1, y)
	expect("Axpby in place", z, 5, 1, -1, 0.75)
}

// Computing in float64 keeps the cancellation of x0 = (x - s eps) / a at
// high noise exact where float32 arithmetic would not be.
func TestAxpbyRoundsOnce(t *testing.T) {
	x := FromData([]float32{1 + 0x1p-23}, 1)
	y := FromData([]float32{1}, 1)
	dst := New(1)
	Axpby(dst, 1e4, x, -1e4, y)
	if want := float32(1e4 * 0x1p-23); dst.Data[0] != want {
		t.Errorf("Axpby cancellation = %v, want %v", dst.Data[0], want)
	}
}

func TestShapeMismatchPanics(t *testing.T) {
	a, b := New(1, 4, 8, 8), New(1, 4, 8, 9)
	for name, f := range map[string]func(){
		"Axpby": func() { Axpby(a, 1, a, 1, b) },
		"Add":   func() { Add(a, b, a) },
		"Lerp":  func() { Lerp(b, a, a, 0.5) },
		"PSNR":  func() { PSNR(a, b, 1) },
	} {
		func() {
			defer func() {
				r := recover()
				if s, ok := r.(string); !ok || !strings.Contains(s, "latent."+name) || !strings.Contains(s, "[1 4 8 9]") {
					t.Errorf("%s with mismatched shapes: recovered %v", name, r)
				}
			}()
			f()
		}()
	}
}

func TestMeanStd(t *testing.T) {
	mean, std := MeanStd(FromData([]float32{2, 4, 4, 4, 5, 5, 7, 9}, 8))
	if mean != 5 || std != 2 {
		t.Errorf("MeanStd = %v, %v; want 5, 2", mean, std)
	}
	if m, s := MeanStd(New(0)); !math.IsNaN(m) || !math.IsNaN(s) {
		t.Errorf("MeanStd of empty = %v, %v", m, s)
	}
}

func TestPSNR(t *testing.T) {
	a, b := New(1, 3, 4, 4), New(1, 3, 4, 4)
	if p := PSNR(a, b, 1); !math.IsInf(p, 1) {
		t.Errorf("PSNR of equal tensors = %v", p)
	}
	Fill(b, 0.1) // MSE 0.01
	if p := PSNR(a, b, 1); math.Abs(p-20) > 1e-5 {
		t.Errorf("PSNR(peak 1, MSE 0.01) = %v, want 20", p)
	}
	if p := PSNR(a, b, 2); math.Abs(p-(20+20*math.Log10(2))) > 1e-5 {
		t.Errorf("PSNR(peak 2, MSE 0.01) = %v, want %v", p, 20+20*math.Log10(2))
	}
}

func TestLag1Autocorrelation(t *testing.T) {
	const h, w = 16, 12
	checker, stripes := New(1, 2, h, w), New(1, 1, h, w)
	for y := range h {
		for x := range w {
			checker.Set(0, 0, y, x, float32(1-2*((x+y)%2)))
			checker.Set(0, 1, y, x, float32(3-6*((x+y)%2)))
			stripes.Set(0, 0, y, x, float32(1-2*(x%2))) // rows repeat
		}
	}
	if r := Lag1Autocorrelation(checker); math.Abs(r+1) > 1e-12 {
		t.Errorf("checkerboard: %v, want -1", r)
	}
	// Horizontal -1, vertical +1.
	if r := Lag1Autocorrelation(stripes); math.Abs(r) > 1e-12 {
		t.Errorf("vertical stripes: %v, want 0", r)
	}
	if r := Lag1Autocorrelation(New(1, 1, 4, 4)); !math.IsNaN(r) {
		t.Errorf("constant plane: %v, want NaN", r)
	}

	// White noise: each direction's estimate has standard error about
	// 1/sqrt(pairs); the average of two is no worse.
	noise := New(1, 4, 128, 128)
	NewStream(42, "whiteness").Fill(noise)
	pairs := float64(4 * 128 * 127)
	if r := Lag1Autocorrelation(noise); math.Abs(r) > 5/math.Sqrt(pairs) {
		t.Errorf("white noise: %v, want |r| < %v", r, 5/math.Sqrt(pairs))
	}
	// Upsampling noise 2x bilinearly correlates neighbours: in each
	// direction alternate pairs share weights (0.75, 0.25) and (0.25, 0.75)
	// or (0.25, 0.75) and (0.75, 0.25) of the same sources, giving
	// correlations 0.9 and 0.6, 0.75 on average (less a little at borders).
	up := New(1, 4, 256, 256)
	if err := Resize(up, noise, Bilinear); err != nil {
		t.Fatal(err)
	}
	if r := Lag1Autocorrelation(up); math.Abs(r-0.75) > 0.01 {
		t.Errorf("bilinearly upsampled noise: %v, want 0.75 ± 0.01", r)
	}
}

func TestHelpersAllocateNothing(t *testing.T) {
	x, y, dst := New(1, 4, 32, 32), New(1, 4, 32, 32), New(1, 4, 32, 32)
	NewStream(1, "x").Fill(x)
	NewStream(1, "y").Fill(y)
	a := testing.AllocsPerRun(10, func() {
		Axpby(dst, 0.3, x, 0.7, y)
		Scale(dst, 2)
		Add(dst, dst, x)
		Lerp(dst, x, y, 0.25)
		Fill(dst, 1)
		MeanStd(x)
		PSNR(x, y, 2)
		Lag1Autocorrelation(x)
	})
	if a != 0 {
		t.Errorf("helpers allocate %v times per round", a)
	}
}

// The benchmarks use one SDXL latent at 1024 px, 4x128x128.
func benchTensors() (dst, x, y *Tensor) {
	dst, x, y = New(1, 4, 128, 128), New(1, 4, 128, 128), New(1, 4, 128, 128)
	NewStream(1, "x").Fill(x)
	NewStream(1, "y").Fill(y)
	return dst, x, y
}

func BenchmarkAxpby(b *testing.B) {
	dst, x, y := benchTensors()
	b.ReportAllocs()
	for b.Loop() {
		Axpby(dst, 0.3, x, 0.7, y)
	}
}

func BenchmarkScale(b *testing.B) {
	_, x, _ := benchTensors()
	b.ReportAllocs()
	for b.Loop() {
		Scale(x, 1.0000001)
	}
}

func BenchmarkAdd(b *testing.B) {
	dst, x, y := benchTensors()
	b.ReportAllocs()
	for b.Loop() {
		Add(dst, x, y)
	}
}

func BenchmarkLerp(b *testing.B) {
	dst, x, y := benchTensors()
	b.ReportAllocs()
	for b.Loop() {
		Lerp(dst, x, y, 0.3)
	}
}

func BenchmarkFill(b *testing.B) {
	dst, _, _ := benchTensors()
	b.ReportAllocs()
	for b.Loop() {
		Fill(dst, 0.5)
	}
}

func BenchmarkMeanStd(b *testing.B) {
	_, x, _ := benchTensors()
	b.ReportAllocs()
	for b.Loop() {
		MeanStd(x)
	}
}

func BenchmarkPSNR(b *testing.B) {
	_, x, y := benchTensors()
	b.ReportAllocs()
	for b.Loop() {
		PSNR(x, y, 2)
	}
}

func BenchmarkLag1Autocorrelation(b *testing.B) {
	_, x, _ := benchTensors()
	b.ReportAllocs()
	for b.Loop() {
		Lag1Autocorrelation(x)
	}
}
