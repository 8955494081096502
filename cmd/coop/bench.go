package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/urfave/cli/v3"

	"github.com/coop-diffusion/coop/adapters"
	"github.com/coop-diffusion/coop/coop"
	"github.com/coop-diffusion/coop/internal/job"
	"github.com/coop-diffusion/coop/recipes"
)

func init() {
	register(&cli.Command{
		Name:      "bench",
		Usage:     "measure where a recipe's time and memory go",
		ArgsUsage: "RECIPE.yaml | IMAGE.png",
		Description: "coop bench renders the recipe (its first seed, or --seed) once, then --runs more times on " +
			"the same loaded models, writes no image, and prints for the first run and for the measured run of " +
			"median wall time: the wall time; the time inside ONNX Runtime, in all and per model and graph; the " +
			"time ONNX Runtime took to create sessions; the pixel bridges' time (of which inside ONNX Runtime); " +
			"and the engine's overhead: the wall time not spent waiting for ONNX Runtime (everything outside " +
			"its Run calls and session creation), split into the adapters' conversions around ONNX Runtime's calls " +
			"and the engine's own arithmetic and bookkeeping (shown for runs without concurrent participants). When the " +
			"participants of a step run concurrently, ONNX Runtime time that ran beside a step's critical path " +
			"is not subtracted twice. Then the number of model evaluations, the process's resident memory " +
			"before the first run and at its peak (VmHWM), and the size of the model files the plan uses.\n\n" +
			"The first run opens the sessions, loads the tokenizers and encodes the prompts; the measured runs " +
			"show the steady state. --release closes each model after its last stage in the last run: with " +
			"--runs 0 the peak memory is that of one coop run. A sweep is not expanded: the recipe's own values " +
			"are measured. docs/PERFORMANCE.md holds figures and the commands that produced them.",
		Flags: append([]cli.Flag{
			&cli.IntFlag{Name: "runs", Value: 3, Usage: "measured runs after the first"},
			&cli.StringSliceFlag{Name: "set", Usage: "override a recipe field, path=value (repeatable)"},
			&cli.Uint64Flag{Name: "seed", Usage: "render this seed instead of the recipe's first (a sweep's seed values included)"},
			&cli.StringFlag{Name: "device", Usage: "run the models on cpu or cuda (the recipe's device field)"},
			&cli.IntFlag{Name: "threads", Usage: "intra-op threads per session, 0 = automatic: the cores shared by the participants that run concurrently"},
			concurrencyFlag(),
			&cli.BoolFlag{Name: "release", Usage: "close each model after its last stage in the last run"},
			&cli.BoolFlag{Name: "json", Usage: "print the reports of every run and the memory figures as JSON"},
		}, limitFlags()...),
		Action:       benchAction,
		OnUsageError: usageError,
	})
}

// benchOutput is coop bench --json.
type benchOutput struct {
	Recipe      string `json:"recipe"`
	Device      string `json:"device"`
	Threads     int    `json:"threads"`
	Concurrency string `json:"concurrency"`
	Seed        uint64 `json:"seed"`
	*job.Bench
}

func benchAction(ctx context.Context, cmd *cli.Command) error {
	if cmd.NArg() != 1 {
		return badInputf("bench: give one recipe file, got %d arguments", cmd.NArg())
	}
	path := cmd.Args().First()
	runs := cmd.Int("runs")
	if runs < 0 || runs > 10000 {
		return badInputf("--runs %d: give 0 to 10000", runs)
	}
	threads := cmd.Int("threads")
	if threads < 0 || threads > 4096 {
		return badInputf("--threads %d: give 0 (automatic) to 4096", threads)
	}
	mode, err := concurrency(cmd)
	if err != nil {
		return err
	}
	lim, err := limits(cmd)
	if err != nil {
		return err
	}
	r, err := withOverrides(recipes.Loader{Limits: lim}, cmd).Load(path)
	if err != nil {
		return badInput(err)
	}
	stderr := cmd.Root().ErrWriter
	warnMadeBy(r, func(format string, args ...any) { fmt.Fprintf(stderr, "coop: warning: "+format+"\n", args...) })
	if cmd.IsSet("threads") {
		r.Threads = threads
	}
	j, err := job.Prepare(r)
	if err != nil {
		return badInput(err)
	}
	if err := checkImages(j, map[string]bool{}, func(w string) { fmt.Fprintf(stderr, "coop: warning: %s\n", w) }); err != nil {
		return badInput(err)
	}
	if err := initRuntime(cmd.String("ort-lib"), j.Recipe.Device); err != nil {
		return err
	}
	ms, err := j.Load(ctx, adapters.LoadOptions{Session: j.SessionOptions()})
	if err != nil {
		return err
	}
	defer ms.Close()
	b, err := j.Bench(ctx, ms, job.BenchOptions{Runs: runs, Concurrency: mode, Release: cmd.Bool("release")})
	if err != nil {
		return err
	}
	out := benchOutput{Recipe: path, Device: r.Device, Threads: r.Threads, Concurrency: mode.String(), Seed: j.Plan.Seed, Bench: b}
	w := cmd.Root().Writer
	if cmd.Bool("json") {
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		return enc.Encode(out)
	}
	printBench(w, &out, len(r.Sweep) > 0)
	return nil
}

