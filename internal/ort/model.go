package ort

import (
	"fmt"
	"strings"

	"github.com/coop-diffusion/coop/internal/onnx"
)

// MinOpset and MaxOpset bound the versions of the default ONNX domain
// (ai.onnx) that ONNX Runtime Version loads. ONNX Runtime 1.24.3 stamps
// opset 26 "under development" and refuses it, and documents opset 7 as
// the oldest it supports; TestSupportedOpsets checks both ends against the
// library.
const (
	MinOpset = 7
	MaxOpset = 25
)

// CheckOpset checks, from the signature of the model file at path alone,
// that ONNX Runtime can load the model's version of the default ONNX
// domain: a model exported for a newer runtime fails here, before any
// weights load, instead of when its stage begins. A model that imports no
// version of the default domain passes.
func CheckOpset(path string, sig *onnx.Signature) error {
	v := sig.Opset("")
	switch {
	case v == 0:
		return nil
	case v > MaxOpset:
		return fmt.Errorf("%s: the model uses opset %d of the default ONNX domain; ONNX Runtime %s loads opsets %d to %d: export it again with opset %d or older",
			path, v, Version, MinOpset, MaxOpset, MaxOpset)
	case v < MinOpset:
		return fmt.Errorf("%s: the model uses opset %d of the default ONNX domain; ONNX Runtime %s loads opsets %d to %d: convert it (onnx.version_converter) or export it again",
			path, v, Version, MinOpset, MaxOpset)
	}
	return nil
}

// RejectedError reports a model file that ONNX Runtime refused to load:
// an operator it does not implement, types that do not fit between nodes,
// weights it cannot read. The file is at fault, not the machine; failures
// to allocate memory or to start a device are not RejectedErrors.
type RejectedError struct {
	Path string
	Err  error // ONNX Runtime's message
}

func (e *RejectedError) Error() string {
	return fmt.Sprintf("%s: ONNX Runtime cannot load the model: %v", e.Path, e.Err)
}

func (e *RejectedError) Unwrap() error { return e.Err }

// resourceFailures are fragments of ONNX Runtime's messages for failures
// of the machine rather than of the model file: memory and devices.
var resourceFailures = []string{"bad_alloc", "failed to allocate", "out of memory", "cuda", "cudnn", "cublas", "tensorrt", "device"}

// sessionError classifies an error of creating a session for the model
// file at path.
func sessionError(path string, err error) error {
	msg := strings.ToLower(err.Error())
	for _, f := range resourceFailures {
		if strings.Contains(msg, f) {
			return fmt.Errorf("opening model %s: ONNX Runtime: %w", path, err)
		}
	}
	return &RejectedError{Path: path, Err: err}
}
