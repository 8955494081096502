package ort_test

import (
	"context"
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/coop-diffusion/coop/internal/onnx"
	"github.com/coop-diffusion/coop/internal/ort"
	"github.com/coop-diffusion/coop/internal/ort/orttest"
	"github.com/coop-diffusion/coop/latent"
)

// timestepModel returns y = sample * float(timestep) for a timestep input
// of the given type and dims (none for rank 0). A [B] timestep scales each
// row by its own value.
func timestepModel(t *testing.T, typ onnx.ElemType, dims ...any) *ort.Session {
	t.Helper()
	b := onnx.NewBuilder("timestep")
	x := b.Input("sample", onnx.Float32, "batch", 2)
	ts := b.Input("timestep", typ, dims...)
	f := b.Op("Cast", []string{ts}, onnx.Attrs{"to": int64(onnx.Float32)})
	if len(dims) == 1 {
		f = b.Op("Unsqueeze", []string{f, b.Int64s("axes", 1)}, nil)
	}
	b.Output(b.Op("Mul", []string{x, f}, nil), "out_sample", onnx.Float32, "batch", 2)
	return openModel(t, writeModel(t, b), ort.SessionOptions{})
}

func TestTimestepForms(t *testing.T) {
	sample := []float32{1, 2, 3, 4, 5, 6}
	in := func(ts ort.Input) map[string]ort.Input {
		return map[string]ort.Input{"sample": ort.FloatShaped([]int64{3, 2}, sample), "timestep": ts}
	}
	scaled := func(per ...float64) []float64 {
		out := make([]float64, len(sample))
		for i, v := range sample {
			out[i] = float64(v) * per[i/2%len(per)]
		}
		return out
	}
	cases := []struct {
		name  string
		typ   onnx.ElemType
		dims  []any
		input ort.Input
		want  []float64
	}{
		{"float32 rank 0", onnx.Float32, nil, ort.Scalar(0.5), scaled(0.5)},
		{"float16 rank 0", onnx.Float16, nil, ort.Scalar(0.25), scaled(0.25)},
		{"float64 rank 0", onnx.Float64, nil, ort.Scalar(1.5), scaled(1.5)},
		{"int64 rank 0 rounds", onnx.Int64, nil, ort.Scalar(980.6), scaled(981)},
		{"int32 rank 0", onnx.Int32, nil, ort.Scalar(7), scaled(7)},
		{"float32 [batch] from scalar", onnx.Float32, []any{"batch"}, ort.Scalar(2), scaled(2)},
		{"float16 [steps] from scalar", onnx.Float16, []any{"steps"}, ort.Scalar(0.5), scaled(0.5)},
		{"int64 [3] from scalar", onnx.Int64, []any{3}, ort.Scalar(999), scaled(999)},
		{"int64 [batch] per sample", onnx.Int64, []any{"batch"}, ort.Int([]int64{3}, []int64{1, 2, 3}), scaled(1, 2, 3)},
		{"float16 [batch] per sample", onnx.Float16, []any{"batch"}, ort.FloatShaped([]int64{3}, []float32{0.5, 1, 2}), scaled(0.5, 1, 2)},
		{"int32 [batch] from floats", onnx.Int32, []any{"batch"}, ort.FloatShaped([]int64{3}, []float32{1.4, 1.6, -2.5}), scaled(1, 2, -3)},
		{"float32 rank 0 given as shape []", onnx.Float32, nil, ort.FloatShaped(nil, []float32{3}), scaled(3)},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			s := timestepModel(t, c.typ, c.dims...)
			got := runOne(t, s, in(c.input), "out_sample", 3, 2)
			assertClose(t, c.name, got.Data, c.want, 0)
		})
	}
}

