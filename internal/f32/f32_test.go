package f32

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"
)

// kernels are the implementations this build can run: Go always, the
// assembly where the processor has it.
func kernels() []bool {
	if hasAVX2FMA {
		return []bool{false, true}
	}
	return []bool{false}
}

func kernelName(asm bool) string {
	if asm {
		return "asm"
	}
	return "go"
}

// withKernels runs fn once per implementation.
func withKernels(t *testing.T, fn func(t *testing.T)) {
	saved := useAsm
	defer func() { useAsm = saved }()
	for _, asm := range kernels() {
		useAsm = asm
		t.Run(kernelName(asm), fn)
	}
}

func randomSlice(rng *rand.Rand, n int) []float32 {
	s := make([]float32, n)
	for i := range s {
		s[i] = float32(rng.NormFloat64())
	}
	return s
}

// tolerance bounds the float32 rounding of a sum of products whose
// magnitudes add up to scale: a few units in the last place per term.
func tolerance(terms int, scale float64) float64 {
	return 4 * float64(terms+1) * scale * 0x1p-24
}

func TestWeightedRows(t *testing.T) {
	withKernels(t, func(t *testing.T) {
		rng := rand.New(rand.NewPCG(1, 2))
		for _, n := range []int{1, 3, 7, 8, 9, 31, 32, 33, 40, 71, 144} {
			for _, taps := range []int{0, 1, 2, 4, 5, 16, 144} {
				stride := n + rng.IntN(5)
				src := randomSlice(rng, max(taps-1, 0)*stride+n+rng.IntN(3))
				weights := randomSlice(rng, taps)
				bias := float32(rng.NormFloat64())
				dst := randomSlice(rng, n)
				WeightedRows(dst, bias, weights, src, stride)
				for i := range dst {
					want, scale := float64(bias), math.Abs(float64(bias))
					for k, w := range weights {
						p := float64(w) * float64(src[k*stride+i])
						want += p
						scale += math.Abs(p)
					}
					if d := math.Abs(float64(dst[i]) - want); d > tolerance(taps, scale) {
						t.Fatalf("n %d, taps %d, stride %d: dst[%d] = %v, want %v (difference %.3g)", n, taps, stride, i, dst[i], want, d)
					}
				}
			}
		}
	})
}

// Outputs beyond len(dst) and source samples outside the rows are left
// alone: the assembly must not write past its slice.
func TestWeightedRowsWritesOnlyDst(t *testing.T) {
	withKernels(t, func(t *testing.T) {
		buf := make([]float32, 50)
		for i := range buf {
			buf[i] = -7
		}
		src := make([]float32, 3*20)
		for i := range src {
			src[i] = 1
		}
		WeightedRows(buf[5:42], 0.5, []float32{1, 2, 3}, src, 10)
		for i, v := range buf {
			want := float32(6.5)
			if i < 5 || i >= 42 {
				want = -7
			}
			if v != want {
				t.Fatalf("buf[%d] = %v, want %v", i, v, want)
			}
		}
	})
}

func TestWeightedRowsPanicsOnShortSource(t *testing.T) {
	defer func() {
		if recover() == nil {
			t.Error("no panic for a source one sample short")
		}
	}()
	WeightedRows(make([]float32, 8), 0, []float32{1, 1}, make([]float32, 8+10-1), 10)
}

