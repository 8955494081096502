package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"

	"github.com/urfave/cli/v3"

	"github.com/coop-diffusion/coop/adapters"
	"github.com/coop-diffusion/coop/internal/job"
	"github.com/coop-diffusion/coop/recipes"
)

func init() {
	register(&cli.Command{
		Name:      "plan",
		Usage:     "show the compiled execution graph of a recipe and what running it costs",
		ArgsUsage: "RECIPE.yaml | IMAGE.png",
		Description: "coop plan checks a recipe as coop validate does and prints what coop run will do, without " +
			"loading weights: the stages (how each is entered, which steps of which schedule it runs, at what " +
			"size), each participant (its space, guidance, graph evaluations per prediction, predictions), " +
			"ControlNets, the bridges between latent spaces (decodes and encodes, or interposer maps), the cost of " +
			"each step, each model's predictions and evaluations (a Stable Cascade decoder's stage B decoding a " +
			"prior's latents counts under the decoder's name, with no predictions), the total of denoiser " +
			"evaluations (the model_evaluations figure of coop run --json's report) and an estimate of peak memory.\n\n" +
			"A guided prediction costs one evaluation when the denoiser's graph takes a batch of two " +
			"(conditional and unconditional rows together) and two otherwise. Memory is estimated as the size " +
			"of the model files open at once (a model's sessions open before the first stage that uses it and " +
			"close after its last) plus the engine's float32 buffers; what ONNX Runtime needs while a graph " +
			"runs comes on top.\n\n" +
			"A recipe with a sweep is planned for each combination: the costliest in full, then a line per " +
			"combination. With --json the output is one object with every combination's plan.",
		Flags: append([]cli.Flag{
			&cli.StringSliceFlag{Name: "set", Usage: "override a recipe field, path=value (repeatable)"},
			&cli.Uint64Flag{Name: "seed", Usage: "plan this seed instead of the recipe's seed or seeds (the plan does not depend on it, the image count does); when the sweep varies the seed, this seed alone for every other combination"},
			&cli.BoolFlag{Name: "json", Usage: "print the plan as JSON"},
		}, limitFlags()...),
		Action:       planAction,
		OnUsageError: usageError,
	})
}

// planVariant is the plan of one sweep combination.
type planVariant struct {
	Label    string        `json:"variant,omitempty"`
	Seeds    []uint64      `json:"seeds"`
	Estimate *job.Estimate `json:"estimate"`
}

// planOutput is coop plan --json.
type planOutput struct {
	Recipe   string        `json:"recipe"`
	Images   int           `json:"images"`
	Variants []planVariant `json:"variants"`
	// ModelEvaluations sums the denoiser evaluations of every image.
	ModelEvaluations int `json:"model_evaluations"`
}

func planAction(ctx context.Context, cmd *cli.Command) error {
	if cmd.NArg() != 1 {
		return badInputf("plan: give one recipe file, got %d arguments", cmd.NArg())
	}
	path := cmd.Args().First()
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
	out, err := planRecipe(ctx, r, path, func(w string) { fmt.Fprintf(stderr, "coop: warning: %s\n", w) })
	if err != nil {
		return err
	}
	w := cmd.Root().Writer
	if cmd.Bool("json") {
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		return enc.Encode(out)
	}
	printPlan(w, out)
	return nil
}

// planRecipe compiles and estimates every sweep combination, and checks
// its images as coop validate does (warn gets the warnings). The models
// are loaded without sessions: the signatures say all a plan needs.
func planRecipe(ctx context.Context, r *recipes.Recipe, path string, warn func(string)) (*planOutput, error) {
	variants, err := recipes.Expand(r)
	if err != nil {
		return nil, badInput(err)
	}
	pool := job.NewPool()
	defer pool.Close()
	out := &planOutput{Recipe: path}
	warned := map[string]bool{}
	for _, v := range variants {
		j, err := job.Prepare(v.Recipe)
		if err != nil {
			return nil, badInput(withVariant(err, v))
		}
		if err := checkImages(j, warned, warn); err != nil {
			return nil, badInput(withVariant(err, v))
		}
		ms, err := pool.Load(ctx, j, adapters.LoadOptions{Session: j.SessionOptions()})
		if err != nil {
			return nil, badInput(err)
		}
		est, err := j.Estimate(ms)
		if err != nil {
			return nil, badInput(err)
		}
		seeds := v.Recipe.SeedList()
		out.Variants = append(out.Variants, planVariant{Label: v.Label, Seeds: seeds, Estimate: est})
		out.Images += len(seeds)
		out.ModelEvaluations += len(seeds) * est.ModelEvaluations
	}
	return out, nil
}