func TestInputErrors(t *testing.T) {
	b := onnx.NewBuilder("unet")
	x := b.Input("sample", onnx.Float32, "batch", 4, "h", "w")
	ctx := b.Input("encoder_hidden_states", onnx.Float32, "batch", 2, 8)
	ts := b.Input("timestep", onnx.Float32, "batch", "extra")
	pooled := b.Op("ReduceMean", []string{ctx}, onnx.Attrs{"axes": []int64{1, 2}, "keepdims": 1})
	tsum := b.Op("ReduceSum", []string{ts, b.Int64s("axis1", 1)}, onnx.Attrs{"keepdims": 1})
	tsum = b.Op("Unsqueeze", []string{tsum, b.Int64s("axis2", 2)}, nil)
	y := b.Op("Add", []string{x, b.Op("Unsqueeze", []string{b.Op("Add", []string{pooled, tsum}, nil), b.Int64s("axis3", 3)}, nil)}, nil)
	b.Output(y, "out_sample", onnx.Float32, "batch", 4, "h", "w")
	path := writeModel(t, b)
	s := openModel(t, path, ort.SessionOptions{})

	good := func() map[string]ort.Input {
		return map[string]ort.Input{
			"sample":                ort.Float(latent.New(2, 4, 3, 3)),
			"encoder_hidden_states": ort.Float(latent.New(2, 2, 8)),
			"timestep":              ort.Float(latent.New(2, 1)),
		}
	}
	// The good inputs run, so the failures below come from the changes.
	runOne(t, s, good(), "out_sample", 2, 4, 3, 3)

	cases := []struct {
		name   string
		change func(map[string]ort.Input)
		want   []string
	}{
		{"unknown input", func(m map[string]ort.Input) { m["text_embeds"] = ort.Scalar(1) },
			[]string{`unknown input "text_embeds"`, "sample (float32 [batch, 4, h, w])", "timestep"}},
		{"missing input", func(m map[string]ort.Input) { delete(m, "encoder_hidden_states") },
			[]string{`missing input "encoder_hidden_states"`, "float32 [batch, 2, 8]"}},
		{"wrong rank", func(m map[string]ort.Input) { m["sample"] = ort.Float(latent.New(2, 4, 9)) },
			[]string{`input "sample" has rank 4`, "[batch, 4, h, w]", "given rank 3 [2, 4, 9]"}},
		{"fixed dimension", func(m map[string]ort.Input) { m["sample"] = ort.Float(latent.New(2, 3, 3, 3)) },
			[]string{`input "sample" dimension 1 is 4`, "given 3"}},
		{"batch disagreement", func(m map[string]ort.Input) { m["encoder_hidden_states"] = ort.Float(latent.New(1, 2, 8)) },
			[]string{`input "encoder_hidden_states" dimension 0 (batch) is 1`, `input "sample" dimension 0`, "is 2"}},
		{"value count", func(m map[string]ort.Input) { m["sample"] = ort.FloatShaped([]int64{2, 4, 3, 3}, make([]float32, 5)) },
			[]string{`input "sample": 5 values for shape [2, 4, 3, 3]`}},
		{"scalar for rank 2", func(m map[string]ort.Input) { m["timestep"] = ort.Scalar(1) },
			[]string{`input "timestep" is float32 [batch, extra]`, "rank 0 or rank 1"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			in := good()
			c.change(in)
			err := s.Run(t.Context(), in, map[string]*latent.Tensor{"out_sample": latent.New(2, 4, 3, 3)})
			if err == nil {
				t.Fatal("Run succeeded")
			}
			for _, w := range append([]string{path}, c.want...) {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not contain %q", err, w)
				}
			}
		})
	}

	outCases := []struct {
		name string
		outs map[string]*latent.Tensor
		want string
	}{
		{"unknown output", map[string]*latent.Tensor{"noise_pred": latent.New(2, 4, 3, 3)}, `unknown output "noise_pred"; the model's outputs are out_sample (float32 [batch, 4, h, w])`},
		{"output rank", map[string]*latent.Tensor{"out_sample": latent.New(2, 4, 9)}, `output "out_sample" has rank 4`},
		{"output batch", map[string]*latent.Tensor{"out_sample": latent.New(1, 4, 3, 3)}, `output "out_sample" dimension 0 (batch) is 1`},
		{"nil output", map[string]*latent.Tensor{"out_sample": nil}, "outputs must be allocated by the caller"},
		{"inconsistent tensor", map[string]*latent.Tensor{"out_sample": {Shape: []int{2, 4, 3, 3}, Data: make([]float32, 3)}}, "tensor has 3 values"},
	}
	for _, c := range outCases {
		t.Run(c.name, func(t *testing.T) {
			err := s.Run(t.Context(), good(), c.outs)
			if err == nil || !strings.Contains(err.Error(), c.want) || !strings.Contains(err.Error(), path) {
				t.Errorf("err = %v, want it to name %s and contain %q", err, path, c.want)
			}
		})
	}
}

