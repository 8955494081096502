package ort

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/coop-diffusion/coop/internal/onnx"
	"github.com/coop-diffusion/coop/latent"
)

// dimTable numbers the symbolic dimensions (dim_param) of a signature and
// holds, per input and output axis, the number of its symbol or -1, so
// that resolving a run's shapes compares small integers instead of
// looking names up in maps.
type dimTable struct {
	names []string  // symbol number -> dim_param
	in    [][]int32 // input position, axis -> symbol number or -1
	out   [][]int32 // output position, axis -> symbol number or -1
}

func newDimTable(sig *onnx.Signature) dimTable {
	var t dimTable
	index := map[string]int32{}
	number := func(vs []onnx.ValueInfo) [][]int32 {
		out := make([][]int32, len(vs))
		for i, v := range vs {
			out[i] = make([]int32, len(v.Dims))
			for k, d := range v.Dims {
				out[i][k] = -1
				if !d.Symbolic() {
					continue
				}
				n, ok := index[d.Param]
				if !ok {
					n = int32(len(t.names))
					index[d.Param] = n
					t.names = append(t.names, d.Param)
				}
				out[i][k] = n
			}
		}
		return out
	}
	t.in = number(sig.Inputs)
	t.out = number(sig.Outputs)
	return t
}

// resolver is the scratch state of working out a run's shapes: the
// inputs as given, the concrete shape each is fed with and the sizes of
// the symbolic dimensions they fix. It is reused from run to run.
type resolver struct {
	given  []Input    // by input position
	shapes [][]int64  // by input position; nil until resolved
	scalar [][1]int64 // by input position: the storage of a scalar's [B] shape
	size   []int64    // symbol number -> size, -1 while unknown
	from   []int32    // symbol number -> the input that fixed it (position<<8 | axis)
}

func newResolver(s *Session) *resolver {
	n := len(s.sig.Inputs)
	return &resolver{
		given:  make([]Input, n),
		shapes: make([][]int64, n),
		scalar: make([][1]int64, n),
		size:   make([]int64, len(s.dims.names)),
		from:   make([]int32, len(s.dims.names)),
	}
}

// clear drops the references to the caller's data.
func (r *resolver) clear() {
	clear(r.given)
	clear(r.shapes)
}

// origin names the input dimension that fixed symbol sym, for errors.
func (s *Session) origin(r *resolver, sym int32) string {
	f := r.from[sym]
	return fmt.Sprintf("input %q dimension %d", s.sig.Inputs[f>>8].Name, f&0xff)
}

// resolveInputs checks the inputs against the signature and works out the
// shape each is fed with, into r.
func (s *Session) resolveInputs(inputs map[string]Input, r *resolver) error {
	for k := range r.size {
		r.size[k] = -1
	}
	// Look every declared input up once. Any key left over names an
	// unknown input, which is reported first.
	found, missing := 0, -1
	for i := range s.sig.Inputs {
		in, ok := inputs[s.sig.Inputs[i].Name]
		if ok {
			found++
		}
		if (!ok || in.kind == noInput) && missing < 0 {
			missing = i
		}
		r.given[i] = in
		r.shapes[i] = nil
	}
	if found < len(inputs) {
		for name := range inputs {
			if _, ok := s.inputIndex[name]; !ok {
				return fmt.Errorf("model %s: unknown input %q; the model's inputs are %s", s.path, name, describeValues(s.sig.Inputs))
			}
		}
	}
	if missing >= 0 {
		info := &s.sig.Inputs[missing]
		return fmt.Errorf("model %s: missing input %q (%s %s)", s.path, info.Name, info.ElemType, info.ShapeString())
	}
	// Tensors first: they fix the symbolic dimensions that scalars may need.
	for i := range s.sig.Inputs {
		in := &r.given[i]
		if in.kind == scalarInput {
			continue
		}
		info := &s.sig.Inputs[i]
		if in.count() != numElements(in.shape) {
			return fmt.Errorf("model %s: input %q: %d values for shape %s", s.path, info.Name, in.count(), shapeString(in.shape))
		}
		if err := checkDims(s, info, s.dims.in[i], "input", in.shape, r, i); err != nil {
			return err
		}
		r.shapes[i] = in.shape
	}
	for i := range s.sig.Inputs {
		if r.given[i].kind != scalarInput {
			continue
		}
		if err := s.scalarShape(i, r); err != nil {
			return err
		}
	}
	return nil
}

