package main

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"github.com/urfave/cli/v3"

	"github.com/coop-diffusion/coop/adapters"
	_ "github.com/coop-diffusion/coop/adapters/all" // every model family
	"github.com/coop-diffusion/coop/coop"
	"github.com/coop-diffusion/coop/internal/job"
	"github.com/coop-diffusion/coop/internal/ort"
	"github.com/coop-diffusion/coop/latent"
	"github.com/coop-diffusion/coop/recipes"
)

func init() {
	register(&cli.Command{
		Name:      "run",
		Usage:     "render a recipe, or re-run the recipe a coop PNG holds",
		ArgsUsage: "RECIPE.yaml | IMAGE.png",
		Description: "coop run checks the recipe against every model's signature, then renders one image per seed and " +
			"sweep combination into output.dir (--out replaces it), named by output.name plus .png (a name that already ends " +
			"in .png keeps that one ending: x.png names x.png). Each PNG holds the fully " +
			"resolved recipe (coop_version, every default the models decided, the seed, each model's SHA-256, " +
			"absolute paths) in an iTXt chunk named coop-recipe.\n\n" +
			"Given a PNG that coop wrote, coop run renders its recipe again and writes NAME-rerun.png next to it " +
			"(or into --out); with the same models and coop version the new file is identical byte for byte. A " +
			"model whose files' SHA-256 differs from the recorded one is named with both digests on stderr (an " +
			"error with --strict). Output paths never come from the PNG's text. A re-run whose --set, --seed or " +
			"--device change the recipe is named after the change, never NAME-rerun.png: NAME-rerun-seedS.png when " +
			"only the seed changes, NAME-rerun-HASH.png (HASH: 8 hex digits of the changed recipe's SHA-256, the seed " +
			"left out) when anything else does, NAME-rerun-HASH-seedS.png when both do; the same change always gets " +
			"the same name. Moving the models (--set models.NAME.path=...) is no change.\n\n" +
			"Output folders and file names are checked before any model runs: a folder that is a file or cannot be " +
			"written to, a file name longer than 255 bytes, or a folder where an image goes (--force replaces files, " +
			"not folders) is refused. Existing files are never replaced without --force; every file is written to a temporary name and " +
			"renamed when complete. A recipe with a sweep also gets a labelled contact sheet, RECIPE-sweep.png.\n\n" +
			"Progress goes to stderr: a bar per stage on a terminal, plain lines otherwise. With --json, stdout " +
			"carries one JSON object per line: {\"event\":\"step\",...} per step, then {\"event\":\"image\",...} and " +
			"{\"event\":\"report\",...} (model evaluations, bridges, stages, times) per image, and " +
			"{\"event\":\"contact_sheet\",...}.\n\n" +
			"Exit status: 0 done, 1 failure, 2 bad input (the recipe, a model folder, a model file ONNX Runtime cannot load, an image, an existing output), 130 " +
			"interrupted (no partial file is left).",
		Flags:        append(renderFlags(), limitFlags()...),
		Action:       runAction,
		OnUsageError: usageError,
	})
}

// usageError makes a wrong flag or flag value bad input (exit status 2).
func usageError(ctx context.Context, cmd *cli.Command, err error, isSubcommand bool) error {
	return badInput(err)
}

// renderFlags are the flags of run (demo shares some).
func renderFlags() []cli.Flag {
	return []cli.Flag{
		&cli.StringSliceFlag{Name: "set", Usage: "override a recipe field, path=value (repeatable): --set steps=30 --set stages.0.participants.1.weight=0.3"},
		&cli.Uint64Flag{Name: "seed", Usage: "render this seed instead of the recipe's seed or seeds; when the sweep varies the seed, it renders this seed alone for every other combination"},
		&cli.StringFlag{Name: "out", Usage: "write images into this folder instead of output.dir (re-runs: instead of the PNG's folder)"},
		&cli.BoolFlag{Name: "force", Usage: "replace existing output files"},
		&cli.BoolFlag{Name: "json", Usage: "print one JSON event per line on stdout (steps, images, reports)"},
		&cli.StringFlag{Name: "device", Usage: "run the models on cpu or cuda (the recipe's device field)"},
		&cli.IntFlag{Name: "threads", Usage: "intra-op threads per model, 0 = automatic; replaces the recipe's threads (neither is recorded in the PNG: they change the speed, not the image)"},
		concurrencyFlag(),
		&cli.BoolFlag{Name: "strict", Usage: "refuse to run when a model's SHA-256 differs from the one the recipe or PNG records"},
	}
}

