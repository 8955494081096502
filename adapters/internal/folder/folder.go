package folder

import (
	"context"
	"fmt"
	"math"
	"os"
	"path/filepath"

	"github.com/coop-diffusion/coop/adapters"
	"github.com/coop-diffusion/coop/adapters/internal/graph"
	"github.com/coop-diffusion/coop/coop/sampler"
	"github.com/coop-diffusion/coop/internal/modelfolder"
	"github.com/coop-diffusion/coop/internal/onnx"
)

// Model returns the graph of the component called role, nil when the
// folder has none and it is optional; a required one that is missing is an
// error naming the model and the file looked for.
func Model(f *modelfolder.Folder, info *adapters.Info, role string, opts adapters.LoadOptions, required bool) (*graph.Model, error) {
	c := f.Component(role)
	if c == nil || !c.HasModel() {
		if f.SingleFile && len(f.Models()) == 1 && role != "" && required {
			c = f.Models()[0]
		} else if required {
			return nil, fmt.Errorf("model %q (%s): the %s family needs %s, which the folder does not have", info.Name, f.Path, info.Family, filepath.Join(role, "model.onnx"))
		} else {
			return nil, nil
		}
	}
	info.Components = append(info.Components, adapters.Component{Role: role, Path: c.ModelPath})
	return graph.FromComponent(info.Name, role, c, opts.Session), nil
}

// Loader is an adapters.Loader made of the function that assembles a
// family's model. Check and Load do the same work: assembling opens no
// session (each opens on first use), so a check is a load whose model is
// dropped.
type Loader func(f *modelfolder.Folder, info *adapters.Info, opts adapters.LoadOptions) (*adapters.Model, error)

// Check assembles the model and returns the first mismatch; info is
// filled as for Load, Parts with the parts the model has.
func (assemble Loader) Check(f *modelfolder.Folder, info *adapters.Info, opts adapters.LoadOptions) error {
	m, err := assemble(f, info, opts)
	if err != nil {
		return err
	}
	info.Parts = m.Provides()
	return nil
}

// Load assembles the model; sessions open on first use.
func (assemble Loader) Load(ctx context.Context, f *modelfolder.Folder, info *adapters.Info, opts adapters.LoadOptions) (*adapters.Model, error) {
	m, err := assemble(f, info, opts)
	if err != nil {
		return nil, err
	}
	info.Parts = m.Provides()
	m.Parts = info.Parts
	return m, nil
}

// Graphs returns the graph of the denoiser component, which the family
// needs, and those of the encoder and decoder components of its
// autoencoder, nil where the folder has none. They are opened, and added
// to info.Components, in that order.
func Graphs(f *modelfolder.Folder, info *adapters.Info, opts adapters.LoadOptions, denoiser, encoder, decoder string) (g, enc, dec *graph.Model, err error) {
	if g, err = Model(f, info, denoiser, opts, true); err != nil {
		return nil, nil, nil, err
	}
	if enc, err = Model(f, info, encoder, opts, false); err != nil {
		return nil, nil, nil, err
	}
	if dec, err = Model(f, info, decoder, opts, false); err != nil {
		return nil, nil, nil, err
	}
	return g, enc, dec, nil
}

// SchedulerPath is the scheduler configuration's path in a folder.
func SchedulerPath(f *modelfolder.Folder) string {
	return filepath.Join(f.Path, "scheduler", "scheduler_config.json")
}

// Scheduler reads scheduler/scheduler_config.json, or returns def when the
// folder has none.
func Scheduler(f *modelfolder.Folder, info *adapters.Info, def sampler.Config) (sampler.Config, error) {
	path := SchedulerPath(f)
	if f.SingleFile {
		return def, nil
	}
	if _, err := os.Stat(path); err != nil {
		return def, nil
	}
	cfg, err := sampler.ReadSchedulerConfig(path)
	if err != nil {
		return cfg, fmt.Errorf("model %q: %w", info.Name, err)
	}
	return cfg, nil
}

// DiscreteTime returns the discrete schedule of cfg and the conversion of
// abar to the value fed to input t: the fractional timestep for a float
// input, rounded (half to even) for an integer one.
func DiscreteTime(cfg sampler.Config, t *onnx.ValueInfo) (*sampler.Discrete, func(float64) float64, error) {
	d, err := sampler.NewDiscrete(cfg.BetaSchedule, cfg.TrainSteps, cfg.BetaStart, cfg.BetaEnd, cfg.RescaleZeroSNR)
	if err != nil {
		return nil, nil, err
	}
	if t != nil && graph.IsInteger(t.ElemType) {
		return d, func(abar float64) float64 { return float64(d.AbarToIntTimestep(abar)) }, nil
	}
	return d, d.AbarToTimestep, nil
}

// Native returns the image size a denoiser was trained at: the sample's
// fixed spatial dims, else config.json sample_size, in latents, times the
// space's factor; def when neither is known.
func Native(g *graph.Model, sample string, factor float64, def adapters.Size) adapters.Size {
	px := func(n int) int { return int(math.Round(float64(n) * factor)) }
	v := g.Input(sample)
	if h, ok := graph.Dim(v, 2); ok {
		if w, ok := graph.Dim(v, 3); ok {
			return adapters.Size{Height: px(h), Width: px(w)}
		}
	}
	if h, w, ok := graph.Size(g.Config, "sample_size"); ok {
		return adapters.Size{Height: px(h), Width: px(w)}
	}
	return def
}

// FixedLatent returns the latent height and width that input sample of g
// fixes, zero when either is symbolic or the graph declares no shape.
func FixedLatent(g *graph.Model, sample string) adapters.Size {
	v := g.Input(sample)
	h, okH := graph.Dim(v, 2)
	w, okW := graph.Dim(v, 3)
	if !okH || !okW {
		return adapters.Size{}
	}
	return adapters.Size{Height: h, Width: w}
}

// IndexBool reads a boolean of model_index.json.
func IndexBool(f *modelfolder.Folder, key string) (v, ok bool) {
	v, ok = f.Index[key].(bool)
	return v, ok
}

// Tokenizer returns the tokenizer folder of a text encoder component:
// tokenizer for text_encoder, tokenizer_2 for text_encoder_2.
func Tokenizer(f *modelfolder.Folder, encoder string) string {
	name := "tokenizer"
	if len(encoder) > len("text_encoder") {
		name += encoder[len("text_encoder"):]
	}
	return filepath.Join(f.Path, name)
}

// Configs returns the config.json of each graph, skipping nil graphs.
func Configs(gs ...*graph.Model) []map[string]any {
	var out []map[string]any
	for _, g := range gs {
		if g != nil {
			out = append(out, g.Config)
		}
	}
	return out
}
