package sampler_test

import (
	"math"
	"strings"
	"testing"

	"github.com/coop-diffusion/coop/coop/sampler"
	"github.com/coop-diffusion/coop/latent"
)

// The seeded generator of package latent is a NoiseSource.
var _ sampler.NoiseSource = latent.Noise{}

func TestRegistry(t *testing.T) {
	want := []string{"ddim", "ddpm", "ddpm_wuerstchen", "dpmpp_2m", "dpmpp_2m_karras", "euler", "euler_a", "lcm"}
	if got := sampler.Names(); strings.Join(got, ",") != strings.Join(want, ",") {
		t.Errorf("Names() = %v, want %v", got, want)
	}
	for alias, name := range map[string]string{
		"DDIMScheduler": "ddim", "DDPMScheduler": "ddpm", "EulerDiscreteScheduler": "euler",
		"EulerAncestralDiscreteScheduler": "euler_a", "DPMSolverMultistepScheduler": "dpmpp_2m",
		"LCMScheduler": "lcm", "DDPMWuerstchenScheduler": "ddpm_wuerstchen", "PNDMScheduler": "ddim",
		"EULER_A": "euler_a", " ddim ": "ddim",
	} {
		if got, err := sampler.Canonical(alias); err != nil || got != name {
			t.Errorf("Canonical(%q) = %q, %v; want %q", alias, got, err, name)
		}
	}
	for _, name := range sampler.Names() {
		if sampler.About(name) == "" {
			t.Errorf("%s has no description", name)
		}
		p, err := sampler.NewPlan(name, sampler.DefaultConfig())
		if err != nil {
			t.Errorf("%s with the default config: %v", name, err)
			continue
		}
		if p.Sampler != name {
			t.Errorf("plan of %s names itself %q", name, p.Sampler)
		}
	}
}

func TestConfigErrors(t *testing.T) {
	for _, c := range []struct {
		name string
		mod  func(*sampler.Config)
		want string
	}{
		{"heun", nil, "unknown scheduler \"heun\" (known: ddim, ddpm, ddpm_wuerstchen, dpmpp_2m"},
		{"euler", func(c *sampler.Config) { c.Steps = 0 }, "0 steps"},
		{"ddpm_wuerstchen", func(c *sampler.Config) { c.Steps = -3 }, "-3 steps"},
		{"ddim", func(c *sampler.Config) { c.Steps = 1001 }, "exceed num_train_timesteps"},
		{"dpmpp_2m", func(c *sampler.Config) { c.Steps = 1000 }, "leading spacing needs steps"},
		{"ddim", func(c *sampler.Config) { c.Steps = 1000 }, "steps_offset too large"},
		{"lcm", func(c *sampler.Config) { c.Steps = 51 }, "exceed original_inference_steps 50"},
		{"lcm", func(c *sampler.Config) { c.OriginalSteps = 0 }, "original_inference_steps 0"},
		{"ddim", func(c *sampler.Config) { c.Karras = true }, "Karras sigmas are only available"},
		{"ddim", func(c *sampler.Config) { c.Eta = -1 }, "eta -1"},
		{"euler", func(c *sampler.Config) { c.Spacing = "cosine" }, "timestep_spacing \"cosine\""},
		{"euler", func(c *sampler.Config) { c.Prediction = "flow" }, "prediction_type \"flow\""},
		{"euler", func(c *sampler.Config) { c.BetaSchedule = "sigmoid" }, "beta_schedule \"sigmoid\""},
		{"euler", func(c *sampler.Config) { c.BetaEnd = 2 }, "beta_end"},
		{"euler", func(c *sampler.Config) { c.TrainSteps = 1 }, "num_train_timesteps 1"},
		{"ddpm_wuerstchen", func(c *sampler.Config) { c.Cosine.Scaler = 0 }, "scaler"},
	} {
		cfg := sampler.DefaultConfig()
		if c.mod != nil {
			c.mod(&cfg)
		}
		_, err := sampler.New(c.name, cfg)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("New(%q): %v; want an error containing %q", c.name, err, c.want)
		}
	}
}