// withOverrides gives loader the overrides of --set, --seed and --device,
// checked like the file's fields; errors about --seed and --device name
// the flag. (--threads is not one: it changes the speed, not the image,
// and the recorded recipe does not show it.) --seed replaces the seeds
// and a sweep's seed values, as a --set of a swept field does.
func withOverrides(loader recipes.Loader, cmd *cli.Command) recipes.Loader {
	loader.Sets = append([]string(nil), cmd.StringSlice("set")...)
	loader.Overrides = nil
	if cmd.IsSet("seed") {
		seed := strconv.FormatUint(cmd.Uint64("seed"), 10)
		loader.Overrides = append(loader.Overrides, recipes.Override{Flag: "--seed " + seed, Set: "seed=" + seed})
	}
	if cmd.IsSet("device") {
		device := cmd.String("device")
		loader.Overrides = append(loader.Overrides, recipes.Override{Flag: "--device " + device, Set: "device=" + device})
	}
	return loader
}

func runAction(ctx context.Context, cmd *cli.Command) error {
	if cmd.NArg() != 1 {
		return badInputf("run: give one recipe (.yaml) or one PNG written by coop to re-run, got %d arguments", cmd.NArg())
	}
	arg := cmd.Args().First()
	stdout, stderr := cmd.Root().Writer, cmd.Root().ErrWriter
	pr := newProgress(cmd.Bool("json"), stdout, stderr)
	cache := digestCache()
	defer cache.Save()
	o := batchOptions{outDir: cmd.String("out"), force: cmd.Bool("force"), strict: cmd.Bool("strict"), threads: -1, cache: cache, warn: pr.warn}
	var err error
	if cmd.IsSet("threads") {
		if o.threads = cmd.Int("threads"); o.threads < 0 || o.threads > 4096 {
			return badInputf("--threads %d: give 0 (automatic) to 4096", o.threads)
		}
	}
	if o.concurrency, err = concurrency(cmd); err != nil {
		return err
	}
	lim, err := limits(cmd)
	if err != nil {
		return err
	}
	loader := withOverrides(recipes.Loader{Limits: lim}, cmd)
	var b *batch
	if isPNGFile(arg) {
		b, err = prepareRerun(arg, loader, o, pr)
	} else {
		var r *recipes.Recipe
		if r, err = loader.Load(arg); err != nil {
			return badInput(err)
		}
		b, err = prepareBatch(r, o)
	}
	if err != nil {
		return err
	}
	if err := initRuntime(cmd.String("ort-lib"), b.recipe.Device); err != nil {
		return err
	}
	return cudaHint(render(ctx, []*batch{b}, o.force, pr))
}

// cudaHint adds how to install the CUDA build of ONNX Runtime to an error
// that says the library has no usable CUDA execution provider.
func cudaHint(err error) error {
	if err == nil {
		return nil
	}
	msg := err.Error()
	if strings.Contains(msg, "coop setup --cuda") || !strings.Contains(msg, "CUDA execution provider") && !strings.Contains(msg, "libonnxruntime_providers_") {
		return err
	}
	return fmt.Errorf("%w (run `coop setup --cuda` to install the CUDA build of ONNX Runtime %s)", err, ort.CUDAVersion)
}

// initRuntime loads ONNX Runtime for device, adding how to get a working
// library to an error that does not already say it.
func initRuntime(flagPath, device string) error {
	if device == ort.DeviceCUDA {
		// A library without the CUDA execution provider fails when the
		// first model loads; say so, and how to get one, before that.
		if path, source, err := ort.LocateFor(flagPath, device); err == nil {
			if err := ort.CheckCUDA(path, source); err != nil {
				if source == ort.SourceFlag {
					return badInput(err)
				}
				return err
			}
		}
	}
	err := job.InitRuntime(flagPath, device)
	switch {
	case err == nil || errors.Is(err, ort.ErrNotFound):
		return err // ErrNotFound's message names coop setup and --ort-lib
	case flagPath != "":
		// The library --ort-lib names is missing or not ONNX Runtime:
		// a wrong argument.
		return badInput(err)
	}
	return fmt.Errorf("%w (run coop setup, or give --ort-lib)", err)
}