// checkDims compares a given shape with a declared one and, for the input
// at position input (-1 for an output), records the symbolic dimensions it
// fixes.
func checkDims[D int | int64](s *Session, info *onnx.ValueInfo, syms []int32, what string, shape []D, r *resolver, input int) error {
	if !info.HasShape {
		return nil
	}
	if len(shape) != len(info.Dims) {
		return fmt.Errorf("model %s: %s %q has rank %d (%s %s), given rank %d %s",
			s.path, what, info.Name, len(info.Dims), info.ElemType, info.ShapeString(), len(shape), shapeString(shape))
	}
	for k, d := range info.Dims {
		given := int64(shape[k])
		switch {
		case d.Fixed() && d.Value != given:
			return fmt.Errorf("model %s: %s %q dimension %d is %d (%s), given %d in %s",
				s.path, what, info.Name, k, d.Value, info.ShapeString(), given, shapeString(shape))
		case d.Symbolic():
			sym := syms[k]
			if size := r.size[sym]; size >= 0 && size != given {
				return fmt.Errorf("model %s: %s %q dimension %d (%s) is %d, but %s (also %s) is %d",
					s.path, what, info.Name, k, d.Param, given, s.origin(r, sym), d.Param, size)
			} else if size < 0 && input >= 0 {
				r.size[sym] = given
				r.from[sym] = int32(input)<<8 | int32(k&0xff)
			}
		}
	}
	return nil
}

// scalarShape decides how the scalar at input position i feeds the
// declared input: rank 0, or repeated to [B].
func (s *Session) scalarShape(i int, r *resolver) error {
	info := &s.sig.Inputs[i]
	if !info.HasShape || len(info.Dims) == 0 {
		r.shapes[i] = r.scalar[i][:0]
		return nil
	}
	if len(info.Dims) > 1 {
		return fmt.Errorf("model %s: input %q is %s %s; a scalar fits only rank 0 or rank 1",
			s.path, info.Name, info.ElemType, info.ShapeString())
	}
	d := info.Dims[0]
	size := int64(-1)
	switch {
	case d.Fixed():
		size = d.Value
	case d.Symbolic() && r.size[s.dims.in[i][0]] >= 0:
		size = r.size[s.dims.in[i][0]]
	default:
		// The dimension's name is not shared with any other input (exports
		// name it "steps" or leave it unnamed): take the batch size of the
		// first tensor input, since a per-sample timestep has one value per
		// sample.
		for _, in := range r.shapes {
			if len(in) > 0 {
				size = in[0]
				break
			}
		}
	}
	if size < 0 {
		return fmt.Errorf("model %s: input %q is %s %s and no other input gives the batch size to repeat the scalar to; pass a tensor",
			s.path, info.Name, info.ElemType, info.ShapeString())
	}
	r.scalar[i][0] = size
	r.shapes[i] = r.scalar[i][:]
	return nil
}

// checkOutput validates the caller's tensor for output position j.
func (s *Session) checkOutput(j int, t *latent.Tensor, r *resolver) error {
	info := &s.sig.Outputs[j]
	if t == nil {
		return fmt.Errorf("model %s: output %q: nil tensor (outputs must be allocated by the caller)", s.path, info.Name)
	}
	if len(t.Data) != numElements(t.Shape) {
		return fmt.Errorf("model %s: output %q: tensor has %d values for shape %s", s.path, info.Name, len(t.Data), shapeString(t.Shape))
	}
	return checkDims(s, info, s.dims.out[j], "output", t.Shape, r, -1)
}

// unknownOutput reports the first name of outputs that the model does not
// declare.
func (s *Session) unknownOutput(outputs map[string]*latent.Tensor) error {
	for name := range outputs {
		if _, ok := s.outputIndex[name]; !ok {
			return s.unknownOutputError(name)
		}
	}
	return nil
}

