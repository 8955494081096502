package job

import (
	"fmt"
	"path/filepath"
	"strconv"

	"github.com/coop-diffusion/coop/adapters"

	"github.com/coop-diffusion/coop/adapters/cascade"
	"github.com/coop-diffusion/coop/coop/sampler"
	"github.com/coop-diffusion/coop/graphs"
	"github.com/coop-diffusion/coop/recipes"
)

// Resolved returns the recipe of one image as coop records it in the PNG:
// a copy of the job's recipe with what the models decided written out
// (each stage's size, sampler and step count, each participant's
// guidance, the stage B steps of a prior decoded through a decoder; see
// writeOutDefaults), the
// seed used, each model's SHA-256 from digests, and every path absolute,
// so that loading it again, from any folder, compiles to the same plan.
// Threads are left out: they change how fast an image is made, not the
// image.
func (j *Job) Resolved(seed uint64, digests map[string]string) *recipes.Recipe {
	r := j.Recipe.Clone()
	r.Seed, r.Seeds = &seed, nil
	r.Sweep = nil
	r.Threads = 0
	for name, m := range r.Models {
		if d, ok := digests[name]; ok && m != nil {
			m.SHA256 = d
		}
		if m != nil && m.Decoder != "" && m.DecoderSteps == 0 {
			m.DecoderSteps = cascade.DefaultBridgeSteps
		}
	}
	writeOutDefaults(r, j.Plan)
	r.MakePathsAbsolute()
	return r
}

// writeOutDefaults writes into r every size, sampler, step count and
// guidance the plan took from the models, where r's stages and
// participants inherit them: at the top level when every stage (or
// participant) took the same value, else on each that took it. A value
// the recipe gave stays where it was, and a stage that inherits the top
// level's value keeps inheriting it. So `coop run IMAGE.png --set
// steps=50` changes every stage that followed the top-level steps, as in
// the original recipe, instead of being overridden by copies that
// Resolved wrote on each stage.
func writeOutDefaults(r *recipes.Recipe, plan *graphs.Plan) {
	n := min(len(plan.Stages), len(r.Stages))
	if n == 0 {
		return
	}
	type stageValue struct {
		own   bool // the stage gives its own
		value string
	}
	// agree returns the value every stage that inherits took, when they
	// all took the same.
	agree := func(vals []stageValue) (string, bool) {
		v, any := "", false
		for _, sv := range vals {
			if sv.own {
				continue
			}
			if any && sv.value != v {
				return "", false
			}
			v, any = sv.value, true
		}
		return v, any
	}
	sizes, samplers, steps := make([]stageValue, n), make([]stageValue, n), make([]stageValue, n)
	for si := range n {
		st, rs := plan.Stages[si], r.Stages[si]
		name := st.Sampler
		if canon, err := sampler.Canonical(st.Sampler); err == nil {
			name = canon
		}
		sizes[si] = stageValue{rs.Width != 0 || rs.Height != 0, fmt.Sprintf("%dx%d", st.Width, st.Height)}
		samplers[si] = stageValue{rs.Sampler != "", name}
		steps[si] = stageValue{rs.Steps != 0, strconv.Itoa(st.Config.Steps)}
	}
	topSize := r.Width != 0 || r.Height != 0
	if v, ok := agree(sizes); ok && !topSize {
		fmt.Sscanf(v, "%dx%d", &r.Width, &r.Height)
		topSize = true
	}
	if v, ok := agree(samplers); ok && r.Sampler == "" {
		r.Sampler = v
	}
	if v, ok := agree(steps); ok && r.Steps == 0 {
		r.Steps, _ = strconv.Atoi(v)
	}
	for si := range n {
		st, rs := plan.Stages[si], r.Stages[si]
		if !sizes[si].own && (!topSize || st.Width != r.Width || st.Height != r.Height) {
			rs.Width, rs.Height = st.Width, st.Height
		}
		if !samplers[si].own && samplers[si].value != r.Sampler {
			rs.Sampler = samplers[si].value
		}
		if !steps[si].own && st.Config.Steps != r.Steps {
			rs.Steps = st.Config.Steps
		}
	}

	// Guidance: per participant, over every stage.
	var inherit []float64
	for si := range n {
		for pj, p := range plan.Stages[si].Participants {
			if rp := participantAt(r.Stages[si], pj); rp != nil && rp.Guidance == nil {
				inherit = append(inherit, p.Guidance)
			}
		}
	}
	if r.Guidance == nil && len(inherit) > 0 && allEqual(inherit) {
		g := inherit[0]
		r.Guidance = &g
	}
	for si := range n {
		for pj, p := range plan.Stages[si].Participants {
			rp := participantAt(r.Stages[si], pj)
			if rp == nil || rp.Guidance != nil || r.Guidance != nil && *r.Guidance == p.Guidance {
				continue
			}
			g := p.Guidance
			rp.Guidance = &g
		}
	}
}

func participantAt(st *recipes.Stage, j int) *recipes.Participant {
	if j < len(st.Participants) {
		return st.Participants[j]
	}
	return nil
}

func allEqual(xs []float64) bool {
	for _, x := range xs[1:] {
		if x != xs[0] {
			return false
		}
	}
	return true
}

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
