package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"image/png"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/coop-diffusion/coop/internal/faults"
	"github.com/coop-diffusion/coop/recipes"
)

// The CLI's reliability promises, each checked on the built binary:
// Ctrl-C stops a run within a model call and leaves nothing behind;
// the same recipe and seed write the same bytes whatever the scheduler
// and thread settings; output names cannot leave the output folder; model
// paths resolve against the recipe's folder; a re-run writes only beside
// the PNG it re-runs, whatever the PNG's text says.

// outFiles lists the files under dir/out, relative to it.
func outFiles(t *testing.T, dir string) []string {
	t.Helper()
	var out []string
	root := filepath.Join(dir, "out")
	filepath.Walk(root, func(p string, info os.FileInfo, err error) error {
		if err == nil && !info.IsDir() {
			rel, _ := filepath.Rel(root, p)
			out = append(out, rel)
		}
		return nil
	})
	sort.Strings(out)
	return out
}

func TestInterruptLeavesNothing(t *testing.T) {
	bin := coopBinary(t)
	w := newWorkspace(t)
	// About a second per unet call on one thread, 40 steps: the run is
	// deep inside ONNX Runtime when the signal comes.
	w.must(faults.RewriteModel(unet(w, "sd15"), faults.Options{Body: faults.Slow, Depth: 40}))
	recipe := w.recipe(strings.Replace(plainRecipe, "steps: 2", "steps: 40\nthreads: 1", 1))

	cmd := coopCommand(t, bin, w.dir, "run", "--json", recipe)
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	// Wait for the first step's event, then interrupt a third of the way
	// into the second step.
	lines := bufio.NewScanner(stdout)
	var first time.Duration
	for lines.Scan() {
		var ev struct {
			Event   string `json:"event"`
			Elapsed int64  `json:"elapsed_ns"`
		}
		if json.Unmarshal(lines.Bytes(), &ev) == nil && ev.Event == "step" {
			first = time.Duration(ev.Elapsed)
			break
		}
	}
	if first == 0 {
		cmd.Wait()
		t.Fatalf("no step event before the end; stderr:\n%s", stderr.String())
	}
	go func() {
		for lines.Scan() {
		}
	}()
	time.Sleep(first / 3)
	signalled := time.Now()
	if err := cmd.Process.Signal(os.Interrupt); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	var werr error
	select {
	case werr = <-done:
	case <-time.After(30 * time.Second):
		cmd.Process.Kill()
		t.Fatal("coop did not exit within 30 s of SIGINT")
	}
	latency := time.Since(signalled)
	var ee *exec.ExitError
	if !errors.As(werr, &ee) || ee.ExitCode() != 130 {
		t.Errorf("exit: %v, want status 130; stderr:\n%s", werr, stderr.String())
	}
	t.Logf("first step took %v; coop exited %v after SIGINT", first, latency)
	if latency > 2*time.Second {
		t.Errorf("coop exited %v after SIGINT; a step takes %v", latency, first)
	}
	if files := outFiles(t, w.dir); len(files) > 0 {
		t.Errorf("an interrupted run left %v in the output folder", files)
	}
	if strings.Contains(stderr.String(), "panic") {
		t.Errorf("stderr:\n%s", stderr.String())
	}
}

