package vae

import (
	"context"
	"fmt"
	"math"
	"sync"

	"github.com/coop-diffusion/coop/adapters"
	"github.com/coop-diffusion/coop/adapters/internal/graph"
	"github.com/coop-diffusion/coop/coop/sampler"
	"github.com/coop-diffusion/coop/internal/f32"
	"github.com/coop-diffusion/coop/internal/ort"
	"github.com/coop-diffusion/coop/latent"
)

// Names the graphs use in diffusers / optimum exports, in order of
// preference; a graph with a single input or output is taken whatever its
// names.
var (
	encoderInputs  = []string{"sample", "pixel_values", "images", "image"}
	encoderOutputs = []string{"latent_parameters", "latent_sample", "latent", "latents", "image_embeds"}
	decoderInputs  = []string{"latent_sample", "latent", "latents", "sample"}
	decoderOutputs = []string{"sample", "images", "image"}
)

// Autoencoder maps between [0, 1] pixels and scaled latents of a space
// through an encoder graph, a decoder graph, or both. It is safe for
// concurrent use; calls are serialised since they share buffers.
type Autoencoder struct {
	space    latent.Space
	enc, dec *graph.Model

	encIn, encOut string
	params        bool // the encoder returns mean and log-variance
	decIn, decOut string

	mu    sync.Mutex
	noise sampler.NoiseSource
	draws uint64

	// decodeScale is the decoder's output pixels per latent pixel when
	// the graph does not declare it, 0 for the destination's size.
	decodeScale int

	pix, raw, eps *latent.Tensor // encoder buffers
	mean          latent.Tensor  // a view of raw's mean half
	lat, out      *latent.Tensor // decoder buffers

	// The graphs' input and output maps, reused by every call.
	encInputs, decInputs   map[string]ort.Input
	encOutputs, decOutputs map[string]*latent.Tensor
	// decoded is the decoder's output shape for latents of size
	// decodedFor (see decodedShape).
	decoded      []int
	decodedFor   [2]int
	decodedKnown bool
}

// Option configures New.
type Option func(*Autoencoder)

// DecodeScale says that the decoder makes f pixels of every latent pixel
// whatever the space's factor, for decoders whose output size the graph
// leaves symbolic and which do not restore the encoded size (Stable
// Cascade's previewer makes 8 pixels of each stage C latent pixel); Decode
// resizes their output to the destination.
func DecodeScale(f int) Option { return func(a *Autoencoder) { a.decodeScale = f } }

var (
	_ adapters.Autoencoder    = (*Autoencoder)(nil)
	_ adapters.RawPixels      = (*Autoencoder)(nil)
	_ adapters.SampledEncoder = (*Autoencoder)(nil)
	_ adapters.OneWay         = (*Autoencoder)(nil)
)

// New checks the graphs' signatures against the space (see Check) and
// returns the autoencoder. Either graph may be nil; the missing direction
// then fails with an error naming it.
func New(space latent.Space, enc, dec *graph.Model, opts ...Option) (*Autoencoder, error) {
	a := &Autoencoder{space: space, enc: enc, dec: dec}
	for _, o := range opts {
		o(a)
	}
	if err := a.check(); err != nil {
		return nil, err
	}
	return a, nil
}

