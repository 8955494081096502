package latent

import (
	"math"
	"strings"
	"testing"
)

func TestLatentSize(t *testing.T) {
	cases := []struct {
		space        Space
		hPx, wPx     int
		wantH, wantW int
	}{
		{StableDiffusion(), 512, 768, 64, 96},
		{StableDiffusionXL(), 1024, 1024, 128, 128},
		// diffusers: ceil(1024 / 42.67) = ceil(23.998) = 24.
		{StableCascadePrior(), 1024, 1024, 24, 24},
		{StableCascadePrior(), 1536, 1024, 36, 24},
		{StableCascadePrior(), 1000, 500, 24, 12},
		{StableCascadeStageA(), 1024, 1536, 256, 384},
	}
	for _, c := range cases {
		h, w, err := c.space.LatentSize(c.hPx, c.wPx)
		if err != nil || h != c.wantH || w != c.wantW {
			t.Errorf("%s.LatentSize(%d, %d) = %d, %d, %v; want %d, %d", c.space.Name, c.hPx, c.wPx, h, w, err, c.wantH, c.wantW)
		}
	}
}

func TestLatentSizeErrors(t *testing.T) {
	sd := StableDiffusion()
	cases := []struct {
		hPx, wPx int
		want     []string
	}{
		{500, 512, []string{`"sd"`, "height 500", "multiple of 8"}},
		{512, 513, []string{`"sd"`, "width 513", "multiple of 8"}},
		{0, 512, []string{`"sd"`, "positive"}},
	}
	for _, c := range cases {
		_, _, err := sd.LatentSize(c.hPx, c.wPx)
		if err == nil {
			t.Errorf("LatentSize(%d, %d): no error", c.hPx, c.wPx)
			continue
		}
		for _, w := range c.want {
			if !strings.Contains(err.Error(), w) {
				t.Errorf("LatentSize(%d, %d) error %q does not mention %q", c.hPx, c.wPx, err, w)
			}
		}
	}
	bad := sd
	bad.Factor = 0
	if _, _, err := bad.LatentSize(512, 512); err == nil || !strings.Contains(err.Error(), "Factor") {
		t.Errorf("LatentSize with Factor 0: %v", err)
	}
}

func TestValidate(t *testing.T) {
	for _, s := range []Space{StableDiffusion(), StableDiffusionXL(), StableCascadePrior(), StableCascadeStageA()} {
		if err := s.Validate(); err != nil {
			t.Errorf("preset %s: %v", s.Name, err)
		}
	}
	good := Space{Name: "x", Channels: 2, Factor: 8, ScalingFactor: 0.5,
		LatentsMean: []float64{0.1, 0.2}, LatentsStd: []float64{1, 2}}
	if err := good.Validate(); err != nil {
		t.Fatalf("valid space: %v", err)
	}
	cases := []struct {
		edit func(*Space)
		want string
	}{
		{func(s *Space) { s.Channels = 0 }, "Channels"},
		{func(s *Space) { s.Factor = -8 }, "Factor"},
		{func(s *Space) { s.Factor = math.Inf(1) }, "Factor"},
		{func(s *Space) { s.ScalingFactor = 0 }, "ScalingFactor"},
		{func(s *Space) { s.ScalingFactor = math.NaN() }, "ScalingFactor"},
		{func(s *Space) { s.PixelRange = 7 }, "PixelRange(7)"},
		{func(s *Space) { s.LatentsStd = nil }, "together"},
		{func(s *Space) { s.ShiftFactor = 0.1 }, "ShiftFactor"},
		{func(s *Space) { s.LatentsMean = []float64{1} }, "LatentsMean has 1"},
		{func(s *Space) { s.LatentsStd = []float64{1, 0} }, "LatentsStd[1]"},
		{func(s *Space) { s.LatentsMean = []float64{math.NaN(), 0} }, "LatentsMean[0]"},
	}
	for _, c := range cases {
		s := good
		s.LatentsMean = append([]float64(nil), good.LatentsMean...)
		s.LatentsStd = append([]float64(nil), good.LatentsStd...)
		c.edit(&s)
		err := s.Validate()
		if err == nil || !strings.Contains(err.Error(), c.want) || !strings.Contains(err.Error(), `"x"`) {
			t.Errorf("Validate of %+v = %v, want an error naming the space and %q", s, err, c.want)
		}
	}
}

