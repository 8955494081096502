package ort

import (
	"fmt"
	"strings"
	"unsafe"

	"github.com/coop-diffusion/coop/internal/onnx"
	"github.com/coop-diffusion/coop/latent"
)

// resolvedShapes holds the concrete shapes of a run's inputs and the sizes
// of the symbolic dimensions they fix.
type resolvedShapes struct {
	inputs  [][]int64            // by position in sig.Inputs
	symbols map[string]int64     // dim_param -> size
	origin  map[string]dimOrigin // dim_param -> the input dimension that fixed it
}

// dimOrigin names the input dimension that fixed a symbolic size, for
// errors; it is formatted only when one is reported.
type dimOrigin struct {
	name string
	axis int
}

func (o dimOrigin) String() string { return fmt.Sprintf("input %q dimension %d", o.name, o.axis) }

// resolveInputs checks the inputs against the signature and works out the
// shape each is fed with.
func (s *Session) resolveInputs(inputs map[string]Input) (*resolvedShapes, error) {
	for name := range inputs {
		if _, ok := s.inputIndex[name]; !ok {
			return nil, fmt.Errorf("model %s: unknown input %q; the model's inputs are %s", s.path, name, describeValues(s.sig.Inputs))
		}
	}
	r := &resolvedShapes{
		inputs:  make([][]int64, len(s.sig.Inputs)),
		symbols: map[string]int64{},
		origin:  map[string]dimOrigin{},
	}
	// Tensors first: they fix the symbolic dimensions that scalars may need.
	for i, info := range s.sig.Inputs {
		in, ok := inputs[info.Name]
		if !ok || in.kind == noInput {
			return nil, fmt.Errorf("model %s: missing input %q (%s %s)", s.path, info.Name, info.ElemType, info.ShapeString())
		}
		if in.kind == scalarInput {
			continue
		}
		if int64(in.count()) != numElements(in.shape) {
			return nil, fmt.Errorf("model %s: input %q: %d values for shape %s", s.path, info.Name, in.count(), shapeString(in.shape))
		}
		if err := s.checkDims(&info, "input", in.shape, r); err != nil {
			return nil, err
		}
		r.inputs[i] = in.shape
	}
	for i, info := range s.sig.Inputs {
		if inputs[info.Name].kind != scalarInput {
			continue
		}
		shape, err := s.scalarShape(&info, r)
		if err != nil {
			return nil, err
		}
		r.inputs[i] = shape
	}
	return r, nil
}

// checkDims compares a given shape with a declared one and records the
// symbolic dimensions it fixes.
func (s *Session) checkDims(info *onnx.ValueInfo, what string, shape []int64, r *resolvedShapes) error {
	if !info.HasShape {
		return nil
	}
	if len(shape) != len(info.Dims) {
		return fmt.Errorf("model %s: %s %q has rank %d (%s %s), given rank %d %s",
			s.path, what, info.Name, len(info.Dims), info.ElemType, info.ShapeString(), len(shape), shapeString(shape))
	}
	for k, d := range info.Dims {
		switch {
		case d.Fixed() && d.Value != shape[k]:
			return fmt.Errorf("model %s: %s %q dimension %d is %d (%s), given %d in %s",
				s.path, what, info.Name, k, d.Value, info.ShapeString(), shape[k], shapeString(shape))
		case d.Symbolic():
			if size, ok := r.symbols[d.Param]; ok && size != shape[k] {
				return fmt.Errorf("model %s: %s %q dimension %d (%s) is %d, but %s (also %s) is %d",
					s.path, what, info.Name, k, d.Param, shape[k], r.origin[d.Param], d.Param, size)
			} else if !ok && what == "input" {
				r.symbols[d.Param] = shape[k]
				r.origin[d.Param] = dimOrigin{info.Name, k}
			}
		}
	}
	return nil
}

// scalarShape decides how a scalar feeds a declared input: rank 0, or
// repeated to [B].
func (s *Session) scalarShape(info *onnx.ValueInfo, r *resolvedShapes) ([]int64, error) {
	if !info.HasShape || len(info.Dims) == 0 {
		return []int64{}, nil
	}
	if len(info.Dims) > 1 {
		return nil, fmt.Errorf("model %s: input %q is %s %s; a scalar fits only rank 0 or rank 1",
			s.path, info.Name, info.ElemType, info.ShapeString())
	}
	d := info.Dims[0]
	if d.Fixed() {
		return []int64{d.Value}, nil
	}
	if size, ok := r.symbols[d.Param]; ok && d.Symbolic() {
		return []int64{size}, nil
	}
	// The dimension's name is not shared with any other input (exports name
	// it "steps" or leave it unnamed): take the batch size of the first
	// tensor input, since a per-sample timestep has one value per sample.
	for _, in := range r.inputs {
		if len(in) > 0 {
			return []int64{in[0]}, nil
		}
	}
	return nil, fmt.Errorf("model %s: input %q is %s %s and no other input gives the batch size to repeat the scalar to; pass a tensor",
		s.path, info.Name, info.ElemType, info.ShapeString())
}

