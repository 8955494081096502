package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"image/png"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/coop-diffusion/coop/coop"
	"github.com/coop-diffusion/coop/internal/fixtures"
	"github.com/coop-diffusion/coop/recipes"
)

// runDir is a folder with a link to the zoo's sd15 and sdxl and a recipe
// with a two-value sweep of the fusion weight and two seeds.
func runDir(t *testing.T) (dir, recipe string) {
	t.Helper()
	dir = t.TempDir()
	for _, f := range []string{"sd15", "sdxl"} {
		if err := os.Symlink(filepath.Join(fixtures.Zoo(t), f), filepath.Join(dir, f)); err != nil {
			t.Fatal(err)
		}
	}
	recipe = filepath.Join(dir, "mix.yaml")
	err := os.WriteFile(recipe, []byte(`version: 1
models:
  sd: {path: sd15}
  xl: {path: sdxl}
prompt: a photo of a coffee
seeds: [1, 2]
steps: 4
stages:
  - participants:
      - {model: sd}
      - {model: xl, weight: 0.5, prompt: galaxies}
sweep:
  stages.0.participants.1.weight: [0, 1]
`), 0o644)
	if err != nil {
		t.Fatal(err)
	}
	return dir, recipe
}

// TestRunSweep renders a sweep with two seeds: four images named by the
// template, each holding its own resolved recipe, and a labelled contact
// sheet; --json reports every step and image.
func TestRunSweep(t *testing.T) {
	isolateCache(t)
	dir, recipe := runDir(t)
	r := coopCLI(t, "run", "--threads", "1", "--json", recipe)
	if r.code != 0 {
		t.Fatalf("exit %d\n%s", r.code, r.stderr)
	}
	evs := events(t, r.stdout)
	if n := len(ofKind(evs, "step")); n != 4*4 {
		t.Errorf("%d step events, want 16 (4 images of 4 steps)", n)
	}
	want := []struct{ name, variant string }{
		{"mix-0-1.png", "weight=0"}, {"mix-0-2.png", "weight=0"}, {"mix-1-1.png", "weight=1"}, {"mix-1-2.png", "weight=1"},
	}
	images := ofKind(evs, "image")
	if len(images) != len(want) {
		t.Fatalf("%d images: %+v", len(images), images)
	}
	for i, im := range images {
		if filepath.Base(im.Path) != want[i].name || im.Variant != want[i].variant {
			t.Errorf("image %d: %s (%s), want %s (%s)", i, filepath.Base(im.Path), im.Variant, want[i].name, want[i].variant)
		}
		data, err := os.ReadFile(im.Path)
		if err != nil {
			t.Fatal(err)
		}
		text, err := recipes.ExtractFromPNG(data)
		if err != nil {
			t.Fatal(err)
		}
		for _, s := range []string{"coop_version: " + version, "seed: " + []string{"1", "2"}[i%2], "sha256: ", "steps: 4", "guidance: 7.5", "sampler: ", "width: 512", "path: " + filepath.Join(dir, "sdxl")} {
			if !strings.Contains(text, s) {
				t.Errorf("%s: the embedded recipe does not say %q:\n%s", im.Path, s, text)
			}
		}
		for _, s := range []string{"sweep", "seeds", "output"} {
			if strings.Contains(text, s+":") {
				t.Errorf("%s: the embedded recipe holds %s:\n%s", im.Path, s, text)
			}
		}
	}
	sheets := ofKind(evs, "contact_sheet")
	if len(sheets) != 1 || filepath.Base(sheets[0].Path) != "mix-sweep.png" || sheets[0].Images != 4 {
		t.Fatalf("contact sheets %+v", sheets)
	}
	f, err := os.Open(sheets[0].Path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	cfg, err := png.DecodeConfig(f)
	// The last axis times the seeds along a row: 4 cells of 256 px.
	if err != nil || cfg.Width < 4*thumbSize || cfg.Height > 2*thumbSize {
		t.Errorf("contact sheet %dx%d (%v), want one row of 4", cfg.Width, cfg.Height, err)
	}
	// At weight 0 only sd predicts; at weight 1 only xl (sd shares what
	// is left: nothing).
	calls := func(rep *coop.Report) string {
		var parts []string
		for _, m := range rep.Models {
			parts = append(parts, fmt.Sprintf("%s %d", m.Name, m.Calls))
		}
		return strings.Join(parts, ", ")
	}
	reports := ofKind(evs, "report")
	if len(reports) != 4 || calls(reports[0].Report) != "sd 4, xl 0" || calls(reports[2].Report) != "sd 0, xl 4" {
		for _, r := range reports {
			t.Errorf("%s: %s", filepath.Base(r.Path), calls(r.Report))
		}
	}
	if _, err := os.Stat(filepath.Join(dir, "out")); err != nil {
		t.Errorf("the images are not in output.dir: %v", err)
	}
}

// TestRunInterrupted cancels a run in its second step: the command
// reports the interruption (exit status 130 in main) and leaves no file,
// not even a temporary one.
func TestRunInterrupted(t *testing.T) {
	isolateCache(t)
	dir, recipe := runDir(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	steps := 0
	stepHook = func(coop.Event) {
		if steps++; steps == 2 {
			cancel()
		}
	}
	defer func() { stepHook = nil }()
	r := coopCLIContext(t, ctx, "run", "--threads", "1", recipe)
	if r.code != 130 {
		t.Errorf("exit %d, want 130\n%s", r.code, r.stderr)
	}
	if entries, _ := os.ReadDir(filepath.Join(dir, "out")); len(entries) > 0 {
		t.Errorf("an interrupted run left %d files: %v", len(entries), entries[0].Name())
	}
}

// TestRunChecksOutputsFirst refuses a run whose last image exists before
// rendering the first, and --out moves every image.
func TestRunChecksOutputsFirst(t *testing.T) {
	isolateCache(t)
	dir, recipe := runDir(t)
	last := filepath.Join(dir, "out", "mix-1-2.png")
	if err := os.MkdirAll(filepath.Dir(last), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(last, []byte("mine"), 0o644); err != nil {
		t.Fatal(err)
	}
	r := coopCLI(t, "run", recipe)
	if r.code != 2 || !strings.Contains(r.stderr, last+" exists") {
		t.Errorf("exit %d, stderr:\n%s", r.code, r.stderr)
	}
	if entries, _ := os.ReadDir(filepath.Dir(last)); len(entries) != 1 {
		t.Errorf("the refused run wrote %d files", len(entries)-1)
	}
	if data, _ := os.ReadFile(last); string(data) != "mine" {
		t.Error("the existing file changed")
	}
	out := filepath.Join(dir, "elsewhere")
	r = coopCLI(t, "run", "--threads", "1", "--out", out, "--set", "steps=3", "--seed", "7", recipe)
	if r.code != 0 {
		t.Fatalf("exit %d\n%s", r.code, r.stderr)
	}
	// --seed replaces the seeds; the sweep still renders both weights.
	var names []string
	entries, _ := os.ReadDir(out)
	for _, e := range entries {
		names = append(names, e.Name())
	}
	if got := strings.Join(names, " "); got != "mix-0-7.png mix-1-7.png mix-sweep.png" {
		t.Errorf("--out folder holds %s", got)
	}
	if !strings.Contains(r.stdout, filepath.Join(out, "mix-0-7.png")) {
		t.Errorf("stdout does not list the images:\n%s", r.stdout)
	}
}

// TestPlanText checks the plan of a fusion with a fixed-batch unet: two
// evaluations per guided prediction and the bridges, in words.
func TestPlanText(t *testing.T) {
	dir := t.TempDir()
	for _, f := range []string{"sd15-rank0", "sdxl"} {
		if err := os.Symlink(filepath.Join(fixtures.Zoo(t), f), filepath.Join(dir, f)); err != nil {
			t.Fatal(err)
		}
	}
	recipe := filepath.Join(dir, "fixed.yaml")
	if err := os.WriteFile(recipe, []byte(`version: 1
models:
  sd: {path: sd15-rank0}
  xl: {path: sdxl}
prompt: a cat
steps: 10
stages:
  - participants:
      - {model: sd}
      - {model: xl, weight: 0.5, bridge: {every: 2}}
`), 0o644); err != nil {
		t.Fatal(err)
	}
	r := coopCLI(t, "plan", recipe)
	if r.code != 0 {
		t.Fatalf("exit %d\n%s", r.code, r.stderr)
	}
	// sd: 10 predictions of 2 evaluations; xl: 5 predictions of 1.
	for _, want := range []string{
		"stage 1/1 1-sd: entered from seeded noise, steps 1-10 of a 10-step",
		"2 evaluations per prediction", "10 predictions", "20 evaluations",
		"foreign space, 512x512, bridged", "5 predictions",
		"total: 25 model evaluations (denoisers)",
		"sd -> xl", "xl -> sd", "sd -> image",
		"memory: about",
	} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("plan does not say %q:\n%s", want, r.stdout)
		}
	}
	j := coopCLI(t, "plan", "--json", recipe)
	var out planOutput
	if err := json.Unmarshal([]byte(j.stdout), &out); err != nil || out.ModelEvaluations != 25 || out.Variants[0].Estimate.Memory.WeightBytes <= 0 {
		t.Errorf("plan --json: %v\n%s", err, j.stdout)
	}
	t.Logf("\n%s", r.stdout)
}

func TestPNGHoldsNoRecipe(t *testing.T) {
	dir := t.TempDir()
	var buf bytes.Buffer
	if err := png.Encode(&buf, thumbnail(contactSheet("", nil, 1, 8), 8)); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "plain.png")
	if err := os.WriteFile(path, buf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, command := range []string{"run", "validate", "plan"} {
		if r := coopCLI(t, command, path); r.code != 2 || !strings.Contains(r.stderr, path+": the PNG holds no coop recipe") {
			t.Errorf("%s: exit %d\n%s", command, r.code, r.stderr)
		}
	}
}

// TestRunConcurrency: --concurrency always runs the fusion's participants
// concurrently (the report says so), sequential one after the other, and
// both write the same PNG byte for byte; a bad value exits 2 naming the
// flag before any model runs.
func TestRunConcurrency(t *testing.T) {
	isolateCache(t)
	dir, _ := runDir(t)
	recipe := filepath.Join(dir, "blend.yaml")
	err := os.WriteFile(recipe, []byte(`version: 1
models:
  sd: {path: sd15}
  xl: {path: sdxl}
prompt: a photo of a coffee
seed: 1
steps: 4
stages:
  - participants:
      - {model: sd}
      - {model: xl, weight: 0.5, prompt: galaxies}
`), 0o644)
	if err != nil {
		t.Fatal(err)
	}
	var pngs [][]byte
	for _, mode := range []string{"always", "sequential"} {
		out := t.TempDir()
		r := coopCLI(t, "run", "--threads", "1", "--json", "--concurrency", mode, "--out", out, recipe)
		if r.code != 0 {
			t.Fatalf("--concurrency %s: exit %d\n%s", mode, r.code, r.stderr)
		}
		evs := events(t, r.stdout)
		images, reports := ofKind(evs, "image"), ofKind(evs, "report")
		if len(images) != 1 || len(reports) != 1 {
			t.Fatalf("--concurrency %s: %d images and %d reports, want 1", mode, len(images), len(reports))
		}
		for _, rep := range reports {
			if got, want := rep.Report.Concurrent, mode == "always"; got != want {
				t.Errorf("--concurrency %s: %s reports concurrent %t", mode, rep.Path, got)
			}
		}
		data, err := os.ReadFile(images[0].Path)
		if err != nil {
			t.Fatal(err)
		}
		pngs = append(pngs, data)
	}
	if !bytes.Equal(pngs[0], pngs[1]) {
		t.Error("--concurrency always and sequential wrote different PNGs")
	}

	out := t.TempDir()
	r := coopCLI(t, "run", "--concurrency", "sometimes", "--out", out, recipe)
	if r.code != 2 || !strings.Contains(r.stderr, "--concurrency") || !strings.Contains(r.stderr, "sometimes") {
		t.Errorf("--concurrency sometimes: exit %d, stderr %q", r.code, r.stderr)
	}
	if entries, _ := os.ReadDir(out); len(entries) != 0 {
		t.Errorf("--concurrency sometimes wrote %d files", len(entries))
	}
}

// TestSetKeepsCommas checks that --set values reach the recipe whole:
// YAML lists and prompts hold commas, which the CLI library would
// otherwise split into separate --set values.
func TestSetKeepsCommas(t *testing.T) {
	dir := t.TempDir()
	if err := os.Symlink(filepath.Join(fixtures.Zoo(t), "sd15"), filepath.Join(dir, "sd15")); err != nil {
		t.Fatal(err)
	}
	recipe := filepath.Join(dir, "cat.yaml")
	if err := os.WriteFile(recipe, []byte("version: 1\nmodels:\n  sd: {path: sd15}\nprompt: a cat\nsteps: 10\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	r := coopCLI(t, "plan", "--set", "seeds=[1, 2, 3]", "--set", "prompt=a cat, asleep", recipe)
	if r.code != 0 {
		t.Fatalf("exit %d\n%s", r.code, r.stderr)
	}
	if !strings.Contains(r.stdout, ": 3 images\n") {
		t.Errorf("plan does not render the three seeds set:\n%s", r.stdout)
	}
}
