package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"strings"
	"text/tabwriter"

	"github.com/urfave/cli/v3"

	"github.com/coop-diffusion/coop/coop/sampler"
	"github.com/coop-diffusion/coop/recipes"
)

func init() { register(newScheduleCommand()) }

// newScheduleCommand builds the command. urfave/cli flags remember being
// set across runs of one command value, so tests that run it several times
// in a process build a fresh one for each run.
func newScheduleCommand() *cli.Command {
	return &cli.Command{
		Name:      "schedule",
		Usage:     "print a sampler's timesteps, sigmas and noise levels for a configuration",
		ArgsUsage: " ",
		Description: "coop schedule shows what a sampler configuration will do: for every step the timestep the model " +
			"is told (a training timestep of SD's schedule, fractional where the sampler interpolates, or Stable " +
			"Cascade's timestep_ratio), sigma = sqrt((1-abar)/abar), the noise level abar the model sees and the level " +
			"the step moves to, and the init_noise_sigma initial noise is scaled by.\n\n" +
			"Configurations start from Stable Diffusion's scheduler (scaled_linear betas 0.00085..0.012, 1000 training " +
			"steps, leading spacing, steps_offset 1) or from a model folder's scheduler/scheduler_config.json (--config); " +
			"flags override either.\n\n" +
			"Samplers: " + schedulerList() + ".\n\n" +
			"--strength shows the steps img2img runs; --denoising-end splits the steps between two models by SDXL's " +
			"base/refiner rule (the first keeps t >= round(1000 - 1000*E)).\n\n" +
			"With --json it prints one JSON object: scheduler, class (the config file's _class_name), steps, spacing, " +
			"steps_offset, karras, schedule, init_noise_sigma, start (the first step run), split (the second model's " +
			"first step, or null), and rows: [{step, timestep, sigma, abar, abar_next, part}] for the steps that run, " +
			"part being \"first\" or \"second\" with --denoising-end and \"\" otherwise.",
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "scheduler", Aliases: []string{"s"}, Usage: "sampler name or diffusers class (default: the --config file's _class_name)"},
			&cli.IntFlag{Name: "steps", Aliases: []string{"n"}, Value: 50, Usage: "number of inference steps"},
			&cli.StringFlag{Name: "spacing", Usage: "timestep spacing: leading, trailing or linspace (default: leading, or the --config file's)"},
			&cli.IntFlag{Name: "offset", HideDefault: true, Usage: "steps_offset added to leading timesteps (default: 1, or the --config file's)"},
			&cli.BoolFlag{Name: "karras", Usage: "use Karras sigmas (euler, euler_a, dpmpp_2m)"},
			&cli.FloatFlag{Name: "eta", HideDefault: true, Usage: "DDIM eta: 0 deterministic (default), 1 DDPM-like"},
			&cli.FloatFlag{Name: "strength", HideDefault: true, Usage: "img2img strength in [0, 1]: show the steps that run"},
			&cli.FloatFlag{Name: "denoising-end", HideDefault: true, Usage: "fraction in (0, 1) after which a second model takes over"},
			&cli.StringFlag{Name: "config", Usage: "diffusers scheduler_config.json (or a model folder holding scheduler/scheduler_config.json) to start from"},
			&cli.BoolFlag{Name: "json", Usage: "print one JSON object (fields in the description) instead of a table"},
		},
		Action: scheduleAction,
	}
}

func schedulerList() string {
	return strings.Join(sampler.Names(), ", ") + " (or their diffusers class names)"
}

// scheduleReport is the --json output.
type scheduleReport struct {
	Scheduler      string        `json:"scheduler"`
	Class          string        `json:"class"`
	Steps          int           `json:"steps"`
	Spacing        string        `json:"spacing"`
	StepsOffset    int           `json:"steps_offset"`
	Karras         bool          `json:"karras"`
	Schedule       string        `json:"schedule"`
	InitNoiseSigma float64       `json:"init_noise_sigma"`
	Start          int           `json:"start"`
	Split          *int          `json:"split"`
	Rows           []scheduleRow `json:"rows"`

	// ratio is true for Cascade's timestep_ratio axis (formatting only).
	ratio bool
	// ownTimesteps is true for samplers that ignore spacing and offset.
	ownTimesteps bool
}

