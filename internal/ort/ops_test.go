package ort_test

import (
	"math"
	"path/filepath"
	"testing"

	"github.com/coop-diffusion/coop/internal/onnx"
	"github.com/coop-diffusion/coop/internal/ort"
	"github.com/coop-diffusion/coop/latent"
)

// The tests in this file are the acceptance test of the model builder and
// the runtime together: graphs written by internal/onnx run in ONNX Runtime
// and agree with pure-Go computations of the same functions.

func TestMatMulAndGemm(t *testing.T) {
	const m, k, n = 3, 5, 4
	a, w, c := uniform(1, m*k), uniform(2, k*n), uniform(3, n)
	b := onnx.NewBuilder("matmul_gemm")
	x := b.Input("x", onnx.Float32, "batch", k)
	wt := b.Constant("w", []int64{k, n}, w)
	b.Output(b.Op("MatMul", []string{x, wt}, nil), "matmul", onnx.Float32, "batch", n)
	// Gemm with transposed B, alpha and a broadcast bias.
	wT := make([]float32, n*k)
	for i := 0; i < k; i++ {
		for j := 0; j < n; j++ {
			wT[j*k+i] = w[i*n+j]
		}
	}
	g := b.Op("Gemm", []string{x, b.Constant("wT", []int64{n, k}, wT), b.Constant("c", []int64{n}, c)},
		onnx.Attrs{"transB": 1, "alpha": float32(0.5), "beta": float32(2)})
	b.Output(g, "gemm", onnx.Float32, "batch", n)
	s := openModel(t, writeModel(t, b), ort.SessionOptions{})

	in := map[string]ort.Input{"x": ort.FloatShaped([]int64{m, k}, a)}
	mm, gm := latent.New(m, n), latent.New(m, n)
	if err := s.Run(t.Context(), in, map[string]*latent.Tensor{"matmul": mm, "gemm": gm}); err != nil {
		t.Fatal(err)
	}
	want := matmul(widen(a), widen(w), m, k, n)
	assertClose(t, "MatMul", mm.Data, want, tolFloat32)
	wantGemm := make([]float64, len(want))
	for i := range want {
		wantGemm[i] = 0.5*want[i] + 2*float64(c[i%n])
	}
	assertClose(t, "Gemm", gm.Data, wantGemm, tolFloat32)
}

func TestConvSoftmax(t *testing.T) {
	const n, c, h, w, o, kk = 2, 3, 6, 5, 4, 3
	x, wt, bias := uniform(4, n*c*h*w), uniform(5, o*c*kk*kk), uniform(6, o)
	b := onnx.NewBuilder("conv")
	in := b.Input("x", onnx.Float32, "batch", c, "height", "width")
	y := b.Op("Conv", []string{in, b.Constant("w", []int64{o, c, kk, kk}, wt), b.Constant("b", []int64{o}, bias)},
		onnx.Attrs{"pads": []int64{1, 1, 1, 1}, "strides": []int64{2, 2}, "kernel_shape": []int64{kk, kk}})
	b.Output(y, "conv", onnx.Float32, "batch", o, "oh", "ow")
	b.Output(b.Op("Softmax", []string{y}, onnx.Attrs{"axis": -1}), "softmax", onnx.Float32, "batch", o, "oh", "ow")
	s := openModel(t, writeModel(t, b), ort.SessionOptions{})

	want, oh, ow := conv2d(widen(x), widen(wt), widen(bias), n, c, h, w, o, kk, kk, 1, 2)
	conv, soft := latent.New(n, o, oh, ow), latent.New(n, o, oh, ow)
	err := s.Run(t.Context(), map[string]ort.Input{"x": ort.Float(latent.FromData(x, n, c, h, w))},
		map[string]*latent.Tensor{"conv": conv, "softmax": soft})
	if err != nil {
		t.Fatal(err)
	}
	assertClose(t, "Conv", conv.Data, want, tolFloat32)
	assertClose(t, "Softmax", soft.Data, softmaxRows(want, ow), tolFloat32)
}

