package job

import (
	"fmt"
	"os"
	"strings"

	"github.com/coop-diffusion/coop/adapters"
	"github.com/coop-diffusion/coop/coop/sampler"
	"github.com/coop-diffusion/coop/graphs"
	"github.com/coop-diffusion/coop/recipes"
)

// checkParts refuses a plan that asks a model for a part it does not have
// (adapters.Info.Parts): every participant needs a denoiser, a text
// encoder and an autoencoder; the autoencoder needs its encoder where the
// plan turns pixels into the model's latents (the img2img image, the far
// end of a pixel bridge) and its decoder where it turns the model's
// latents into pixels (the final image, the near end of a bridge). The
// engine finds a missing part only when it gets there, possibly after
// every step has run: a model file alone (models.NAME.path naming a unet's
// model.onnx) has a denoiser and nothing else, and a folder may lack
// vae_encoder. Foreign participants are walked as the engine runs them
// (walkStage), so a bridge that never carries anything asks for nothing.
func checkParts(r *recipes.Recipe, plan *graphs.Plan, infos map[string]*adapters.Info) error {
	pc := &partsCheck{r: r, infos: infos}
	for si, st := range plan.Stages {
		for pj, p := range st.Participants {
			if err := pc.participant(si, pj, st, p.Model); err != nil {
				return err
			}
		}
	}
	for si, st := range plan.Stages {
		if err := pc.stage(si, st, plan); err != nil {
			return err
		}
	}
	return nil
}

type partsCheck struct {
	r     *recipes.Recipe
	infos map[string]*adapters.Info
}

// parts are the parts model name offers the engine. A Stable Cascade
// prior whose recipe entry names a decoder decodes through that model's
// stage B and A (checkDecoders checked they are there) and still encodes
// with its own EfficientNet.
func (pc *partsCheck) parts(name string) adapters.Parts {
	p := pc.infos[name].Parts
	if m := pc.r.Models[name]; m != nil && m.Decoder != "" {
		p.Decoder = true
	}
	return p
}

// field is the recipe field that names participant pj of stage si: the
// stage's reference to the model, or, in a recipe without stages (one
// model, one stage), the model's path.
func (pc *partsCheck) field(si, pj int, name string) string {
	f := fmt.Sprintf("stages.%d.participants.%d.model", si, pj)
	if pc.r.Has(f) {
		return f
	}
	return fmt.Sprintf("models.%s.path", name)
}

// participant checks that model name can take part in stage st at all.
func (pc *partsCheck) participant(si, pj int, st *graphs.Stage, name string) error {
	p := pc.parts(name)
	var missing []string
	if !p.Denoiser {
		missing = append(missing, "denoiser")
	}
	if !p.Text {
		missing = append(missing, "text encoder")
	}
	if !p.Encoder && !p.Decoder {
		missing = append(missing, "autoencoder (VAE)")
	}
	if len(missing) == 0 {
		return nil
	}
	role := "a participant"
	if pj == 0 {
		role = "the primary participant"
	}
	info := pc.infos[name]
	return pc.r.Errorf(pc.field(si, pj, name), "model %s (%s) cannot be %s of stage %s: it has no %s; a participant needs a denoiser, a text encoder and an autoencoder%s",
		name, info.Dir, role, st.Name, joinOr(missing), pc.hint(info))
}

// hint suggests where the missing parts are.
func (pc *partsCheck) hint(info *adapters.Info) string {
	if fi, err := os.Stat(info.Dir); err == nil && !fi.IsDir() {
		return fmt.Sprintf(" (%s is a single model file, which gives one part only: point models.%s.path at the model's folder, which holds the others)", info.Dir, info.Name)
	}
	return ""
}

// need is a direction of a model's autoencoder that the plan uses.
type need struct {
	model  string
	encode bool
	// field is the recipe field at fault; why says what the plan does
	// with the direction and what else could do it.
	field, why string
}

