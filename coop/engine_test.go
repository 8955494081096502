package coop_test

import (
	"context"
	"math"
	"testing"

	"github.com/coop-diffusion/coop/coop"
	"github.com/coop-diffusion/coop/coop/cooptest"
	"github.com/coop-diffusion/coop/coop/sampler"
	"github.com/coop-diffusion/coop/graphs"
	"github.com/coop-diffusion/coop/latent"
)

// pattern returns a smooth synthetic image [1,3,size,size] in [0,1],
// different for each k.
func pattern(k, size int) *latent.Tensor {
	t := latent.New(1, 3, size, size)
	for c := 0; c < 3; c++ {
		for y := 0; y < size; y++ {
			for x := 0; x < size; x++ {
				fx, fy := float64(x)/float64(size), float64(y)/float64(size)
				v := 0.5 + 0.4*math.Sin(2*math.Pi*(float64(k+1)*fx+float64(c)*0.3)+float64(k)*fy*3)
				t.Set(0, c, y, x, float32(v))
			}
		}
	}
	return t
}

var keywords = []string{"astronaut", "cat", "coffee", "rocket"}

// fakeModel builds a model whose data set is the patterns encoded by its
// own autoencoder at the given pixel size.
func fakeModel(t testing.TB, name string, vaeSeed uint64, channels, size int) *coop.Model {
	vae := cooptest.NewLinearVAE(name, channels, 8, 0.5, vaeSeed)
	d := &cooptest.ExactDenoiser{NameValue: name, Keywords: keywords, Bias: 8}
	for k := range keywords {
		x := latent.New(1, channels, size/8, size/8)
		if err := vae.Encode(context.Background(), pattern(k, size), x); err != nil {
			t.Fatal(err)
		}
		d.Data = append(d.Data, x)
	}
	return &coop.Model{Name: name, Denoiser: d, VAE: vae, Text: d}
}

func stage(name string, size, steps, first, end int, entry graphs.Entry, ps ...*graphs.Participant) *graphs.Stage {
	cfg := sampler.DefaultConfig()
	cfg.Steps = steps
	return &graphs.Stage{Name: name, Width: size, Height: size, Sampler: "ddim", Config: cfg, First: first, End: end, Entry: entry, Participants: ps}
}

func participant(model, prompt string, w float64) *graphs.Participant {
	p := &graphs.Participant{Model: model, Weight: graphs.Constant(w), Guidance: 3}
	p.Prompt.Positive = prompt
	return p
}

// landsOn returns the index of the data item the result's latent is
// closest to, and the distance relative to that item's norm.
func landsOn(res *coop.Result, m *coop.Model) (int, float64) {
	d := m.Denoiser.(*cooptest.ExactDenoiser)
	best, bestDist := -1, math.Inf(1)
	var norm float64
	for k, x := range d.Data {
		dist, n := 0.0, 0.0
		for i, v := range res.Latent.Data {
			e := float64(v - x.Data[i])
			dist += e * e
			n += float64(x.Data[i]) * float64(x.Data[i])
		}
		if dist < bestDist {
			best, bestDist, norm = k, dist, n
		}
	}
	return best, math.Sqrt(bestDist / norm)
}

func TestSingleModelLandsOnPrompt(t *testing.T) {
	m := fakeModel(t, "a", 1, 4, 64)
	e := &coop.Engine{Models: map[string]*coop.Model{"a": m}}
	for k, kw := range keywords {
		plan := &graphs.Plan{Seed: 7, Stages: []*graphs.Stage{stage("s", 64, 20, 0, 20, graphs.Fresh, participant("a", "a photo of a "+kw, 1))}}
		res, err := e.Run(context.Background(), plan)
		if err != nil {
			t.Fatal(err)
		}
		got, rel := landsOn(res, m)
		if got != k || rel > 1e-3 {
			t.Errorf("prompt %q landed on %d (relative distance %.2g), want %d", kw, got, rel, k)
		}
	}
}

func TestFusionWeightZeroIsSingleModel(t *testing.T) {
	a := fakeModel(t, "a", 1, 4, 64)
	b := fakeModel(t, "b", 2, 4, 64)
	run := func(ps ...*graphs.Participant) *coop.Result {
		e := &coop.Engine{Models: map[string]*coop.Model{"a": a, "b": b}}
		plan := &graphs.Plan{Seed: 3, Stages: []*graphs.Stage{stage("s", 64, 12, 0, 12, graphs.Fresh, ps...)}}
		res, err := e.Run(context.Background(), plan)
		if err != nil {
			t.Fatal(err)
		}
		return res
	}
	single := run(participant("a", "cat", 1))
	zero := run(participant("a", "cat", 1), participant("b", "rocket", 0))
	for i := range single.Image.Data {
		if single.Image.Data[i] != zero.Image.Data[i] {
			t.Fatalf("weight 0 changed pixel %d: %v vs %v", i, single.Image.Data[i], zero.Image.Data[i])
		}
	}
	// Weight 1 on the foreign participant: its choice wins.
	other := run(participant("a", "cat", 0), participant("b", "rocket", 1))
	if got, _ := landsOn(other, a); got != 3 {
		t.Errorf("weight 1 on b (rocket) landed on %d, want 3", got)
	}
}

func TestResolutionBridgeKeepsNoiseWhite(t *testing.T) {
	lo := fakeModel(t, "lo", 1, 4, 64)
	hi := fakeModel(t, "hi", 2, 4, 512)
	stats := func(entry graphs.Entry) (variance, rho, abar float64) {
		e := &coop.Engine{Models: map[string]*coop.Model{"lo": lo, "hi": hi}}
		e.OnEnter = func(stage int, z, x0 *latent.Tensor, a float64) {
			if stage != 1 {
				return
			}
			n := latent.New(z.Shape...)
			latent.Axpby(n, 1, z, -math.Sqrt(a), x0)
			_, std := latent.MeanStd(n)
			variance, rho, abar = std*std, latent.Lag1Autocorrelation(n), a
		}
		plan := &graphs.Plan{Seed: 11, Stages: []*graphs.Stage{
			stage("lo", 64, 20, 0, 10, graphs.Fresh, participant("lo", "cat", 1)),
			stage("hi", 512, 20, 10, 20, entry, participant("hi", "cat", 1)),
		}}
		if _, err := e.Run(context.Background(), plan); err != nil {
			t.Fatal(err)
		}
		return
	}
	v, rho, abar := stats(graphs.Renoise)
	if math.Abs(v/(1-abar)-1) > 0.05 || math.Abs(rho) > 0.05 {
		t.Errorf("renoise: noise variance %.4f (want %.4f within 5%%), lag-1 autocorrelation %.3f (want |rho| < 0.05)", v, 1-abar, rho)
	}
	v, rho, abar = stats(graphs.Naive)
	if v/(1-abar) > 0.95 || rho < 0.3 {
		t.Errorf("naive: noise variance %.4f of %.4f and lag-1 autocorrelation %.3f: want the variance shrinking and rho > 0.3", v, 1-abar, rho)
	}
	t.Logf("naive: variance ratio %.3f, rho %.3f", v/(1-abar), rho)
}
