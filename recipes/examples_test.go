package recipes

import (
	"path/filepath"
	"strings"
	"testing"
)

// loadDir loads every recipe in dir without checking that the files they
// name exist (the examples are written for model folders this machine
// does not have).
func loadDir(t *testing.T, dir string) map[string]*Recipe {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(dir, "*.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	out := make(map[string]*Recipe)
	for _, f := range files {
		r, err := Loader{SkipFileChecks: true}.Load(f)
		if err != nil {
			t.Errorf("%v", err)
			continue
		}
		if _, err := Expand(r); err != nil {
			t.Errorf("%s: Expand: %v", f, err)
		}
		out[filepath.Base(f)] = r
	}
	return out
}

// useCases checks that a directory holds one recipe for each of SPEC's six
// use cases, by the shape each use case needs.
func useCases(t *testing.T, dir string) {
	rs := loadDir(t, dir)
	if len(rs) != 6 {
		t.Fatalf("%s holds %d recipes, want one per use case (6)", dir, len(rs))
	}
	find := func(prefix string) *Recipe {
		for name, r := range rs {
			if strings.HasPrefix(name, prefix) {
				return r
			}
		}
		t.Fatalf("%s: no recipe %s*", dir, prefix)
		return nil
	}
	if r := find("1-"); len(r.Stages) != 1 || len(r.Stages[0].Participants) != 1 || len(r.Models) != 1 {
		t.Errorf("%s: use case 1 is one model alone", dir)
	}
	if r := find("2-"); len(r.Stages) != 2 || r.Stages[0].Until == nil {
		t.Errorf("%s: use case 2 hands over between two stages", dir)
	}
	r := find("3-")
	if len(r.Stages) != 1 || len(r.Stages[0].Participants) != 2 || r.Stages[0].Participants[1].Weight == nil {
		t.Errorf("%s: use case 3 fuses two models with a weight", dir)
	}
	if len(r.Sweep) != 1 || !strings.HasSuffix(r.Sweep[0].Path, ".weight") || len(r.Sweep[0].Values) < 3 {
		t.Errorf("%s: use case 3 sweeps the fusion weight: %+v", dir, r.Sweep)
	}
	r = find("4-")
	controls := 0
	for _, p := range r.Stages[0].Participants {
		controls += len(p.Controls)
	}
	if len(r.Stages[0].Participants) < 2 || controls < 2 {
		t.Errorf("%s: use case 4 fuses several ControlNets on several bases", dir)
	}
	if r := find("5-"); len(r.Stages) != 2 || r.Stages[0].Transition != TransitionRenoise || r.Stages[0].Width >= r.Stages[1].Width && r.Stages[1].Width != 0 {
		t.Errorf("%s: use case 5 moves from a small first stage to a larger one with renoise", dir)
	}
	if r := find("6-"); len(r.Stages) != 2 || r.Stages[0].Transition != TransitionCondition {
		t.Errorf("%s: use case 6 is Stable Cascade's prior conditioning its decoder", dir)
	}
}

func TestExamples(t *testing.T) { useCases(t, "examples") }

func TestDemoRecipes(t *testing.T) { useCases(t, "demo") }
