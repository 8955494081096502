package latent

import (
	"fmt"
	"strings"
)

// Tensor is a dense float32 array stored in row-major order. Latents and
// images are rank 4 in NCHW order (batch, channels, height, width); text
// embeddings are rank 3 (batch, tokens, width). Data is owned by the tensor:
// functions that write into a tensor never reallocate it, which is what lets
// the sampler and the bridges reuse buffers across steps.
type Tensor struct {
	Shape []int
	Data  []float32
}

// New returns a zero tensor of the given shape.
func New(shape ...int) *Tensor {
	n := 1
	for _, d := range shape {
		if d < 0 {
			panic(fmt.Sprintf("latent.New: negative dimension in %v", shape))
		}
		n *= d
	}
	return &Tensor{Shape: append([]int(nil), shape...), Data: make([]float32, n)}
}

// FromData wraps data as a tensor of the given shape; it panics when the
// element count does not match, since that is always a programming error.
func FromData(data []float32, shape ...int) *Tensor {
	t := &Tensor{Shape: append([]int(nil), shape...), Data: data}
	if t.numel() != len(data) {
		panic(fmt.Sprintf("latent.FromData: %d values for shape %v", len(data), shape))
	}
	return t
}

func (t *Tensor) numel() int {
	n := 1
	for _, d := range t.Shape {
		n *= d
	}
	return n
}

// Len is the number of elements.
func (t *Tensor) Len() int { return len(t.Data) }

// N, C, H and W name the dimensions of a rank-4 NCHW tensor.
func (t *Tensor) N() int { return t.Shape[0] }
func (t *Tensor) C() int { return t.Shape[1] }
func (t *Tensor) H() int { return t.Shape[2] }
func (t *Tensor) W() int { return t.Shape[3] }

// At returns element (n, c, y, x) of a rank-4 tensor.
func (t *Tensor) At(n, c, y, x int) float32 {
	return t.Data[((n*t.Shape[1]+c)*t.Shape[2]+y)*t.Shape[3]+x]
}

// Set writes element (n, c, y, x) of a rank-4 tensor.
func (t *Tensor) Set(n, c, y, x int, v float32) {
	t.Data[((n*t.Shape[1]+c)*t.Shape[2]+y)*t.Shape[3]+x] = v
}

// Shape64 returns the shape as int64, the form ONNX Runtime wants.
func (t *Tensor) Shape64() []int64 {
	s := make([]int64, len(t.Shape))
	for i, d := range t.Shape {
		s[i] = int64(d)
	}
	return s
}

// SameShape reports whether t and u have identical shapes.
func (t *Tensor) SameShape(u *Tensor) bool {
	if len(t.Shape) != len(u.Shape) {
		return false
	}
	for i := range t.Shape {
		if t.Shape[i] != u.Shape[i] {
			return false
		}
	}
	return true
}

// Clone returns a deep copy.
func (t *Tensor) Clone() *Tensor {
	return &Tensor{Shape: append([]int(nil), t.Shape...), Data: append([]float32(nil), t.Data...)}
}

// CopyFrom copies u's values into t; the shapes must match.
func (t *Tensor) CopyFrom(u *Tensor) {
	if !t.SameShape(u) {
		panic(fmt.Sprintf("latent.Tensor.CopyFrom: shape %v into %v", u.Shape, t.Shape))
	}
	copy(t.Data, u.Data)
}

// Batch returns a view of item i of the batch axis, sharing t's storage.
func (t *Tensor) Batch(i int) *Tensor {
	per := len(t.Data) / t.Shape[0]
	shape := append([]int{1}, t.Shape[1:]...)
	return &Tensor{Shape: shape, Data: t.Data[i*per : (i+1)*per : (i+1)*per]}
}

// String describes the shape, not the values.
func (t *Tensor) String() string {
	parts := make([]string, len(t.Shape))
	for i, d := range t.Shape {
		parts[i] = fmt.Sprint(d)
	}
	return "tensor[" + strings.Join(parts, "x") + "]"
}
