package recipes

import (
	"errors"
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
