package denoise

import (
	"strings"

	"github.com/coop-diffusion/coop/adapters"
	"github.com/coop-diffusion/coop/adapters/controlnet"
	"github.com/coop-diffusion/coop/adapters/internal/graph"
)

// OutputNames are the prediction outputs of real exports, in order of
// preference: optimum's out_sample, and latent, noise_pred and sample seen
// elsewhere.
var OutputNames = []string{"out_sample", "noise_pred", "latent", "sample", "latents"}

// UnetInputs finds the standard inputs of an SD-style unet by their
// export names; inputs the graph lacks stay "".
func UnetInputs(g *graph.Model) Inputs {
	in := Inputs{
		Sample:   g.FirstInput("sample", "latent_model_input", "x"),
		Timestep: g.FirstInput("timestep", "timesteps", "t"),
		Context:  g.FirstInput("encoder_hidden_states"),
		Pooled:   g.FirstInput("text_embeds"),
		TimeIDs:  g.FirstInput("time_ids"),
		Output:   g.FirstOutput(OutputNames...),
	}
	in.ControlImages, in.ControlScales = FusedInputs(g)
	return in
}

// FusedInputs finds the control image and scale inputs of a unet with
// fused ControlNets (controlnet_images [nCN, B, 3, H, W] and
// controlnet_scales [nCN]).
func FusedInputs(g *graph.Model) (images, scales string) {
	for _, v := range g.Sig.Inputs {
		name := strings.ToLower(v.Name)
		if !strings.Contains(name, "controlnet") && !strings.Contains(name, "control_") {
			continue
		}
		switch {
		case strings.Contains(name, "scale"):
			scales = v.Name
		case strings.Contains(name, "image") || strings.Contains(name, "cond"):
			images = v.Name
		}
	}
	return images, scales
}

// UnetControl fills info.Control from the graph's residual and fused
// control inputs and returns the architecture that sizes residuals the
// graph leaves symbolic.
func UnetControl(g *graph.Model, info *adapters.Info, in Inputs) (controlnet.Architecture, error) {
	var arch controlnet.Architecture
	ports, err := controlnet.Ports(g.Sig.Inputs)
	if err != nil {
		return arch, g.Errorf("%v", err)
	}
	if ports.Split() {
		if len(ports.Down) == 0 {
			return arch, g.Errorf("input %s is a mid-block residual but the graph takes no down-block residuals", ports.Mid.Name)
		}
		if arch, err = controlnet.ArchitectureFor(g.Config, len(ports.Down)); err != nil {
			return arch, g.Errorf("%v", err)
		}
		for _, r := range ports.Down {
			if err := g.CheckRank(g.Input(r.Name), "input", 4); err != nil {
				return arch, err
			}
		}
	}
	if (in.ControlImages == "") != (in.ControlScales == "") {
		return arch, g.Errorf("fused ControlNets need both a control image input and a scale input; the graph has only %s%s", in.ControlImages, in.ControlScales)
	}
	if in.ControlImages != "" {
		v := g.Input(in.ControlImages)
		if err := g.CheckRank(v, "input", 5); err != nil {
			return arch, err
		}
		n, ok := graph.Dim(v, 0)
		if !ok {
			n, ok = graph.Dim(g.Input(in.ControlScales), 0)
		}
		if !ok || n <= 0 {
			return arch, g.Errorf("input %s is %s: the number of fused ControlNets (axis 0) must be fixed", v.Name, graph.Describe(v))
		}
		if err := g.CheckDim(g.Input(in.ControlScales), "input", 0, n, "the number of fused ControlNets"); err != nil {
			return arch, err
		}
		if err := g.CheckDim(v, "input", 2, 3, "the control image channel count"); err != nil {
			return arch, err
		}
		ports.Fused = n
	}
	info.Control = ports
	return arch, nil
}
