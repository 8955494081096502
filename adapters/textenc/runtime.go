package textenc

import (
	"time"

	"github.com/coop-diffusion/coop/adapters"
)

var _ adapters.Timed = (*Encoder)(nil)

// RuntimeStats appends the stats of every text encoder's session.
func (e *Encoder) RuntimeStats(dst []adapters.GraphStats) []adapters.GraphStats {
	for _, p := range e.parts {
		dst = append(dst, p.Graph.GraphStats())
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
