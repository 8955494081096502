package faults_test

import (
	"fmt"
	"os"
	"path/filepath"

	"github.com/coop-diffusion/coop/internal/faults"
	"github.com/coop-diffusion/coop/internal/onnx"
)

// A unet that keeps its signature but returns NaN: what the engine's
// non-finite guard must catch.
func ExampleRewriteModel() {
	dir, err := os.MkdirTemp("", "faults")
	if err != nil {
		panic(err)
	}
	defer os.RemoveAll(dir)
	path := filepath.Join(dir, "model.onnx")
	b := onnx.NewBuilder("unet")
	x := b.Input("sample", onnx.Float32, "batch", 4, 64, 64)
	b.Input("timestep", onnx.Int64, "batch")
	b.Output(x, "out_sample", onnx.Float32, "batch", 4, 64, 64)
	if err := b.WriteFile(path); err != nil {
		panic(err)
	}

	if err := faults.RewriteModel(path, faults.Options{Body: faults.NaN}); err != nil {
		panic(err)
	}
	sig, err := onnx.ReadSignature(path)
	if err != nil {
		panic(err)
	}
	for _, v := range sig.Inputs {
		fmt.Println("input", v.Name, v.ElemType, v.ShapeString())
	}
	fmt.Println("output", sig.Outputs[0].Name, sig.Outputs[0].ShapeString())
	// Output:
	// input sample float32 [batch, 4, 64, 64]
	// input timestep int64 [batch]
	// output out_sample [batch, 4, 64, 64]
}
