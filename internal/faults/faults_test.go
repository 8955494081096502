package faults_test

import (
	"context"
	"errors"
	"image"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/coop-diffusion/coop/internal/faults"
	"github.com/coop-diffusion/coop/internal/onnx"
	"github.com/coop-diffusion/coop/internal/ort"
	"github.com/coop-diffusion/coop/internal/ort/orttest"
	"github.com/coop-diffusion/coop/latent"
)

// unet writes a model with a unet's signature: float16 sample, int64
// timestep, float32 context.
func unet(t *testing.T) string {
	t.Helper()
	b := onnx.NewBuilder("unet")
	x := b.Input("sample", onnx.Float16, "batch", 4, 8, 8)
	b.Input("timestep", onnx.Int64, "batch")
	b.Input("encoder_hidden_states", onnx.Float32, "batch", 77, 768)
	b.Output(x, "out_sample", onnx.Float16, "batch", 4, 8, 8)
	path := filepath.Join(t.TempDir(), "model.onnx")
	if err := b.WriteFile(path); err != nil {
		t.Fatal(err)
	}
	return path
}

func runUnet(t *testing.T, path string, x *latent.Tensor) (*latent.Tensor, error) {
	t.Helper()
	s, err := ort.Open(path, ort.SessionOptions{IntraOpThreads: 1})
	if err != nil {
		return nil, err
	}
	defer s.Close()
	out := latent.New(x.Shape...)
	err = s.Run(context.Background(), map[string]ort.Input{
		"sample":                ort.Float(x),
		"timestep":              ort.Int([]int64{1}, []int64{999}),
		"encoder_hidden_states": ort.Float(latent.New(1, 77, 768)),
	}, map[string]*latent.Tensor{"out_sample": out})
	return out, err
}

func sample() *latent.Tensor {
	x := latent.New(1, 4, 8, 8)
	for i := range x.Data {
		x.Data[i] = float32(i%17) - 8
	}
	return x
}

func TestRewriteModelBodies(t *testing.T) {
	orttest.Init(t)
	x := sample()
	for _, tc := range []struct {
		name string
		o    faults.Options
		// want checks the output against the input.
		want func(x, y *latent.Tensor) bool
	}{
		{"passthrough", faults.Options{Body: faults.Passthrough}, func(x, y *latent.Tensor) bool {
			for i := range x.Data {
				if x.Data[i] != y.Data[i] {
					return false
				}
			}
			return true
		}},
		{"passthrough external", faults.Options{Body: faults.Passthrough, External: true}, func(x, y *latent.Tensor) bool {
			return x.Data[5] == y.Data[5]
		}},
		{"nan", faults.Options{Body: faults.NaN}, func(x, y *latent.Tensor) bool {
			for _, v := range y.Data {
				if !math.IsNaN(float64(v)) {
					return false
				}
			}
			return true
		}},
		{"slow", faults.Options{Body: faults.Slow, Depth: 3}, func(x, y *latent.Tensor) bool {
			// Three shifts by one on the last axis of 8.
			return y.At(0, 1, 2, 3) == x.At(0, 1, 2, 0) && y.At(0, 1, 2, 7) == x.At(0, 1, 2, 4)
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := unet(t)
			if err := faults.RewriteModel(path, tc.o); err != nil {
				t.Fatal(err)
			}
			sig, err := onnx.ReadSignature(path)
			if err != nil {
				t.Fatal(err)
			}
			if got := len(sig.Inputs); got != 3 || sig.Inputs[0].ElemType != onnx.Float16 || sig.Outputs[0].Name != "out_sample" {
				t.Fatalf("rewritten signature %+v", sig)
			}
			if sig.ExternalData != tc.o.External {
				t.Errorf("external data %v, want %v", sig.ExternalData, tc.o.External)
			}
			y, err := runUnet(t, path, x)
			if err != nil {
				t.Fatal(err)
			}
			if !tc.want(x, y) {
				t.Errorf("output %v for input %v", y.Data[:8], x.Data[:8])
			}
		})
	}
}

