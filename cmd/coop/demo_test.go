package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"image/png"
	"math"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"testing"

	"github.com/coop-diffusion/coop/coop"
	"github.com/coop-diffusion/coop/internal/fixtures"
	"github.com/coop-diffusion/coop/internal/job"
	"github.com/coop-diffusion/coop/internal/ort"
	"github.com/coop-diffusion/coop/internal/ort/orttest"
	"github.com/coop-diffusion/coop/latent"
	"github.com/coop-diffusion/coop/recipes"
	"github.com/coop-diffusion/coop/recipes/demo"
)

// demoIntent is the photo a demo image must land on: the fixture whose
// autoencoder decodes the last stage (reconstructions differ per space)
// and the photo's keyword. Blending is checked at its endpoints.
var demoIntent = map[string]struct{ fixture, keyword string }{
	"1-plain":             {"sd15", "cat"},
	"2-handoff":           {"sdxl", "astronaut"},
	"3-blend weight=0":    {"sd15", "coffee"},
	"3-blend weight=1":    {"sd15", "galaxies"},
	"4-multi-control":     {"sd15", "grass"},
	"5-superres":          {"sd15", "gravel"},
	"6-cascade":           {"cascade-decoder", "rocket"},
	"3-blend weight=0.25": {},
	"3-blend weight=0.5":  {},
	"3-blend weight=0.75": {},
}

// minDemoPSNR is the bar a demo image must reach against the fixture's
// reconstruction of its photo; a miss (another photo, a blur of two)
// stays far below it.
const minDemoPSNR = 30