func TestWindowsDots(t *testing.T) {
	withKernels(t, func(t *testing.T) {
		rng := rand.New(rand.NewPCG(3, 4))
		for _, taps := range []int{1, 2, 3, 4, 5, 8, 9, 13, 16, 24} {
			for _, n := range []int{1, 7, 8, 9, 16, 23, 128} {
				srcLen := taps + rng.IntN(40)
				rows := 1 + rng.IntN(3)
				starts := make([]int, n)
				for j := range starts {
					starts[j] = rng.IntN(srcLen - taps + 1)
				}
				weights := randomSlice(rng, n*taps)
				w, err := NewWindows(srcLen, taps, starts, weights)
				if err != nil {
					t.Fatal(err)
				}
				src := randomSlice(rng, rows*srcLen)
				dst := make([]float32, rows*n)
				w.Dots(dst, src)
				for tr := range rows {
					for j := range n {
						want, scale := 0.0, 0.0
						for k := range taps {
							p := float64(weights[j*taps+k]) * float64(src[tr*srcLen+starts[j]+k])
							want += p
							scale += math.Abs(p)
						}
						if d := math.Abs(float64(dst[tr*n+j]) - want); d > tolerance(taps, scale) {
							t.Fatalf("taps %d, n %d, row %d: window %d = %v, want %v (difference %.3g)", taps, n, tr, j, dst[tr*n+j], want, d)
						}
					}
				}
			}
		}
	})
}

func TestWindowsRows(t *testing.T) {
	withKernels(t, func(t *testing.T) {
		rng := rand.New(rand.NewPCG(9, 10))
		for _, taps := range []int{1, 4, 5} {
			for _, width := range []int{1, 12, 72, 128} {
				const sourceRows, n = 9, 11
				starts := make([]int, n)
				for j := range starts {
					starts[j] = rng.IntN(sourceRows - taps + 1)
				}
				weights := randomSlice(rng, n*taps)
				w, err := NewWindows(sourceRows, taps, starts, weights)
				if err != nil {
					t.Fatal(err)
				}
				src := randomSlice(rng, sourceRows*width)
				dst := make([]float32, n*width)
				w.Rows(dst, src, width)
				for j := range n {
					for x := range width {
						want, scale := 0.0, 0.0
						for k := range taps {
							p := float64(weights[j*taps+k]) * float64(src[(starts[j]+k)*width+x])
							want += p
							scale += math.Abs(p)
						}
						if d := math.Abs(float64(dst[j*width+x]) - want); d > tolerance(taps, scale) {
							t.Fatalf("taps %d, width %d: row %d sample %d = %v, want %v", taps, width, j, x, dst[j*width+x], want)
						}
					}
				}
			}
		}
	})
}

func TestNewWindowsErrors(t *testing.T) {
	for _, c := range []struct {
		sourceLen, taps int
		starts          []int
		weights         int
	}{
		{10, 0, []int{0}, 0},
		{3, 4, []int{0}, 4},
		{10, 4, []int{0, 1}, 7},
		{10, 4, []int{7}, 4},
		{10, 4, []int{-1}, 4},
	} {
		if _, err := NewWindows(c.sourceLen, c.taps, c.starts, make([]float32, c.weights)); err == nil {
			t.Errorf("NewWindows(%d, %d, %v, %d weights): no error", c.sourceLen, c.taps, c.starts, c.weights)
		}
	}
}

func TestWindowsPanicOnWrongLengths(t *testing.T) {
	w, err := NewWindows(10, 4, []int{0, 6}, make([]float32, 8))
	if err != nil {
		t.Fatal(err)
	}
	w.Dots(make([]float32, 4), make([]float32, 20))
	w.Rows(make([]float32, 6), make([]float32, 30), 3)
	for name, fn := range map[string]func(){
		"dots from 9 samples":   func() { w.Dots(make([]float32, 2), make([]float32, 9)) },
		"dots into 3":           func() { w.Dots(make([]float32, 3), make([]float32, 10)) },
		"dots of 2 rows into 2": func() { w.Dots(make([]float32, 2), make([]float32, 20)) },
		"rows from 29 samples":  func() { w.Rows(make([]float32, 6), make([]float32, 29), 3) },
		"rows into 7 samples":   func() { w.Rows(make([]float32, 7), make([]float32, 30), 3) },
		"rows of width 0":       func() { w.Rows(nil, nil, 0) },
	} {
		func() {
			defer func() {
				if recover() == nil {
					t.Errorf("%s: no panic", name)
				}
			}()
			fn()
		}()
	}
}

