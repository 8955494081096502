package recipes

import (
	"reflect"
	"strings"
	"testing"
)

func TestExpand(t *testing.T) {
	dir := recipeDir(t)
	src := twoModels + "sweep:\n  stages.1.participants.1.weight: [0, 0.5, [[1, 0.2], [0, 0.8]]]\n  seed: [10, 20]\n"
	r, err := LoadBytes("r.yaml", []byte(src), dir)
	if err != nil {
		t.Fatal(err)
	}
	if r.Sweep.Len() != 6 || !reflect.DeepEqual(r.Sweep.Shape(), []int{3, 2}) {
		t.Errorf("Len %d Shape %v, want 6 and [3 2]", r.Sweep.Len(), r.Sweep.Shape())
	}
	if r.Output.Name != DefaultSweepName {
		t.Errorf("default output name with a sweep = %q, want %q", r.Output.Name, DefaultSweepName)
	}
	vs, err := Expand(r)
	if err != nil {
		t.Fatal(err)
	}
	wantLabels := []string{
		"weight=0 seed=10", "weight=0 seed=20",
		"weight=0.5 seed=10", "weight=0.5 seed=20",
		"weight=[[1, 0.2], [0, 0.8]] seed=10", "weight=[[1, 0.2], [0, 0.8]] seed=20",
	}
	if len(vs) != len(wantLabels) {
		t.Fatalf("%d variants, want %d", len(vs), len(wantLabels))
	}
	for i, v := range vs {
		if v.Number != i || v.Label != wantLabels[i] || !reflect.DeepEqual(v.Index, []int{i / 2, i % 2}) {
			t.Errorf("variant %d: number %d label %q index %v; want label %q", i, v.Number, v.Label, v.Index, wantLabels[i])
		}
		vr := v.Recipe
		if len(vr.Sweep) != 0 {
			t.Errorf("variant %d keeps a sweep", i)
		}
		if want := uint64(10 + 10*(i%2)); vr.Seed == nil || *vr.Seed != want || vr.Seeds != nil {
			t.Errorf("variant %d: seed %v seeds %v, want %d alone", i, vr.Seed, vr.Seeds, want)
		}
		if vr.Output.Name != DefaultSweepName {
			t.Errorf("variant %d output name %q", i, vr.Output.Name)
		}
		w := vr.Stages[1].Participants[1].Weight
		switch i / 2 {
		case 0, 1:
			if !w.Constant || w.At(0.3) != []float64{0, 0.5}[i/2] {
				t.Errorf("variant %d: weight %+v", i, *w)
			}
		case 2:
			if w.Constant || len(w.Points) != 2 {
				t.Errorf("variant %d: weight %+v, want the curve", i, *w)
			}
		}
		// Variants point at the swept values in the file.
		if got := vr.Pos("seed").String(); got != []string{"r.yaml:15:10", "r.yaml:15:14"}[i%2] {
			t.Errorf("variant %d: Pos(seed) = %s", i, got)
		}
	}
	if !reflect.DeepEqual(r.Stages[1].Participants[1].Weight, ConstantWeight(0.5)) {
		t.Errorf("Expand changed the recipe")
	}
}

func TestExpandWithoutSweep(t *testing.T) {
	dir := recipeDir(t)
	r, err := LoadBytes("r.yaml", []byte(twoModels), dir)
	if err != nil {
		t.Fatal(err)
	}
	vs, err := Expand(r)
	if err != nil || len(vs) != 1 || vs[0].Recipe != r || vs[0].Label != "" {
		t.Errorf("Expand without a sweep = %+v, %v", vs, err)
	}
}

func TestSweepLabels(t *testing.T) {
	s := Sweep{{Path: "stages.0.participants.1.weight"}, {Path: "stages.1.participants.1.weight"}, {Path: "seed"}, {Path: "stages.0.until"}}
	want := []string{"0.participants.1.weight", "1.participants.1.weight", "seed", "until"}
	if got := s.Labels(); !reflect.DeepEqual(got, want) {
		t.Errorf("Labels = %q, want %q", got, want)
	}
}

// TestSweepCombinationError checks that a combination that is invalid only
// together with the rest of the recipe is reported at the swept value,
// naming the combination.
func TestSweepCombinationError(t *testing.T) {
	dir := recipeDir(t)
	src := "version: 1\nmodels: {a: {path: models/sd15}, b: {path: models/sdxl}}\nstages:\n" +
		"  - {model: a, until: 0.3}\n  - {model: b, until: 0.6}\n  - model: a\nsweep:\n  stages.1.until: [0.5, 0.2]\n"
	_, err := LoadBytes("r.yaml", []byte(src), dir)
	want := "r.yaml:8:25: stages.1.until: 0.2 must be greater than stages.0.until (0.3); stages follow the trajectory from noise to image (in sweep combination until=0.2)"
	if err == nil || err.Error() != want {
		t.Errorf("got  %v\nwant %s", err, want)
	}
}

func TestSweepErrors(t *testing.T) {
	dir := recipeDir(t)
	for _, tc := range []struct{ sweep, want string }{
		{"  version: [1, 2]", "r.yaml:4:3: sweep: version cannot be swept"},
		{"  seed: [1]\n  seed: [2]", "r.yaml:5:3: sweep: seed is swept twice (first at r.yaml:4:3)"},
		{"  stages.0.model: [a]\n  stages.0.participants.0.model: [a]", "r.yaml:5:3: sweep: stages.0.participants.0.model is swept twice"},
		{"  seed: []", "r.yaml:4:9: sweep.seed: expected a non-empty list of values to render, got a list"},
		{"  seed: [&x 1, *x]", "r.yaml:4:16: sweep.seed: aliases (*x) are not supported"},
		{"  steps: [10, 20]\noutput: {name: \"{seed}\"}", `r.yaml:5:16: output.name: "{seed}" gives every sweep combination the same file name; add {variant}`},
	} {
		src := "version: 1\nmodels: {a: {path: models/sd15}}\nsweep:\n" + tc.sweep + "\n"
		_, err := LoadBytes("r.yaml", []byte(src), dir)
		if err == nil || !strings.HasPrefix(err.Error(), tc.want) {
			t.Errorf("%s:\ngot  %v\nwant %s", tc.sweep, err, tc.want)
		}
	}
}
