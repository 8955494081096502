// Package job connects the pieces of a run: a loaded recipe is checked
// against every model's signatures and compiled into a plan (Prepare,
// before any weights load), the models the plan uses are opened (Load),
// and the engine runs the plan for a seed (Run). The CLI and the
// end-to-end tests share it, so what `coop validate` and `coop plan`
// promise is what `coop run` does.
package job

import (
	"context"
	"errors"
	"fmt"
	"sync"

	"github.com/coop-diffusion/coop/adapters"
	"github.com/coop-diffusion/coop/coop"
	"github.com/coop-diffusion/coop/coop/interposer"
	"github.com/coop-diffusion/coop/graphs"
	"github.com/coop-diffusion/coop/internal/ort"
	"github.com/coop-diffusion/coop/latent"
	"github.com/coop-diffusion/coop/recipes"
)

// Job is a recipe checked and compiled.
type Job struct {
	Recipe *recipes.Recipe
	// Infos holds what Check learned of each model, by recipe name.
	Infos map[string]*adapters.Info
	Plan  *graphs.Plan

	// images holds the job's control and img2img images from CheckImages
	// on, for all its runs (Images).
	imagesOnce sync.Once
	images     *coop.ImageCache
}

// Images is the job's image cache: the images CheckImages decoded, and
// those its runs load and resize, kept for every run of the job, so that a
// batch of seeds decodes each file once, the run uses the very pixels
// that were checked, and a ControlNet copies an unchanged image into its
// batch once.
func (j *Job) Images() *coop.ImageCache {
	j.imagesOnce.Do(func() { j.images = &coop.ImageCache{Load: j.ImageReader().Load} })
	return j.images
}

// Prepare checks every model the recipe names, from signatures,
// configuration files, tokenizers and the sizes of weight files only (see
// adapters.Check), compiles the plan, and checks it against the models:
// parts a model lacks for its role (a unet file alone as a participant, a
// folder without the VAE encoder a bridge needs), sizes a denoiser's graph
// does not take, interposers between the wrong spaces. Whatever the engine
// would refuse from the recipe and the models' signatures alone is refused
// here, before any model runs. Errors name the recipe field at fault (FILE:LINE:COL) and the
// model. Images are checked apart (CheckImages): they take decoding.
func Prepare(r *recipes.Recipe) (*Job, error) {
	infos := map[string]*adapters.Info{}
	for _, name := range r.ModelNames() {
		m := r.Models[name]
		info, err := adapters.Check(r.Path(m.Path), adapters.LoadOptions{Name: name, FamilyOverride: adapters.Family(m.Family)})
		if err != nil {
			return nil, r.Errorf(fmt.Sprintf("models.%s.path", name), "%v", err)
		}
		infos[name] = info
	}
	if err := checkDecoders(r, infos); err != nil {
		return nil, err
	}
	plan, err := graphs.Compile(r, infos)
	if err != nil {
		return nil, err
	}
	if err := checkParts(r, plan, infos); err != nil {
		return nil, err
	}
	if err := checkSizes(r, plan, infos); err != nil {
		return nil, err
	}
	if err := checkInterposers(r, plan, infos); err != nil {
		return nil, err
	}
	return &Job{Recipe: r, Infos: infos, Plan: plan}, nil
}

// Models are the loaded models of a job.
type Models struct {
	ByName map[string]*coop.Model
	loaded []*adapters.Model
}

// Close releases every session.
func (m *Models) Close() error {
	var errs []error
	for _, l := range m.loaded {
		errs = append(errs, l.Close())
	}
	return errors.Join(errs...)
}

// SessionOptions are the ONNX Runtime options a recipe asks for.
func (j *Job) SessionOptions() ort.SessionOptions {
	return ort.SessionOptions{Device: j.Recipe.Device, IntraOpThreads: j.Recipe.Threads, Deterministic: true}
}

