package job

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"

	"github.com/coop-diffusion/coop/adapters"
	"github.com/coop-diffusion/coop/coop"
	"github.com/coop-diffusion/coop/internal/ort"
)

// Pool shares loaded models between the jobs of one command (the
// combinations of a sweep, several seeds), so that each model folder is
// loaded, and its sessions opened, once rather than once per image.
// Models are keyed by recipe name, folder, family override and session
// options: a sweep over a model's path loads each folder.
type Pool struct {
	loaded map[poolKey]*adapters.Model
	// engine holds the engine's view of each loaded model, handed to
	// every job that uses it: its prompt cache then encodes each prompt
	// once for all the images, and its bridge pool keeps the pixel
	// bridges' buffers from one image to the next.
	engine map[poolKey]*coop.Model
	order  []*adapters.Model
}

type poolKey struct {
	name, path string
	family     adapters.Family
	session    ort.SessionOptions
}

// NewPool returns an empty pool.
func NewPool() *Pool {
	return &Pool{loaded: map[poolKey]*adapters.Model{}, engine: map[poolKey]*coop.Model{}}
}

// Load returns j's models, loading those the pool does not hold yet with
// opts (Name and FamilyOverride are set per model from the recipe).
// Closing the returned Models does nothing: Close the pool when every job
// is done. A Stable Cascade prior that names a decoder gets the same
// stage B and A autoencoder as with Job.Load.
func (p *Pool) Load(ctx context.Context, j *Job, opts adapters.LoadOptions) (*Models, error) {
	ms := &Models{ByName: map[string]*coop.Model{}}
	loaded := map[string]*adapters.Model{}
	for _, name := range j.Recipe.ModelNames() {
		rm := j.Recipe.Models[name]
		path, err := filepath.Abs(j.Recipe.Path(rm.Path))
		if err != nil {
			return nil, err
		}
		o := j.sessionFor(name, opts)
		o.Name, o.FamilyOverride = name, adapters.Family(rm.Family)
		key := poolKey{name: name, path: path, family: o.FamilyOverride, session: o.Session}
		m := p.loaded[key]
		if m == nil {
			if m, err = adapters.Load(ctx, path, o); err != nil {
				return nil, fmt.Errorf("loading model %s: %w", name, err)
			}
			p.loaded[key] = m
			p.order = append(p.order, m)
		}
		loaded[name] = m
		cm := p.engine[key]
		if cm == nil {
			cm = &coop.Model{}
			p.engine[key] = cm
		}
		// The parts are set anew for every job: bridgeDecoders below may
		// have replaced them for the previous one.
		setEngineModel(cm, name, m)
		ms.ByName[name] = cm
	}
	// As in Job.Load: a prior that names a decoder decodes through its
	// stage B and A.
	if err := j.bridgeDecoders(ms, loaded); err != nil {
		return nil, err
	}
	return ms, nil
}

// Close releases every model the pool loaded.
func (p *Pool) Close() error {
	var errs []error
	for _, m := range p.order {
		errs = append(errs, m.Close())
	}
	p.loaded, p.engine, p.order = map[poolKey]*adapters.Model{}, map[poolKey]*coop.Model{}, nil
	return errors.Join(errs...)
}
