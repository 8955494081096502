package textenc

import (
	"time"

	"github.com/coop-diffusion/coop/adapters"
)

var _ adapters.Timed = (*Encoder)(nil)

// RuntimeStats appends the stats of every text encoder's session.
func (e *Encoder) RuntimeStats(dst []adapters.GraphStats) []adapters.GraphStats {
	for _, p := range e.parts {
		st := p.Graph.Stats()
		dst = append(dst, adapters.GraphStats{Role: p.Graph.Role, Runs: st.Runs, Time: st.Time})
	}
	return dst
}

// OpenSessions opens every text encoder's session.
func (e *Encoder) OpenSessions() (time.Duration, error) {
	var total time.Duration
	for _, p := range e.parts {
		d, err := p.Graph.Open()
		total += d
		if err != nil {
			return total, err
		}
	}
	return total, nil
}
