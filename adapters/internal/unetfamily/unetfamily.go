package unetfamily

import (
	"fmt"

	"github.com/coop-diffusion/coop/adapters"
	"github.com/coop-diffusion/coop/adapters/controlnet"
	"github.com/coop-diffusion/coop/adapters/internal/denoise"
	"github.com/coop-diffusion/coop/adapters/internal/folder"
	"github.com/coop-diffusion/coop/adapters/internal/graph"
	"github.com/coop-diffusion/coop/adapters/textenc"
	"github.com/coop-diffusion/coop/adapters/vae"
	"github.com/coop-diffusion/coop/coop/sampler"
	"github.com/coop-diffusion/coop/internal/modelfolder"
	"github.com/coop-diffusion/coop/latent"
)

// Encoder is one text encoder of a family: the folder it lives in, the
// layer it contributes and whether it gives the pooled embedding.
type Encoder struct {
	Role   string // "text_encoder", "text_encoder_2"
	Depth  int    // 0: last_hidden_state; k: hidden_states[-k]
	Pooled bool
}

// Spec is what distinguishes one SD-style family from another.
type Spec struct {
	Family adapters.Family
	// About names the family in messages ("SD 1.x").
	About string
	// Space is the VAE's latent space before config.json adjusts it.
	Space latent.Space
	// ContextWidth is the encoder_hidden_states width the unet must take.
	ContextWidth int
	Encoders     []Encoder
	// Pooled is the width of text_embeds, 0 for families without it.
	Pooled int
	// TimeIDs is the width of time_ids (6 base, 5 refiner), 0 without.
	TimeIDs int
	// FillTimeIDs writes a request's time_ids row.
	FillTimeIDs func(req *adapters.Request, uncond bool, row []float32)
	// ZeroNegative is the default of force_zeros_for_empty_prompt when
	// model_index.json does not set it.
	ZeroNegative bool
	// Native is the training resolution when neither the graph nor
	// config.json tells it.
	Native adapters.Size
	// NativeV, when set, is the native size of v-prediction models of the
	// family (SD 2.x 768-v).
	NativeV adapters.Size
}

// Loader returns the adapters.Loader of the family s describes.
func Loader(s Spec) adapters.Loader { return folder.Loader(loader{s}.assemble) }

// loader assembles the models of one family.
type loader struct{ Spec Spec }

func (l loader) assemble(f *modelfolder.Folder, info *adapters.Info, opts adapters.LoadOptions) (*adapters.Model, error) {
	s := l.Spec
	info.Components = nil
	unet, enc, dec, err := folder.Graphs(f, info, opts, "unet", "vae_encoder", "vae_decoder")
	if err != nil {
		return nil, err
	}
	info.Space = vae.SpaceFromConfig(s.Space, folder.Configs(enc, dec)...)
	info.Channels = info.Space.Channels
	if info.Scheduler, err = folder.Scheduler(f, info, sampler.DefaultConfig()); err != nil {
		return nil, err
	}

	in := denoise.UnetInputs(unet)
	if err := l.checkUnet(unet, in, info); err != nil {
		return nil, err
	}
	arch, err := denoise.UnetControl(unet, info, in)
	if err != nil {
		return nil, err
	}
	sched, toTime, err := folder.DiscreteTime(info.Scheduler, unet.Input(in.Timestep))
	if err != nil {
		return nil, fmt.Errorf("model %q: scheduler: %w", info.Name, err)
	}
	native := s.Native
	if info.Scheduler.Prediction == sampler.VPrediction && s.NativeV.Height > 0 {
		native = s.NativeV
	}
	info.Native = folder.Native(unet, in.Sample, info.Space.Factor, native)
	info.FixedLatent = folder.FixedLatent(unet, in.Sample)

	d, err := denoise.New(denoise.Config{
		Info: info, Graph: unet, In: in,
		Schedule: sched, Time: toTime, Prediction: info.Scheduler.Prediction,
		TimeIDs: s.FillTimeIDs, Arch: arch,
	})
	if err != nil {
		return nil, err
	}
	m, err := NewModel(info, d, enc, dec)
	if err != nil {
		return nil, err
	}

	text, err := l.textEncoder(f, info, opts)
	if err != nil {
		return nil, err
	}
	if text != nil {
		m.Text = text
		m.Own(text)
	}
	m.Info = *info
	return m, nil
}

// checkUnet checks the unet's conditioning inputs against the family.
func (l loader) checkUnet(g *graph.Model, in denoise.Inputs, info *adapters.Info) error {
	s := l.Spec
	need := s.About + " unet"
	if in.Sample == "" {
		_, err := g.Require("sample", need)
		return err
	}
	if in.Timestep == "" {
		_, err := g.Require("timestep", need)
		return err
	}
	ctx, err := g.Require("encoder_hidden_states", need)
	if err != nil {
		return err
	}
	if err := g.CheckRank(ctx, "input", 3); err != nil {
		return err
	}
	if w, ok := graph.LastDim(ctx); ok && w != s.ContextWidth {
		return g.Errorf("input encoder_hidden_states is %s: its width is %d, %s needs %d%s",
			graph.Describe(ctx), w, s.About, s.ContextWidth, widthHint(w))
	}
	info.ContextWidth = s.ContextWidth
	if n, ok := graph.Dim(ctx, 1); ok {
		info.ContextTokens = n
	}
	if s.Pooled > 0 {
		v, err := g.Require("text_embeds", need)
		if err != nil {
			return err
		}
		if err := g.CheckRank(v, "input", 2); err != nil {
			return err
		}
		if err := g.CheckDim(v, "input", 1, s.Pooled, "the pooled text embedding width"); err != nil {
			return err
		}
	} else if in.Pooled != "" {
		return g.Errorf("the graph takes text_embeds, which an %s unet does not (an SDXL unet?)", s.About)
	}
	if s.TimeIDs > 0 {
		v, err := g.Require("time_ids", need)
		if err != nil {
			return err
		}
		if err := g.CheckRank(v, "input", 2); err != nil {
			return err
		}
		if w, ok := graph.LastDim(v); ok && w != s.TimeIDs {
			return g.Errorf("input time_ids is %s: its width is %d, %s needs %d%s", graph.Describe(v), w, s.About, s.TimeIDs, timeIDsHint(w))
		}
	} else if in.TimeIDs != "" {
		return g.Errorf("the graph takes time_ids, which an %s unet does not (an SDXL unet?)", s.About)
	}
	return checkExtraInputs(g, in)
}