func TestTrajectoryErrors(t *testing.T) {
	cfg := sampler.DefaultConfig()
	cfg.Steps = 10
	x := latent.New(1, 4, 8, 8)
	eps := latent.New(1, 4, 8, 8)

	s, err := sampler.New("euler_a", cfg)
	must(t, err)
	if err := s.Init(x, eps); err == nil || !strings.Contains(err.Error(), "Config.Noise is nil") {
		t.Errorf("euler_a without noise: %v", err)
	}
	cfg.Noise = latent.NewStream(1, "test")
	s, err = sampler.New("dpmpp_2m", cfg)
	must(t, err)
	if err := s.Step(0, x, eps); err == nil || !strings.Contains(err.Error(), "before Init") {
		t.Errorf("Step before Init: %v", err)
	}
	must(t, s.Init(x, eps))
	if err := s.Step(1, x, eps); err == nil || !strings.Contains(err.Error(), "out of order") {
		t.Errorf("Step(1) first: %v", err)
	}
	if err := s.Step(0, x, latent.New(1, 4, 8, 9)); err == nil || !strings.Contains(err.Error(), "shape") {
		t.Errorf("Step with a mis-shaped eps: %v", err)
	}
	for i := range 10 {
		must(t, s.Step(i, x, eps))
	}
	if err := s.Step(10, x, eps); err == nil || !strings.Contains(err.Error(), "outside the plan") {
		t.Errorf("Step(10) of 10: %v", err)
	}
	if err := s.Step(9, x, eps); err == nil || !strings.Contains(err.Error(), "after the plan's last step") {
		t.Errorf("Step(9) again: %v", err)
	}
	if err := s.SetFromModelSpace(-1, x, eps); err == nil {
		t.Error("SetFromModelSpace(-1): no error")
	}
	if err := s.ModelInput(0, x, latent.New(1, 4, 4, 4)); err == nil {
		t.Error("ModelInput into a mis-shaped tensor: no error")
	}
	// A resolution switch: the same sampler restarts with a larger latent.
	big := latent.New(1, 4, 16, 16)
	must(t, s.SetFromModelSpace(5, big, big))
	must(t, s.Step(5, big, latent.New(1, 4, 16, 16)))
}

func TestModelSpaceRoundTrip(t *testing.T) {
	cfg := sampler.DefaultConfig()
	cfg.Steps = 20
	cfg.Noise = latent.NewStream(3, "test")
	z := latent.New(1, 4, 4, 4)
	latent.NewStream(3, "z").Fill(z)
	for _, name := range sampler.Names() {
		s, err := sampler.New(name, cfg)
		must(t, err)
		x, back := latent.New(z.Shape...), latent.New(z.Shape...)
		for _, i := range []int{0, 7, 19} {
			must(t, s.SetFromModelSpace(i, x, z))
			must(t, s.ModelInput(i, x, back))
			for j := range z.Data {
				if math.Abs(float64(back.Data[j]-z.Data[j])) > 1e-6*math.Max(1, math.Abs(float64(z.Data[j]))) {
					t.Fatalf("%s step %d: model input %g after setting %g", name, i, back.Data[j], z.Data[j])
				}
			}
			sc := s.Plan().Steps[i].InputScale
			if want := float32(float64(z.Data[0]) / sc); math.Abs(float64(x.Data[0]-want)) > 1e-5*math.Abs(float64(want)) {
				t.Errorf("%s step %d: state %g, want z / input scale = %g", name, i, x.Data[0], want)
			}
		}
	}
}