func TestSpaceToDepthDepthToSpace(t *testing.T) {
	const n, c, h, w, bs = 1, 3, 4, 6, 2
	x := uniform(7, n*c*h*w)
	b := onnx.NewBuilder("s2d")
	in := b.Input("x", onnx.Float32, n, c, h, w)
	s2d := b.Op("SpaceToDepth", []string{in}, onnx.Attrs{"blocksize": bs})
	b.Output(s2d, "s2d", onnx.Float32, n, c*bs*bs, h/bs, w/bs)
	// DCR (the default) undoes SpaceToDepth exactly.
	b.Output(b.Op("DepthToSpace", []string{s2d}, onnx.Attrs{"blocksize": bs}), "dcr", onnx.Float32, n, c, h, w)
	b.Output(b.Op("DepthToSpace", []string{s2d}, onnx.Attrs{"blocksize": bs, "mode": "CRD"}), "crd", onnx.Float32, n, c, h, w)
	s := openModel(t, writeModel(t, b), ort.SessionOptions{})

	outS2D, dcr, crd := latent.New(n, c*bs*bs, h/bs, w/bs), latent.New(n, c, h, w), latent.New(n, c, h, w)
	err := s.Run(t.Context(), map[string]ort.Input{"x": ort.Float(latent.FromData(x, n, c, h, w))},
		map[string]*latent.Tensor{"s2d": outS2D, "dcr": dcr, "crd": crd})
	if err != nil {
		t.Fatal(err)
	}
	wantS2D := spaceToDepth(widen(x), n, c, h, w, bs)
	assertClose(t, "SpaceToDepth", outS2D.Data, wantS2D, 0)
	assertClose(t, "DepthToSpace DCR", dcr.Data, widen(x), 0)
	assertClose(t, "DepthToSpace CRD", crd.Data, depthToSpaceCRD(wantS2D, n, c*bs*bs, h/bs, w/bs, bs), 0)
}

func TestGatherIntInputs(t *testing.T) {
	const vocab, width = 10, 3
	table := uniform(8, vocab*width)
	for _, idType := range []onnx.ElemType{onnx.Int64, onnx.Int32} {
		t.Run(idType.String(), func(t *testing.T) {
			b := onnx.NewBuilder("embed")
			ids := b.Input("input_ids", idType, "batch", "tokens")
			e := b.Op("Gather", []string{b.Constant("table", []int64{vocab, width}, table), ids}, onnx.Attrs{"axis": 0})
			b.Output(e, "embeddings", onnx.Float32, "batch", "tokens", width)
			s := openModel(t, writeModel(t, b), ort.SessionOptions{})

			idv := []int64{3, 0, 9, 9, 1, 4}
			got := runOne(t, s, map[string]ort.Input{"input_ids": ort.Int([]int64{2, 3}, idv)}, "embeddings", 2, 3, width)
			var want []float64
			for _, id := range idv {
				want = append(want, widen(table[id*width:(id+1)*width])...)
			}
			assertClose(t, "Gather", got.Data, want, 0)
		})
	}
}

func TestElementwise(t *testing.T) {
	const n, c = 3, 4
	x, bias := uniform(9, n*c), uniform(10, c)
	// y = (x + bias) * x - x / 3 + sqrt(exp(-x^2)) - tanh(x), bias broadcast
	// over rows.
	b := onnx.NewBuilder("elementwise")
	in := b.Input("x", onnx.Float32, "batch", c)
	sum := b.Op("Add", []string{in, b.Constant("bias", []int64{c}, bias)}, nil)
	prod := b.Op("Mul", []string{sum, in}, nil)
	div := b.Op("Div", []string{in, b.Scalar("three", 3)}, nil)
	sq := b.Op("Mul", []string{in, in}, nil)
	g := b.Op("Sqrt", []string{b.Op("Exp", []string{b.Op("Neg", []string{sq}, nil)}, nil)}, nil)
	y := b.Op("Sub", []string{b.Op("Add", []string{b.Op("Sub", []string{prod, div}, nil), g}, nil), b.Op("Tanh", []string{in}, nil)}, nil)
	b.Output(y, "y", onnx.Float32, "batch", c)
	s := openModel(t, writeModel(t, b), ort.SessionOptions{})

	got := runOne(t, s, map[string]ort.Input{"x": ort.FloatShaped([]int64{n, c}, x)}, "y", n, c)
	want := make([]float64, n*c)
	for i := range want {
		v, bv := float64(x[i]), float64(bias[i%c])
		want[i] = (v+bv)*v - v/3 + math.Sqrt(math.Exp(-v*v)) - math.Tanh(v)
	}
	assertClose(t, "elementwise", got.Data, want, tolFloat32)
}

func TestResize(t *testing.T) {
	const n, c, h, w = 1, 2, 3, 4
	x := uniform(11, n*c*h*w)
	b := onnx.NewBuilder("resize")
	in := b.Input("x", onnx.Float32, n, c, h, w)
	scales := b.Constant("scales", []int64{4}, []float32{1, 1, 2, 2})
	b.Output(b.Op("Resize", []string{in, "", scales}, onnx.Attrs{
		"mode": "nearest", "coordinate_transformation_mode": "asymmetric", "nearest_mode": "floor",
	}), "nearest", onnx.Float32, n, c, 2*h, 2*w)
	b.Output(b.Op("Resize", []string{in, "", scales}, onnx.Attrs{
		"mode": "linear", "coordinate_transformation_mode": "half_pixel",
	}), "linear", onnx.Float32, n, c, 2*h, 2*w)
	s := openModel(t, writeModel(t, b), ort.SessionOptions{})

	near, lin := latent.New(n, c, 2*h, 2*w), latent.New(n, c, 2*h, 2*w)
	err := s.Run(t.Context(), map[string]ort.Input{"x": ort.Float(latent.FromData(x, n, c, h, w))},
		map[string]*latent.Tensor{"nearest": near, "linear": lin})
	if err != nil {
		t.Fatal(err)
	}
	assertClose(t, "Resize nearest", near.Data, resize2x(widen(x), n*c, h, w, false), 0)
	assertClose(t, "Resize linear", lin.Data, resize2x(widen(x), n*c, h, w, true), tolFloat32)
}

