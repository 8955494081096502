package onnx

import "fmt"

// ElemType is an ONNX tensor element type (TensorProto.DataType).
type ElemType int32

// Element types used by diffusion exports. The values are the ONNX
// TensorProto.DataType numbers.
const (
	Undefined ElemType = 0
	Float32   ElemType = 1
	Uint8     ElemType = 2
	Int8      ElemType = 3
	Uint16    ElemType = 4
	Int16     ElemType = 5
	Int32     ElemType = 6
	Int64     ElemType = 7
	String    ElemType = 8
	Bool      ElemType = 9
	Float16   ElemType = 10
	Float64   ElemType = 11
	Uint32    ElemType = 12
	Uint64    ElemType = 13
	BFloat16  ElemType = 16
)

var elemTypeNames = map[ElemType]string{
	Undefined: "undefined",
	Float32:   "float32",
	Uint8:     "uint8",
	Int8:      "int8",
	Uint16:    "uint16",
	Int16:     "int16",
	Int32:     "int32",
	Int64:     "int64",
	String:    "string",
	Bool:      "bool",
	Float16:   "float16",
	Float64:   "float64",
	Uint32:    "uint32",
	Uint64:    "uint64",
	BFloat16:  "bfloat16",
}

// String returns the lower-case Go-style name of the type ("float32",
// "float16", "int64"), or "elem_type(N)" for a number this package does not
// name.
func (t ElemType) String() string {
	if s, ok := elemTypeNames[t]; ok {
		return s
	}
	return fmt.Sprintf("elem_type(%d)", int32(t))
}

// Size returns the size in bytes of one element, or 0 for types without a
// fixed size (string, undefined, unknown numbers).
func (t ElemType) Size() int {
	switch t {
	case Uint8, Int8, Bool:
		return 1
	case Uint16, Int16, Float16, BFloat16:
		return 2
	case Float32, Int32, Uint32:
		return 4
	case Int64, Float64, Uint64:
		return 8
	}
	return 0
}

// Dim is one dimension of a tensor shape: a fixed size (Value >= 0), a
// symbolic size named by Param (ONNX dim_param, for example "batch"), or
// unknown (Value < 0 and Param empty).
type Dim struct {
	Value int64
	Param string
}

// Symbolic reports whether the dimension is named rather than fixed.
func (d Dim) Symbolic() bool { return d.Param != "" }

// Fixed reports whether the dimension has a known size.
func (d Dim) Fixed() bool { return d.Param == "" && d.Value >= 0 }

// String returns the symbolic name, the size, or "?" for an unknown
// dimension.
func (d Dim) String() string {
	switch {
	case d.Param != "":
		return d.Param
	case d.Value >= 0:
		return fmt.Sprint(d.Value)
	}
	return "?"
}

// ValueInfo describes a graph input or output.
type ValueInfo struct {
	Name     string
	ElemType ElemType // Undefined for values that are not tensors
	// HasShape is false when the graph does not declare a shape (rank
	// unknown); a scalar has HasShape true and no Dims.
	HasShape bool
	Dims     []Dim
}

// ShapeString formats the shape as "[batch, 4, height, width]", "[]" for a
// scalar and "[?...]" when the rank is unknown.
func (v ValueInfo) ShapeString() string {
	if !v.HasShape {
		return "[?...]"
	}
	s := "["
	for i, d := range v.Dims {
		if i > 0 {
			s += ", "
		}
		s += d.String()
	}
	return s + "]"
}
