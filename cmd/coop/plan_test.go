package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/coop-diffusion/coop/internal/fixtures"
)

// planDir links the zoo's folders names into a new folder and writes
// recipe there as plan.yaml, whose path it returns.
func planDir(t *testing.T, recipe string, names ...string) string {
	t.Helper()
	dir := t.TempDir()
	for _, f := range names {
		if err := os.Symlink(filepath.Join(fixtures.Zoo(t), f), filepath.Join(dir, f)); err != nil {
			t.Fatal(err)
		}
	}
	path := filepath.Join(dir, "plan.yaml")
	if err := os.WriteFile(path, []byte(recipe), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// planText runs coop plan on recipe and returns its output.
func planText(t *testing.T, recipe string) string {
	t.Helper()
	r := coopCLI(t, "plan", recipe)
	if r.code != 0 {
		t.Fatalf("coop plan: exit %d\n%s", r.code, r.stderr)
	}
	return r.stdout
}

// TestPlanNamesTheDecoder: the stage B evaluations of a Stable Cascade
// prior decoded through a decoder show under the decoder's name, with no
// predictions (docs/RECIPES.md), alone and in a fusion, and the steps
// whose bridges decode through stage B say how many of their evaluations
// that is.
func TestPlanNamesTheDecoder(t *testing.T) {
	alone := planText(t, planDir(t, `version: 1
models:
  prior: {path: cascade-prior, decoder: dec}
  dec: {path: cascade-decoder}
prompt: a rocket
seed: 6
`, "cascade-prior", "cascade-decoder"))
	for _, want := range []string{
		"models:\n",
		"  dec    0 predictions   10 evaluations (stage B, 1 decode of prior's latents)\n",
		"  prior  20 predictions  20 evaluations\n",
		"total: 30 model evaluations (denoisers)",
	} {
		if !strings.Contains(alone, want) {
			t.Errorf("the plan of a prior decoded through a decoder does not say %q:\n%s", want, alone)
		}
	}

	fused := planText(t, planDir(t, `version: 1
models:
  sd: {path: sd15}
  prior: {path: cascade-prior, decoder: dec, decoder_steps: 3}
  dec: {path: cascade-decoder}
prompt: a rocket
seed: 6
steps: 4
stages:
  - participants:
      - {model: sd, weight: 0.5}
      - {model: prior, weight: 0.5}
`, "sd15", "cascade-prior", "cascade-decoder"))
	// The prior predicts and is decoded at each of the 4 steps: 12 stage B
	// evaluations, 3 a step.
	for _, want := range []string{
		"  dec    0 predictions  12 evaluations (stage B, 4 decodes of prior's latents)\n",
		"step 1: 5 evaluations (3 in stage B decodes), 1 bridge carry (decode+encode); steps 2-4: 5 evaluations (3 in stage B decodes), 2 bridge carries",
	} {
		if !strings.Contains(fused, want) {
			t.Errorf("the plan of a fusion with a prior decoded through a decoder does not say %q:\n%s", want, fused)
		}
	}
}

// TestPlanInterposerSteps: a participant bridged through interposer files
// is carried by a linear map, and the plan's steps say so rather than
// counting pixel-bridge carries (decode+encode) the bridges never make.
func TestPlanInterposerSteps(t *testing.T) {
	recipe := planDir(t, `version: 1
models:
  sd: {path: sd15}
  xl: {path: sdxl}
prompt: a cup of coffee
seed: 3
steps: 4
stages:
  - participants:
      - model: sd
      - model: xl
        weight: 0.5
        bridge: {interposer: xl-to-sd.json, back: sd-to-xl.json}
`, "sd15", "sdxl")
	dir := filepath.Dir(recipe)
	for _, f := range []struct{ from, to, file string }{{"sdxl", "sd15", "xl-to-sd.json"}, {"sd15", "sdxl", "sd-to-xl.json"}} {
		r := coopCLI(t, "interposer", "fit", "--from", filepath.Join(dir, f.from), "--to", filepath.Join(dir, f.to), "--holdout", "0", "--out", filepath.Join(dir, f.file))
		if r.code != 0 {
			t.Fatalf("interposer fit: exit %d\n%s", r.code, r.stderr)
		}
	}
	out := planText(t, recipe)
	if want := "per step: step 1: 2 evaluations, 1 interposer map (latents to latents); steps 2-4: 2 evaluations, 2 interposer maps (latents to latents)\n"; !strings.Contains(out, want) {
		t.Errorf("the plan does not say %q:\n%s", want, out)
	}
	if strings.Contains(out, "bridge carr") {
		t.Errorf("the plan counts pixel-bridge carries where interposers map the latents:\n%s", out)
	}
}

// TestPlanJSONKeys: every key of coop plan --json is snake_case, those of
// the model files under memory.files included.
func TestPlanJSONKeys(t *testing.T) {
	_, recipe := runDir(t)
	r := coopCLI(t, "plan", "--json", recipe)
	if r.code != 0 {
		t.Fatalf("coop plan --json: exit %d\n%s", r.code, r.stderr)
	}
	var doc any
	if err := json.Unmarshal([]byte(r.stdout), &doc); err != nil {
		t.Fatal(err)
	}
	bad := map[string]bool{}
	var walk func(path string, v any)
	walk = func(path string, v any) {
		switch v := v.(type) {
		case map[string]any:
			for k, e := range v {
				p := path + "." + k
				if path == ".variants[].estimate.memory.files" {
					p = path + ".MODEL" // keyed by recipe model names
				} else if k != strings.ToLower(k) {
					bad[p] = true
				}
				walk(p, e)
			}
		case []any:
			for _, e := range v {
				walk(path+"[]", e)
			}
		}
	}
	walk("", doc)
	if len(bad) > 0 {
		var keys []string
		for k := range bad {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		t.Errorf("keys not in snake_case: %s", strings.Join(keys, ", "))
	}
	var out planOutput
	if err := json.Unmarshal([]byte(r.stdout), &out); err != nil {
		t.Fatal(err)
	}
	files := out.Variants[0].Estimate.Memory.Files["sd"]
	if len(files) == 0 || files[0].Rel != "text_encoder/model.onnx" || files[0].Size <= 0 || !filepath.IsAbs(files[0].Path) {
		t.Errorf("memory.files.sd: %+v", files)
	}
	if !strings.Contains(r.stdout, `"rel": "unet/model.onnx"`) {
		t.Errorf("memory.files does not name its files by rel:\n%s", r.stdout)
	}
}