func (s *Session) unknownOutputError(name string) error {
	return fmt.Errorf("model %s: unknown output %q; the model's outputs are %s", s.path, name, describeValues(s.sig.Outputs))
}

// OutputShape works out the shape output name will have for the given
// inputs from its declared dimensions: fixed sizes, and symbolic sizes
// that some input's declared shape shares. It fails for dimensions that only
// running the model determines.
func (s *Session) OutputShape(name string, inputs map[string]Input) ([]int, error) {
	j, ok := s.outputIndex[name]
	if !ok {
		return nil, s.unknownOutputError(name)
	}
	r, _ := s.resolvers.Get().(*resolver)
	if r == nil {
		r = newResolver(s)
	}
	defer func() {
		r.clear()
		s.resolvers.Put(r)
	}()
	if err := s.resolveInputs(inputs, r); err != nil {
		return nil, err
	}
	if k := s.unresolvedDim(j, r); k >= 0 {
		return nil, s.outputShapeErrs[j][k]
	}
	info := &s.sig.Outputs[j]
	out := make([]int, len(info.Dims))
	for k, d := range info.Dims {
		if d.Fixed() {
			out[k] = int(d.Value)
		} else {
			out[k] = int(r.size[s.dims.out[j][k]])
		}
	}
	return out, nil
}

// unresolvedDim returns -1 when the inputs resolved in r fix every
// dimension of output j, or else the index in outputShapeErrs[j] of the
// reason they do not.
func (s *Session) unresolvedDim(j int, r *resolver) int {
	info := &s.sig.Outputs[j]
	if !info.HasShape {
		return 0
	}
	for k, d := range info.Dims {
		if !d.Fixed() && (!d.Symbolic() || r.size[s.dims.out[j][k]] < 0) {
			return k
		}
	}
	return -1
}

// outputShapeErrors builds, once per session, OutputShape's error for
// every reason an output's shape may not follow from the inputs: one per
// dimension that is not fixed (at its axis), or the single one of an
// output without a declared rank. Callers ask for output shapes on every
// call of some models, and a prebuilt error costs nothing to return.
func (s *Session) outputShapeErrors() [][]error {
	errs := make([][]error, len(s.sig.Outputs))
	for j := range s.sig.Outputs {
		info := &s.sig.Outputs[j]
		if !info.HasShape {
			errs[j] = []error{s.outputShapeError(j, 0)}
			continue
		}
		errs[j] = make([]error, len(info.Dims))
		for k, d := range info.Dims {
			if !d.Fixed() {
				errs[j][k] = s.outputShapeError(j, k)
			}
		}
	}
	return errs
}

// outputShapeError is OutputShape's error for output j with the reason at
// index k of outputShapeErrs[j].
func (s *Session) outputShapeError(j, k int) error {
	return fmt.Errorf("model %s: output %q: %w", s.path, s.sig.Outputs[j].Name, s.dimError(j, k))
}

// dimError says why dimension k of output j does not follow from the
// inputs.
func (s *Session) dimError(j, k int) error {
	info := &s.sig.Outputs[j]
	switch {
	case !info.HasShape:
		return fmt.Errorf("the model does not declare its rank")
	case info.Dims[k].Symbolic():
		return fmt.Errorf("dimension %d (%s) of %s is not a dimension of any input", k, info.Dims[k].Param, info.ShapeString())
	}
	return fmt.Errorf("dimension %d of %s is unnamed", k, info.ShapeString())
}

// describeValues lists names with types and shapes for error messages.
func describeValues(vs []onnx.ValueInfo) string {
	parts := make([]string, len(vs))
	for i, v := range vs {
		parts[i] = fmt.Sprintf("%s (%s %s)", v.Name, v.ElemType, v.ShapeString())
	}
	return strings.Join(parts, ", ")
}

func shapeString[D int | int64](s []D) string {
	var b strings.Builder
	b.WriteByte('[')
	for i, d := range s {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString(strconv.FormatInt(int64(d), 10))
	}
	b.WriteByte(']')
	return b.String()
}

func numElements[D int | int64](s []D) int {
	n := 1
	for _, d := range s {
		n *= int(d)
	}
	return n
}
