package ort_test

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/coop-diffusion/coop/internal/onnx"
	"github.com/coop-diffusion/coop/internal/ort"
	"github.com/coop-diffusion/coop/latent"
)

// Run keeps ONNX Runtime values bound to the callers' buffers from run to
// run (binding.go). These tests change buffers, shapes, contexts and
// goroutines between runs and check that no run sees a stale binding.

// affineModel returns y = 2*x + timestep for x of [batch, 3] and a rank-0
// timestep, with x and y of element type typ.
func affineModel(t testing.TB, typ onnx.ElemType) *ort.Session {
	t.Helper()
	b := onnx.NewBuilder("affine")
	x := b.Input("x", typ, "batch", 3)
	ts := b.Input("timestep", onnx.Float32)
	if typ != onnx.Float32 {
		ts = b.Op("Cast", []string{ts}, onnx.Attrs{"to": int64(typ)})
	}
	two := b.Op("Add", []string{x, x}, nil)
	b.Output(b.Op("Add", []string{two, ts}, nil), "y", typ, "batch", 3)
	return openModel(t, writeModel(t, b), ort.SessionOptions{IntraOpThreads: 1})
}

// affine is the model's result in float64; the inputs used below are small
// integers and halves, exact in float16.
func affine(x []float32, ts float64) []float64 {
	out := make([]float64, len(x))
	for i, v := range x {
		out[i] = 2*float64(v) + ts
	}
	return out
}

func runAffine(t testing.TB, s *ort.Session, x, y *latent.Tensor, ts float64) {
	t.Helper()
	err := s.Run(context.Background(), map[string]ort.Input{"x": ort.Float(x), "timestep": ort.Scalar(ts)}, map[string]*latent.Tensor{"y": y})
	if err != nil {
		t.Fatal(err)
	}
}

func TestBuffersChangeBetweenRuns(t *testing.T) {
	for _, typ := range []onnx.ElemType{onnx.Float32, onnx.Float16, onnx.Float64} {
		t.Run(typ.String(), func(t *testing.T) {
			s := affineModel(t, typ)
			a := latent.FromData([]float32{1, 2, 3, 4, 5, 6}, 2, 3)
			b := latent.FromData([]float32{-1, -2, -3, -4, -5, -6}, 2, 3)
			ya, yb := latent.New(2, 3), latent.New(2, 3)

			runAffine(t, s, a, ya, 0.5)
			assertClose(t, "first run", ya.Data, affine(a.Data, 0.5), 0)
			// Another input and output buffer of the same shape.
			runAffine(t, s, b, yb, 1)
			assertClose(t, "swapped buffers", yb.Data, affine(b.Data, 1), 0)
			assertClose(t, "previous output", ya.Data, affine(a.Data, 0.5), 0)
			// Back to the first buffers, whose input changed in place.
			a.Data[0], a.Data[5] = 10, -10
			runAffine(t, s, a, ya, 2)
			assertClose(t, "input changed in place", ya.Data, affine(a.Data, 2), 0)
			assertClose(t, "other output", yb.Data, affine(b.Data, 1), 0)
			// Same input, output swapped.
			runAffine(t, s, a, yb, 3)
			assertClose(t, "output swapped", yb.Data, affine(a.Data, 3), 0)
			assertClose(t, "previous output", ya.Data, affine(a.Data, 2), 0)
		})
	}
}

func TestShapeChangesBetweenRuns(t *testing.T) {
	for _, typ := range []onnx.ElemType{onnx.Float32, onnx.Float16} {
		t.Run(typ.String(), func(t *testing.T) {
			s := affineModel(t, typ)
			// One backing array for the input and one for the output, sliced
			// to different lengths: the bindings must follow the shape, not
			// only the memory.
			xbuf, ybuf := make([]float32, 9), make([]float32, 9)
			for i, batch := range []int{1, 3, 2, 3, 1} {
				for k := range xbuf {
					xbuf[k] = float32(k + i)
				}
				x := latent.FromData(xbuf[:3*batch], batch, 3)
				y := latent.FromData(ybuf[:3*batch], batch, 3)
				runAffine(t, s, x, y, float64(i))
				assertClose(t, fmt.Sprintf("run %d, batch %d", i, batch), y.Data, affine(x.Data, float64(i)), 0)
			}
		})
	}
}

