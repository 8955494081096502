package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/urfave/cli/v3"

	"github.com/coop-diffusion/coop/internal/fixtures"
	"github.com/coop-diffusion/coop/internal/job"
	"github.com/coop-diffusion/coop/latent"
	"github.com/coop-diffusion/coop/recipes"
	"github.com/coop-diffusion/coop/recipes/demo"
)

func init() {
	register(&cli.Command{
		Name:  "demo",
		Usage: "render the six use cases (one model, handoff, blending, multi-control, super-resolution, Stable Cascade) on the fixture zoo, with contact sheets",
		Description: "coop demo needs no model weights: it writes the demo recipes (one per use case: plain " +
			"generation, a base-to-refiner handoff, A/B blending with a sweep of the fusion weight, two " +
			"ControlNets in two latent spaces, single-pass super-resolution, Stable Cascade) and the fixture zoo " +
			"they run on (small ONNX models written by coop whose denoisers land exactly on one of eight photos) " +
			"into --out, renders every recipe, and writes the PNGs, a contact sheet per sweep and an overview " +
			"sheet of every image, demo.png, into OUT/out.\n\n" +
			"Files already in --out are used as they are: the zoo is written only when missing, and a demo " +
			"recipe you edited is rendered as edited. Existing images are not replaced without --force: a " +
			"recipe whose images and contact sheet all exist is not rendered again (its images go into the " +
			"overview as they are), so running coop demo again renders only what is missing.",
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "out", Value: "demo", Usage: "folder for the recipes, the zoo and the images"},
			&cli.BoolFlag{Name: "force", Usage: "replace existing images and contact sheets"},
			&cli.BoolFlag{Name: "json", Usage: "print one JSON event per line on stdout, as coop run --json does"},
			&cli.IntFlag{Name: "threads", Value: 1, Usage: "intra-op threads per model, 0 = automatic; the fixture models are too small to gain from more than one"},
		},
		Action:       demoAction,
		OnUsageError: usageError,
	})
}

// demoOverview is the overview sheet's file name in the demo's output
// folder.
const demoOverview = "demo.png"

// overviewCell is the overview sheet's thumbnail size: small enough for a
// README (the sheet stays a few hundred kilobytes).
const overviewCell = 128

func demoAction(ctx context.Context, cmd *cli.Command) error {
	if cmd.NArg() != 0 {
		return badInputf("demo takes no arguments (use --out DIR)")
	}
	dir := cmd.String("out")
	force := cmd.Bool("force")
	if n := cmd.Int("threads"); n < 0 || n > 4096 {
		return badInputf("--threads %d: give 0 (automatic) to 4096", n)
	}
	stdout, stderr := cmd.Root().Writer, cmd.Root().ErrWriter
	jsonOut := cmd.Bool("json")
	pr := newProgress(jsonOut, stdout, stderr)
	note := func(format string, args ...any) {
		if !jsonOut {
			fmt.Fprintf(stderr, format+"\n", args...)
		}
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return badInput(err)
	}
	if err := writeDemoInputs(dir, note); err != nil {
		return err
	}

	cache := digestCache()
	defer cache.Save()
	var batches []*batch
	for _, name := range demo.Names() {
		r, err := recipes.Load(filepath.Join(dir, name))
		if err != nil {
			return badInput(err)
		}
		// Outputs are checked below, once the rendered recipes are
		// known.
		b, err := prepareBatch(r, batchOptions{force: true, threads: cmd.Int("threads"), cache: cache, warn: pr.warn})
		if err != nil {
			return err
		}
		batches = append(batches, b)
	}
	outDir := filepath.Join(dir, recipes.DefaultOutputDir)
	if len(batches) > 0 && len(batches[0].images) > 0 {
		outDir = filepath.Dir(batches[0].images[0].path)
	}
	overview := filepath.Join(outDir, demoOverview)
	todo, done, err := renderedBatches(batches, force)
	if err != nil {
		return err
	}
	// The overview sums up every recipe: it is rewritten whenever a
	// recipe is rendered, and written when missing.
	upToDate := len(todo) == 0 && fileExists(overview)
	if err := checkOutputs(todo, force); err != nil {
		return err
	}
	if len(todo) > 0 {
		if err := initRuntime(cmd.String("ort-lib"), ""); err != nil {
			return err
		}
		if err := render(ctx, todo, force, pr); err != nil {
			return err
		}
	}
	for _, b := range done {
		note("%s: rendered already, its images are kept (--force renders it again)", b.name)
	}

	var cells []sheetCell
	var images, sheets []string
	for _, b := range batches {
		for _, img := range b.images {
			cells = append(cells, sheetCell{img: img.thumb, label: strings.TrimSpace(b.name + " " + img.label)})
			images = append(images, img.path)
		}
		if b.sheet != "" {
			sheets = append(sheets, b.sheet)
		}
	}
	if !upToDate {
		data, err := encodeSheet(contactSheet("coop demo: the six use cases on the fixture zoo", cells, 5, overviewCell))
		if err != nil {
			return err
		}
		if err := writeOutput(overview, data, true); err != nil {
			return err
		}
		pr.sheet(overview, len(cells))
	}
	sheets = append(sheets, overview)

	if jsonOut {
		return json.NewEncoder(stdout).Encode(struct {
			Event  string   `json:"event"`
			Dir    string   `json:"dir"`
			Images []string `json:"image_paths"`
			Sheets []string `json:"contact_sheets"`
		}{"demo", dir, images, sheets})
	}
	fmt.Fprintf(stderr, "\n%d images from %d recipes in %s\n", len(images), len(batches), outDir)
	fmt.Fprintf(stderr, "contact sheets: %s\n", strings.Join(sheets, ", "))
	fmt.Fprintf(stderr, "recipes: %s (edit one and run coop demo --force, or try coop run %s --set seed=2)\n",
		filepath.Join(dir, "*.yaml"), filepath.Join(dir, demo.Names()[0]))
	return nil
}

