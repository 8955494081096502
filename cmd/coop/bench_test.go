package main

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/coop-diffusion/coop/internal/ort/orttest"
)

func TestBench(t *testing.T) {
	orttest.Init(t)
	w := newWorkspace(t)
	w.model("sd15")
	w.model("sdxl")
	recipe := w.recipe(`
version: 1
models:
  sd: {path: sd15}
  xl: {path: sdxl}
prompt: a photo of a cat
seed: 2
steps: 4
stages:
  - participants:
      - {model: sd}
      - {model: xl, weight: 0.5}
`)
	res := coopCLI(t, "bench", "--runs", "2", "--json", "--release", recipe)
	if res.code != 0 {
		t.Fatalf("exit %d: %s", res.code, res.stderr)
	}
	var out benchOutput
	if err := json.Unmarshal([]byte(res.stdout), &out); err != nil {
		t.Fatalf("--json output: %v\n%s", err, res.stdout)
	}
	if len(out.Runs) != 2 || out.First == nil || out.Median == nil {
		t.Fatalf("%d measured runs, first %v, median %v; want 2 and both", len(out.Runs), out.First != nil, out.Median != nil)
	}
	for _, r := range append(out.Runs, out.First) {
		if r.Wall <= 0 || r.ORT <= 0 || r.ModelEvaluations != 8 || len(r.Models) != 2 || r.Overhead != r.Wall-(r.ORT-r.Overlap)-r.Open {
			t.Errorf("report: wall %v, ORT %v, overlap %v, open %v, overhead %v, %d evaluations, %d models", r.Wall, r.ORT, r.Overlap, r.Open, r.Overhead, r.ModelEvaluations, len(r.Models))
		}
	}
	if out.First.Open <= 0 || out.Median.Open != 0 {
		t.Errorf("session creation: %v in the first run, %v in the median run; want some, then none", out.First.Open, out.Median.Open)
	}
	if m := out.Memory; m.PeakRSS < m.StartRSS || m.StartRSS <= 0 || m.TotalModelBytes <= 0 || m.ModelBytes["sd"]+m.ModelBytes["xl"] != m.TotalModelBytes {
		t.Errorf("memory %+v", m)
	}
	for _, r := range out.Runs[1].Models {
		if !r.Released {
			t.Errorf("model %s was not released in the last run", r.Name)
		}
	}

	res = coopCLI(t, "bench", "--runs", "0", "--concurrency", "sequential", recipe)
	if res.code != 0 {
		t.Fatalf("exit %d: %s", res.code, res.stderr)
	}
	for _, want := range []string{"first run", "inside ONNX Runtime", "unet", "vae_decoder", "engine overhead", "engine arithmetic", "model evaluations", "memory: resident"} {
		if !strings.Contains(res.stdout, want) {
			t.Errorf("the table does not show %q:\n%s", want, res.stdout)
		}
	}
	for _, args := range [][]string{{"--runs", "-1"}, {"--concurrency", "sometimes"}, {"--threads", "-2"}} {
		if res := coopCLI(t, append(append([]string{"bench"}, args...), recipe)...); res.code != 2 {
			t.Errorf("%v: exit %d, want 2 (%s)", args, res.code, res.stderr)
		}
	}
}
