package job_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/coop-diffusion/coop/internal/fixtures"
	"github.com/coop-diffusion/coop/internal/job"
	"github.com/coop-diffusion/coop/recipes"
)

// schedJob copies the zoo's model into a temporary folder, gives it the
// scheduler_config.json conf ("" removes it), and prepares yaml (a
// recipe whose model sd is at path m).
func schedJob(t *testing.T, model, conf, yaml string) *job.Job {
	t.Helper()
	dir := t.TempDir()
	m := filepath.Join(dir, "m")
	fixtures.CopyTree(t, filepath.Join(fixtures.Zoo(t), model), m)
	sc := filepath.Join(m, "scheduler", "scheduler_config.json")
	if conf == "" {
		if err := os.RemoveAll(filepath.Dir(sc)); err != nil {
			t.Fatal(err)
		}
	} else {
		if err := os.MkdirAll(filepath.Dir(sc), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(sc, []byte(conf), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	r, err := recipes.LoadBytes(filepath.Join(dir, "r.yaml"), []byte(yaml), dir)
	if err != nil {
		t.Fatal(err)
	}
	j, err := job.Prepare(r)
	if err != nil {
		t.Fatal(err)
	}
	return j
}

const schedRecipe = "version: 1\nmodels:\n  sd: {path: m}\nprompt: a cat\nseed: 1\nsteps: 4\n"

const karrasConf = `{"_class_name": "DPMSolverMultistepScheduler", "beta_schedule": "scaled_linear",
 "beta_start": 0.00085, "beta_end": 0.012, "timestep_spacing": "leading", "steps_offset": 1, "use_karras_sigmas": true}`

// A folder's use_karras_sigmas shows in the sampler's name, which the
// plan shows and the PNG records, so that a re-run reproduces it; a
// recipe naming dpmpp_2m gets it without Karras sigmas, and a warning.
func TestKarrasFromFolderIsRecorded(t *testing.T) {
	j := schedJob(t, "sd15", karrasConf, schedRecipe)
	st := j.Plan.Stages[0]
	if st.Sampler != "dpmpp_2m_karras" || st.Config.Karras {
		t.Errorf("no sampler, Karras folder: stage runs %s (Config.Karras %v), want dpmpp_2m_karras", st.Sampler, st.Config.Karras)
	}
	if got := j.Resolved(1, nil).Sampler; got != "dpmpp_2m_karras" {
		t.Errorf("resolved recipe records sampler %q, want dpmpp_2m_karras", got)
	}
	if w := j.SchedulerWarnings(); len(w) != 0 {
		t.Errorf("unexpected warnings %q", w)
	}

	j = schedJob(t, "sd15", karrasConf, schedRecipe+"sampler: dpmpp_2m\n")
	st = j.Plan.Stages[0]
	if st.Sampler != "dpmpp_2m" || st.Config.Karras {
		t.Errorf("sampler dpmpp_2m, Karras folder: stage runs %s with Config.Karras %v, want plain dpmpp_2m", st.Sampler, st.Config.Karras)
	}
	w := strings.Join(j.SchedulerWarnings(), "\n")
	for _, want := range []string{"r.yaml:7:", "model sd", filepath.Join("m", "scheduler", "scheduler_config.json"), "use_karras_sigmas", "dpmpp_2m_karras"} {
		if !strings.Contains(w, want) {
			t.Errorf("warning %q does not say %q", w, want)
		}
	}

	j = schedJob(t, "sd15", karrasConf, schedRecipe+"sampler: euler\n")
	if st := j.Plan.Stages[0]; st.Sampler != "euler" || st.Config.Karras {
		t.Errorf("sampler euler, Karras folder: stage runs %s with Config.Karras %v, want plain euler", st.Sampler, st.Config.Karras)
	}
}

// A scheduler class coop has no sampler for runs the closest one, with a
// warning naming the model, its file, the class and the sampler.
func TestUnknownSchedulerClassFallsBack(t *testing.T) {
	for class, want := range map[string]string{
		"UniPCMultistepScheduler": "dpmpp_2m",
		"LMSDiscreteScheduler":    "euler",
		"HeunDiscreteScheduler":   "euler",
		"SomeFutureScheduler":     "ddim",
	} {
		conf := `{"_class_name": "` + class + `", "beta_schedule": "scaled_linear", "beta_start": 0.00085, "beta_end": 0.012}`
		j := schedJob(t, "sd15", conf, schedRecipe)
		if got := j.Plan.Stages[0].Sampler; got != want {
			t.Errorf("%s: stage runs %s, want %s", class, got, want)
		}
		if got := j.Resolved(1, nil).Sampler; got != want {
			t.Errorf("%s: resolved recipe records %q, want %s", class, got, want)
		}
		w := strings.Join(j.SchedulerWarnings(), "\n")
		for _, s := range []string{"r.yaml:3:", "model sd", "scheduler_config.json", class, "runs " + want, "sampler:"} {
			if !strings.Contains(w, s) {
				t.Errorf("%s: warning %q does not say %q", class, w, s)
			}
		}
		// Naming a sampler settles it.
		j = schedJob(t, "sd15", conf, schedRecipe+"sampler: ddim\n")
		if w := j.SchedulerWarnings(); len(w) != 0 {
			t.Errorf("%s with sampler ddim: unexpected warnings %q", class, w)
		}
	}
}

// An SD 2.x folder without scheduler_config.json is warned about: coop
// assumes epsilon, and 768-px SD 2.x models predict v.
func TestSD2WithoutSchedulerConfigWarns(t *testing.T) {
	j := schedJob(t, "sd21v", "", schedRecipe)
	w := strings.Join(j.SchedulerWarnings(), "\n")
	for _, s := range []string{"r.yaml:3:", "model sd", "scheduler_config.json not found", "epsilon prediction is assumed", "v_prediction"} {
		if !strings.Contains(w, s) {
			t.Errorf("warning %q does not say %q", w, s)
		}
	}
	if w, err := j.CheckImages(); err != nil || len(w) != 1 {
		t.Errorf("CheckImages: %q, %v; want the scheduler warning", w, err)
	}
	if j := schedJob(t, "sd15", "", schedRecipe); len(j.SchedulerWarnings()) != 0 {
		t.Errorf("SD 1.x without scheduler_config.json: unexpected warnings %q", j.SchedulerWarnings())
	}
}