func TestScalarFormsBetweenRuns(t *testing.T) {
	// A [batch] timestep fed by a scalar repeated to the batch, then by a
	// tensor, then by a scalar again with another batch size.
	s := timestepModel(t, onnx.Int64, "batch")
	sample := []float32{1, 2, 3, 4, 5, 6}
	cases := []struct {
		rows int
		ts   ort.Input
		want []float64
	}{
		{3, ort.Scalar(2), []float64{2, 4, 6, 8, 10, 12}},
		{3, ort.Int([]int64{3}, []int64{1, 2, 3}), []float64{1, 2, 6, 8, 15, 18}},
		{2, ort.Scalar(3), []float64{3, 6, 9, 12}},
		{3, ort.FloatShaped([]int64{3}, []float32{0.6, 1.4, 2}), []float64{1, 2, 3, 4, 10, 12}},
	}
	for i, c := range cases {
		in := map[string]ort.Input{"sample": ort.FloatShaped([]int64{int64(c.rows), 2}, sample[:2*c.rows]), "timestep": c.ts}
		got := runOne(t, s, in, "out_sample", c.rows, 2)
		assertClose(t, fmt.Sprintf("case %d", i), got.Data, c.want, 0)
	}
}

func TestInPlaceBetweenRuns(t *testing.T) {
	// An output bound to a buffer of its own in one run and overlapping the
	// input in the next must still go through a separate buffer: a
	// Transpose written straight over its input would read values it has
	// already overwritten.
	b := onnx.NewBuilder("transpose")
	b.Output(b.Op("Transpose", []string{b.Input("x", onnx.Float32, 3, 3)}, onnx.Attrs{"perm": []int64{1, 0}}), "y", onnx.Float32, 3, 3)
	s := openModel(t, writeModel(t, b), ort.SessionOptions{})
	transpose := func(x, y []float32) {
		t.Helper()
		err := s.Run(t.Context(), map[string]ort.Input{"x": ort.FloatShaped([]int64{3, 3}, x)},
			map[string]*latent.Tensor{"y": latent.FromData(y, 3, 3)})
		if err != nil {
			t.Fatal(err)
		}
	}
	x := []float32{1, 2, 3, 4, 5, 6, 7, 8, 9}
	y := make([]float32, 9)
	transpose(x, y)
	assertClose(t, "separate", y, []float64{1, 4, 7, 2, 5, 8, 3, 6, 9}, 0)
	transpose(y, y)
	assertClose(t, "in place", y, []float64{1, 2, 3, 4, 5, 6, 7, 8, 9}, 0)
	transpose(x, y)
	assertClose(t, "separate again", y, []float64{1, 4, 7, 2, 5, 8, 3, 6, 9}, 0)
	// The output starts inside the input's memory.
	buf := []float32{1, 2, 3, 4, 5, 6, 7, 8, 9, 0, 0, 0, 0}
	transpose(buf[:9], buf[4:])
	assertClose(t, "overlapping", buf, []float64{1, 2, 3, 4, 1, 4, 7, 2, 5, 8, 3, 6, 9}, 0)
}

func TestOutputsAskedForChangeBetweenRuns(t *testing.T) {
	b := onnx.NewBuilder("two")
	x := b.Input("x", onnx.Float32, "n")
	b.Output(b.Op("Neg", []string{x}, nil), "neg", onnx.Float32, "n")
	b.Output(b.Op("Cast", []string{x}, onnx.Attrs{"to": int64(onnx.Float16)}), "half", onnx.Float16, "n")
	s := openModel(t, writeModel(t, b), ort.SessionOptions{})
	in := map[string]ort.Input{"x": ort.FloatShaped([]int64{2}, []float32{1.5, -2})}
	neg, half := latent.New(2), latent.New(2)
	for i, outs := range []map[string]*latent.Tensor{
		{"neg": neg},
		{"neg": neg, "half": half},
		nil,
		{"half": half},
		{"neg": neg},
	} {
		clear(neg.Data)
		clear(half.Data)
		if err := s.Run(t.Context(), in, outs); err != nil {
			t.Fatalf("run %d: %v", i, err)
		}
		if outs["neg"] != nil {
			assertClose(t, fmt.Sprintf("run %d neg", i), neg.Data, []float64{-1.5, 2}, 0)
		}
		if outs["half"] != nil {
			assertClose(t, fmt.Sprintf("run %d half", i), half.Data, []float64{1.5, -2}, 0)
		}
	}
}

