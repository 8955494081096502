package sampler_test

import (
	"testing"

	"github.com/coop-diffusion/coop/coop/sampler"
	"github.com/coop-diffusion/coop/latent"
)

// stepper runs one trajectory over and over: Init at step 0, then ModelInput
// and Step with a fixed epsilon, as the engine would.
type stepper struct {
	s              sampler.Sampler
	x, z, eps, ini *latent.Tensor
	i              int
}

func newStepper(tb testing.TB, name string, shape ...int) *stepper {
	cfg := sampler.DefaultConfig()
	cfg.Steps = 20
	cfg.Noise = latent.NewStream(1, "bench/"+name)
	s, err := sampler.New(name, cfg)
	if err != nil {
		tb.Fatal(err)
	}
	st := &stepper{s: s, x: latent.New(shape...), z: latent.New(shape...), eps: latent.New(shape...), ini: latent.New(shape...)}
	latent.NewStream(1, "eps").Fill(st.eps)
	latent.NewStream(1, "init").Fill(st.ini)
	if err := s.Init(st.x, st.ini); err != nil {
		tb.Fatal(err)
	}
	return st
}

func (st *stepper) step(tb testing.TB) {
	if st.i == st.s.Plan().Len() {
		if err := st.s.Init(st.x, st.ini); err != nil {
			tb.Fatal(err)
		}
		st.i = 0
	}
	if err := st.s.ModelInput(st.i, st.x, st.z); err != nil {
		tb.Fatal(err)
	}
	if err := st.s.Step(st.i, st.x, st.eps); err != nil {
		tb.Fatal(err)
	}
	st.i++
}

// TestStepAllocatesNothing: once a trajectory has started, ModelInput and
// Step allocate nothing, for every sampler.
func TestStepAllocatesNothing(t *testing.T) {
	for _, name := range sampler.Names() {
		st := newStepper(t, name, 1, 4, 16, 16)
		if allocs := testing.AllocsPerRun(45, func() { st.step(t) }); allocs != 0 {
			t.Errorf("%s: %g allocations per step", name, allocs)
		}
	}
}

// BenchmarkStep measures one ModelInput and Step over an SD-sized
// 4x128x128 latent (1024x1024 pixels for SDXL).
func BenchmarkStep(b *testing.B) {
	for _, name := range sampler.Names() {
		b.Run(name, func(b *testing.B) {
			st := newStepper(b, name, 1, 4, 128, 128)
			b.ReportAllocs()
			b.SetBytes(int64(4 * st.x.Len()))
			b.ResetTimer()
			for b.Loop() {
				st.step(b)
			}
		})
	}
}
