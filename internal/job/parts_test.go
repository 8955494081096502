package job_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/coop-diffusion/coop/adapters"
	"github.com/coop-diffusion/coop/graphs"
	"github.com/coop-diffusion/coop/internal/fixtures"
	"github.com/coop-diffusion/coop/internal/job"
	"github.com/coop-diffusion/coop/recipes"
)

// partsWorkspace links the zoo's sd15, sdxl and Stable Cascade folders and
// control images into a folder, beside copies of sd15 without its VAE
// encoder (noenc) or decoder (nodec) and of the Stable Cascade prior
// without its previewer (prior-nopreview).
func partsWorkspace(t *testing.T) string {
	t.Helper()
	src := zoo(t)
	dir := t.TempDir()
	for _, name := range []string{"sd15", "sdxl", "cascade-prior", "cascade-decoder", "controls"} {
		if err := os.Symlink(filepath.Join(src, name), filepath.Join(dir, name)); err != nil {
			t.Fatal(err)
		}
	}
	for _, c := range []struct{ from, to, drop string }{
		{"sd15", "noenc", "vae_encoder"},
		{"sd15", "nodec", "vae_decoder"},
		{"cascade-prior", "prior-nopreview", "previewer"},
	} {
		fixtures.CopyTree(t, filepath.Join(src, c.from), filepath.Join(dir, c.to))
		if err := os.RemoveAll(filepath.Join(dir, c.to, c.drop)); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

// runUnchecked compiles and runs r as Prepare would let it, but without
// the check of the models' parts: what the engine itself does with the
// recipe.
func runUnchecked(t *testing.T, r *recipes.Recipe) error {
	t.Helper()
	infos := map[string]*adapters.Info{}
	for _, name := range r.ModelNames() {
		m := r.Models[name]
		info, err := adapters.Check(r.Path(m.Path), adapters.LoadOptions{Name: name, FamilyOverride: adapters.Family(m.Family)})
		if err != nil {
			t.Fatal(err)
		}
		infos[name] = info
	}
	plan, err := graphs.Compile(r, infos)
	if err != nil {
		t.Fatal(err)
	}
	j := &job.Job{Recipe: r, Infos: infos, Plan: plan}
	ms, err := j.Load(context.Background(), adapters.LoadOptions{Session: j.SessionOptions()})
	if err != nil {
		return err
	}
	defer ms.Close()
	_, err = j.Run(context.Background(), ms, job.RunOptions{Seed: plan.Seed})
	return err
}

// TestPrepareRefusesMissingParts: a recipe that asks a model for a part
// it lacks (a unet file alone as a participant, a folder without the VAE
// encoder or decoder that img2img, a renoise hand-over, a pixel bridge or
// the final decode uses) is refused by Prepare, which validate, plan and
// run share, at the recipe field at fault; the engine would fail on each,
// some after every step has run. Recipes that need no missing part, a
// bridge that never carries back among them, still pass and run.
func TestPrepareRefusesMissingParts(t *testing.T) {
	dir := partsWorkspace(t)
	const head = "version: 1\nprompt: a photo of a cat\nseed: 1\nsteps: 4\n"
	for _, c := range []struct {
		name, yaml string
		// line and col of the field at fault and what the error says;
		// zero when Prepare must accept the recipe.
		line, col int
		want      []string
	}{
		{"unet file as the only model", head + `models:
  u: {path: sd15/unet/model.onnx}
`, 6, 13, []string{"models.u.path: model u", "cannot be the primary participant of stage 1-u", "no text encoder or autoencoder (VAE)", "is a single model file"}},
		{"unet file as a second participant", head + `models:
  sd: {path: sd15}
  u: {path: sdxl/unet/model.onnx}
stages:
  - participants:
      - model: sd
      - model: u
`, 11, 16, []string{"stages.0.participants.1.model: model u", "cannot be a participant of stage 1-sd"}},
		{"img2img without an encoder", head + `models:
  a: {path: noenc}
img2img: {image: controls/cat.png, strength: 0.5}
`, 6, 13, []string{"models.a.path: model a", "has no encoder (vae_encoder/model.onnx)", "starts from the img2img image"}},
		{"final decode without a decoder", head + `models:
  a: {path: nodec}
`, 6, 13, []string{"models.a.path: model a", "has no decoder (vae_decoder/model.onnx)", "decoded into the image"}},
		{"renoise into a model without an encoder", head + `models:
  xl: {path: sdxl}
  a: {path: noenc}
stages:
  - {model: xl, until: 0.5}
  - {model: a}
`, 10, 13, []string{"stages.1.participants.0.model: model a", "has no encoder", "transition renoise"}},
		{"renoise out of a model without a decoder", head + `models:
  a: {path: nodec}
  xl: {path: sdxl}
stages:
  - {model: a, until: 0.5}
  - {model: xl}
`, 9, 13, []string{"stages.0.participants.0.model: model a", "has no decoder", "hands its clean estimate to stage 2-xl"}},
		{"foreign participant without an encoder", head + `models:
  xl: {path: sdxl}
  a: {path: noenc}
stages:
  - participants:
      - model: xl
      - {model: a, weight: 0.5}
`, 11, 17, []string{"stages.0.participants.1.model: model a", "has no encoder", "carried back through pixels", "bridge.back"}},
		{"foreign participant without a decoder", head + `models:
  xl: {path: sdxl}
  a: {path: nodec}
stages:
  - participants:
      - model: xl
      - {model: a, weight: 0.5}
`, 11, 17, []string{"stages.0.participants.1.model: model a", "has no decoder", "carries its estimates to it", "bridge.interposer"}},
		{"foreign participant without an encoder that never takes the estimate back", head + `models:
  xl: {path: sdxl}
  a: {path: noenc}
stages:
  - participants:
      - model: xl
      - {model: a, weight: 0.5, bridge: {every: 10}}
`, 0, 0, nil},
		{"text to image without an encoder", head + `models:
  a: {path: noenc}
`, 0, 0, nil},
		{"a prior without a previewer decoded through stage B and A", head + `models:
  p: {path: prior-nopreview, decoder: d, decoder_steps: 2}
  d: {path: cascade-decoder}
`, 0, 0, nil},
	} {
		t.Run(c.name, func(t *testing.T) {
			r, err := recipes.LoadBytes(filepath.Join(dir, "test.yaml"), []byte(c.yaml), dir)
			if err != nil {
				t.Fatal(err)
			}
			_, err = job.Prepare(r)
			runErr := runUnchecked(t, r)
			if c.line == 0 {
				if err != nil {
					t.Fatalf("Prepare refused a recipe the engine runs: %v", err)
				}
				if runErr != nil {
					t.Fatalf("the engine refused a recipe Prepare accepts: %v", runErr)
				}
				return
			}
			var re *recipes.Error
			if !errors.As(err, &re) {
				t.Fatalf("Prepare: %v, want a recipe error", err)
			}
			if re.Line != c.line || re.Col != c.col {
				t.Errorf("error at %d:%d, want %d:%d: %v", re.Line, re.Col, c.line, c.col, err)
			}
			for _, w := range c.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error does not say %q: %v", w, err)
				}
			}
			if runErr == nil {
				t.Errorf("the engine runs the recipe Prepare refuses")
			}
			t.Logf("%v\n(the engine: %v)", err, runErr)
		})
	}
}
