package vae

import (
	"time"

	"github.com/coop-diffusion/coop/adapters"
	"github.com/coop-diffusion/coop/adapters/internal/graph"
)

var (
	_ adapters.Timed          = (*Autoencoder)(nil)
	_ adapters.OneWaySessions = (*Autoencoder)(nil)
)

// graphs returns the encoder and the decoder, nil where the folder has
// none. The engine reads the stats around every call: no allocation.
func (a *Autoencoder) graphs() [2]*graph.Model { return [2]*graph.Model{a.enc, a.dec} }

// RuntimeStats appends the stats of the encoder's and decoder's sessions.
func (a *Autoencoder) RuntimeStats(dst []adapters.GraphStats) []adapters.GraphStats {
	for _, m := range a.graphs() {
		if m == nil {
			continue
		}
		dst = append(dst, m.GraphStats())
	}
	return dst
}

// OpenSessions opens the encoder's and decoder's sessions.
func (a *Autoencoder) OpenSessions() (time.Duration, error) {
	d, err := a.OpenEncoder()
	if err != nil {
		return d, err
	}
	d2, err := a.OpenDecoder()
	return d + d2, err
}

// OpenEncoder opens the encoder's session alone.
func (a *Autoencoder) OpenEncoder() (time.Duration, error) { return openGraph(a.enc) }

// OpenDecoder opens the decoder's session alone.
func (a *Autoencoder) OpenDecoder() (time.Duration, error) { return openGraph(a.dec) }

func openGraph(m *graph.Model) (time.Duration, error) {
	if m == nil {
		return 0, nil
	}
	return m.Open()
}
