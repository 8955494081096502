package main

import (
	"github.com/urfave/cli/v3"

	"github.com/coop-diffusion/coop/recipes"
)

// limitFlags change recipes.Limits, the bounds a recipe's sizes, steps,
// image counts and images are checked against before anything is
// allocated. run, validate, plan and bench share them, so that what
// validate accepts, run runs.
func limitFlags() []cli.Flag {
	d := recipes.DefaultLimits
	return []cli.Flag{
		&cli.IntFlag{Name: "max-size", Value: d.MaxSize, Usage: "largest width or height in pixels a recipe may ask for"},
		&cli.IntFlag{Name: "max-steps", Value: d.MaxSteps, Usage: "largest step count a recipe may ask for"},
		&cli.IntFlag{Name: "max-images", Value: d.MaxImages, Usage: "most images one recipe may render, seeds times sweep combinations"},
		&cli.Int64Flag{Name: "max-image-pixels", Value: d.MaxImagePixels, Usage: "largest control or input image, width times height (67108864 is 8192 x 8192)"},
	}
}

// limits reads the limit flags; a flag not given keeps the default. A
// value below 1 is bad input.
func limits(cmd *cli.Command) (recipes.Limits, error) {
	var l recipes.Limits
	for _, f := range []struct {
		name string
		dst  *int
	}{{"max-size", &l.MaxSize}, {"max-steps", &l.MaxSteps}, {"max-images", &l.MaxImages}} {
		if !cmd.IsSet(f.name) {
			continue
		}
		v := cmd.Int(f.name)
		if v < 1 {
			return l, badInputf("--%s %d: give a positive number", f.name, v)
		}
		*f.dst = v
	}
	if cmd.IsSet("max-image-pixels") {
		v := cmd.Int64("max-image-pixels")
		if v < 1 {
			return l, badInputf("--max-image-pixels %d: give a positive number", v)
		}
		l.MaxImagePixels = v
	}
	return l, nil
}
