package cascade

import (
	"fmt"

	"github.com/coop-diffusion/coop/adapters"
	"github.com/coop-diffusion/coop/adapters/internal/denoise"
	"github.com/coop-diffusion/coop/adapters/internal/folder"
	"github.com/coop-diffusion/coop/adapters/internal/graph"
	"github.com/coop-diffusion/coop/adapters/textenc"
	"github.com/coop-diffusion/coop/adapters/vae"
	"github.com/coop-diffusion/coop/coop/sampler"
	"github.com/coop-diffusion/coop/internal/modelfolder"
	"github.com/coop-diffusion/coop/latent"
)

// Stage names the part of Stable Cascade a loader opens.
type stage int

const (
	priorStage stage = iota
	decoderStage
	vqganStage
)

type loader struct{ stage stage }

func init() {
	adapters.Register(adapters.CascadePrior, folder.Loader(loader{priorStage}.assemble))
	adapters.Register(adapters.CascadeDecoder, folder.Loader(loader{decoderStage}.assemble))
	adapters.Register(adapters.CascadeVQGAN, folder.Loader(loader{vqganStage}.assemble))
}

// DefaultScheduler is Stable Cascade's scheduler for folders without
// scheduler_config.json: DDPMWuerstchenScheduler with s = 0.008 and
// scaler 1, 20 steps.
func DefaultScheduler() sampler.Config {
	cfg := sampler.DefaultConfig()
	cfg.Class = "DDPMWuerstchenScheduler"
	cfg.Steps = 20
	return cfg
}

func (l loader) assemble(f *modelfolder.Folder, info *adapters.Info, opts adapters.LoadOptions) (*adapters.Model, error) {
	info.Components = nil
	var err error
	if info.Scheduler, err = folder.Scheduler(f, info, DefaultScheduler()); err != nil {
		return nil, err
	}
	var m *adapters.Model
	switch l.stage {
	case priorStage:
		m, err = l.prior(f, info, opts)
	case decoderStage:
		m, err = l.decoder(f, info, opts)
	default:
		m, err = l.vqgan(f, info, opts)
	}
	if err != nil {
		return nil, err
	}
	// The stages add components to info after the model copied it.
	m.Info = *info
	return m, nil
}

// prior assembles stage C.
func (l loader) prior(f *modelfolder.Folder, info *adapters.Info, opts adapters.LoadOptions) (*adapters.Model, error) {
	// EfficientNet encodes images into the prior's latents, the
	// previewer decodes them.
	g, effnet, previewer, err := folder.Graphs(f, info, opts, "prior", "effnet", "previewer")
	if err != nil {
		return nil, err
	}
	info.Space = latent.StableCascadePrior()
	if c, ok := graph.Int(g.Config, "in_channels"); ok {
		info.Space.Channels = c
	} else if c, ok := graph.Dim(g.Input("sample"), 1); ok {
		info.Space.Channels = c
	}
	info.Channels = info.Space.Channels
	in := denoise.Inputs{
		Sample:   "sample",
		Timestep: "timestep_ratio",
		Context:  "clip_text",
		Pooled:   "clip_text_pooled",
		ClipImg:  g.FirstInput("clip_img"),
		Output:   g.FirstOutput(denoise.OutputNames...),
	}
	m, err := l.denoiser(f, info, opts, g, in, adapters.Size{Height: 1024, Width: 1024})
	if err != nil {
		return nil, err
	}
	if effnet != nil || previewer != nil {
		// Stable Cascade's previewer upsamples 8x; a folder may say
		// otherwise in previewer/config.json (coop_upscale).
		scale := 8
		if previewer != nil {
			if f, ok := graph.Int(previewer.Config, "coop_upscale"); ok && f > 0 {
				scale = f
			}
		}
		ae, err := vae.New(info.Space, effnet, previewer, vae.DecodeScale(scale))
		if err != nil {
			return nil, err
		}
		m.VAE = ae
		m.Own(ae)
	}
	return m, nil
}

// decoder assembles stage B with stage A as its autoencoder.
func (l loader) decoder(f *modelfolder.Folder, info *adapters.Info, opts adapters.LoadOptions) (*adapters.Model, error) {
	g, err := folder.Model(f, info, "decoder", opts, true)
	if err != nil {
		return nil, err
	}
	ae, err := l.stageA(f, info, opts)
	if err != nil {
		return nil, err
	}
	info.Channels = info.Space.Channels
	in := denoise.Inputs{
		Sample:   "sample",
		Timestep: "timestep_ratio",
		Context:  g.FirstInput("clip_text"),
		Pooled:   "clip_text_pooled",
		Effnet:   "effnet",
		Output:   g.FirstOutput(denoise.OutputNames...),
	}
	if err := checkEffnet(g); err != nil {
		return nil, err
	}
	m, err := l.denoiser(f, info, opts, g, in, adapters.Size{Height: 1024, Width: 1024})
	if err != nil {
		return nil, err
	}
	if ae != nil {
		m.VAE = ae
		m.Own(ae)
	}
	return m, nil
}

