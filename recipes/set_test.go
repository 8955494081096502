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