// isPNGFile reports whether the file at path starts with the PNG
// signature (a missing file is not one: loading it as a recipe says so).
func isPNGFile(path string) bool {
	f, err := os.Open(path)
	if err != nil {
		return false
	}
	defer f.Close()
	head := make([]byte, 8)
	n, _ := f.Read(head)
	return recipes.IsPNG(head[:n])
}

// prepareRerun loads the recipe a PNG holds and prepares its images next
// to the PNG (or in --out), named after it (see rerunNames). Nothing about
// where files go is taken from the PNG's text.
func prepareRerun(path string, loader recipes.Loader, o batchOptions, pr progress) (*batch, error) {
	r, err := loader.Load(path)
	if err != nil {
		return nil, badInput(err)
	}
	warnMadeBy(r, pr.warn)
	// The PNG's own recipe, to tell what the overrides change; its files
	// need not exist when an override moves them.
	own := loader
	own.Sets, own.Overrides, own.SkipFileChecks = nil, nil, true
	orig, err := own.Load(path)
	if err != nil {
		orig = nil // its own recipe is broken: the overrides change something
	}
	abs, err := filepath.Abs(path)
	if err != nil {
		return nil, badInput(err)
	}
	if o.outDir == "" {
		o.outDir = filepath.Dir(abs)
	}
	base := strings.TrimSuffix(filepath.Base(path), filepath.Ext(path))
	names, err := rerunNames(base, orig, r)
	if err != nil {
		return nil, err
	}
	o.names = names
	o.origin = path
	o.name = base + "-rerun"
	return prepareBatch(r, o)
}

// rerunNames names the images of a re-run of NAME.png. One that renders
// the PNG's own recipe (orig; models may have moved) writes
// NAME-rerun.png, or NAME-rerun-N.png for each of several images. One
// whose overrides change the recipe is named after the change, so that it
// never takes the name of the true re-run and the same change always gets
// the same name: NAME-rerun-seedS.png when only the seed changes (--seed
// S), NAME-rerun-HASH.png (HASH: 8 hex digits of the changed recipe's
// SHA-256, seed left out) when anything else does, and
// NAME-rerun-HASH-seedS.png when both do. orig is nil when the PNG's own
// recipe does not load.
func rerunNames(base string, orig, r *recipes.Recipe) (func(img *pendingImage, i, total int) string, error) {
	changed, seedChanged := true, true
	if orig != nil {
		origText, err := rerunText(orig, orig)
		if err != nil {
			return nil, err
		}
		sameSeeds, err := rerunText(r, orig)
		if err != nil {
			return nil, err
		}
		changed = !bytes.Equal(sameSeeds, origText)
		seedChanged = !slices.Equal(r.SeedList(), orig.SeedList())
	}
	if !changed && !seedChanged {
		return func(img *pendingImage, i, total int) string {
			if total == 1 {
				return base + "-rerun.png"
			}
			return fmt.Sprintf("%s-rerun-%d.png", base, i+1)
		}, nil
	}
	name := base + "-rerun"
	if changed {
		noSeed, err := rerunText(r, &recipes.Recipe{})
		if err != nil {
			return nil, err
		}
		sum := sha256.Sum256(noSeed)
		name += "-" + hex.EncodeToString(sum[:4])
	}
	return func(img *pendingImage, i, total int) string {
		if seedChanged || total > 1 {
			return fmt.Sprintf("%s-seed%d.png", name, img.seed)
		}
		return name + ".png"
	}, nil
}

// rerunText writes r as the text that decides whether a re-run renders
// the PNG's recipe: without model paths (the recorded SHA-256s say which
// models render, and the digest check compares them), and with the seeds
// of seeds.
func rerunText(r, seeds *recipes.Recipe) ([]byte, error) {
	c := r.Clone()
	for _, m := range c.Models {
		if m != nil {
			m.Path = ""
		}
	}
	c.Seed, c.Seeds = seeds.Seed, seeds.Seeds
	return c.Marshal()
}

// warnMadeBy warns about a recipe read from a coop PNG that another coop
// version made: what it renders may differ from the PNG.
func warnMadeBy(r *recipes.Recipe, warn func(format string, args ...any)) {
	if r.PNG == "" || r.MadeBy == version {
		return
	}
	what := "an unknown coop version"
	if r.MadeBy != "" {
		what = "coop " + r.MadeBy
	}
	warn("%s was made by %s, this is coop %s; the image may differ", r.PNG, what, version)
}

