package adapters_test

import (
	"context"
	"sort"
	"strings"
	"testing"

	"github.com/coop-diffusion/coop/adapters"
	"github.com/coop-diffusion/coop/adapters/adapterstest"
	_ "github.com/coop-diffusion/coop/adapters/all"
	"github.com/coop-diffusion/coop/latent"
)

func roles(stats []adapters.GraphStats) string {
	var rs []string
	for _, s := range stats {
		rs = append(rs, s.Role)
	}
	sort.Strings(rs)
	return strings.Join(rs, " ")
}

// TestRuntimeStats: a model opens every session on OpenSessions (once),
// counts each graph's runs and time inside ONNX Runtime, and Close
// discards them.
func TestRuntimeStats(t *testing.T) {
	for _, c := range []struct{ fixture, roles string }{
		{"sd15", "text_encoder unet vae_decoder vae_encoder"},
		{"sdxl", "text_encoder text_encoder_2 unet vae_decoder vae_encoder"},
		{"controlnet-sd15", "controlnet"},
	} {
		m := adapterstest.LoadFixture(t, c.fixture)
		if got := roles(m.RuntimeStats()); got != c.roles {
			t.Errorf("%s: graphs %q, want %q", c.fixture, got, c.roles)
		}
		opened, err := m.OpenSessions()
		if err != nil || opened <= 0 {
			t.Fatalf("%s: opening took %v: %v", c.fixture, opened, err)
		}
		if again, err := m.OpenSessions(); err != nil || again != 0 {
			t.Errorf("%s: opening open sessions took %v (%v), want 0", c.fixture, again, err)
		}
		for _, s := range m.RuntimeStats() {
			if s.Runs != 0 || s.Time != 0 {
				t.Errorf("%s %s: %d runs in %v before any ran", c.fixture, s.Role, s.Runs, s.Time)
			}
		}
		if m.VAE == nil {
			continue
		}
		lat := latent.New(1, m.Channels, 8, 8)
		if err := m.VAE.Decode(context.Background(), lat, latent.New(1, 3, 64, 64)); err != nil {
			t.Fatal(err)
		}
		for _, s := range m.RuntimeStats() {
			if want := s.Role == "vae_decoder"; (s.Runs == 1 && s.Time > 0) != want {
				t.Errorf("%s %s: %d runs in %v after one decode", c.fixture, s.Role, s.Runs, s.Time)
			}
		}
		if err := m.Close(); err != nil {
			t.Fatal(err)
		}
		for _, s := range m.RuntimeStats() {
			if s.Runs != 0 {
				t.Errorf("%s %s: %d runs after Close", c.fixture, s.Role, s.Runs)
			}
		}
		if _, err := m.OpenSessions(); err == nil {
			t.Errorf("%s: sessions of a closed model opened", c.fixture)
		}
	}
}
