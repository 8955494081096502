package sampler_test

import (
	"math"
	"strings"
	"testing"

	"github.com/coop-diffusion/coop/coop/sampler"
)

func sdSchedule(t *testing.T) *sampler.Discrete {
	t.Helper()
	d, err := sampler.NewDiscrete(sampler.ScaledLinear, 1000, 0.00085, 0.012, false)
	must(t, err)
	return d
}

// within reports whether got rounds to want at want's printed precision:
// |got - want| <= half a unit in its last printed digit.
func within(got, want, halfUnit float64) bool { return math.Abs(got-want) <= halfUnit }

// TestSpecReferenceNumbers is part (a) of the conformance suite: the
// numbers SPEC section 2 and 3 quote, each to the precision quoted.
func TestSpecReferenceNumbers(t *testing.T) {
	d := sdSchedule(t)
	for _, c := range []struct {
		what      string
		got, want float64
		halfUnit  float64
	}{
		{"sigma(999)", sampler.Sigma(d.Abar(999)), 14.6146, 5e-5},
		{"sigma(0)", sampler.Sigma(d.Abar(0)), 0.02917, 5e-6},
		{"abar(999)", d.Abar(999), 0.00466, 5e-6},
	} {
		if !within(c.got, c.want, c.halfUnit) {
			t.Errorf("%s = %.7g, SPEC says %g", c.what, c.got, c.want)
		}
	}

	cfg := sampler.DefaultConfig()
	cfg.Steps = 50
	p, err := sampler.NewPlan("euler", cfg)
	must(t, err)
	if !within(p.Steps[0].Sigma, 13.1204, 5e-5) || !within(p.InitNoiseSigma, 13.158, 5e-4) {
		t.Errorf("euler leading 50: sigma_max %.6g, init_noise_sigma %.6g; SPEC: 13.1204, 13.158", p.Steps[0].Sigma, p.InitNoiseSigma)
	}
	cfg.Spacing = sampler.Linspace
	p, err = sampler.NewPlan("euler", cfg)
	must(t, err)
	if p.InitNoiseSigma != p.Steps[0].Sigma || !within(p.InitNoiseSigma, 14.6146, 5e-5) {
		t.Errorf("euler linspace 50: init_noise_sigma %.6g, want sigma_max 14.6146", p.InitNoiseSigma)
	}
}

func arithmetic(first, step float64, n int) []float64 {
	out := make([]float64, n)
	for i := range out {
		out[i] = first + float64(i)*step
	}
	return out
}

func equalFloats(a, b []float64, tol float64) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if math.Abs(a[i]-b[i]) > tol {
			return false
		}
	}
	return true
}

func TestTimesteps(t *testing.T) {
	for _, c := range []struct {
		spacing sampler.Spacing
		n, off  int
		want    []float64
	}{
		{sampler.Leading, 50, 1, arithmetic(981, -20, 50)}, // SPEC: 981..1
		{sampler.Leading, 50, 0, arithmetic(980, -20, 50)},
		{sampler.Trailing, 50, 1, arithmetic(999, -20, 50)}, // SPEC: 999..19, offset ignored
		{sampler.Leading, 40, 1, arithmetic(976, -25, 40)},
		{sampler.Trailing, 16, 0, []float64{999, 937, 874, 811, 749, 687, 624, 561, 499, 437, 374, 311, 249, 187, 124, 61}}, // 62.5 steps, rounded half to even
		{sampler.Linspace, 4, 0, []float64{999, 666, 333, 0}},
		{sampler.Linspace, 1, 0, []float64{0}},
		{sampler.Leading, 1, 1, []float64{1}},
	} {
		got, err := sampler.Timesteps(c.spacing, 1000, c.n, c.off)
		must(t, err)
		if !equalFloats(got, c.want, 0) {
			t.Errorf("%s N=%d offset %d: got %v, want %v", c.spacing, c.n, c.off, got, c.want)
		}
	}
	// Linspace is fractional: 999 * k / 49.
	got, err := sampler.Timesteps(sampler.Linspace, 1000, 50, 0)
	must(t, err)
	if got[0] != 999 || got[49] != 0 || math.Abs(got[1]-999.0*48/49) > 1e-12 {
		t.Errorf("linspace 50: got %v ... %v, want 999, %.6f, ..., 0", got[:2], got[49], 999.0*48/49)
	}
}

