package main

import (
	"bytes"
	"errors"
	"fmt"
	"image"
	_ "image/jpeg" // control and img2img images may be JPEG
	"image/png"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"

	"golang.org/x/image/draw"

	"github.com/coop-diffusion/coop/coop"
	"github.com/coop-diffusion/coop/internal/job"
	"github.com/coop-diffusion/coop/internal/ort"
	"github.com/coop-diffusion/coop/latent"
	"github.com/coop-diffusion/coop/recipes"
)

// batch is every image one recipe renders: one per sweep combination and
// seed, prepared (checked and compiled) before any model runs.
type batch struct {
	// name is the recipe's name ({recipe}), used for the contact sheet.
	name   string
	recipe *recipes.Recipe
	images []*pendingImage
	// sheet is the contact sheet's path, "" when the recipe has no sweep;
	// sheetCols its number of columns.
	sheet     string
	sheetCols int
}

// pendingImage is one image to render.
type pendingImage struct {
	job *job.Job
	// variant labels the sweep combination ("weight=0.25"), "" without a
	// sweep; label adds the seed when the recipe has several.
	variant, label string
	seed           uint64
	path           string
	digests        map[string]string
	// threads overrides the recipe's intra-op threads when >= 0 (the
	// --threads flag, which the recorded recipe does not show).
	threads int
	// concurrency is when the participants of a step work concurrently
	// (--concurrency, which changes the speed, not the image).
	concurrency coop.Concurrency

	// Filled once rendered: a thumbnail for contact sheets.
	thumb image.Image
}

// batchOptions say where a batch's images go and how to check them.
type batchOptions struct {
	// outDir replaces each recipe's output.dir when not empty.
	outDir string
	// names, when set, names the images instead of output.name (re-runs
	// name them after the PNG they re-run): img is the i-th of total.
	names func(img *pendingImage, i, total int) string
	// name replaces the recipe's name in the contact sheet's file name
	// and title when not empty.
	name  string
	force bool
	// strict turns a model whose SHA-256 differs from the recipe's into
	// an error.
	strict bool
	// origin says where recorded SHA-256s come from, for messages ("the
	// recipe", "IMAGE.png").
	origin string
	// threads is --threads, -1 when not given.
	threads int
	// concurrency is --concurrency.
	concurrency coop.Concurrency
	cache       *job.DigestCache
	warn        func(format string, args ...any)
}

// prepareBatch checks everything about a loaded recipe that can be
// checked before a model runs: every sweep combination compiles against
// the models' signatures, control and input images decode, model digests
// match the recipe's, and no output file exists (unless force). Errors
// are bad input.
func prepareBatch(r *recipes.Recipe, o batchOptions) (*batch, error) {
	variants, err := recipes.Expand(r)
	if err != nil {
		return nil, badInput(err)
	}
	b := &batch{name: r.Name(), recipe: r}
	if o.name != "" {
		b.name = o.name
	}
	warned, imageWarned := map[string]bool{}, map[string]bool{}
	for _, v := range variants {
		j, err := job.Prepare(v.Recipe)
		if err != nil {
			return nil, badInput(err)
		}
		if err := checkImages(j, imageWarned, func(w string) {
			if o.warn != nil {
				o.warn("%s", w)
			}
		}); err != nil {
			return nil, badInput(err)
		}
		digests, err := j.Digests(o.cache)
		if err != nil {
			return nil, badInput(err)
		}
		if err := checkDigests(v.Recipe, digests, o, warned); err != nil {
			return nil, err
		}
		dir := o.outDir
		if dir == "" {
			dir = v.Recipe.Path(v.Recipe.Output.Dir)
		}
		seeds := v.Recipe.SeedList()
		for si, seed := range seeds {
			img := &pendingImage{job: j, variant: v.Label, seed: seed, digests: digests, threads: o.threads, concurrency: o.concurrency}
			img.label = v.Label
			if len(seeds) > 1 {
				img.label = strings.TrimSpace(v.Label + " seed=" + strconv.FormatUint(seed, 10))
			}
			if o.names == nil {
				name, err := v.Recipe.Output.FileName(recipes.NameVars{Recipe: r.Name(), Seed: seed, Index: si, Variant: v.Number})
				if err != nil {
					return nil, badInput(v.Recipe.Errorf("output.name", "%v", err))
				}
				name = trimDoublePNG(name)
				img.path = filepath.Join(dir, name)
			} else {
				img.path = dir // named below, once the count is known
			}
			b.images = append(b.images, img)
		}
	}
	if o.names != nil {
		for i, img := range b.images {
			img.path = filepath.Join(img.path, o.names(img, i, len(b.images)))
		}
	}
	if len(r.Sweep) > 0 {
		dir := o.outDir
		if dir == "" {
			dir = r.Path(r.Output.Dir)
		}
		b.sheet = filepath.Join(dir, b.name+"-sweep.png")
		b.sheetCols = sheetColumns(r.Sweep.Shape(), len(r.SeedList()))
	}
	return b, checkOutputs([]*batch{b}, o.force)
}

