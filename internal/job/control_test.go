package job_test

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/coop-diffusion/coop/internal/job"
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

// TestRunUsesCheckedImages checks the job's image cache: once CheckImages
// has read a control image, the job's runs use those pixels and do not
// read the file again, even when it changes on disk; a job prepared
// afterwards reads the new file.
func TestRunUsesCheckedImages(t *testing.T) {
	dir := zoo(t)
	control := filepath.Join(t.TempDir(), "control.png")
	copyFile(t, filepath.Join(dir, "controls", "galaxies.png"), control)
	recipe := `
version: 1
models:
  sd: {path: sd15-cn}
  sdcn: {path: controlnet-sd15}
prompt: a photo
seed: 6
steps: 4
stages:
  - participants:
      - model: sd
        controls: [{model: sdcn, image: ` + control + `, scale: 1}]
`
	checked := func() *prepared {
		p := prepare(t, recipe)
		if _, err := p.job.CheckImages(); err != nil {
			t.Fatal(err)
		}
		return p
	}
	p := checked()
	before := p.run(t, job.RunOptions{})
	copyFile(t, filepath.Join(dir, "controls", "cat.png"), control)
	if after := p.run(t, job.RunOptions{}); !slices.Equal(after.Image.Data, before.Image.Data) {
		t.Error("a run read the control image again after CheckImages")
	}
	if fresh := checked().run(t, job.RunOptions{}); slices.Equal(fresh.Image.Data, before.Image.Data) {
		t.Error("a job prepared after the file changed rendered the old control image")
	}
}

func copyFile(t *testing.T, from, to string) {
	t.Helper()
	data, err := os.ReadFile(from)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(to, data, 0o644); err != nil {
		t.Fatal(err)
	}
}
