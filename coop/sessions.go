package coop

import (
	"fmt"
	"time"

	"github.com/coop-diffusion/coop/adapters"
)

// Sessions is what the engine needs of a model's ONNX Runtime sessions
// besides running them: opening them before the first stage that uses the
// model, reading the time spent inside ONNX Runtime, and closing them after
// the last. *adapters.Model implements it.
type Sessions interface {
	// OpenSessions opens every session not open yet and returns the time
	// ONNX Runtime spent creating them.
	OpenSessions() (time.Duration, error)
	// RuntimeStats returns each open session's runs and time inside ONNX
	// Runtime since it opened.
	RuntimeStats() []adapters.GraphStats
	// Close releases the sessions; the model cannot run afterwards.
	Close() error
}

// modelUsage is one model's counters over a run: the readings at the
// start, and the differences once the model is done (released or the run
// ended).
type modelUsage struct {
	start  map[string]adapters.GraphStats // by graph role
	calls0 int
	calls  int
	graphs []GraphReport
	done   bool
	// released is true when the engine closed the model's sessions.
	released bool
}

// beginUsage takes the starting readings of every loaded model; those the
// plan does not use show in the report with nothing done.
func (r *run) beginUsage() {
	r.usage = map[string]*modelUsage{}
	for name, m := range r.engine.Models {
		if m == nil {
			continue
		}
		u := &modelUsage{start: map[string]adapters.GraphStats{}}
		if m.Sessions != nil {
			for _, g := range m.Sessions.RuntimeStats() {
				u.start[g.Role] = g
			}
		}
		if m.Denoiser != nil {
			u.calls0 = m.Denoiser.Calls()
		}
		r.usage[name] = u
	}
}

// endUsage takes the final readings of a model: what it did in this run.
func (r *run) endUsage(name string) {
	u := r.usage[name]
	if u == nil || u.done {
		return
	}
	u.done = true
	m := r.engine.Models[name]
	if m.Denoiser != nil {
		u.calls = m.Denoiser.Calls() - u.calls0
	}
	if m.Sessions == nil {
		return
	}
	for _, g := range m.Sessions.RuntimeStats() {
		s := u.start[g.Role]
		if g.Runs < s.Runs {
			// The session was closed and opened again since the start:
			// its counters started over.
			s = adapters.GraphStats{}
		}
		u.graphs = append(u.graphs, GraphReport{Role: g.Role, Runs: g.Runs - s.Runs, ORT: g.Time - s.Time})
	}
}

// open opens the sessions of the models stage si uses, so that creating
// them is timed apart and does not count as a prediction.
func (r *run) open(si int) error {
	for _, name := range r.plan.StageModels(si) {
		m := r.engine.Models[name]
		if m == nil || m.Sessions == nil {
			continue
		}
		d, err := m.Sessions.OpenSessions()
		if err != nil {
			return fmt.Errorf("stage %s: opening model %s: %w", r.plan.Stages[si].Name, name, err)
		}
		r.rec.opened(name, d)
	}
	return nil
}

// release closes the sessions of the models whose last stage is si.
func (r *run) release(si int) error {
	for _, name := range r.plan.StageModels(si) {
		if r.lastUse[name] != si {
			continue
		}
		m := r.engine.Models[name]
		if m == nil || m.Sessions == nil {
			continue
		}
		r.endUsage(name)
		if err := m.Sessions.Close(); err != nil {
			return fmt.Errorf("releasing model %s: %w", name, err)
		}
		r.usage[name].released = true
	}
	return nil
}

// ortClock reads how long a model part has spent inside ONNX Runtime, so
// that a task can time its own calls. Its buffer is reused: reading
// allocates nothing once it has grown.
type ortClock struct{ buf []adapters.GraphStats }

// read returns part's total time inside ONNX Runtime, 0 for parts that do
// not run there (adapters.Timed).
func (c *ortClock) read(part any) time.Duration {
	t, ok := part.(adapters.Timed)
	if !ok {
		return 0
	}
	c.buf = t.RuntimeStats(c.buf[:0])
	var d time.Duration
	for _, s := range c.buf {
		d += s.Time
	}
	return d
}
