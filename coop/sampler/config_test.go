package sampler_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/coop-diffusion/coop/coop/sampler"
)

// Scheduler configs as published with the models.
const (
	sd15Config = `{
  "_class_name": "PNDMScheduler",
  "_diffusers_version": "0.6.0",
  "beta_end": 0.012,
  "beta_schedule": "scaled_linear",
  "beta_start": 0.00085,
  "num_train_timesteps": 1000,
  "set_alpha_to_one": false,
  "skip_prk_steps": true,
  "steps_offset": 1,
  "trained_betas": null,
  "clip_sample": false
}`
	sdxlConfig = `{
  "_class_name": "EulerDiscreteScheduler",
  "_diffusers_version": "0.19.0.dev0",
  "beta_end": 0.012,
  "beta_schedule": "scaled_linear",
  "beta_start": 0.00085,
  "clip_sample": false,
  "interpolation_type": "linear",
  "num_train_timesteps": 1000,
  "prediction_type": "epsilon",
  "sample_max_value": 1.0,
  "set_alpha_to_one": false,
  "skip_prk_steps": true,
  "steps_offset": 1,
  "timestep_spacing": "leading",
  "trained_betas": null,
  "use_karras_sigmas": false
}`
	sd21Config = `{
  "_class_name": "DDIMScheduler",
  "_diffusers_version": "0.8.0",
  "beta_end": 0.012,
  "beta_schedule": "scaled_linear",
  "beta_start": 0.00085,
  "clip_sample": false,
  "num_train_timesteps": 1000,
  "prediction_type": "v_prediction",
  "set_alpha_to_one": false,
  "skip_prk_steps": true,
  "steps_offset": 1,
  "trained_betas": null
}`
	cascadeConfig = `{
  "_class_name": "DDPMWuerstchenScheduler",
  "_diffusers_version": "0.27.0.dev0",
  "s": 0.008,
  "scaler": 1.0
}`
)

func writeConfig(t *testing.T, content string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "scheduler_config.json")
	must(t, os.WriteFile(path, []byte(content), 0o644))
	return path
}

func TestReadSchedulerConfig(t *testing.T) {
	cfg, err := sampler.ReadSchedulerConfig(writeConfig(t, sd15Config))
	must(t, err)
	if cfg.Class != "PNDMScheduler" || cfg.BetaSchedule != sampler.ScaledLinear || cfg.BetaStart != 0.00085 || cfg.BetaEnd != 0.012 ||
		cfg.Spacing != sampler.Leading || cfg.StepsOffset != 1 || cfg.SetAlphaToOne || cfg.ClipSample || cfg.Prediction != sampler.Epsilon {
		t.Errorf("SD 1.5 config read as %+v", cfg)
	}
	name, err := sampler.SamplerForClass(cfg.Class, cfg.Karras)
	if err != nil || name != "ddim" {
		t.Errorf("PNDMScheduler maps to %q, %v; want the documented ddim fallback", name, err)
	}

	cfg, err = sampler.ReadSchedulerConfig(writeConfig(t, sdxlConfig))
	must(t, err)
	p, err := sampler.NewPlan(cfg.Class, cfg)
	must(t, err)
	if p.Sampler != "euler" || p.Steps[0].Timestep != 981 || !within(p.InitNoiseSigma, 13.158, 5e-4) {
		t.Errorf("SDXL config: sampler %s, first timestep %g, init_noise_sigma %g", p.Sampler, p.Steps[0].Timestep, p.InitNoiseSigma)
	}

	// A model folder: scheduler/scheduler_config.json inside it.
	model := t.TempDir()
	must(t, os.MkdirAll(filepath.Join(model, "scheduler"), 0o755))
	must(t, os.WriteFile(filepath.Join(model, "scheduler", "scheduler_config.json"), []byte(sd21Config), 0o644))
	cfg, err = sampler.ReadSchedulerConfig(model)
	must(t, err)
	if cfg.Prediction != sampler.VPrediction || cfg.SetAlphaToOne || cfg.Spacing != sampler.Leading {
		t.Errorf("SD 2.1 config read as %+v", cfg)
	}

	cfg, err = sampler.ReadSchedulerConfig(writeConfig(t, cascadeConfig))
	must(t, err)
	cfg.Steps = 20
	p, err = sampler.NewPlan(cfg.Class, cfg)
	must(t, err)
	if p.Sampler != "ddpm_wuerstchen" || p.Steps[0].Timestep != 1 {
		t.Errorf("Cascade config: sampler %s, first ratio %g", p.Sampler, p.Steps[0].Timestep)
	}

	// Missing keys take the class's diffusers defaults.
	cfg, err = sampler.ReadSchedulerConfig(writeConfig(t, `{"_class_name": "EulerDiscreteScheduler"}`))
	must(t, err)
	if cfg.Spacing != sampler.Linspace || cfg.StepsOffset != 0 || cfg.BetaSchedule != sampler.Linear || cfg.BetaStart != 0.0001 || cfg.BetaEnd != 0.02 {
		t.Errorf("empty Euler config read as %+v", cfg)
	}
	cfg, err = sampler.ReadSchedulerConfig(writeConfig(t, `{"_class_name": "DDIMScheduler"}`))
	must(t, err)
	if cfg.Spacing != sampler.Leading || !cfg.ClipSample || !cfg.SetAlphaToOne {
		t.Errorf("empty DDIM config read as %+v", cfg)
	}
	cfg, err = sampler.ReadSchedulerConfig(writeConfig(t, `{"_class_name": "DPMSolverMultistepScheduler", "use_karras_sigmas": true}`))
	must(t, err)
	if name, _ := sampler.SamplerForClass(cfg.Class, cfg.Karras); name != "dpmpp_2m_karras" {
		t.Errorf("DPMSolverMultistepScheduler with Karras sigmas maps to %q", name)
	}
}

