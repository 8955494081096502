package ort

import (
	"fmt"
	"math"
	"unsafe"

	"github.com/x448/float16"
	ortgo "github.com/yalue/onnxruntime_go"

	"github.com/coop-diffusion/coop/internal/onnx"
)

// ortElemType maps the element types Run can feed to ONNX Runtime's enum.
func ortElemType(t onnx.ElemType) (ortgo.TensorElementDataType, error) {
	switch t {
	case onnx.Float32:
		return ortgo.TensorElementDataTypeFloat, nil
	case onnx.Float16:
		return ortgo.TensorElementDataTypeFloat16, nil
	case onnx.Float64:
		return ortgo.TensorElementDataTypeDouble, nil
	case onnx.Int64:
		return ortgo.TensorElementDataTypeInt64, nil
	case onnx.Int32:
		return ortgo.TensorElementDataTypeInt32, nil
	}
	return 0, fmt.Errorf("element type %v is not supported (coop feeds float32, float16, float64, int64 and int32)", t)
}

// elemSize is the size in bytes of one element of a type ortElemType
// accepts.
func elemSize(t onnx.ElemType) int {
	switch t {
	case onnx.Float16:
		return 2
	case onnx.Float32, onnx.Int32:
		return 4
	}
	return 8
}

// view returns n elements of type T at p.
func view[T any](p unsafe.Pointer, n int) []T {
	if n == 0 {
		return nil
	}
	return unsafe.Slice((*T)(p), n)
}

// fill writes the n values of in, cast to elem, into dst, which holds n
// elements of elem.
func fill(dst unsafe.Pointer, elem onnx.ElemType, n int, in *Input) error {
	switch elem {
	case onnx.Float32:
		d := view[float32](dst, n)
		if in.kind == floatInput {
			copy(d, in.floats[:n])
			return nil
		}
		for i := range d {
			d[i] = float32(in.at(i))
		}
	case onnx.Float64:
		d := view[float64](dst, n)
		for i := range d {
			d[i] = in.at(i)
		}
	case onnx.Int64:
		d := view[int64](dst, n)
		if in.kind == intInput {
			copy(d, in.ints[:n])
			return nil
		}
		for i := range d {
			d[i] = in.atInt(i)
		}
	case onnx.Int32:
		d := view[int32](dst, n)
		for i := range d {
			v := in.atInt(i)
			if v < math.MinInt32 || v > math.MaxInt32 {
				return fmt.Errorf("value %d at index %d does not fit the declared int32", v, i)
			}
			d[i] = int32(v)
		}
	case onnx.Float16:
		d := view[uint16](dst, n)
		if in.kind == floatInput {
			toHalf(d, in.floats[:n])
			return nil
		}
		for i := range d {
			d[i] = float16.Fromfloat32(float32(in.at(i))).Bits()
		}
	default:
		_, err := ortElemType(elem)
		return err
	}
	return nil
}

// unfill writes the len(dst) elements of type elem at src into dst as
// float32.
func unfill(dst []float32, elem onnx.ElemType, src unsafe.Pointer) {
	n := len(dst)
	switch elem {
	case onnx.Float32:
		copy(dst, view[float32](src, n))
	case onnx.Float16:
		fromHalf(dst, view[uint16](src, n))
	case onnx.Float64:
		for i, v := range view[float64](src, n) {
			dst[i] = float32(v)
		}
	case onnx.Int64:
		for i, v := range view[int64](src, n) {
			dst[i] = float32(v)
		}
	case onnx.Int32:
		for i, v := range view[int32](src, n) {
			dst[i] = float32(v)
		}
	}
}

func roundToInt(v float64) int64 { return int64(math.Round(v)) }