func (a *Autoencoder) check() error {
	if err := a.space.Validate(); err != nil {
		return err
	}
	c := a.space.Channels
	if a.enc == nil && a.dec == nil {
		return fmt.Errorf("vae: no encoder and no decoder for latent space %q", a.space.Name)
	}
	if m := a.enc; m != nil {
		if a.encIn = m.FirstInput(encoderInputs...); a.encIn == "" && len(m.Sig.Inputs) == 1 {
			a.encIn = m.Sig.Inputs[0].Name
		}
		if a.encIn == "" || len(m.Sig.Inputs) != 1 {
			return m.Errorf("an encoder takes one image input (sample); the graph's inputs are %s", graph.List(m.Sig.Inputs))
		}
		in := m.Input(a.encIn)
		if err := m.CheckRank(in, "input", 4); err != nil {
			return err
		}
		if err := m.CheckDim(in, "input", 1, 3, "the channel count (RGB)"); err != nil {
			return err
		}
		if a.encOut = m.FirstOutput(encoderOutputs...); a.encOut == "" {
			return m.Errorf("an encoder has output latent_parameters or latent_sample; the graph's outputs are %s", graph.List(m.Sig.Outputs))
		}
		out := m.Output(a.encOut)
		if err := m.CheckRank(out, "output", 4); err != nil {
			return err
		}
		got, fixed := graph.Dim(out, 1)
		switch {
		case a.encOut == "latent_parameters":
			a.params = true
			if err := m.CheckDim(out, "output", 1, 2*c, fmt.Sprintf("the channel count (mean and log-variance of %d latent channels)", c)); err != nil {
				return err
			}
		case fixed && got == 2*c && c > 0:
			a.params = true
		default:
			if err := m.CheckDim(out, "output", 1, c, fmt.Sprintf("the latent channel count of space %q", a.space.Name)); err != nil {
				return err
			}
		}
	}
	if m := a.dec; m != nil {
		if a.decIn = m.FirstInput(decoderInputs...); a.decIn == "" && len(m.Sig.Inputs) == 1 {
			a.decIn = m.Sig.Inputs[0].Name
		}
		if a.decIn == "" || len(m.Sig.Inputs) != 1 {
			return m.Errorf("a decoder takes one latent input (latent_sample); the graph's inputs are %s", graph.List(m.Sig.Inputs))
		}
		in := m.Input(a.decIn)
		if err := m.CheckRank(in, "input", 4); err != nil {
			return err
		}
		if err := m.CheckDim(in, "input", 1, c, fmt.Sprintf("the latent channel count of space %q", a.space.Name)); err != nil {
			return err
		}
		if a.decOut = m.FirstOutput(decoderOutputs...); a.decOut == "" {
			return m.Errorf("a decoder has an image output (sample); the graph's outputs are %s", graph.List(m.Sig.Outputs))
		}
		out := m.Output(a.decOut)
		if err := m.CheckRank(out, "output", 4); err != nil {
			return err
		}
		if err := m.CheckDim(out, "output", 1, 3, "the channel count (RGB)"); err != nil {
			return err
		}
	}
	return nil
}

// Space returns the latent space.
func (a *Autoencoder) Space() latent.Space { return a.space }

// CanEncode reports whether the folder had an encoder graph, CanDecode
// whether it had a decoder graph (adapters.OneWay).
func (a *Autoencoder) CanEncode() bool { return a.enc != nil }
func (a *Autoencoder) CanDecode() bool { return a.dec != nil }

// Params reports whether the encoder returns latent_parameters.
func (a *Autoencoder) Params() bool { return a.params }

// SetEncodeNoise makes the encoder sample (see adapters.SampledEncoder).
func (a *Autoencoder) SetEncodeNoise(src sampler.NoiseSource) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.noise, a.draws = src, 0
}

// Close releases both graphs' sessions.
func (a *Autoencoder) Close() error {
	var err error
	for _, m := range []*graph.Model{a.enc, a.dec} {
		if m != nil {
			if e := m.Close(); e != nil && err == nil {
				err = e
			}
		}
	}
	return err
}

func checkImage(t *latent.Tensor, what string) error {
	if len(t.Shape) != 4 || t.N() != 1 || t.C() != 3 {
		return fmt.Errorf("vae: %s %v, want [1, 3, H, W]", what, t)
	}
	return nil
}

// Encode writes the scaled latent of pixels ([1, 3, H, W] in [0, 1]) into
// dst ([1, C, h, w] with h, w the space's latent size of H, W).
func (a *Autoencoder) Encode(ctx context.Context, pixels, dst *latent.Tensor) error {
	return a.encode(ctx, pixels, dst, false)
}

// EncodeRaw is Encode of pixels in the space's PixelRange (see
// adapters.RawPixels). The encoder reads pixels in place.
func (a *Autoencoder) EncodeRaw(ctx context.Context, pixels, dst *latent.Tensor) error {
	return a.encode(ctx, pixels, dst, true)
}

