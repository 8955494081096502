package onnx_test

import (
	"fmt"
	"log"
	"os"
	"path/filepath"

	"github.com/coop-diffusion/coop/internal/onnx"
)

// A vae_decoder-like graph: a fixed 1x1 projection from 4 latent channels to
// 3 pixel channels with symbolic batch and spatial sizes.
func ExampleBuilder() {
	b := onnx.NewBuilder("vae_decoder")
	z := b.Input("latent_sample", onnx.Float32, "batch", 4, "height", "width")
	w := b.Constant("proj", []int64{3, 4, 1, 1}, []float32{
		1, 0, 0, 0,
		0, 1, 0, 0,
		0, 0, 1, 0,
	})
	x := b.Op("Conv", []string{z, w}, onnx.Attrs{"kernel_shape": []int64{1, 1}})
	x = b.Op("Clip", []string{x, b.Scalar("lo", -1), b.Scalar("hi", 1)}, nil)
	b.Output(x, "sample", onnx.Float32, "batch", 3, "height", "width")

	data, err := b.Bytes()
	if err != nil {
		log.Fatal(err)
	}
	sig, err := onnx.ReadSignatureBytes(data)
	if err != nil {
		log.Fatal(err)
	}
	for _, v := range sig.Inputs {
		fmt.Println("input ", v.Name, v.ElemType, v.ShapeString())
	}
	for _, v := range sig.Outputs {
		fmt.Println("output", v.Name, v.ElemType, v.ShapeString())
	}
	// Output:
	// input  latent_sample float32 [batch, 4, height, width]
	// output sample float32 [batch, 3, height, width]
}

func ExampleReadSignature() {
	dir, err := os.MkdirTemp("", "onnx-example")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)

	b := onnx.NewBuilder("unet")
	x := b.Input("sample", onnx.Float16, "batch", 4, "height", "width")
	t := b.Input("timestep", onnx.Int64)
	scale := b.Op("Cast", []string{t}, onnx.Attrs{"to": int(onnx.Float16)})
	w := b.ConstantFloat16("weight", []int64{4096}, make([]float32, 4096))
	y := b.Op("Mul", []string{x, scale}, nil)
	y = b.Op("Add", []string{y, b.Op("ReduceSum", []string{w}, onnx.Attrs{"keepdims": 0})}, nil)
	b.Output(y, "out_sample", onnx.Float16, "batch", 4, "height", "width")
	path := filepath.Join(dir, "model.onnx")
	if err := b.WriteFileExternal(path, 1024); err != nil {
		log.Fatal(err)
	}

	sig, err := onnx.ReadSignature(path)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("opset", sig.Opset(""), "external", sig.ExternalFiles)
	for _, v := range sig.Inputs {
		fmt.Println(v.Name, v.ElemType, v.ShapeString())
	}
	// Output:
	// opset 17 external [model.onnx_data]
	// sample float16 [batch, 4, height, width]
	// timestep int64 []
}
