package graphs

import (
	"fmt"

	"github.com/coop-diffusion/coop/adapters"
	"github.com/coop-diffusion/coop/coop/sampler"
	"github.com/coop-diffusion/coop/recipes"
)

// Family defaults, as the families' own pipelines use them.
var (
	defaultSteps = map[adapters.Family]int{
		adapters.SD1: 30, adapters.SD2: 30, adapters.SDXL: 30, adapters.SDXLRefiner: 30,
		adapters.CascadePrior: 20, adapters.CascadeDecoder: 10, adapters.Generic: 30,
	}
	defaultGuidance = map[adapters.Family]float64{
		adapters.SD1: 7.5, adapters.SD2: 7.5, adapters.SDXL: 5, adapters.SDXLRefiner: 5,
		adapters.CascadePrior: 4, adapters.CascadeDecoder: 0, adapters.Generic: 7.5,
	}
)

// denoising families can own or join a trajectory; the others (ControlNets,
// a VQGAN alone) cannot.
func denoising(f adapters.Family) bool {
	_, ok := defaultSteps[f]
	return ok
}

// Compile turns a loaded recipe into a plan, given what Check learned of
// every model from its signatures. Errors point at the recipe field at
// fault (FILE:LINE:COL). The plan's Seed is the recipe's first seed.
func Compile(r *recipes.Recipe, infos map[string]*adapters.Info) (*Plan, error) {
	c := &compiler{r: r, infos: infos}
	plan, err := c.compile()
	if err != nil {
		return nil, err
	}
	return plan, nil
}

type compiler struct {
	r     *recipes.Recipe
	infos map[string]*adapters.Info
}

func (c *compiler) info(path, name string) (*adapters.Info, error) {
	in := c.infos[name]
	if in == nil {
		return nil, c.r.Errorf(path, "model %q is not defined under models", name)
	}
	return in, nil
}

