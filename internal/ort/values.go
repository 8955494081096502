package ort

import (
	"fmt"
	"math"
	"unsafe"

	"github.com/x448/float16"
	ortgo "github.com/yalue/onnxruntime_go"

	"github.com/coop-diffusion/coop/internal/onnx"
	"github.com/coop-diffusion/coop/latent"
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

// values owns the ONNX Runtime values of one run and destroys them, and
// the binary16 buffers they read or write, which go back to halfBuffers.
type values struct {
	list []interface{ Destroy() error }
	half [][]uint16
}

func (vs *values) track(v interface{ Destroy() error }) { vs.list = append(vs.list, v) }

func (vs *values) destroy() {
	for _, v := range vs.list {
		v.Destroy()
	}
	vs.list = nil
	for _, b := range vs.half {
		putHalfBuffer(b)
	}
	vs.half = nil
}

// halfBuffer returns a buffer of n binary16 values for this run.
func (vs *values) halfBuffer(n int) []uint16 {
	b := halfBuffer(n)
	vs.half = append(vs.half, b)
	return b
}

// outputCopy moves a finished output into the caller's float32 tensor.
type outputCopy func()

// input creates the value for one graph input of element type elem and the
// resolved shape (empty for rank 0).
func (vs *values) input(elem onnx.ElemType, shape []int64, in Input) (ortgo.Value, error) {
	n := int(numElements(shape))
	switch elem {
	case onnx.Float32:
		if in.kind == floatInput && len(shape) > 0 {
			// Same type: ONNX Runtime reads the caller's slice directly.
			return vs.add(ortgo.NewTensor(ortgo.Shape(shape), in.floats[:n]))
		}
		return newTyped(vs, shape, n, func(i int) float32 { return float32(in.at(i)) })
	case onnx.Float64:
		return newTyped(vs, shape, n, in.at)
	case onnx.Int64:
		if in.kind == intInput && len(shape) > 0 {
			return vs.add(ortgo.NewTensor(ortgo.Shape(shape), in.ints[:n]))
		}
		return newTyped(vs, shape, n, in.atInt)
	case onnx.Int32:
		for i := 0; i < in.count(); i++ {
			if v := in.atInt(i); v < math.MinInt32 || v > math.MaxInt32 {
				return nil, fmt.Errorf("value %d at index %d does not fit the declared int32", v, i)
			}
		}
		return newTyped(vs, shape, n, func(i int) int32 { return int32(in.atInt(i)) })
	case onnx.Float16:
		if len(shape) == 0 {
			cv, err := newCValue(ortgo.TensorElementDataTypeFloat16, nil, 2)
			if err != nil {
				return nil, err
			}
			vs.track(cv)
			*(*uint16)(unsafe.Pointer(&cv.Bytes()[0])) = float16.Fromfloat32(float32(in.at(0))).Bits()
			return cv, nil
		}
		bits := vs.halfBuffer(n)
		if in.kind == floatInput {
			toHalf(bits, in.floats[:n])
		} else {
			for i := range bits {
				bits[i] = float16.Fromfloat32(float32(in.at(i))).Bits()
			}
		}
		return vs.add(ortgo.NewCustomDataTensor(ortgo.Shape(shape), uint16Bytes(bits), ortgo.TensorElementDataTypeFloat16))
	}
	_, err := ortElemType(elem)
	return nil, err
}

// output creates the value for one graph output and, when t is not nil,
// the copy into t after the run. A float32 output is written straight into
// t unless aliased says t shares memory with an input. It returns a nil
// value for outputs of other element types that nobody reads, which ONNX
// Runtime then allocates itself.
func (vs *values) output(elem onnx.ElemType, shape []int64, t *latent.Tensor, aliased bool) (ortgo.Value, outputCopy, error) {
	n := int(numElements(shape))
	switch elem {
	case onnx.Float32:
		if len(shape) == 0 {
			sc, err := ortgo.NewScalar(float32(0))
			if err != nil {
				return nil, nil, err
			}
			vs.track(sc)
			return sc, copyInto(t, func(int) float32 { return sc.GetData() }), nil
		}
		if t != nil && !aliased {
			// Same type: ONNX Runtime writes the caller's slice directly.
			v, err := vs.add(ortgo.NewTensor(ortgo.Shape(shape), t.Data))
			return v, nil, err
		}
		tensor, err := ortgo.NewEmptyTensor[float32](ortgo.Shape(shape))
		if err != nil {
			return nil, nil, err
		}
		vs.track(tensor)
		if t == nil {
			return tensor, nil, nil
		}
		return tensor, func() { copy(t.Data, tensor.GetData()) }, nil
	case onnx.Float64:
		return newTypedOutput[float64](vs, shape, t)
	case onnx.Int64:
		return newTypedOutput[int64](vs, shape, t)
	case onnx.Int32:
		return newTypedOutput[int32](vs, shape, t)
	case onnx.Float16:
		if len(shape) == 0 {
			cv, err := newCValue(ortgo.TensorElementDataTypeFloat16, nil, 2)
			if err != nil {
				return nil, nil, err
			}
			vs.track(cv)
			return cv, copyInto(t, func(int) float32 {
				return float16.Frombits(*(*uint16)(unsafe.Pointer(&cv.Bytes()[0]))).Float32()
			}), nil
		}
		bits := vs.halfBuffer(n)
		v, err := vs.add(ortgo.NewCustomDataTensor(ortgo.Shape(shape), uint16Bytes(bits), ortgo.TensorElementDataTypeFloat16))
		if err != nil {
			return nil, nil, err
		}
		if t == nil {
			return v, nil, nil
		}
		return v, func() { fromHalf(t.Data, bits) }, nil
	}
	if t == nil {
		return nil, nil, nil
	}
	_, err := ortElemType(elem)
	return nil, nil, err
}

// newTyped creates a tensor of Go type T filled by get, or a rank-0 scalar
// for an empty shape.
func newTyped[T float32 | float64 | int64 | int32](vs *values, shape []int64, n int, get func(int) T) (ortgo.Value, error) {
	if len(shape) == 0 {
		return vs.add(ortgo.NewScalar(get(0)))
	}
	data := make([]T, n)
	for i := range data {
		data[i] = get(i)
	}
	return vs.add(ortgo.NewTensor(ortgo.Shape(shape), data))
}

func newTypedOutput[T float64 | int64 | int32](vs *values, shape []int64, t *latent.Tensor) (ortgo.Value, outputCopy, error) {
	if len(shape) == 0 {
		sc, err := ortgo.NewScalar(T(0))
		if err != nil {
			return nil, nil, err
		}
		vs.track(sc)
		return sc, copyInto(t, func(int) float32 { return float32(sc.GetData()) }), nil
	}
	tensor, err := ortgo.NewEmptyTensor[T](ortgo.Shape(shape))
	if err != nil {
		return nil, nil, err
	}
	vs.track(tensor)
	data := tensor.GetData()
	return tensor, copyInto(t, func(i int) float32 { return float32(data[i]) }), nil
}

// copyInto returns the copy of get's values into t, or nil when nobody
// reads the output.
func copyInto(t *latent.Tensor, get func(int) float32) outputCopy {
	if t == nil {
		return nil
	}
	return func() {
		for i := range t.Data {
			t.Data[i] = get(i)
		}
	}
}

// add records a freshly created value for destruction; its arguments are
// the results of an onnxruntime_go constructor.
func (vs *values) add(v ortgo.Value, err error) (ortgo.Value, error) {
	if err != nil {
		return nil, err
	}
	vs.track(v)
	return v, nil
}

// uint16Bytes views float16 bits as the little-endian bytes ONNX Runtime
// reads (every platform coop builds for is little-endian).
func uint16Bytes(b []uint16) []byte {
	if len(b) == 0 {
		return nil
	}
	return unsafe.Slice((*byte)(unsafe.Pointer(&b[0])), 2*len(b))
}

func roundToInt(v float64) int64 { return int64(math.Round(v)) }