func TestPaddedTaps(t *testing.T) {
	for taps := 1; taps <= 12; taps++ {
		if p := PaddedTaps(taps); p < taps {
			t.Errorf("PaddedTaps(%d) = %d", taps, p)
		}
	}
}

func BenchmarkWeightedRows(b *testing.B) {
	for _, c := range []struct{ n, taps int }{{128, 4}, {144, 16}, {144, 144}, {4096, 4}} {
		for _, asm := range kernels() {
			b.Run(fmt.Sprintf("%dx%d/%s", c.taps, c.n, kernelName(asm)), func(b *testing.B) {
				saved := useAsm
				defer func() { useAsm = saved }()
				useAsm = asm
				rng := rand.New(rand.NewPCG(1, 1))
				src, weights, dst := randomSlice(rng, c.taps*c.n), randomSlice(rng, c.taps), make([]float32, c.n)
				b.SetBytes(int64(4 * c.n * c.taps))
				b.ReportAllocs()
				for b.Loop() {
					WeightedRows(dst, 1, weights, src, c.n)
				}
			})
		}
	}
}

func BenchmarkWindowsDots(b *testing.B) {
	for _, taps := range []int{4, 8, 16} {
		for _, asm := range kernels() {
			b.Run(fmt.Sprintf("%dtaps/%s", taps, kernelName(asm)), func(b *testing.B) {
				saved := useAsm
				defer func() { useAsm = saved }()
				useAsm = asm
				const srcLen, n = 72, 128
				starts := make([]int, n)
				for j := range starts {
					starts[j] = min(j*srcLen/n, srcLen-taps)
				}
				rng := rand.New(rand.NewPCG(1, 1))
				w, err := NewWindows(srcLen, taps, starts, randomSlice(rng, n*taps))
				if err != nil {
					b.Fatal(err)
				}
				src, dst := randomSlice(rng, srcLen), make([]float32, n)
				b.SetBytes(4 * n)
				b.ReportAllocs()
				for b.Loop() {
					w.Dots(dst, src)
				}
			})
		}
	}
}

func TestInterleave(t *testing.T) {
	withKernels(t, func(t *testing.T) {
		rng := rand.New(rand.NewPCG(5, 6))
		for _, k := range []int{1, 2, 3, 4, 5, 6, 7, 8, 9} {
			for _, n := range []int{1, 5, 8, 9, 12, 15, 16, 17, 64} {
				rows := 1 + rng.IntN(3)
				stride := n + rng.IntN(4)
				srcRow := (k-1)*stride + n + rng.IntN(3)
				dstRow := n*k + rng.IntN(3)
				src := randomSlice(rng, (rows-1)*srcRow+(k-1)*stride+n)
				// Guard samples around dst catch writes outside its rows.
				const guard = 16
				buf := make([]float32, guard+(rows-1)*dstRow+n*k+guard)
				for i := range buf {
					buf[i] = -1000
				}
				dst := buf[guard : len(buf)-guard]
				Interleave(dst, dstRow, src, srcRow, stride, k, n, rows)
				want := make([]float32, len(buf))
				for i := range want {
					want[i] = -1000
				}
				for tr := range rows {
					for r := range k {
						for x := range n {
							want[guard+tr*dstRow+x*k+r] = src[tr*srcRow+r*stride+x]
						}
					}
				}
				for i := range buf {
					if buf[i] != want[i] {
						t.Fatalf("k %d, n %d, rows %d: sample %d (from dst's start) is %v, want %v", k, n, rows, i-guard, buf[i], want[i])
					}
				}
			}
		}
	})
}

