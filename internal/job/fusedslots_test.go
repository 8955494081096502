package job_test

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/coop-diffusion/coop/latent"
	"github.com/coop-diffusion/coop/recipes"
)

// fusedControls renders sd15-fusedcn (two fused ControlNet slots) with one
// control per photo keyword and scale given, in that order.
func fusedControls(controls ...string) string {
	var b strings.Builder
	for i := 0; i < len(controls); i += 2 {
		fmt.Fprintf(&b, "\n          - {model: sd, image: controls/%s.png, scale: %s}", controls[i], controls[i+1])
	}
	return `
version: 1
models:
  sd: {path: sd15-fusedcn}
prompt: a photo
seed: 8
steps: 10
stages:
  - participants:
      - model: sd
        controls:` + b.String() + "\n"
}

// Each control of a fused unet drives its own slot, in order, with its own
// scale: two controls act as the sum of their residuals. They used to all
// land in slot 0, where the last one overwrote the others.
func TestFusedControlsTakeTheirOwnSlots(t *testing.T) {
	alone := runRecipe(t, fusedControls("rocket", "1"))
	wantPhoto(t, "rocket in slot 0 alone", "sd15", alone.Image, "rocket", 30)

	// A second control at scale 0 adds nothing.
	zero := runRecipe(t, fusedControls("rocket", "1", "brick", "0"))
	if !slices.Equal(zero.Image.Data, alone.Image.Data) {
		t.Errorf("rocket at 1 and brick at 0 differs from rocket alone (%.1f dB apart)", latent.PSNR(zero.Image, alone.Image, 1))
	}
	wantPhoto(t, "rocket at 1, brick at 0.01", "sd15", runRecipe(t, fusedControls("rocket", "1", "brick", "0.01")).Image, "rocket", 30)
	wantPhoto(t, "rocket at 0.01, brick at 1", "sd15", runRecipe(t, fusedControls("rocket", "0.01", "brick", "1")).Image, "brick", 30)

	// The slots' stand-ins stay out of the report.
	for _, m := range zero.Report.Models {
		if m.Name != "sd" {
			t.Errorf("report names model %q; want sd alone", m.Name)
		}
	}
}

// A unet with 2 fused slots takes at most 2 controls: the third is refused
// at its field before any model runs.
func TestMoreFusedControlsThanSlots(t *testing.T) {
	dir := zoo(t)
	_, err := prepareIn(t, dir, fusedControls("rocket", "1", "brick", "1", "cat", "1"), recipes.Loader{})
	wantError(t, err, "test.yaml:14:21:", "controls.2.model", "model sd has 2 ControlNet slots", "its control 3")
}

// A diffusers ControlNet pipeline folder named as a ControlNet (family:
// controlnet) is its controlnet/ subfolder, a split ControlNet of its own:
// it renders as that ControlNet's folder does. It used to be taken for
// ControlNets fused into the folder's unet and refused.
func TestControlNetOfAPipelineFolder(t *testing.T) {
	dir := zoo(t)
	pipe := filepath.Join(t.TempDir(), "cnpipe")
	if err := os.CopyFS(pipe, os.DirFS(filepath.Join(dir, "sd15-cn"))); err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{"model.onnx", "config.json"} {
		if err := os.MkdirAll(filepath.Join(pipe, "controlnet"), 0o755); err != nil {
			t.Fatal(err)
		}
		copyFile(t, filepath.Join(dir, "controlnet-sd15", f), filepath.Join(pipe, "controlnet", f))
	}
	index := filepath.Join(pipe, "model_index.json")
	b, err := os.ReadFile(index)
	if err != nil {
		t.Fatal(err)
	}
	var mi map[string]any
	if err := json.Unmarshal(b, &mi); err != nil {
		t.Fatal(err)
	}
	mi["_class_name"], mi["controlnet"] = "StableDiffusionControlNetPipeline", []string{"diffusers", "ControlNetModel"}
	if b, err = json.Marshal(mi); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(index, b, 0o644); err != nil {
		t.Fatal(err)
	}
	recipe := func(sd, cn string) string {
		return `
version: 1
models:
  sd: {path: ` + sd + `}
  cn: {path: ` + cn + `}
prompt: a photo
seed: 6
steps: 6
stages:
  - participants:
      - model: sd
        controls: [{model: cn, image: controls/galaxies.png, scale: 1}]
`
	}
	got := runRecipe(t, recipe(pipe, pipe+", family: controlnet"))
	want := runRecipe(t, recipe("sd15-cn", "controlnet-sd15"))
	if !slices.Equal(got.Image.Data, want.Image.Data) {
		t.Errorf("the pipeline's controlnet/ renders %.1f dB from the same ControlNet's own folder", latent.PSNR(got.Image, want.Image, 1))
	}
}