type scheduleRow struct {
	Step     int     `json:"step"`
	Timestep float64 `json:"timestep"`
	Sigma    float64 `json:"sigma"`
	Abar     float64 `json:"abar"`
	AbarNext float64 `json:"abar_next"`
	Part     string  `json:"part"`
}

func scheduleAction(ctx context.Context, cmd *cli.Command) error {
	if cmd.NArg() != 0 {
		return badInputf("schedule takes no arguments, got %q", cmd.Args().Slice())
	}
	stderr := cmd.Root().ErrWriter
	report, err := buildScheduleReport(cmd, func(w string) { fmt.Fprintf(stderr, "coop: warning: %s\n", w) })
	if err != nil {
		return badInput(err)
	}
	out := cmd.Root().Writer
	if cmd.Bool("json") {
		enc := json.NewEncoder(out)
		enc.SetIndent("", "  ")
		return enc.Encode(report)
	}
	return report.writeText(out)
}

// buildScheduleReport builds the report; warn, when not nil, gets what
// differs from the --config file (a scheduler class coop has no sampler
// for, Karras sigmas it does not apply).
func buildScheduleReport(cmd *cli.Command, warn func(string)) (*scheduleReport, error) {
	cfg := sampler.DefaultConfig()
	if path := cmd.String("config"); path != "" {
		var err error
		if cfg, err = sampler.ReadSchedulerConfig(path); err != nil {
			return nil, err
		}
	}
	// Karras sigmas come with the sampler's name (dpmpp_2m_karras) or
	// --karras, as in a recipe, where a folder's use_karras_sigmas only
	// picks dpmpp_2m_karras for a DPMSolverMultistepScheduler when the
	// recipe names no sampler.
	folderKarras := cfg.Karras
	cfg.Karras = false
	name := cmd.String("scheduler")
	var canonical string
	if name == "" {
		if cfg.Class == "" {
			return nil, fmt.Errorf("--scheduler is required without a --config file naming a _class_name (samplers: %s)", schedulerList())
		}
		// What a recipe without sampler: runs for this folder.
		choice := sampler.ForClass(cfg.Class, folderKarras)
		if choice.Note != "" && warn != nil {
			warn(fmt.Sprintf("%s: %s; pass --scheduler to choose one", cmd.String("config"), choice.Note))
		}
		canonical = choice.Sampler
	} else {
		var err error
		if canonical, err = sampler.Canonical(name); err != nil {
			return nil, err
		}
	}
	ownTimesteps := canonical == "lcm" || canonical == "ddpm_wuerstchen"

	cfg.Steps = int(cmd.Int("steps"))
	if cmd.IsSet("spacing") {
		if ownTimesteps {
			return nil, fmt.Errorf("--spacing does not apply to %s, which picks its own timesteps", canonical)
		}
		cfg.Spacing = sampler.Spacing(cmd.String("spacing"))
	}
	if cmd.IsSet("offset") {
		if ownTimesteps {
			return nil, fmt.Errorf("--offset does not apply to %s, which picks its own timesteps", canonical)
		}
		cfg.StepsOffset = int(cmd.Int("offset"))
	}
	if folderKarras && !cmd.Bool("karras") && cmd.String("scheduler") != "" && warn != nil {
		switch canonical {
		case "dpmpp_2m", "euler", "euler_a":
			warn(fmt.Sprintf("%s sets use_karras_sigmas, which applies only to dpmpp_2m_karras (or with --karras); %s is shown on its own sigmas, as a recipe naming it runs", cmd.String("config"), canonical))
		}
	}
	if cmd.Bool("karras") {
		cfg.Karras = true
		if canonical == "dpmpp_2m" {
			canonical = "dpmpp_2m_karras" // the name a recipe gives it
		}
	}
	if cmd.IsSet("eta") {
		if canonical != "ddim" {
			return nil, fmt.Errorf("--eta applies to ddim only, not %s", canonical)
		}
		// As a recipe's eta: 0 is deterministic DDIM, 1 DDPM's variance.
		if eta := cmd.Float("eta"); !(eta >= 0 && eta <= float64(recipes.MaxEta)) {
			return nil, fmt.Errorf("--eta must be between 0 and %d, got %g", recipes.MaxEta, eta)
		}
		cfg.Eta = cmd.Float("eta")
	}
	plan, err := sampler.NewPlan(canonical, cfg)
	if err != nil {
		return nil, err
	}

	start, cut := 0, -1
	if cmd.IsSet("strength") {
		if start, err = plan.StrengthStart(cmd.Float("strength")); err != nil {
			return nil, err
		}
	}
	if cmd.IsSet("denoising-end") {
		if cut, err = plan.SplitAtFraction(cmd.Float("denoising-end")); err != nil {
			return nil, err
		}
		if cut <= start {
			return nil, fmt.Errorf("--denoising-end %g hands over at step %d, before img2img starts at step %d: the first model would run no steps",
				cmd.Float("denoising-end"), cut, start)
		}
	}

	r := &scheduleReport{
		Scheduler: plan.Sampler, Class: cfg.Class, Steps: plan.Len(), Spacing: string(cfg.Spacing),
		StepsOffset: cfg.StepsOffset, Karras: cfg.Karras || plan.Sampler == "dpmpp_2m_karras",
		Schedule: fmt.Sprint(plan.Schedule), InitNoiseSigma: plan.InitNoiseSigma, Start: start,
		ownTimesteps: ownTimesteps,
	}
	if ownTimesteps {
		r.Spacing, r.StepsOffset = "", 0
	}
	_, r.ratio = plan.Schedule.(sampler.Cosine)
	if cut >= 0 {
		r.Split = &cut
	}
	for i := start; i < plan.Len(); i++ {
		st := plan.Steps[i]
		part := ""
		if cut >= 0 {
			part = "first"
			if i >= cut {
				part = "second"
			}
		}
		r.Rows = append(r.Rows, scheduleRow{Step: i, Timestep: st.Timestep, Sigma: st.Sigma, Abar: st.Abar, AbarNext: st.AbarNext, Part: part})
	}
	return r, nil
}