func TestToLatentAndBack(t *testing.T) {
	const tol = 1e-6
	z := New(1, 2, 2, 2)
	for i := range z.Data {
		z.Data[i] = float32(i) - 3.5
	}
	cases := []struct {
		space Space
		want  func(c int, v float64) float64
	}{
		{Space{Name: "shift", Channels: 2, Factor: 8, ScalingFactor: 2, ShiftFactor: 0.25},
			func(c int, v float64) float64 { return (v - 0.25) * 2 }},
		{Space{Name: "sdxl-style", Channels: 2, Factor: 8, ScalingFactor: 0.5,
			LatentsMean: []float64{1, -1}, LatentsStd: []float64{2, 4}},
			func(c int, v float64) float64 { return (v - []float64{1, -1}[c]) * 0.5 / []float64{2, 4}[c] }},
		{StableCascadeStageA().withChannels(2),
			func(c int, v float64) float64 { return v / 0.3764 }},
	}
	for _, tc := range cases {
		lat := z.Clone()
		if err := tc.space.ToLatent(lat); err != nil {
			t.Fatal(err)
		}
		for i, v := range z.Data {
			c := i / 4
			if want := tc.want(c, float64(v)); math.Abs(float64(lat.Data[i])-want) > tol*max(1, math.Abs(want)) {
				t.Errorf("%s: ToLatent element %d = %v, want %v", tc.space.Name, i, lat.Data[i], want)
			}
		}
		if err := tc.space.FromLatent(lat); err != nil {
			t.Fatal(err)
		}
		for i, v := range z.Data {
			if math.Abs(float64(lat.Data[i]-v)) > tol*max(1, math.Abs(float64(v))) {
				t.Errorf("%s: round trip element %d = %v, want %v", tc.space.Name, i, lat.Data[i], v)
			}
		}
	}
}

func (s Space) withChannels(c int) Space { s.Channels = c; return s }

func TestToLatentErrors(t *testing.T) {
	sd := StableDiffusion()
	if err := sd.ToLatent(New(1, 3, 4, 4)); err == nil || !strings.Contains(err.Error(), "3 channels, want 4") {
		t.Errorf("ToLatent with 3 channels: %v", err)
	}
	if err := sd.FromLatent(New(4, 4, 4)); err == nil || !strings.Contains(err.Error(), "rank 4") {
		t.Errorf("FromLatent of rank 3: %v", err)
	}
	bad := Space{Name: "broken", Channels: 4, Factor: 8, ScalingFactor: 1, LatentsMean: []float64{0}, LatentsStd: []float64{1}}
	if err := bad.ToLatent(New(1, 4, 2, 2)); err == nil || !strings.Contains(err.Error(), "broken") {
		t.Errorf("ToLatent with an invalid space: %v", err)
	}
}

func TestToLatentAllocatesNothing(t *testing.T) {
	s := Space{Name: "sdxl-style", Channels: 4, Factor: 8, ScalingFactor: 0.5,
		LatentsMean: []float64{1, 2, 3, 4}, LatentsStd: []float64{1, 2, 3, 4}}
	lat := New(1, 4, 32, 32)
	if a := testing.AllocsPerRun(10, func() { s.ToLatent(lat); s.FromLatent(lat) }); a != 0 {
		t.Errorf("ToLatent and FromLatent allocate %v times", a)
	}
}

func TestPixelRanges(t *testing.T) {
	img := FromData([]float32{0, 0.25, 0.5, 1}, 1, 1, 2, 2)
	sd := StableDiffusion()
	sd.PixelsToModel(img)
	for i, want := range []float32{-1, -0.5, 0, 1} {
		if img.Data[i] != want {
			t.Errorf("PixelsToModel element %d = %v, want %v", i, img.Data[i], want)
		}
	}
	sd.ModelToPixels(img)
	for i, want := range []float32{0, 0.25, 0.5, 1} {
		if img.Data[i] != want {
			t.Errorf("ModelToPixels element %d = %v, want %v", i, img.Data[i], want)
		}
	}
	a := StableCascadeStageA()
	a.PixelsToModel(img)
	a.ModelToPixels(img)
	if img.Data[1] != 0.25 {
		t.Errorf("ZeroToOne space changed pixels: %v", img.Data)
	}
}
