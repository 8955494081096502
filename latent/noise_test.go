package latent

import (
	"bufio"
	"flag"
	"fmt"
	"hash/fnv"
	"math"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata")

// Random123's published known-answer vectors for Philox4x32-10.
func TestPhiloxKnownAnswers(t *testing.T) {
	cases := []struct{ ctr, key, want []uint32 }{
		{[]uint32{0, 0, 0, 0}, []uint32{0, 0}, []uint32{0x6627e8d5, 0xe169c58d, 0xbc57ac4c, 0x9b00dbd8}},
		{[]uint32{0xffffffff, 0xffffffff, 0xffffffff, 0xffffffff}, []uint32{0xffffffff, 0xffffffff},
			[]uint32{0x408f276d, 0x41c83b0e, 0xa20bc7c6, 0x6d5451fd}},
		{[]uint32{0x243f6a88, 0x85a308d3, 0x13198a2e, 0x03707344}, []uint32{0xa4093822, 0x299f31d0},
			[]uint32{0xd16cfe09, 0x94fdcceb, 0x5001e420, 0x24126ea1}},
	}
	for _, c := range cases {
		x0, x1, x2, x3 := philox4x32x10(c.ctr[0], c.ctr[1], c.ctr[2], c.ctr[3], c.key[0], c.key[1])
		got := []uint32{x0, x1, x2, x3}
		for i := range got {
			if got[i] != c.want[i] {
				t.Errorf("philox(%08x, key %08x) = %08x, want %08x", c.ctr, c.key, got, c.want)
				break
			}
		}
	}
}

func TestStreamIDIsFNV1a(t *testing.T) {
	for _, name := range []string{"", "a", "init", "bridge/resolution/step12", "ünïcode"} {
		h := fnv.New64a()
		h.Write([]byte(name))
		if got, want := StreamID(name), h.Sum64(); got != want {
			t.Errorf("StreamID(%q) = %#x, want FNV-1a %#x", name, got, want)
		}
	}
	if a, b := NewStream(42, "step1"), NewStream(42, "step2"); a.Stream == b.Stream || a.Seed != 42 {
		t.Errorf("NewStream: %+v and %+v", a, b)
	}
}

// The documentation fixes the constants as the float64 nearest to the
// mathematical values; check that the Go constant expressions are those.
func TestNoiseConstants(t *testing.T) {
	if got := math.Float64bits(math.Sqrt2 / 2); got != 0x3fe6a09e667f3bcd {
		t.Errorf("sqrt(1/2) constant bits %#x", got)
	}
	if got := math.Float64bits(math.Pi / 2); got != 0x3ff921fb54442d18 {
		t.Errorf("pi/2 constant bits %#x", got)
	}
	if got := math.Float64bits(math.Ln2); got != 0x3fe62e42fefa39ef {
		t.Errorf("ln 2 constant bits %#x", got)
	}
}

// detLog and detSinCos must agree with the math package to a few float64
// units in the last place, far below float32 resolution.
func TestDeterministicMathAccuracy(t *testing.T) {
	const ulp = 0x1p-52
	n := Noise{Seed: 7}
	for j := range uint64(20000) {
		x0, x1, x2, x3 := philox4x32x10(uint32(j), 0, 0, 0, 7, 0)
		m1 := (uint64(x1)<<32 | uint64(x0)) >> 11
		m2 := (uint64(x3)<<32 | uint64(x2)) >> 11
		// Spread u1 over many binades too, not only near 1.
		u1 := float64(m1>>(j%53)+1) * 0x1p-53
		if got, want := detLog(u1), math.Log(u1); math.Abs(got-want) > 4*ulp*math.Abs(want)+1e-300 {
			t.Fatalf("detLog(%v) = %v, math.Log %v", u1, got, want)
		}
		a := (float64(m2)*0x1p-53 - 0.5) * (math.Pi / 2)
		s, c := detSinCos(a)
		if math.Abs(s-math.Sin(a)) > 2*ulp || math.Abs(c-math.Cos(a)) > 2*ulp {
			t.Fatalf("detSinCos(%v) = %v, %v; math %v, %v", a, s, c, math.Sin(a), math.Cos(a))
		}
		// The whole transform against the textbook Box-Muller with the math
		// package: equal up to float32 rounding of nearly equal float64s.
		z0, z1 := n.pair(j)
		r := math.Sqrt(-2 * math.Log(float64(m1+1)*0x1p-53))
		theta := 2 * math.Pi * float64(m2) * 0x1p-53
		if math.Abs(float64(z0)-r*math.Cos(theta)) > 1e-6*max(r, 1) ||
			math.Abs(float64(z1)-r*math.Sin(theta)) > 1e-6*max(r, 1) {
			t.Fatalf("pair %d = %v, %v; textbook %v, %v", j, z0, z1, r*math.Cos(theta), r*math.Sin(theta))
		}
	}
	if detLog(1) != 0 {
		t.Errorf("detLog(1) = %v", detLog(1))
	}
}

// Bits must not depend on GOMAXPROCS, the split into goroutines, the
// offset of a slice or repeated calls.
func TestNoiseIndependentOfScheduling(t *testing.T) {
	// Large enough for the parallel path (several parallelFillMin chunks),
	// with an odd length.
	const size = 4*parallelFillMin + 3
	n := NewStream(42, "init")
	fill := func(procs int) []float32 {
		defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(procs))
		d := make([]float32, size)
		n.FillSlice(d, 0)
		return d
	}
	one, two, four := fill(1), fill(2), fill(4)
	again := fill(2)
	for i := range one {
		b := math.Float32bits(one[i])
		if b != math.Float32bits(two[i]) || b != math.Float32bits(four[i]) || b != math.Float32bits(again[i]) {
			t.Fatalf("element %d: %v (1 proc), %v (2), %v (4), %v (2 again)", i, one[i], two[i], four[i], again[i])
		}
	}
	for _, i := range []uint64{0, 1, 2, 12345, size - 1} {
		if got := n.At(i); math.Float32bits(got) != math.Float32bits(one[i]) {
			t.Errorf("At(%d) = %v, Fill gave %v", i, got, one[i])
		}
	}
	// A window at an odd offset reproduces the same elements.
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(2))
	for _, first := range []int{1, 2, 9999, 3*parallelFillMin + 1} {
		part := make([]float32, min(2*parallelFillMin+1, size-first))
		n.FillSlice(part, uint64(first))
		for i := range part {
			if math.Float32bits(part[i]) != math.Float32bits(one[first+i]) {
				t.Fatalf("FillSlice at %d: element %d = %v, want %v", first, i, part[i], one[first+i])
			}
		}
	}
	tensor := New(1, 1, 1, size)
	n.Fill(tensor)
	for i := range one {
		if math.Float32bits(tensor.Data[i]) != math.Float32bits(one[i]) {
			t.Fatalf("Fill element %d = %v, want %v", i, tensor.Data[i], one[i])
		}
	}
}

