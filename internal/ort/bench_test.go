package ort_test

import (
	"context"
	"testing"

	"github.com/coop-diffusion/coop/internal/onnx"
	"github.com/coop-diffusion/coop/internal/ort"
	"github.com/coop-diffusion/coop/latent"
)

// BenchmarkRunTiny measures the fixed cost of one Run: checking the inputs,
// creating and destroying the ONNX Runtime values and run options, and
// ONNX Runtime's own per-run overhead, on a graph that does almost nothing.
func BenchmarkRunTiny(b *testing.B) {
	g := onnx.NewBuilder("tiny")
	x := g.Input("x", onnx.Float32, "batch", 4)
	ts := g.Input("timestep", onnx.Int64)
	f := g.Op("Cast", []string{ts}, onnx.Attrs{"to": int64(onnx.Float32)})
	g.Output(g.Op("Add", []string{x, f}, nil), "y", onnx.Float32, "batch", 4)
	s := openModel(b, writeModel(b, g), ort.SessionOptions{IntraOpThreads: 1})
	in := map[string]ort.Input{"x": ort.FloatShaped([]int64{1, 4}, []float32{1, 2, 3, 4}), "timestep": ort.Scalar(500)}
	out := map[string]*latent.Tensor{"y": latent.New(1, 4)}
	runBenchmark(b, s, in, out)
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
	runBenchmark(b, s, in, out)
}

// runBenchmark runs s repeatedly and reports, beside the total, the part
// spent inside ONNX Runtime's Run (ort-ns/op).
func runBenchmark(b *testing.B, s *ort.Session, in map[string]ort.Input, out map[string]*latent.Tensor) {
	ctx := context.Background()
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
