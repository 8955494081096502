package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"github.com/urfave/cli/v3"

	"github.com/coop-diffusion/coop/adapters"
	_ "github.com/coop-diffusion/coop/adapters/all" // every model family
	"github.com/coop-diffusion/coop/coop/interposer"
	"github.com/coop-diffusion/coop/internal/fixtures"
	"github.com/coop-diffusion/coop/latent"
)

func init() {
	register(&cli.Command{
		Name:  "interposer",
		Usage: "fit and check latent interposers: linear maps that carry latents between spaces without decoding",
		Description: "A latent interposer replaces the pixel bridge of a fusion (decode with one model's autoencoder, " +
			"resize, encode with the other's) by a linear map fitted on calibration images; a recipe names its file " +
			"with bridge: {interposer: FILE}. See coop/interposer for the map and the file format.",
		Commands: []*cli.Command{
			{
				Name:      "fit",
				Usage:     "fit an interposer from one model's latent space to another's and write it to a file",
				ArgsUsage: " ",
				Description: "coop interposer fit loads the autoencoders of the --from and --to model folders, encodes each " +
					"calibration image in the source space at --from-size, carries it through the pixel bridge into the " +
					"target space at --to-size, and fits the linear map from the one to the other by least squares " +
					"(ridge penalty chosen by cross-validation over the images). It prints the fit's residual and, on the " +
					"last --holdout images, which the fit does not see, the PSNR of the interposer's output against the " +
					"pixel bridge's (both decoded by the target model), then writes the interposer to --out.\n\n" +
					"Calibration images: --images, repeatable, each a PNG or JPEG file or a folder of them (taken in " +
					"name order); without it, the eight photographs coop ships with its test fixtures. Images are resized " +
					"to each side's size. Sizes are WIDTHxHEIGHT or one number for a square, and default to each model's " +
					"native size.\n\n" +
					"Exit status: 0 done, 1 failure, 2 bad input (a model folder, an image, a size, an existing --out).",
				Flags: []cli.Flag{
					&cli.StringFlag{Name: "from", Usage: "model folder of the source latent space"},
					&cli.StringFlag{Name: "to", Usage: "model folder of the target latent space"},
					&cli.StringSliceFlag{Name: "images", Usage: "calibration image file or folder (repeatable); default: the fixture photographs"},
					&cli.StringFlag{Name: "from-size", Usage: "pixel size on the source side, WxH (default: the model's native size)"},
					&cli.StringFlag{Name: "to-size", Usage: "pixel size on the target side, WxH (default: the model's native size)"},
					&cli.IntFlag{Name: "holdout", Value: 2, Usage: "how many of the last images to leave out of the fit and compare on"},
					&cli.IntFlag{Name: "window", Value: 1, Usage: "odd side of the neighbourhood each latent pixel reads"},
					&cli.IntFlag{Name: "max-phases", Value: 6, Usage: "most latent samples of the finer grid per pixel of the coarser, per axis"},
					&cli.BoolFlag{Name: "per-pixel", Usage: "resample the source to the target grid and map pixel by pixel (no phases)"},
					&cli.StringFlag{Name: "out", Usage: "interposer file to write (JSON)"},
					&cli.BoolFlag{Name: "force", Usage: "replace an existing --out file"},
				},
				Action:       interposerFitAction,
				OnUsageError: usageError,
			},
			{
				Name:         "check",
				Usage:        "read an interposer file and print what it maps, how and how well it was fitted",
				ArgsUsage:    "FILE",
				Action:       interposerCheckAction,
				OnUsageError: usageError,
			},
		},
	})
}

