package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"math"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// runScheduleCLI runs the CLI root with args after "coop" and returns what
// it printed. The schedule command is rebuilt first: urfave/cli flags keep
// their "set" state from earlier runs of the same command value.
func runScheduleCLI(t *testing.T, args ...string) (string, error) {
	t.Helper()
	for i, c := range commands {
		if c.Name == "schedule" {
			commands[i] = newScheduleCommand()
		}
	}
	var out, errOut bytes.Buffer
	root := rootCommand()
	root.Writer = &out
	root.ErrWriter = &errOut
	err := root.Run(context.Background(), append([]string{"coop"}, args...))
	return out.String(), err
}

func scheduleJSON(t *testing.T, args ...string) scheduleReport {
	t.Helper()
	out, err := runScheduleCLI(t, append([]string{"schedule", "--json"}, args...)...)
	if err != nil {
		t.Fatalf("coop schedule --json %v: %v", args, err)
	}
	var r scheduleReport
	if err := json.Unmarshal([]byte(out), &r); err != nil {
		t.Fatalf("coop schedule --json %v: %v in\n%s", args, err, out)
	}
	return r
}

func TestScheduleText(t *testing.T) {
	out, err := runScheduleCLI(t, "schedule", "--scheduler", "EulerDiscreteScheduler", "--steps", "50")
	if err != nil {
		t.Fatal(err)
	}
	for _, pattern := range []string{
		`(?m)^scheduler: euler, 50 steps, leading spacing, steps_offset 1$`,
		`(?m)^schedule: scaled_linear\(T=1000, beta 0.00085..0.012\)$`,
		`(?m)^init_noise_sigma: 13.158\d*$`,
		`(?m)^ +step +timestep +sigma +abar +abar_next$`,
		`(?m)^ +0 +981 +13.1204 +0.00577\d* +0.00728\d*$`,
		`(?m)^ +49 +1 +0.0413\d* +0.9982\d* +1$`,
	} {
		if !regexp.MustCompile(pattern).MatchString(out) {
			t.Errorf("output lacks %s:\n%s", pattern, out)
		}
	}
	if rows := strings.Count(out, "\n") - 5; rows != 50 {
		t.Errorf("%d table rows, want 50:\n%s", rows, out)
	}
}

func TestScheduleJSON(t *testing.T) {
	r := scheduleJSON(t, "-s", "ddim", "-n", "50", "--spacing", "trailing")
	if r.Scheduler != "ddim" || len(r.Rows) != 50 || r.Rows[0].Timestep != 999 || r.Rows[49].Timestep != 19 || r.Split != nil {
		t.Errorf("ddim trailing 50: %+v", r)
	}
	if r.Rows[49].AbarNext != 1 || math.Abs(r.Rows[0].Sigma-14.6146) > 5e-5 {
		t.Errorf("ddim trailing 50: first sigma %g, last abar_next %g", r.Rows[0].Sigma, r.Rows[49].AbarNext)
	}

	// SDXL base and refiner, SPEC section 3.
	r = scheduleJSON(t, "-s", "euler", "-n", "40", "--denoising-end", "0.8")
	if r.Split == nil || *r.Split != 32 || r.Rows[31].Timestep != 201 || r.Rows[31].Part != "first" ||
		r.Rows[32].Timestep != 176 || r.Rows[32].Part != "second" || r.Rows[39].Timestep != 1 {
		t.Errorf("40 steps split at 0.8: %+v", r)
	}

	// img2img: strength 0.3 of 50 steps runs the last 15.
	r = scheduleJSON(t, "-s", "ddim", "--strength", "0.3")
	if r.Start != 35 || len(r.Rows) != 15 || r.Rows[0].Step != 35 || r.Rows[0].Timestep != 281 {
		t.Errorf("strength 0.3: start %d, %d rows from step %d (t = %g)", r.Start, len(r.Rows), r.Rows[0].Step, r.Rows[0].Timestep)
	}

	r = scheduleJSON(t, "-s", "dpmpp_2m", "--karras", "-n", "10")
	if r.Scheduler != "dpmpp_2m_karras" || !r.Karras || r.Rows[0].Timestep != 999 || r.Rows[9].Timestep != 0 {
		t.Errorf("dpmpp_2m --karras: %+v", r)
	}

	r = scheduleJSON(t, "-s", "ddpm_wuerstchen", "-n", "20")
	if r.Spacing != "" || r.InitNoiseSigma != 1 || r.Rows[0].Timestep != 1 || math.Abs(r.Rows[19].Timestep-0.05) > 1e-12 || r.Rows[19].AbarNext != 0.9999 {
		t.Errorf("ddpm_wuerstchen 20: %+v", r)
	}
}

func TestScheduleConfigFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "scheduler_config.json")
	config := `{"_class_name": "DDIMScheduler", "beta_schedule": "scaled_linear", "beta_start": 0.00085,
		"beta_end": 0.012, "prediction_type": "v_prediction", "set_alpha_to_one": false, "steps_offset": 1,
		"clip_sample": false, "num_train_timesteps": 1000}`
	if err := os.WriteFile(path, []byte(config), 0o644); err != nil {
		t.Fatal(err)
	}
	r := scheduleJSON(t, "--config", path, "-n", "20")
	if r.Scheduler != "ddim" || r.Class != "DDIMScheduler" || r.Rows[0].Timestep != 951 {
		t.Errorf("config file: %+v", r)
	}
	// set_alpha_to_one false: DDIM ends on abar_0, not on clean data.
	if last := r.Rows[19].AbarNext; last >= 1 || math.Abs(last-0.99915) > 5e-6 {
		t.Errorf("config file: last abar_next %g, want abar_0 = 0.99915", last)
	}
	// Flags override the file.
	r = scheduleJSON(t, "--config", path, "-s", "euler", "-n", "20", "--spacing", "trailing")
	if r.Scheduler != "euler" || r.Rows[0].Timestep != 999 {
		t.Errorf("config file with overrides: %+v", r)
	}
}

func TestScheduleErrors(t *testing.T) {
	bad := filepath.Join(t.TempDir(), "scheduler_config.json")
	if err := os.WriteFile(bad, []byte(`{"beta_schedule": `), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"-s", "heun"}, `unknown scheduler "heun" (known: ddim, ddpm`},
		{[]string{"-s", "euler", "-n", "0"}, "0 steps"},
		{[]string{"-s", "euler", "-n", "-4"}, "-4 steps"},
		{[]string{"-s", "euler", "--strength", "1.5"}, "strength 1.5 outside [0, 1]"},
		{[]string{"-s", "euler", "--strength", "-0.1"}, "strength -0.1 outside [0, 1]"},
		{[]string{"-s", "euler", "-n", "10", "--denoising-end", "0.05"}, "leaves the first model no steps"},
		{[]string{"-s", "euler", "-n", "10", "--denoising-end", "0.999"}, "leaves the second model no steps"},
		{[]string{"-s", "euler", "-n", "10", "--strength", "0.3", "--denoising-end", "0.5"}, "before img2img starts"},
		{[]string{"-s", "euler", "--spacing", "cosine"}, `timestep_spacing "cosine"`},
		{[]string{"-s", "ddim", "--karras"}, "Karras sigmas are only available"},
		{[]string{"-s", "lcm", "--offset", "1"}, "--offset does not apply to lcm"},
		{[]string{"-s", "euler", "--eta", "0.5"}, "--eta applies to ddim only"},
		{[]string{"-s", "ddim", "--eta", "2"}, "--eta must be between 0 and 1, got 2"},
		{[]string{"-s", "ddim", "--eta", "-0.5"}, "--eta must be between 0 and 1, got -0.5"},
		{[]string{"--config", bad}, bad},
		{[]string{}, "--scheduler is required"},
		{[]string{"-s", "euler", "extra"}, "no arguments"},
	} {
		_, err := runScheduleCLI(t, append([]string{"schedule"}, c.args...)...)
		var ee *exitError
		if err == nil || !errors.As(err, &ee) || ee.code != 2 || !strings.Contains(err.Error(), c.want) {
			t.Errorf("coop schedule %v: %v; want a bad-input error (exit 2) containing %q", c.args, err, c.want)
		}
	}
}

