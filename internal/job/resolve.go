package job

import (
	"github.com/coop-diffusion/coop/adapters/cascade"
	"github.com/coop-diffusion/coop/coop/sampler"
	"github.com/coop-diffusion/coop/recipes"
)

// Resolved returns the recipe of one image as coop records it in the PNG:
// a copy of the job's recipe with what the models decided written out
// (each stage's size, sampler and step count, each participant's
// guidance, the stage B steps of a prior decoded through a decoder), the
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
	for si, st := range j.Plan.Stages {
		if si >= len(r.Stages) {
			break
		}
		rs := r.Stages[si]
		rs.Width, rs.Height = st.Width, st.Height
		rs.Sampler = st.Sampler
		if canon, err := sampler.Canonical(st.Sampler); err == nil {
			rs.Sampler = canon
		}
		rs.Steps = st.Config.Steps
		for pj, p := range st.Participants {
			if pj < len(rs.Participants) && rs.Participants[pj] != nil {
				g := p.Guidance
				rs.Participants[pj].Guidance = &g
			}
		}
	}
	r.MakePathsAbsolute()
	return r
}
