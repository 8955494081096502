package job

import (
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
	var sizes []inherited[[2]int]
	var samplers []inherited[string]
	var steps []inherited[int]
	for si := range n {
		st, rs := plan.Stages[si], r.Stages[si]
		name := st.Sampler
		if canon, err := sampler.Canonical(st.Sampler); err == nil {
			name = canon
		}
		sizes = append(sizes, inherited[[2]int]{rs.Width != 0 || rs.Height != 0, [2]int{st.Width, st.Height}})
		samplers = append(samplers, inherited[string]{rs.Sampler != "", name})
		steps = append(steps, inherited[int]{rs.Steps != 0, st.Config.Steps})
	}
	topSize := r.Width != 0 || r.Height != 0
	if v, ok := agree(sizes); ok && !topSize {
		r.Width, r.Height, topSize = v[0], v[1], true
	}
	if v, ok := agree(samplers); ok && r.Sampler == "" {
		r.Sampler = v
	}
	if v, ok := agree(steps); ok && r.Steps == 0 {
		r.Steps = v
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
	var guidance []inherited[float64]
	for si := range n {
		for pj, p := range plan.Stages[si].Participants {
			if rp := participantAt(r.Stages[si], pj); rp != nil {
				guidance = append(guidance, inherited[float64]{rp.Guidance != nil, p.Guidance})
			}
		}
	}
	if g, ok := agree(guidance); ok && r.Guidance == nil {
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

// inherited is the value a stage or participant took, and whether the
// recipe gave it there (own) rather than leaving it to inherit.
type inherited[T comparable] struct {
	own   bool
	value T
}

// agree returns the value every inheriting entry took, when there is at
// least one and they all took the same.
func agree[T comparable](vals []inherited[T]) (T, bool) {
	var v T
	found := false
	for _, x := range vals {
		if x.own {
			continue
		}
		if found && x.value != v {
			var zero T
			return zero, false
		}
		v, found = x.value, true
	}
	return v, found
}

func participantAt(st *recipes.Stage, j int) *recipes.Participant {
	if j < len(st.Participants) {
		return st.Participants[j]
	}
	return nil
}