func TestUnrequestedAndScalarOutputs(t *testing.T) {
	// A text-encoder-like graph: several outputs, one float16, one rank 0;
	// callers ask for what they need.
	b := onnx.NewBuilder("encoder")
	x := b.Input("input_ids", onnx.Int64, "batch", "tokens")
	f := b.Op("Cast", []string{x}, onnx.Attrs{"to": int64(onnx.Float32)})
	b.Output(f, "last_hidden_state", onnx.Float32, "batch", "tokens")
	b.Output(b.Op("Cast", []string{f}, onnx.Attrs{"to": int64(onnx.Float16)}), "hidden_states.0", onnx.Float16, "batch", "tokens")
	sum := b.Op("ReduceSum", []string{f}, onnx.Attrs{"keepdims": 0})
	b.Output(sum, "total", onnx.Float32)
	b.Output(b.Op("Cast", []string{sum}, onnx.Attrs{"to": int64(onnx.Float16)}), "total16", onnx.Float16)
	b.Output(b.Op("Cast", []string{f}, onnx.Attrs{"to": int64(onnx.Int64)}), "ids_again", onnx.Int64, "batch", "tokens")
	s := openModel(t, writeModel(t, b), ort.SessionOptions{})
	in := map[string]ort.Input{"input_ids": ort.Int([]int64{1, 3}, []int64{1, 2, 4})}

	// One output: every other one, float16 included, is allocated
	// internally from the shapes the inputs fix.
	last := runOne(t, s, in, "last_hidden_state", 1, 3)
	assertClose(t, "last_hidden_state", last.Data, []float64{1, 2, 4}, 0)

	outs := map[string]*latent.Tensor{
		"hidden_states.0": latent.New(1, 3),
		"total":           latent.New(),
		"total16":         latent.New(),
		"ids_again":       latent.New(1, 3),
	}
	if err := s.Run(t.Context(), in, outs); err != nil {
		t.Fatal(err)
	}
	assertClose(t, "float16 output", outs["hidden_states.0"].Data, []float64{1, 2, 4}, 0)
	assertClose(t, "rank-0 float32 output", outs["total"].Data, []float64{7}, 0)
	assertClose(t, "rank-0 float16 output", outs["total16"].Data, []float64{7}, 0)
	assertClose(t, "int64 output", outs["ids_again"].Data, []float64{1, 2, 4}, 0)

	shape, err := s.OutputShape("hidden_states.0", map[string]ort.Input{"input_ids": ort.Int([]int64{2, 77}, make([]int64, 154))})
	if err != nil || !reflect.DeepEqual(shape, []int{2, 77}) {
		t.Errorf("OutputShape = %v, %v; want [2 77]", shape, err)
	}
	if shape, err := s.OutputShape("total", in); err != nil || len(shape) != 0 {
		t.Errorf("OutputShape of a scalar = %v, %v; want []", shape, err)
	}
}

