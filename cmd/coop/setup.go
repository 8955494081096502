package main

import (
	"context"
	"fmt"

	"github.com/urfave/cli/v3"

	"github.com/coop-diffusion/coop/internal/ort"
)

func init() {
	register(&cli.Command{
		Name:  "setup",
		Usage: "download ONNX Runtime " + ort.Version + " into the per-user cache, or check which library coop would load",
		Description: "coop setup fetches the linux-x64 ONNX Runtime library from the npm package onnxruntime-node " +
			"(with `npm pack` when npm is installed, else from $npm_config_registry or https://registry.npmjs.org/), " +
			"checks its SHA-256 and stores it under $" + ort.CacheEnv + " or the user cache directory. " +
			"It does nothing when an intact copy is already there.\n\n" +
			"coop setup --check reports which library coop would load (--ort-lib, $" + ort.LibraryEnv +
			", the cache, then system directories), loads it to prove it works, and fails when there is none.",
		Flags: []cli.Flag{
			&cli.BoolFlag{Name: "force", Usage: "download again even when the cached library is intact"},
			&cli.BoolFlag{Name: "check", Usage: "do not download: report where the library would be loaded from, and fail if it is missing or broken"},
		},
		Action: setupAction,
	})
}

func setupAction(ctx context.Context, cmd *cli.Command) error {
	if cmd.NArg() > 0 {
		return badInputf("setup takes no arguments, got %q", cmd.Args().Slice())
	}
	out := cmd.Root().Writer
	if cmd.Bool("check") {
		if cmd.Bool("force") {
			return badInputf("setup: --check and --force exclude each other")
		}
		path, source, err := ort.Locate(cmd.String("ort-lib"))
		if err != nil {
			return err
		}
		if err := ort.Init(path); err != nil {
			return fmt.Errorf("%w (found via %s)", err, source)
		}
		fmt.Fprintf(out, "ONNX Runtime %s: %s (from %s)\n", ort.RuntimeVersion(), path, source)
		return nil
	}
	path, err := ort.Setup(ctx, ort.SetupOptions{Force: cmd.Bool("force"), Progress: cmd.Root().ErrWriter})
	if err != nil {
		return err
	}
	fmt.Fprintln(out, path)
	// Say so when another library would win over the one just installed.
	if found, source, err := ort.Locate(cmd.String("ort-lib")); err == nil && source != ort.SourceCache {
		fmt.Fprintf(cmd.Root().ErrWriter, "note: coop loads %s (from %s) before the cache\n", found, source)
	}
	return nil
}
