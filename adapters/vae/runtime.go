package vae

import (
	"time"

	"github.com/coop-diffusion/coop/adapters"
	"github.com/coop-diffusion/coop/adapters/internal/graph"
)

var _ adapters.Timed = (*Autoencoder)(nil)

func (a *Autoencoder) graphs() []*graph.Model {
	var gs []*graph.Model
	for _, m := range []*graph.Model{a.enc, a.dec} {
		if m != nil {
			gs = append(gs, m)
		}
	}
	return gs
}

// RuntimeStats appends the stats of the encoder's and decoder's sessions.
func (a *Autoencoder) RuntimeStats(dst []adapters.GraphStats) []adapters.GraphStats {
	for _, m := range a.graphs() {
		st := m.Stats()
		dst = append(dst, adapters.GraphStats{Role: m.Role, Runs: st.Runs, Time: st.Time})
	}
	return dst
}

// OpenSessions opens the encoder's and decoder's sessions.
func (a *Autoencoder) OpenSessions() (time.Duration, error) {
	var total time.Duration
	for _, m := range a.graphs() {
		d, err := m.Open()
		total += d
		if err != nil {
			return total, err
		}
	}
	return total, nil
}
