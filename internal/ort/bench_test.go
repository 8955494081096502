package ort_test

import (
	"context"
	"testing"

	"github.com/coop-diffusion/coop/internal/onnx"
	"github.com/coop-diffusion/coop/internal/ort"
	"github.com/coop-diffusion/coop/latent"
)

// BenchmarkRunTiny measures the fixed cost of one Run: checking the inputs,
// binding them and the outputs to ONNX Runtime values, and ONNX Runtime's
// own per-run overhead, on a graph that does almost nothing.
func BenchmarkRunTiny(b *testing.B) {
	s, in, out := tinyModel(b)
	runBenchmark(b, context.Background(), s, in, out)
}

// tinyModel is y = x + float(timestep) on [batch, 4] with a rank-0 int64
// timestep, fed a [1, 4] tensor and a scalar.
func tinyModel(b *testing.B) (*ort.Session, map[string]ort.Input, map[string]*latent.Tensor) {
	g := onnx.NewBuilder("tiny")
	x := g.Input("x", onnx.Float32, "batch", 4)
	ts := g.Input("timestep", onnx.Int64)
	f := g.Op("Cast", []string{ts}, onnx.Attrs{"to": int64(onnx.Float32)})
	g.Output(g.Op("Add", []string{x, f}, nil), "y", onnx.Float32, "batch", 4)
	s := openModel(b, writeModel(b, g), ort.SessionOptions{IntraOpThreads: 1})
	in := map[string]ort.Input{"x": ort.FloatShaped([]int64{1, 4}, []float32{1, 2, 3, 4}), "timestep": ort.Scalar(500)}
	out := map[string]*latent.Tensor{"y": latent.New(1, 4)}
	return s, in, out
}

// BenchmarkRunTinyCancellable is BenchmarkRunTiny under a context that can
// be cancelled, as the engine's runs are: the cost of arming the
// termination of ONNX Runtime's run.
func BenchmarkRunTinyCancellable(b *testing.B) {
	s, in, out := tinyModel(b)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	runBenchmark(b, ctx, s, in, out)
}

// BenchmarkOutputShape measures working out an output's shape from the
// inputs, which callers do before every decode: one that follows from the
// inputs, and one that does not (an error).
func BenchmarkOutputShape(b *testing.B) {
	g := onnx.NewBuilder("shapes")
	x := g.Input("x", onnx.Float32, "batch", 4, "h", "w")
	g.Output(x, "same", onnx.Float32, "batch", 4, "h", "w")
	g.Output(g.Op("NonZero", []string{x}, nil), "where", onnx.Int64, 4, "count")
	s := openModel(b, writeModel(b, g), ort.SessionOptions{IntraOpThreads: 1})
	in := map[string]ort.Input{"x": ort.Float(latent.New(1, 4, 8, 8))}
	for _, c := range []struct {
		name, output string
		ok           bool
	}{{"resolved", "same", true}, {"unresolved", "where", false}} {
		b.Run(c.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, err := s.OutputShape(c.output, in); (err == nil) != c.ok {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkRunLatentFloat16 adds the float32 <-> float16 conversions of a
// float16 export at SD latent size (2x4x64x64 in and out) to the fixed cost.
func BenchmarkRunLatentFloat16(b *testing.B) {
	g := onnx.NewBuilder("half")
	x := g.Input("sample", onnx.Float16, "batch", 4, "height", "width")
	ts := g.Input("timestep", onnx.Float16, "batch")
	scale := g.Op("Unsqueeze", []string{ts, g.Int64s("axes", 1, 2, 3)}, nil)
	g.Output(g.Op("Mul", []string{x, scale}, nil), "out_sample", onnx.Float16, "batch", 4, "height", "width")
	s := openModel(b, writeModel(b, g), ort.SessionOptions{IntraOpThreads: 1})
	sample := latent.New(2, 4, 64, 64)
	in := map[string]ort.Input{"sample": ort.Float(sample), "timestep": ort.Scalar(0.5)}
	out := map[string]*latent.Tensor{"out_sample": latent.New(2, 4, 64, 64)}
	runBenchmark(b, context.Background(), s, in, out)
}

// runBenchmark runs s repeatedly and reports, beside the total, the part
// spent inside ONNX Runtime's Run (ort-ns/op).
func runBenchmark(b *testing.B, ctx context.Context, s *ort.Session, in map[string]ort.Input, out map[string]*latent.Tensor) {
	if err := s.Run(ctx, in, out); err != nil { // first-run allocations
		b.Fatal(err)
	}
	before := s.Stats()
	b.ReportAllocs()
	for b.Loop() {
		if err := s.Run(ctx, in, out); err != nil {
			b.Fatal(err)
		}
	}
	after := s.Stats()
	b.ReportMetric(float64(after.Time-before.Time)/float64(after.Runs-before.Runs), "ort-ns/op")
}