func interposerFitAction(ctx context.Context, cmd *cli.Command) error {
	if cmd.NArg() > 0 {
		return badInputf("interposer fit takes no arguments, got %q (give images with --images)", cmd.Args().Slice())
	}
	fromDir, toDir, out := cmd.String("from"), cmd.String("to"), cmd.String("out")
	switch {
	case fromDir == "":
		return badInputf("interposer fit: --from MODEL_DIR is required")
	case toDir == "":
		return badInputf("interposer fit: --to MODEL_DIR is required")
	case out == "":
		return badInputf("interposer fit: --out FILE is required")
	}
	if err := interposerOutFile(out, cmd.Bool("force")); err != nil {
		return err
	}
	opts := interposer.DefaultOptions()
	opts.Window = cmd.Int("window")
	opts.MaxPhases = cmd.Int("max-phases")
	opts.PerPixel = cmd.Bool("per-pixel")
	if opts.Window < 1 || opts.Window%2 == 0 {
		return badInputf("interposer fit: --window %d must be a positive odd number", opts.Window)
	}
	if opts.MaxPhases < 1 || opts.MaxPhases > 64 {
		return badInputf("interposer fit: --max-phases %d must be between 1 and 64", opts.MaxPhases)
	}
	images, names, err := interposerImages(cmd.StringSlice("images"))
	if err != nil {
		return badInput(err)
	}
	if holdout := cmd.Int("holdout"); holdout < 0 || holdout >= len(images) {
		return badInputf("interposer fit: --holdout %d must leave at least one of the %d images for the fit", holdout, len(images))
	}

	fromInfo, err := adapters.Check(fromDir, adapters.LoadOptions{})
	if err != nil {
		return badInput(err)
	}
	toInfo, err := adapters.Check(toDir, adapters.LoadOptions{})
	if err != nil {
		return badInput(err)
	}
	fromPx, err := interposerSize(cmd.String("from-size"), fromInfo, "--from-size")
	if err != nil {
		return badInput(err)
	}
	toPx, err := interposerSize(cmd.String("to-size"), toInfo, "--to-size")
	if err != nil {
		return badInput(err)
	}
	holdout := cmd.Int("holdout")
	if err := interposerParts(fromInfo, "--from", true, true, ""); err != nil {
		return err
	}
	if err := interposerParts(toInfo, "--to", true, holdout > 0, "the held-out images are decoded with it; --holdout 0 skips them"); err != nil {
		return err
	}
	if err := initRuntime(cmd.String("ort-lib"), ""); err != nil {
		return err
	}
	from, err := interposerAutoencoder(ctx, fromDir, fromInfo)
	if err != nil {
		return err
	}
	defer from.Close()
	to, err := interposerAutoencoder(ctx, toDir, toInfo)
	if err != nil {
		return err
	}
	defer to.Close()

	fit := len(images) - holdout
	opts.Names = names[:fit]
	ip, err := interposer.FitWith(ctx, from.VAE, to.VAE, images[:fit], fromPx, toPx, opts)
	if err != nil {
		return err
	}
	w := cmd.Root().Writer
	printInterposerFile(w, ip)
	if holdout > 0 {
		q, err := interposer.Evaluate(ctx, ip, from.VAE, to.VAE, images[fit:], fromPx, toPx)
		if err != nil {
			return err
		}
		fmt.Fprintf(w, "held out:     %d images (%s)\n", holdout, strings.Join(names[fit:], ", "))
		fmt.Fprintf(w, "  against the pixel bridge: PSNR %.1f dB (worst image %.1f dB), latent SNR %.1f dB\n", q.PSNR, q.MinPSNR, q.LatentSNR)
		fmt.Fprintf(w, "  against the images:       pixel bridge %.1f dB, interposer %.1f dB\n", q.BridgePSNR, q.InterposerPSNR)
	}
	if err := ip.Save(out); err != nil {
		return err
	}
	fmt.Fprintf(w, "wrote %s\n", out)
	return nil
}

func interposerCheckAction(ctx context.Context, cmd *cli.Command) error {
	if cmd.NArg() != 1 {
		return badInputf("interposer check takes one interposer FILE, got %d arguments", cmd.NArg())
	}
	ip, err := interposer.Load(cmd.Args().First())
	if err != nil {
		return badInput(err)
	}
	printInterposerFile(cmd.Root().Writer, ip)
	return nil
}

// printInterposerFile writes what an interposer maps and how it was fitted.
func printInterposerFile(w io.Writer, ip *interposer.Interposer) {
	f, t, l, c := ip.From(), ip.To(), ip.Layout(), ip.Calibration()
	side := func(e interposer.Endpoint) string {
		return fmt.Sprintf("%s, %d channels at %dx%d (%dx%d px, factor %g)", e.Space, e.Channels, e.LatentWidth, e.LatentHeight, e.Width, e.Height, e.Factor)
	}
	fmt.Fprintf(w, "from:         %s\n", side(f))
	fmt.Fprintf(w, "to:           %s\n", side(t))
	fmt.Fprintf(w, "map:          window %d, input phases %dx%d, output phases %dx%d: %d outputs of %d features and a bias\n",
		l.Window, l.InPhases[1], l.InPhases[0], l.OutPhases[1], l.OutPhases[0], ip.Outputs(), ip.Features())
	fmt.Fprintf(w, "resampling:   source %s, target %s\n", l.SourceFilter, l.Filter)
	names := ""
	if len(c.Names) > 0 {
		names = " (" + strings.Join(c.Names, ", ") + ")"
	}
	fmt.Fprintf(w, "calibration:  %d images%s, target %s, %d samples, rank %d, ridge %.0e\n", c.Images, names, c.Target, c.Samples, c.Rank, c.Ridge)
	fmt.Fprintf(w, "fit residual: RMS %.4g latent units, relative %.4f (held out by cross-validation: %.4f)\n",
		c.ResidualRMS, c.RelativeResidual, c.HeldOutRelativeResidual)
}