// checkExtraInputs fails on an input that is neither a role of in nor a
// ControlNet residual: coop would not know what to feed it.
func checkExtraInputs(g *graph.Model, in denoise.Inputs) error {
	ports, err := controlnet.Ports(g.Sig.Inputs)
	if err != nil {
		return g.Errorf("%v", err)
	}
	known := map[string]bool{in.Sample: true, in.Timestep: true, in.Context: true, in.Pooled: true, in.TimeIDs: true, in.ControlImages: true, in.ControlScales: true}
	for _, r := range ports.Down {
		known[r.Name] = true
	}
	if ports.Mid != nil {
		known[ports.Mid.Name] = true
	}
	for i := range g.Sig.Inputs {
		if v := &g.Sig.Inputs[i]; !known[v.Name] {
			return g.Errorf("input %s (%s) is not one coop knows how to feed (known: sample, timestep, encoder_hidden_states, text_embeds, time_ids, ControlNet residuals and fused control images and scales)", v.Name, graph.Describe(v))
		}
	}
	return nil
}

// textEncoder assembles the family's text encoders; nil when the folder
// has none of them (a unet alone).
func (l loader) textEncoder(f *modelfolder.Folder, info *adapters.Info, opts adapters.LoadOptions) (*textenc.Encoder, error) {
	s := l.Spec
	var parts []textenc.Part
	for _, e := range s.Encoders {
		g, err := folder.Model(f, info, e.Role, opts, !f.SingleFile)
		if err != nil {
			return nil, err
		}
		if g == nil {
			return nil, nil
		}
		parts = append(parts, textenc.Part{Graph: g, TokenizerDir: folder.Tokenizer(f, e.Role), Depth: e.Depth, Pooled: e.Pooled})
	}
	zero := s.ZeroNegative
	if v, ok := folder.IndexBool(f, "force_zeros_for_empty_prompt"); ok {
		zero = v
	}
	cfg := textenc.Config{Parts: parts, ZeroNegative: zero}
	if s.Pooled > 0 {
		cfg.PooledRank = 2
	}
	if info.ContextTokens > 0 {
		cfg.Windows = info.ContextTokens / 77
		if cfg.Windows*77 != info.ContextTokens {
			return nil, fmt.Errorf("model %q: the unet's encoder_hidden_states has %d tokens, not a multiple of 77", info.Name, info.ContextTokens)
		}
	}
	te, err := textenc.New(cfg)
	if err != nil {
		return nil, err
	}
	if te.Width() != s.ContextWidth {
		return nil, fmt.Errorf("model %q: the text encoders give embeddings of width %d, the %s unet takes %d", info.Name, te.Width(), s.About, s.ContextWidth)
	}
	if s.Pooled > 0 && te.PooledWidth() != s.Pooled {
		return nil, fmt.Errorf("model %q: the text encoder's pooled embedding has width %d, the %s unet's text_embeds %d", info.Name, te.PooledWidth(), s.About, s.Pooled)
	}
	return te, nil
}

func widthHint(w int) string {
	switch w {
	case 768:
		return " (768 is SD 1.x)"
	case 1024:
		return " (1024 is SD 2.x)"
	case 2048:
		return " (2048 is SDXL base)"
	case 1280:
		return " (1280 is the SDXL refiner)"
	}
	return ""
}

func timeIDsHint(w int) string {
	switch w {
	case 6:
		return " (6 is SDXL base: original size, crop, target size)"
	case 5:
		return " (5 is the SDXL refiner: original size, crop, aesthetic score)"
	}
	return ""
}

// NewModel bundles a unet-style denoiser with the ControlNet slots fused
// into its graph and, when the folder has one, its SD-style autoencoder:
// the parts every unet-like loader (the SD families and generic manifests)
// assembles the same way. The text encoder is the caller's to add.
func NewModel(info *adapters.Info, d *denoise.Denoiser, enc, dec *graph.Model) (*adapters.Model, error) {
	m := &adapters.Model{Info: *info, Denoiser: d}
	m.Own(d)
	for i := range info.Control.Fused {
		m.Controls = append(m.Controls, controlnet.Slot{Model: info.Name, Index: i})
	}
	if enc != nil || dec != nil {
		ae, err := vae.New(info.Space, enc, dec)
		if err != nil {
			return nil, err
		}
		m.VAE = ae
		m.Own(ae)
	}
	return m, nil
}