func TestUnresolvableFloat16Output(t *testing.T) {
	b := onnx.NewBuilder("dynamic")
	x := b.Input("x", onnx.Float32, "n")
	nz := b.Op("NonZero", []string{x}, nil)
	b.Output(b.Op("Cast", []string{nz}, onnx.Attrs{"to": int64(onnx.Float16)}), "where", onnx.Float16, 1, "count")
	b.Output(x, "same", onnx.Float32, "n")
	s := openModel(t, writeModel(t, b), ort.SessionOptions{})
	in := map[string]ort.Input{"x": ort.FloatShaped([]int64{4}, []float32{0, 3, 0, 5})}

	_, err := s.OutputShape("where", in)
	if err == nil || !strings.Contains(err.Error(), "count") {
		t.Errorf("OutputShape err = %v, want one naming the unresolved dimension", err)
	}
	// Not asked for, ONNX Runtime allocates it whatever its shape (this
	// failed while onnxruntime_go allocated such outputs).
	same := latent.New(4)
	if err := s.Run(t.Context(), in, map[string]*latent.Tensor{"same": same}); err != nil {
		t.Fatalf("float16 output of unknown shape not asked for: %v", err)
	}
	assertClose(t, "Identity", same.Data, []float64{0, 3, 0, 5}, 0)
	// Asking for it with the right shape works.
	where := latent.New(1, 2)
	if err := s.Run(t.Context(), in, map[string]*latent.Tensor{"where": where}); err != nil {
		t.Fatal(err)
	}
	assertClose(t, "NonZero", where.Data, []float64{1, 3}, 0)
}

func TestOpenErrors(t *testing.T) {
	orttest.Init(t)
	dir := t.TempDir()
	b := onnx.NewBuilder("ok")
	b.Output(b.Op("Relu", []string{b.Input("x", onnx.Float32, 2)}, nil), "y", onnx.Float32, 2)
	data, err := b.Bytes()
	if err != nil {
		t.Fatal(err)
	}
	write := func(name string, content []byte) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, content, 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	noInputs := onnx.NewBuilder("constant")
	noInputs.Output(noInputs.Scalar("c", 1), "c", onnx.Float32)
	noInputsData, err := noInputs.Bytes()
	if err != nil {
		t.Fatal(err)
	}
	strInput := onnx.NewBuilder("strings")
	strInput.Output(strInput.Input("text", onnx.String, 1), "echo", onnx.String, 1)
	strData, err := strInput.Bytes()
	if err != nil {
		t.Fatal(err)
	}
	badOp := onnx.NewBuilder("bad")
	badOp.Output(badOp.Op("NoSuchOperator", []string{badOp.Input("x", onnx.Float32, 2)}, nil), "y", onnx.Float32, 2)
	badOpData, err := badOp.Bytes()
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name string
		path string
		opts ort.SessionOptions
		want []string
	}{
		{"missing file", filepath.Join(dir, "absent.onnx"), ort.SessionOptions{}, []string{"no such file"}},
		{"truncated", write("truncated.onnx", data[:len(data)/2]), ort.SessionOptions{}, []string{"truncated"}},
		{"not a model", write("garbage.onnx", []byte("\xff\xff\xff\xff garbage that is no protobuf")), ort.SessionOptions{}, []string{"garbage.onnx"}},
		{"no inputs", write("constant.onnx", noInputsData), ort.SessionOptions{}, []string{"declares 0 inputs"}},
		{"string input", write("strings.onnx", strData), ort.SessionOptions{}, []string{`input "text"`, "string is not supported"}},
		{"unknown operator", write("bad.onnx", badOpData), ort.SessionOptions{}, []string{"ONNX Runtime", "NoSuchOperator"}},
		{"bad device", write("ok.onnx", data), ort.SessionOptions{Device: "tpu"}, []string{`device "tpu"`}},
		{"negative threads", write("ok.onnx", data), ort.SessionOptions{IntraOpThreads: -1}, []string{"thread counts"}},
		{"no cuda", write("ok.onnx", data), ort.SessionOptions{Device: "cuda"}, []string{"device cuda", "CUDA"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if c.name == "no cuda" && os.Getenv("COOP_TEST_CUDA") != "" {
				t.Skip("COOP_TEST_CUDA is set: the library has a CUDA provider")
			}
			s, err := ort.Open(c.path, c.opts)
			if err == nil {
				s.Close()
				t.Fatal("Open succeeded")
			}
			t.Log(err)
			for _, w := range append([]string{c.path}, c.want...) {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not contain %q", err, w)
				}
			}
		})
	}
}