// interposerOutFile refuses to replace an existing file without force, and a
// path whose folder does not exist.
func interposerOutFile(path string, force bool) error {
	st, err := os.Stat(path)
	switch {
	case err == nil && st.IsDir():
		return badInputf("interposer fit: --out %s is a folder", path)
	case err == nil && !force:
		return badInputf("%s exists; refusing to overwrite it (use --force)", path)
	case err != nil && !errors.Is(err, fs.ErrNotExist):
		return badInput(err)
	}
	if st, err := os.Stat(filepath.Dir(path)); err != nil || !st.IsDir() {
		return badInputf("interposer fit: --out %s: folder %s does not exist", path, filepath.Dir(path))
	}
	return nil
}

// interposerImages loads the images the paths name (files, or folders of
// PNG and JPEG files in name order), or the fixture photographs when there
// are none, with their names.
func interposerImages(paths []string) ([]*latent.Tensor, []string, error) {
	if len(paths) == 0 {
		var images []*latent.Tensor
		for k := range fixtures.NumPhotos {
			images = append(images, fixtures.Photo(k))
		}
		return images, fixtures.PhotoNames(), nil
	}
	var files []string
	for _, p := range paths {
		st, err := os.Stat(p)
		if err != nil {
			return nil, nil, fmt.Errorf("--images: %w", err)
		}
		if !st.IsDir() {
			files = append(files, p)
			continue
		}
		entries, err := os.ReadDir(p)
		if err != nil {
			return nil, nil, fmt.Errorf("--images: %w", err)
		}
		var found []string
		for _, e := range entries {
			ext := strings.ToLower(filepath.Ext(e.Name()))
			if !e.IsDir() && (ext == ".png" || ext == ".jpg" || ext == ".jpeg") {
				found = append(found, filepath.Join(p, e.Name()))
			}
		}
		if len(found) == 0 {
			return nil, nil, fmt.Errorf("--images: folder %s holds no PNG or JPEG file", p)
		}
		slices.Sort(found)
		files = append(files, found...)
	}
	images := make([]*latent.Tensor, len(files))
	names := make([]string, len(files))
	for i, f := range files {
		img, err := latent.LoadImage(f)
		if err != nil {
			return nil, nil, fmt.Errorf("--images: %w", err)
		}
		images[i], names[i] = img, filepath.Base(f)
	}
	return images, names, nil
}

// interposerSize parses a WxH (or N) size flag, defaulting to the model's native
// size, and checks that the model's latent space can cut it.
func interposerSize(flag string, info *adapters.Info, name string) (adapters.Size, error) {
	size := info.Native
	if info.Space.Channels == 0 {
		return size, fmt.Errorf("model %q (%s) is a %s folder without a latent space to fit an interposer on", info.Name, info.Dir, info.Family)
	}
	if flag != "" {
		w, h, ok := strings.Cut(strings.ToLower(flag), "x")
		if !ok {
			h = w
		}
		wi, errW := strconv.Atoi(strings.TrimSpace(w))
		hi, errH := strconv.Atoi(strings.TrimSpace(h))
		if errW != nil || errH != nil || wi <= 0 || hi <= 0 {
			return size, fmt.Errorf("%s %q: want WIDTHxHEIGHT in pixels, e.g. 512x512, or one number for a square", name, flag)
		}
		size = adapters.Size{Height: hi, Width: wi}
	}
	if size.Height <= 0 || size.Width <= 0 {
		return size, fmt.Errorf("model %q (%s) states no native size; give %s", info.Name, info.Dir, name)
	}
	if _, _, err := info.Space.LatentSize(size.Height, size.Width); err != nil {
		return size, fmt.Errorf("%s for model %q: %w", name, info.Name, err)
	}
	return size, nil
}

// interposerParts refuses a model folder without the autoencoder parts a
// fit uses (Info.Parts, as adapters.Check finds them): the source's
// encoder and decoder (the calibration images are encoded into its space,
// and the pixel bridge decodes them), the target's encoder (the bridge's
// far end) and, for the held-out evaluation, its decoder (why says so).
func interposerParts(info *adapters.Info, flag string, encoder, decoder bool, why string) error {
	var missing []string
	if encoder && !info.Parts.Encoder {
		missing = append(missing, "VAE encoder (vae_encoder)")
	}
	if decoder && !info.Parts.Decoder {
		missing = append(missing, "VAE decoder (vae_decoder)")
	}
	if len(missing) == 0 {
		return nil
	}
	if why != "" && !info.Parts.Decoder && decoder {
		why = ": " + why
	} else {
		why = ""
	}
	return badInputf("interposer fit: %s %s: model %q has no %s, which fitting an interposer needs%s",
		flag, info.Dir, info.Name, strings.Join(missing, " and no "), why)
}

// interposerAutoencoder loads the model folder and returns it when it has an
// autoencoder.
func interposerAutoencoder(ctx context.Context, dir string, info *adapters.Info) (*adapters.Model, error) {
	m, err := adapters.Load(ctx, dir, adapters.LoadOptions{})
	if err != nil {
		return nil, err
	}
	if m.VAE == nil {
		m.Close()
		return nil, badInputf("model %q (%s) has no autoencoder to fit an interposer on", info.Name, dir)
	}
	return m, nil
}