func TestReadSchedulerConfigErrors(t *testing.T) {
	for _, c := range []struct {
		content string
		want    string // in the message, beside the file name
	}{
		{`{"_class_name": "DDIMScheduler",`, "malformed JSON"},
		{`{"num_train_timesteps": "many"}`, "num_train_timesteps"},
		{`{"beta_schedule": "sigmoid"}`, "beta_schedule"},
		{`{"timestep_spacing": "random"}`, "timestep_spacing"},
		{`{"prediction_type": "flow"}`, "prediction_type"},
		{`{"trained_betas": [0.1, 0.2]}`, "trained_betas"},
		{`{"thresholding": true}`, "thresholding"},
		{`{"steps_offset": -1}`, "steps_offset"},
		{`{"_class_name": "DPMSolverMultistepScheduler", "solver_order": 3}`, "solver_order"},
		{`{"_class_name": "DPMSolverMultistepScheduler", "algorithm_type": "sde-dpmsolver++"}`, "algorithm_type"},
		{`{"_class_name": "DDPMScheduler", "variance_type": "learned_range"}`, "variance_type"},
		{`{"_class_name": "EulerDiscreteScheduler", "use_exponential_sigmas": true}`, "use_exponential_sigmas"},
		{`{"_class_name": "DDPMWuerstchenScheduler", "s": 0}`, "\"s\""},
	} {
		path := writeConfig(t, c.content)
		_, err := sampler.ReadSchedulerConfig(path)
		if err == nil || !strings.Contains(err.Error(), path) || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: error %v; want one naming the file and %q", c.content, err, c.want)
		}
	}
	path := writeConfig(t, `[1, 2]`)
	if _, err := sampler.ReadSchedulerConfig(path); err == nil || !strings.Contains(err.Error(), "expected a JSON object") {
		t.Errorf("array config: %v", err)
	}
	if _, err := sampler.ReadSchedulerConfig(filepath.Join(t.TempDir(), "missing.json")); err == nil || !strings.Contains(err.Error(), "missing.json") {
		t.Errorf("missing file: %v", err)
	}
}

func TestForClass(t *testing.T) {
	for _, c := range []struct {
		class  string
		karras bool
		want   string
		note   string // "" when the choice is exact
	}{
		{"", false, "ddim", ""},
		{"PNDMScheduler", false, "ddim", ""},
		{"EulerDiscreteScheduler", false, "euler", ""},
		{"DPMSolverMultistepScheduler", false, "dpmpp_2m", ""},
		{"DPMSolverMultistepScheduler", true, "dpmpp_2m_karras", ""},
		{"EulerDiscreteScheduler", true, "euler", "use_karras_sigmas is not applied"},
		{"UniPCMultistepScheduler", false, "dpmpp_2m", "no sampler for UniPCMultistepScheduler and runs dpmpp_2m"},
		{"UniPCMultistepScheduler", true, "dpmpp_2m_karras", "no sampler for UniPCMultistepScheduler"},
		{"LMSDiscreteScheduler", false, "euler", "no sampler for LMSDiscreteScheduler"},
		{"HeunDiscreteScheduler", false, "euler", "no sampler for HeunDiscreteScheduler"},
		{"KDPM2AncestralDiscreteScheduler", false, "euler_a", "no sampler"},
		{"FancyNewScheduler", false, "ddim", "no sampler for FancyNewScheduler and runs ddim"},
	} {
		got := sampler.ForClass(c.class, c.karras)
		if got.Sampler != c.want || (c.note == "") != (got.Note == "") || !strings.Contains(got.Note, c.note) {
			t.Errorf("ForClass(%q, %v) = %+v, want %s with a note containing %q", c.class, c.karras, got, c.want, c.note)
		}
	}
	if _, err := sampler.SamplerForClass("UniPCMultistepScheduler", false); err == nil {
		t.Error("SamplerForClass accepted a class coop does not implement")
	}
	// Errors carry no "sampler:" prefix of their own, so that a recipe
	// error at field sampler does not say it twice.
	if _, err := sampler.Canonical("heun"); err == nil || strings.HasPrefix(err.Error(), "sampler:") {
		t.Errorf("Canonical(heun): %v", err)
	}
}
