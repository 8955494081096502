package adapters

import (
	"context"

	"github.com/coop-diffusion/coop/coop/sampler"
	"github.com/coop-diffusion/coop/latent"
)

// Family names a kind of model folder. The engine never branches on it:
// everything family-specific lives behind the interfaces below.
type Family string

const (
	SD1            Family = "sd1"             // Stable Diffusion 1.x: context 768, epsilon
	SD2            Family = "sd2"             // Stable Diffusion 2.x: context 1024, epsilon or v
	SDXL           Family = "sdxl"            // SDXL base: context 2048, text_embeds, time_ids of 6
	SDXLRefiner    Family = "sdxl-refiner"    // SDXL refiner: context 1280, time_ids of 5
	CascadePrior   Family = "cascade-prior"   // Stable Cascade stage C
	CascadeDecoder Family = "cascade-decoder" // Stable Cascade stage B (+ stage A)
	ControlNet     Family = "controlnet"      // a split ControlNet folder
	Generic        Family = "generic"         // any ONNX denoiser described by a manifest
)

// Prompt is the text a participant is conditioned on.
type Prompt struct {
	Positive string
	Negative string
	// ZeroNegative makes an empty negative prompt all-zero embeddings
	// (SDXL's force_zeros_for_empty_prompt) instead of encoding "".
	ZeroNegative bool
	// ClipSkip > 0 takes the hidden state that many layers before the last.
	ClipSkip int
	// Truncate selects diffusers' behaviour (cut at 77 tokens) instead of
	// the default long-prompt windows of AUTOMATIC1111 and ComfyUI.
	Truncate bool
}

// Embeddings are a text encoder's outputs for one prompt, already in the
// form the family's denoiser takes. They are not modified once made:
// denoisers keep them in their batch buffers from one prediction to the
// next and copy them again only when a request brings other tensors.
type Embeddings struct {
	// Hidden is [1, T, W]: encoder_hidden_states, or clip_text for Cascade.
	Hidden *latent.Tensor
	// Pooled is [1, P] (SDXL text_embeds) or [1, 1, P] (Cascade
	// clip_text_pooled); nil for families without one.
	Pooled *latent.Tensor
}

// Conditioning is everything prompt-derived that a denoiser needs, prepared
// once per run.
type Conditioning struct {
	Cond, Uncond Embeddings
	// Guidance is the classifier-free guidance scale w; with w <= 1 only
	// the conditional prediction is computed (Cascade's rule, and a saving
	// everywhere since w = 1 is the conditional prediction).
	Guidance float64
}

// Control is one ControlNet acting on a prediction.
type Control struct {
	Net ControlNetModel
	// Image is the control image [1, 3, H, W] in [0, 1] at the pixel size of
	// the denoiser's latent. It is not modified once given: denoisers keep
	// it in their batch buffers from one prediction to the next.
	Image *latent.Tensor
	Scale float64
}

// Request is one noise prediction.
type Request struct {
	// Latent is the variance-preserving latent z in the model's own space,
	// [1, C, h, w].
	Latent *latent.Tensor
	// Abar is the noise level: z = sqrt(Abar) x0 + sqrt(1-Abar) eps.
	Abar float64
	Cond *Conditioning
	// Controls active at this step; nil when none.
	Controls []Control
	// Effnet is Stable Cascade stage B's image conditioning (stage C's
	// result); nil for other families.
	Effnet *latent.Tensor
	// Height and Width are the image size in pixels, for SDXL's time_ids.
	Height, Width int
}

// Denoiser predicts noise in its own latent space.
type Denoiser interface {
	// Name is the model's name in the recipe, for messages.
	Name() string
	Family() Family
	// Schedule maps the engine's noise level to the graph's time input.
	Schedule() sampler.Schedule
	// Channels is the latent channel count the graph takes.
	Channels() int
	// Predict writes the guided epsilon prediction for req into eps, which
	// has req.Latent's shape. Classifier-free guidance runs as one batch of
	// two when the graph's batch axis is dynamic, as two calls otherwise.
	Predict(ctx context.Context, req *Request, eps *latent.Tensor) error
	// Calls is the number of graph evaluations so far (a guided prediction
	// in one batch counts once).
	Calls() int
}

// ControlNetModel turns a control image into residuals for a denoiser.
// Split ControlNets are separate graphs whose outputs feed extra unet
// inputs; fused ones are inputs of the unet graph itself. Either way the
// denoiser drives it: the engine only attaches controls to requests.
type ControlNetModel interface {
	Name() string
	// Fused reports whether the control is an input of the unet graph.
	Fused() bool
}

// Autoencoder maps between pixels and a latent space. Pixels are always
// [1, 3, H, W] in [0, 1] at this interface; the adapter converts to the
// range its graphs use and applies the space's scaling outside the graphs.
// (RawPixels adds methods that skip the conversion.)
type Autoencoder interface {
	Space() latent.Space
	// Encode writes the scaled latent of pixels into dst ([1, C, h, w]).
	// Encoders that return latent_parameters are sampled with the seeded
	// noise of the run, or their mean when deterministic encoding is asked.
	Encode(ctx context.Context, pixels, dst *latent.Tensor) error
	// Decode writes the pixels of a scaled latent into dst.
	Decode(ctx context.Context, lat, dst *latent.Tensor) error
}

// RawPixels is an Autoencoder that also reads and writes pixels in the
// range its graphs use, Space().PixelRange, instead of [0, 1]. A pixel
// bridge (decode with one autoencoder, resize, encode with another) uses it
// to skip the conversions to [0, 1] and back, and to let the encoder read
// the bridge's buffer in place: on 512 px images these passes cost as much
// as the fixture autoencoders themselves.
type RawPixels interface {
	Autoencoder
	// EncodeRaw is Encode of pixels in Space().PixelRange. It does not
	// modify pixels.
	EncodeRaw(ctx context.Context, pixels, dst *latent.Tensor) error
	// DecodeRaw is Decode, writing pixels in Space().PixelRange.
	DecodeRaw(ctx context.Context, lat, dst *latent.Tensor) error
}

// TextEncoder turns prompts into a family's conditioning.
type TextEncoder interface {
	Encode(ctx context.Context, p Prompt) (*Conditioning, error)
}
