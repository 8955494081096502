package controlnet

import (
	"fmt"
	"reflect"
	"testing"

	"github.com/coop-diffusion/coop/internal/onnx"
)

// The residual sizes of diffusers' SD 1.x / 2.x and SDXL unets for a
// 64 x 64 latent, [C, H, W] of each down residual and then the mid one.
var (
	sdShapes = [][3]int{
		{320, 64, 64}, {320, 64, 64}, {320, 64, 64}, {320, 32, 32},
		{640, 32, 32}, {640, 32, 32}, {640, 16, 16},
		{1280, 16, 16}, {1280, 16, 16}, {1280, 8, 8}, {1280, 8, 8}, {1280, 8, 8},
		{1280, 8, 8},
	}
	sdxlShapes = [][3]int{
		{320, 64, 64}, {320, 64, 64}, {320, 64, 64}, {320, 32, 32},
		{640, 32, 32}, {640, 32, 32}, {640, 16, 16},
		{1280, 16, 16}, {1280, 16, 16},
		{1280, 16, 16},
	}
)

func TestArchitectureShapes(t *testing.T) {
	for _, c := range []struct {
		down   int
		config map[string]any
		want   [][3]int
	}{
		{12, nil, sdShapes},
		{9, nil, sdxlShapes},
		{9, map[string]any{"block_out_channels": []any{320.0, 640.0, 1280.0}, "layers_per_block": 2.0}, sdxlShapes},
	} {
		a, err := ArchitectureFor(c.config, c.down)
		if err != nil {
			t.Fatal(err)
		}
		for i, want := range c.want {
			idx := i
			if i == c.down {
				idx = -1
			}
			got := a.Shape(nil, nil, idx, 2, 64, 64)
			if !reflect.DeepEqual(got, []int{2, want[0], want[1], want[2]}) {
				t.Errorf("%d residuals: residual %d is %v, want [2 %d %d %d]", c.down, idx, got, want[0], want[1], want[2])
			}
		}
	}
	if _, err := ArchitectureFor(nil, 7); err == nil {
		t.Error("7 residuals without block_out_channels: no error")
	}
	if _, err := ArchitectureFor(map[string]any{"block_out_channels": []any{320.0, 640.0}}, 12); err == nil {
		t.Error("block_out_channels of 2 blocks for 12 residuals: no error")
	}
}

// Declared dims win over the architecture: fixed ones as they are,
// symbolic ones that the sample shares as the sample's.
func TestShapeFromDeclaredDims(t *testing.T) {
	a, _ := ArchitectureFor(nil, 12)
	sample := &onnx.ValueInfo{Name: "sample", HasShape: true, Dims: []onnx.Dim{{Param: "batch"}, {Value: 4}, {Param: "h"}, {Param: "w"}}}
	v := &onnx.ValueInfo{Name: "down_block_additional_residuals_0", HasShape: true, Dims: []onnx.Dim{{Param: "batch"}, {Value: 32}, {Param: "h"}, {Param: "w"}}}
	if got := a.Shape(v, sample, 0, 2, 40, 48); !reflect.DeepEqual(got, []int{2, 32, 40, 48}) {
		t.Errorf("shape %v, want [2 32 40 48]", got)
	}
	v.Dims[2], v.Dims[3] = onnx.Dim{Param: "h_half"}, onnx.Dim{Param: "w_half"}
	if got := a.Shape(v, sample, 3, 2, 41, 48); !reflect.DeepEqual(got, []int{2, 32, 21, 24}) {
		t.Errorf("shape %v, want [2 32 21 24] (odd sizes round up)", got)
	}
}

func TestPorts(t *testing.T) {
	var vs []onnx.ValueInfo
	vs = append(vs, onnx.ValueInfo{Name: "sample"})
	for _, i := range []int{2, 0, 1} {
		vs = append(vs, onnx.ValueInfo{Name: fmt.Sprintf("down_block_res_samples_%d", i), HasShape: true,
			Dims: []onnx.Dim{{Param: "batch"}, {Value: int64(100 + i)}, {Value: 8}, {Value: 8}}})
	}
	vs = append(vs, onnx.ValueInfo{Name: "mid_block_res_sample"})
	p, err := Ports(vs)
	if err != nil {
		t.Fatal(err)
	}
	if len(p.Down) != 3 || p.Mid == nil || p.Mid.Name != "mid_block_res_sample" {
		t.Fatalf("ports %+v", p)
	}
	for i, r := range p.Down {
		if r.Index != i || r.Channels != 100+i {
			t.Errorf("down %d: %+v", i, r)
		}
	}
	if !p.Split() {
		t.Error("Split() is false")
	}
	if _, err := Ports([]onnx.ValueInfo{{Name: "down_block_res_samples_0"}, {Name: "down_block_res_samples_2"}}); err == nil {
		t.Error("residuals 0 and 2 without 1: no error")
	}
	if _, err := Ports([]onnx.ValueInfo{{Name: "down_block_res_samples"}}); err == nil {
		t.Error("a down residual without a number: no error")
	}
	if p, err := Ports([]onnx.ValueInfo{{Name: "sample"}, {Name: "timestep"}}); err != nil || p.Split() {
		t.Errorf("a plain unet: ports %+v, %v", p, err)
	}
}
