package job

import (
	"fmt"
	"sync"
	"time"

	"github.com/coop-diffusion/coop/adapters"
	"github.com/coop-diffusion/coop/adapters/cascade"
	"github.com/coop-diffusion/coop/coop"
	"github.com/coop-diffusion/coop/recipes"
)

// checkDecoders checks every model's decoder (recipe field decoder:)
// against what Check learned of both models: a Stable Cascade prior
// decoded through a Stable Cascade decoder's stage B and A.
func checkDecoders(r *recipes.Recipe, infos map[string]*adapters.Info) error {
	for _, name := range r.ModelNames() {
		m := r.Models[name]
		if m == nil || m.Decoder == "" {
			continue
		}
		prior, dec := infos[name], infos[m.Decoder]
		if prior == nil || dec == nil {
			continue // a name recipes.Load refused
		}
		if err := cascade.CheckBridge(prior, dec); err != nil {
			return r.Errorf(fmt.Sprintf("models.%s.decoder", name), "%v", err)
		}
	}
	return nil
}

// bridgeDecoders gives every model whose recipe entry names a decoder a
// cascade.Bridge through that decoder's stage B and A as its autoencoder,
// sharing the decoder's loaded parts, so the engine decodes the model's
// latents that way wherever it carries them into pixels. The decoder's
// stage B calls count in the report under the decoder's name.
//
// Sessions: the engine opens a model's sessions before its first stage
// and, with Engine.Release, closes them after its last; a decoder that
// only decodes for a prior is in no stage. So the prior's handle opens
// the bridge's sessions with its own, and the decoder's sessions close
// when the last of the handles the engine will close (the priors' and
// the decoder's own, those the plan uses) is closed.
func (j *Job) bridgeDecoders(ms *Models, loaded map[string]*adapters.Model) error {
	used := j.Plan.LastUse()
	shared := map[string]*sharedModel{}
	for _, name := range j.Recipe.ModelNames() {
		rm := j.Recipe.Models[name]
		if rm == nil || rm.Decoder == "" {
			continue
		}
		prior, dec := loaded[name], loaded[rm.Decoder]
		b, err := cascade.NewBridge(prior, dec, cascade.BridgeOptions{Steps: rm.DecoderSteps})
		if err != nil {
			return fmt.Errorf("model %s: decoding through model %s: %w", name, rm.Decoder, err)
		}
		s := shared[rm.Decoder]
		if s == nil {
			s = &sharedModel{m: dec}
			if _, ok := used[rm.Decoder]; ok {
				s.holders++
			}
			shared[rm.Decoder] = s
			ms.ByName[rm.Decoder].Sessions = &decoderSessions{s: s}
		}
		if _, ok := used[name]; ok {
			s.holders++
		}
		cm := ms.ByName[name]
		cm.VAE = b
		cm.Sessions = &bridgedSessions{prior: prior, bridge: b, dec: s}
	}
	return nil
}

// sharedModel is a loaded model whose sessions several engine models use.
// Once closed, it keeps the final readings of its sessions, which Close
// would discard, for the report of the run that closed it.
type sharedModel struct {
	m *adapters.Model

	mu      sync.Mutex
	holders int // handles the engine will close that still hold it
	closed  bool
	final   []adapters.GraphStats
}

func (s *sharedModel) release() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.holders--
	if s.holders > 0 || s.closed {
		return nil
	}
	s.final, s.closed = s.m.RuntimeStats(), true
	return s.m.Close()
}

func (s *sharedModel) stats() []adapters.GraphStats {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return append([]adapters.GraphStats(nil), s.final...)
	}
	return s.m.RuntimeStats()
}

// decoderSessions is the engine's handle on a decoder model that priors
// decode through.
type decoderSessions struct {
	s    *sharedModel
	once sync.Once
}

var _ coop.Sessions = (*decoderSessions)(nil)

func (d *decoderSessions) OpenSessions() (time.Duration, error) { return d.s.m.OpenSessions() }
func (d *decoderSessions) RuntimeStats() []adapters.GraphStats  { return d.s.stats() }

// Close releases the handle's hold on the decoder's sessions.
func (d *decoderSessions) Close() error {
	var err error
	d.once.Do(func() { err = d.s.release() })
	return err
}

// bridgedSessions is the engine's handle on a prior decoded through a
// decoder: it opens the bridge's sessions with the prior's (not the
// previewer, which the bridge replaces), reports only
// the prior's (the decoder's show under the decoder's name) and releases
// its hold on the decoder when it closes.
type bridgedSessions struct {
	prior  *adapters.Model
	bridge *cascade.Bridge
	dec    *sharedModel
	once   sync.Once
}

var _ coop.Sessions = (*bridgedSessions)(nil)

func (b *bridgedSessions) OpenSessions() (time.Duration, error) {
	// The prior's autoencoder is the bridge's encoder; the bridge opens
	// its encoder alone, and the previewer stays closed.
	d, err := b.prior.OpenSessionsExcept(b.prior.VAE)
	if err != nil {
		return d, err
	}
	d2, err := b.bridge.OpenSessions()
	return d + d2, err
}

func (b *bridgedSessions) RuntimeStats() []adapters.GraphStats { return b.prior.RuntimeStats() }

func (b *bridgedSessions) Close() error {
	err := b.prior.Close()
	b.once.Do(func() {
		if e := b.dec.release(); err == nil {
			err = e
		}
	})
	return err
}
