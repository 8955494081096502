package recipes

import (
	"reflect"
	"strings"
	"testing"
)

const twoModels = `version: 1
models:
  base: {path: models/sd15}
  xl: {path: models/sdxl}
  canny: {path: models/canny}
seeds: [1, 2]
stages:
  - model: base
    until: 0.5
  - participants:
      - model: xl
      - {model: base, weight: 0.5}
`

func TestSet(t *testing.T) {
	dir := recipeDir(t)
	load := func(sets ...string) (*Recipe, error) {
		return Loader{Sets: sets}.LoadBytes("r.yaml", []byte(twoModels), dir)
	}
	r, err := load(
		"steps=20",
		"prompt=a cat: sitting, # not a comment",
		`negative="blurry"`,
		"stages.1.participants.1.weight=[[1, 0.2], [0, 0.8]]",
		"stages.0.model=xl",
		"seed=7",
		"stages.1.participants.0.controls.0={model: canny, image: control.png}",
		"models.extra.path=models/sd15",
		"output.name={recipe}-{seed}-x",
	)
	if err != nil {
		t.Fatal(err)
	}
	if r.Steps != 20 || !r.Has("steps") {
		t.Errorf("steps = %d", r.Steps)
	}
	if r.Prompt != "a cat: sitting, # not a comment" {
		t.Errorf("a text field's value is taken literally; got prompt %q", r.Prompt)
	}
	if r.Negative != "blurry" {
		t.Errorf("a quoted value is unquoted; got negative %q", r.Negative)
	}
	if w := r.Stages[1].Participants[1].Weight; w.Constant || !reflect.DeepEqual(w.Points, []WeightPoint{{0, 0.8}, {1, 0.2}}) {
		t.Errorf("weight = %+v", *w)
	}
	if r.Stages[0].Participants[0].Model != "xl" {
		t.Errorf("stages.0.model set the primary to %q, want xl", r.Stages[0].Participants[0].Model)
	}
	if r.Seed == nil || *r.Seed != 7 || r.Seeds != nil {
		t.Errorf("seed=7 on a recipe with seeds: seed %v seeds %v; want 7 alone", r.Seed, r.Seeds)
	}
	if c := r.Stages[1].Participants[0].Controls; len(c) != 1 || c[0].Model != "canny" {
		t.Errorf("appended control = %+v", c)
	}
	if r.Models["extra"] == nil || r.Models["extra"].Path != "models/sd15" {
		t.Errorf("new model = %+v", r.Models["extra"])
	}
	if got := r.Pos("steps").String(); got != "--set steps=20" {
		t.Errorf("Pos(steps) = %q, want the --set argument", got)
	}
	if got := r.Pos("stages.1.participants.0").String(); got != "r.yaml:11:9" {
		t.Errorf("Pos of an untouched participant = %q, want r.yaml:11:9", got)
	}
}

func TestSetErrors(t *testing.T) {
	dir := recipeDir(t)
	for _, tc := range []struct{ arg, want string }{
		{"steps=many", `--set steps=many: steps: expected an integer, got "many"`},
		{"steps", "--set steps: expected path=value"},
		{"stpes=20", `--set stpes=20: unknown field "stpes" (did you mean "steps"?)`},
		{"stages.0.participants.0.wieght=0.5", `--set stages.0.participants.0.wieght=0.5: unknown field "wieght" in stages.0.participants.0 (did you mean "weight"?)`},
		{"stages.x.until=0.5", `--set stages.x.until=0.5: stages is a list; "x" is not an index`},
		{"stages.5.until=0.5", "--set stages.5.until=0.5: stages has 2 entries; index 5 is past the end (2 adds one)"},
		{"steps.x=1", "--set steps.x=1: steps is a single value; it has no part \"x\""},
		{"stages.1.participants.1.weight.0=1", "--set stages.1.participants.1.weight.0=1: stages.1.participants.1.weight is a single value"},
		{"stages.0.until=1.5", "--set stages.0.until=1.5: stages.0.until: must be between 0 and 1 (exclusive), got 1.5"},
		{"models.base.path=models/none", "--set models.base.path=models/none: models.base.path: model folder models/none ("},
		{"stages.0.model=bsae", `--set stages.0.model=bsae: stages.0.participants.0.model: unknown model "bsae" (did you mean "base"?)`},
		{"width=[1, 2", "--set width=[1, 2: the value is not valid YAML"},
		{"version=2", "--set version=2: version cannot be set from the command line"},
		{"sweep.steps=[1, 2]", "--set sweep.steps=[1, 2]: sweep cannot be set"},
		{"models.1x.path=a", `--set models.1x.path=a: "1x" is not a model name`},
		{"=3", "--set =3: the field path is empty"},
	} {
		_, err := Loader{Sets: []string{tc.arg}}.LoadBytes("r.yaml", []byte(twoModels), dir)
		if err == nil || !strings.HasPrefix(err.Error(), tc.want) {
			t.Errorf("--set %s: got %v\nwant %q", tc.arg, err, tc.want)
		}
	}
}