// TestRunIsDeterministic renders one recipe six times: twice alike, with
// GOMAXPROCS 1 and 2, and with --threads 1 and 2 (ONNX Runtime's intra-op
// threads). The PNGs must be identical byte for byte: the pixels, and the
// recipe text they record (which leaves the thread count out: it changes
// how fast an image is made, not the image).
func TestRunIsDeterministic(t *testing.T) {
	bin := coopBinary(t)
	w := newWorkspace(t)
	w.model("sd15")
	w.model("sdxl")
	recipe := w.recipe(`version: 1
models:
  sd: {path: sd15}
  xl: {path: sdxl}
prompt: a photo of a coffee
seed: 21
steps: 4
sampler: euler_a
stages:
  - participants:
      - {model: sd, weight: 0.5}
      - {model: xl, weight: 0.5}
`)
	runs := []struct {
		name string
		env  []string
		args []string
	}{
		{"first", nil, nil},
		{"again", nil, nil},
		{"GOMAXPROCS=1", []string{"GOMAXPROCS=1"}, nil},
		{"GOMAXPROCS=2", []string{"GOMAXPROCS=2"}, nil},
		{"--threads 1", nil, []string{"--threads", "1"}},
		{"--threads 2", nil, []string{"--threads", "2"}},
	}
	var ref []byte
	for i, r := range runs {
		out := filepath.Join(w.dir, "out", strconv.Itoa(i))
		args := append([]string{"run", "--out", out}, r.args...)
		cmd := coopCommand(t, bin, w.dir, append(args, recipe)...)
		cmd.Env = append(cmd.Env, r.env...)
		if msg, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("%s: %v\n%s", r.name, err, msg)
		}
		data, err := os.ReadFile(filepath.Join(out, "recipe-21.png"))
		if err != nil {
			t.Fatal(err)
		}
		if ref == nil {
			ref = data
			continue
		}
		if !bytes.Equal(ref, data) {
			t.Errorf("%s: the PNG differs from the first run's: %s", r.name, pngDifference(t, ref, data))
		}
	}
}

// pngDifference says how two PNGs coop wrote differ: in the pixels, or in
// the recipe text (and there in which lines).
func pngDifference(t *testing.T, a, b []byte) string {
	t.Helper()
	ia, erra := png.Decode(bytes.NewReader(a))
	ib, errb := png.Decode(bytes.NewReader(b))
	if erra != nil || errb != nil {
		return fmt.Sprintf("not both PNGs: %v, %v", erra, errb)
	}
	if ia.Bounds() != ib.Bounds() {
		return fmt.Sprintf("the sizes differ: %v vs %v", ia.Bounds(), ib.Bounds())
	}
	for y := ia.Bounds().Min.Y; y < ia.Bounds().Max.Y; y++ {
		for x := ia.Bounds().Min.X; x < ia.Bounds().Max.X; x++ {
			if ia.At(x, y) != ib.At(x, y) {
				return fmt.Sprintf("the pixels differ, first at (%d, %d)", x, y)
			}
		}
	}
	ta, erra := recipes.ExtractFromPNG(a)
	tb, errb := recipes.ExtractFromPNG(b)
	if erra != nil || errb != nil {
		return fmt.Sprintf("the pixels agree; the recipe texts cannot be read: %v, %v", erra, errb)
	}
	var only []string
	la, lb := lineSet(ta), lineSet(tb)
	for l := range la {
		if !lb[l] {
			only = append(only, l)
		}
	}
	for l := range lb {
		if !la[l] {
			only = append(only, l)
		}
	}
	if len(only) == 0 {
		return "the pixels and the recipe texts agree; the encodings differ"
	}
	sort.Strings(only)
	return "the recipe texts differ in the lines " + strings.Join(only, " | ")
}

func lineSet(s string) map[string]bool {
	m := map[string]bool{}
	for _, l := range strings.Split(s, "\n") {
		m[l] = true
	}
	return m
}

func TestOutputNamesStayInside(t *testing.T) {
	bin := coopBinary(t)
	for _, name := range []string{"../escape", "/tmp/escape", "a/b", `a\b`, "..", "{recipe}/../x"} {
		t.Run(name, func(t *testing.T) {
			w := newWorkspace(t)
			w.model("sd15")
			recipe := w.recipe(plainRecipe + "output: {dir: out, name: '" + name + "'}\n")
			code, _, stderr := runBinary(t, bin, w.dir, "run", recipe)
			if code != 2 || !strings.Contains(stderr, "recipe.yaml:") || !strings.Contains(stderr, "output.name") {
				t.Errorf("exit %d, stderr:\n%s\nwant status 2 and a message at output.name", code, stderr)
			}
			if files := w.files(); len(files) != 1+countFiles(t, w.path("sd15")) {
				t.Errorf("files after the refused run: %v", files)
			}
		})
	}
}

