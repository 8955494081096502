package generic

import (
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strings"

	"github.com/coop-diffusion/coop/adapters"
	"github.com/coop-diffusion/coop/adapters/cascade"
	"github.com/coop-diffusion/coop/adapters/internal/denoise"
	"github.com/coop-diffusion/coop/adapters/internal/folder"
	"github.com/coop-diffusion/coop/adapters/internal/graph"
	"github.com/coop-diffusion/coop/adapters/internal/unetfamily"
	"github.com/coop-diffusion/coop/adapters/sd"
	"github.com/coop-diffusion/coop/adapters/sdxl"
	"github.com/coop-diffusion/coop/adapters/textenc"
	"github.com/coop-diffusion/coop/adapters/vae"
	"github.com/coop-diffusion/coop/coop/sampler"
	"github.com/coop-diffusion/coop/internal/modelfolder"
	"github.com/coop-diffusion/coop/internal/onnx"
	"github.com/coop-diffusion/coop/latent"
)

func init() { adapters.Register(adapters.Generic, folder.Loader(assemble)) }

// like is what a family contributes to a generic model.
type like struct {
	space    latent.Space
	time     string
	inputs   Inputs
	encoders []unetfamily.Encoder
	// pooledRank of the text encoder's pooled output, 0 without.
	pooledRank       int
	timeIDs          func(*adapters.Request, bool, []float32)
	uncondEffnetZero bool
	vaeEnc, vaeDec   string
	native           adapters.Size
	scheduler        sampler.Config
}

func likeOf(f adapters.Family) like {
	unet := Inputs{Sample: "sample", Timestep: "timestep", Context: "encoder_hidden_states", Pooled: "text_embeds", TimeIDs: "time_ids"}
	fromSpec := func(s unetfamily.Spec) like {
		l := like{space: s.Space, time: TimeTimestep, inputs: unet, encoders: s.Encoders, timeIDs: s.FillTimeIDs,
			vaeEnc: "vae_encoder", vaeDec: "vae_decoder", native: s.Native, scheduler: sampler.DefaultConfig()}
		if s.Pooled > 0 {
			l.pooledRank = 2
		}
		return l
	}
	cas := Inputs{Sample: "sample", Timestep: "timestep_ratio", Context: "clip_text", Pooled: "clip_text_pooled", ClipImg: "clip_img", Effnet: "effnet"}
	casEnc := []unetfamily.Encoder{{Role: "text_encoder", Pooled: true}}
	switch f {
	case adapters.SD1:
		return fromSpec(sd.SD1)
	case adapters.SD2:
		return fromSpec(sd.SD2)
	case adapters.SDXL:
		return fromSpec(sdxl.Base)
	case adapters.SDXLRefiner:
		return fromSpec(sdxl.Refiner)
	case adapters.CascadePrior:
		return like{space: latent.StableCascadePrior(), time: TimeRatio, inputs: cas, encoders: casEnc, pooledRank: 3,
			vaeEnc: "effnet", vaeDec: "previewer", native: adapters.Size{Height: 1024, Width: 1024}, scheduler: cascade.DefaultScheduler()}
	default: // CascadeDecoder; ReadManifest admits no other
		return like{space: latent.StableCascadeStageA(), time: TimeRatio, inputs: cas, encoders: casEnc, pooledRank: 3, uncondEffnetZero: true,
			vaeEnc: "vqgan_encoder", vaeDec: "vqgan", native: adapters.Size{Height: 1024, Width: 1024}, scheduler: cascade.DefaultScheduler()}
	}
}

// manifestPath finds the manifest in the folder.
func manifestPath(f *modelfolder.Folder, info *adapters.Info) (string, error) {
	if !f.SingleFile {
		for _, name := range adapters.ManifestFiles {
			p := filepath.Join(f.Path, name)
			if st, err := os.Stat(p); err == nil && !st.IsDir() {
				return p, nil
			}
		}
	}
	return "", fmt.Errorf("model %q (%s): the generic family needs a manifest (%s) in the model folder", info.Name, f.Path, strings.Join(adapters.ManifestFiles, " or "))
}