// Load opens the models the plan uses. opts.Name and FamilyOverride are
// set per model from the recipe. Each recipe model loads once; a Stable
// Cascade prior that names a decoder gets an autoencoder decoding through
// that model's stage B and A (cascade.Bridge), which shares its parts.
func (j *Job) Load(ctx context.Context, opts adapters.LoadOptions) (*Models, error) {
	ms := &Models{ByName: map[string]*coop.Model{}}
	loaded := map[string]*adapters.Model{}
	for _, name := range j.Recipe.ModelNames() {
		rm := j.Recipe.Models[name]
		o := j.sessionFor(name, opts)
		o.Name, o.FamilyOverride = name, adapters.Family(rm.Family)
		m, err := adapters.Load(ctx, j.Recipe.Path(rm.Path), o)
		if err != nil {
			ms.Close()
			return nil, fmt.Errorf("loading model %s: %w", name, err)
		}
		ms.loaded = append(ms.loaded, m)
		loaded[name] = m
		ms.ByName[name] = engineModel(name, m)
	}
	if err := j.bridgeDecoders(ms, loaded); err != nil {
		ms.Close()
		return nil, err
	}
	return ms, nil
}

// RunOptions tune one run of a job.
type RunOptions struct {
	Seed uint64
	// Progress is called after every step.
	Progress func(coop.Event)
	// OnEnter sees every stage's entry latent (see coop.Engine.OnEnter).
	OnEnter func(stage int, z, x0 *latent.Tensor, abar float64)
	// Release closes each model's sessions after the last stage that uses
	// it (coop.Engine.Release): the models cannot run again, so set it
	// only for the last run of ms.
	Release bool
	// Concurrency says when the participants of a step work concurrently
	// (coop.Engine.Concurrency); by default when it pays.
	Concurrency coop.Concurrency
	// Image, when it has the result's shape, receives the decoded image
	// (coop.Engine.Image): a caller rendering many images reuses it.
	Image *latent.Tensor
}

// Run runs the plan with the options' seed.
func (j *Job) Run(ctx context.Context, ms *Models, o RunOptions) (*coop.Result, error) {
	plan := *j.Plan
	plan.Seed = o.Seed
	e := &coop.Engine{Models: ms.ByName, Progress: o.Progress, OnEnter: o.OnEnter, Release: o.Release, Concurrency: o.Concurrency,
		Images: j.Images(), Image: o.Image}
	return e.Run(ctx, &plan)
}

// InitRuntime finds ONNX Runtime for sessions on device (flagPath from
// --ort-lib first, then the usual places; see ort.LocateFor: for cuda the
// CUDA build of coop setup --cuda before the CPU build) and loads it once
// per process.
func InitRuntime(flagPath, device string) error {
	path, _, err := ort.LocateFor(flagPath, device)
	if err != nil {
		return err
	}
	return ort.Init(path)
}

// checkInterposers reads every interposer file the plan names and checks
// that it maps between the right latent spaces, before any model runs.
func checkInterposers(r *recipes.Recipe, plan *graphs.Plan, infos map[string]*adapters.Info) error {
	for si, st := range plan.Stages {
		prim := infos[st.Primary().Model]
		for pj, p := range st.Participants {
			in := infos[p.Model]
			for _, dir := range []struct {
				file, field string
				from, to    *adapters.Info
			}{{p.Bridge.Interposer, "interposer", in, prim}, {p.Bridge.Back, "back", prim, in}} {
				if dir.file == "" {
					continue
				}
				path := fmt.Sprintf("stages.%d.participants.%d.bridge.%s", si, pj, dir.field)
				ip, err := interposer.Load(dir.file)
				if err != nil {
					return r.Errorf(path, "%v", err)
				}
				if err := ip.CheckSpaces(dir.from.Space, dir.to.Space); err != nil {
					return r.Errorf(path, "interposer %s does not map %s (%s) to %s (%s): %v", dir.file, dir.from.Name, dir.from.Space.Name, dir.to.Name, dir.to.Space.Name, err)
				}
			}
		}
	}
	return nil
}
