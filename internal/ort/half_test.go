package ort

import (
	"flag"
	"math"
	"testing"

	"github.com/x448/float16"
)

var halfAll = flag.Bool("half.all", false, "check toHalf against float16.Fromfloat32 for every float32 (about 30 s)")

// toHalf gives float16.Fromfloat32's bits: for every float32 with
// -half.all, else for every 4093rd bit pattern and for the neighbourhood
// of every value that rounds differently on either side (each binary16
// value and each midpoint between neighbours, four float32 ulps around).
func TestToHalf(t *testing.T) {
	forEachConversion(t, testToHalf)
}

// forEachConversion runs test with the Go conversions and, where the
// processor has them, the F16C ones.
func forEachConversion(t *testing.T, test func(*testing.T)) {
	defer func(saved bool) { useF16C = saved }(useF16C)
	useF16C = false
	t.Run("go", test)
	if !hasF16C {
		t.Log("no F16C on this machine")
		return
	}
	useF16C = true
	t.Run("f16c", test)
}

func testToHalf(t *testing.T) {
	// Values are converted in batches, as Run does.
	src := make([]float32, 0, 1<<16)
	dst := make([]uint16, 1<<16)
	flush := func() {
		toHalf(dst, src)
		for i, f := range src {
			if want := float16.Fromfloat32(f).Bits(); dst[i] != want {
				t.Fatalf("toHalf of %g (bits %#08x) = %#04x, want %#04x", f, math.Float32bits(f), dst[i], want)
			}
		}
		src = src[:0]
	}
	check := func(u uint32) {
		if src = append(src, math.Float32frombits(u)); len(src) == cap(src) {
			flush()
		}
	}
	defer flush()
	if *halfAll {
		for u := uint64(0); u < 1<<32; u++ {
			check(uint32(u))
		}
		return
	}
	for u := uint64(0); u < 1<<32; u += 4093 {
		check(uint32(u))
	}
	for h := range uint32(1 << 16) {
		lo := float16.Frombits(uint16(h)).Float32()
		hi := float16.Frombits(uint16(h + 1)).Float32()
		for _, c := range []float64{float64(lo), (float64(lo) + float64(hi)) / 2} {
			if math.IsNaN(c) || math.IsInf(c, 0) {
				continue
			}
			b := math.Float32bits(float32(c))
			for d := uint32(0); d <= 8; d++ {
				check(b - 4 + d)
			}
		}
	}
}

// fromHalf gives float16's float32 for every binary16, NaN payloads
// included.
func TestFromHalf(t *testing.T) {
	forEachConversion(t, testFromHalf)
}

func testFromHalf(t *testing.T) {
	src := make([]uint16, 1<<16)
	for h := range src {
		src[h] = uint16(h)
	}
	dst := make([]float32, len(src))
	fromHalf(dst, src)
	for h, got := range dst {
		if want := float16.Frombits(uint16(h)).Float32(); math.Float32bits(got) != math.Float32bits(want) {
			t.Fatalf("fromHalf of %#04x = %g (%#08x), want %g (%#08x)", h, got, math.Float32bits(got), want, math.Float32bits(want))
		}
	}
}

func BenchmarkHalf(b *testing.B) {
	src := make([]float32, 2*4*64*64)
	for i := range src {
		src[i] = float32(i%1000)/300 - 1.5
	}
	bits := make([]uint16, len(src))
	dst := make([]float32, len(src))
	defer func(saved bool) { useF16C = saved }(useF16C)
	for _, f16c := range []bool{false, true} {
		if f16c && !hasF16C {
			continue
		}
		useF16C = f16c
		name := map[bool]string{false: "go", true: "f16c"}[f16c]
		b.Run("to/"+name, func(b *testing.B) {
			for b.Loop() {
				toHalf(bits, src)
			}
		})
		b.Run("from/"+name, func(b *testing.B) {
			for b.Loop() {
				fromHalf(dst, bits)
			}
		})
	}
}

func BenchmarkHalfX448(b *testing.B) {
	src := make([]float32, 2*4*64*64)
	for i := range src {
		src[i] = float32(i%1000)/300 - 1.5
	}
	bits := make([]uint16, len(src))
	dst := make([]float32, len(src))
	b.Run("to", func(b *testing.B) {
		for b.Loop() {
			for i, v := range src {
				bits[i] = float16.Fromfloat32(v).Bits()
			}
		}
	})
	b.Run("from", func(b *testing.B) {
		for b.Loop() {
			for i, h := range bits {
				dst[i] = float16.Frombits(h).Float32()
			}
		}
	})
}
