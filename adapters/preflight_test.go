package adapters_test

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/coop-diffusion/coop/adapters"
	"github.com/coop-diffusion/coop/internal/faults"
	"github.com/coop-diffusion/coop/internal/fixtures"
	"github.com/coop-diffusion/coop/internal/onnx"
	"github.com/coop-diffusion/coop/internal/ort"
)

// Check reports, from the files alone, what ONNX Runtime would refuse
// only when a stage opens the model: an opset it does not load, external
// weights that are missing or cut short. Every part of the folder counts,
// not only the unet.
func TestCheckModelFiles(t *testing.T) {
	tests := []struct {
		name  string
		spoil func(t *testing.T, dir string)
		wants []string
	}{
		{"decoder opset newer than the runtime", func(t *testing.T, dir string) {
			if err := faults.StampOpset(filepath.Join(dir, "vae_decoder", "model.onnx"), ort.MaxOpset+1); err != nil {
				t.Fatal(err)
			}
		}, []string{`model "sd15" vae_decoder`, "{dir}/vae_decoder/model.onnx", fmt.Sprintf("opset %d", ort.MaxOpset+1), fmt.Sprintf("loads opsets %d to %d", ort.MinOpset, ort.MaxOpset)}},
		{"text encoder opset older than the runtime", func(t *testing.T, dir string) {
			if err := faults.StampOpset(filepath.Join(dir, "text_encoder", "model.onnx"), 5); err != nil {
				t.Fatal(err)
			}
		}, []string{`model "sd15" text_encoder`, "{dir}/text_encoder/model.onnx", "opset 5"}},
		{"external weights missing", func(t *testing.T, dir string) {
			unet := filepath.Join(dir, "unet", "model.onnx")
			if err := faults.RewriteModel(unet, faults.Options{External: true}); err != nil {
				t.Fatal(err)
			}
			if err := os.Remove(unet + "_data"); err != nil {
				t.Fatal(err)
			}
		}, []string{`model "sd15" unet`, "{dir}/unet/model.onnx: its weights file {dir}/unet/model.onnx_data is missing"}},
		{"external weights cut short", func(t *testing.T, dir string) {
			unet := filepath.Join(dir, "unet", "model.onnx")
			if err := faults.RewriteModel(unet, faults.Options{External: true}); err != nil {
				t.Fatal(err)
			}
			if err := faults.Truncate(unet+"_data", 100); err != nil {
				t.Fatal(err)
			}
		}, []string{`model "sd15" unet`, "{dir}/unet/model.onnx_data holds 100 bytes", "cut short"}},
		{"integer latents", func(t *testing.T, dir string) {
			if err := faults.RewriteModel(filepath.Join(dir, "unet", "model.onnx"), faults.Options{Edit: func(s *onnx.Signature) { s.Inputs[0].ElemType = onnx.Int32 }}); err != nil {
				t.Fatal(err)
			}
		}, []string{`model "sd15" unet`, "input sample is int32 [batch, 4, 64, 64]", "float32, float16 or float64"}},
		{"vocab.json not JSON", func(t *testing.T, dir string) {
			if err := os.WriteFile(filepath.Join(dir, "tokenizer", "vocab.json"), []byte(`{"a</w>": 0, `), 0o644); err != nil {
				t.Fatal(err)
			}
		}, []string{`model "sd15" text_encoder`, "{dir}/tokenizer/vocab.json"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := copyFixture(t, "sd15")
			tt.spoil(t, dir)
			_, err := adapters.Check(dir, adapters.LoadOptions{})
			wants := make([]string, len(tt.wants))
			for i, w := range tt.wants {
				wants[i] = strings.ReplaceAll(w, "{dir}", dir)
			}
			checkError(t, err, wants...)
		})
	}
}

// FixedLatent is the latent size a denoiser's (or ControlNet's) sample
// fixes: the zoo's graphs fix theirs.
func TestCheckFixedLatent(t *testing.T) {
	zoo := fixtures.Zoo(t)
	for _, name := range fixtures.Names() {
		fx, _ := fixtures.Lookup(name)
		info, err := adapters.Check(filepath.Join(zoo, name), adapters.LoadOptions{})
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if want := (adapters.Size{Height: fx.Latent[1], Width: fx.Latent[2]}); info.FixedLatent != want {
			t.Errorf("%s: FixedLatent %v, want %v", name, info.FixedLatent, want)
		}
	}
	dir := copyFixture(t, "sd15")
	if err := faults.RewriteModel(filepath.Join(dir, "unet", "model.onnx"), faults.Options{Edit: func(s *onnx.Signature) {
		for i := range s.Inputs[:1] {
			s.Inputs[i].Dims[2] = onnx.Dim{Param: "height"}
		}
	}}); err != nil {
		t.Fatal(err)
	}
	info, err := adapters.Check(dir, adapters.LoadOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if info.FixedLatent != (adapters.Size{}) {
		t.Errorf("symbolic height: FixedLatent %v, want zero", info.FixedLatent)
	}
}
