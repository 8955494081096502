package onnx

import (
	"encoding/binary"
	"fmt"
	"math"

	"github.com/x448/float16"
)

// Tensor is constant tensor data in ONNX layout: row-major, little-endian
// raw bytes. It is what Builder stores as an initializer and what an
// attribute of type TENSOR holds (for example ConstantOfShape's value).
type Tensor struct {
	Type  ElemType
	Shape []int64
	Raw   []byte // len(Raw) == Type.Size() * product(Shape)
}

// Float32Tensor packs float32 values.
func Float32Tensor(shape []int64, data []float32) Tensor {
	raw := make([]byte, 4*len(data))
	for i, v := range data {
		binary.LittleEndian.PutUint32(raw[4*i:], math.Float32bits(v))
	}
	return Tensor{Type: Float32, Shape: cloneShape(shape), Raw: raw}
}

// Float16Tensor converts float32 values to IEEE half precision (round to
// nearest even) and packs them.
func Float16Tensor(shape []int64, data []float32) Tensor {
	raw := make([]byte, 2*len(data))
	for i, v := range data {
		binary.LittleEndian.PutUint16(raw[2*i:], float16.Fromfloat32(v).Bits())
	}
	return Tensor{Type: Float16, Shape: cloneShape(shape), Raw: raw}
}

// Int64Tensor packs int64 values.
func Int64Tensor(shape []int64, data []int64) Tensor {
	raw := make([]byte, 8*len(data))
	for i, v := range data {
		binary.LittleEndian.PutUint64(raw[8*i:], uint64(v))
	}
	return Tensor{Type: Int64, Shape: cloneShape(shape), Raw: raw}
}

// Int32Tensor packs int32 values.
func Int32Tensor(shape []int64, data []int32) Tensor {
	raw := make([]byte, 4*len(data))
	for i, v := range data {
		binary.LittleEndian.PutUint32(raw[4*i:], uint32(v))
	}
	return Tensor{Type: Int32, Shape: cloneShape(shape), Raw: raw}
}

// BoolTensor packs booleans, one byte each.
func BoolTensor(shape []int64, data []bool) Tensor {
	raw := make([]byte, len(data))
	for i, v := range data {
		if v {
			raw[i] = 1
		}
	}
	return Tensor{Type: Bool, Shape: cloneShape(shape), Raw: raw}
}

// NumElements returns the product of the shape (1 for a scalar).
func (t Tensor) NumElements() int64 {
	n := int64(1)
	for _, d := range t.Shape {
		n *= d
	}
	return n
}

// check reports a tensor whose raw size does not match its type and shape.
func (t Tensor) check() error {
	for _, d := range t.Shape {
		if d < 0 {
			return fmt.Errorf("negative dimension in shape %v", t.Shape)
		}
	}
	size := t.Type.Size()
	if size == 0 {
		return fmt.Errorf("element type %v has no fixed size", t.Type)
	}
	if want := t.NumElements() * int64(size); int64(len(t.Raw)) != want {
		return fmt.Errorf("%d bytes of %v data for shape %v, want %d", len(t.Raw), t.Type, t.Shape, want)
	}
	return nil
}

func cloneShape(s []int64) []int64 {
	if s == nil {
		return []int64{}
	}
	return append([]int64{}, s...)
}