func TestFailedBindingThenRun(t *testing.T) {
	// A value that does not fit the declared int32 fails before ONNX
	// Runtime runs; the next run with a good value works.
	s := timestepModel(t, onnx.Int32)
	in := func(ts float64) map[string]ort.Input {
		return map[string]ort.Input{"sample": ort.FloatShaped([]int64{1, 2}, []float32{1, 2}), "timestep": ort.Scalar(ts)}
	}
	err := s.Run(t.Context(), in(1e12), map[string]*latent.Tensor{"out_sample": latent.New(1, 2)})
	if err == nil || !strings.Contains(err.Error(), "does not fit the declared int32") {
		t.Fatalf("err = %v, want the int32 range named", err)
	}
	got := runOne(t, s, in(3), "out_sample", 1, 2)
	assertClose(t, "after a failed binding", got.Data, []float64{3, 6}, 0)
}

func TestConcurrentRunsOwnBuffers(t *testing.T) {
	// Several goroutines, each with buffers of its own that it refills and
	// reuses, as adapters do; run under -race.
	for _, typ := range []onnx.ElemType{onnx.Float32, onnx.Float16} {
		t.Run(typ.String(), func(t *testing.T) {
			s := affineModel(t, typ)
			const workers, runs = 6, 40
			var wg sync.WaitGroup
			errs := make(chan error, workers)
			for g := range workers {
				wg.Add(1)
				go func() {
					defer wg.Done()
					batch := 1 + g%3
					x, y := latent.New(batch, 3), latent.New(batch, 3)
					in := map[string]ort.Input{"x": ort.Float(x)}
					out := map[string]*latent.Tensor{"y": y}
					for r := range runs {
						for k := range x.Data {
							x.Data[k] = float32(g*100 + r + k)
						}
						in["timestep"] = ort.Scalar(float64(g))
						if err := s.Run(context.Background(), in, out); err != nil {
							errs <- err
							return
						}
						for k, v := range y.Data {
							if want := float32(2*(g*100+r+k) + g); v != want {
								errs <- fmt.Errorf("worker %d run %d: y[%d] = %g, want %g", g, r, k, v, want)
								return
							}
						}
					}
				}()
			}
			wg.Wait()
			close(errs)
			for err := range errs {
				t.Error(err)
			}
			if n := ort.IdleBindings(s); n < 1 || n > workers {
				t.Errorf("%d idle binding sets after the runs, want 1 to %d", n, workers)
			}
		})
	}
}