func (c *compiler) compile() (*Plan, error) {
	r := c.r
	plan := &Plan{Seed: r.SeedList()[0]}
	if r.Img2Img != nil {
		plan.Img2Img = &Img2ImgInput{Image: r.Path(r.Img2Img.Image), Strength: r.Img2Img.Strength}
	}
	var prev *Stage
	var prevInfo *adapters.Info
	prevUntil := 0.0
	for si, rs := range r.Stages {
		sp := fmt.Sprintf("stages.%d", si)
		if len(rs.Participants) == 0 {
			return nil, r.Errorf(sp, "stage has no participants")
		}
		primName := rs.Participants[0].Model
		pi, err := c.info(sp+".participants.0.model", primName)
		if err != nil {
			return nil, err
		}
		if !denoising(pi.Family) {
			return nil, r.Errorf(sp+".participants.0.model", "model %s is a %s and cannot own a stage; the first participant must be a denoising model", primName, pi.Family)
		}
		st := &Stage{Name: rs.Name}
		if st.Name == "" {
			st.Name = fmt.Sprintf("%d-%s", si+1, primName)
		}
		// Size: the stage's, else the recipe's, else the primary's native.
		st.Width, st.Height = rs.Width, rs.Height
		if st.Width == 0 {
			st.Width = r.Width
		}
		if st.Height == 0 {
			st.Height = r.Height
		}
		if st.Width == 0 {
			st.Width = pi.Native.Width
		}
		if st.Height == 0 {
			st.Height = pi.Native.Height
		}
		if _, _, err := pi.Space.LatentSize(st.Height, st.Width); err != nil {
			return nil, r.Errorf(c.sizePath(si), "size %dx%d does not fit model %s: %v", st.Width, st.Height, primName, err)
		}
		// Schedule.
		// The recipe's sampler, else the one for the model's scheduler
		// class (sampler.ForClass: the closest coop has for a class it
		// does not implement). Karras sigmas come with the sampler's name
		// (dpmpp_2m_karras) and never from the folder alone, so that the
		// name a plan shows and a PNG records says whether they are used.
		cfg := pi.Scheduler
		folderKarras := cfg.Karras
		cfg.Karras = false
		st.Sampler = firstNonEmpty(rs.Sampler, r.Sampler)
		if st.Sampler == "" {
			st.Sampler = sampler.ForClass(cfg.Class, folderKarras).Sampler
		}
		canon, err := sampler.Canonical(st.Sampler)
		if err != nil {
			return nil, r.Errorf(firstPath(rs.Sampler != "", sp+".sampler", "sampler"), "%v", err)
		}
		st.Sampler = canon
		cfg.Steps = rs.Steps
		if cfg.Steps == 0 && (si == 0 || pi.Family != adapters.CascadeDecoder) {
			cfg.Steps = r.Steps
		}
		if cfg.Steps == 0 {
			cfg.Steps = defaultSteps[pi.Family]
		}
		if r.Eta != nil {
			cfg.Eta = *r.Eta
		}
		st.Config = cfg
		full, err := sampler.NewPlan(st.Sampler, cfg)
		if err != nil {
			return nil, r.Errorf(sp, "model %s: %v", primName, err)
		}

		// Entry and the range of steps.
		switch {
		case si == 0 && plan.Img2Img != nil:
			st.Entry = Img2Img
			if st.First, err = full.StrengthStart(plan.Img2Img.Strength); err != nil {
				return nil, r.Errorf("img2img.strength", "%v", err)
			}
		case si == 0:
			st.Entry = Fresh
			if pi.Family == adapters.SDXLRefiner {
				return nil, r.Errorf(sp+".participants.0.model", "model %s is an SDXL refiner: it denoises only the end of a trajectory and cannot start from noise; put it in a stage after an SDXL base stage", primName)
			}
			if pi.Family == adapters.CascadeDecoder {
				return nil, r.Errorf(sp+".participants.0.model", "model %s is a Stable Cascade decoder (stage B): it needs a Stable Cascade prior stage before it, with transition: condition", primName)
			}
		default:
			switch r.Stages[si-1].Transition {
			case recipes.TransitionCondition:
				st.Entry = Effnet
				if pi.Family != adapters.CascadeDecoder || prevInfo.Family != adapters.CascadePrior {
					return nil, r.Errorf(fmt.Sprintf("stages.%d.transition", si-1), "transition condition feeds a Stable Cascade prior's result to a Stable Cascade decoder, not %s to %s", prevInfo.Family, pi.Family)
				}
			case recipes.TransitionNaive:
				st.Entry = Naive
				if !sameSpaceInfo(prevInfo, pi) {
					// Another space's latents read as this one's are no
					// latents of the image at all, even with as many
					// channels.
					return nil, r.Errorf(fmt.Sprintf("stages.%d.transition", si-1), "transition naive resizes the noisy latent itself, which needs one latent space on both sides (%s's is %s with %d channels, %s's %s with %d); use renoise",
						prev.Primary().Model, spaceName(prevInfo), prevInfo.Space.Channels, primName, spaceName(pi), pi.Space.Channels)
				}
			case recipes.TransitionRenoise:
				st.Entry = Renoise
			default:
				st.Entry = Renoise
				if sameSpaceInfo(prevInfo, pi) && prev.Width == st.Width && prev.Height == st.Height {
					st.Entry = Continue
				}
			}
			if st.Entry != Effnet {
				if st.First, err = full.SplitAtFraction(prevUntil); err != nil {
					return nil, r.Errorf(fmt.Sprintf("stages.%d.until", si-1), "%v", err)
				}
			}
			if pi.Family == adapters.CascadeDecoder && st.Entry != Effnet {
				return nil, r.Errorf(sp+".participants.0.model", "model %s is a Stable Cascade decoder: it follows a Stable Cascade prior stage with transition: condition", primName)
			}
		}
		st.End = full.Len()
		if rs.Until != nil {
			if st.End, err = full.SplitAtFraction(*rs.Until); err != nil {
				return nil, r.Errorf(sp+".until", "%v", err)
			}
			prevUntil = *rs.Until
		}
		if st.End <= st.First {
			return nil, r.Errorf(firstPath(rs.Until != nil, sp+".until", sp), "stage %s gets no steps: it would run steps [%d, %d) of %d", st.Name, st.First, st.End, full.Len())
		}

		for pj, rp := range rs.Participants {
			pp := fmt.Sprintf("%s.participants.%d", sp, pj)
			in, err := c.info(pp+".model", rp.Model)
			if err != nil {
				return nil, err
			}
			if !denoising(in.Family) {
				return nil, r.Errorf(pp+".model", "model %s is a %s, not a denoising model; attach ControlNets under controls", rp.Model, in.Family)
			}
			p := &Participant{Model: rp.Model, Window: Window{Start: rp.Window.Start, End: rp.Window.End}}
			if rp.Weight != nil {
				for _, pt := range rp.Weight.Points {
					p.Weight.Points = append(p.Weight.Points, [2]float64{pt.T, pt.W})
				}
			} else {
				p.Shares = true
			}
			p.Prompt = adapters.Prompt{Positive: r.Prompt, Negative: r.Negative}
			if rp.Prompt != nil {
				p.Prompt.Positive = *rp.Prompt
			}
			if rp.Negative != nil {
				p.Prompt.Negative = *rp.Negative
			}
			switch {
			case rp.Guidance != nil:
				p.Guidance = *rp.Guidance
			case r.Guidance != nil && !(in.Family == adapters.CascadeDecoder && si > 0):
				p.Guidance = *r.Guidance
			default:
				p.Guidance = defaultGuidance[in.Family]
			}
			if rp.Bridge != nil {
				p.Bridge = Bridge{Every: rp.Bridge.Every, Interposer: r.Path(rp.Bridge.Interposer), Back: r.Path(rp.Bridge.Back)}
			}
			if pj > 0 && !sameSpaceInfo(in, pi) {
				// A foreign participant renders at the stage's size when
				// its space allows it, else at its native size.
				if _, _, err := in.Space.LatentSize(st.Height, st.Width); err != nil {
					p.Width, p.Height = in.Native.Width, in.Native.Height
				}
			}
			fused := 0 // controls taking the next slot of the participant's unet
			for ci, rc := range rp.Controls {
				cp := fmt.Sprintf("%s.controls.%d", pp, ci)
				cn, err := c.info(cp+".model", rc.Model)
				if err != nil {
					return nil, err
				}
				if err := controlFits(cn, in, rc.Model, rp.Model); err != nil {
					return nil, r.Errorf(cp+".model", "%v", err)
				}
				if fusedInto(cn, in) {
					if fused >= in.Control.Fused {
						return nil, r.Errorf(cp+".model", "model %s has %d ControlNet slots fused into its unet and this is its control %d: each control of a fused unet takes the next slot, in order; drop a control or name a split ControlNet model",
							rp.Model, in.Control.Fused, fused+1)
					}
					fused++
				}
				p.Controls = append(p.Controls, Control{Model: rc.Model, Image: r.Path(rc.Image), Scale: rc.Scale, Window: Window{Start: rc.Window.Start, End: rc.Window.End}})
			}
			st.Participants = append(st.Participants, p)
		}
		plan.Stages = append(plan.Stages, st)
		prev, prevInfo = st, pi
	}
	if last := r.Stages[len(r.Stages)-1]; last.Until != nil {
		return nil, r.Errorf(fmt.Sprintf("stages.%d.until", len(r.Stages)-1), "the last stage runs to the end of the trajectory; until belongs to stages that hand over")
	}
	if err := plan.Validate(); err != nil {
		return nil, err
	}
	return plan, nil
}

