package graph

import (
	"slices"
	"testing"

	"github.com/coop-diffusion/coop/internal/onnx"
	"github.com/coop-diffusion/coop/latent"
)

func TestSuffix(t *testing.T) {
	for name, want := range map[string]int{
		"down_block_res_samples_11": 11, "down_block_additional_residuals.3": 3, "hidden_states.0": 0, "x7": 7,
	} {
		if got, ok := Suffix(name); !ok || got != want {
			t.Errorf("Suffix(%q) = %d, %v; want %d", name, got, ok, want)
		}
	}
	for _, name := range []string{"mid_block_res_sample", "", "down_1234567"} {
		if _, ok := Suffix(name); ok {
			t.Errorf("Suffix(%q) found a number", name)
		}
	}
}

// Reuse keeps a tensor of the asked shape and replaces any other, one of
// another rank with the same leading dims included.
func TestReuse(t *testing.T) {
	kept := latent.New(1, 4, 8, 8)
	if got := Reuse(kept, 1, 4, 8, 8); got != kept {
		t.Error("a tensor of the asked shape was replaced")
	}
	for _, old := range []*latent.Tensor{nil, latent.New(1, 4, 8, 9), latent.New(1, 4, 8), latent.New(1, 4, 8, 8, 1)} {
		got := Reuse(old, 1, 4, 8, 8)
		if got == old || !slices.Equal(got.Shape, []int{1, 4, 8, 8}) {
			t.Errorf("Reuse(%v, [1 4 8 8]) = %v", old, got)
		}
	}
}

func TestDims(t *testing.T) {
	v := &onnx.ValueInfo{Name: "sample", ElemType: onnx.Float16, HasShape: true,
		Dims: []onnx.Dim{{Param: "batch"}, {Value: 4}, {Value: -1}, {Value: 64}}}
	if n, ok := Dim(v, 1); !ok || n != 4 {
		t.Errorf("Dim 1 = %d, %v", n, ok)
	}
	for _, axis := range []int{0, 2, 4, -1} {
		if _, ok := Dim(v, axis); ok {
			t.Errorf("Dim %d is not fixed but was reported", axis)
		}
	}
	if n, ok := LastDim(v); !ok || n != 64 {
		t.Errorf("LastDim = %d, %v", n, ok)
	}
	if !BatchDynamic(v) || BatchDynamic(&onnx.ValueInfo{HasShape: true, Dims: []onnx.Dim{{Value: 1}}}) {
		t.Error("BatchDynamic")
	}
	if got := Describe(v); got != "float16 [batch, 4, ?, 64]" {
		t.Errorf("Describe = %q", got)
	}
	if !IsInteger(onnx.Int32) || IsInteger(onnx.Float16) {
		t.Error("IsInteger")
	}
}

func TestConfig(t *testing.T) {
	cfg := map[string]any{"a": 2.0, "b": 2.5, "list": []any{1.0, 2.0}, "mixed": []any{1.0, "x"}, "flag": true}
	if v, ok := Int(cfg, "a"); !ok || v != 2 {
		t.Errorf("Int a = %d, %v", v, ok)
	}
	if _, ok := Int(cfg, "b"); ok {
		t.Error("Int of 2.5")
	}
	if v, ok := Ints(cfg, "list"); !ok || len(v) != 2 || v[1] != 2 {
		t.Errorf("Ints = %v, %v", v, ok)
	}
	if _, ok := Numbers(cfg, "mixed"); ok {
		t.Error("Numbers of a mixed list")
	}
	if h, w, ok := Size(cfg, "a"); !ok || h != 2 || w != 2 {
		t.Errorf("Size of a number = %d, %d, %v", h, w, ok)
	}
	if h, w, ok := Size(cfg, "list"); !ok || h != 1 || w != 2 {
		t.Errorf("Size of a pair = %d, %d, %v", h, w, ok)
	}
	if v, ok := Bool(cfg, "flag"); !ok || !v {
		t.Error("Bool")
	}
	if _, ok := Number(nil, "a"); ok {
		t.Error("Number of a nil config")
	}
}