// An unknown operator keeps the signature readable and makes ONNX Runtime
// refuse the file.
func TestRewriteModelUnknownOp(t *testing.T) {
	orttest.Init(t)
	path := unet(t)
	if err := faults.RewriteModel(path, faults.Options{Body: faults.UnknownOp}); err != nil {
		t.Fatal(err)
	}
	if _, err := onnx.ReadSignature(path); err != nil {
		t.Fatal(err)
	}
	_, err := ort.Open(path, ort.SessionOptions{})
	var rej *ort.RejectedError
	if !errors.As(err, &rej) || !strings.Contains(err.Error(), "CoopNoSuchOperator") {
		t.Errorf("Open: %v, want a RejectedError naming CoopNoSuchOperator", err)
	}
}

func TestRewriteModelEdit(t *testing.T) {
	path := unet(t)
	err := faults.RewriteModel(path, faults.Options{Opset: 99, Edit: func(sig *onnx.Signature) {
		sig.Inputs[1].Name = "t"
		sig.Inputs[2].ElemType = onnx.Int32
	}})
	if err != nil {
		t.Fatal(err)
	}
	sig, err := onnx.ReadSignature(path)
	if err != nil {
		t.Fatal(err)
	}
	if sig.Inputs[1].Name != "t" || sig.Inputs[2].ElemType != onnx.Int32 || sig.Opset("") != 99 {
		t.Errorf("edited signature: inputs %+v, opset %d", sig.Inputs, sig.Opset(""))
	}
}

func TestTruncateAndOverwrite(t *testing.T) {
	path := filepath.Join(t.TempDir(), "f")
	if err := os.WriteFile(path, []byte("0123456789"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := faults.Truncate(path, -3); err != nil {
		t.Fatal(err)
	}
	if err := faults.Overwrite(path, 1, []byte("ab")); err != nil {
		t.Fatal(err)
	}
	if got, _ := os.ReadFile(path); string(got) != "0ab3456" {
		t.Errorf("got %q, want %q", got, "0ab3456")
	}
	if err := faults.Truncate(path, 100); err == nil {
		t.Error("keeping more bytes than the file has succeeded")
	}
}

// The bomb is a valid PNG of the size it claims, tiny on disk.
func TestWritePNGBomb(t *testing.T) {
	path := filepath.Join(t.TempDir(), "bomb.png")
	if err := faults.WritePNGBomb(path, 3000, 2000); err != nil {
		t.Fatal(err)
	}
	st, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if st.Size() > 4096 {
		t.Errorf("a 3000x2000 bomb takes %d bytes", st.Size())
	}
	img, err := latent.ImageReader{MaxPixels: 3000 * 2000}.Read(path)
	if err != nil {
		t.Fatal(err)
	}
	if img.Bounds() != image.Rect(0, 0, 3000, 2000) {
		t.Errorf("bounds %v", img.Bounds())
	}
	if r, g, b, a := img.At(2999, 1999).RGBA(); r|g|b != 0 || a != 0xffff {
		t.Errorf("pixel (%d, %d, %d, %d), want opaque black", r, g, b, a)
	}
	if _, err := (latent.ImageReader{MaxPixels: 3000*2000 - 1}).Read(path); !errors.Is(err, latent.ErrImageTooLarge) {
		t.Errorf("one pixel over the limit: %v", err)
	}
}

func TestWriteImage(t *testing.T) {
	dir := t.TempDir()
	for _, tc := range []struct {
		kind faults.ImageKind
		want latent.ColorConversion
	}{
		{faults.RGB, 0},
		{faults.Gray, latent.FromGray},
		{faults.Alpha, latent.DroppedAlpha},
	} {
		path := filepath.Join(dir, "img.png")
		if err := faults.WriteImage(path, tc.kind, 24, 16); err != nil {
			t.Fatal(err)
		}
		img, err := latent.ReadImage(path)
		if err != nil {
			t.Fatal(err)
		}
		if img.Bounds() != image.Rect(0, 0, 24, 16) {
			t.Errorf("kind %d: bounds %v", tc.kind, img.Bounds())
		}
		if got := latent.ImageConversion(img); got != tc.want {
			t.Errorf("kind %d: conversion %v, want %v", tc.kind, got, tc.want)
		}
	}
}
