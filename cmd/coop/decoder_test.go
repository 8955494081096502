package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"testing"

	"github.com/coop-diffusion/coop/internal/fixtures"
)

// TestRunDecodesPriorThroughStageB checks that coop run and coop plan both
// honour a Stable Cascade prior's decoder: the prior's bridge decodes run
// stage B of the named decoder (its calls show in the report), and the
// plan predicts them.
func TestRunDecodesPriorThroughStageB(t *testing.T) {
	isolateCache(t)
	zoo := fixtures.Zoo(t)
	dir := t.TempDir()
	recipe := filepath.Join(dir, "ba.yaml")
	src := `version: 1
models:
  sd: {path: ` + filepath.Join(zoo, "sd15") + `}
  prior: {path: ` + filepath.Join(zoo, "cascade-prior") + `, decoder: dec, decoder_steps: 3}
  dec: {path: ` + filepath.Join(zoo, "cascade-decoder") + `}
prompt: a photo of a coffee
seed: 8
steps: 6
stages:
  - participants:
      - {model: sd, weight: 0.5}
      - {model: prior, weight: 0.5}
`
	if err := os.WriteFile(recipe, []byte(src), 0o644); err != nil {
		t.Fatal(err)
	}
	run := coopCLI(t, "run", "--json", "--out", filepath.Join(dir, "out"), recipe)
	if run.code != 0 {
		t.Fatalf("coop run: exit %d\n%s", run.code, run.stderr)
	}
	reports := ofKind(events(t, run.stdout), "report")
	if len(reports) != 1 {
		t.Fatalf("%d reports, want 1", len(reports))
	}
	rep := reports[0].Report
	decCalls := -1
	for _, m := range rep.Models {
		if m.Name == "dec" {
			decCalls = m.Calls
		}
	}
	// Six steps: the prior's prediction crosses into sd's space at each,
	// and each crossing decodes through three stage B steps.
	if decCalls != 6*3 {
		t.Errorf("the decoder ran %d times, want 18 (6 bridged steps x 3 stage B steps); report %+v", decCalls, rep.Models)
	}
	pl := coopCLI(t, "plan", "--json", recipe)
	if pl.code != 0 {
		t.Fatalf("coop plan: exit %d\n%s", pl.code, pl.stderr)
	}
	var out planOutput
	if err := json.Unmarshal([]byte(pl.stdout), &out); err != nil {
		t.Fatal(err)
	}
	v := out.Variants[0]
	if d := planDiff(v.Estimate.ModelEvaluations, v.Estimate.Models, v.Estimate.Bridges, rep); d != "" {
		t.Errorf("plan and run disagree: %s", d)
	}
}
