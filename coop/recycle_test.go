package coop_test

import (
	"context"
	"slices"
	"testing"

	"github.com/coop-diffusion/coop/coop"
	"github.com/coop-diffusion/coop/graphs"
	"github.com/coop-diffusion/coop/latent"
)

// TestRunsRecycleBuffers runs a fusion across spaces and a resolution
// switch again and again on the same models: the buffers a run gives back
// must not change a later run's result (they are handed out zeroed), the
// result a run returns must not be recycled under its caller, and a
// repeat run must not allocate its latents afresh.
func TestRunsRecycleBuffers(t *testing.T) {
	a := fakeModel(t, "a", 1, 4, 256)
	b := fakeModel(t, "b", 2, 4, 256)
	lo := fakeModel(t, "lo", 3, 4, 128)
	e := &coop.Engine{Models: map[string]*coop.Model{"a": a, "b": b, "lo": lo}}
	fusion := &graphs.Plan{Seed: 3, Stages: []*graphs.Stage{stage("s", 256, 8, 0, 8, graphs.Fresh,
		participant("a", "cat", 0.5), participant("b", "rocket", 0.5))}}
	switched := &graphs.Plan{Seed: 5, Stages: []*graphs.Stage{
		stage("lo", 128, 8, 0, 4, graphs.Fresh, participant("lo", "coffee", 1)),
		stage("hi", 256, 8, 4, 8, graphs.Renoise, participant("a", "coffee", 1)),
	}}
	run := func(p *graphs.Plan) *coop.Result {
		t.Helper()
		res, err := e.Run(context.Background(), p)
		if err != nil {
			t.Fatal(err)
		}
		return res
	}
	first := run(fusion)
	firstLatent := slices.Clone(first.Latent.Data)
	firstImage := slices.Clone(first.Image.Data)
	other := run(switched)
	otherLatent := slices.Clone(other.Latent.Data)
	if !slices.Equal(first.Latent.Data, firstLatent) {
		t.Fatal("a later run overwrote the latent an earlier run returned")
	}
	again := run(fusion)
	if !slices.Equal(again.Latent.Data, firstLatent) || !slices.Equal(again.Image.Data, firstImage) {
		t.Error("the fusion gave another result on recycled buffers")
	}
	if again := run(switched); !slices.Equal(again.Latent.Data, otherLatent) {
		t.Error("the resolution switch gave another result on recycled buffers")
	}

	// Every run but the first finds its buffers idle: the fusion's
	// trajectories and samplers, and the resolution switch's stages, make
	// a dozen buffers a run.
	made := coop.LatentsMade(a, b, lo)
	run(fusion)
	run(switched)
	if got := coop.LatentsMade(a, b, lo) - made; got != 2 {
		t.Errorf("two repeat runs made %d latent buffers, want 2 (the latents they return)", got)
	}
}

// TestImageCacheLoadsOnce runs img2img three times, at two sizes, with
// one ImageCache: the file is read once and resized once per size, and
// the results equal those of runs that load the image themselves.
func TestImageCacheLoadsOnce(t *testing.T) {
	models := map[string]*coop.Model{"a": fakeModel(t, "a", 1, 4, 64), "c": fakeModel(t, "c", 1, 4, 128)}
	img := pattern(2, 96)
	loads := 0
	load := func(path string) (*latent.Tensor, error) {
		loads++
		return img.Clone(), nil
	}
	plan := func(size int) *graphs.Plan {
		model := map[int]string{64: "a", 128: "c"}[size]
		st := stage("s", size, 10, 4, 10, graphs.Img2Img, participant(model, "coffee", 1))
		return &graphs.Plan{Seed: 9, Img2Img: &graphs.Img2ImgInput{Image: "in.png", Strength: 0.6}, Stages: []*graphs.Stage{st}}
	}
	cache := &coop.ImageCache{Load: load}
	cached := &coop.Engine{Models: models, Images: cache}
	fresh := &coop.Engine{Models: models, LoadImage: load}
	for i, size := range []int{64, 64, 128} {
		got, err := cached.Run(context.Background(), plan(size))
		if err != nil {
			t.Fatal(err)
		}
		want, err := fresh.Run(context.Background(), plan(size))
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(got.Image.Data, want.Image.Data) {
			t.Errorf("run %d at %d px: the cached image gave another result", i, size)
		}
	}
	// Three loads by the engine without the cache, one with it.
	if loads != 4 {
		t.Errorf("the image was loaded %d times, want 1 through the cache and 3 without", loads)
	}
}