func TestRecipeSet(t *testing.T) {
	dir := recipeDir(t)
	r, err := LoadBytes("r.yaml", []byte(twoModels), dir)
	if err != nil {
		t.Fatal(err)
	}
	r2, err := r.Set("stages.0.until=0.25", "guidance=3")
	if err != nil {
		t.Fatal(err)
	}
	if *r2.Stages[0].Until != 0.25 || *r2.Guidance != 3 {
		t.Errorf("Set: until %v guidance %v", *r2.Stages[0].Until, *r2.Guidance)
	}
	if *r.Stages[0].Until != 0.5 || r.Guidance != nil {
		t.Errorf("Set changed the original recipe")
	}
	// A second Set on the result still knows the first arguments' positions.
	r3, err := r2.Set("steps=0")
	if err == nil || !strings.HasPrefix(err.Error(), "--set steps=0: steps: must be between 1 and 1000") {
		t.Errorf("second Set: %v, %v", r3, err)
	}
	if got := r2.Pos("guidance").String(); got != "--set guidance=3" {
		t.Errorf("Pos(guidance) = %q", got)
	}
}

// TestSetWholeStage checks that a stage given whole by --set may use the
// shorthand, and later arguments may address its participants.
func TestSetWholeStage(t *testing.T) {
	dir := recipeDir(t)
	r, err := Loader{Sets: []string{"stages.1={model: xl}", "stages.1.participants.0.guidance=2"}}.LoadBytes("r.yaml", []byte(twoModels), dir)
	if err != nil {
		t.Fatal(err)
	}
	p := r.Stages[1].Participants
	if len(p) != 1 || p[0].Model != "xl" || *p[0].Guidance != 2 || p[0].Window != FullWindow {
		t.Errorf("stage 1 participants = %+v", p)
	}
}

// TestSetBridgeParts: --set reaches each field of a bridge, whether the
// recipe writes it as a flow or block mapping, as pixel, or not at all;
// sweeps reach them the same way.
func TestSetBridgeParts(t *testing.T) {
	dir := recipeDir(t)
	recipe := func(bridge string) string {
		return header + "stages:\n  - participants:\n      - model: base\n      - model: xl\n" + bridge
	}
	const at = "stages.0.participants.1.bridge"
	for _, tc := range []struct {
		name, bridge string
		sets         []string
		want         Bridge
	}{
		{"flow", "        bridge: {interposer: a.json, back: b.json, every: 2}\n",
			[]string{at + ".every=4"}, Bridge{Interposer: "a.json", Back: "b.json", Every: 4}},
		{"block", "        bridge:\n          interposer: a.json\n          every: 2\n",
			[]string{at + ".interposer=c.json"}, Bridge{Interposer: "c.json", Every: 2}},
		{"pixel", "        bridge: pixel\n",
			[]string{at + ".every=3"}, Bridge{Every: 3}},
		{"absent", "", []string{at + ".back=b.json"}, Bridge{Back: "b.json", Every: 1}},
		{"whole, then a part", "", []string{at + "={every: 2}", at + ".interposer=a.json"}, Bridge{Interposer: "a.json", Every: 2}},
	} {
		r, err := Loader{Sets: tc.sets, SkipFileChecks: true}.LoadBytes("r.yaml", []byte(recipe(tc.bridge)), dir)
		if err != nil {
			t.Errorf("%s: %v", tc.name, err)
			continue
		}
		if got := r.Stages[0].Participants[1].Bridge; got == nil || *got != tc.want {
			t.Errorf("%s: bridge %+v, want %+v", tc.name, got, tc.want)
		}
	}
	_, err := Loader{Sets: []string{at + ".evry=2"}, SkipFileChecks: true}.LoadBytes("r.yaml", []byte(recipe("")), dir)
	if want := `--set ` + at + `.evry=2: unknown field "evry" in ` + at + ` (did you mean "every"?)`; err == nil || err.Error() != want {
		t.Errorf("misspelt bridge field: %v\nwant %s", err, want)
	}
	r, err := Loader{SkipFileChecks: true}.LoadBytes("r.yaml", []byte(recipe("")+"sweep:\n  "+at+".every: [1, 3]\n"), dir)
	if err != nil {
		t.Fatal(err)
	}
	vs, err := Expand(r)
	if err != nil || len(vs) != 2 || vs[1].Recipe.Stages[0].Participants[1].Bridge.Every != 3 {
		t.Errorf("sweep of bridge.every: %+v, %v", vs, err)
	}
}

// sweptRecipe sweeps the second participant's weight and the seed.
const sweptRecipe = header + `stages:
  - participants:
      - model: base
      - {model: xl, weight: 0.5}
sweep:
  stages.0.participants.1.weight: [0, 0.5, 1]
  seed: [1, 2]
`

