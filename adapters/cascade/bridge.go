package cascade

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/coop-diffusion/coop/adapters"
	"github.com/coop-diffusion/coop/coop/sampler"
	"github.com/coop-diffusion/coop/latent"
)

// DefaultBridgeSteps is the number of stage B steps a Bridge runs per
// decode when BridgeOptions gives none: Stable Cascade's decoder default.
const DefaultBridgeSteps = 10

// BridgeSampler is the sampler of a Bridge's stage B loop: Stable
// Cascade's DDPM on the decoder folder's cosine schedule.
const BridgeSampler = "ddpm_wuerstchen"

// BridgeOptions configures NewBridge.
type BridgeOptions struct {
	// Steps is the number of stage B steps per decode; 0 means
	// DefaultBridgeSteps.
	Steps int
	// Seed selects the fixed noise streams of the stage B loop (its
	// starting noise and the sampler's fresh noise). Every decode uses the
	// same streams, whatever the run's seed, so that decoding is a
	// function of the latent alone.
	Seed uint64
}

// Bridge is an autoencoder of a Stable Cascade prior's 16-channel space
// that decodes at full quality: Decode runs stage B, the decoder model's
// denoiser, conditioned on the latent (effnet), for a short sampling loop
// of its own, then stage A, the decoder model's VQGAN, on stage B's
// result. Encode is the prior's EfficientNet encoder. The engine uses it
// as the prior's autoencoder wherever it carries a prior's latents into
// pixels: bridges to other participants, renoise entries and the final
// image. It costs Steps evaluations of stage B per decode, against one
// previewer evaluation for the prior's own autoencoder.
//
// The loop is guidance-free (Stable Cascade's decoder default) and
// conditioned on the empty prompt: a decode depends on the latent alone,
// never on the run's prompt, so the bridge carries what the prior
// predicted and not the prompt once more. Its noise comes from fixed
// streams (BridgeOptions.Seed), so the same latent always decodes to the
// same pixels. Stage B's latent is the stage A space's latent of the
// destination's pixel size, which is how Stable Cascade sizes it.
//
// Bridge shares the sessions of the models it is built from and closes
// none: their owners (the adapters.Model values) do. Decodes are
// serialised and reuse their buffers across calls; Encode is the prior
// autoencoder's, which serialises its own calls.
type Bridge struct {
	enc     adapters.Autoencoder // the prior's: EfficientNet (and the previewer, unused)
	stageB  adapters.Denoiser
	stageA  adapters.Autoencoder
	text    adapters.TextEncoder
	space   latent.Space // the prior's
	decoder string       // the decoder model's name
	steps   int

	mu    sync.Mutex
	smp   sampler.Sampler
	plan  *sampler.Plan
	init  *fixedNoise // the loop's starting noise; the sampler's is another
	cond  *adapters.Conditioning
	req   adapters.Request
	x     *latent.Tensor // the sampler's state
	z     *latent.Tensor // the model input
	eps   *latent.Tensor
	parts []any // the parts whose sessions OpenSessions opens and RuntimeStats reads
}

var (
	_ adapters.Autoencoder    = (*Bridge)(nil)
	_ adapters.Timed          = (*Bridge)(nil)
	_ adapters.SampledEncoder = (*Bridge)(nil)
)

// CheckBridge checks, from what Check learned of two model folders, that
// prior can be decoded through decoder: prior is a Stable Cascade prior
// (cascade-prior), decoder a Stable Cascade decoder (cascade-decoder)
// whose folder holds stage A (vqgan/), and one of the two has a text
// encoder for stage B's pooled text conditioning.
func CheckBridge(prior, decoder *adapters.Info) error {
	if prior.Family != adapters.CascadePrior {
		return fmt.Errorf("model %q is a %s model; only a Stable Cascade prior (%s) decodes through a decoder's stage B and A", prior.Name, prior.Family, adapters.CascadePrior)
	}
	if decoder.Family != adapters.CascadeDecoder {
		return fmt.Errorf("model %q (%s) is a %s model, not a Stable Cascade decoder (%s): it has no stage B to decode model %q's latents with", decoder.Name, decoder.Dir, decoder.Family, adapters.CascadeDecoder, prior.Name)
	}
	if !hasComponent(decoder, "vqgan") {
		return fmt.Errorf("model %q (%s) has no stage A (vqgan/model.onnx) to turn stage B's latents into pixels", decoder.Name, decoder.Dir)
	}
	if !hasComponent(decoder, "text_encoder") && !hasComponent(prior, "text_encoder") {
		return fmt.Errorf("models %q and %q have no text encoder (text_encoder/model.onnx) for stage B's clip_text_pooled", decoder.Name, prior.Name)
	}
	return nil
}