// renderedBatches splits the demo's batches into those to render and
// those already rendered: every image and the contact sheet exist (and
// --force is off). The thumbnails of a rendered batch are read from its
// images, for the overview. A batch with only some of its files is left
// to render, where checkOutputs names the file in the way.
func renderedBatches(batches []*batch, force bool) (todo, done []*batch, err error) {
	for _, b := range batches {
		complete := !force && (b.sheet == "" || fileExists(b.sheet))
		for _, img := range b.images {
			complete = complete && fileExists(img.path)
		}
		if !complete {
			todo = append(todo, b)
			continue
		}
		for _, img := range b.images {
			t, err := latent.LoadImage(img.path)
			if err != nil {
				return nil, nil, fmt.Errorf("reading the rendered image for the overview: %w (coop demo --force renders it again)", err)
			}
			img.thumb = thumbnail(latent.ToImage(t), thumbSize)
		}
		done = append(done, b)
	}
	return todo, done, nil
}

func fileExists(path string) bool {
	_, err := os.Lstat(path)
	return err == nil
}

// writeDemoInputs writes what is missing of the demo recipes, the zoo
// folders they use and their control images into dir.
func writeDemoInputs(dir string, note func(string, ...any)) error {
	for _, name := range demo.Names() {
		path := filepath.Join(dir, name)
		want, err := demo.Recipe(name)
		if err != nil {
			return err
		}
		have, err := os.ReadFile(path)
		switch {
		case err == nil && !bytes.Equal(have, want):
			note("using %s as edited", path)
		case err == nil:
		default:
			if err := job.WriteFileAtomic(path, want, false); err != nil {
				return err
			}
		}
	}
	// A zoo folder is written unless every one of its files is there
	// (an interrupted demo may have left one half written).
	var missing []string
	for _, f := range demo.ZooFolders() {
		name := strings.TrimPrefix(f, demo.ZooDir+"/")
		files, err := fixtures.Files(name)
		if err != nil {
			return err
		}
		for _, rel := range files {
			if _, err := os.Stat(filepath.Join(dir, f, filepath.FromSlash(rel))); err != nil {
				missing = append(missing, name)
				break
			}
		}
	}
	if len(missing) > 0 {
		zoo := filepath.Join(dir, demo.ZooDir)
		note("writing the fixture zoo into %s (%s)", zoo, strings.Join(missing, ", "))
		if err := fixtures.Write(zoo, missing...); err != nil {
			return err
		}
	}
	for _, im := range demo.ControlImages() {
		path := filepath.Join(dir, filepath.FromSlash(im))
		if _, err := os.Stat(path); err == nil {
			continue
		}
		kw := strings.TrimSuffix(filepath.Base(im), filepath.Ext(im))
		k := fixtures.PhotoIndex(kw)
		if k < 0 {
			return fmt.Errorf("demo: control image %s names no zoo photo (keywords: %s)", im, strings.Join(keywords(), ", "))
		}
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			return err
		}
		if err := latent.SavePNG(path, fixtures.ControlImage(k), latent.NoOverwrite); err != nil {
			return err
		}
	}
	return nil
}

func keywords() []string {
	var out []string
	for k := range fixtures.PhotoNames() {
		out = append(out, fixtures.Keyword(k))
	}
	return out
}