// TestSetTakesFieldOutOfSweep: an override of a field the sweep varies
// (or of a field holding it) renders the value given, for every other
// combination; one of a part of a swept field is refused, since each
// sweep value would replace it.
func TestSetTakesFieldOutOfSweep(t *testing.T) {
	dir := recipeDir(t)
	seed5 := Override{Flag: "--seed 5", Set: "seed=5"}
	for _, tc := range []struct {
		name      string
		sets      []string
		overrides []Override
		axes      []string
		seeds     [][]uint64 // per combination
		weight    float64    // of the first combination
	}{
		{"--set of a swept field", []string{"stages.0.participants.1.weight=0.3"}, nil,
			[]string{"seed"}, [][]uint64{{1}, {2}}, 0.3},
		{"--seed", nil, []Override{seed5},
			[]string{"stages.0.participants.1.weight"}, [][]uint64{{5}, {5}, {5}}, 0},
		{"--set seeds replaces a seed axis", []string{"seeds=[7, 8]"}, nil,
			[]string{"stages.0.participants.1.weight"}, [][]uint64{{7, 8}, {7, 8}, {7, 8}}, 0},
		{"a whole participant", []string{"stages.0.participants.1={model: xl, weight: 0.2}"}, []Override{seed5},
			nil, [][]uint64{{5}}, 0.2},
		{"an unswept field", []string{"steps=3"}, nil,
			[]string{"stages.0.participants.1.weight", "seed"}, [][]uint64{{1}, {2}, {1}, {2}, {1}, {2}}, 0},
	} {
		r, err := Loader{Sets: tc.sets, Overrides: tc.overrides}.LoadBytes("r.yaml", []byte(sweptRecipe), dir)
		if err != nil {
			t.Errorf("%s: %v", tc.name, err)
			continue
		}
		var axes []string
		for _, a := range r.Sweep {
			axes = append(axes, a.Path)
		}
		if !reflect.DeepEqual(axes, tc.axes) {
			t.Errorf("%s: swept %q, want %q", tc.name, axes, tc.axes)
		}
		vs, err := Expand(r)
		if err != nil {
			t.Errorf("%s: %v", tc.name, err)
			continue
		}
		var seeds [][]uint64
		for _, v := range vs {
			seeds = append(seeds, v.Recipe.SeedList())
		}
		if !reflect.DeepEqual(seeds, tc.seeds) {
			t.Errorf("%s: seeds %v, want %v", tc.name, seeds, tc.seeds)
		}
		if w := vs[0].Recipe.Stages[0].Participants[1].Weight.At(0); w != tc.weight {
			t.Errorf("%s: weight %g, want %g", tc.name, w, tc.weight)
		}
	}
	// Without a sweep left, images are named as without one.
	r, err := Loader{Sets: []string{"stages.0.participants.1.weight=0.3"}, Overrides: []Override{seed5}}.LoadBytes("r.yaml", []byte(sweptRecipe), dir)
	if err != nil || r.Sweep != nil || r.Output.Name != DefaultOutputName {
		t.Errorf("every axis set: sweep %v, output.name %q, %v", r.Sweep, r.Output.Name, err)
	}
	// The stage shorthand names the same field as its long form.
	r, err = Loader{Sets: []string{"stages.0.participants.0.model=xl"}}.LoadBytes("r.yaml", []byte(header+"stages:\n  - model: base\nsweep:\n  stages.0.model: [base, xl]\n"), dir)
	if err != nil || r.Sweep != nil || r.Stages[0].Participants[0].Model != "xl" {
		t.Errorf("shorthand in the sweep: sweep %v, %v", r.Sweep, err)
	}
	// A part of a swept field.
	_, err = Loader{Sets: []string{"stages.0.participants.1.bridge.every=2"}}.LoadBytes("r.yaml",
		[]byte(header+"stages:\n  - participants: [{model: base}, {model: xl}]\nsweep:\n  stages.0.participants.1.bridge: [pixel, {every: 3}]\n"), dir)
	want := "--set stages.0.participants.1.bridge.every=2: the sweep varies stages.0.participants.1.bridge (r.yaml:9:3), and each of its values replaces all of it"
	if err == nil || !strings.HasPrefix(err.Error(), want) {
		t.Errorf("a part of a swept field: %v\nwant %s", err, want)
	}
}

// TestOverrideNamesFlag: errors about a flag's override name the flag
// the user gave, not a --set they never typed.
func TestOverrideNamesFlag(t *testing.T) {
	dir := recipeDir(t)
	_, err := Loader{Overrides: []Override{{Flag: "--device tpu", Set: "device=tpu"}}}.LoadBytes("r.yaml", []byte(twoModels), dir)
	if want := `--device tpu: device: unknown device "tpu"`; err == nil || !strings.HasPrefix(err.Error(), want) {
		t.Errorf("got %v, want %s...", err, want)
	}
	r, err := Loader{Sets: []string{"device=cpu"}, Overrides: []Override{{Flag: "--device cuda", Set: "device=cuda"}}}.LoadBytes("r.yaml", []byte(twoModels), dir)
	if err != nil || r.Device != "cuda" || r.Pos("device").String() != "--device cuda" {
		t.Errorf("the flag comes after --set: device %q at %v, %v", r.Device, r.Pos("device"), err)
	}
}
