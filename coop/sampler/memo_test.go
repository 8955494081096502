package sampler

import "testing"

// TestSamplersShareSchedules checks the schedule memo: samplers built on
// one configuration share its Discrete table, which equals a freshly built
// one, and another beta range gets its own.
func TestSamplersShareSchedules(t *testing.T) {
	cfg := DefaultConfig()
	cfg.Steps = 20
	plan := func(name string, cfg Config) *Discrete {
		t.Helper()
		p, err := NewPlan(name, cfg)
		if err != nil {
			t.Fatal(err)
		}
		return p.Schedule.(*Discrete)
	}
	a, b := plan("ddim", cfg), plan("euler", cfg)
	if a != b {
		t.Error("two samplers on one configuration built two schedules")
	}
	fresh, err := NewDiscrete(cfg.BetaSchedule, cfg.TrainSteps, cfg.BetaStart, cfg.BetaEnd, cfg.RescaleZeroSNR)
	if err != nil {
		t.Fatal(err)
	}
	for i := range fresh.abar {
		if a.abar[i] != fresh.abar[i] || a.logSigma[i] != fresh.logSigma[i] {
			t.Fatalf("memoised schedule differs from a fresh one at t=%d", i)
		}
	}
	other := cfg
	other.BetaEnd = 0.02
	if c := plan("ddim", other); c == a || c.Abar(999) == a.Abar(999) {
		t.Error("another beta range got the first configuration's schedule")
	}
}
