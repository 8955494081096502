package sampler

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"

	"github.com/coop-diffusion/coop/latent"
)

// The samplers' updates run in internal/f32's kernels, in assembly where
// the processor has AVX2. scalarStep is each update as the per-element Go
// loop it replaced, operation for operation (the products converted
// explicitly, so that no GOAMD64 level fuses them, as GOAMD64=v1 never
// does), reading the sampler's coefficients and buffers without changing
// them: it returns the new state and, for DPM-Solver++ 2M, the x0 estimate
// it keeps.
func scalarStep(t *testing.T, s Sampler, i int, x, eps []float32) (next, prev []float32) {
	next = append([]float32(nil), x...)
	xd, ed := next, eps
	var noise []float32
	draw := func(c *core) {
		noise = make([]float32, len(x))
		c.noise.FillSlice(noise, uint64(i)*NoiseStride)
	}
	clamp := func(v, r float64) float64 { return math.Max(-r, math.Min(r, v)) }
	switch s := s.(type) {
	case *dpmSolver:
		c := s.steps[i]
		prev = append([]float32(nil), s.bufs[0].Data...)
		inv := 1 / c.alpha
		first := i == s.first || c.firstOrder || c.halfInvR0 == 0
		for j, xv := range xd {
			z := float64(xv)
			m := float64(float64(z-float64(c.sigmaT*float64(ed[j]))) * inv)
			d := m
			if !first {
				d = m + float64(c.halfInvR0*float64(m-float64(prev[j])))
			}
			prev[j] = float32(m)
			xd[j] = float32(float64(c.cx*z) + float64(c.cd*d))
		}
	case *ddim:
		c := s.steps[i]
		if c.std > 0 {
			draw(&s.core)
		}
		cx := c.sap / c.sa
		ce := c.dir - c.sap*c.s1a/c.sa
		for j, xv := range xd {
			z, e := float64(xv), float64(ed[j])
			var v float64
			if s.clip > 0 {
				x0 := clamp(float64(z-float64(c.s1a*e))/c.sa, s.clip)
				e = float64(z-float64(c.sa*x0)) / c.s1a
				v = float64(c.sap*x0) + float64(c.dir*e)
			} else {
				v = float64(cx*z) + float64(ce*e)
			}
			if noise != nil {
				v += float64(c.std * float64(noise[j]))
			}
			xd[j] = float32(v)
		}
	case *ddpm:
		c := s.steps[i]
		if c.std > 0 {
			draw(&s.core)
		}
		kx, ke := c.cx0/c.sa+c.cx, -c.cx0*c.s1a/c.sa
		for j, xv := range xd {
			z, e := float64(xv), float64(ed[j])
			var v float64
			if s.clip > 0 {
				v = float64(c.cx0*clamp(float64(z-float64(c.s1a*e))/c.sa, s.clip)) + float64(c.cx*z)
			} else {
				v = float64(kx*z) + float64(ke*e)
			}
			if noise != nil {
				v += float64(c.std * float64(noise[j]))
			}
			xd[j] = float32(v)
		}
	case *lcm:
		c := s.steps[i]
		if !c.last {
			draw(&s.core)
		}
		for j, xv := range xd {
			z := float64(xv)
			x0 := float64(z-float64(c.s1a*float64(ed[j]))) / c.sa
			if s.clip > 0 {
				x0 = clamp(x0, s.clip)
			}
			den := float64(c.cOut*x0) + float64(c.cSkip*z)
			if noise != nil {
				den = float64(c.sapN*den) + float64(c.s1apN*float64(noise[j]))
			}
			xd[j] = float32(den)
		}
	case *wuerstchen:
		c := s.steps[i]
		if c.std > 0 {
			draw(&s.core)
		}
		for j, xv := range xd {
			v := float64(c.cx*float64(xv)) + float64(c.ce*float64(ed[j]))
			if noise != nil {
				v += float64(c.std * float64(noise[j]))
			}
			xd[j] = float32(v)
		}
	case *eulerAncestral:
		dt, up := s.dt[i], s.up[i]
		if up != 0 {
			draw(&s.core)
		}
		for j, xv := range xd {
			v := float64(xv) + float64(dt*float64(ed[j]))
			if noise != nil {
				v += float64(up * float64(noise[j]))
			}
			xd[j] = float32(v)
		}
	case *euler:
		for j, xv := range xd {
			xd[j] = float32(float64(xv) + float64(s.dt[i]*float64(ed[j])))
		}
	default:
		t.Fatalf("no scalar loop for %T", s)
	}
	return next, prev
}