func TestDeinterleave(t *testing.T) {
	withKernels(t, func(t *testing.T) {
		rng := rand.New(rand.NewPCG(7, 8))
		for _, k := range []int{1, 2, 3, 4, 5, 6, 7, 8, 9} {
			for _, n := range []int{1, 5, 8, 9, 12, 15, 16, 17, 64} {
				rows := 1 + rng.IntN(3)
				srcRow := n*k + rng.IntN(3)
				stride := n + rng.IntN(4)
				dstRow := (k-1)*stride + n + rng.IntN(3)
				// The source ends with its last group: a kernel that
				// reads past it would fault or be caught by the race
				// detector's bounds on the allocation only by chance,
				// so the test also checks the results.
				src := randomSlice(rng, (rows-1)*srcRow+n*k)
				const guard = 16
				buf := make([]float32, guard+(rows-1)*dstRow+(k-1)*stride+n+guard)
				for i := range buf {
					buf[i] = -1000
				}
				dst := buf[guard : len(buf)-guard]
				Deinterleave(dst, dstRow, stride, src, srcRow, k, n, rows)
				want := make([]float32, len(buf))
				for i := range want {
					want[i] = -1000
				}
				for tr := range rows {
					for r := range k {
						for x := range n {
							want[guard+tr*dstRow+r*stride+x] = src[tr*srcRow+x*k+r]
						}
					}
				}
				for i := range buf {
					if buf[i] != want[i] {
						t.Fatalf("k %d, n %d, rows %d: sample %d (from dst's start) is %v, want %v", k, n, rows, i-guard, buf[i], want[i])
					}
				}
			}
		}
	})
}

func TestInterleavePanicsOnShortSlices(t *testing.T) {
	for name, fn := range map[string]func(){
		"interleave dst":   func() { Interleave(make([]float32, 23), 0, make([]float32, 40), 0, 10, 3, 8, 1) },
		"interleave src":   func() { Interleave(make([]float32, 24), 0, make([]float32, 27), 0, 10, 3, 8, 1) },
		"deinterleave src": func() { Deinterleave(make([]float32, 40), 0, 10, make([]float32, 23), 0, 3, 8, 1) },
		"deinterleave dst": func() { Deinterleave(make([]float32, 27), 0, 10, make([]float32, 24), 0, 3, 8, 1) },
	} {
		func() {
			defer func() {
				if recover() == nil {
					t.Errorf("%s too short: no panic", name)
				}
			}()
			fn()
		}()
	}
}

func BenchmarkInterleave(b *testing.B) {
	// The depth-to-space steps of the zoo's interposers: 6 phases of a
	// 12 x 12 working grid, 2 phases of a 64 x 64 one.
	for _, c := range []struct{ k, n int }{{6, 12}, {2, 64}} {
		for _, asm := range kernels() {
			b.Run(fmt.Sprintf("k%d-n%d/%s", c.k, c.n, kernelName(asm)), func(b *testing.B) {
				saved := useAsm
				defer func() { useAsm = saved }()
				useAsm = asm
				plane := c.n * c.n
				src := make([]float32, c.k*plane)
				dst := make([]float32, c.k*plane)
				b.SetBytes(int64(4 * len(dst)))
				for b.Loop() {
					Interleave(dst, c.n*c.k, src, c.n, plane, c.k, c.n, c.n)
				}
			})
		}
	}
}

func BenchmarkDeinterleave(b *testing.B) {
	for _, c := range []struct{ k, n int }{{6, 12}, {2, 64}} {
		for _, asm := range kernels() {
			b.Run(fmt.Sprintf("k%d-n%d/%s", c.k, c.n, kernelName(asm)), func(b *testing.B) {
				saved := useAsm
				defer func() { useAsm = saved }()
				useAsm = asm
				plane := c.n * c.n
				src := make([]float32, c.k*plane)
				dst := make([]float32, c.k*plane)
				b.SetBytes(int64(4 * len(dst)))
				for b.Loop() {
					Deinterleave(dst, c.n, plane, src, c.n*c.k, c.k, c.n, c.n)
				}
			})
		}
	}
}
