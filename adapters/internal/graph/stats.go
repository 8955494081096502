package graph

import (
	"fmt"
	"time"

	"github.com/coop-diffusion/coop/adapters"
	"github.com/coop-diffusion/coop/internal/ort"
)

// GraphStats returns the runs of the model's session and the time spent
// inside ONNX Runtime (zero before the session opens), with the model's
// role and whether the session is open. Closing the session discards the
// figures, so callers read them before Close.
func (m *Model) GraphStats() adapters.GraphStats {
	m.mu.Lock()
	defer m.mu.Unlock()
	g := adapters.GraphStats{Role: m.Role}
	if m.sess != nil {
		st := m.sess.Stats()
		g.Runs, g.Time, g.Open = st.Runs, st.Time, true
	}
	return g
}

// Open opens the session now instead of on the first Run and returns how
// long ONNX Runtime took to create it: 0 when it was already open. The
// engine opens sessions before a stage starts, so that session creation
// is neither counted as a prediction nor delays the first step.
func (m *Model) Open() (time.Duration, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed {
		return 0, m.Errorf("closed")
	}
	if m.sess != nil {
		return 0, nil
	}
	start := time.Now()
	s, err := ort.Open(m.Path, m.opts)
	if err != nil {
		return 0, fmt.Errorf("model %q %s: %w", m.Owner, m.Role, err)
	}
	m.sess = s
	return time.Since(start), nil
}