func assemble(f *modelfolder.Folder, info *adapters.Info, opts adapters.LoadOptions) (*adapters.Model, error) {
	path, err := manifestPath(f, info)
	if err != nil {
		return nil, err
	}
	man, err := ReadManifest(path)
	if err != nil {
		return nil, fmt.Errorf("model %q: %w", info.Name, err)
	}
	lk := likeOf(man.Like)
	info.Components = nil

	// Scheduler.
	info.Scheduler = lk.scheduler
	schedPath := folder.SchedulerPath(f)
	if man.Scheduler != "" {
		schedPath = man.path(man.Scheduler)
	}
	if _, err := os.Stat(schedPath); err == nil || man.Scheduler != "" {
		if info.Scheduler, err = sampler.ReadSchedulerConfig(schedPath); err != nil {
			return nil, fmt.Errorf("model %q: %w", info.Name, err)
		}
	}
	if p := man.Denoiser.Prediction; p != "" {
		info.Scheduler.Prediction = sampler.Prediction(p)
	}

	// Graphs.
	g, err := modelAt(f, info, "denoiser", man.path(man.Denoiser.Model), opts)
	if err != nil {
		return nil, err
	}
	encPath, decPath := "", ""
	if man.VAE != nil {
		encPath, decPath = man.path(man.VAE.Encoder), man.path(man.VAE.Decoder)
	}
	enc, err := optionalModel(f, info, lk.vaeEnc, encPath, opts)
	if err != nil {
		return nil, err
	}
	dec, err := optionalModel(f, info, lk.vaeDec, decPath, opts)
	if err != nil {
		return nil, err
	}

	// Latent space.
	info.Space = vae.SpaceFromConfig(lk.space, folder.Configs(enc, dec)...)
	if s := man.Space; s != nil {
		if s.Channels != nil {
			info.Space.Channels = *s.Channels
		}
		if s.Factor != nil {
			info.Space.Factor = *s.Factor
		}
		if s.ScalingFactor != nil {
			info.Space.ScalingFactor = *s.ScalingFactor
		}
		if s.ShiftFactor != nil {
			info.Space.ShiftFactor = *s.ShiftFactor
		}
		switch strings.ReplaceAll(s.PixelRange, " ", "") {
		case "[-1,1]":
			info.Space.PixelRange = latent.MinusOneToOne
		case "[0,1]":
			info.Space.PixelRange = latent.ZeroToOne
		}
	}
	if err := info.Space.Validate(); err != nil {
		return nil, fmt.Errorf("model %q: manifest %s: %w", info.Name, man.Path, err)
	}
	info.Channels = info.Space.Channels

	// Denoiser inputs: the manifest's names, else the like family's where
	// the graph has them.
	in := denoise.Inputs{Output: man.Denoiser.Output}
	pick := func(named, def string) string {
		if named != "" {
			return named
		}
		if def != "" && g.Input(def) != nil {
			return def
		}
		return ""
	}
	mi, di := man.Denoiser.Inputs, lk.inputs
	in.Sample = pick(mi.Sample, di.Sample)
	in.Timestep = pick(mi.Timestep, di.Timestep)
	in.Context = pick(mi.Context, di.Context)
	in.Pooled = pick(mi.Pooled, di.Pooled)
	in.TimeIDs = pick(mi.TimeIDs, di.TimeIDs)
	in.ClipImg = pick(mi.ClipImg, di.ClipImg)
	in.Effnet = pick(mi.Effnet, di.Effnet)
	if in.Sample == "" || in.Timestep == "" {
		return nil, g.Errorf("manifest %s: name the graph's latent and time inputs (denoiser.inputs.sample and .timestep); the graph's inputs are %s", man.Path, graph.List(g.Sig.Inputs))
	}
	if in.Output == "" {
		in.Output = g.FirstOutput(denoise.OutputNames...)
	}
	in.ControlImages, in.ControlScales = denoise.FusedInputs(g)
	arch, err := denoise.UnetControl(g, info, in)
	if err != nil {
		return nil, err
	}
	if err := checkFed(g, in, info); err != nil {
		return nil, err
	}
	if in.Context != "" {
		if w, ok := graph.LastDim(g.Input(in.Context)); ok {
			info.ContextWidth = w
		}
		if n, ok := graph.Dim(g.Input(in.Context), 1); ok {
			info.ContextTokens = n
		}
	}

	// Time.
	timeKind := man.Denoiser.Time
	if timeKind == "" {
		timeKind = lk.time
	}
	sched, toTime, err := timeConversion(timeKind, info.Scheduler, g.Input(in.Timestep))
	if err != nil {
		return nil, fmt.Errorf("model %q: %w", info.Name, err)
	}

	info.Native = folder.Native(g, in.Sample, info.Space.Factor, lk.native)
	info.FixedLatent = folder.FixedLatent(g, in.Sample)
	if man.Native != nil {
		info.Native = adapters.Size{Height: man.Native[0], Width: man.Native[1]}
	}

	d, err := denoise.New(denoise.Config{
		Info: info, Graph: g, In: in,
		Schedule: sched, Time: toTime, Prediction: info.Scheduler.Prediction,
		TimeIDs: lk.timeIDs, UncondEffnetZero: lk.uncondEffnetZero, Arch: arch,
	})
	if err != nil {
		return nil, err
	}
	m, err := unetfamily.NewModel(info, d, enc, dec)
	if err != nil {
		return nil, err
	}
	if in.Context != "" || in.Pooled != "" {
		te, err := textEncoder(f, info, opts, lk, in, g)
		if err != nil {
			return nil, err
		}
		if te != nil {
			m.Text = te
			m.Own(te)
		}
	}
	m.Info = *info
	return m, nil
}

