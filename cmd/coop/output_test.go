package main

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/coop-diffusion/coop/internal/fixtures"
	"github.com/coop-diffusion/coop/recipes"
)

// output.name: x.png names the file x.png, not x.png.png.
func TestTrimDoublePNG(t *testing.T) {
	for in, want := range map[string]string{
		"x.png.png":  "x.png",
		"x.PNG.png":  "x.PNG",
		"x.png":      "x.png",
		"png.png":    "png.png",
		".png.png":   ".png.png",
		"a.jpg.png":  "a.jpg.png",
		"seed-1.png": "seed-1.png",
	} {
		if got := trimDoublePNG(in); got != want {
			t.Errorf("trimDoublePNG(%q) = %q, want %q", in, got, want)
		}
	}
}

// checkOutputDir finds an output folder that cannot be written to, or
// created, before any model runs, and leaves nothing behind.
func TestCheckOutputDir(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "afile")
	if err := os.WriteFile(file, []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		dir  string
		want string // "" for no error
	}{
		{dir, ""},
		{filepath.Join(dir, "new", "deeper"), ""},
		{file, file + " is a file, not a folder"},
		{filepath.Join(file, "sub"), file + " is a file, not a folder"},
		// /proc takes no new files, even from root.
		{"/proc/coop-output-check", "/proc is not writable"},
	} {
		err := checkOutputDir(c.dir)
		switch {
		case c.want == "" && err != nil:
			t.Errorf("%s: %v", c.dir, err)
		case c.want != "" && (err == nil || !strings.Contains(err.Error(), c.want) || !isBadInput(err)):
			t.Errorf("%s: error %v, want bad input saying %q", c.dir, err, c.want)
		}
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 1 {
		t.Errorf("the check left %d entries behind", len(entries)-1)
	}
}

// As another user than root, a folder without write permission is
// refused, and so is one that would be created in it.
func TestCheckOutputDirReadOnly(t *testing.T) {
	if os.Geteuid() == 0 {
		t.Skip("root writes into read-only folders: the permission case needs another user")
	}
	ro := filepath.Join(t.TempDir(), "ro")
	if err := os.Mkdir(ro, 0o555); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.Chmod(ro, 0o755) })
	for _, d := range []string{ro, filepath.Join(ro, "sub")} {
		if err := checkOutputDir(d); err == nil || !strings.Contains(err.Error(), ro+" is not writable") {
			t.Errorf("%s: error %v, want %s is not writable", d, err, ro)
		}
	}
}

func isBadInput(err error) bool {
	var ee *exitError
	return errors.As(err, &ee) && ee.code == 2
}

// prepareBatch names the image of output.name: x.png x.png.
func TestOutputNamePNG(t *testing.T) {
	isolateCache(t)
	dir := t.TempDir()
	if err := os.Symlink(filepath.Join(fixtures.Zoo(t), "sd15"), filepath.Join(dir, "sd15")); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "r.yaml")
	if err := os.WriteFile(path, []byte("version: 1\nmodels: {sd: {path: sd15}}\nprompt: a cat\nseed: 1\nsteps: 2\noutput: {name: x.png}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	r, err := recipes.Load(path)
	if err != nil {
		t.Fatal(err)
	}
	b, err := prepareBatch(r, batchOptions{threads: -1})
	if err != nil {
		t.Fatal(err)
	}
	if got := filepath.Base(b.images[0].path); got != "x.png" {
		t.Errorf("output.name x.png names the image %s", got)
	}
}