func TestPlanTimesteps(t *testing.T) {
	for _, c := range []struct {
		name  string
		mod   func(*sampler.Config)
		first float64
		last  float64
		n     int
	}{
		{"ddim", nil, 981, 1, 50},
		{"ddim", func(c *sampler.Config) { c.Spacing = sampler.Trailing }, 999, 19, 50},
		{"dpmpp_2m", nil, 951, 20, 50}, // 1000 // 51 = 19: 50*19+1 .. 1*19+1
		{"lcm", func(c *sampler.Config) { c.Steps = 4 }, 999, 259, 4},
		{"ddpm_wuerstchen", func(c *sampler.Config) { c.Steps = 20 }, 1, 0.05, 20},
	} {
		cfg := sampler.DefaultConfig()
		if c.mod != nil {
			c.mod(&cfg)
		}
		p, err := sampler.NewPlan(c.name, cfg)
		must(t, err)
		ts := p.Timesteps()
		if len(ts) != c.n || math.Abs(ts[0]-c.first) > 1e-12 || math.Abs(ts[len(ts)-1]-c.last) > 1e-12 {
			t.Errorf("%s: %d timesteps %g..%g, want %d, %g..%g", c.name, len(ts), ts[0], ts[len(ts)-1], c.n, c.first, c.last)
		}
	}
	cfg := sampler.DefaultConfig()
	cfg.Steps = 4
	p, err := sampler.NewPlan("lcm", cfg)
	must(t, err)
	if got := p.Timesteps(); !equalFloats(got, []float64{999, 759, 499, 259}, 0) {
		t.Errorf("lcm 4 steps: %v, want [999 759 499 259]", got)
	}
}

func TestKarrasSigmas(t *testing.T) {
	s := sampler.KarrasSigmas(0.0292, 14.6146, 3, 7)
	mid := math.Pow((math.Pow(0.0292, 1.0/7)+math.Pow(14.6146, 1.0/7))/2, 7)
	if !relClose(s[0], 14.6146, 1e-14) || !relClose(s[1], mid, 1e-14) || !relClose(s[2], 0.0292, 1e-14) {
		t.Errorf("KarrasSigmas = %v, want [14.6146 %g 0.0292]", s, mid)
	}
	cfg := sampler.DefaultConfig()
	cfg.Steps = 25
	p, err := sampler.NewPlan("dpmpp_2m_karras", cfg)
	must(t, err)
	d := sdSchedule(t)
	if !relClose(p.Steps[0].Sigma, sampler.Sigma(d.Abar(999)), 1e-12) || !relClose(p.Steps[24].Sigma, sampler.Sigma(d.Abar(0)), 1e-12) {
		t.Errorf("dpmpp_2m_karras sigmas run %g..%g, want the table's %g..%g", p.Steps[0].Sigma, p.Steps[24].Sigma, sampler.Sigma(d.Abar(999)), sampler.Sigma(d.Abar(0)))
	}
	if p.Steps[0].Timestep != 999 || p.Steps[24].Timestep != 0 {
		t.Errorf("dpmpp_2m_karras timesteps run %g..%g, want 999..0", p.Steps[0].Timestep, p.Steps[24].Timestep)
	}
}

func TestDiscreteConversions(t *testing.T) {
	d := sdSchedule(t)
	for _, tt := range []float64{0, 0.25, 1, 17.5, 500, 978.612, 998.9, 999} {
		a := d.TimestepToAbar(tt)
		if back := d.AbarToTimestep(a); math.Abs(back-tt) > 1e-9 {
			t.Errorf("AbarToTimestep(TimestepToAbar(%g)) = %.12g", tt, back)
		}
	}
	for i := 0; i < 1000; i += 37 {
		if a := d.TimestepToAbar(float64(i)); a != d.Abar(i) {
			t.Errorf("TimestepToAbar(%d) = %g, table %g", i, a, d.Abar(i))
		}
	}
	// Between table entries, log sigma is interpolated.
	ls := 0.3*math.Log(sampler.Sigma(d.Abar(500))) + 0.7*math.Log(sampler.Sigma(d.Abar(501)))
	if a := d.TimestepToAbar(500.7); !relClose(sampler.Sigma(a), math.Exp(ls), 1e-12) {
		t.Errorf("TimestepToAbar(500.7): sigma %.12g, want %.12g", sampler.Sigma(a), math.Exp(ls))
	}
	// Beyond the table the ends are returned.
	if d.AbarToTimestep(1e-5) != 999 || d.AbarToTimestep(0.99999) != 0 {
		t.Errorf("AbarToTimestep out of range: %g, %g; want 999, 0", d.AbarToTimestep(1e-5), d.AbarToTimestep(0.99999))
	}
	if got := d.AbarToIntTimestep(d.TimestepToAbar(500.5)); got != 500 {
		t.Errorf("AbarToIntTimestep at t = 500.5 is %d, want 500 (half to even)", got)
	}
	if got := d.AbarToIntTimestep(d.TimestepToAbar(501.5)); got != 502 {
		t.Errorf("AbarToIntTimestep at t = 501.5 is %d, want 502 (half to even)", got)
	}
	for _, a := range []float64{0.001, 0.3, 0.5, 0.97} {
		if !relClose(sampler.AbarFromSigma(sampler.Sigma(a)), a, 1e-14) || !relClose(sampler.AbarFromLogSNR(sampler.LogSNR(a)), a, 1e-14) {
			t.Errorf("abar %g does not survive sigma or log-SNR round trips", a)
		}
		if !relClose(sampler.LogSNR(a), -2*math.Log(sampler.Sigma(a)), 1e-12) {
			t.Errorf("LogSNR(%g) != -2 log sigma", a)
		}
	}
}