func (r *scheduleReport) timestep(t float64) string {
	switch {
	case r.ratio:
		return fmt.Sprintf("%.4f", t)
	case t == math.Trunc(t):
		return fmt.Sprintf("%.0f", t)
	}
	return fmt.Sprintf("%.3f", t)
}

func (r *scheduleReport) writeText(w io.Writer) error {
	var b strings.Builder
	fmt.Fprintf(&b, "scheduler: %s", r.Scheduler)
	if r.Class != "" {
		fmt.Fprintf(&b, " (config class %s)", r.Class)
	}
	fmt.Fprintf(&b, ", %d steps", r.Steps)
	if !r.ownTimesteps {
		fmt.Fprintf(&b, ", %s spacing, steps_offset %d", r.Spacing, r.StepsOffset)
	}
	if r.Karras {
		b.WriteString(", Karras sigmas")
	}
	fmt.Fprintf(&b, "\nschedule: %s\ninit_noise_sigma: %.6g\n", r.Schedule, r.InitNoiseSigma)
	if r.Start > 0 {
		fmt.Fprintf(&b, "img2img: starts at step %d (t = %s), the image noised to abar %.6g\n",
			r.Start, r.timestep(r.Rows[0].Timestep), r.Rows[0].Abar)
	}
	if r.Split != nil {
		last, first := r.Rows[*r.Split-r.Start-1], r.Rows[*r.Split-r.Start]
		fmt.Fprintf(&b, "handoff: first model steps %d..%d (t %s..%s), second model steps %d..%d (t %s..%s)\n",
			r.Start, last.Step, r.timestep(r.Rows[0].Timestep), r.timestep(last.Timestep),
			first.Step, r.Steps-1, r.timestep(first.Timestep), r.timestep(r.Rows[len(r.Rows)-1].Timestep))
	}
	b.WriteString("\n")
	tw := tabwriter.NewWriter(&b, 0, 0, 2, ' ', tabwriter.AlignRight)
	head := "step\ttimestep\tsigma\tabar\tabar_next\t"
	if r.Split != nil {
		head += "part\t"
	}
	fmt.Fprintln(tw, head)
	for _, row := range r.Rows {
		line := fmt.Sprintf("%d\t%s\t%.6g\t%.6g\t%.6g\t", row.Step, r.timestep(row.Timestep), row.Sigma, row.Abar, row.AbarNext)
		if r.Split != nil {
			line += row.Part + "\t"
		}
		fmt.Fprintln(tw, line)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	_, err := io.WriteString(w, b.String())
	return err
}
