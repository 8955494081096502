package denoise

import (
	"time"

	"github.com/coop-diffusion/coop/adapters"
)

var _ adapters.Timed = (*Denoiser)(nil)

// RuntimeStats appends the stats of the denoiser's session.
func (d *Denoiser) RuntimeStats(dst []adapters.GraphStats) []adapters.GraphStats {
	return append(dst, d.cfg.Graph.GraphStats())
}

// OpenSessions opens the denoiser's session.
func (d *Denoiser) OpenSessions() (time.Duration, error) { return d.cfg.Graph.Open() }