// fusedInto reports whether control model cn names ControlNets fused
// into base's unet: the participant's own model, or its folder.
func fusedInto(cn, base *adapters.Info) bool { return cn.Name == base.Name || cn.Dir == base.Dir }

// controlFits checks that a ControlNet suits the participant it is attached
// to: a split ControlNet needs a unet with residual inputs of the same
// count and the same context width; a fused one is a slot of the
// participant's own unet.
func controlFits(cn, base *adapters.Info, cnName, baseName string) error {
	if fusedInto(cn, base) {
		if base.Control.Fused == 0 {
			return fmt.Errorf("model %s has no ControlNet fused into its unet; name a ControlNet model", baseName)
		}
		return nil
	}
	if cn.Family != adapters.ControlNet {
		return fmt.Errorf("model %s is a %s, not a ControlNet", cnName, cn.Family)
	}
	if cn.ContextWidth != 0 && base.ContextWidth != 0 && cn.ContextWidth != base.ContextWidth {
		return fmt.Errorf("ControlNet %s takes text context of width %d but %s (%s) gives %d: the ControlNet belongs to another base family", cnName, cn.ContextWidth, baseName, base.Family, base.ContextWidth)
	}
	if !base.Control.Split() {
		return fmt.Errorf("model %s has no ControlNet residual inputs: a split ControlNet needs a unet exported with down_block_additional_residuals inputs", baseName)
	}
	if len(cn.Control.Down) != len(base.Control.Down) || (cn.Control.Mid == nil) != (base.Control.Mid == nil) {
		return fmt.Errorf("ControlNet %s emits %d down-block residuals but %s takes %d: the ControlNet belongs to another base family", cnName, len(cn.Control.Down), baseName, len(base.Control.Down))
	}
	return nil
}

// spaceName names a model's latent space in messages.
func spaceName(info *adapters.Info) string {
	if info.Space.Name != "" {
		return info.Space.Name
	}
	return string(info.Family)
}

func sameSpaceInfo(a, b *adapters.Info) bool {
	sa, sb := a.Space, b.Space
	return sa.Name == sb.Name && sa.Channels == sb.Channels && sa.Factor == sb.Factor && sa.ScalingFactor == sb.ScalingFactor && sa.ShiftFactor == sb.ShiftFactor
}

func (c *compiler) sizePath(si int) string {
	rs := c.r.Stages[si]
	switch {
	case rs.Width != 0:
		return fmt.Sprintf("stages.%d.width", si)
	case c.r.Width != 0:
		return "width"
	}
	return fmt.Sprintf("stages.%d.participants.0.model", si)
}

func firstNonEmpty(s ...string) string {
	for _, v := range s {
		if v != "" {
			return v
		}
	}
	return ""
}

func firstPath(cond bool, a, b string) string {
	if cond {
		return a
	}
	return b
}