func TestNoiseDependsOnSeedAndStream(t *testing.T) {
	a, b, c := New(1, 4, 8, 8), New(1, 4, 8, 8), New(1, 4, 8, 8)
	Noise{Seed: 1, Stream: 0}.Fill(a)
	Noise{Seed: 2, Stream: 0}.Fill(b)
	Noise{Seed: 1, Stream: 1}.Fill(c)
	same := func(x, y *Tensor) int {
		k := 0
		for i := range x.Data {
			if x.Data[i] == y.Data[i] {
				k++
			}
		}
		return k
	}
	if k := same(a, b); k > 0 {
		t.Errorf("seeds 1 and 2 share %d of %d values", k, a.Len())
	}
	if k := same(a, c); k > 0 {
		t.Errorf("streams 0 and 1 share %d of %d values", k, a.Len())
	}
}

// Moments, neighbour correlation and tail masses of a million draws, each
// checked to five standard errors of its estimator under N(0, 1).
func TestNoiseStatistics(t *testing.T) {
	const n = 1_000_000
	d := make([]float32, n)
	NewStream(42, "statistics").FillSlice(d, 0)
	var sum, sum2, sum4, lag, within1, beyond3 float64
	for i, v := range d {
		x := float64(v)
		sum += x
		sum2 += x * x
		sum4 += x * x * x * x
		if i > 0 {
			lag += x * float64(d[i-1])
		}
		if math.Abs(x) < 1 {
			within1++
		}
		if math.Abs(x) > 3 {
			beyond3++
		}
	}
	fn := float64(n)
	mean := sum / fn
	variance := sum2/fn - mean*mean
	rho := (lag/(fn-1) - mean*mean) / variance
	check := func(name string, got, want, se float64) {
		t.Helper()
		if math.Abs(got-want) > 5*se {
			t.Errorf("%s = %.6f, want %.6f ± %.6f (5 standard errors)", name, got, want, 5*se)
		} else {
			t.Logf("%s = %.6f (want %.6f, %.2f standard errors)", name, got, want, math.Abs(got-want)/se)
		}
	}
	check("mean", mean, 0, 1/math.Sqrt(fn))
	check("variance", variance, 1, math.Sqrt(2/fn))
	check("lag-1 autocorrelation", rho, 0, 1/math.Sqrt(fn))
	// E z^4 = 3, Var z^4 = E z^8 - 9 = 105 - 9.
	check("fourth moment", sum4/fn, 3, math.Sqrt(96/fn))
	p1 := math.Erf(1 / math.Sqrt2)
	check("P(|z| < 1)", within1/fn, p1, math.Sqrt(p1*(1-p1)/fn))
	p3 := math.Erfc(3 / math.Sqrt2)
	check("P(|z| > 3)", beyond3/fn, p3, math.Sqrt(p3*(1-p3)/fn))
}

