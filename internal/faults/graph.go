package faults

import (
	"fmt"
	"math"
	"os"

	"github.com/coop-diffusion/coop/internal/onnx"
)

// Body is what a rewritten graph computes for its outputs.
type Body int

const (
	// Passthrough returns the first input unchanged, through a MatMul
	// with an identity matrix on the last axis (so the graph has a
	// weight that Options.External can move out of the file).
	Passthrough Body = iota
	// NaN returns the first input times NaN: every element of every
	// output is NaN, whatever the input.
	NaN
	// Slow returns the first input shifted by Options.Depth places along
	// its last axis (of size n), through Depth pairs of MatMul nodes: the
	// first widens each row to 64n values (64 shifted copies), the second
	// takes the first copy back. The output stays finite and exact, each
	// node costs about 64 n^2 multiply-adds per row, ONNX Runtime checks
	// its terminate flag between the nodes, and a call takes time
	// proportional to Depth.
	Slow
	// UnknownOp passes the first input through a node of an operator no
	// runtime implements (CoopNoSuchOperator in the default domain): the
	// file reads as a model and its signature is intact, but ONNX Runtime
	// refuses to load it.
	UnknownOp
)

// Options say how RewriteModel changes a model file.
type Options struct {
	// Body is what every output computes from the first input.
	Body Body
	// Depth is the number of MatMul pairs of a Slow body.
	Depth int
	// Edit, when set, changes the declared signature before the graph is
	// written: rename inputs, change element types or shapes. The body
	// always reads the first input and writes every output.
	Edit func(sig *onnx.Signature)
	// Opset, when not zero, stamps the file with this version of the
	// default ONNX domain instead of 17.
	Opset int64
	// External writes the graph's weights to model.onnx_data beside the
	// file, as exports over 2 GB do.
	External bool
	// ExternalLocation, with External, is where the weights go instead,
	// relative to the file's folder, as the model records it.
	ExternalLocation string
}

// RewriteModel replaces the ONNX file at path by a small graph that
// declares the same inputs and outputs as the original (after
// Options.Edit) and computes every output from the first input as
// Options.Body says. The first input's last dimension must be fixed and
// every output must have the first input's shape, as a unet's out_sample
// has its sample's: the graph is meant to stand in for a denoiser.
func RewriteModel(path string, o Options) error {
	sig, err := onnx.ReadSignature(path)
	if err != nil {
		return err
	}
	if o.Edit != nil {
		o.Edit(sig)
	}
	b, err := Graph(sig, o)
	if err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	if o.External {
		// Drop a data file of the original, then write ours.
		os.Remove(path + "_data")
		if o.ExternalLocation != "" {
			return b.WriteFileExternalTo(path, o.ExternalLocation, 1)
		}
		return b.WriteFileExternal(path, 1)
	}
	return b.WriteFile(path)
}

// Graph builds the graph RewriteModel writes, for the signature sig.
func Graph(sig *onnx.Signature, o Options) (*onnx.Builder, error) {
	if len(sig.Inputs) == 0 || len(sig.Outputs) == 0 {
		return nil, fmt.Errorf("the graph needs an input and an output, has %d and %d", len(sig.Inputs), len(sig.Outputs))
	}
	first := sig.Inputs[0]
	if !first.HasShape || len(first.Dims) == 0 || !first.Dims[len(first.Dims)-1].Fixed() {
		return nil, fmt.Errorf("input %q has shape %s: its last dimension must be fixed", first.Name, first.ShapeString())
	}
	n := first.Dims[len(first.Dims)-1].Value
	b := onnx.NewBuilder(sig.GraphName)
	if o.Opset != 0 {
		b.SetOpset(o.Opset)
	}
	for _, in := range sig.Inputs {
		b.Input(in.Name, in.ElemType, dims(in)...)
	}
	x := first.Name
	if first.ElemType != onnx.Float32 {
		x = b.Op("Cast", []string{x}, onnx.Attrs{"to": int(onnx.Float32)})
	}
	switch o.Body {
	case Passthrough:
		x = b.Op("MatMul", []string{x, b.Constant("identity", []int64{n, n}, permutation(n, 0))}, nil)
	case NaN:
		x = b.Op("Mul", []string{x, b.Scalar("nan", float32(math.NaN()))}, nil)
	case UnknownOp:
		x = b.Op("CoopNoSuchOperator", []string{x}, nil)
	case Slow:
		if o.Depth < 1 {
			return nil, fmt.Errorf("a slow graph needs a depth of at least 1, got %d", o.Depth)
		}
		// A shift, not the identity, so that no optimizer can remove
		// the nodes.
		const copies = 64
		widen := make([]float32, n*n*copies)
		for i := int64(0); i < n; i++ {
			for c := int64(0); c < copies; c++ {
				widen[i*n*copies+c*n+(i+1)%n] = 1
			}
		}
		narrow := make([]float32, n*copies*n)
		for i := int64(0); i < n; i++ {
			narrow[i*n+i] = 1
		}
		wide := b.Constant("widen", []int64{n, n * copies}, widen)
		back := b.Constant("narrow", []int64{n * copies, n}, narrow)
		for i := 0; i < o.Depth; i++ {
			x = b.Op("MatMul", []string{b.Op("MatMul", []string{x, wide}, nil), back}, nil)
		}
	default:
		return nil, fmt.Errorf("unknown body %d", o.Body)
	}
	for _, out := range sig.Outputs {
		v := x
		if out.ElemType != onnx.Float32 {
			v = b.Op("Cast", []string{x}, onnx.Attrs{"to": int(out.ElemType)})
		}
		b.Output(v, out.Name, out.ElemType, dims(out)...)
	}
	return b, nil
}

// permutation is the n x n matrix that moves element i to (i+shift) mod n.
func permutation(n, shift int64) []float32 {
	m := make([]float32, n*n)
	for i := int64(0); i < n; i++ {
		m[i*n+(i+shift)%n] = 1
	}
	return m
}

func dims(v onnx.ValueInfo) []any {
	out := make([]any, len(v.Dims))
	for i, d := range v.Dims {
		switch {
		case d.Param != "":
			out[i] = d.Param
		default:
			out[i] = int(d.Value)
		}
	}
	return out
}
