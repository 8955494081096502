package demo

import (
	"embed"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"

	"github.com/coop-diffusion/coop/recipes"
)

//go:embed *.yaml
var files embed.FS

// Where the recipes expect the zoo and the control images, relative to
// their own directory.
const (
	ZooDir      = "zoo"
	ControlsDir = "zoo/controls"
)

// Names lists the recipe files in use-case order.
func Names() []string {
	names, err := fs.Glob(files, "*.yaml")
	if err != nil {
		panic(err) // the pattern is constant and valid
	}
	sort.Strings(names)
	return names
}

// Recipe returns the text of the recipe file name.
func Recipe(name string) ([]byte, error) {
	data, err := files.ReadFile(name)
	if err != nil {
		return nil, fmt.Errorf("demo: no recipe %q (have %v)", name, Names())
	}
	return data, nil
}

// Write writes every recipe into dir, which must exist.
func Write(dir string) error {
	for _, name := range Names() {
		data, _ := files.ReadFile(name)
		if err := os.WriteFile(filepath.Join(dir, name), data, 0o644); err != nil {
			return fmt.Errorf("demo: %w", err)
		}
	}
	return nil
}

// ZooFolders lists the model folders the recipes use, relative to their
// directory (zoo/sd15, ...), sorted.
func ZooFolders() []string {
	seen := make(map[string]bool)
	for _, r := range parsed() {
		for _, m := range r.Models {
			seen[filepath.ToSlash(m.Path)] = true
		}
	}
	return sortedKeys(seen)
}

// ControlImages lists the control images the recipes use, relative to
// their directory (zoo/controls/grass.png, ...), sorted.
func ControlImages() []string {
	seen := make(map[string]bool)
	for _, r := range parsed() {
		for _, s := range r.Stages {
			for _, p := range s.Participants {
				for _, c := range p.Controls {
					seen[filepath.ToSlash(c.Image)] = true
				}
			}
		}
		if r.Img2Img != nil {
			seen[filepath.ToSlash(r.Img2Img.Image)] = true
		}
	}
	return sortedKeys(seen)
}

// parsed loads the embedded recipes without looking for their files.
func parsed() []*recipes.Recipe {
	var out []*recipes.Recipe
	for _, name := range Names() {
		data, _ := files.ReadFile(name)
		r, err := recipes.Loader{SkipFileChecks: true}.LoadBytes(name, data, ".")
		if err != nil {
			panic(fmt.Sprintf("demo: embedded recipe does not load: %v", err)) // TestRecipesLoad prevents this
		}
		out = append(out, r)
	}
	return out
}

func sortedKeys(m map[string]bool) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}