// sheetColumns lays a sweep out with the last axis (times the seeds)
// along a row, wrapping rows longer than 8 images.
func sheetColumns(shape []int, seeds int) int {
	cols := seeds
	if len(shape) > 0 {
		cols *= shape[len(shape)-1]
	}
	if cols > 8 {
		cols = 8
	}
	return max(cols, 1)
}

// trimDoublePNG drops the ".png" that output.FileName adds to a name
// that already ends in ".png" (any case): output.name: x.png writes
// x.png, not x.png.png.
func trimDoublePNG(name string) string {
	stem := strings.TrimSuffix(name, ".png")
	if len(stem) > len(".png") && strings.EqualFold(filepath.Ext(stem), ".png") {
		return stem
	}
	return name
}

// maxNameBytes is the longest file name (one path element) Linux file
// systems take.
const maxNameBytes = 255

// checkOutputs refuses, before any model runs, two images with one file
// name, a file name longer than the file system takes, a folder where an
// image goes (with force too: --force replaces files, not folders),
// without force files that exist, and output folders that are files or
// cannot be created or written to.
func checkOutputs(batches []*batch, force bool) error {
	seen := map[string]string{}
	dirs := map[string]bool{}
	check := func(path, what string) error {
		abs, err := filepath.Abs(path)
		if err != nil {
			return badInput(err)
		}
		if prev, dup := seen[abs]; dup {
			return badInputf("%s and %s would both be written to %s; give output.name placeholders ({seed}, {variant}) or another output.dir", prev, what, path)
		}
		seen[abs] = what
		if base := filepath.Base(abs); len(base) > maxNameBytes {
			return badInputf("%s: the file name of %s is %d bytes long, longer than the %d bytes file systems take; shorten output.name", path, what, len(base), maxNameBytes)
		}
		if dir := filepath.Dir(abs); !dirs[dir] {
			dirs[dir] = true
			if err := checkOutputDir(filepath.Dir(path)); err != nil {
				return err
			}
		}
		st, err := os.Lstat(path)
		switch {
		case err != nil:
			return nil
		case st.IsDir():
			return badInputf("%s is a folder; refusing to write %s there (--force replaces files, not folders): give another --out or output.name", path, what)
		case !force:
			return badInputf("%s exists; refusing to overwrite it (use --force, or another --out)", path)
		}
		return nil
	}
	for _, b := range batches {
		for _, img := range b.images {
			what := b.name
			if img.label != "" {
				what += " (" + img.label + ")"
			}
			if err := check(img.path, what); err != nil {
				return err
			}
		}
		if b.sheet != "" {
			if err := check(b.sheet, b.name+"'s contact sheet"); err != nil {
				return err
			}
		}
	}
	return nil
}

// checkOutputDir checks that the output folder dir is a folder, or can be
// created as one, and can be written to: it creates and removes a file in
// dir, or in its nearest existing parent when dir is missing. Errors are
// bad input naming dir.
func checkOutputDir(dir string) error {
	if dir == "" {
		dir = "."
	}
	hint := "give another --out or output.dir"
	p := dir
	for {
		st, err := os.Stat(p)
		if err == nil {
			if st.IsDir() {
				break
			}
			if p == dir {
				return badInputf("output folder %s is a file, not a folder; %s", dir, hint)
			}
			return badInputf("output folder %s cannot be created: %s is a file, not a folder; %s", dir, p, hint)
		}
		if !errors.Is(err, fs.ErrNotExist) && !errors.Is(err, syscall.ENOTDIR) {
			return badInputf("output folder %s: %v; %s", dir, err, hint)
		}
		parent := filepath.Dir(p)
		if parent == p {
			return badInputf("output folder %s: %v; %s", dir, err, hint)
		}
		p = parent
	}
	f, err := os.CreateTemp(p, ".coop-write-check-*")
	if err != nil {
		var pe *fs.PathError
		if errors.As(err, &pe) {
			err = pe.Err
		}
		if p == dir {
			return badInputf("output folder %s is not writable (%v); %s", dir, err, hint)
		}
		return badInputf("output folder %s cannot be created: %s is not writable (%v); %s", dir, p, err, hint)
	}
	f.Close()
	os.Remove(f.Name())
	return nil
}

