package job

import (
	"fmt"
	"path/filepath"

	"github.com/coop-diffusion/coop/adapters"
	"github.com/coop-diffusion/coop/coop/sampler"
)

// SchedulerWarnings returns warnings, positioned at the recipe field
// concerned (FILE:LINE:COL), where a stage's schedule is not what its
// primary model's scheduler/scheduler_config.json asks for: a scheduler
// class coop has no sampler for (the stage runs the closest one coop has,
// see sampler.ForClass), use_karras_sigmas that the stage's sampler does
// not apply (Karras sigmas come only with sampler dpmpp_2m_karras), and an
// SD 2.x folder without scheduler_config.json, for which coop assumes
// epsilon prediction although SD 2.x 768-px models predict v. Each names
// the model and the file; the recipe's sampler field settles the first
// two.
func (j *Job) SchedulerWarnings() []string {
	r, plan := j.Recipe, j.Plan
	if r == nil || plan == nil {
		return nil
	}
	var out []string
	seen := map[string]bool{}
	warn := func(field, format string, args ...any) {
		w := r.Errorf(field, format, args...).Error()
		if !seen[w] {
			seen[w] = true
			out = append(out, w)
		}
	}
	for si, st := range plan.Stages {
		if si >= len(r.Stages) {
			break
		}
		name := st.Primary().Model
		info := j.Infos[name]
		if info == nil {
			continue
		}
		cfg := info.Scheduler
		file := filepath.Join(info.Dir, "scheduler", "scheduler_config.json")
		modelField := fmt.Sprintf("models.%s.path", name)
		if cfg.Class == "" {
			if info.Family == adapters.SD2 {
				warn(modelField, "model %s: %s not found, so epsilon prediction is assumed; SD 2.x 768-px models predict v and come out wrong that way: give the folder a scheduler/scheduler_config.json with \"prediction_type\": \"v_prediction\" if this is one", name, file)
			}
			continue
		}
		rs := r.Stages[si]
		given, field := rs.Sampler, fmt.Sprintf("stages.%d.sampler", si)
		if given == "" {
			given, field = r.Sampler, "sampler"
		}
		if given == "" {
			if c := sampler.ForClass(cfg.Class, cfg.Karras); c.Note != "" {
				karras := ""
				if cfg.Karras {
					karras = " with use_karras_sigmas"
				}
				warn(modelField, "model %s: %s names %s%s; %s (stage %s); set sampler: in the recipe to choose one", name, file, cfg.Class, karras, c.Note, st.Name)
			}
			continue
		}
		if cfg.Karras {
			switch st.Sampler {
			case "dpmpp_2m":
				warn(field, "model %s: %s sets use_karras_sigmas, but sampler dpmpp_2m runs on its own sigmas (stage %s); set sampler: dpmpp_2m_karras for Karras sigmas", name, file, st.Name)
			case "euler", "euler_a":
				warn(field, "model %s: %s sets use_karras_sigmas, but coop has Karras sigmas only as sampler dpmpp_2m_karras; %s runs on its own sigmas (stage %s)", name, file, st.Sampler, st.Name)
			}
		}
	}
	return out
}
