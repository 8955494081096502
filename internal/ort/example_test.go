package ort_test

import (
	"context"
	"fmt"
	"log"
	"os"
	"path/filepath"

	"github.com/coop-diffusion/coop/internal/onnx"
	"github.com/coop-diffusion/coop/internal/ort"
	"github.com/coop-diffusion/coop/latent"
)

// A float16 unet-like graph with a rank-0 integer timestep, driven with
// float32 tensors and a float64 timestep: Run casts to what the graph
// declares.
func ExampleSession_Run() {
	lib, source, err := ort.Locate("") // the --ort-lib flag's value, if any
	if err != nil {
		log.Fatal(err) // says to run `coop setup`
	}
	if err := ort.Init(lib); err != nil {
		log.Fatal(err)
	}
	_ = source // ort.SourceFlag, SourceEnv, SourceCache or SourceSystem

	dir, err := os.MkdirTemp("", "ort-example")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)
	b := onnx.NewBuilder("unet")
	x := b.Input("sample", onnx.Float16, "batch", 1, 2, 2)
	ts := b.Input("timestep", onnx.Int64)
	t16 := b.Op("Cast", []string{ts}, onnx.Attrs{"to": int64(onnx.Float16)})
	b.Output(b.Op("Mul", []string{x, t16}, nil), "out_sample", onnx.Float16, "batch", 1, 2, 2)
	path := filepath.Join(dir, "model.onnx")
	if err := b.WriteFile(path); err != nil {
		log.Fatal(err)
	}

	s, err := ort.Open(path, ort.SessionOptions{})
	if err != nil {
		log.Fatal(err)
	}
	defer s.Close()
	sample := latent.FromData([]float32{0.5, -1, 2, 0.25}, 1, 1, 2, 2)
	out := latent.New(1, 1, 2, 2)
	err = s.Run(context.Background(),
		map[string]ort.Input{"sample": ort.Float(sample), "timestep": ort.Scalar(2.4)}, // rounds to 2
		map[string]*latent.Tensor{"out_sample": out})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(out.Data, s.Stats().Runs)
	// Output: [1 -2 4 0.5] 1
}