func TestOptionsAndDeterminism(t *testing.T) {
	const n, c, h, w, o = 2, 4, 8, 8, 8
	x, wt, bias := uniform(20, n*c*h*w), uniform(21, o*c*9), uniform(22, o)
	b := onnx.NewBuilder("conv")
	in := b.Input("x", onnx.Float32, "batch", c, h, w)
	y := b.Op("Conv", []string{in, b.Constant("w", []int64{o, c, 3, 3}, wt), b.Constant("b", []int64{o}, bias)}, onnx.Attrs{"pads": []int64{1, 1, 1, 1}})
	b.Output(b.Op("Relu", []string{y}, nil), "y", onnx.Float32, "batch", o, h, w)
	path := writeModel(t, b)
	want, _, _ := conv2d(widen(x), widen(wt), widen(bias), n, c, h, w, o, 3, 3, 1, 1)
	for i := range want {
		want[i] = math.Max(want[i], 0)
	}
	inputs := map[string]ort.Input{"x": ort.Float(latent.FromData(x, n, c, h, w))}
	for _, level := range []ort.OptimizationLevel{ort.OptimizeDisable, ort.OptimizeBasic, ort.OptimizeExtended, ort.OptimizeAll} {
		opts := ort.SessionOptions{IntraOpThreads: 2, InterOpThreads: 1, OptimizationLevel: level, Device: "cpu", Deterministic: true}
		s := openModel(t, path, opts)
		first := runOne(t, s, inputs, "y", n, o, h, w)
		assertClose(t, "optimization "+level.String(), first.Data, want, tolFloat32)
		for i := 0; i < 3; i++ {
			again := runOne(t, s, inputs, "y", n, o, h, w)
			if !reflect.DeepEqual(again.Data, first.Data) {
				t.Errorf("optimization %v: run %d differs from the first (deterministic mode)", level, i+2)
			}
		}
	}
	for _, name := range []string{"", "disable", "basic", "extended", "all"} {
		if l, err := ort.ParseOptimizationLevel(name); err != nil || (name != "" && l.String() != name) {
			t.Errorf("ParseOptimizationLevel(%q) = %v, %v", name, l, err)
		}
	}
	if _, err := ort.ParseOptimizationLevel("max"); err == nil {
		t.Error("ParseOptimizationLevel accepted max")
	}
}

