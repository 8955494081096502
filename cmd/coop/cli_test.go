package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"strings"
	"testing"

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