// stage checks the autoencoder directions that stage si uses.
func (pc *partsCheck) stage(si int, st *graphs.Stage, plan *graphs.Plan) error {
	prim := st.Primary().Model
	primField := pc.field(si, 0, prim)
	var needs []need
	switch st.Entry {
	case graphs.Img2Img:
		needs = append(needs, need{prim, true, primField, fmt.Sprintf("stage %s starts from the img2img image, which it encodes", st.Name)})
	case graphs.Renoise, graphs.Naive:
		prev := plan.Stages[si-1]
		pn := prev.Primary().Model
		why := fmt.Sprintf("stage %s hands its clean estimate to stage %s through pixels (transition %s: decode, resize, encode)", prev.Name, st.Name, st.Entry)
		needs = append(needs, need{pn, false, pc.field(si-1, 0, pn), why}, need{prim, true, primField, why})
	}
	if len(st.Participants) > 1 {
		needs = append(needs, pc.bridges(si, st)...)
	}
	if si == len(plan.Stages)-1 {
		needs = append(needs, need{prim, false, primField, fmt.Sprintf("stage %s is the last, and its latent is decoded into the image", st.Name)})
	}
	for _, n := range needs {
		p := pc.parts(n.model)
		if n.encode && !p.Encoder || !n.encode && !p.Decoder {
			return pc.refuse(n)
		}
	}
	return nil
}

// bridges walks stage si and returns the directions its foreign
// participants' pixel bridges use.
func (pc *partsCheck) bridges(si int, st *graphs.Stage) []need {
	schedule, err := sampler.NewPlan(st.Sampler, st.Config)
	if err != nil || st.End > schedule.Len() {
		return nil // Compile refuses such a stage
	}
	prim := st.Primary()
	primInfo := pc.infos[prim.Model]
	primEnd := estEnd{space: primInfo.Space, height: st.Height, width: st.Width}
	foreign := make([]bool, len(st.Participants))
	for j, p := range st.Participants {
		h, w := p.Height, p.Width
		if h == 0 || w == 0 {
			h, w = st.Height, st.Width
		}
		foreign[j] = j > 0 && !(estEnd{space: pc.infos[p.Model].Space, height: h, width: w}).same(primEnd)
	}
	to := make([]bool, len(st.Participants))
	from := make([]bool, len(st.Participants))
	walkStage(st, schedule, foreign, stageVisitor{
		toPrimary:   func(_, j int) { to[j] = true },
		fromPrimary: func(_, j int) { from[j] = true },
	})
	var needs []need
	primField := pc.field(si, 0, prim.Model)
	for j, p := range st.Participants {
		field := pc.field(si, j, p.Model)
		if to[j] && p.Bridge.Interposer == "" {
			why := fmt.Sprintf("in stage %s, participant %s lives in another latent space or size than %s and carries its estimates to it through pixels (decode, resize, encode)", st.Name, p.Model, prim.Model)
			alt := fmt.Sprintf("; or map the latents with stages.%d.participants.%d.bridge.interposer", si, j)
			needs = append(needs, need{p.Model, false, field, why + alt}, need{prim.Model, true, primField, why + alt})
		}
		if from[j] && p.Bridge.Back == "" {
			why := fmt.Sprintf("in stage %s, participant %s lives in another latent space or size than %s and takes up the fused estimate carried back through pixels (decode, resize, encode)", st.Name, p.Model, prim.Model)
			alt := fmt.Sprintf("; or map the latents with stages.%d.participants.%d.bridge.back", si, j)
			needs = append(needs, need{prim.Model, false, primField, why + alt}, need{p.Model, true, field, why + alt})
		}
	}
	return needs
}

// refuse reports a direction model n.model's autoencoder lacks.
func (pc *partsCheck) refuse(n need) error {
	info := pc.infos[n.model]
	what, part := "decoder", "turn its latents into pixels"
	if n.encode {
		what, part = "encoder", "turn pixels into its latents"
	}
	file := autoencoderFile(info.Family, n.encode)
	if file != "" {
		file = " (" + file + ")"
	}
	return pc.r.Errorf(n.field, "model %s (%s) has no %s%s to %s, which the plan needs: %s", n.model, info.Dir, what, file, part, n.why)
}

// autoencoderFile is the model file of a family's autoencoder direction,
// "" where the family does not fix it.
func autoencoderFile(f adapters.Family, encode bool) string {
	var enc, dec string
	switch f {
	case adapters.SD1, adapters.SD2, adapters.SDXL, adapters.SDXLRefiner:
		enc, dec = "vae_encoder", "vae_decoder"
	case adapters.CascadePrior:
		enc, dec = "effnet", "previewer"
	case adapters.CascadeDecoder:
		enc, dec = "vqgan_encoder", "vqgan"
	default:
		return ""
	}
	if encode {
		return enc + "/model.onnx"
	}
	return dec + "/model.onnx"
}

// joinOr lists words as "a", "a or b", "a, b or c".
func joinOr(words []string) string {
	if len(words) < 2 {
		return strings.Join(words, "")
	}
	return strings.Join(words[:len(words)-1], ", ") + " or " + words[len(words)-1]
}
