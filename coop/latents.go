package coop

import (
	"sync"

	"github.com/coop-diffusion/coop/latent"
)

// latentPool keeps the idle latent buffers of a model's space between
// runs: a stage's state, model input, clean estimate, prediction and
// fusion buffers, a foreign participant's own trajectory and the
// samplers' scratch. Allocating them for every run cost more than their
// arithmetic on a fixture demo: fresh pages, zeroing, and the garbage
// collections that a few hundred kilobytes a run bring on. Buffers are
// handed out zeroed, as latent.New's, so nothing depends on what the
// previous run left in them.
type latentPool struct {
	mu    sync.Mutex
	idle  map[latentShape][]*latent.Tensor
	bytes int
	// made counts the buffers the pool had to allocate.
	made int
}

// latentShape is a pooled buffer's shape; latents and their scratch are
// four-dimensional, [N, C, H, W].
type latentShape [4]int

// maxIdleLatentBytes bounds a model's pool: the buffers of a run of the
// widest plans at 1024 px (a few dozen latents of 0.5 MiB) fit, runs at
// ever other sizes do not accumulate.
const maxIdleLatentBytes = 64 << 20

// take returns a zeroed tensor of the shape, an idle one when there is
// one.
func (p *latentPool) take(shape ...int) *latent.Tensor {
	if len(shape) != 4 {
		return latent.New(shape...)
	}
	k := latentShape(shape)
	p.mu.Lock()
	list := p.idle[k]
	var t *latent.Tensor
	if n := len(list); n > 0 {
		t, p.idle[k] = list[n-1], list[:n-1]
		p.bytes -= 4 * len(t.Data)
	} else {
		p.made++
	}
	p.mu.Unlock()
	if t == nil {
		return latent.New(shape...)
	}
	clear(t.Data)
	return t
}

// give keeps t for a later run, or leaves it to the garbage collector
// when the pool is full.
func (p *latentPool) give(t *latent.Tensor) {
	if len(t.Shape) != 4 {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.bytes+4*len(t.Data) > maxIdleLatentBytes {
		return
	}
	if p.idle == nil {
		p.idle = map[latentShape][]*latent.Tensor{}
	}
	k := latentShape(t.Shape)
	p.idle[k] = append(p.idle[k], t)
	p.bytes += 4 * len(t.Data)
}

// runLatents are the pooled buffers one run has taken: the run gives
// them back when it ends, all but those its result keeps.
type runLatents struct {
	mu    sync.Mutex
	taken []pooledLatent
}

type pooledLatent struct {
	pool *latentPool
	t    *latent.Tensor
}

// take returns a zeroed buffer of m's pool for the run.
func (l *runLatents) take(m *Model, shape ...int) *latent.Tensor {
	t := m.latents.take(shape...)
	l.mu.Lock()
	l.taken = append(l.taken, pooledLatent{&m.latents, t})
	l.mu.Unlock()
	return t
}

// scratch is take as a sampler's Config.Scratch.
func (l *runLatents) scratch(m *Model) func(shape ...int) *latent.Tensor {
	return func(shape ...int) *latent.Tensor { return l.take(m, shape...) }
}

// keep withdraws t from the buffers the run gives back: the caller
// keeps it.
func (l *runLatents) keep(t *latent.Tensor) {
	l.mu.Lock()
	defer l.mu.Unlock()
	for i, p := range l.taken {
		if p.t == t {
			l.taken = append(l.taken[:i], l.taken[i+1:]...)
			return
		}
	}
}

// release gives every buffer the run has taken back to its pool.
func (l *runLatents) release() {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, p := range l.taken {
		p.pool.give(p.t)
	}
	l.taken = l.taken[:0]
}
