package job

import (
	"fmt"
	"math"

	"github.com/coop-diffusion/coop/adapters"
	"github.com/coop-diffusion/coop/graphs"
	"github.com/coop-diffusion/coop/latent"
	"github.com/coop-diffusion/coop/recipes"
)

// checkSizes refuses a plan that renders a model at a size its graph does
// not take: a denoiser or ControlNet whose sample input fixes the latent
// size (adapters.Info.FixedLatent) runs only at the image sizes that give
// that latent. Without the check the stage fails at its first step, after
// the stages before it have run.
func checkSizes(r *recipes.Recipe, plan *graphs.Plan, infos map[string]*adapters.Info) error {
	for si, st := range plan.Stages {
		for pj, p := range st.Participants {
			h, w := p.Height, p.Width
			own := h != 0 && w != 0 // the compiler chose the participant's native size
			if !own {
				h, w = st.Height, st.Width
			}
			in := infos[p.Model]
			lh, lw, err := in.Space.LatentSize(h, w)
			if err != nil {
				continue // the compiler reports sizes that do not fit a space
			}
			field := fmt.Sprintf("stages.%d.participants.%d.model", si, pj)
			if err := fitsFixed(r, st, si, field, own, p.Model, in, in.Space, h, w, lh, lw); err != nil {
				return err
			}
			for ci, c := range p.Controls {
				cn := infos[c.Model]
				if cn == nil {
					continue
				}
				field := fmt.Sprintf("stages.%d.participants.%d.controls.%d.model", si, pj, ci)
				if err := fitsFixed(r, st, si, field, own, c.Model, cn, in.Space, h, w, lh, lw); err != nil {
					return err
				}
			}
		}
	}
	return nil
}

// fitsFixed checks that model name (info), rendered at h x w pixels, a
// latent of lh x lw in space sp, takes that latent. The error points at
// the size field that chose the size (the stage's, else the recipe's),
// else at field, the model reference.
func fitsFixed(r *recipes.Recipe, st *graphs.Stage, si int, field string, own bool, name string, info *adapters.Info, sp latent.Space, h, w, lh, lw int) error {
	fx := info.FixedLatent
	if fx == (adapters.Size{}) || (fx.Height == lh && fx.Width == lw) {
		return nil
	}
	if !own {
		field = sizeField(r, si, fx.Width != lw, field)
	}
	px := func(n int) int { return int(math.Round(float64(n) * sp.Factor)) }
	return r.Errorf(field, "stage %s renders model %s at %dx%d px (latents %dx%d), but %s fixes its sample input to %dx%d latents: the model takes only %dx%d px images (an export with dynamic height and width takes any size)",
		st.Name, name, w, h, lw, lh, denoiserFile(info), fx.Width, fx.Height, px(fx.Width), px(fx.Height))
}

// sizeField is the recipe field that gave stage si its width (or height):
// the stage's, else the recipe's, else (the stage renders at its primary's
// native size) model, the reference to the model that does not fit.
func sizeField(r *recipes.Recipe, si int, width bool, model string) string {
	name := "height"
	if width {
		name = "width"
	}
	stage := fmt.Sprintf("stages.%d.%s", si, name)
	switch {
	case r.Has(stage):
		return stage
	case r.Has(name):
		return name
	}
	return model
}

// denoiserFile names the file of a model's denoiser (or ControlNet).
func denoiserFile(info *adapters.Info) string {
	for _, c := range info.Components {
		switch c.Role {
		case "unet", "prior", "decoder", "denoiser", "controlnet":
			return c.Path
		}
	}
	if len(info.Components) > 0 {
		return info.Components[0].Path
	}
	return info.Dir
}
