package ort_test

import (
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/coop-diffusion/coop/internal/onnx"
	"github.com/coop-diffusion/coop/internal/ort"
	"github.com/coop-diffusion/coop/internal/ort/orttest"
)

// reluModel writes a one-node model stamped with opset version of the
// default domain.
func reluModel(t *testing.T, version int64) string {
	b := onnx.NewBuilder("relu")
	b.SetOpset(version)
	b.Output(b.Op("Relu", []string{b.Input("x", onnx.Float32, 2)}, nil), "y", onnx.Float32, 2)
	return writeModel(t, b)
}

// TestSupportedOpsets checks MinOpset and MaxOpset against the library:
// both ends load, the opset after MaxOpset does not, and CheckOpset agrees
// with the library at every version in between and around.
func TestSupportedOpsets(t *testing.T) {
	orttest.Init(t)
	for _, v := range []int64{ort.MinOpset, 17, ort.MaxOpset, ort.MaxOpset + 1, 99} {
		t.Run(fmt.Sprint(v), func(t *testing.T) {
			path := reluModel(t, v)
			s, openErr := ort.Open(path, ort.SessionOptions{})
			if openErr == nil {
				s.Close()
			}
			sig, err := onnx.ReadSignature(path)
			if err != nil {
				t.Fatal(err)
			}
			checkErr := ort.CheckOpset(path, sig)
			if (openErr == nil) != (checkErr == nil) {
				t.Fatalf("ONNX Runtime %s: Open says %v, CheckOpset says %v", ort.Version, openErr, checkErr)
			}
			if checkErr != nil {
				for _, w := range []string{path, fmt.Sprintf("opset %d", v), fmt.Sprintf("opsets %d to %d", ort.MinOpset, ort.MaxOpset)} {
					if !strings.Contains(checkErr.Error(), w) {
						t.Errorf("%q does not name %q", checkErr, w)
					}
				}
				var rej *ort.RejectedError
				if !errors.As(openErr, &rej) || rej.Path != path {
					t.Errorf("Open: %v is not a RejectedError naming %s", openErr, path)
				}
			}
		})
	}
}

func TestCheckOpsetBounds(t *testing.T) {
	for _, tt := range []struct {
		opsets []onnx.Opset
		ok     bool
	}{
		{nil, true},
		{[]onnx.Opset{{Domain: "com.microsoft", Version: 1}}, true},
		{[]onnx.Opset{{Domain: "", Version: ort.MinOpset - 1}}, false},
		{[]onnx.Opset{{Domain: "ai.onnx", Version: ort.MaxOpset}}, true},
		{[]onnx.Opset{{Domain: "ai.onnx", Version: ort.MaxOpset + 1}}, false},
		{[]onnx.Opset{{Domain: "com.microsoft", Version: 99}, {Domain: "", Version: 17}}, true},
	} {
		err := ort.CheckOpset("m.onnx", &onnx.Signature{Opsets: tt.opsets})
		if (err == nil) != tt.ok {
			t.Errorf("%v: %v, want ok %t", tt.opsets, err, tt.ok)
		}
	}
}

// TestRejectedModel: a model ONNX Runtime cannot load is the file's
// fault (RejectedError); a device that is missing is not.
func TestRejectedModel(t *testing.T) {
	orttest.Init(t)
	b := onnx.NewBuilder("bad")
	b.Output(b.Op("NoSuchOperator", []string{b.Input("x", onnx.Float32, 2)}, nil), "y", onnx.Float32, 2)
	path := writeModel(t, b)
	_, err := ort.Open(path, ort.SessionOptions{})
	var rej *ort.RejectedError
	if !errors.As(err, &rej) || rej.Path != path || !strings.Contains(err.Error(), "NoSuchOperator") {
		t.Errorf("unknown operator: %v, want a RejectedError naming %s and the operator", err, path)
	}
	if _, err := ort.Open(reluModel(t, 17), ort.SessionOptions{Device: "cuda"}); err != nil && errors.As(err, &rej) {
		t.Errorf("no CUDA provider: %v is a RejectedError", err)
	}
}
