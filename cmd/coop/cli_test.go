package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"reflect"
	"strings"
	"testing"

	"github.com/urfave/cli/v3"

	"github.com/coop-diffusion/coop/coop"
)

// cliResult is one in-process run of the CLI.
type cliResult struct {
	code           int
	stdout, stderr string
	err            error
}

// coopCLI runs `coop args...` in this process on a fresh root command and
// returns the exit status main would give, and the output.
func coopCLI(t *testing.T, args ...string) cliResult {
	t.Helper()
	return coopCLIContext(t, context.Background(), args...)
}

func coopCLIContext(t *testing.T, ctx context.Context, args ...string) cliResult {
	t.Helper()
	var out, errOut bytes.Buffer
	root := rootCommand()
	for i, c := range root.Commands {
		root.Commands[i] = freshCommand(c)
	}
	root.Flags = freshFlags(root.Flags)
	root.Writer, root.ErrWriter = &out, &errOut
	err := root.Run(ctx, append([]string{"coop"}, args...))
	res := cliResult{stdout: out.String(), stderr: errOut.String(), err: err}
	var ee *exitError
	switch {
	case err == nil:
	case errors.As(err, &ee):
		res.code = ee.code
	case errors.Is(err, context.Canceled) && ctx.Err() != nil:
		res.code = 130
	default:
		res.code = 1
	}
	if err != nil {
		res.stderr += "coop: " + err.Error() + "\n"
	}
	return res
}

// freshCommand copies c's exported fields, with its flags and
// subcommands copied the same way. The CLI library keeps in each flag
// whether it was given, and never clears it: a run in this process would
// otherwise see every flag that an earlier test gave (--seed, --device)
// as given again, with its default value.
func freshCommand(c *cli.Command) *cli.Command {
	n := exportedCopy(reflect.ValueOf(c)).Interface().(*cli.Command)
	n.Flags = freshFlags(c.Flags)
	n.Commands = make([]*cli.Command, len(c.Commands))
	for i, sub := range c.Commands {
		n.Commands[i] = freshCommand(sub)
	}
	return n
}

func freshFlags(flags []cli.Flag) []cli.Flag {
	out := make([]cli.Flag, len(flags))
	for i, f := range flags {
		out[i] = f
		if v := reflect.ValueOf(f); v.Kind() == reflect.Pointer && v.Elem().Kind() == reflect.Struct {
			out[i] = exportedCopy(v).Interface().(cli.Flag)
		}
	}
	return out
}

// exportedCopy returns a new struct holding the exported fields of the
// struct p points to.
func exportedCopy(p reflect.Value) reflect.Value {
	n := reflect.New(p.Elem().Type())
	for i := 0; i < p.Elem().NumField(); i++ {
		if p.Elem().Type().Field(i).IsExported() {
			n.Elem().Field(i).Set(p.Elem().Field(i))
		}
	}
	return n
}

// event is one line of --json output: the fields of every kind.
type event struct {
	Event   string       `json:"event"`
	Image   int          `json:"image"`
	Path    string       `json:"path"`
	Seed    uint64       `json:"seed"`
	Variant string       `json:"variant"`
	Step    int          `json:"step"`
	Steps   int          `json:"steps"`
	Stage   string       `json:"stage"`
	Report  *coop.Report `json:"report"`
	Message string       `json:"message"`
	Images  int          `json:"images"`
}

// events parses --json output, failing on a line that is not JSON.
func events(t *testing.T, stdout string) []event {
	t.Helper()
	var out []event
	sc := bufio.NewScanner(strings.NewReader(stdout))
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		line := sc.Bytes()
		if len(bytes.TrimSpace(line)) == 0 {
			continue
		}
		var ev event
		if err := json.Unmarshal(line, &ev); err != nil {
			t.Fatalf("--json output line %q: %v", line, err)
		}
		out = append(out, ev)
	}
	return out
}

// ofKind keeps the events of one kind.
func ofKind(evs []event, kind string) []event {
	var out []event
	for _, e := range evs {
		if e.Event == kind {
			out = append(out, e)
		}
	}
	return out
}
