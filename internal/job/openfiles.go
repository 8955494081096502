package job

import "github.com/coop-diffusion/coop/adapters"

// openModel is what one model holds open during a run: the model files
// its sessions load, their size, and the first and last stage the
// sessions are open in.
type openModel struct {
	files       []ModelFile
	bytes       int64
	first, last int
}

// openModels returns, by name, the models a run of the plan opens. A
// participant's sessions are open from its first stage to its last
// (graphs.Plan.FirstUse and LastUse). A decoder whose stage B and A decode
// a Stable Cascade prior's latents (recipe field decoder) is open while
// the prior is, even in no stage of its own. Files of graphs the run never
// opens are left out: a prior decoded through a decoder keeps its previewer
// closed, and a decoder that is only that bridge its stage A encoder
// (cascade.Bridge opens what it runs).
func (j *Job) openModels() (map[string]*openModel, error) {
	plan := j.Plan
	first, last := plan.FirstUse(), plan.LastUse()
	participant := map[string]bool{}
	for name := range last {
		participant[name] = true
	}
	closed := map[string]map[string]bool{} // model name -> roles left closed
	closeRole := func(name, role string) {
		if closed[name] == nil {
			closed[name] = map[string]bool{}
		}
		closed[name][role] = true
	}
	for _, name := range j.Recipe.ModelNames() {
		rm := j.Recipe.Models[name]
		if rm == nil || rm.Decoder == "" {
			continue
		}
		f, ok := first[name]
		if !ok {
			continue
		}
		closeRole(name, "previewer")
		if !participant[rm.Decoder] {
			closeRole(rm.Decoder, "vqgan_encoder")
		}
		if df, ok := first[rm.Decoder]; !ok || f < df {
			first[rm.Decoder] = f
		}
		if dl, ok := last[rm.Decoder]; !ok || last[name] > dl {
			last[rm.Decoder] = last[name]
		}
	}
	out := map[string]*openModel{}
	for name := range last {
		info := j.Infos[name]
		if info == nil {
			continue
		}
		files, err := modelFiles(info, func(c adapters.Component) bool { return !closed[name][c.Role] })
		if err != nil {
			return nil, err
		}
		om := &openModel{files: files, first: first[name], last: last[name]}
		for _, f := range files {
			om.bytes += f.Size
		}
		out[name] = om
	}
	return out, nil
}

// peakOpen returns the most model file bytes open at once over the plan's
// stages, each model open from its first to its last stage, and the first
// stage that holds them.
func (j *Job) peakOpen(open map[string]*openModel) (bytes int64, stage int) {
	for si := range j.Plan.Stages {
		var held int64
		for _, om := range open {
			if om.first <= si && si <= om.last {
				held += om.bytes
			}
		}
		if held > bytes {
			bytes, stage = held, si
		}
	}
	return bytes, stage
}