// coop schedule --config agrees with a recipe run on the folder: a
// folder's use_karras_sigmas gives dpmpp_2m_karras when no sampler is
// named and nothing when one is (with a warning), and a class coop has
// no sampler for shows the closest one, with a warning.
func TestScheduleConfigAsRecipe(t *testing.T) {
	dir := t.TempDir()
	write := func(name, conf string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(conf), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	karras := write("karras.json", `{"_class_name": "DPMSolverMultistepScheduler", "beta_schedule": "scaled_linear", "beta_start": 0.00085, "beta_end": 0.012, "use_karras_sigmas": true}`)
	unipc := write("unipc.json", `{"_class_name": "UniPCMultistepScheduler", "beta_schedule": "scaled_linear", "beta_start": 0.00085, "beta_end": 0.012}`)

	if r := scheduleJSON(t, "--config", karras, "-n", "10"); r.Scheduler != "dpmpp_2m_karras" || !r.Karras {
		t.Errorf("--config karras: %s, karras %v; want dpmpp_2m_karras with Karras sigmas", r.Scheduler, r.Karras)
	}
	for _, s := range []string{"euler", "dpmpp_2m"} {
		if r := scheduleJSON(t, "--config", karras, "-s", s, "-n", "10"); r.Scheduler != s || r.Karras {
			t.Errorf("--config karras -s %s: %s, karras %v; want plain %s, as a recipe naming it runs", s, r.Scheduler, r.Karras, s)
		}
	}
	res := coopCLI(t, "schedule", "--config", karras, "-s", "euler", "-n", "4")
	if res.code != 0 || !strings.Contains(res.stderr, "use_karras_sigmas") || strings.Contains(res.stdout, "Karras sigmas") {
		t.Errorf("--config karras -s euler: exit %d, stdout %q, stderr %q; want plain euler and a warning", res.code, res.stdout, res.stderr)
	}
	res = coopCLI(t, "schedule", "--config", unipc, "-n", "4")
	if res.code != 0 || !strings.Contains(res.stdout, "scheduler: dpmpp_2m ") ||
		!strings.Contains(res.stderr, "UniPCMultistepScheduler") || !strings.Contains(res.stderr, "--scheduler") {
		t.Errorf("--config unipc: exit %d, stdout %q, stderr %q; want dpmpp_2m and a warning", res.code, res.stdout, res.stderr)
	}
}

// A recipe without sampler: on a folder whose scheduler class coop has
// no sampler for validates, with a warning naming the model, the file,
// the class and the sampler it runs; the message of a bad sampler says
// "sampler:" once.
func TestValidateSchedulerFallback(t *testing.T) {
	w := newWorkspace(t)
	w.model("sd15")
	w.write("sd15/scheduler/scheduler_config.json", `{"_class_name": "UniPCMultistepScheduler", "beta_schedule": "scaled_linear", "beta_start": 0.00085, "beta_end": 0.012}`)
	res := coopCLI(t, "validate", w.recipe(plainRecipe))
	for _, want := range []string{"recipe.yaml:3:", "model sd", w.path("sd15/scheduler/scheduler_config.json"), "UniPCMultistepScheduler", "runs dpmpp_2m", "sampler:"} {
		if res.code != 0 || !strings.Contains(res.stderr, want) {
			t.Errorf("validate: exit %d, stderr %q; want exit 0 and a warning saying %q", res.code, res.stderr, want)
		}
	}
	res = coopCLI(t, "validate", w.recipe(plainRecipe+"sampler: heun\n"))
	if res.code != 2 || strings.Contains(res.stderr, "sampler: sampler:") || !strings.Contains(res.stderr, `unknown sampler "heun"`) {
		t.Errorf("validate sampler heun: exit %d, stderr %q", res.code, res.stderr)
	}
}
