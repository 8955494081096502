package job_test

import (
	"strings"
	"testing"

	"github.com/coop-diffusion/coop/latent"
)

// multiControl fuses sd15-cn and sdxl-cn (two spaces) under a neutral
// prompt, each with its ControlNet pointing at the photos named (none when
// empty).
func multiControl(sdControl, xlControl string) string {
	control := func(model, kw string) string {
		if kw == "" {
			return ""
		}
		return "\n        controls: [{model: " + model + ", image: controls/" + kw + ".png, scale: 1}]"
	}
	return strings.Join([]string{`
version: 1
models:
  sd: {path: sd15-cn}
  xl: {path: sdxl-cn}
  sdcn: {path: controlnet-sd15}
  xlcn: {path: controlnet-sdxl}
prompt: a photo
seed: 6
steps: 20
stages:
  - participants:
      - model: sd
        weight: 0.5` + control("sdcn", sdControl) + `
      - model: xl
        weight: 0.5` + control("xlcn", xlControl) + `
`}, "")
}

func TestMultiControlAcrossSpaces(t *testing.T) {
	none := runRecipe(t, multiControl("", ""))
	kNone, _ := bestPhoto(t, "sd15", none.Image)
	if kNone == 4 {
		t.Fatalf("without controls the fusion already lands on galaxies: pick another seed for this test")
	}
	for _, c := range []struct{ name, sd, xl string }{{"sd15 ControlNet alone", "galaxies", ""}, {"sdxl ControlNet alone", "", "galaxies"}} {
		res := runRecipe(t, multiControl(c.sd, c.xl))
		if d := latent.PSNR(res.Image, none.Image, 1); d > 30 {
			t.Errorf("%s did not change the outcome (%.1f dB from the uncontrolled image)", c.name, d)
		}
		k, p := bestPhoto(t, "sd15", res.Image)
		t.Logf("%s: lands on photo %d at %.1f dB", c.name, k, p)
	}
	both := runRecipe(t, multiControl("galaxies", "galaxies"))
	db := wantPhoto(t, "both ControlNets on galaxies", "sd15", both.Image, "galaxies", 30)
	t.Logf("uncontrolled: photo %d; both controls: galaxies at %.1f dB", kNone, db)
}