// vqgan assembles a folder holding stage A alone.
func (l loader) vqgan(f *modelfolder.Folder, info *adapters.Info, opts adapters.LoadOptions) (*adapters.Model, error) {
	ae, err := l.stageA(f, info, opts)
	if err != nil {
		return nil, err
	}
	if ae == nil {
		return nil, fmt.Errorf("model %q (%s): no vqgan/model.onnx", info.Name, f.Path)
	}
	info.Channels = info.Space.Channels
	m := &adapters.Model{Info: *info, VAE: ae}
	m.Own(ae)
	return m, nil
}

// stageA returns the VQGAN autoencoder, nil when the folder has no vqgan;
// it sets info.Space either way.
func (l loader) stageA(f *modelfolder.Folder, info *adapters.Info, opts adapters.LoadOptions) (*vae.Autoencoder, error) {
	dec, err := folder.Model(f, info, "vqgan", opts, l.stage == vqganStage)
	if err != nil {
		return nil, err
	}
	enc, err := folder.Model(f, info, "vqgan_encoder", opts, false)
	if err != nil {
		return nil, err
	}
	info.Space = vae.SpaceFromConfig(latent.StableCascadeStageA(), folder.Configs(enc, dec)...)
	if dec == nil && enc == nil {
		return nil, nil
	}
	return vae.New(info.Space, enc, dec)
}

func checkEffnet(g *graph.Model) error {
	v, err := g.Require("effnet", "a Stable Cascade decoder (stage B)")
	if err != nil {
		return err
	}
	return g.CheckRank(v, "input", 4)
}

// denoiser checks the shared inputs of stage B and C and assembles the
// denoiser and the text encoder.
func (l loader) denoiser(f *modelfolder.Folder, info *adapters.Info, opts adapters.LoadOptions, g *graph.Model, in denoise.Inputs, native adapters.Size) (*adapters.Model, error) {
	need := "a Stable Cascade " + string(info.Family)
	for _, name := range []string{in.Sample, in.Timestep, in.Pooled} {
		if _, err := g.Require(name, need); err != nil {
			return nil, err
		}
	}
	if l.stage == priorStage {
		if _, err := g.Require(in.Context, need); err != nil {
			return nil, err
		}
	}
	if v := g.Input(in.Timestep); graph.IsInteger(v.ElemType) {
		return nil, g.Errorf("input %s is %s; a timestep ratio in [0, 1] needs a float type", in.Timestep, graph.Describe(v))
	}
	pooled := g.Input(in.Pooled)
	if err := g.CheckRank(pooled, "input", 3); err != nil {
		return nil, err
	}
	if in.Context != "" {
		c := g.Input(in.Context)
		if err := g.CheckRank(c, "input", 3); err != nil {
			return nil, err
		}
		if w, ok := graph.LastDim(c); ok {
			info.ContextWidth = w
		}
		if n, ok := graph.Dim(c, 1); ok {
			info.ContextTokens = n
		}
	}
	known := map[string]bool{in.Sample: true, in.Timestep: true, in.Context: true, in.Pooled: true, in.ClipImg: true, in.Effnet: true}
	for i := range g.Sig.Inputs {
		if v := &g.Sig.Inputs[i]; !known[v.Name] {
			return nil, g.Errorf("input %s (%s) is not one coop knows how to feed to %s (known: sample, timestep_ratio, clip_text, clip_text_pooled, clip_img, effnet)", v.Name, graph.Describe(v), need)
		}
	}
	cos := info.Scheduler.Cosine
	if cos.S == 0 {
		cos = sampler.CascadeCosine()
	}
	// The prior's latents are ceil(H / 42.67); Native rounds the product
	// back to the pixel size they came from.
	info.Native = folder.Native(g, in.Sample, info.Space.Factor, native)
	info.FixedLatent = folder.FixedLatent(g, in.Sample)
	d, err := denoise.New(denoise.Config{
		Info: info, Graph: g, In: in,
		Schedule: cos, Time: cos.AbarToRatio, Prediction: sampler.Epsilon,
		UncondEffnetZero: true,
	})
	if err != nil {
		return nil, err
	}
	m := &adapters.Model{Info: *info, Denoiser: d}
	m.Own(d)

	te, err := folder.Model(f, info, "text_encoder", opts, false)
	if err != nil {
		return nil, err
	}
	if te == nil {
		return m, nil
	}
	cfg := textenc.Config{
		Parts:      []textenc.Part{{Graph: te, TokenizerDir: folder.Tokenizer(f, "text_encoder"), Pooled: true}},
		PooledRank: 3,
	}
	if info.ContextTokens > 0 {
		cfg.Windows = info.ContextTokens / 77
	}
	enc, err := textenc.New(cfg)
	if err != nil {
		return nil, err
	}
	if info.ContextWidth != 0 && enc.Width() != info.ContextWidth {
		return nil, fmt.Errorf("model %q: the text encoder gives embeddings of width %d, the %s takes clip_text of width %d", info.Name, enc.Width(), info.Family, info.ContextWidth)
	}
	if w, ok := graph.LastDim(pooled); ok && enc.PooledWidth() != w {
		return nil, fmt.Errorf("model %q: the text encoder's pooled embedding has width %d, the %s takes clip_text_pooled of width %d", info.Name, enc.PooledWidth(), info.Family, w)
	}
	m.Text = enc
	m.Own(enc)
	return m, nil
}