const noiseGolden = "testdata/noise_seed42.golden"

// The first values of two seed-42 streams, bit for bit, so that any change
// to the generator is caught. Regenerate with go test -run Golden -update
// only when the change is intended, and say so: it changes every image.
// The values are checked as At returns them and as FillSlice writes them
// with each kernel this build has.
func TestNoiseGolden(t *testing.T) {
	streams := []struct {
		label string
		n     Noise
		first uint64
	}{
		{"Noise{Seed: 42, Stream: 0}", Noise{Seed: 42}, 0},
		{`NewStream(42, "bridge/resolution/step12")`, NewStream(42, "bridge/resolution/step12"), 0},
		{"Noise{Seed: 42, Stream: 1<<63 | 5} at 1<<40", Noise{Seed: 42, Stream: 1<<63 | 5}, 1 << 40},
	}
	const count = 12
	golden := func(value func(n Noise, first uint64) [count]float32) string {
		var b strings.Builder
		fmt.Fprintf(&b, "# Noise golden values: index, float32 bits, value. Regenerate with go test ./latent -run Golden -update.\n")
		for _, s := range streams {
			fmt.Fprintf(&b, "%s\n", s.label)
			for k, v := range value(s.n, s.first) {
				fmt.Fprintf(&b, "%d %08x %.9g\n", s.first+uint64(k), math.Float32bits(v), v)
			}
		}
		return b.String()
	}
	fromAt := golden(func(n Noise, first uint64) (v [count]float32) {
		for k := range v {
			v[k] = n.At(first + uint64(k))
		}
		return v
	})
	if *update {
		if err := os.MkdirAll(filepath.Dir(noiseGolden), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(noiseGolden, []byte(fromAt), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(noiseGolden)
	if err != nil {
		t.Fatalf("%v (run with -update to create it)", err)
	}
	compareGolden(t, "At", fromAt, string(want))
	for _, kernel := range noiseKernels() {
		withNoiseKernel(kernel, func() {
			// A window long enough for whole kernel blocks.
			compareGolden(t, "FillSlice with the "+kernelName(kernel)+" kernel", golden(func(n Noise, first uint64) (v [count]float32) {
				var window [64]float32
				n.FillSlice(window[:], first)
				copy(v[:], window[:])
				return v
			}), string(want))
		})
	}
}

func compareGolden(t *testing.T, what, got, want string) {
	t.Helper()
	if got == want {
		return
	}
	gs, ws := bufio.NewScanner(strings.NewReader(got)), bufio.NewScanner(strings.NewReader(want))
	for line := 1; ; line++ {
		g, w := gs.Scan(), ws.Scan()
		if !g && !w {
			break
		}
		if gs.Text() != ws.Text() {
			t.Fatalf("%s: %s line %d: got %q, want %q", what, noiseGolden, line, gs.Text(), ws.Text())
		}
	}
}

// haveNoiseAsm reports whether this build and processor use the assembly
// noise kernel; tests switch useNoiseAsm and restore it.
var haveNoiseAsm = useNoiseAsm

// noiseKernels lists the settings of useNoiseAsm this build can test: the
// Go code always, the assembly kernel where there is one.
func noiseKernels() []bool {
	if haveNoiseAsm {
		return []bool{false, true}
	}
	return []bool{false}
}

func kernelName(asm bool) string {
	if asm {
		return "avx2"
	}
	return "go"
}

// withNoiseKernel runs f with the assembly kernel on or off.
func withNoiseKernel(asm bool, f func()) {
	defer func(saved bool) { useNoiseAsm = saved }(useNoiseAsm)
	useNoiseAsm = asm
	f()
}

// The assembly kernel must write the bits of the Go code, which is the
// reference, whatever the seed, stream, offset and length: a million
// values in long fills, and every short length at awkward offsets (odd
// ones, pair indices crossing 2^32, the end of the index range), which
// exercise the Go code around the kernel's blocks.
func TestNoiseKernelMatchesGo(t *testing.T) {
	if !haveNoiseAsm {
		t.Skip("this build or processor has no assembly noise kernel")
	}
	noises := []Noise{
		{Seed: 42},
		NewStream(42, "init"),
		{Seed: 1<<63 | 12345, Stream: math.MaxUint64},
		{Seed: 0xdeadbeefcafef00d, Stream: 0x0123456789abcdef},
	}
	fill := func(asm bool, n Noise, dst []float32, first uint64) {
		withNoiseKernel(asm, func() { n.FillSlice(dst, first) })
	}
	check := func(n Noise, first uint64, length int) {
		t.Helper()
		got, want := make([]float32, length), make([]float32, length)
		fill(true, n, got, first)
		fill(false, n, want, first)
		for i := range got {
			if math.Float32bits(got[i]) != math.Float32bits(want[i]) {
				t.Fatalf("%+v: FillSlice(len %d, first %d) element %d: kernel %v (%08x), Go %v (%08x)",
					n, length, first, i, got[i], math.Float32bits(got[i]), want[i], math.Float32bits(want[i]))
			}
		}
	}
	longFirsts := []uint64{0, 1, 1<<33 - 20001, 1<<62 + 5}
	for k, n := range noises {
		check(n, longFirsts[k], 250_001)
		for _, first := range []uint64{0, 1, 2, 7, 1<<33 - 21, 1<<40 + 3, math.MaxUint64 - 99} {
			for length := range 41 {
				check(n, first, length)
			}
		}
	}
}

func TestNoiseFillAllocatesNothing(t *testing.T) {
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(2))
	small, large := New(1, 4, 16, 16), New(1, 1, 1, 4*parallelFillMin)
	n := NewStream(1, "allocs")
	for _, tensor := range []*Tensor{small, large} {
		if a := testing.AllocsPerRun(20, func() { n.Fill(tensor) }); a != 0 {
			t.Errorf("Fill(%v) allocates %v times per call", tensor, a)
		}
	}
}

// BenchmarkNoiseFill fills the latents of a 512 px SD image (4x64x64,
// filled by one goroutine) and a 1024 px SDXL image (4x128x128, split
// across goroutines) with each kernel.
func BenchmarkNoiseFill(b *testing.B) {
	for _, kernel := range noiseKernels() {
		for _, shape := range [][]int{{1, 4, 64, 64}, {1, 4, 128, 128}} {
			name := fmt.Sprintf("%s/%dx%dx%d", kernelName(kernel), shape[1], shape[2], shape[3])
			b.Run(name, func(b *testing.B) {
				withNoiseKernel(kernel, func() {
					t := New(shape...)
					n := NewStream(42, "bench")
					n.Fill(t) // start the workers outside the measurement
					b.ReportAllocs()
					b.SetBytes(int64(4 * t.Len()))
					for b.Loop() {
						n.Fill(t)
					}
					b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/float64(t.Len()), "ns/value")
				})
			})
		}
	}
}