// checkOutputs validates the caller's output tensors.
func (s *Session) checkOutputs(outputs map[string]*latent.Tensor, r *resolvedShapes) error {
	for name, t := range outputs {
		i, ok := s.outputIndex[name]
		if !ok {
			return fmt.Errorf("model %s: unknown output %q; the model's outputs are %s", s.path, name, describeValues(s.sig.Outputs))
		}
		if t == nil {
			return fmt.Errorf("model %s: output %q: nil tensor (outputs must be allocated by the caller)", s.path, name)
		}
		shape := t.Shape64()
		if int64(len(t.Data)) != numElements(shape) {
			return fmt.Errorf("model %s: output %q: tensor has %d values for shape %s", s.path, name, len(t.Data), shapeString(shape))
		}
		info := &s.sig.Outputs[i]
		if err := s.checkDims(info, "output", shape, r); err != nil {
			return err
		}
	}
	return nil
}

// OutputShape works out the shape output name will have for the given
// inputs from its declared dimensions: fixed sizes, and symbolic sizes
// that some input's declared shape shares. It fails for dimensions that only
// running the model determines.
func (s *Session) OutputShape(name string, inputs map[string]Input) ([]int, error) {
	i, ok := s.outputIndex[name]
	if !ok {
		return nil, fmt.Errorf("model %s: unknown output %q; the model's outputs are %s", s.path, name, describeValues(s.sig.Outputs))
	}
	r, err := s.resolveInputs(inputs)
	if err != nil {
		return nil, err
	}
	shape, err := s.outputShape(i, r)
	if err != nil {
		return nil, fmt.Errorf("model %s: output %q: %w", s.path, name, err)
	}
	out := make([]int, len(shape))
	for k, d := range shape {
		out[k] = int(d)
	}
	return out, nil
}

func (s *Session) outputShape(i int, r *resolvedShapes) ([]int64, error) {
	info := &s.sig.Outputs[i]
	if !info.HasShape {
		return nil, fmt.Errorf("the model does not declare its rank")
	}
	shape := make([]int64, len(info.Dims))
	for k, d := range info.Dims {
		switch {
		case d.Fixed():
			shape[k] = d.Value
		case d.Symbolic():
			size, ok := r.symbols[d.Param]
			if !ok {
				return nil, fmt.Errorf("dimension %d (%s) of %s is not a dimension of any input", k, d.Param, info.ShapeString())
			}
			shape[k] = size
		default:
			return nil, fmt.Errorf("dimension %d of %s is unnamed", k, info.ShapeString())
		}
	}
	return shape, nil
}

// aliasesInput reports whether an output tensor shares memory with a float
// input, as when a caller updates a latent in place. ONNX Runtime reads
// inputs and writes outputs in the caller's memory, so such an output must
// go through a separate buffer.
func aliasesInput(t *latent.Tensor, inputs map[string]Input) bool {
	if t == nil || len(t.Data) == 0 {
		return false
	}
	for _, in := range inputs {
		if in.kind == floatInput && overlap(t.Data, in.floats) {
			return true
		}
	}
	return false
}

func overlap(a, b []float32) bool {
	if len(a) == 0 || len(b) == 0 {
		return false
	}
	a0 := uintptr(unsafe.Pointer(unsafe.SliceData(a)))
	b0 := uintptr(unsafe.Pointer(unsafe.SliceData(b)))
	a1 := a0 + uintptr(len(a))*4
	b1 := b0 + uintptr(len(b))*4
	return a0 < b1 && b0 < a1
}

// describeValues lists names with types and shapes for error messages.
func describeValues(vs []onnx.ValueInfo) string {
	parts := make([]string, len(vs))
	for i, v := range vs {
		parts[i] = fmt.Sprintf("%s (%s %s)", v.Name, v.ElemType, v.ShapeString())
	}
	return strings.Join(parts, ", ")
}
