package job_test

import (
	"context"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"testing"

	"github.com/coop-diffusion/coop/adapters"
	_ "github.com/coop-diffusion/coop/adapters/all"
	"github.com/coop-diffusion/coop/coop"
	"github.com/coop-diffusion/coop/internal/fixtures"
	"github.com/coop-diffusion/coop/internal/job"
	"github.com/coop-diffusion/coop/internal/ort/orttest"
	"github.com/coop-diffusion/coop/latent"
	"github.com/coop-diffusion/coop/recipes"
)

// zoo writes the fixture zoo and the grey control images of every photo
// (controls/<keyword>.png) once per test binary.
func zoo(t testing.TB) string {
	t.Helper()
	orttest.Init(t)
	dir := fixtures.Zoo(t)
	controls := filepath.Join(dir, "controls")
	if err := os.MkdirAll(controls, 0o755); err != nil {
		t.Fatal(err)
	}
	for k := range fixtures.PhotoNames() {
		path := filepath.Join(controls, fixtures.Keyword(k)+".png")
		if _, err := os.Stat(path); err == nil {
			continue
		}
		if err := latent.SavePNG(path, fixtures.ControlImage(k), latent.Overwrite); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

// prepared is a job with its models loaded.
type prepared struct {
	job    *job.Job
	models *job.Models
}

func prepare(t testing.TB, yaml string) *prepared {
	t.Helper()
	dir := zoo(t)
	r, err := recipes.LoadBytes(filepath.Join(dir, "test.yaml"), []byte(yaml), dir)
	if err != nil {
		t.Fatal(err)
	}
	j, err := job.Prepare(r)
	if err != nil {
		t.Fatal(err)
	}
	ms, err := j.Load(context.Background(), adapters.LoadOptions{Session: j.SessionOptions()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ms.Close() })
	return &prepared{job: j, models: ms}
}

func (p *prepared) run(t testing.TB, o job.RunOptions) *coop.Result {
	t.Helper()
	if o.Seed == 0 {
		o.Seed = p.job.Plan.Seed
	}
	res, err := p.job.Run(context.Background(), p.models, o)
	if err != nil {
		t.Fatal(err)
	}
	return res
}

func runRecipe(t testing.TB, yaml string) *coop.Result {
	t.Helper()
	return prepare(t, yaml).run(t, job.RunOptions{})
}

// bestPhoto returns the photo whose reconstruction by fixture's autoencoder
// is closest to img, and the PSNR against it.
func bestPhoto(t testing.TB, fixture string, img *latent.Tensor) (int, float64) {
	t.Helper()
	best, bestP := -1, math.Inf(-1)
	for k := range fixtures.PhotoNames() {
		rec, err := fixtures.Reconstruction(fixture, k)
		if err != nil {
			t.Fatal(err)
		}
		if !rec.SameShape(img) {
			t.Fatalf("reconstruction of %s is %v, image %v", fixture, rec.Shape, img.Shape)
		}
		if p := latent.PSNR(img, rec, 1); p > bestP {
			best, bestP = k, p
		}
	}
	return best, bestP
}

func wantPhoto(t testing.TB, what, fixture string, img *latent.Tensor, keyword string, minDB float64) float64 {
	t.Helper()
	k, p := bestPhoto(t, fixture, img)
	want := fixtures.PhotoIndex(keyword)
	if k != want || p < minDB {
		t.Errorf("%s landed on %s at %.1f dB, want %s at >= %.0f dB", what, fixtures.Keyword(k), p, keyword, minDB)
	}
	return p
}

func TestSingleModelLandsOnPrompt(t *testing.T) {
	for _, kw := range []string{"cat", "rocket"} {
		res := runRecipe(t, fmt.Sprintf(`
version: 1
models:
  sd: {path: sd15}
prompt: a photo of a %s
seed: 1
steps: 20
`, kw))
		p := wantPhoto(t, kw, "sd15", res.Image, kw, 35)
		t.Logf("%s: %.1f dB", kw, p)
	}
}