// stepSample returns a latent value: mostly Gaussian, at times one of
// float32's edge values (zeros, denormals, huge values, infinities, NaN)
// where special is set.
func stepSample(rng *rand.Rand, special bool) float32 {
	if special && rng.IntN(16) == 0 {
		edges := []float32{0, float32(math.Copysign(0, -1)), math.Float32frombits(1), -math.Float32frombits(0x007fffff),
			3e38, -1e30, float32(math.Inf(1)), float32(math.Inf(-1)), math.Float32frombits(0x7fc12345), math.Float32frombits(0xff800001)}
		return edges[rng.IntN(len(edges))]
	}
	return float32(rng.NormFloat64() * math.Exp2(float64(rng.IntN(7)-3)))
}

// sameState reports whether got is want bit for bit, any NaN matching any
// NaN: which NaN's payload survives where two meet is internal/f32's
// business, tested there.
func sameState(got, want float32) bool {
	return math.Float32bits(got) == math.Float32bits(want) || got != got && want != want
}

// TestStepsMatchScalarLoops: every sampler's Step gives, bit for bit, what
// the per-element loops it replaced give, over whole trajectories of
// every branch (first and second order, clipped or not, with fresh noise
// or without), on a state whose length leaves a tail after the kernels'
// blocks, from ordinary latents and from ones with edge values.
func TestStepsMatchScalarLoops(t *testing.T) {
	type variant struct {
		name  string
		setup func(*Config)
	}
	plain := func(*Config) {}
	cases := []struct {
		sampler  string
		variants []variant
	}{
		{"dpmpp_2m", []variant{{"plain", plain}, {"trailing", func(c *Config) { c.Spacing = Trailing }}}},
		{"dpmpp_2m_karras", []variant{{"plain", plain}}},
		{"ddim", []variant{{"plain", plain}, {"eta", func(c *Config) { c.Eta = 0.7 }},
			{"clip", func(c *Config) { c.ClipSample, c.ClipSampleRange = true, 1.5 }},
			{"clip eta", func(c *Config) { c.ClipSample, c.ClipSampleRange, c.Eta = true, 1.5, 1 }}}},
		{"ddpm", []variant{{"plain", plain}, {"clip", func(c *Config) { c.ClipSample, c.ClipSampleRange = true, 1.5 }}}},
		{"lcm", []variant{{"plain", plain}, {"clip", func(c *Config) { c.ClipSample, c.ClipSampleRange = true, 1.5 }}}},
		{"ddpm_wuerstchen", []variant{{"plain", plain}}},
		{"euler", []variant{{"plain", plain}}},
		{"euler_a", []variant{{"plain", plain}}},
	}
	for _, tc := range cases {
		for _, v := range tc.variants {
			for _, special := range []bool{false, true} {
				name := fmt.Sprintf("%s/%s/special=%t", tc.sampler, v.name, special)
				t.Run(name, func(t *testing.T) {
					cfg := DefaultConfig()
					cfg.Steps = 6
					if tc.sampler == "lcm" {
						cfg.Steps = 4
					}
					cfg.Noise = latent.NewStream(3, "scalar/"+name)
					v.setup(&cfg)
					s, err := New(tc.sampler, cfg)
					if err != nil {
						t.Fatal(err)
					}
					rng := rand.New(rand.NewPCG(5, uint64(len(name))))
					// 105 samples: 6 blocks of 16 and 2 of 4 (13 of 8 and
					// 0 of 4) and one left for Go.
					x, eps := latent.New(1, 3, 5, 7), latent.New(1, 3, 5, 7)
					for j := range x.Data {
						x.Data[j] = stepSample(rng, special)
					}
					if err := s.SetFromModelSpace(0, x, x); err != nil {
						t.Fatal(err)
					}
					for i := range s.Plan().Len() {
						for j := range eps.Data {
							eps.Data[j] = stepSample(rng, special)
						}
						want, wantPrev := scalarStep(t, s, i, x.Data, eps.Data)
						if err := s.Step(i, x, eps); err != nil {
							t.Fatal(err)
						}
						for j := range want {
							if !sameState(x.Data[j], want[j]) {
								t.Fatalf("step %d: sample %d is %v (%#08x), the scalar loop gives %v (%#08x)",
									i, j, x.Data[j], math.Float32bits(x.Data[j]), want[j], math.Float32bits(want[j]))
							}
						}
						if wantPrev != nil {
							prev := s.(*dpmSolver).bufs[0].Data
							for j := range wantPrev {
								if !sameState(prev[j], wantPrev[j]) {
									t.Fatalf("step %d: x0 estimate %d is %v, the scalar loop gives %v", i, j, prev[j], wantPrev[j])
								}
							}
						}
					}
				})
			}
		}
	}
}
