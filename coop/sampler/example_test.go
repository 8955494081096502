package sampler_test

import (
	"fmt"

	"github.com/coop-diffusion/coop/coop/sampler"
	"github.com/coop-diffusion/coop/latent"
)

// A trajectory: the engine shows the model ModelInput, normalises its
// output with ToEpsilon and steps. Here the "model" always predicts zero
// noise, so Euler walks the initial noise straight down to sigma 0.
func ExampleNew() {
	cfg := sampler.DefaultConfig() // SD / SDXL: scaled_linear, leading, steps_offset 1
	cfg.Steps = 30
	s, err := sampler.New("EulerDiscreteScheduler", cfg)
	if err != nil {
		fmt.Println(err)
		return
	}
	x := latent.New(1, 4, 64, 64)
	noise := latent.New(1, 4, 64, 64)
	latent.NewStream(42, "init").Fill(noise)
	if err := s.Init(x, noise); err != nil {
		fmt.Println(err)
		return
	}
	z, eps := latent.New(x.Shape...), latent.New(x.Shape...)
	for i, st := range s.Plan().Steps {
		_ = s.ModelInput(i, x, z) // what the unet gets, with timestep st.Timestep
		_ = sampler.ToEpsilon(cfg.Prediction, eps, z, st.Abar, eps)
		if err := s.Step(i, x, eps); err != nil {
			fmt.Println(err)
			return
		}
	}
	fmt.Printf("%s: %d steps from t=%g, init_noise_sigma %.4f\n", s.Plan().Sampler, s.Plan().Len(), s.Plan().Steps[0].Timestep, s.Plan().InitNoiseSigma)
	// Output: euler: 30 steps from t=958, init_noise_sigma 11.5203
}

// SDXL's base-to-refiner handoff: the base runs the first 80% of a 40-step
// plan, the refiner the rest.
func ExamplePlan_SplitAtFraction() {
	cfg := sampler.DefaultConfig()
	cfg.Steps = 40
	p, _ := sampler.NewPlan("euler", cfg)
	cut, _ := p.SplitAtFraction(0.8)
	ts := p.Timesteps()
	fmt.Printf("base %d steps %g..%g, refiner %d steps %g..%g\n", cut, ts[0], ts[cut-1], p.Len()-cut, ts[cut], ts[p.Len()-1])
	// Output: base 32 steps 976..201, refiner 8 steps 176..1
}

// One noise level, two names for it: what SD's unet and Stable Cascade's
// prior are told at the noise level of SD's t = 500.
func ExampleDiscrete_AbarToTimestep() {
	sd, _ := sampler.NewDiscrete(sampler.ScaledLinear, 1000, 0.00085, 0.012, false)
	cascade := sampler.CascadeCosine()
	abar := sd.Abar(500)
	fmt.Printf("abar %.4f sigma %.4f: SD t = %g, Cascade r = %.4f\n", abar, sampler.Sigma(abar), sd.AbarToTimestep(abar), cascade.AbarToRatio(abar))
	// Output: abar 0.2763 sigma 1.6183: SD t = 500, Cascade r = 0.6448
}
