package main

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/urfave/cli/v3"

	"github.com/coop-diffusion/coop/internal/job"
	"github.com/coop-diffusion/coop/recipes"
)

func init() {
	register(&cli.Command{
		Name:      "validate",
		Usage:     "check recipes against the schema and every model's signature, without loading weights",
		ArgsUsage: "RECIPE.yaml | IMAGE.png ...",
		Description: "coop validate reads each recipe and reports every problem as FILE:LINE:COL: message, the form " +
			"editors jump to: unknown or misspelt fields, wrong types, values out of range, models and files that " +
			"do not exist, then, for every sweep combination, what needs the models: each model folder's family " +
			"and graph signatures, opsets ONNX Runtime does not load, external weight files missing or cut short, " +
			"tokenizer files, ControlNets on a base of another family, a refiner asked to start from noise, " +
			"sizes that are not a multiple of a latent space's factor or that a graph's fixed size does not take, " +
			"and every control and input image (decoded in full; over --max-image-pixels refused from its header). " +
			"Images coop converts (grayscale, translucent, another aspect ratio) are warned about on stderr. " +
			"No weights are read and no model runs.\n\n" +
			"Given a PNG that coop wrote, coop validate checks the recipe it holds, as coop run would re-run it " +
			"(with a warning when another coop version made it).\n\n" +
			"--schema-only checks the recipe alone (no model folders, images or files), for recipes written for " +
			"another machine. The --max-* flags change the limits recipes are checked against, as for coop run.\n\n" +
			"Exit status: 0 when every recipe is valid, 2 when one is not.",
		Flags: append([]cli.Flag{
			&cli.StringSliceFlag{Name: "set", Usage: "override a recipe field, path=value (repeatable)"},
			&cli.BoolFlag{Name: "schema-only", Usage: "check the recipe alone, without its model folders and files"},
		}, limitFlags()...),
		Action:       validateAction,
		OnUsageError: usageError,
	})
}

func validateAction(ctx context.Context, cmd *cli.Command) error {
	if cmd.NArg() == 0 {
		return badInputf("validate: give one or more recipe files (or PNGs coop wrote)")
	}
	stdout, stderr := cmd.Root().Writer, cmd.Root().ErrWriter
	lim, err := limits(cmd)
	if err != nil {
		return err
	}
	bad := 0
	for _, path := range cmd.Args().Slice() {
		loader := recipes.Loader{Sets: cmd.StringSlice("set"), SkipFileChecks: cmd.Bool("schema-only"), Limits: lim}
		summary, err := validateRecipe(path, loader, func(w string) { fmt.Fprintf(stderr, "coop: warning: %s\n", w) })
		if err != nil {
			bad++
			for _, line := range errorLines(err) {
				fmt.Fprintln(stderr, line)
			}
			continue
		}
		fmt.Fprintf(stdout, "%s: ok (%s)\n", path, summary)
	}
	switch {
	case bad == 0:
		return nil
	case cmd.NArg() == 1:
		return badInputf("%s is not valid", cmd.Args().First())
	}
	return badInputf("%d of %d recipes are not valid", bad, cmd.NArg())
}

// errorLines splits a recipe error into its positioned lines.
func errorLines(err error) []string {
	var list recipes.ErrorList
	if errors.As(err, &list) {
		out := make([]string, len(list))
		for i, e := range list {
			out[i] = e.Error()
		}
		return out
	}
	return strings.Split(err.Error(), "\n")
}

// validateRecipe checks one recipe with loader and summarises it; warn
// gets the warnings about its images.
func validateRecipe(path string, loader recipes.Loader, warn func(string)) (string, error) {
	r, err := loader.Load(path)
	if err != nil {
		return "", err
	}
	warnMadeBy(r, func(format string, args ...any) { warn(fmt.Sprintf(format, args...)) })
	schemaOnly := loader.SkipFileChecks
	variants, err := recipes.Expand(r)
	if err != nil {
		return "", err
	}
	images := len(variants) * len(r.SeedList())
	summary := fmt.Sprintf("%s, %s, %s", plural(len(r.Models), "model"), plural(len(r.Stages), "stage"), plural(images, "image"))
	if len(r.Sweep) > 0 {
		summary += fmt.Sprintf(" from %s", plural(len(variants), "sweep combination"))
	}
	if schemaOnly {
		return summary + "; models not checked", nil
	}
	warned := map[string]bool{}
	for _, v := range variants {
		j, err := job.Prepare(v.Recipe)
		if err != nil {
			return "", withVariant(err, v)
		}
		if err := checkImages(j, warned, warn); err != nil {
			return "", withVariant(err, v)
		}
	}
	return summary + "; every model's signature checked", nil
}

// withVariant names the sweep combination an error belongs to.
func withVariant(err error, v recipes.Variant) error {
	if v.Label == "" {
		return err
	}
	var e *recipes.Error
	if errors.As(err, &e) {
		c := *e
		c.Msg += " (in sweep combination " + v.Label + ")"
		return &c
	}
	return fmt.Errorf("%w (in sweep combination %s)", err, v.Label)
}

// plural writes "1 image", "2 images", "3 bridge carries".
func plural(n int, what string) string {
	if n == 1 {
		return "1 " + what
	}
	if strings.HasSuffix(what, "y") && !strings.HasSuffix(what, "ay") && !strings.HasSuffix(what, "ey") {
		return fmt.Sprintf("%d %sies", n, strings.TrimSuffix(what, "y"))
	}
	return fmt.Sprintf("%d %ss", n, what)
}