func hasComponent(info *adapters.Info, role string) bool {
	for _, c := range info.Components {
		if c.Role == role {
			return true
		}
	}
	return false
}

// NewBridge returns the Bridge decoding prior's latents through decoder's
// stage B and stage A, both loaded (adapters.Load). Stage B's text
// conditioning comes from the decoder's text encoder, else the prior's
// (both are CLIP bigG in Stable Cascade). It opens no session: the parts
// open theirs on first use, or with OpenSessions.
func NewBridge(prior, decoder *adapters.Model, o BridgeOptions) (*Bridge, error) {
	if err := CheckBridge(&prior.Info, &decoder.Info); err != nil {
		return nil, err
	}
	if decoder.Denoiser == nil || decoder.VAE == nil {
		return nil, fmt.Errorf("model %q: a Stable Cascade decoder without stage B or stage A", decoder.Name)
	}
	if o.Steps < 0 {
		return nil, fmt.Errorf("model %q: %d stage B steps per decode", prior.Name, o.Steps)
	}
	steps := o.Steps
	if steps == 0 {
		steps = DefaultBridgeSteps
	}
	cfg := decoder.Scheduler
	cfg.Steps = steps
	if cfg.Cosine.S == 0 {
		cfg.Cosine = sampler.CascadeCosine()
	}
	name := fmt.Sprintf("cascade-bridge/%s/%s", prior.Name, decoder.Name)
	cfg.Noise = newFixedNoise(latent.NewStream(o.Seed, name+"/steps"))
	smp, err := sampler.New(BridgeSampler, cfg)
	if err != nil {
		return nil, fmt.Errorf("model %q: stage B's sampler for decoding model %q: %w", decoder.Name, prior.Name, err)
	}
	b := &Bridge{
		enc: prior.VAE, stageB: decoder.Denoiser, stageA: decoder.VAE, text: decoder.Text,
		space: prior.Space, decoder: decoder.Name, steps: steps,
		smp: smp, plan: smp.Plan(), init: newFixedNoise(latent.NewStream(o.Seed, name+"/init")),
	}
	if b.text == nil {
		b.text = prior.Text
	}
	if b.text == nil {
		return nil, fmt.Errorf("models %q and %q have no text encoder for stage B's clip_text_pooled", decoder.Name, prior.Name)
	}
	if b.enc != nil {
		b.space = b.enc.Space()
	}
	b.parts = []any{b.stageB, b.stageA, b.text, b.enc}
	return b, nil
}

// Space is the prior's latent space.
func (b *Bridge) Space() latent.Space { return b.space }

// Steps is the number of stage B steps per decode.
func (b *Bridge) Steps() int { return b.steps }

// Decoder is the recipe name of the model whose stage B and A decode.
func (b *Bridge) Decoder() string { return b.decoder }

// CallsPerDecode is the number of stage B graph evaluations each Decode
// adds to the decoder's Denoiser.Calls: one per step, since the loop runs
// without guidance.
func (b *Bridge) CallsPerDecode() int { return b.steps }

// Encode writes the prior-space latent of pixels into dst with the
// prior's EfficientNet encoder.
func (b *Bridge) Encode(ctx context.Context, pixels, dst *latent.Tensor) error {
	if b.enc == nil {
		return fmt.Errorf("cascade bridge: latent space %q has no encoder (effnet/model.onnx) in the prior's folder", b.space.Name)
	}
	return b.enc.Encode(ctx, pixels, dst)
}

// SetEncodeNoise passes src to the prior's encoder when it samples (see
// adapters.SampledEncoder).
func (b *Bridge) SetEncodeNoise(src sampler.NoiseSource) {
	if s, ok := b.enc.(adapters.SampledEncoder); ok {
		s.SetEncodeNoise(src)
	}
}

