package job_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/coop-diffusion/coop/internal/faults"
	"github.com/coop-diffusion/coop/internal/fixtures"
	"github.com/coop-diffusion/coop/internal/job"
	"github.com/coop-diffusion/coop/internal/onnx"
	"github.com/coop-diffusion/coop/recipes"
)

// prepareIn loads yaml as dir/test.yaml and prepares it.
func prepareIn(t *testing.T, dir, yaml string, l recipes.Loader) (*job.Job, error) {
	t.Helper()
	r, err := l.LoadBytes(filepath.Join(dir, "test.yaml"), []byte(yaml), dir)
	if err != nil {
		t.Fatal(err)
	}
	return job.Prepare(r)
}

func wantError(t *testing.T, err error, wants ...string) {
	t.Helper()
	if err == nil {
		t.Fatalf("no error; want one saying %q", wants)
	}
	for _, w := range wants {
		if !strings.Contains(err.Error(), w) {
			t.Errorf("%q does not say %q", err, w)
		}
	}
}

// The zoo's unets fix their latent size (64 x 64, 512 px for SD): a stage
// at another size is refused by Prepare, at the field that chose the size,
// instead of failing at its first step.
func TestPrepareRefusesSizesTheGraphDoesNotTake(t *testing.T) {
	dir := fixtures.Zoo(t)
	unet := filepath.Join(dir, "sd15", "unet", "model.onnx")
	small := filepath.Join(dir, "sd15-small", "unet", "model.onnx")
	tests := []struct {
		name, yaml string
		wants      []string
	}{
		{"recipe width", "version: 1\nmodels: {sd: {path: sd15}}\nsteps: 2\nwidth: 8\n",
			[]string{"test.yaml:4:8: width:", "renders model sd at 8x512 px (latents 1x64)", unet + " fixes its sample input to 64x64 latents", "takes only 512x512 px images"}},
		{"stage height", "version: 1\nmodels: {sd: {path: sd15}}\nsteps: 2\nstages:\n  - {model: sd, height: 768}\n",
			[]string{"test.yaml:5:25: stages.0.height:", "at 512x768 px"}},
		{"a participant of another native size", "version: 1\nmodels: {sd: {path: sd15}, small: {path: sd15-small}}\nsteps: 2\nstages:\n  - participants: [{model: sd}, {model: small}]\n",
			[]string{"test.yaml:5:41: stages.0.participants.1.model:", "renders model small at 512x512 px", small, "takes only 256x256 px images"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := prepareIn(t, dir, tt.yaml, recipes.Loader{})
			wantError(t, err, tt.wants...)
		})
	}

	// A unet that takes any size, with a ControlNet that does not: the
	// ControlNet is refused.
	work := t.TempDir()
	fixtures.CopyTree(t, filepath.Join(dir, "sd15-cn"), filepath.Join(work, "sd15-cn"))
	if err := os.Symlink(filepath.Join(dir, "controlnet-sd15"), filepath.Join(work, "controlnet-sd15")); err != nil {
		t.Fatal(err)
	}
	if err := faults.RewriteModel(filepath.Join(work, "sd15-cn", "unet", "model.onnx"), faults.Options{Edit: func(s *onnx.Signature) {
		s.Inputs[0].Dims[2] = onnx.Dim{Param: "height"}
	}}); err != nil {
		t.Fatal(err)
	}
	_, err := prepareIn(t, work, "version: 1\nmodels: {base: {path: sd15-cn}, cn: {path: controlnet-sd15}}\nsteps: 2\nheight: 256\nstages:\n  - participants:\n      - model: base\n        controls: [{model: cn, image: c.png}]\n", recipes.Loader{SkipFileChecks: true})
	wantError(t, err, "test.yaml:4:9: height:", "renders model cn at 512x256 px (latents 64x32)", filepath.Join(work, "controlnet-sd15", "model.onnx")+" fixes its sample input to 64x64 latents")
}

// Control and input images are read in full before any model runs:
// images over the limit are refused from their header, images coop
// converts are warned about.
func TestCheckImages(t *testing.T) {
	dir := zoo(t)
	work := t.TempDir()
	for _, m := range []string{"sd15", "sd15-cn", "controlnet-sd15"} {
		if err := os.Symlink(filepath.Join(dir, m), filepath.Join(work, m)); err != nil {
			t.Fatal(err)
		}
	}
	img := func(name string, kind faults.ImageKind, w, h int) {
		if err := faults.WriteImage(filepath.Join(work, name), kind, w, h); err != nil {
			t.Fatal(err)
		}
	}
	img("rgb.png", faults.RGB, 512, 512)
	img("gray.png", faults.Gray, 512, 512)
	img("alpha.png", faults.Alpha, 512, 512)
	img("wide.png", faults.RGB, 640, 480)
	img("nearly.png", faults.RGB, 515, 512)
	if err := faults.WritePNGBomb(filepath.Join(work, "bomb.png"), 20000, 20000); err != nil {
		t.Fatal(err)
	}
	control := func(image string) string {
		return "version: 1\nmodels: {base: {path: sd15-cn}, cn: {path: controlnet-sd15}}\nsteps: 2\nstages:\n  - participants:\n      - model: base\n        controls: [{model: cn, image: " + image + "}]\n"
	}
	img2img := func(image string) string {
		return "version: 1\nmodels: {sd: {path: sd15}}\nsteps: 2\nimg2img: {image: " + image + "}\n"
	}
	tests := []struct {
		name, yaml string
		limits     recipes.Limits
		warnings   []string // one string each warning must hold, in order
		err        []string
	}{
		{"rgb", control("rgb.png"), recipes.Limits{}, nil, nil},
		{"within 1% of the aspect", control("nearly.png"), recipes.Limits{}, nil, nil},
		{"grayscale control", control("gray.png"), recipes.Limits{}, []string{"test.yaml:7:39: stages.0.participants.0.controls.0.image: control image " + work + "/gray.png is grayscale"}, nil},
		{"translucent input", img2img("alpha.png"), recipes.Limits{}, []string{"test.yaml:4:18: img2img.image: input image " + work + "/alpha.png has translucent pixels"}, nil},
		{"wide control", control("wide.png"), recipes.Limits{}, []string{"control image " + work + "/wide.png is 640x480 px and is stretched to 512x512 px for ControlNet cn on model base in stage 1-base"}, nil},
		{"bomb", control("bomb.png"), recipes.Limits{}, nil, []string{"test.yaml:7:39: stages.0.participants.0.controls.0.image: control image " + work + "/bomb.png is 20000x20000 px (400 megapixels), larger than the limit of 67.11 megapixels"}},
		{"input over a lower limit", img2img("rgb.png"), recipes.Limits{MaxImagePixels: 512*512 - 1}, nil, []string{"img2img.image: input image", "is 512x512 px (262144 pixels), larger than the limit of 262143 pixels"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			j, err := prepareIn(t, work, tt.yaml, recipes.Loader{Limits: tt.limits})
			if err != nil {
				t.Fatal(err)
			}
			warnings, err := j.CheckImages()
			if tt.err != nil {
				wantError(t, err, tt.err...)
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if len(warnings) != len(tt.warnings) {
				t.Fatalf("warnings %q, want %d", warnings, len(tt.warnings))
			}
			for i, w := range tt.warnings {
				if !strings.Contains(warnings[i], w) {
					t.Errorf("warning %q does not say %q", warnings[i], w)
				}
			}
		})
	}
}
