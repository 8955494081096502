package adapters_test

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/coop-diffusion/coop/adapters"
	"github.com/coop-diffusion/coop/internal/fixtures"
	"github.com/coop-diffusion/coop/internal/onnx"
)

// Check says which parts a folder or file provides (Info.Parts), as Load
// assembles them: a recipe is refused before anything runs when it asks a
// model for a part it lacks.
func TestCheckTellsParts(t *testing.T) {
	zoo := fixtures.Zoo(t)
	noEncoder := filepath.Join(t.TempDir(), "sd15-no-encoder")
	fixtures.CopyTree(t, filepath.Join(zoo, "sd15"), noEncoder)
	if err := os.RemoveAll(filepath.Join(noEncoder, "vae_encoder")); err != nil {
		t.Fatal(err)
	}
	generic := filepath.Join(t.TempDir(), "probe")
	b := onnx.NewBuilder("probe")
	x := b.Input("sample", onnx.Float32, "n", 4, 8, 8)
	b.Input("timestep", onnx.Float32, "n")
	b.Output(b.Op("Identity", []string{x}, nil), "eps", onnx.Float32, "n", 4, 8, 8)
	if err := os.MkdirAll(generic, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := b.WriteFile(filepath.Join(generic, "probe.onnx")); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(generic, "coop-model.yaml"), []byte("like: sd1\ndenoiser: {model: probe.onnx, output: eps}\nnative: [64, 64]\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	all := adapters.Parts{Denoiser: true, Text: true, Encoder: true, Decoder: true}
	for _, c := range []struct {
		path string
		want adapters.Parts
	}{
		{filepath.Join(zoo, "sd15"), all},
		{filepath.Join(zoo, "sdxl"), all},
		{filepath.Join(zoo, "cascade-prior"), all},
		{filepath.Join(zoo, "cascade-decoder"), all},
		{filepath.Join(zoo, "sd15-cn"), all}, // residual inputs for a split ControlNet, none of its own
		{filepath.Join(zoo, "sd15-fusedcn"), adapters.Parts{Denoiser: true, Text: true, Encoder: true, Decoder: true, ControlNet: true}},
		{filepath.Join(zoo, "controlnet-sd15"), adapters.Parts{ControlNet: true}},
		{filepath.Join(zoo, "sd15", "unet", "model.onnx"), adapters.Parts{Denoiser: true}},
		{noEncoder, adapters.Parts{Denoiser: true, Text: true, Decoder: true}},
		{generic, adapters.Parts{Denoiser: true}},
	} {
		info, err := adapters.Check(c.path, adapters.LoadOptions{})
		if err != nil {
			t.Errorf("%s: %v", c.path, err)
			continue
		}
		if info.Parts != c.want {
			t.Errorf("%s: Check says parts %+v, want %+v", c.path, info.Parts, c.want)
		}
		m, err := adapters.Load(context.Background(), c.path, adapters.LoadOptions{})
		if err != nil {
			t.Errorf("%s: %v", c.path, err)
			continue
		}
		if m.Parts != c.want || m.Provides() != c.want {
			t.Errorf("%s: Load's model says parts %+v and provides %+v, want %+v", c.path, m.Parts, m.Provides(), c.want)
		}
		m.Close()
	}
}
