package demo

import (
	"bufio"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/coop-diffusion/coop/recipes"
)

// fixtureDoc reads the zoo's folder names and photo keywords from
// docs/FIXTURES.md, so that the recipes cannot drift from the zoo.
func fixtureDoc(t *testing.T) (folders, keywords map[string]bool) {
	t.Helper()
	f, err := os.Open("../../docs/FIXTURES.md")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	folders, keywords = make(map[string]bool), make(map[string]bool)
	section := ""
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if strings.HasPrefix(line, "## ") {
			section = line
		}
		cells := strings.Split(line, "|")
		if !strings.HasPrefix(line, "|") || len(cells) < 4 || strings.HasPrefix(strings.TrimSpace(cells[1]), "-") {
			continue
		}
		c1, c3 := strings.TrimSpace(cells[1]), strings.TrimSpace(cells[3])
		switch {
		case section == "## Folders" && c1 != "folder":
			folders[c1] = true
		case strings.HasSuffix(strings.TrimSpace(cells[2]), ".png"):
			keywords[strings.Fields(c3)[0]] = true
		}
	}
	if len(folders) < 10 || len(keywords) != 8 {
		t.Fatalf("read %d folders and %d keywords from docs/FIXTURES.md; its tables changed", len(folders), len(keywords))
	}
	return folders, keywords
}

func TestRecipesLoad(t *testing.T) {
	if n := len(Names()); n != 6 {
		t.Fatalf("%d demo recipes, want one per use case (6)", n)
	}
	folders, keywords := fixtureDoc(t)
	for _, f := range ZooFolders() {
		if !strings.HasPrefix(f, ZooDir+"/") || !folders[strings.TrimPrefix(f, ZooDir+"/")] {
			t.Errorf("model folder %s is not a zoo folder of docs/FIXTURES.md", f)
		}
	}
	images := ControlImages()
	if len(images) == 0 {
		t.Error("no control images; use case 4 needs some")
	}
	for _, im := range images {
		kw := strings.TrimSuffix(strings.TrimPrefix(im, ControlsDir+"/"), ".png")
		if !strings.HasPrefix(im, ControlsDir+"/") || !keywords[kw] {
			t.Errorf("control image %s is not %s/KEYWORD.png for a zoo photo keyword", im, ControlsDir)
		}
	}

	// Written next to a zoo of empty folders, every recipe passes the
	// file checks too.
	dir := t.TempDir()
	if err := Write(dir); err != nil {
		t.Fatal(err)
	}
	for _, f := range ZooFolders() {
		if err := os.MkdirAll(filepath.Join(dir, f), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	for _, im := range images {
		os.MkdirAll(filepath.Join(dir, filepath.Dir(im)), 0o755)
		if err := os.WriteFile(filepath.Join(dir, im), []byte("png"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	for _, name := range Names() {
		if _, err := recipes.Load(filepath.Join(dir, name)); err != nil {
			t.Errorf("%v", err)
		}
	}
	if _, err := Recipe("nope.yaml"); err == nil {
		t.Error("Recipe(nope.yaml) did not fail")
	}
}
