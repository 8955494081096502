package job

import (
	"fmt"

	"github.com/coop-diffusion/coop/latent"
)

// ImageReader is the reader of the job's control and input images: the
// recipe's Limits.MaxImagePixels applied from each image's header, before
// any pixel is decoded. Run gives it to the engine; CheckImages uses it.
func (j *Job) ImageReader() latent.ImageReader {
	return latent.ImageReader{MaxPixels: j.Recipe.Limits().MaxImagePixels}
}

// aspectTolerance is the relative difference of aspect ratios below which
// resizing an image to a participant's size is not worth a warning (a
// 1000 x 667 photo for a 3:2 stage).
const aspectTolerance = 0.01

// CheckImages reads every control and img2img image of the job in full,
// so that an image over the size limit, a file that is not a PNG or JPEG
// and one cut short stop the job before any model runs; the errors are
// positioned at the recipe field naming the image. It returns warnings,
// positioned the same way, for what coop converts without failing: a
// grayscale image (its channel copied to R, G and B), translucent pixels
// (alpha dropped, colours kept) and an aspect ratio other than that of the
// size the image is resized to (it is stretched).
func (j *Job) CheckImages() (warnings []string, err error) {
	r, plan := j.Recipe, j.Plan
	reader := j.ImageReader()
	type read struct {
		width, height int
		conv          latent.ColorConversion
	}
	seen := map[string]*read{}
	warned := map[string]bool{}
	warnings = j.SchedulerWarnings()
	warn := func(field, format string, args ...any) {
		w := r.Errorf(field, format, args...).Error()
		if !warned[w] {
			warned[w] = true
			warnings = append(warnings, w)
		}
	}
	check := func(field, path, what string, height, width int, user string) error {
		im := seen[path]
		if im == nil {
			img, err := reader.Read(path)
			if err != nil {
				return r.Errorf(field, "%s %v", what, err)
			}
			b := img.Bounds()
			im = &read{width: b.Dx(), height: b.Dy(), conv: latent.ImageConversion(img)}
			seen[path] = im
			j.Images().Add(path, latent.FromImage(img))
		}
		if im.conv&latent.FromGray != 0 {
			warn(field, "%s %s is grayscale; its channel is copied to red, green and blue", what, path)
		}
		if im.conv&latent.DroppedAlpha != 0 {
			warn(field, "%s %s has translucent pixels; the alpha channel is dropped and the colours kept as they are, not blended with a background", what, path)
		}
		if height > 0 && width > 0 {
			a, b := float64(im.width)*float64(height), float64(im.height)*float64(width)
			if d := a - b; d > aspectTolerance*b || -d > aspectTolerance*b {
				warn(field, "%s %s is %dx%d px and is stretched to %dx%d px for %s; crop it to that aspect ratio to keep its proportions",
					what, path, im.width, im.height, width, height, user)
			}
		}
		return nil
	}
	for si, st := range plan.Stages {
		if si >= len(r.Stages) {
			break
		}
		for pj, p := range st.Participants {
			if pj >= len(r.Stages[si].Participants) {
				break
			}
			h, w := p.Height, p.Width
			if h == 0 || w == 0 {
				h, w = st.Height, st.Width
			}
			rp := r.Stages[si].Participants[pj]
			for ci, c := range p.Controls {
				if ci >= len(rp.Controls) {
					break
				}
				field := fmt.Sprintf("stages.%d.participants.%d.controls.%d.image", si, pj, ci)
				user := fmt.Sprintf("ControlNet %s on model %s in stage %s", c.Model, p.Model, st.Name)
				if err := check(field, c.Image, "control image", h, w, user); err != nil {
					return nil, err
				}
			}
		}
	}
	if plan.Img2Img != nil && r.Img2Img != nil && len(plan.Stages) > 0 {
		st := plan.Stages[0]
		user := fmt.Sprintf("model %s in stage %s", st.Primary().Model, st.Name)
		if err := check("img2img.image", plan.Img2Img.Image, "input image", st.Height, st.Width, user); err != nil {
			return nil, err
		}
	}
	return warnings, nil
}
