package job

import (
	"runtime"

	"github.com/coop-diffusion/coop/adapters"
	"github.com/coop-diffusion/coop/coop"
)

// engineModel is the engine's view of a loaded model; the engine opens,
// times and releases its sessions through it.
func engineModel(name string, m *adapters.Model) *coop.Model {
	cm := &coop.Model{}
	setEngineModel(cm, name, m)
	return cm
}

// setEngineModel points cm at m's parts, keeping cm's caches. A unet with
// fused ControlNets offers every slot (coop.Model.ControlNets).
func setEngineModel(cm *coop.Model, name string, m *adapters.Model) {
	cm.Name, cm.Denoiser, cm.VAE, cm.Text, cm.Sessions = name, m.Denoiser, m.VAE, m.Text, m
	cm.ControlNet, cm.ControlNets = nil, m.Controls
	if len(m.Controls) > 0 {
		cm.ControlNet = m.Controls[0]
	}
}

// IntraOpThreads is the number of ONNX Runtime intra-op threads the
// sessions of model name get when the recipe sets none: the machine's
// cores shared by the participants of the busiest stage that uses the
// model, since the engine runs them concurrently (two participants on two
// cores get one thread each). ControlNets run inside their participant's
// prediction and share its count, and so does the decoder whose stage B
// and A decode a Stable Cascade prior's latents (recipe field decoder:).
// A model that only decodes the estimate a stage enters with (renoise)
// runs alone then, and models no stage uses get every core.
func (j *Job) IntraOpThreads(name string) int {
	return intraOpThreads(j, name, runtime.NumCPU())
}

func intraOpThreads(j *Job, name string, cores int) int {
	busiest := 1
	for _, st := range j.Plan.Stages {
		for _, p := range st.Participants {
			uses := p.Model == name
			if j.Recipe != nil {
				if rm := j.Recipe.Models[p.Model]; rm != nil && rm.Decoder == name {
					// The decoder's stage B and A decode p's latents.
					uses = true
				}
			}
			for _, c := range p.Controls {
				uses = uses || c.Model == name
			}
			if uses {
				busiest = max(busiest, len(st.Participants))
			}
		}
	}
	return max(1, cores/busiest)
}

// sessionFor returns the session options of model name: o, with the
// intra-op thread count of IntraOpThreads when o leaves it to coop.
func (j *Job) sessionFor(name string, o adapters.LoadOptions) adapters.LoadOptions {
	if o.Session.IntraOpThreads == 0 {
		o.Session.IntraOpThreads = j.IntraOpThreads(name)
	}
	return o
}
