package recipes

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestEmbeddedRoundTrip(t *testing.T) {
	dir := t.TempDir()
	r, err := Loader{SkipFileChecks: true}.LoadBytes("r.yaml", []byte(`
version: 1
models:
  base: {path: sd15}
prompt: a cat
seed: 4
steps: 12
`), dir)
	if err != nil {
		t.Fatal(err)
	}
	r.Models["base"].SHA256 = strings.Repeat("ab", 32)
	text, err := r.MarshalEmbedded("1.2.3")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(string(text), VersionKey+": 1.2.3\n") {
		t.Errorf("embedded text starts %q, want the coop_version line first", text[:min(len(text), 40)])
	}
	got, v, err := Loader{SkipFileChecks: true}.LoadEmbedded("x.png[coop-recipe]", text, dir)
	if err != nil {
		t.Fatal(err)
	}
	if v != "1.2.3" {
		t.Errorf("version %q, want 1.2.3", v)
	}
	again, err := got.MarshalEmbedded("1.2.3")
	if err != nil {
		t.Fatal(err)
	}
	if string(again) != string(text) {
		t.Errorf("embedding the loaded recipe again changed it:\n%s\nvs\n%s", again, text)
	}
	if got.Models["base"].SHA256 != strings.Repeat("ab", 32) || *got.Seed != 4 || got.Steps != 12 {
		t.Errorf("loaded %+v, seed %v, steps %d", got.Models["base"], *got.Seed, got.Steps)
	}

	// Overrides apply; errors point into the embedded text.
	if got, _, err = (Loader{SkipFileChecks: true, Sets: []string{"seed=9"}}).LoadEmbedded("x.png", text, dir); err != nil || *got.Seed != 9 {
		t.Errorf("with --set seed=9: %v, %v", got, err)
	}
	_, _, err = Loader{SkipFileChecks: true}.LoadEmbedded("x.png", []byte("coop_version: [1]\nversion: 1\n"), dir)
	var e *Error
	if !errors.As(err, &e) || e.Line != 1 || e.Col != 15 || !strings.Contains(e.Msg, VersionKey) {
		t.Errorf("coop_version as a list: %v, want an error at x.png:1:15", err)
	}
	_, _, err = Loader{SkipFileChecks: true}.LoadEmbedded("x.png", []byte("coop_version: 1\nversion: 1\nmodels: {a: {path: a}}\nstpes: 3\n"), dir)
	if !errors.As(err, &e) || e.Line != 4 || e.Col != 1 {
		t.Errorf("typo in an embedded recipe: %v, want an error at x.png:4:1", err)
	}
	// output is neither written nor read: the re-runner decides where
	// images go.
	if strings.Contains(string(text), "output") {
		t.Errorf("embedded text holds output:\n%s", text)
	}
	hostile := append(append([]byte(nil), text...), "output: {dir: /etc, name: '../../x'}\n"...)
	if got, _, err = (Loader{SkipFileChecks: true}).LoadEmbedded("x.png", hostile, dir); err != nil || got.Output.Dir != DefaultOutputDir || got.Output.Name != DefaultOutputName {
		t.Errorf("embedded output was read: %+v, %v", got, err)
	}
	// A version YAML would read as a number stays text.
	if text, err := r.MarshalEmbedded("1.0"); err != nil || !strings.HasPrefix(string(text), VersionKey+": \"1.0\"\n") {
		t.Errorf("MarshalEmbedded(1.0) = %q, %v", text, err)
	}
	// A recipe file does not take coop_version.
	if _, err := (Loader{SkipFileChecks: true}).LoadBytes("r.yaml", text, dir); err == nil {
		t.Error("LoadBytes accepted coop_version")
	}
}

func TestIsPNG(t *testing.T) {
	if !IsPNG(smallPNG(t)) || IsPNG([]byte("version: 1\n")) || IsPNG(nil) {
		t.Error("IsPNG does not tell PNGs from recipes")
	}
}

// TestLoadPNG: Load given a PNG coop wrote reads the recipe it holds, as
// coop validate and coop plan do, and says which PNG and coop version it
// came from; a PNG without one is refused at the file.
func TestLoadPNG(t *testing.T) {
	dir := t.TempDir()
	text := []byte("coop_version: 9.9\nversion: 1\nmodels: {base: {path: sd15}}\nseed: 4\nsteps: 12\n")
	withRecipe, err := EmbedInPNG(smallPNG(t), PNGKey, string(text))
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "x.png")
	if err := os.WriteFile(path, withRecipe, 0o644); err != nil {
		t.Fatal(err)
	}
	r, err := Loader{SkipFileChecks: true, Sets: []string{"steps=3"}}.Load(path)
	if err != nil {
		t.Fatal(err)
	}
	if r.PNG != path || r.MadeBy != "9.9" || r.File != path+"[coop-recipe]" || *r.Seed != 4 || r.Steps != 3 {
		t.Errorf("PNG %q, MadeBy %q, File %q, seed %d, steps %d", r.PNG, r.MadeBy, r.File, *r.Seed, r.Steps)
	}
	if r.Output.Dir != DefaultOutputDir || r.Dir != dir {
		t.Errorf("output %+v, dir %q", r.Output, r.Dir)
	}
	_, err = Loader{SkipFileChecks: true}.Load(writeFile(t, dir, "typo.png", mustEmbed(t, "version: 1\nmodels: {base: {path: sd15}}\nstpes: 3\n")))
	if err == nil || !strings.HasPrefix(err.Error(), filepath.Join(dir, "typo.png")+"[coop-recipe]:3:1: unknown field \"stpes\"") {
		t.Errorf("typo in a PNG's recipe: %v", err)
	}
	plain := writeFile(t, dir, "plain.png", smallPNG(t))
	if _, err := Load(plain); err == nil || err.Error() != plain+": the PNG holds no coop recipe (no coop-recipe text chunk); only the PNGs coop writes have one" {
		t.Errorf("a PNG without a recipe: %v", err)
	}
	file := writeFile(t, dir, "r.yaml", []byte("version: 1\nmodels: {base: {path: sd15}}\n"))
	if r, err := (Loader{SkipFileChecks: true}).Load(file); err != nil || r.PNG != "" || r.MadeBy != "" {
		t.Errorf("a recipe file: %+v, %v", r, err)
	}
}

func mustEmbed(t *testing.T, text string) []byte {
	t.Helper()
	p, err := EmbedInPNG(smallPNG(t), PNGKey, text)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func writeFile(t *testing.T, dir, name string, data []byte) string {
	t.Helper()
	path := filepath.Join(dir, name)
	if err := os.WriteFile(path, data, 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}