// checkFed fails on a graph input that no role feeds.
func checkFed(g *graph.Model, in denoise.Inputs, info *adapters.Info) error {
	fed := map[string]bool{in.Sample: true, in.Timestep: true, in.Context: true, in.Pooled: true, in.TimeIDs: true,
		in.ClipImg: true, in.Effnet: true, in.ControlImages: true, in.ControlScales: true}
	for _, r := range info.Control.Down {
		fed[r.Name] = true
	}
	if info.Control.Mid != nil {
		fed[info.Control.Mid.Name] = true
	}
	for i := range g.Sig.Inputs {
		if v := &g.Sig.Inputs[i]; !fed[v.Name] {
			return g.Errorf("input %s (%s) has no role in the manifest (denoiser.inputs: sample, timestep, context, pooled, time_ids, clip_img, effnet)", v.Name, graph.Describe(v))
		}
	}
	return nil
}

// modelAt describes the model file at path, a component of f when it lies
// in one (so that its config.json is read).
func modelAt(f *modelfolder.Folder, info *adapters.Info, role, path string, opts adapters.LoadOptions) (*graph.Model, error) {
	abs, err := filepath.Abs(path)
	if err != nil {
		return nil, err
	}
	for _, c := range f.Models() {
		if ca, err := filepath.Abs(c.ModelPath); err == nil && ca == abs {
			info.Components = append(info.Components, adapters.Component{Role: role, Path: c.ModelPath})
			return graph.FromComponent(info.Name, role, c, opts.Session), nil
		}
	}
	sig, err := onnx.ReadSignature(path)
	if err != nil {
		return nil, fmt.Errorf("model %q %s: %w", info.Name, role, err)
	}
	info.Components = append(info.Components, adapters.Component{Role: role, Path: path})
	return graph.New(info.Name, role, path, sig, nil, opts.Session), nil
}