func TestReshapeConcatCast(t *testing.T) {
	x, y := uniform(12, 12), uniform(13, 12)
	for i := range x {
		x[i] *= 10 // so that the integer cast has something to truncate
	}
	b := onnx.NewBuilder("reshape")
	a := b.Input("a", onnx.Float32, 2, 6)
	c := b.Input("c", onnx.Float32, 3, 4)
	r := b.Op("Reshape", []string{a, b.Int64s("shape", 3, 4)}, nil)
	cat := b.Op("Concat", []string{r, c}, onnx.Attrs{"axis": 0})
	asInt := b.Op("Cast", []string{cat}, onnx.Attrs{"to": int64(onnx.Int32)})
	b.Output(b.Op("Cast", []string{asInt}, onnx.Attrs{"to": int64(onnx.Float32)}), "y", onnx.Float32, 6, 4)
	s := openModel(t, writeModel(t, b), ort.SessionOptions{})

	got := runOne(t, s, map[string]ort.Input{
		"a": ort.FloatShaped([]int64{2, 6}, x),
		"c": ort.FloatShaped([]int64{3, 4}, y),
	}, "y", 6, 4)
	var want []float64
	for _, v := range append(append([]float32(nil), x...), y...) {
		want = append(want, math.Trunc(float64(v))) // Cast to int truncates toward zero
	}
	assertClose(t, "Reshape/Concat/Cast", got.Data, want, 0)
}

func TestFloat16Graph(t *testing.T) {
	// A float16 export: float16 inputs, weights and outputs. The caller
	// still feeds and receives float32.
	const n, c, h, w, o = 1, 3, 5, 5, 2
	x, wt, bias := toHalf(uniform(14, n*c*h*w)), toHalf(uniform(15, o*c*9)), toHalf(uniform(16, o))
	b := onnx.NewBuilder("half")
	in := b.Input("sample", onnx.Float16, "batch", c, h, w)
	y := b.Op("Conv", []string{in, b.ConstantFloat16("w", []int64{o, c, 3, 3}, wt), b.ConstantFloat16("b", []int64{o}, bias)},
		onnx.Attrs{"pads": []int64{1, 1, 1, 1}})
	b.Output(y, "out_sample", onnx.Float16, "batch", o, h, w)
	b.Output(b.Op("Softmax", []string{y}, onnx.Attrs{"axis": -1}), "probs", onnx.Float16, "batch", o, h, w)
	s := openModel(t, writeModel(t, b), ort.SessionOptions{})

	conv, probs := latent.New(n, o, h, w), latent.New(n, o, h, w)
	err := s.Run(t.Context(), map[string]ort.Input{"sample": ort.Float(latent.FromData(x, n, c, h, w))},
		map[string]*latent.Tensor{"out_sample": conv, "probs": probs})
	if err != nil {
		t.Fatal(err)
	}
	want, _, _ := conv2d(widen(x), widen(wt), widen(bias), n, c, h, w, o, 3, 3, 1, 1)
	assertClose(t, "float16 Conv", conv.Data, want, tolFloat16)
	assertClose(t, "float16 Softmax", probs.Data, softmaxRows(want, w), tolFloat16)
}

func TestExternalData(t *testing.T) {
	const k, n = 64, 48
	x, w := uniform(17, 2*k), uniform(18, k*n)
	b := onnx.NewBuilder("external")
	in := b.Input("x", onnx.Float32, "batch", k)
	b.Output(b.Op("MatMul", []string{in, b.Constant("w", []int64{k, n}, w)}, nil), "y", onnx.Float32, "batch", n)
	path := filepath.Join(t.TempDir(), "model.onnx")
	if err := b.WriteFileExternal(path, 1024); err != nil {
		t.Fatal(err)
	}
	sig, err := onnx.ReadSignature(path)
	if err != nil {
		t.Fatal(err)
	}
	if !sig.ExternalData || len(sig.ExternalFiles) != 1 || sig.ExternalFiles[0] != "model.onnx_data" {
		t.Fatalf("%s does not use external data; the test would prove nothing", path)
	}
	s := openModel(t, path, ort.SessionOptions{})
	got := runOne(t, s, map[string]ort.Input{"x": ort.FloatShaped([]int64{2, k}, x)}, "y", 2, n)
	assertClose(t, "MatMul with external weights", got.Data, matmul(widen(x), widen(w), 2, k, n), tolFloat32)
}
