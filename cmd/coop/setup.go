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
			", the cache, then system directories), loads it to prove it works, and fails when there is none. With --cuda it checks the library --device cuda " +
			"loads: the CUDA build with its CUDA execution provider beside it, failing when only a CPU build is there.\n\n" +
			"coop setup --cuda installs the CUDA build of ONNX Runtime " + ort.CUDAVersion + " instead (the npm packages " +
			"com.github.asus4.onnxruntime and com.github.asus4.onnxruntime.linux-x64-gpu, about 330 MB to download): " +
			"libonnxruntime.so with its CUDA execution provider beside it, which --device cuda then loads when neither --ort-lib nor $" +
			ort.LibraryEnv + " names a library. The provider needs the CUDA 13 and cuDNN libraries " +
			"(libcublas.so.13, libcublasLt.so.13, libcudart.so.13, libcurand.so.10; a CUDA 13 PyTorch installation has them) on LD_LIBRARY_PATH.",
		Flags: []cli.Flag{
			&cli.BoolFlag{Name: "force", Usage: "download again even when the cached library is intact"},
			&cli.BoolFlag{Name: "check", Usage: "do not download: report where the library would be loaded from, and fail if it is missing or broken"},
			&cli.BoolFlag{Name: "cuda", Usage: "the CUDA build (" + ort.CUDAVersion + ", for --device cuda) instead of the CPU build"},
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
		device := ort.DeviceCPU
		if cmd.Bool("cuda") {
			device = ort.DeviceCUDA
		}
		path, source, err := ort.LocateFor(cmd.String("ort-lib"), device)
		if err != nil {
			return err
		}
		if device == ort.DeviceCUDA {
			// --check --cuda checks the CUDA build, not whatever
			// library --device cuda would fall back to.
			if err := ort.CheckCUDA(path, source); err != nil {
				return err
			}
		}
		if err := ort.Init(path); err != nil {
			return fmt.Errorf("%w (found via %s)", err, source)
		}
		fmt.Fprintf(out, "ONNX Runtime %s: %s (from %s)\n", ort.RuntimeVersion(), path, source)
		return nil
	}
	cuda := cmd.Bool("cuda")
	path, err := ort.Setup(ctx, ort.SetupOptions{Force: cmd.Bool("force"), Progress: cmd.Root().ErrWriter, CUDA: cuda})
	if err != nil {
		return err
	}
	fmt.Fprintln(out, path)
	// Say so when another library would win over the one just installed.
	device, want := ort.DeviceCPU, ort.SourceCache
	if cuda {
		device, want = ort.DeviceCUDA, ort.SourceCUDACache
	}
	if found, source, err := ort.LocateFor(cmd.String("ort-lib"), device); err == nil && source != want {
		fmt.Fprintf(cmd.Root().ErrWriter, "note: coop loads %s (from %s) before the cache\n", found, source)
	}
	if cuda {
		fmt.Fprintf(cmd.Root().ErrWriter, "note: --device cuda loads it; its CUDA execution provider needs the CUDA 13 and cuDNN libraries on LD_LIBRARY_PATH\n")
	}
	return nil
}