// TestNoiseStreamReproducible: a stochastic sampler draws step i's noise
// from elements i*NoiseStride of its stream, whether or not earlier steps
// ran, so the same seed reproduces bit for bit and another seed differs.
func TestNoiseStreamReproducible(t *testing.T) {
	// From x = 0 with a model predicting zero noise, a DDPM step leaves
	// exactly std_i times step i's noise.
	run := func(seed uint64, step int) []float32 {
		cfg := sampler.DefaultConfig()
		cfg.Steps = 10
		cfg.Noise = latent.NewStream(seed, "trajectory")
		s, err := sampler.New("ddpm", cfg)
		must(t, err)
		x := latent.New(1, 4, 8, 8)
		must(t, s.SetFromModelSpace(step, x, latent.New(1, 4, 8, 8)))
		must(t, s.Step(step, x, latent.New(1, 4, 8, 8)))
		st := s.Plan().Steps[step]
		a, ap := st.Abar, st.AbarNext
		std := math.Sqrt((1 - ap) / (1 - a) * (1 - a/ap))
		for j := range x.Data {
			x.Data[j] = float32(float64(x.Data[j]) / std)
		}
		return x.Data
	}
	want := make([]float32, 256)
	for _, step := range []int{0, 3, 4} {
		latent.NewStream(1, "trajectory").FillSlice(want, uint64(step)*sampler.NoiseStride)
		got := run(1, step)
		for j := range want {
			if math.Abs(float64(got[j]-want[j])) > 1e-5*math.Max(1, math.Abs(float64(want[j]))) {
				t.Fatalf("step %d: noise element %d is %g, want %g from the stream", step, j, got[j], want[j])
			}
		}
	}
	if equal32(run(1, 3), run(2, 3)) {
		t.Error("different seeds, same noise")
	}
	if !equal32(run(1, 3), run(1, 3)) {
		t.Error("same seed, different noise")
	}
}

func equal32(a, b []float32) bool {
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return len(a) == len(b)
}

func TestPredictionConversions(t *testing.T) {
	const a = 0.3
	x0, eps := latent.New(1, 2, 3, 3), latent.New(1, 2, 3, 3)
	latent.NewStream(1, "x0").Fill(x0)
	latent.NewStream(1, "eps").Fill(eps)
	z := latent.New(x0.Shape...)
	must(t, sampler.Noised(x0, eps, a, z))
	v := latent.New(x0.Shape...)
	for j := range v.Data {
		v.Data[j] = float32(math.Sqrt(a)*float64(eps.Data[j]) - math.Sqrt(1-a)*float64(x0.Data[j]))
	}
	close32 := func(what string, got, want *latent.Tensor) {
		t.Helper()
		for j := range want.Data {
			if math.Abs(float64(got.Data[j]-want.Data[j])) > 1e-5 {
				t.Fatalf("%s: element %d is %g, want %g", what, j, got.Data[j], want.Data[j])
			}
		}
	}
	out := latent.New(x0.Shape...)
	must(t, sampler.ToEpsilon(sampler.VPrediction, v, z, a, out))
	close32("v to eps", out, eps)
	must(t, sampler.ToEpsilon(sampler.Sample, x0, z, a, out))
	close32("x0 to eps", out, eps)
	must(t, sampler.ToEpsilon(sampler.Epsilon, eps, z, a, out))
	close32("eps to eps", out, eps)
	must(t, sampler.X0FromEpsilon(z, eps, a, out))
	close32("X0FromEpsilon", out, x0)
	must(t, sampler.EpsilonFromX0(z, x0, a, out))
	close32("EpsilonFromX0", out, eps)
	// In place, as the engine does it.
	vv := v.Clone()
	must(t, sampler.ToEpsilon(sampler.VPrediction, vv, z, a, vv))
	close32("v to eps in place", vv, eps)

	if err := sampler.ToEpsilon("flow", v, z, a, out); err == nil {
		t.Error("unknown prediction type: no error")
	}
	if err := sampler.ToEpsilon(sampler.Sample, v, z, 1, out); err == nil {
		t.Error("sample prediction at abar = 1: no error")
	}
	if err := sampler.X0FromEpsilon(z, latent.New(1, 2, 3, 4), a, out); err == nil {
		t.Error("mismatched shapes: no error")
	}
}