// optionalModel is the model at path when the manifest names one, else the
// folder's component called role, else nil.
func optionalModel(f *modelfolder.Folder, info *adapters.Info, role, path string, opts adapters.LoadOptions) (*graph.Model, error) {
	if path != "" {
		return modelAt(f, info, role, path, opts)
	}
	return folder.Model(f, info, role, opts, false)
}

// textEncoder assembles the like family's text encoders; nil when the
// folder lacks one of them.
func textEncoder(f *modelfolder.Folder, info *adapters.Info, opts adapters.LoadOptions, lk like, in denoise.Inputs, g *graph.Model) (*textenc.Encoder, error) {
	var parts []textenc.Part
	for _, e := range lk.encoders {
		te, err := folder.Model(f, info, e.Role, opts, false)
		if err != nil {
			return nil, err
		}
		if te == nil {
			return nil, nil
		}
		parts = append(parts, textenc.Part{Graph: te, TokenizerDir: folder.Tokenizer(f, e.Role), Depth: e.Depth, Pooled: e.Pooled})
	}
	cfg := textenc.Config{Parts: parts}
	if in.Pooled != "" {
		cfg.PooledRank = lk.pooledRank
		if cfg.PooledRank == 0 {
			return nil, g.Errorf("input %s takes a pooled embedding, which %s text encoders do not give", in.Pooled, info.Family)
		}
	}
	if v, ok := folder.IndexBool(f, "force_zeros_for_empty_prompt"); ok {
		cfg.ZeroNegative = v
	} else {
		cfg.ZeroNegative = lk.pooledRank == 2 // SDXL's default
	}
	if info.ContextTokens > 0 {
		cfg.Windows = max(1, info.ContextTokens/77)
	}
	te, err := textenc.New(cfg)
	if err != nil {
		return nil, err
	}
	if info.ContextWidth != 0 && te.Width() != info.ContextWidth {
		return nil, g.Errorf("input %s is %d wide, the text encoders give %d", in.Context, info.ContextWidth, te.Width())
	}
	return te, nil
}

// timeConversion returns the schedule and abar-to-time conversion of a
// time convention.
func timeConversion(kind string, cfg sampler.Config, t *onnx.ValueInfo) (sampler.Schedule, func(float64) float64, error) {
	switch kind {
	case TimeTimestep:
		return folder.DiscreteTime(cfg, t)
	case TimeRatio:
		c := cfg.Cosine
		if c.S == 0 {
			c = sampler.CascadeCosine()
		}
		return c, c.AbarToRatio, nil
	case TimeAbar:
		return abarTime{}, abarTime{}.AbarToTimestep, nil
	case TimeSigma:
		return sigmaTime{}, sigmaTime{}.AbarToTimestep, nil
	case TimeLogSNR:
		return logSNRTime{}, logSNRTime{}.AbarToTimestep, nil
	}
	return nil, nil, fmt.Errorf("unknown time convention %q", kind)
}

// abarTime tells the graph the noise level itself.
type abarTime struct{}

func (abarTime) TimestepToAbar(t float64) float64 { return t }
func (abarTime) AbarToTimestep(a float64) float64 { return a }

// sigmaTime tells the graph sigma = sqrt((1-abar)/abar).
type sigmaTime struct{}

func (sigmaTime) TimestepToAbar(s float64) float64 { return sampler.AbarFromSigma(s) }
func (sigmaTime) AbarToTimestep(a float64) float64 { return sampler.Sigma(a) }

// logSNRTime tells the graph log(abar / (1 - abar)).
type logSNRTime struct{}

func (logSNRTime) TimestepToAbar(l float64) float64 { return sampler.AbarFromLogSNR(l) }
func (logSNRTime) AbarToTimestep(a float64) float64 {
	if a <= 0 {
		return math.Inf(-1)
	}
	return sampler.LogSNR(a)
}
