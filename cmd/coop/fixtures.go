package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"text/tabwriter"

	"github.com/urfave/cli/v3"

	"github.com/coop-diffusion/coop/internal/fixtures"
)

func init() {
	register(&cli.Command{
		Name:  "fixtures",
		Usage: "write the fixture zoo: small ONNX models with the real signatures of SD 1.x/2.x, SDXL, Stable Cascade and ControlNet exports",
		Description: "coop fixtures writes coop's self-made test models into DIR, one diffusers/optimum-style folder per " +
			"fixture (DIR/sd15, DIR/sdxl, DIR/cascade-prior, ...), plus DIR/" + fixtures.ImagesFolder + " with the eight " +
			"photographs the fixtures are built from and their control images (<photo>-control.png). " +
			"The models are exact denoisers over those photographs: a correct sampler prompted with a photo's keyword " +
			"(\"a photo of a cat\") lands on that photo. docs/FIXTURES.md describes every folder and the maths.\n\n" +
			"The files are the same bytes on every run and machine. Writing into a folder that already holds a zoo " +
			"rewrites the zoo's files (unchanged files are left as they are) and touches nothing else, so running it " +
			"twice is harmless; other files in DIR are kept.",
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "out", Usage: "folder to write the zoo into (created when missing)"},
			&cli.StringSliceFlag{Name: "only", Usage: "write only these fixtures, comma-separated (see --list)"},
			&cli.BoolFlag{Name: "list", Usage: "list the fixtures and exit, writing nothing"},
		},
		Action: fixturesAction,
	})
}

func fixturesAction(ctx context.Context, cmd *cli.Command) error {
	if cmd.NArg() > 0 {
		return badInputf("fixtures takes no arguments, got %q (did you mean --out %s?)", cmd.Args().Slice(), cmd.Args().First())
	}
	out := cmd.Root().Writer
	if cmd.Bool("list") {
		w := tabwriter.NewWriter(out, 0, 8, 2, ' ', 0)
		fmt.Fprintln(w, "NAME\tFAMILY\tSPACE\tSIZE\tLATENT\tABOUT")
		for _, name := range fixtures.Names() {
			f, _ := fixtures.Lookup(name)
			fmt.Fprintf(w, "%s\t%s\t%s\t%d\t%dx%dx%d\t%s\n", f.Name, f.Family, f.Space, f.Size, f.Latent[0], f.Latent[1], f.Latent[2], f.About)
		}
		return w.Flush()
	}
	dir := cmd.String("out")
	if dir == "" {
		return badInputf("fixtures: --out DIR is required (the folder to write the zoo into)")
	}
	if st, err := os.Stat(dir); err == nil && !st.IsDir() {
		return badInputf("fixtures: --out %s is a file, not a folder", dir)
	}
	var names []string
	for _, v := range cmd.StringSlice("only") {
		for _, n := range strings.Split(v, ",") {
			if n = strings.TrimSpace(n); n != "" {
				names = append(names, n)
			}
		}
	}
	if cmd.IsSet("only") && len(names) == 0 {
		return badInputf("fixtures: --only names no fixture; give fixture names (see --list), or leave --only out to write the whole zoo")
	}
	for _, n := range names {
		if _, ok := fixtures.Lookup(n); !ok {
			return badInputf("fixtures: --only: no fixture called %q; known: %s", n, strings.Join(fixtures.Names(), ", "))
		}
	}
	if len(names) == 0 {
		names = fixtures.Names()
	}
	for _, n := range names {
		if err := ctx.Err(); err != nil {
			return err
		}
		if err := fixtures.Write(dir, n); err != nil {
			return err
		}
		fmt.Fprintln(out, filepath.Join(dir, n))
	}
	images := filepath.Join(dir, fixtures.ImagesFolder)
	if err := fixtures.WriteImages(images); err != nil {
		return err
	}
	fmt.Fprintln(out, images)
	return nil
}
