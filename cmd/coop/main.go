// Command coop composes diffusion models that were never trained together.
// Each subcommand lives in its own file and registers itself in init, so the
// command list in --help is exactly the set of commands that exist.
package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"sort"
	"strings"
	"syscall"

	"github.com/urfave/cli/v3"

	"github.com/coop-diffusion/coop/internal/ort"
)

// version is the engine version recorded in every PNG coop writes.
var version = "0.1.0-dev"

var commands []*cli.Command

// register adds a subcommand; called from init in each command's file.
// Flag errors of every command are bad input (exit status 2).
func register(c *cli.Command) {
	if c.OnUsageError == nil {
		c.OnUsageError = flagError
	}
	commands = append(commands, c)
}

func flagError(ctx context.Context, cmd *cli.Command, err error, isSubcommand bool) error {
	return badInput(err)
}

// exitError carries the process exit status for an error: 1 for failures,
// 2 for bad input (usage, recipes, arguments; also a model file ONNX
// Runtime refuses, an ort.RejectedError), 130 for interruption.
type exitError struct {
	code int
	err  error
}

func (e *exitError) Error() string { return e.err.Error() }
func (e *exitError) Unwrap() error { return e.err }

// badInput marks err as the user's input being at fault (exit status 2).
func badInput(err error) error {
	if err == nil {
		return nil
	}
	return &exitError{code: 2, err: err}
}

// badInputf formats a bad-input error.
func badInputf(format string, args ...any) error {
	return badInput(fmt.Errorf(format, args...))
}

func rootCommand() *cli.Command {
	sort.Slice(commands, func(i, j int) bool { return commands[i].Name < commands[j].Name })
	root := &cli.Command{
		Name:    "coop",
		Usage:   "compose diffusion models that were never trained together",
		Version: version,
		Flags: []cli.Flag{
			&cli.StringFlag{
				Name:  "ort-lib",
				Usage: "path to libonnxruntime (else $ONNXRUNTIME_SHARED_LIBRARY_PATH, the cache filled by coop setup, then system paths)",
			},
		},
		Commands:              commands,
		EnableShellCompletion: false,
		OnUsageError:          flagError,
		// Exit statuses are decided in run, never inside the CLI library.
		ExitErrHandler: func(context.Context, *cli.Command, error) {},
	}
	keepCommas(root)
	return root
}

// keepCommas stops the CLI library from splitting the values of
// repeatable flags at commas, for c and its subcommands: a --set value is
// YAML (weight=[[1, 0.2], [0, 0.8]], prompt=a cat, asleep) and an image
// path may hold a comma. Flags that take lists repeat instead, or split
// their own values where their usage says so (fixtures --only).
func keepCommas(c *cli.Command) {
	c.DisableSliceFlagSeparator = true
	for _, sub := range c.Commands {
		keepCommas(sub)
	}
}

func main() {
	os.Exit(run(os.Args, os.Stdout, os.Stderr))
}

// run executes the CLI and maps errors to exit statuses.
func run(args []string, stdout, stderr *os.File) int {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	// After the first Ctrl-C the engine winds down; a second one kills the
	// process the default way, for a run stuck outside a model call.
	context.AfterFunc(ctx, stop)
	root := rootCommand()
	root.Writer = stdout
	root.ErrWriter = stderr
	err := root.Run(ctx, args)
	if err == nil {
		return 0
	}
	var ee *exitError
	var coder cli.ExitCoder
	var rejected *ort.RejectedError
	if msg := err.Error(); errors.As(err, &coder) && strings.HasPrefix(msg, "No help topic for ") {
		fmt.Fprintf(stderr, "coop: unknown command %s; coop --help lists the commands\n", strings.TrimPrefix(msg, "No help topic for "))
		return 2
	}
	fmt.Fprintf(stderr, "coop: %v\n", err)
	switch {
	case errors.As(err, &ee):
		return ee.code
	case errors.As(err, &rejected):
		// A model file ONNX Runtime cannot load is bad input, however
		// late it is found: the file is at fault, not the run.
		return 2
	case errors.As(err, &coder):
		// The CLI library's own errors (an unknown command) are usage
		// errors.
		return 2
	case errors.Is(err, context.Canceled) && ctx.Err() != nil:
		return 130
	}
	return 1
}