func printPlan(w io.Writer, out *planOutput) {
	// A sweep shows the plan of its costliest combination in full.
	first := out.Variants[0]
	for _, v := range out.Variants {
		if cost(v.Estimate) > cost(first.Estimate) {
			first = v
		}
	}
	head := fmt.Sprintf("%s: %s", out.Recipe, plural(out.Images, "image"))
	if len(out.Variants) > 1 {
		head += fmt.Sprintf(" (%s); the plan of %s, the costliest", plural(len(out.Variants), "sweep combination"), first.Label)
	}
	fmt.Fprintln(w, head)
	printEstimate(w, first.Estimate)
	if len(out.Variants) > 1 {
		fmt.Fprintln(w, "\nsweep combinations (per image):")
		tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
		fmt.Fprintln(tw, "  combination\tevaluations\tcontrolnet\tdecodes\tencodes\tmemory")
		for _, v := range out.Variants {
			e := v.Estimate
			fmt.Fprintf(tw, "  %s\t%d\t%d\t%d\t%d\t%s\n", v.Label, e.ModelEvaluations, e.ControlNetEvaluations, e.Decodes, e.Encodes, formatBytes(e.Memory.TotalBytes))
		}
		tw.Flush()
	}
	if out.Images > 1 {
		fmt.Fprintf(w, "\nall %d images: %d model evaluations\n", out.Images, out.ModelEvaluations)
	}
}

// cost orders combinations: model evaluations, then bridge work.
func cost(e *job.Estimate) int {
	return 1000*(e.ModelEvaluations+e.ControlNetEvaluations) + e.Decodes + e.Encodes
}

// printEstimate writes one combination's plan.
func printEstimate(w io.Writer, e *job.Estimate) {
	for si, st := range e.Stages {
		fmt.Fprintf(w, "\nstage %d/%d %s: entered %s, steps %d-%d of a %d-step %s schedule (%d steps), %dx%d\n",
			si+1, len(e.Stages), st.Name, entryText(st.Entry), st.First+1, st.End, st.ScheduleSteps, st.Sampler, st.Steps, st.Width, st.Height)
		tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
		for pi, p := range st.Participants {
			role := "primary"
			if pi > 0 {
				role = "shares the space"
				if p.Foreign {
					role = fmt.Sprintf("foreign space, %dx%d, bridged", p.Width, p.Height)
				}
			}
			fmt.Fprintf(tw, "  %s\t%s\t%s\tguidance %g\t%s per prediction\t%s\t%s\n", p.Model, p.Family, role, p.Guidance,
				plural(p.EvalsPerPrediction, "evaluation"), plural(p.Predictions, "prediction"), plural(p.Evaluations, "evaluation"))
			for _, c := range p.Controls {
				kind := "split"
				if c.Fused {
					kind = "fused into the unet"
				}
				fmt.Fprintf(tw, "    ControlNet %s\t%s\tscale %g\tactive %d steps\t%s\t\t\n", c.Model, kind, c.Scale, c.ActiveSteps, plural(c.Evaluations, "evaluation"))
			}
		}
		tw.Flush()
		fmt.Fprintf(w, "  per step: %s\n", stepRuns(st.PerStep))
	}
	fmt.Fprintln(w)
	if len(e.Bridges) > 0 {
		fmt.Fprintln(w, "bridges:")
		tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
		for _, b := range e.Bridges {
			if b.Kind == "interposer" {
				fmt.Fprintf(tw, "  %s -> %s\t%s\t%s\t\n", b.From, b.To, b.Kind, plural(b.Maps, "map"))
				continue
			}
			fmt.Fprintf(tw, "  %s -> %s\t%s\t%s\t%s\n", b.From, b.To, b.Kind, plural(b.Decodes, "decode"), plural(b.Encodes, "encode"))
		}
		tw.Flush()
	}
	// Every denoiser's share of the total, the decoders whose stage B
	// decodes a Stable Cascade prior's latents included (they run at no
	// stage of their own: the bridges above decode through them).
	fmt.Fprintln(w, "models:")
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	for _, m := range e.Models {
		line := fmt.Sprintf("  %s\t%s\t%s", m.Name, plural(m.Predictions, "prediction"), plural(m.Calls, "evaluation"))
		if m.DecodeCalls > 0 {
			of := ""
			if m.DecodeCalls < m.Calls {
				of = fmt.Sprintf("%d of them ", m.DecodeCalls)
			}
			line += fmt.Sprintf(" (%sstage B, %s of %s's latents)", of, plural(m.Decodes, "decode"), strings.Join(m.DecodesFor, " and "))
		}
		fmt.Fprintln(tw, line)
	}
	tw.Flush()
	fmt.Fprintf(w, "total: %d model evaluations (denoisers), %d ControlNet evaluations, %s, %s\n",
		e.ModelEvaluations, e.ControlNetEvaluations, plural(e.Decodes, "decode"), plural(e.Encodes, "encode"))
	mem := e.Memory
	files := 0
	for _, fs := range mem.Files {
		files += len(fs)
	}
	fmt.Fprintf(w, "memory: about %s at its peak (stage %d: weights %s of the models open then; engine buffers %s); "+
		"%s of weights in %s when every model stays loaded; ONNX Runtime's working memory comes on top\n",
		formatBytes(mem.TotalBytes), mem.PeakStage+1, formatBytes(mem.WeightBytes), formatBytes(mem.BufferBytes),
		formatBytes(mem.HeldWeightBytes), plural(files, "model file"))
}