// TestDemo runs `coop demo` once and checks what it promises and what the
// other commands say about its recipes: every image lands on its photo,
// coop plan predicts the counts of every run, re-running a PNG reproduces
// it byte for byte from another folder, a changed model is named with both
// digests, existing files are not replaced without --force.
func TestDemo(t *testing.T) {
	isolateCache(t)
	dir := t.TempDir()
	res := coopCLI(t, "demo", "--out", dir, "--json")
	if res.code != 0 {
		t.Fatalf("coop demo: exit %d\n%s", res.code, res.stderr)
	}
	evs := events(t, res.stdout)
	images := ofKind(evs, "image")
	reports := ofKind(evs, "report")
	if len(images) != len(reports) || len(images) < len(demo.Names()) {
		t.Fatalf("%d image and %d report events for %d recipes", len(images), len(reports), len(demo.Names()))
	}
	steps := ofKind(evs, "step")
	t.Logf("coop demo: %d images, %d step events", len(images), len(steps))
	if len(steps) == 0 || steps[0].Step != 1 || steps[0].Steps < 1 || steps[0].Stage == "" {
		t.Errorf("step events %+v", steps[:min(len(steps), 1)])
	}

	// recipeOf names an image by its recipe: output names start with it.
	recipeOf := func(path string) string {
		base := filepath.Base(path)
		for _, n := range demo.Names() {
			if name := strings.TrimSuffix(n, ".yaml"); strings.HasPrefix(base, name+"-") {
				return name
			}
		}
		t.Fatalf("image %s belongs to no demo recipe", path)
		return ""
	}

	t.Run("every image lands on its photo", func(t *testing.T) {
		seen := map[string]bool{}
		for _, im := range images {
			key := strings.TrimSpace(recipeOf(im.Path) + " " + im.Variant)
			intent, ok := demoIntent[key]
			if !ok {
				t.Errorf("image %s (%s): no intended photo in the test's table", im.Path, key)
				continue
			}
			seen[key] = true
			if intent.fixture == "" {
				continue
			}
			img, err := latent.LoadImage(im.Path)
			if err != nil {
				t.Fatal(err)
			}
			best, bestDB, want := -1, math.Inf(-1), fixtures.PhotoIndex(intent.keyword)
			for k := range fixtures.PhotoNames() {
				rec, err := fixtures.Reconstruction(intent.fixture, k)
				if err != nil {
					t.Fatal(err)
				}
				if db := latent.PSNR(img, rec, 1); db > bestDB {
					best, bestDB = k, db
				}
			}
			if best != want || bestDB < minDemoPSNR {
				t.Errorf("%s: lands on %s at %.1f dB, want %s at >= %d dB", key, fixtures.Keyword(best), bestDB, intent.keyword, minDemoPSNR)
			}
			t.Logf("%-22s %-9s %.1f dB", key, fixtures.Keyword(best), bestDB)
		}
		for _, want := range []string{"1-plain", "2-handoff", "3-blend weight=0", "3-blend weight=1", "4-multi-control", "5-superres", "6-cascade"} {
			if !seen[want] {
				t.Errorf("no image of %s", want)
			}
		}
	})

	t.Run("contact sheets", func(t *testing.T) {
		sheets := ofKind(evs, "contact_sheet")
		var paths []string
		for _, s := range sheets {
			paths = append(paths, filepath.Base(s.Path))
			f, err := os.Open(s.Path)
			if err != nil {
				t.Fatal(err)
			}
			cfg, err := png.DecodeConfig(f)
			f.Close()
			if err != nil || cfg.Width < 2*overviewCell || cfg.Height < overviewCell {
				t.Errorf("%s: %dx%d, %v", s.Path, cfg.Width, cfg.Height, err)
			}
		}
		sort.Strings(paths)
		if strings.Join(paths, " ") != "3-blend-sweep.png demo.png" {
			t.Errorf("contact sheets %v, want the sweep's and the overview", paths)
		}
	})

	t.Run("coop plan predicts every run", func(t *testing.T) {
		byRecipe := map[string][]event{}
		for _, r := range reports {
			byRecipe[recipeOf(r.Path)] = append(byRecipe[recipeOf(r.Path)], r)
		}
		for _, n := range demo.Names() {
			name := strings.TrimSuffix(n, ".yaml")
			pr := coopCLI(t, "plan", "--json", filepath.Join(dir, n))
			if pr.code != 0 {
				t.Fatalf("coop plan %s: exit %d\n%s", n, pr.code, pr.stderr)
			}
			var out planOutput
			if err := json.Unmarshal([]byte(pr.stdout), &out); err != nil {
				t.Fatal(err)
			}
			runs := byRecipe[name]
			if out.Images != len(runs) {
				t.Errorf("%s: plan says %d images, the demo rendered %d", name, out.Images, len(runs))
				continue
			}
			total, k := 0, 0
			for _, v := range out.Variants {
				for range v.Seeds {
					r := runs[k]
					k++
					if r.Variant != v.Label {
						t.Errorf("%s: image %d is %q, plan %q", name, k, r.Variant, v.Label)
					}
					if d := planDiff(v.Estimate.ModelEvaluations, v.Estimate.Models, v.Estimate.Bridges, r.Report); d != "" {
						t.Errorf("%s %s: %s", name, v.Label, d)
					}
					total += r.Report.ModelEvaluations
				}
			}
			if out.ModelEvaluations != total {
				t.Errorf("%s: plan total %d model evaluations, runs %d", name, out.ModelEvaluations, total)
			}
			t.Logf("%-16s %d model evaluations over %d images: plan and runs agree", name, total, len(runs))
		}
	})

	other := t.TempDir()
	t.Run("re-running a PNG reproduces it byte for byte", func(t *testing.T) {
		// (1-plain-1.png is re-run below, with a changed digest.)
		for _, name := range []string{"3-blend-2-3.png"} {
			orig := filepath.Join(dir, "out", name)
			data, err := os.ReadFile(orig)
			if err != nil {
				t.Fatal(err)
			}
			// From another folder: the recorded paths are absolute.
			cp := filepath.Join(other, name)
			if err := os.WriteFile(cp, data, 0o644); err != nil {
				t.Fatal(err)
			}
			r := coopCLI(t, "run", "--threads", "1", cp)
			if r.code != 0 {
				t.Fatalf("coop run %s: exit %d\n%s", cp, r.code, r.stderr)
			}
			again, err := os.ReadFile(strings.TrimSuffix(cp, ".png") + "-rerun.png")
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(again, data) {
				t.Errorf("%s: the re-run differs (%d vs %d bytes)", name, len(again), len(data))
			}
			if strings.Contains(r.stderr, "warning") {
				t.Errorf("re-running %s warned:\n%s", name, r.stderr)
			}
		}
	})

	t.Run("a changed model is named with both digests", func(t *testing.T) {
		data, err := os.ReadFile(filepath.Join(dir, "out", "1-plain-1.png"))
		if err != nil {
			t.Fatal(err)
		}
		text, err := recipes.ExtractFromPNG(data)
		if err != nil {
			t.Fatal(err)
		}
		m := regexp.MustCompile(`sha256: ([0-9a-f]{64})`).FindStringSubmatch(text)
		if m == nil {
			t.Fatalf("the embedded recipe records no sha256:\n%s", text)
		}
		real, fake := m[1], strings.Repeat("0", 64)
		edited, err := recipes.EmbedInPNG(data, recipes.PNGKey, strings.Replace(text, real, fake, 1))
		if err != nil {
			t.Fatal(err)
		}
		changed := filepath.Join(other, "changed.png")
		if err := os.WriteFile(changed, edited, 0o644); err != nil {
			t.Fatal(err)
		}
		strict := coopCLI(t, "run", "--threads", "1", "--strict", changed)
		if strict.code != 2 || !strings.Contains(strict.stderr, "model sd15") || !strings.Contains(strict.stderr, real) || !strings.Contains(strict.stderr, fake) {
			t.Errorf("--strict: exit %d, stderr:\n%s\nwant status 2 naming model sd15 and both digests", strict.code, strict.stderr)
		}
		if _, err := os.Stat(filepath.Join(other, "changed-rerun.png")); err == nil {
			t.Error("--strict refused the run but wrote an image")
		}
		r := coopCLI(t, "run", "--threads", "1", changed)
		if r.code != 0 {
			t.Fatalf("exit %d\n%s", r.code, r.stderr)
		}
		for _, want := range []string{"warning", "model sd15", real, fake, "may differ"} {
			if !strings.Contains(r.stderr, want) {
				t.Errorf("stderr does not say %q:\n%s", want, r.stderr)
			}
		}
		// The re-run records the digest it ran with: it is the original.
		again, err := os.ReadFile(filepath.Join(other, "changed-rerun.png"))
		if err != nil || !bytes.Equal(again, data) {
			t.Errorf("the re-run of the edited PNG is not the original image (%v)", err)
		}
	})

	t.Run("existing files are not replaced without --force", func(t *testing.T) {
		before := listFiles(t, dir)
		r := coopCLI(t, "demo", "--out", dir)
		if r.code != 0 || !strings.Contains(r.stderr, "rendered already") || !strings.Contains(r.stderr, "--force") {
			t.Errorf("coop demo again: exit %d, stderr:\n%s\nwant status 0 saying the demo is rendered already and --force", r.code, r.stderr)
		}
		if after := listFiles(t, dir); after != before {
			t.Errorf("a demo with nothing to render changed the folder:\n%s\nvs\n%s", before, after)
		}
		// One recipe's image gone (an interrupted demo): that recipe
		// alone is rendered again, the same bytes, and the overview
		// rewritten.
		plainPNG := filepath.Join(dir, "out", "1-plain-1.png")
		orig, _ := os.ReadFile(plainPNG)
		overview, _ := os.ReadFile(filepath.Join(dir, "out", "demo.png"))
		if err := os.Remove(plainPNG); err != nil {
			t.Fatal(err)
		}
		r = coopCLI(t, "demo", "--out", dir)
		if r.code != 0 || strings.Count(r.stderr, "rendered already, its images are kept") != len(demo.Names())-1 {
			t.Errorf("coop demo after removing one image: exit %d, stderr:\n%s\nwant every other recipe kept", r.code, r.stderr)
		}
		if again, _ := os.ReadFile(plainPNG); !bytes.Equal(again, orig) {
			t.Error("coop demo rendered the missing image anew as another image")
		}
		if again, _ := os.ReadFile(filepath.Join(dir, "out", "demo.png")); !bytes.Equal(again, overview) {
			t.Error("the overview rewritten from the kept images differs from the first")
		}
		names := regexp.MustCompile(` [0-9]+\n`)
		kept := func(list string) string {
			var lines []string
			for _, l := range strings.Split(list, "\n") {
				if !strings.HasPrefix(l, filepath.Join("out", "1-plain-1.png")) && !strings.HasPrefix(l, filepath.Join("out", "demo.png")) {
					lines = append(lines, l)
				}
			}
			return strings.Join(lines, "\n")
		}
		if after := listFiles(t, dir); kept(after) != kept(before) || names.ReplaceAllString(after, "\n") != names.ReplaceAllString(before, "\n") {
			t.Errorf("rendering the missing image touched other files:\n%s\nvs\n%s", after, before)
		}
		before = listFiles(t, dir)
		recipe := filepath.Join(dir, "1-plain.yaml")
		if r := coopCLI(t, "run", recipe); r.code != 2 || !strings.Contains(r.stderr, "1-plain-1.png exists") {
			t.Errorf("coop run over an existing image: exit %d\n%s", r.code, r.stderr)
		}
		if r := coopCLI(t, "run", "--threads", "1", "--force", recipe); r.code != 0 {
			t.Errorf("coop run --force: exit %d\n%s", r.code, r.stderr)
		}
		if again, _ := os.ReadFile(filepath.Join(dir, "out", "1-plain-1.png")); !bytes.Equal(again, orig) {
			t.Error("coop run --force wrote another image than the demo's")
		}
		if after := listFiles(t, dir); names.ReplaceAllString(after, "\n") != names.ReplaceAllString(before, "\n") {
			t.Errorf("coop run --force left other files:\n%s\nvs\n%s", after, before)
		}
	})
}

