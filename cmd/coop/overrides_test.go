package main

import (
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/coop-diffusion/coop/internal/fixtures"
	"github.com/coop-diffusion/coop/internal/ort"
	"github.com/coop-diffusion/coop/recipes"
)

// linkZoo links the zoo's folders names into a new folder and returns it.
func linkZoo(t *testing.T, names ...string) string {
	t.Helper()
	dir := t.TempDir()
	for _, f := range names {
		if err := os.Symlink(filepath.Join(fixtures.Zoo(t), f), filepath.Join(dir, f)); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

func writeRecipe(t *testing.T, path, text string) string {
	t.Helper()
	if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// seedSweep sweeps the seed and the second participant's weight.
const seedSweep = `version: 1
models:
  sd: {path: sd15}
  xl: {path: sdxl}
prompt: a photo of a coffee
steps: 2
stages:
  - participants:
      - {model: sd}
      - {model: xl, weight: 0.5}
sweep:
  seed: [1, 2]
  stages.0.participants.1.weight: [0, 1]
`

// TestOverridesReplaceSweptFields: --seed renders that seed alone for
// every other sweep combination, and a --set of a swept field renders the
// value set, in run, plan, validate and bench alike.
func TestOverridesReplaceSweptFields(t *testing.T) {
	isolateCache(t)
	dir := linkZoo(t, "sd15", "sdxl")
	recipe := writeRecipe(t, filepath.Join(dir, "mix.yaml"), seedSweep)

	r := coopCLI(t, "run", "--json", "--seed", "5", recipe)
	if r.code != 0 {
		t.Fatalf("run --seed 5: exit %d\n%s", r.code, r.stderr)
	}
	var got []string
	for _, im := range ofKind(events(t, r.stdout), "image") {
		got = append(got, filepath.Base(im.Path)+" "+im.Variant)
	}
	if want := []string{"mix-0-5.png weight=0", "mix-1-5.png weight=1"}; strings.Join(got, ", ") != strings.Join(want, ", ") {
		t.Errorf("run --seed 5 rendered %q, want %q", got, want)
	}

	r = coopCLI(t, "plan", "--json", "--seed", "5", recipe)
	var plan planOutput
	if err := json.Unmarshal([]byte(r.stdout), &plan); r.code != 0 || err != nil {
		t.Fatalf("plan --seed 5: exit %d, %v\n%s", r.code, err, r.stderr)
	}
	if plan.Images != 2 || len(plan.Variants) != 2 || plan.Variants[0].Seeds[0] != 5 || plan.Variants[1].Seeds[0] != 5 {
		t.Errorf("plan --seed 5: %d images, variants %+v", plan.Images, plan.Variants)
	}

	weight := "--set=stages.0.participants.1.weight=0.25"
	r = coopCLI(t, "plan", "--json", weight, recipe)
	if err := json.Unmarshal([]byte(r.stdout), &plan); r.code != 0 || err != nil {
		t.Fatalf("plan %s: exit %d, %v\n%s", weight, r.code, err, r.stderr)
	}
	if plan.Images != 2 || plan.Variants[0].Label != "seed=1" || plan.Variants[1].Label != "seed=2" {
		t.Errorf("plan %s: %d images, variants %+v; want the seed sweep alone", weight, plan.Images, plan.Variants)
	}
	r = coopCLI(t, "validate", weight, "--set", "seed=3", recipe)
	if want := recipe + ": ok (2 models, 1 stage, 1 image;"; r.code != 0 || !strings.Contains(r.stdout, want) {
		t.Errorf("validate with every swept field set: exit %d, want %q\n%s%s", r.code, want, r.stdout, r.stderr)
	}

	r = coopCLI(t, "run", "--json", "--out", filepath.Join(dir, "set"), weight, "--seed", "4", recipe)
	if r.code != 0 {
		t.Fatalf("run %s --seed 4: exit %d\n%s", weight, r.code, r.stderr)
	}
	images := ofKind(events(t, r.stdout), "image")
	if len(images) != 1 || filepath.Base(images[0].Path) != "mix-4.png" || len(ofKind(events(t, r.stdout), "contact_sheet")) != 0 {
		t.Fatalf("run with every swept field set: %+v; want mix-4.png alone, no contact sheet", images)
	}
	data, err := os.ReadFile(images[0].Path)
	if err != nil {
		t.Fatal(err)
	}
	if text, err := recipes.ExtractFromPNG(data); err != nil || !strings.Contains(text, "weight: 0.25") || !strings.Contains(text, "seed: 4") {
		t.Errorf("the image's recipe does not hold the values set (%v):\n%s", err, text)
	}

	r = coopCLI(t, "bench", "--runs", "0", "--json", "--seed", "7", recipe)
	var bench benchOutput
	if err := json.Unmarshal([]byte(r.stdout), &bench); r.code != 0 || err != nil || bench.Seed != 7 {
		t.Errorf("bench --seed 7: exit %d, seed %d, %v\n%s", r.code, bench.Seed, err, r.stderr)
	}
}

// TestRerunNames: a re-run that changes the PNG's recipe never takes the
// name of the true re-run, and the same change always gets the same name.
func TestRerunNames(t *testing.T) {
	isolateCache(t)
	dir := linkZoo(t, "sd15")
	if err := os.Symlink(filepath.Join(dir, "sd15"), filepath.Join(dir, "moved")); err != nil {
		t.Fatal(err)
	}
	recipe := writeRecipe(t, filepath.Join(dir, "cat.yaml"), "version: 1\nmodels:\n  sd: {path: sd15}\nprompt: a photo of a cat\nseed: 1\nsteps: 2\n")
	if r := coopCLI(t, "run", "--out", dir, recipe); r.code != 0 {
		t.Fatalf("exit %d\n%s", r.code, r.stderr)
	}
	png := filepath.Join(dir, "cat-1.png")
	rerun := func(args ...string) (string, cliResult) {
		t.Helper()
		r := coopCLI(t, append(append([]string{"run", "--json"}, args...), png)...)
		images := ofKind(events(t, r.stdout), "image")
		if r.code != 0 || len(images) == 0 {
			return "", r
		}
		return filepath.Base(images[0].Path), r
	}
	hash := `[0-9a-f]{8}`
	var changed string
	for _, tc := range []struct {
		args []string
		want string // a regular expression; $changed is the name of --set steps=3
	}{
		{nil, `cat-1-rerun\.png`},
		{[]string{"--seed", "3"}, `cat-1-rerun-seed3\.png`},
		{[]string{"--set", "steps=3"}, `cat-1-rerun-` + hash + `\.png`},
		{[]string{"--set", "steps=3", "--seed", "3"}, `$changed-seed3\.png`},
		{[]string{"--set", "seeds=[4, 5]", "--set", "steps=3"}, `$changed-seed4\.png`}, // then seed5
		{[]string{"--device", "cpu", "--set", "steps=3", "--force"}, `$changed\.png`},  // the PNG's device
		{[]string{"--set", "models.sd.path=" + filepath.Join(dir, "moved"), "--force"}, `cat-1-rerun\.png`},
	} {
		name, r := rerun(tc.args...)
		want := strings.ReplaceAll(tc.want, "$changed", regexp.QuoteMeta(strings.TrimSuffix(changed, ".png")))
		if !regexp.MustCompile(`^` + want + `$`).MatchString(name) {
			t.Errorf("re-run with %q wrote %q, want %s (exit %d)\n%s", tc.args, name, want, r.code, r.stderr)
		}
		if changed == "" && strings.Contains(tc.want, hash) {
			changed = name
		}
	}
	if _, err := os.Stat(filepath.Join(dir, strings.TrimSuffix(changed, ".png")+"-seed5.png")); err != nil {
		t.Errorf("the second seed of --set seeds=[4, 5]: %v", err)
	}
	// The true re-run is not replaced by one that changes the recipe,
	// nor the other way round.
	if r := coopCLI(t, "run", "--set", "seed=1", png); r.code != 2 || !strings.Contains(r.stderr, "cat-1-rerun.png exists") {
		t.Errorf("an override that changes nothing: exit %d, want 2 and the true re-run's name\n%s", r.code, r.stderr)
	}
}

// TestValidateAndPlanReadPNG: coop validate and coop plan read the recipe
// a coop PNG holds, as coop run re-runs it, with the same warning about
// another coop version.
func TestValidateAndPlanReadPNG(t *testing.T) {
	isolateCache(t)
	dir := linkZoo(t, "sd15")
	recipe := writeRecipe(t, filepath.Join(dir, "cat.yaml"), "version: 1\nmodels:\n  sd: {path: sd15}\nprompt: a photo of a cat\nseed: 1\nsteps: 2\n")
	if r := coopCLI(t, "run", "--out", dir, recipe); r.code != 0 {
		t.Fatalf("exit %d\n%s", r.code, r.stderr)
	}
	png := filepath.Join(dir, "cat-1.png")
	if r := coopCLI(t, "validate", png); r.code != 0 || !strings.Contains(r.stdout, png+": ok (1 model, 1 stage, 1 image;") || r.stderr != "" {
		t.Errorf("validate PNG: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	if r := coopCLI(t, "plan", png); r.code != 0 || !strings.Contains(r.stdout, png+": 1 image") {
		t.Errorf("plan PNG: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}

	data, err := os.ReadFile(png)
	if err != nil {
		t.Fatal(err)
	}
	text, err := recipes.ExtractFromPNG(data)
	if err != nil {
		t.Fatal(err)
	}
	embed := func(name, text string) string {
		t.Helper()
		p := filepath.Join(dir, name)
		withText, err := recipes.EmbedInPNG(data, recipes.PNGKey, text)
		if err == nil {
			err = os.WriteFile(p, withText, 0o644)
		}
		if err != nil {
			t.Fatal(err)
		}
		return p
	}
	old := embed("old.png", strings.Replace(text, "coop_version: "+version, "coop_version: 0.0.1", 1))
	for _, command := range []string{"validate", "run"} {
		r := coopCLI(t, command, old)
		if want := "warning: " + old + " was made by coop 0.0.1, this is coop " + version + "; the image may differ"; r.code != 0 || !strings.Contains(r.stderr, want) {
			t.Errorf("%s of another version's PNG: exit %d, want 0 and %q\n%s", command, r.code, want, r.stderr)
		}
	}
	typo := embed("typo.png", text+"stpes: 3\n")
	if r := coopCLI(t, "validate", typo); r.code != 2 || !strings.Contains(r.stderr, typo+"[coop-recipe]:") || !strings.Contains(r.stderr, `unknown field "stpes"`) {
		t.Errorf("validate of a PNG whose recipe has a typo: exit %d\n%s", r.code, r.stderr)
	}
}

// TestRunWithoutRuntimeSaysHowOnce: when no ONNX Runtime library is
// found, coop run says once how to get one.
func TestRunWithoutRuntimeSaysHowOnce(t *testing.T) {
	isolateSetup(t)
	if path, source, err := ort.Locate(""); err == nil {
		t.Skipf("this machine has ONNX Runtime in a system directory (%s, %s); nothing to miss", path, source)
	}
	dir := linkZoo(t, "sd15")
	recipe := writeRecipe(t, filepath.Join(dir, "cat.yaml"), "version: 1\nmodels:\n  sd: {path: sd15}\nsteps: 2\n")
	r := coopCLI(t, "run", recipe)
	if r.code != 1 || !errors.Is(r.err, ort.ErrNotFound) {
		t.Fatalf("exit %d, %v; want 1 and ONNX Runtime not found", r.code, r.err)
	}
	for _, want := range []string{"coop setup", "--ort-lib"} {
		if n := strings.Count(r.err.Error(), want); n != 1 {
			t.Errorf("the error names %q %d times, want once: %v", want, n, r.err)
		}
	}
}

// TestRerunSetsWhatTheRecipeSet checks that a re-run's --set of a
// top-level field reaches every stage that followed it in the original
// recipe: the PNG records the defaults the models decided where the
// recipe left them (here the refiner's sampler), not copies of the
// top-level steps and guidance on each stage, which would override the
// --set.
func TestRerunSetsWhatTheRecipeSet(t *testing.T) {
	isolateCache(t)
	dir := linkZoo(t, "sdxl", "sdxl-refiner")
	recipe := writeRecipe(t, filepath.Join(dir, "handoff.yaml"), `version: 1
models:
  base: {path: sdxl}
  refiner: {path: sdxl-refiner}
prompt: an astronaut
seed: 2
steps: 5
stages:
  - {model: base, until: 0.8}
  - {model: refiner}
`)
	if r := coopCLI(t, "run", "--out", dir, recipe); r.code != 0 {
		t.Fatalf("exit %d\n%s", r.code, r.stderr)
	}
	r := coopCLI(t, "run", "--json", "--set", "steps=10", filepath.Join(dir, "handoff-2.png"))
	reports := ofKind(events(t, r.stdout), "report")
	if r.code != 0 || len(reports) != 1 {
		t.Fatalf("exit %d, %d reports\n%s", r.code, len(reports), r.stderr)
	}
	if got := reports[0].Report.ModelEvaluations; got != 10 {
		t.Errorf("the re-run with --set steps=10 made %d model evaluations, want 10 (8 base, 2 refiner)", got)
	}
}
