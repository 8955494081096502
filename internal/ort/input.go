package ort

import (
	"fmt"

	"github.com/coop-diffusion/coop/latent"
)

// Input is a value for one graph input. It holds float or integer data in
// the caller's slices (never copied when the graph wants the same type) or a
// single number; Session.Run casts it to the element type the graph declares
// (float32, float16, float64, int64 or int32). Float values fed to integer
// inputs are rounded to the nearest integer, which is what a fractional
// timestep needs for a graph with an integer timestep input.
type Input struct {
	kind   inputKind
	shape  []int64
	floats []float32
	ints   []int64
	value  float64
}

type inputKind uint8

const (
	noInput inputKind = iota
	floatInput
	intInput
	scalarInput
)

// Float feeds a float32 tensor with t's shape and data.
func Float(t *latent.Tensor) Input {
	if t == nil {
		return Input{} // reported as a missing input
	}
	return Input{kind: floatInput, shape: t.Shape64(), floats: t.Data}
}

// FloatShaped feeds float32 data with an explicit shape; an empty shape is a
// rank-0 tensor holding data[0].
func FloatShaped(shape []int64, data []float32) Input {
	return Input{kind: floatInput, shape: nonNil(shape), floats: data}
}

// Int feeds integer data (token ids, integer timesteps); an empty shape is a
// rank-0 tensor holding data[0].
func Int(shape []int64, data []int64) Input {
	return Input{kind: intInput, shape: nonNil(shape), ints: data}
}

// Scalar feeds one number. It becomes a rank-0 tensor when the graph
// declares rank 0, and is repeated to shape [B] when the graph declares one
// dimension (a per-sample timestep), B being that dimension's fixed size or
// the batch size of the other inputs.
func Scalar(v float64) Input {
	return Input{kind: scalarInput, value: v}
}

func nonNil(s []int64) []int64 {
	if s == nil {
		return []int64{}
	}
	return s
}

// String describes the input for error messages: its kind and shape.
func (in Input) String() string {
	switch in.kind {
	case floatInput:
		return fmt.Sprintf("float32 %s", shapeString(in.shape))
	case intInput:
		return fmt.Sprintf("int64 %s", shapeString(in.shape))
	case scalarInput:
		return fmt.Sprintf("scalar %g", in.value)
	}
	return "no value"
}

// count is the number of values the input carries.
func (in Input) count() int {
	switch in.kind {
	case floatInput:
		return len(in.floats)
	case intInput:
		return len(in.ints)
	case scalarInput:
		return 1
	}
	return 0
}

// at returns element i as float64 (exact for every float32 and for
// integers up to 2^53).
func (in Input) at(i int) float64 {
	switch in.kind {
	case floatInput:
		return float64(in.floats[i])
	case intInput:
		return float64(in.ints[i])
	}
	return in.value
}

// atInt returns element i as an integer, rounding floats to nearest.
func (in Input) atInt(i int) int64 {
	if in.kind == intInput {
		return in.ints[i]
	}
	return roundToInt(in.at(i))
}
