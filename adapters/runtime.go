package adapters

import (
	"time"
)

// GraphStats is one model file's use of ONNX Runtime since its session
// opened.
type GraphStats struct {
	// Role is the file's role in the model ("unet", "vae_decoder", ...).
	Role string
	// Runs counts the runs that reached ONNX Runtime; Time is the time
	// spent inside them.
	Runs int64
	Time time.Duration
	// Open says whether the session is open: a part opens only the
	// graphs it runs (a Stable Cascade prior decoded through stage B and
	// A never opens its previewer).
	Open bool
}

// OneWaySessions is implemented by autoencoders whose encoder and decoder
// are graphs of their own (adapters/vae), so that a user of one direction
// alone opens only that graph: Stable Cascade's stage B and A bridge
// decodes with stage A and encodes with the prior's EfficientNet, and
// never needs stage A's encoder or the prior's previewer.
type OneWaySessions interface {
	// OpenEncoder and OpenDecoder open the encoder's or the decoder's
	// session if the autoencoder has that graph and it is not open yet,
	// and return the time ONNX Runtime spent creating it.
	OpenEncoder() (time.Duration, error)
	OpenDecoder() (time.Duration, error)
}

// Timed is implemented by the parts of a Model whose graphs run in ONNX
// Runtime (denoisers, autoencoders, text encoders, split ControlNets), so
// that the engine can tell the time inside ONNX Runtime from its own and
// open sessions before it needs them.
type Timed interface {
	// RuntimeStats appends the stats of the part's open sessions to dst.
	RuntimeStats(dst []GraphStats) []GraphStats
	// OpenSessions opens every session of the part that is not open yet
	// and returns the time ONNX Runtime spent creating them; it stops at the
	// first that fails.
	OpenSessions() (time.Duration, error)
}

// RuntimeStats returns the stats of every open session of the model's
// parts. Close discards them.
func (m *Model) RuntimeStats() []GraphStats {
	var out []GraphStats
	for _, c := range m.closers {
		if t, ok := c.(Timed); ok {
			out = t.RuntimeStats(out)
		}
	}
	return out
}

// OpenSessions opens every session of the model's parts now rather than
// on first use (which is when they open otherwise) and returns the time
// ONNX Runtime spent creating them.
func (m *Model) OpenSessions() (time.Duration, error) { return m.OpenSessionsExcept(nil) }

// OpenSessionsExcept is OpenSessions for every part but skip (one of the
// model's parts, such as its VAE when another autoencoder stands in for
// it and opens the half it uses).
func (m *Model) OpenSessionsExcept(skip any) (time.Duration, error) {
	var total time.Duration
	for _, c := range m.closers {
		if skip != nil && any(c) == skip {
			continue
		}
		if t, ok := c.(Timed); ok {
			d, err := t.OpenSessions()
			total += d
			if err != nil {
				return total, err
			}
		}
	}
	return total, nil
}