// printBench writes the first run and the median run side by side.
func printBench(w io.Writer, out *benchOutput, sweep bool) {
	b := out.Bench
	mode := map[string]string{
		"auto":       "participants concurrent when it pays",
		"always":     "participants concurrent",
		"sequential": "participants one after the other",
	}[out.Concurrency]
	threads := "automatic"
	if out.Threads > 0 {
		threads = fmt.Sprint(out.Threads)
	}
	fmt.Fprintf(w, "%s: seed %d, device %s, intra-op threads %s, %s; %s after the first\n",
		out.Recipe, out.Seed, out.Device, threads, mode, plural(len(b.Runs), "measured run"))
	if sweep {
		fmt.Fprintln(w, "(the sweep is not expanded: the recipe's own values are measured)")
	}
	cols := []*coop.Report{b.First}
	head := "\tfirst run"
	if len(b.Runs) > 0 {
		cols = append(cols, b.Median)
		head += fmt.Sprintf("\tmedian of %d", len(b.Runs))
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, head+"\t")
	row := func(label string, f func(*coop.Report) string) {
		fmt.Fprint(tw, label)
		for _, r := range cols {
			fmt.Fprint(tw, "\t", f(r))
		}
		fmt.Fprintln(tw, "\t")
	}
	row("wall", func(r *coop.Report) string { return ms(r.Wall) })
	row("inside ONNX Runtime", func(r *coop.Report) string { return ms(r.ORT) })
	for _, m := range b.First.Models {
		name := m.Name
		row("  "+name, func(r *coop.Report) string { return ms(modelORT(r, name)) })
		for _, g := range m.Graphs {
			role := g.Role
			row("    "+role, func(r *coop.Report) string { return ms(graphORT(r, name, role)) })
		}
	}
	row("  beside the critical path", func(r *coop.Report) string { return ms(r.Overlap) })
	row("session creation", func(r *coop.Report) string { return ms(r.Open) })
	row("pixel bridges", func(r *coop.Report) string { return ms(bridgeTime(r, false)) })
	row("  inside ONNX Runtime", func(r *coop.Report) string { return ms(bridgeTime(r, true)) })
	row("engine overhead", func(r *coop.Report) string {
		return fmt.Sprintf("%s (%.1f%%)", ms(r.Overhead), 100*r.OverheadFraction())
	})
	row("  in the adapters, around ONNX Runtime", func(r *coop.Report) string { return ms(r.Adapters - r.ORT) })
	row("  engine arithmetic and bookkeeping", func(r *coop.Report) string {
		if r.Concurrent {
			return "(concurrent)"
		}
		return ms(r.Overhead - (r.Adapters - r.ORT))
	})
	row("model evaluations", func(r *coop.Report) string { return fmt.Sprint(r.ModelEvaluations) })
	tw.Flush()

	m := b.Memory
	names := make([]string, 0, len(m.ModelBytes))
	for _, mr := range b.First.Models {
		if n, ok := m.ModelBytes[mr.Name]; ok {
			names = append(names, fmt.Sprintf("%s %s", mr.Name, formatBytes(n)))
		}
	}
	fmt.Fprintf(w, "memory: resident %s before the first run, %s at the peak; model files %s (%s), %s of them open at once\n",
		formatBytes(m.StartRSS), formatBytes(m.PeakRSS), formatBytes(m.TotalModelBytes), strings.Join(names, ", "), formatBytes(m.HeldModelBytes))
	if len(m.StageRSS) > 1 {
		stages := make([]string, len(m.StageRSS))
		for i, rss := range m.StageRSS {
			stages[i] = formatBytes(rss)
		}
		fmt.Fprintf(w, "resident after the first step of each stage (last run): %s\n", strings.Join(stages, ", "))
	}
}

func ms(d time.Duration) string { return fmt.Sprintf("%.1f ms", float64(d)/float64(time.Millisecond)) }

func modelORT(r *coop.Report, name string) time.Duration {
	for _, m := range r.Models {
		if m.Name == name {
			return m.ORT
		}
	}
	return 0
}

func graphORT(r *coop.Report, name, role string) time.Duration {
	for _, m := range r.Models {
		if m.Name != name {
			continue
		}
		for _, g := range m.Graphs {
			if g.Role == role {
				return g.ORT
			}
		}
	}
	return 0
}

// bridgeTime sums the pixel bridges' wall time, or their time inside ONNX
// Runtime; the final decode is not a bridge.
func bridgeTime(r *coop.Report, ort bool) time.Duration {
	var d time.Duration
	for _, b := range r.Bridges {
		if b.Kind != "pixel" {
			continue
		}
		if ort {
			d += b.ORT
		} else {
			d += b.Time
		}
	}
	return d
}