func (a *Autoencoder) encode(ctx context.Context, pixels, dst *latent.Tensor, raw bool) error {
	if a.enc == nil {
		return fmt.Errorf("vae: latent space %q has no encoder in this model folder", a.space.Name)
	}
	if err := checkImage(pixels, "pixels"); err != nil {
		return err
	}
	h, w, err := a.space.LatentSize(pixels.H(), pixels.W())
	if err != nil {
		return err
	}
	c := a.space.Channels
	if len(dst.Shape) != 4 || dst.N() != 1 || dst.C() != c || dst.H() != h || dst.W() != w {
		return fmt.Errorf("vae: encoding %v into %v: want [1, %d, %d, %d] in latent space %q", pixels, dst, c, h, w, a.space.Name)
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	in := pixels
	if !raw && a.space.PixelRange == latent.MinusOneToOne {
		// Convert while copying: one pass, the same values as
		// latent.ToSignedRange.
		a.pix = graph.Reuse(a.pix, pixels.Shape...)
		f32.MulAdd(a.pix.Data, pixels.Data, 2, -1)
		in = a.pix
	}
	out := dst
	if a.params {
		a.raw = graph.Reuse(a.raw, 1, 2*c, h, w)
		out = a.raw
	}
	if a.encInputs == nil {
		a.encInputs, a.encOutputs = map[string]ort.Input{}, map[string]*latent.Tensor{}
	}
	a.encInputs[a.encIn], a.encOutputs[a.encOut] = ort.Float(in), out
	err = a.enc.Run(ctx, a.encInputs, a.encOutputs)
	if err != nil {
		return err
	}
	if a.params {
		plane := c * h * w
		mean, logvar := a.raw.Data[:plane], a.raw.Data[plane:]
		if a.noise == nil {
			// The mean is the latent: scale it out of the encoder's
			// buffer in one pass.
			a.mean.Shape, a.mean.Data = dst.Shape, mean
			return a.space.ToLatentInto(dst, &a.mean)
		}
		a.eps = graph.Reuse(a.eps, plane)
		a.noise.FillSlice(a.eps.Data, a.draws*sampler.NoiseStride)
		a.draws++
		for i, m := range mean {
			lv := math.Min(math.Max(float64(logvar[i]), -30), 20)
			dst.Data[i] = float32(float64(m) + math.Exp(lv/2)*float64(a.eps.Data[i]))
		}
	}
	return a.space.ToLatent(dst)
}

// Decode writes the [0, 1] pixels of a scaled latent ([1, C, h, w]) into
// dst ([1, 3, H, W]). Values are not clamped. A decoder whose output has
// another size than dst (Stable Cascade's previewer) is resized to it
// bilinearly: see DecodeScale.
func (a *Autoencoder) Decode(ctx context.Context, lat, dst *latent.Tensor) error {
	return a.decode(ctx, lat, dst, false)
}

// DecodeRaw is Decode without the conversion to [0, 1]: it writes pixels
// in the space's PixelRange (see adapters.RawPixels).
func (a *Autoencoder) DecodeRaw(ctx context.Context, lat, dst *latent.Tensor) error {
	return a.decode(ctx, lat, dst, true)
}

// decodedShape is the decoder's output shape for latents of lat's size
// (a.decInputs set to one): the graph's, else DecodeScale's, else nil
// (the destination's). It is worked out once per latent size.
func (a *Autoencoder) decodedShape(lat *latent.Tensor) []int {
	size := [2]int{lat.H(), lat.W()}
	if a.decodedFor == size && a.decodedKnown {
		return a.decoded
	}
	shape, err := a.dec.OutputShape(a.decOut, a.decInputs)
	if (err != nil || len(shape) != 4) && a.decodeScale > 0 {
		shape, err = []int{1, 3, lat.H() * a.decodeScale, lat.W() * a.decodeScale}, nil
	}
	if err != nil {
		shape = nil
	}
	a.decodedFor, a.decoded, a.decodedKnown = size, shape, true
	return shape
}

func (a *Autoencoder) decode(ctx context.Context, lat, dst *latent.Tensor, raw bool) error {
	if a.dec == nil {
		return fmt.Errorf("vae: latent space %q has no decoder in this model folder", a.space.Name)
	}
	if err := checkImage(dst, "destination"); err != nil {
		return err
	}
	if len(lat.Shape) != 4 || lat.N() != 1 || lat.C() != a.space.Channels {
		return fmt.Errorf("vae: decoding %v: want [1, %d, h, w] in latent space %q", lat, a.space.Channels, a.space.Name)
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	a.lat = graph.Reuse(a.lat, lat.Shape...)
	if err := a.space.FromLatentInto(a.lat, lat); err != nil {
		return err
	}
	if a.decInputs == nil {
		a.decInputs, a.decOutputs = map[string]ort.Input{}, map[string]*latent.Tensor{}
	}
	a.decInputs[a.decIn] = ort.Float(a.lat)
	out := dst
	if shape := a.decodedShape(lat); len(shape) == 4 && (shape[0] != 1 || shape[1] != 3 || shape[2] != dst.H() || shape[3] != dst.W()) {
		a.out = graph.Reuse(a.out, shape...)
		out = a.out
	}
	a.decOutputs[a.decOut] = out
	if err := a.dec.Run(ctx, a.decInputs, a.decOutputs); err != nil {
		return err
	}
	if !raw {
		a.space.ModelToPixels(out)
	}
	if out != dst {
		if out.N() != 1 || out.C() != 3 {
			return a.dec.Errorf("output %s is %v, want one RGB image", a.decOut, out)
		}
		return latent.Resize(dst, out, latent.Bilinear)
	}
	return nil
}