func TestCloseReleasesBindings(t *testing.T) {
	before := ort.LiveValues()
	// Outputs of every kind (float32 in the caller's buffer, float16
	// converted, int64 converted) and inputs of every kind (direct, scalar,
	// float16 converted).
	b := onnx.NewBuilder("kinds")
	x := b.Input("x", onnx.Float32, "batch", 3)
	h := b.Input("h", onnx.Float16, "batch", 3)
	ts := b.Input("timestep", onnx.Float32)
	sum := b.Op("Add", []string{b.Op("Add", []string{x, b.Op("Cast", []string{h}, onnx.Attrs{"to": int64(onnx.Float32)})}, nil), ts}, nil)
	b.Output(sum, "y", onnx.Float32, "batch", 3)
	b.Output(b.Op("Cast", []string{sum}, onnx.Attrs{"to": int64(onnx.Float16)}), "y16", onnx.Float16, "batch", 3)
	b.Output(b.Op("Cast", []string{sum}, onnx.Attrs{"to": int64(onnx.Int64)}), "ids", onnx.Int64, "batch", 3)
	path := writeModel(t, b)
	s := openModel(t, path, ort.SessionOptions{IntraOpThreads: 1})

	xs := latent.FromData([]float32{1, 2, 3}, 1, 3)
	hs := latent.FromData([]float32{10, 20, 30}, 1, 3)
	run := func(s *ort.Session, y, y16, ids *latent.Tensor) error {
		return s.Run(context.Background(),
			map[string]ort.Input{"x": ort.Float(xs), "h": ort.Float(hs), "timestep": ort.Scalar(100)},
			map[string]*latent.Tensor{"y": y, "y16": y16, "ids": ids})
	}
	want := []float64{111, 122, 133}
	// check runs s and compares the outputs with want.
	check := func(s *ort.Session) error {
		y, y16, ids := latent.New(1, 3), latent.New(1, 3), latent.New(1, 3)
		if err := run(s, y, y16, ids); err != nil {
			return err
		}
		for k, w := range want {
			if y.Data[k] != float32(w) || y16.Data[k] != float32(w) || ids.Data[k] != float32(w) {
				return fmt.Errorf("outputs y %v, y16 %v, ids %v; want %v", y.Data, y16.Data, ids.Data, want)
			}
		}
		return nil
	}
	// Several binding sets, from concurrent runs.
	var wg sync.WaitGroup
	errs := make(chan error, 3)
	for range 3 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range 20 {
				if err := check(s); err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	if ort.LiveValues() == before {
		t.Fatal("no values are bound after the runs")
	}
	// Runs racing with Close either finish before it or find the session
	// closed.
	var closedErrs sync.WaitGroup
	for range 2 {
		closedErrs.Add(1)
		go func() {
			defer closedErrs.Done()
			for range 50 {
				if err := check(s); err != nil {
					if !strings.Contains(err.Error(), "session is closed") {
						t.Error(err)
					}
					return
				}
			}
		}()
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	closedErrs.Wait()
	if live := ort.LiveValues(); live != before {
		t.Errorf("%d values bound after Close, want %d", live, before)
	}
	if n := ort.IdleBindings(s); n != 0 {
		t.Errorf("%d binding sets kept after Close", n)
	}
	// The buffers the released values were bound to are still the
	// caller's: another session reads and writes them correctly, and the
	// collector may reuse the ones nobody holds.
	runtime.GC()
	other := openModel(t, path, ort.SessionOptions{IntraOpThreads: 1})
	if err := check(other); err != nil {
		t.Fatal(err)
	}
	xs.Data[0] = 2
	y, y16, ids := latent.New(1, 3), latent.New(1, 3), latent.New(1, 3)
	if err := run(other, y, y16, ids); err != nil {
		t.Fatal(err)
	}
	assertClose(t, "after changing the input", y.Data, []float64{112, 122, 133}, 0)
}

func TestRunAfterCancellation(t *testing.T) {
	// A terminated run leaves its run options terminated; the binding set's
	// next run must clear the flag, and a context cancelled between runs
	// must not stop a later run under another context.
	const size, depth = 96, 600
	s := chainModel(t, depth, size)
	x := latent.FromData(uniform(31, size*size), size, size)
	in := map[string]ort.Input{"x": ort.Float(x)}
	full := func(ctx context.Context) {
		t.Helper()
		y := latent.New(size, size)
		if err := s.Run(ctx, in, map[string]*latent.Tensor{"y": y}); err != nil {
			t.Fatal(err)
		}
		assertClose(t, "identity chain", y.Data, widen(x.Data), 0)
	}
	start := time.Now()
	full(context.Background())
	t.Logf("a full run takes %v", time.Since(start))

	// Cancelled during the run.
	ctx, cancel := context.WithCancel(context.Background())
	go func() {
		time.Sleep(2 * time.Millisecond)
		cancel()
	}()
	err := s.Run(ctx, in, map[string]*latent.Tensor{"y": latent.New(size, size)})
	if err != nil && !errors.Is(err, context.Canceled) {
		t.Fatalf("err = %v, want nil or one wrapping context.Canceled", err)
	}
	full(context.Background())
	full(t.Context())

	// Cancelled between runs.
	ctx, cancel = context.WithCancel(context.Background())
	full(ctx)
	cancel()
	if err := s.Run(ctx, in, map[string]*latent.Tensor{"y": latent.New(size, size)}); !errors.Is(err, context.Canceled) {
		t.Errorf("run under a cancelled context: err = %v", err)
	}
	time.Sleep(time.Millisecond) // let a late callback fire, if any
	full(context.Background())
	ctx2, cancel2 := context.WithCancel(context.Background())
	defer cancel2()
	full(ctx2)
}