func TestConcurrentRunsAndStats(t *testing.T) {
	b := onnx.NewBuilder("affine")
	x := b.Input("x", onnx.Float32, "batch", 3)
	ts := b.Input("timestep", onnx.Float16)
	y := b.Op("Add", []string{b.Op("Mul", []string{x, b.Scalar("two", 2)}, nil), b.Op("Cast", []string{ts}, onnx.Attrs{"to": int64(onnx.Float32)})}, nil)
	b.Output(b.Op("Cast", []string{y}, onnx.Attrs{"to": int64(onnx.Float16)}), "y", onnx.Float16, "batch", 3)
	s := openModel(t, writeModel(t, b), ort.SessionOptions{IntraOpThreads: 1})

	const workers, runs = 8, 25
	var wg sync.WaitGroup
	errs := make(chan error, workers*runs)
	for g := 0; g < workers; g++ {
		wg.Add(1)
		go func(g int) {
			defer wg.Done()
			for r := 0; r < runs; r++ {
				v := float32(g*100 + r)
				out := latent.New(2, 3)
				err := s.Run(context.Background(), map[string]ort.Input{
					"x":        ort.FloatShaped([]int64{2, 3}, []float32{v, v, v, 0, 1, 2}),
					"timestep": ort.Scalar(float64(g)),
				}, map[string]*latent.Tensor{"y": out})
				if err != nil {
					errs <- err
					return
				}
				want := []float32{2*v + float32(g), 2*v + float32(g), 2*v + float32(g), float32(g), 2 + float32(g), 4 + float32(g)}
				if !reflect.DeepEqual(out.Data, want) {
					errs <- fmt.Errorf("worker %d run %d: got %v, want %v", g, r, out.Data, want)
					return
				}
			}
		}(g)
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	st := s.Stats()
	if st.Runs != workers*runs || st.Time <= 0 || st.Mean() != st.Time/time.Duration(st.Runs) {
		t.Errorf("Stats = %+v (mean %v), want %d runs with time recorded", st, st.Mean(), workers*runs)
	}
}

func TestClose(t *testing.T) {
	b := onnx.NewBuilder("id")
	b.Output(b.Input("x", onnx.Float32, 1), "y", onnx.Float32, 1)
	s := openModel(t, writeModel(t, b), ort.SessionOptions{})
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
	err := s.Run(t.Context(), map[string]ort.Input{"x": ort.FloatShaped([]int64{1}, []float32{1})}, nil)
	if err == nil || !strings.Contains(err.Error(), "closed") {
		t.Errorf("Run after Close: err = %v", err)
	}
}

// chainModel multiplies a [size, size] input by the identity matrix depth
// times, one MatMul node after another: plenty of nodes between which ONNX
// Runtime checks the terminate flag, and a run time proportional to depth.
func chainModel(t *testing.T, depth, size int) *ort.Session {
	t.Helper()
	eye := make([]float32, size*size)
	for i := 0; i < size; i++ {
		eye[i*size+i] = 1
	}
	b := onnx.NewBuilder("chain")
	v := b.Input("x", onnx.Float32, size, size)
	w := b.Constant("eye", []int64{int64(size), int64(size)}, eye)
	for i := 0; i < depth; i++ {
		v = b.Op("MatMul", []string{v, w}, nil)
	}
	b.Output(v, "y", onnx.Float32, size, size)
	// No graph optimizations: they might see through the identity.
	return openModel(t, writeModel(t, b), ort.SessionOptions{IntraOpThreads: 1, OptimizationLevel: ort.OptimizeDisable})
}

func TestCancellation(t *testing.T) {
	const size, shortDepth, longDepth = 256, 20, 4000
	x := ort.Float(latent.FromData(uniform(30, size*size), size, size))

	// Time a short chain to know what the long one would take.
	short := chainModel(t, shortDepth, size)
	runOne(t, short, map[string]ort.Input{"x": x}, "y", size, size) // warm up
	start := time.Now()
	runOne(t, short, map[string]ort.Input{"x": x}, "y", size, size)
	perNode := time.Since(start) / shortDepth
	wouldTake := perNode * longDepth

	long := chainModel(t, longDepth, size)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	start = time.Now()
	err := long.Run(ctx, map[string]ort.Input{"x": x}, map[string]*latent.Tensor{"y": latent.New(size, size)})
	took := time.Since(start)
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("err = %v, want one wrapping context.DeadlineExceeded", err)
	}
	if !strings.Contains(err.Error(), long.Path()) {
		t.Errorf("error %q does not name the model", err)
	}
	t.Logf("cancelled after %v; the whole run would take about %v (%v per node)", took, wouldTake, perNode)
	if took > wouldTake/4 {
		t.Errorf("Run returned after %v, not well before the %v the model needs", took, wouldTake)
	}

	// A context cancelled before the call stops it before ONNX Runtime.
	before := long.Stats().Runs
	err = long.Run(ctx, map[string]ort.Input{"x": x}, map[string]*latent.Tensor{"y": latent.New(size, size)})
	if !errors.Is(err, context.DeadlineExceeded) || long.Stats().Runs != before {
		t.Errorf("run with a done context: err = %v, runs %d -> %d", err, before, long.Stats().Runs)
	}
}

func TestInPlaceUpdate(t *testing.T) {
	// Writing the output over the input (a latent updated in place) must
	// give the same result as separate buffers, although ONNX Runtime
	// reads and writes caller memory directly.
	b := onnx.NewBuilder("transpose")
	b.Output(b.Op("Transpose", []string{b.Input("x", onnx.Float32, 3, 3)}, onnx.Attrs{"perm": []int64{1, 0}}), "y", onnx.Float32, 3, 3)
	s := openModel(t, writeModel(t, b), ort.SessionOptions{})
	x := latent.FromData([]float32{1, 2, 3, 4, 5, 6, 7, 8, 9}, 3, 3)
	if err := s.Run(t.Context(), map[string]ort.Input{"x": ort.Float(x)}, map[string]*latent.Tensor{"y": x}); err != nil {
		t.Fatal(err)
	}
	assertClose(t, "in-place Transpose", x.Data, []float64{1, 4, 7, 2, 5, 8, 3, 6, 9}, 0)
}
