package job_test

import (
	"bytes"
	"context"
	"image/png"
	"math"
	"path/filepath"
	"runtime"
	"testing"

	"github.com/coop-diffusion/coop/internal/job"
	"github.com/coop-diffusion/coop/latent"
	"github.com/coop-diffusion/coop/recipes"
)

// The determinism promise: the same recipe and seed give the same PNG,
// byte for byte, whatever the run's history (a second run on the same
// sessions, a fresh job), the Go scheduler's parallelism (GOMAXPROCS) and
// ONNX Runtime's intra-op thread count. Each recipe below is rendered under
// every condition and the encodings compared. The float images, the final
// latents and every stage's entry latent are compared too, bit for bit:
// the fixture denoisers are exact, so every seed converges on the same
// data set photo and the 8-bit PNGs of two seeds are often identical
// (seeds 11 and 12 differ by about 1e-8 in the float pixels, PSNR 156 dB).
// The float comparison is what makes the test able to fail; the PNG
// comparison is the promise users see.

var determinismRecipes = []struct {
	name, yaml string
}{
	// A stochastic sampler: euler_a draws fresh noise at every step.
	{"euler_a", `
version: 1
models:
  sd: {path: sd15-small}
prompt: a photo of a cat
seed: 11
steps: 6
sampler: euler_a
`},
	// Fusion across latent spaces: both bridges, two trajectories.
	{"fusion", `
version: 1
models:
  sd: {path: sd15}
  xl: {path: sdxl}
prompt: a photo of a coffee
seed: 12
steps: 4
sampler: dpmpp_2m
stages:
  - participants:
      - {model: sd, weight: 0.5}
      - {model: xl, weight: 0.5}
`},
	// A resolution switch: fresh seeded noise at the handover.
	{"superres", `
version: 1
models:
  small: {path: sd15-small}
  big: {path: sd15}
prompt: a photo of a rocket
seed: 13
steps: 4
sampler: euler_a
stages:
  - {model: small, until: 0.5}
  - {model: big}
`},
}

// rendering is one image: its PNG encoding, the float pixels, the final
// latent and the latent each stage entered with.
type rendering struct {
	png                    []byte
	pixels, final, entries []float32
}

func render(t *testing.T, j *job.Job, ms *job.Models, seed uint64) rendering {
	t.Helper()
	var r rendering
	res, err := j.Run(context.Background(), ms, job.RunOptions{Seed: seed, OnEnter: func(_ int, z, _ *latent.Tensor, _ float64) {
		r.entries = append(r.entries, z.Data...)
	}})
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	if err := png.Encode(&buf, latent.ToImage(res.Image)); err != nil {
		t.Fatal(err)
	}
	r.png = buf.Bytes()
	r.pixels = append([]float32(nil), res.Image.Data...)
	r.final = append([]float32(nil), res.Latent.Data...)
	return r
}

// firstDifference returns the index of the first element whose bits
// differ, -1 when a and b are identical.
func firstDifference(a, b []float32) int {
	if len(a) != len(b) {
		return min(len(a), len(b))
	}
	for i := range a {
		if math.Float32bits(a[i]) != math.Float32bits(b[i]) {
			return i
		}
	}
	return -1
}

// loadJob prepares the recipe and loads its models with intraOp ONNX
// Runtime threads per session.
func loadJob(t *testing.T, yaml string, intraOp int) (*job.Job, *job.Models) {
	t.Helper()
	dir := zoo(t)
	r, err := recipes.LoadBytes(filepath.Join(dir, "determinism.yaml"), []byte(yaml), dir)
	if err != nil {
		t.Fatal(err)
	}
	j, err := job.Prepare(r)
	if err != nil {
		t.Fatal(err)
	}
	opts := adaptersOptions(j)
	opts.Session.IntraOpThreads = intraOp
	ms, err := j.Load(context.Background(), opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ms.Close() })
	return j, ms
}

// sameRendering fails t when got differs from want in any bit, naming
// what differs first.
func sameRendering(t *testing.T, what string, want, got rendering) {
	t.Helper()
	if i := firstDifference(want.entries, got.entries); i >= 0 {
		t.Errorf("%s: the stage entry latents differ at element %d of %d", what, i, len(want.entries))
	}
	if i := firstDifference(want.final, got.final); i >= 0 {
		t.Errorf("%s: the final latents differ at element %d: %v vs %v", what, i, want.final[i], got.final[i])
	}
	if i := firstDifference(want.pixels, got.pixels); i >= 0 {
		t.Errorf("%s: pixel value %d differs: %v vs %v", what, i, want.pixels[i], got.pixels[i])
	}
	if !bytes.Equal(want.png, got.png) {
		t.Errorf("%s: the PNG encodings differ", what)
	}
}

func TestDeterminism(t *testing.T) {
	for _, rc := range determinismRecipes {
		t.Run(rc.name, func(t *testing.T) {
			j1, ms1 := loadJob(t, rc.yaml, 1)
			seed := j1.Plan.Seed
			prev := runtime.GOMAXPROCS(2)
			ref := render(t, j1, ms1, seed)
			runtime.GOMAXPROCS(1)
			one := render(t, j1, ms1, seed)
			runtime.GOMAXPROCS(prev)
			sameRendering(t, "a second run on the same sessions, GOMAXPROCS 1 instead of 2", ref, one)

			j2, ms2 := loadJob(t, rc.yaml, 2)
			sameRendering(t, "a fresh job with 2 intra-op threads instead of 1", ref, render(t, j2, ms2, seed))

			// The negative control: the comparisons above must see a
			// change of seed, or they would pass for the wrong reason.
			other := render(t, j1, ms1, seed+1)
			if firstDifference(ref.entries, other.entries) < 0 || firstDifference(ref.pixels, other.pixels) < 0 {
				t.Errorf("seeds %d and %d gave the same entry latents or float image: the comparisons cannot fail", seed, seed+1)
			}
		})
	}
}