// isolateCache points coop's cache folder (where run keeps model digests)
// at a temporary folder, keeping the ONNX Runtime library the tests use.
func isolateCache(t *testing.T) {
	t.Helper()
	orttest.Init(t)
	t.Setenv(ort.LibraryEnv, orttest.Library(t))
	t.Setenv(ort.CacheEnv, t.TempDir())
}

// planDiff compares a plan's counts with a run's report; "" when they
// agree.
func planDiff(evals int, models []job.ModelEstimate, bridges []coop.BridgeReport, rep *coop.Report) string {
	var diffs []string
	if evals != rep.ModelEvaluations {
		diffs = append(diffs, fmt.Sprintf("plan %d model evaluations, run %d", evals, rep.ModelEvaluations))
	}
	calls := map[string]string{}
	for _, m := range rep.Models {
		calls[m.Name] = fmt.Sprintf("%d/%d", m.Predictions, m.Calls)
	}
	for _, m := range models {
		if want := fmt.Sprintf("%d/%d", m.Predictions, m.Calls); calls[m.Name] != want {
			diffs = append(diffs, fmt.Sprintf("model %s: plan %s predictions/calls, run %s", m.Name, want, calls[m.Name]))
		}
	}
	key := func(b coop.BridgeReport) string {
		return fmt.Sprintf("%s->%s %s %d/%d/%d", b.From, b.To, b.Kind, b.Decodes, b.Encodes, b.Maps)
	}
	var pb, rb []string
	for _, b := range bridges {
		pb = append(pb, key(b))
	}
	for _, b := range rep.Bridges {
		rb = append(rb, key(b))
	}
	if strings.Join(pb, ", ") != strings.Join(rb, ", ") {
		diffs = append(diffs, fmt.Sprintf("bridges: plan [%s], run [%s]", strings.Join(pb, ", "), strings.Join(rb, ", ")))
	}
	return strings.Join(diffs, "; ")
}

// listFiles lists a folder's files with their sizes and times, to see
// that nothing changed.
func listFiles(t *testing.T, dir string) string {
	t.Helper()
	var b strings.Builder
	filepath.Walk(dir, func(p string, info os.FileInfo, err error) error {
		if err == nil && !info.IsDir() {
			rel, _ := filepath.Rel(dir, p)
			fmt.Fprintf(&b, "%s %d %d\n", rel, info.Size(), info.ModTime().UnixNano())
		}
		return nil
	})
	return b.String()
}