func countFiles(t *testing.T, dir string) int {
	n := 0
	filepath.Walk(dir, func(p string, info os.FileInfo, err error) error {
		if err == nil && !info.IsDir() {
			n++
		}
		return nil
	})
	return n
}

// TestModelPathsResolveAgainstTheRecipe runs a recipe that lives in
// another folder than the working directory and names its model and
// output folders relatively.
func TestModelPathsResolveAgainstTheRecipe(t *testing.T) {
	bin := coopBinary(t)
	w := newWorkspace(t)
	w.modelAt("sd15", "models/sd15")
	recipe := w.write("recipes/plain.yaml", strings.Replace(plainRecipe, "{path: sd15}", "{path: ../models/sd15}", 1)+"output: {dir: ../renders}\n")
	elsewhere := t.TempDir()
	code, _, stderr := runBinary(t, bin, elsewhere, "run", recipe)
	if code != 0 {
		t.Fatalf("exit %d:\n%s", code, stderr)
	}
	if _, err := os.Stat(w.path("renders/plain-1.png")); err != nil {
		t.Errorf("the image is not in the folder the recipe names: %v\n%s", err, stderr)
	}
	if entries, _ := os.ReadDir(elsewhere); len(entries) > 0 {
		t.Errorf("coop wrote into the working directory: %v", entries)
	}
}

// TestRerunWritesOnlyBesideThePNG re-runs PNGs whose embedded recipe
// asks for output elsewhere: an output.dir outside every folder involved,
// a name that climbs out, an absolute name. coop drops the text's output
// field unread: it must write NAME-rerun.png beside the PNG and nothing
// anywhere else.
func TestRerunWritesOnlyBesideThePNG(t *testing.T) {
	bin := coopBinary(t)
	for _, tc := range []struct{ name, output string }{
		{"output.dir elsewhere", "output: {dir: VICTIM, name: stolen}\n"},
		{"name climbing out", "output: {dir: VICTIM, name: '../../escape'}\n"},
		{"name absolute", "output: {dir: VICTIM, name: 'VICTIM/abs'}\n"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			w := newWorkspace(t)
			sd := w.model("sd15")
			victim := t.TempDir()
			img := w.path("shared/img.png")
			w.must(os.MkdirAll(filepath.Dir(img), 0o755))
			w.must(faults.WriteImage(img, faults.RGB, 16, 16))
			plain, err := os.ReadFile(img)
			w.must(err)
			text := strings.Replace(plainRecipe, "{path: sd15}", "{path: "+sd+"}", 1) +
				strings.ReplaceAll(tc.output, "VICTIM", victim)
			data, err := recipes.EmbedInPNG(plain, recipes.PNGKey, text)
			w.must(err)
			w.must(os.WriteFile(img, data, 0o644))

			code, _, stderr := runBinary(t, bin, w.dir, "run", img)
			if code != 0 {
				t.Errorf("exit status %d, want 0; stderr:\n%s", code, stderr)
			}
			if entries, _ := os.ReadDir(victim); len(entries) > 0 {
				t.Errorf("the re-run wrote into the folder the PNG's text names: %v", entries)
			}
			if _, err := os.Stat(filepath.Join(filepath.Dir(w.dir), "escape.png")); err == nil {
				t.Error("the re-run wrote escape.png outside the workspace")
			}
			var names []string
			entries, _ := os.ReadDir(filepath.Dir(img))
			for _, e := range entries {
				names = append(names, e.Name())
			}
			want := []string{"img-rerun.png", "img.png"}
			if strings.Join(names, " ") != strings.Join(want, " ") {
				t.Errorf("the PNG's folder holds %v, want %v", names, want)
			}
		})
	}
}
