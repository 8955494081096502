package vae

import (
	"time"

	"github.com/coop-diffusion/coop/adapters"
	"github.com/coop-diffusion/coop/adapters/internal/graph"
)

var _ adapters.Timed = (*Autoencoder)(nil)

// graphs returns the encoder and the decoder, nil where the folder has
// none. The engine reads the stats around every call: no allocation.
func (a *Autoencoder) graphs() [2]*graph.Model { return [2]*graph.Model{a.enc, a.dec} }

// RuntimeStats appends the stats of the encoder's and decoder's sessions.
func (a *Autoencoder) RuntimeStats(dst []adapters.GraphStats) []adapters.GraphStats {
	for _, m := range a.graphs() {
		if m == nil {
			continue
		}
		st := m.Stats()
		dst = append(dst, adapters.GraphStats{Role: m.Role, Runs: st.Runs, Time: st.Time})
	}
	return dst
}

// OpenSessions opens the encoder's and decoder's sessions.
func (a *Autoencoder) OpenSessions() (time.Duration, error) {
	var total time.Duration
	for _, m := range a.graphs() {
		if m == nil {
			continue
		}
		d, err := m.Open()
		total += d
		if err != nil {
			return total, err
		}
	}
	return total, nil
}
