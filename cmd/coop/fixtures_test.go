package main

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/coop-diffusion/coop/internal/fixtures"
)

// coopFixtures runs `coop fixtures args...` through rootCommand and
// returns stdout and the error.
func coopFixtures(t *testing.T, args ...string) (string, error) {
	t.Helper()
	var out, errOut bytes.Buffer
	root := rootCommand()
	root.Writer, root.ErrWriter = &out, &errOut
	err := root.Run(context.Background(), append([]string{"coop", "fixtures"}, args...))
	return out.String(), err
}

func exitCode(err error) int {
	var ee *exitError
	if errors.As(err, &ee) {
		return ee.code
	}
	if err != nil {
		return 1
	}
	return 0
}

func TestFixturesWritesZoo(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "zoo")
	out, err := coopFixtures(t, "--out", dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range append(fixtures.Names(), fixtures.ImagesFolder) {
		if !strings.Contains(out, filepath.Join(dir, name)+"\n") {
			t.Errorf("output does not list %s:\n%s", name, out)
		}
	}
	for _, name := range fixtures.Names() {
		files, err := fixtures.Files(name)
		if err != nil {
			t.Fatal(err)
		}
		for _, f := range files {
			if _, err := os.Stat(filepath.Join(dir, name, f)); err != nil {
				t.Errorf("missing %s/%s: %v", name, f, err)
			}
		}
	}
	for _, f := range []string{"sd15/model_index.json", "sd15/unet/model.onnx", "cascade-prior/prior/model.onnx", "controlnet-sd15/model.onnx", "images/chelsea-control.png"} {
		if _, err := os.Stat(filepath.Join(dir, filepath.FromSlash(f))); err != nil {
			t.Error(err)
		}
	}

	// Into the same, now non-empty, folder: the zoo is rewritten with the
	// same bytes and other files are kept.
	mine := filepath.Join(dir, "mine.txt")
	if err := os.WriteFile(mine, []byte("keep"), 0o644); err != nil {
		t.Fatal(err)
	}
	unet := filepath.Join(dir, "sd15", "unet", "model.onnx")
	before, _ := os.ReadFile(unet)
	if _, err := coopFixtures(t, "--out", dir, "--only", "sd15"); err != nil {
		t.Fatalf("second run into a non-empty folder: %v", err)
	}
	if after, _ := os.ReadFile(unet); !bytes.Equal(before, after) {
		t.Error("rewriting changed sd15/unet/model.onnx")
	}
	if got, err := os.ReadFile(mine); err != nil || string(got) != "keep" {
		t.Errorf("a file of the user was changed or removed: %q, %v", got, err)
	}
}

func TestFixturesOnly(t *testing.T) {
	dir := t.TempDir()
	if _, err := coopFixtures(t, "--out", dir, "--only", "sd15-small,controlnet-sd15"); err != nil {
		t.Fatal(err)
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, e := range entries {
		got = append(got, e.Name())
	}
	if want := "controlnet-sd15 images sd15-small"; strings.Join(got, " ") != want {
		t.Errorf("folders %v, want %s", got, want)
	}
}

func TestFixturesList(t *testing.T) {
	out, err := coopFixtures(t, "--list")
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range fixtures.Names() {
		if !strings.Contains(out, name+" ") {
			t.Errorf("--list does not show %s:\n%s", name, out)
		}
	}
}

func TestFixturesBadInput(t *testing.T) {
	file := filepath.Join(t.TempDir(), "file")
	if err := os.WriteFile(file, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		args []string
		want string
	}{
		{nil, "--out"},
		{[]string{"--out", t.TempDir(), "--only", "sd15,sd3"}, `"sd3"`},
		{[]string{"--out", file}, "is a file"},
		{[]string{"somewhere"}, "no arguments"},
	} {
		_, err := coopFixtures(t, c.args...)
		if exitCode(err) != 2 || !strings.Contains(err.Error(), c.want) {
			t.Errorf("coop fixtures %q: exit %d, %v; want exit 2 and an error mentioning %s", c.args, exitCode(err), err, c.want)
		}
	}
}