// Decode writes the [0, 1] pixels of the prior-space latent lat
// ([1, 16, h, w]) into dst ([1, 3, H, W]): stage B samples the stage A
// latent of an H x W image conditioned on lat, and stage A decodes it.
func (b *Bridge) Decode(ctx context.Context, lat, dst *latent.Tensor) error {
	if len(lat.Shape) != 4 || lat.N() != 1 || lat.C() != b.space.Channels {
		return fmt.Errorf("cascade bridge: decoding %v: want [1, %d, h, w] in latent space %q", lat, b.space.Channels, b.space.Name)
	}
	if len(dst.Shape) != 4 || dst.N() != 1 || dst.C() != 3 {
		return fmt.Errorf("cascade bridge: destination %v, want [1, 3, H, W]", dst)
	}
	sa := b.stageA.Space()
	h, w, err := sa.LatentSize(dst.H(), dst.W())
	if err != nil {
		return fmt.Errorf("cascade bridge: model %q: %w", b.decoder, err)
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.cond == nil {
		cond, err := b.text.Encode(ctx, adapters.Prompt{})
		if err != nil {
			return fmt.Errorf("cascade bridge: stage B's conditioning: %w", err)
		}
		cond.Guidance = 0
		b.cond = cond
	}
	if b.x == nil || b.x.C() != sa.Channels || b.x.H() != h || b.x.W() != w {
		b.x, b.z, b.eps = latent.New(1, sa.Channels, h, w), latent.New(1, sa.Channels, h, w), latent.New(1, sa.Channels, h, w)
	}
	b.init.FillSlice(b.x.Data, 0)
	if err := b.smp.Init(b.x, b.x); err != nil {
		return err
	}
	b.req = adapters.Request{Cond: b.cond, Effnet: lat, Height: dst.H(), Width: dst.W()}
	for i, st := range b.plan.Steps {
		if err := ctx.Err(); err != nil {
			return err
		}
		if err := b.smp.ModelInput(i, b.x, b.z); err != nil {
			return err
		}
		b.req.Latent, b.req.Abar = b.z, st.Abar
		if err := b.stageB.Predict(ctx, &b.req, b.eps); err != nil {
			return fmt.Errorf("cascade bridge: stage B step %d of %d: %w", i+1, b.steps, err)
		}
		if err := b.smp.Step(i, b.x, b.eps); err != nil {
			return err
		}
	}
	b.req.Effnet = nil // the caller's tensor: keep no reference
	if err := b.stageA.Decode(ctx, b.x, dst); err != nil {
		return fmt.Errorf("cascade bridge: stage A: %w", err)
	}
	return nil
}

// OpenSessions opens the sessions the bridge runs that are not open yet:
// stage B, the text encoder, stage A's decoder and the prior's encoder.
// Stage A's encoder and the prior's previewer stay closed where the
// autoencoders open one direction alone (adapters.OneWaySessions).
func (b *Bridge) OpenSessions() (time.Duration, error) {
	var total time.Duration
	for _, p := range b.parts {
		var open func() (time.Duration, error)
		oneWay, ok := p.(adapters.OneWaySessions)
		switch {
		case ok && p == any(b.stageA):
			open = oneWay.OpenDecoder
		case ok && p == any(b.enc):
			open = oneWay.OpenEncoder
		default:
			t, ok := p.(adapters.Timed)
			if !ok {
				continue
			}
			open = t.OpenSessions
		}
		d, err := open()
		total += d
		if err != nil {
			return total, err
		}
	}
	return total, nil
}

// RuntimeStats appends the stats of the parts' open sessions: the time a
// decode or encode spends inside ONNX Runtime is the difference of two
// readings.
func (b *Bridge) RuntimeStats(dst []adapters.GraphStats) []adapters.GraphStats {
	for _, p := range b.parts {
		if t, ok := p.(adapters.Timed); ok {
			dst = t.RuntimeStats(dst)
		}
	}
	return dst
}

// fixedNoise is a noise stream whose values a Bridge draws at every
// decode: it keeps each span it served (the starting noise, each step's
// noise) and copies it out again, rather than generating the same
// Gaussians once per decode, which costs as much as the fixture's stage B
// itself. It holds at most one span per step of the loop, as large as the
// stage B latent. Its callers hold the Bridge's lock.
type fixedNoise struct {
	src   latent.Noise
	spans map[uint64][]float32 // by first element
}

func newFixedNoise(src latent.Noise) *fixedNoise {
	return &fixedNoise{src: src, spans: map[uint64][]float32{}}
}

// FillSlice writes elements first .. first+len(dst)-1 of the stream.
func (f *fixedNoise) FillSlice(dst []float32, first uint64) {
	span := f.spans[first]
	if len(span) != len(dst) {
		span = make([]float32, len(dst))
		f.src.FillSlice(span, first)
		f.spans[first] = span
	}
	copy(dst, span)
}
