package controlnet

import (
	"time"

	"github.com/coop-diffusion/coop/adapters"
)

var _ adapters.Timed = (*Split)(nil)

// RuntimeStats appends the stats of the ControlNet's session.
func (s *Split) RuntimeStats(dst []adapters.GraphStats) []adapters.GraphStats {
	return append(dst, s.g.GraphStats())
}

// OpenSessions opens the ControlNet's session.
func (s *Split) OpenSessions() (time.Duration, error) { return s.g.Open() }