func TestLinearAndCosineBetas(t *testing.T) {
	lin, err := sampler.NewDiscrete(sampler.Linear, 1000, 0.0001, 0.02, false)
	must(t, err)
	// prod(1 - beta) for DDPM's linear betas; abar_999 = 4.04e-5 (Ho et al.).
	if a := lin.Abar(999); !within(a, 4.036e-5, 5e-9) {
		t.Errorf("linear abar(999) = %.6g, want 4.036e-5", a)
	}
	cos, err := sampler.NewDiscrete(sampler.SquaredCosCapV2, 1000, 0, 0, false)
	must(t, err)
	f := func(x float64) float64 { c := math.Cos((x + 0.008) / 1.008 * math.Pi / 2); return c * c }
	if a := cos.Abar(499); !relClose(a, f(0.5)/f(0), 1e-9) {
		t.Errorf("squaredcos_cap_v2 abar(499) = %.10g, want cos-schedule %.10g", a, f(0.5)/f(0))
	}
	z, err := sampler.NewDiscrete(sampler.ScaledLinear, 1000, 0.00085, 0.012, true)
	must(t, err)
	d := sdSchedule(t)
	if z.Abar(999) != 1.0/(1<<24) || !relClose(z.Abar(0), d.Abar(0), 1e-12) {
		t.Errorf("zero-SNR rescale: abar(0) %g (want %g), abar(999) %g (want 2^-24)", z.Abar(0), d.Abar(0), z.Abar(999))
	}
}

func TestCascadeCosine(t *testing.T) {
	c := sampler.CascadeCosine()
	if c.RatioToAbar(1) != 1e-4 || c.RatioToAbar(0) != 0.9999 {
		t.Errorf("cosine ends: abar(1) %g, abar(0) %g; want the clamp 1e-4, 0.9999", c.RatioToAbar(1), c.RatioToAbar(0))
	}
	s := 0.008
	want := math.Pow(math.Cos((0.5+s)/(1+s)*math.Pi/2)/math.Cos(s/(1+s)*math.Pi/2), 2)
	if a := c.RatioToAbar(0.5); !relClose(a, want, 1e-14) {
		t.Errorf("abar(0.5) = %.15g, want %.15g", a, want)
	}
	for _, r := range []float64{0.02, 0.3, 0.5, 0.77, 0.95} {
		if back := c.AbarToRatio(c.RatioToAbar(r)); math.Abs(back-r) > 1e-12 {
			t.Errorf("AbarToRatio(RatioToAbar(%g)) = %.15g", r, back)
		}
	}
	warped := sampler.Cosine{S: 0.008, Scaler: 2}
	for _, r := range []float64{0.1, 0.6} {
		if back := warped.AbarToTimestep(warped.TimestepToAbar(r)); math.Abs(back-r) > 1e-12 {
			t.Errorf("scaler 2: round trip of %g gives %.15g", r, back)
		}
	}
	// Cascade's steps: r = linspace(1, 0, N+1) without the last.
	cfg := sampler.DefaultConfig()
	cfg.Steps = 20
	p, err := sampler.NewPlan("DDPMWuerstchenScheduler", cfg)
	must(t, err)
	if !equalFloats(p.Timesteps(), arithmetic(1, -0.05, 20), 1e-15) {
		t.Errorf("cascade ratios %v", p.Timesteps())
	}
	if last := p.Steps[19]; last.AbarNext != 0.9999 {
		t.Errorf("cascade ends at abar %g, want the clamp 0.9999", last.AbarNext)
	}
}