// checkImages reads every control and input image of a job in full (see
// job.Job.CheckImages), so that an image over the size limit, a file that
// is not an image and one cut short stop the run before it starts; warn
// gets each warning about an image coop converts once (warned holds those
// given, across a sweep's combinations).
func checkImages(j *job.Job, warned map[string]bool, warn func(string)) error {
	warnings, err := j.CheckImages()
	if err != nil {
		return err
	}
	for _, w := range warnings {
		if !warned[w] {
			warned[w] = true
			if warn != nil {
				warn(w)
			}
		}
	}
	return nil
}

// checkDigests compares the models' SHA-256 with those the recipe
// records. A difference is a warning (the image may differ from the one
// the recipe made), or an error with --strict.
func checkDigests(r *recipes.Recipe, digests map[string]string, o batchOptions, warned map[string]bool) error {
	for _, name := range r.ModelNames() {
		m := r.Models[name]
		got, ok := digests[name]
		if m == nil || m.SHA256 == "" || !ok || strings.EqualFold(m.SHA256, got) {
			continue
		}
		key := name + "\x00" + m.Path + "\x00" + m.SHA256
		if warned[key] {
			continue
		}
		warned[key] = true
		origin := o.origin
		if origin == "" {
			origin = "the recipe"
		}
		msg := fmt.Sprintf("model %s (%s) is not the one %s was made with: its SHA-256 is %s, %s records %s (at %s); the image may differ",
			name, r.Path(m.Path), origin, got, origin, strings.ToLower(m.SHA256), r.Pos("models."+name+".sha256"))
		if o.strict {
			return badInputf("%s (--strict)", msg)
		}
		if o.warn != nil {
			o.warn("%s", msg)
		}
	}
	return nil
}

// digestCache opens the cache of model file digests in coop's cache
// folder; without one, digests are computed every time.
func digestCache() *job.DigestCache {
	dir, err := ort.CacheDir()
	if err != nil {
		return job.OpenDigestCache("")
	}
	return job.OpenDigestCache(filepath.Join(dir, job.DigestCacheFile))
}

// Compression levels of the images and of the contact sheets (which go
// into READMEs). Variables so that the tests can trade size for speed
// under the race detector.
var (
	imageCompression = png.DefaultCompression
	sheetCompression = png.BestCompression
)

// encodeImage encodes a [1, 3, H, W] image in [0, 1] as an 8-bit RGB PNG
// holding the recipe text under recipes.PNGKey. The encoding is
// deterministic, so the same image and text give the same bytes.
func encodeImage(img *latent.Tensor, text []byte) ([]byte, error) {
	var buf bytes.Buffer
	enc := png.Encoder{CompressionLevel: imageCompression}
	if err := enc.Encode(&buf, latent.ToImage(img)); err != nil {
		return nil, err
	}
	return recipes.EmbedInPNG(buf.Bytes(), recipes.PNGKey, string(text))
}

// writeOutput writes data to path atomically, creating the folder.
func writeOutput(path string, data []byte, force bool) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	err := job.WriteFileAtomic(path, data, force)
	if errors.Is(err, job.ErrExists) {
		return badInput(err)
	}
	return err
}

// thumbnail scales img to fit a size x size square (never enlarging), for
// contact sheets.
func thumbnail(img image.Image, size int) image.Image {
	b := img.Bounds()
	if b.Dx() <= size && b.Dy() <= size {
		return img
	}
	w, h := size, size
	if b.Dx() >= b.Dy() {
		h = max(1, size*b.Dy()/b.Dx())
	} else {
		w = max(1, size*b.Dx()/b.Dy())
	}
	dst := image.NewNRGBA(image.Rect(0, 0, w, h))
	draw.CatmullRom.Scale(dst, dst.Bounds(), img, b, draw.Src, nil)
	return dst
}
