package f32

import (
	"syscall"
	"testing"
	"unsafe"
)

// guarded returns a slice of n float32 that ends where an inaccessible page
// begins: a kernel that reads or writes one sample past it faults.
func guarded(t *testing.T, n int) []float32 {
	page := syscall.Getpagesize()
	size := (4*n + page - 1) / page * page
	mem, err := syscall.Mmap(-1, 0, size+page, syscall.PROT_READ|syscall.PROT_WRITE, syscall.MAP_ANON|syscall.MAP_PRIVATE)
	if err != nil {
		t.Skipf("mmap: %v", err)
	}
	t.Cleanup(func() { syscall.Munmap(mem) })
	if err := syscall.Mprotect(mem[size:], syscall.PROT_NONE); err != nil {
		t.Skipf("mprotect: %v", err)
	}
	end := unsafe.Pointer(&mem[size-1])
	start := unsafe.Add(end, 1-4*n)
	return unsafe.Slice((*float32)(start), n)
}

// The kernels that read or write beyond a group's own samples (8 lanes for
// fewer than 8 phases) must mask at the end of the data: run each with its
// source or destination ending at an inaccessible page.
func TestKernelsStayInsideTheirSlices(t *testing.T) {
	withKernels(t, func(t *testing.T) {
		for _, k := range []int{2, 3, 5, 6, 7} {
			for _, n := range []int{8, 9, 12, 13} {
				src := guarded(t, n*k)
				for i := range src {
					src[i] = float32(i)
				}
				planes := make([]float32, k*n)
				Deinterleave(planes, 0, n, src, 0, k, n, 1)
				dst := guarded(t, n*k)
				Interleave(dst, 0, planes, 0, n, k, n, 1)
				for i, v := range dst {
					if v != float32(i) {
						t.Fatalf("k %d, n %d: round trip sample %d is %v", k, n, i, v)
					}
				}
			}
		}
		for _, taps := range []int{1, 4, 8, 16} {
			src := guarded(t, 40)
			starts := []int{0, 40 - taps, 3, 40 - taps, 1, 2, 40 - taps, 40 - taps, 40 - taps}
			w, err := NewWindows(40, taps, starts, make([]float32, len(starts)*taps))
			if err != nil {
				t.Fatal(err)
			}
			w.Dots(make([]float32, len(starts)), src)
		}
		src := guarded(t, 3*40)
		WeightedRows(make([]float32, 40), 1, []float32{1, 2, 3}, src, 40)
	})
}

// The elementwise kernels read their inputs and write dst in blocks: run
// each with every slice ending at an inaccessible page, for every tail.
func TestElementwiseKernelsStayInsideTheirSlices(t *testing.T) {
	withKernels(t, func(t *testing.T) {
		for n := 1; n <= 37; n++ {
			x, y, dst := guarded(t, n), guarded(t, n), guarded(t, n)
			for i := range x {
				x[i], y[i] = float32(i), 1
			}
			for _, kern := range elementwiseKernels {
				kern.run(dst, [2]float64{2, 3}, x, y)
			}
			if !Finite(x) {
				t.Fatalf("%d samples 0 to %d: Finite is false", n, n-1)
			}
		}
	})
}