// thumbSize bounds the thumbnails kept for contact sheets.
const thumbSize = 256

// render runs every image of the batches, writing each PNG as soon as it
// is done, then each sweep's contact sheet. Models are loaded once for
// all of them. On interruption it stops at the next step and leaves only
// complete files.
func render(ctx context.Context, batches []*batch, force bool, pr progress) error {
	pool := job.NewPool()
	defer pool.Close()
	total := 0
	for _, b := range batches {
		total += len(b.images)
	}
	n := 0
	// Each image is encoded and thumbnailed before the next renders, so
	// one result buffer serves them all.
	var result *latent.Tensor
	for _, b := range batches {
		for _, img := range b.images {
			label := img.label
			if len(batches) > 1 {
				label = strings.TrimSpace(b.name + " " + label)
			}
			pr.begin(n, total, label, img.path)
			n++
			// The last image may close each model after its last stage,
			// so that a run never holds more models than a stage uses.
			var err error
			if result, err = renderImage(ctx, pool, img, result, force, n == total, pr); err != nil {
				return err
			}
		}
		if b.sheet != "" {
			cells := make([]sheetCell, len(b.images))
			for i, img := range b.images {
				cells[i] = sheetCell{img: img.thumb, label: img.label}
			}
			sheet := contactSheet(sheetTitle(b), cells, b.sheetCols, thumbSize)
			data, err := encodeSheet(sheet)
			if err != nil {
				return err
			}
			if err := writeOutput(b.sheet, data, force); err != nil {
				return err
			}
			pr.sheet(b.sheet, len(cells))
		}
	}
	return nil
}

// sheetTitle names a sweep's contact sheet: the recipe and the swept
// fields.
func sheetTitle(b *batch) string {
	paths := make([]string, len(b.recipe.Sweep))
	for i, a := range b.recipe.Sweep {
		paths[i] = a.Path
	}
	return fmt.Sprintf("%s: sweep of %s", b.name, strings.Join(paths, " x "))
}

// stepHook, when set (by tests), sees every step after the progress
// display.
var stepHook func(coop.Event)

// renderImage renders img, decoding into result when it has the image's
// shape, and returns the buffer that holds the image for the next.
func renderImage(ctx context.Context, pool *job.Pool, img *pendingImage, result *latent.Tensor, force, release bool, pr progress) (*latent.Tensor, error) {
	j := img.job
	session := j.SessionOptions()
	if img.threads >= 0 {
		session.IntraOpThreads = img.threads
	}
	ms, err := pool.Load(ctx, j, adapters.LoadOptions{Session: session})
	if err != nil {
		return nil, err
	}
	res, err := j.Run(ctx, ms, job.RunOptions{Seed: img.seed, Release: release, Image: result, Concurrency: img.concurrency, Progress: func(ev coop.Event) {
		pr.step(ev)
		if stepHook != nil {
			stepHook(ev)
		}
	}})
	if err != nil {
		return nil, err
	}
	text, err := j.Resolved(img.seed, img.digests).MarshalEmbedded(version)
	if err != nil {
		return nil, fmt.Errorf("recording the recipe: %w", err)
	}
	data, err := encodeImage(res.Image, text)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", img.path, err)
	}
	if err := writeOutput(img.path, data, force); err != nil {
		return nil, err
	}
	img.thumb = thumbnail(latent.ToImage(res.Image), thumbSize)
	pr.image(img.path, img.seed, img.variant, res.Report)
	return res.Image, nil
}

// concurrencyFlag is --concurrency of run and bench.
func concurrencyFlag() cli.Flag {
	return &cli.StringFlag{Name: "concurrency", Value: "auto",
		Usage: "when the participants of a step work concurrently: auto (when it pays), always or sequential (the results are the same bit for bit)"}
}

// concurrency reads --concurrency; a bad value is bad input.
func concurrency(cmd *cli.Command) (coop.Concurrency, error) {
	c, err := coop.ParseConcurrency(cmd.String("concurrency"))
	if err != nil {
		return c, badInputf("--concurrency: %v", err)
	}
	return c, nil
}