func entryText(entry string) string {
	switch entry {
	case "fresh":
		return "from seeded noise"
	case "img2img":
		return "from the input image (img2img)"
	case "continue":
		return "continuing the previous stage's latent"
	case "renoise":
		return "by renoise (decode, resize in pixels, encode, fresh noise)"
	case "naive":
		return "by naive resizing of the noisy latent"
	case "effnet":
		return "from noise, conditioned on the previous stage (effnet)"
	}
	return entry
}

// stepRuns groups consecutive steps of equal cost:
// "1-19: 2 evaluations, 2 carries; 20: 2 evaluations, 1 carry".
func stepRuns(steps []job.StepCost) string {
	var parts []string
	for i := 0; i < len(steps); {
		j := i
		for j+1 < len(steps) && steps[j+1] == steps[i] {
			j++
		}
		span := fmt.Sprintf("step %d", i+1)
		if j > i {
			span = fmt.Sprintf("steps %d-%d", i+1, j+1)
		}
		c := steps[i]
		what := []string{plural(c.Evaluations, "evaluation")}
		if c.BridgeEvaluations > 0 {
			what[0] += fmt.Sprintf(" (%d in stage B decodes)", c.BridgeEvaluations)
		}
		if c.ControlNet > 0 {
			what = append(what, plural(c.ControlNet, "ControlNet evaluation"))
		}
		if c.Carries > 0 {
			what = append(what, plural(c.Carries, "bridge carry")+" (decode+encode)")
		}
		if c.InterposerMaps > 0 {
			what = append(what, plural(c.InterposerMaps, "interposer map")+" (latents to latents)")
		}
		parts = append(parts, span+": "+strings.Join(what, ", "))
		i = j + 1
	}
	return strings.Join(parts, "; ")
}

// formatBytes writes a size in binary units.
func formatBytes(n int64) string {
	const unit = 1024
	if n < unit {
		return fmt.Sprintf("%d B", n)
	}
	div, exp := int64(unit), 0
	for m := n / unit; m >= unit; m /= unit {
		div *= unit
		exp++
	}
	return fmt.Sprintf("%.1f %ciB", float64(n)/float64(div), "KMGTPE"[exp])
}