// TestSplits covers SPEC section 3's handoff numbers and the img2img and
// noise-level cuts.
func TestSplits(t *testing.T) {
	cfg := sampler.DefaultConfig()
	cfg.Steps = 40
	p, err := sampler.NewPlan("euler", cfg)
	must(t, err)
	cut, err := p.SplitAtFraction(0.8)
	must(t, err)
	ts := p.Timesteps()
	if cut != 32 || ts[0] != 976 || ts[cut-1] != 201 || ts[cut] != 176 || ts[39] != 1 {
		t.Errorf("40 steps at 0.8: cut %d, base %g..%g, refiner %g..%g; SPEC: 32, 976..201, 176..1", cut, ts[0], ts[cut-1], ts[cut], ts[39])
	}
	if _, err := p.SplitAtFraction(0.001); err == nil || !strings.Contains(err.Error(), "first model no steps") {
		t.Errorf("split at 0.001: %v, want an error about the first model", err)
	}
	if _, err := p.SplitAtFraction(0.9999); err == nil || !strings.Contains(err.Error(), "second model no steps") {
		t.Errorf("split at 0.9999: %v, want an error about the second model", err)
	}
	for _, bad := range []float64{0, 1, -0.2, 1.5, math.NaN()} {
		if _, err := p.SplitAtFraction(bad); err == nil {
			t.Errorf("split at %g: no error", bad)
		}
	}

	cfg.Steps = 50
	p, err = sampler.NewPlan("ddim", cfg)
	must(t, err)
	for _, c := range []struct {
		strength float64
		start    int
	}{{1, 0}, {0.3, 35}, {0.75, 13}, {0.02, 49}} {
		got, err := p.StrengthStart(c.strength)
		if err != nil || got != c.start {
			t.Errorf("StrengthStart(%g) = %d, %v; want %d", c.strength, got, err, c.start)
		}
	}
	for _, bad := range []float64{0, 0.019, -0.1, 1.01, math.NaN()} {
		if _, err := p.StrengthStart(bad); err == nil {
			t.Errorf("StrengthStart(%g): no error", bad)
		}
	}

	// A switch at the noise level of t = 500 starts the second part at the
	// first step at or below that noise: t = 481 (leading 981..1 by 20).
	d := sdSchedule(t)
	cut, err = p.SplitAtAbar(d.Abar(500))
	must(t, err)
	if p.Steps[cut].Timestep != 481 || p.Steps[cut-1].Timestep != 501 {
		t.Errorf("SplitAtAbar(abar(500)): second part starts at t = %g after %g; want 481 after 501", p.Steps[cut].Timestep, p.Steps[cut-1].Timestep)
	}
	cut, err = p.SplitAtAbar(d.Abar(481))
	must(t, err)
	if p.Steps[cut].Timestep != 481 {
		t.Errorf("SplitAtAbar exactly at a step's level starts at t = %g, want 481", p.Steps[cut].Timestep)
	}
	for _, bad := range []float64{d.Abar(999), 0.9999999, 0, 1} {
		if _, err := p.SplitAtAbar(bad); err == nil {
			t.Errorf("SplitAtAbar(%g): no error", bad)
		}
	}

	// Cascade's ratio axis: at 0.5 the first model keeps r >= 0.5.
	cfg.Steps = 10
	p, err = sampler.NewPlan("ddpm_wuerstchen", cfg)
	must(t, err)
	cut, err = p.SplitAtFraction(0.5)
	must(t, err)
	if cut != 6 || math.Abs(p.Steps[cut-1].Timestep-0.5) > 1e-12 {
		t.Errorf("cascade split at 0.5: cut %d (last kept r = %g), want 6 (r = 0.5)", cut, p.Steps[cut-1].Timestep)
	}
}

// TestStepAbarContinuity: a step lands on the next step's noise level,
// which is what lets a second model continue a trajectory, except in
// diffusers' DDIM/DDPM quirk with spacings whose gaps are not T/N.
func TestStepAbarContinuity(t *testing.T) {
	for _, name := range sampler.Names() {
		for _, sp := range sampler.Spacings {
			cfg := sampler.DefaultConfig()
			cfg.Steps = 20
			cfg.Spacing = sp
			p, err := sampler.NewPlan(name, cfg)
			must(t, err)
			// diffusers' DDIM and DDPM step by T/N whatever the next
			// timestep: with linspace's 52.6-step gaps they land 50 steps on.
			quirk := (name == "ddim" || name == "ddpm") && sp == sampler.Linspace
			for i := 0; i+1 < p.Len(); i++ {
				if quirk {
					if want := p.Steps[i].Timestep - 50; p.Steps[i].AbarNext != sdSchedule(t).Abar(int(want)) {
						t.Errorf("%s %s: step %d ends at abar %g, want abar(%g)", name, sp, i, p.Steps[i].AbarNext, want)
					}
				} else if p.Steps[i].AbarNext != p.Steps[i+1].Abar {
					t.Errorf("%s %s: step %d ends at abar %g, step %d starts at %g", name, sp, i, p.Steps[i].AbarNext, i+1, p.Steps[i+1].Abar)
				}
				if !(p.Steps[i].Abar < p.Steps[i+1].Abar) {
					t.Errorf("%s %s: noise does not decrease from step %d", name, sp, i)
				}
			}
		}
	}
}
