package latent

import (
	"fmt"
	"math"

	"github.com/coop-diffusion/coop/internal/f32"
)

// PixelRange is the value range an autoencoder reads and writes pixels in.
// The zero value is MinusOneToOne, the convention of the Stable Diffusion
// VAEs.
type PixelRange int

const (
	// MinusOneToOne: black is -1 and white is 1 (SD, SDXL VAEs).
	MinusOneToOne PixelRange = iota
	// ZeroToOne: black is 0 and white is 1 (Stable Cascade stage A).
	ZeroToOne
)

func (r PixelRange) String() string {
	switch r {
	case MinusOneToOne:
		return "[-1, 1]"
	case ZeroToOne:
		return "[0, 1]"
	}
	return fmt.Sprintf("PixelRange(%d)", int(r))
}

// Space describes the latent space of one autoencoder family: its shape
// relative to pixels and the affine map between the encoder's raw output z
// and the latents the diffusion model was trained on. See the package
// documentation for the exact convention.
type Space struct {
	// Name identifies the space in error messages, e.g. "sdxl".
	Name string
	// Channels is the number of latent channels.
	Channels int
	// Factor is the spatial downsampling factor from pixels to latents. It
	// may be fractional: Stable Cascade's stage C uses 42.67 (about 1024/24).
	Factor float64
	// ScalingFactor multiplies centred encoder output: 0.18215 for SD 1.x
	// and 2.x, 0.13025 for SDXL, 1/0.3764 for Stable Cascade stage A.
	ScalingFactor float64
	// ShiftFactor is subtracted from encoder output before scaling; zero for
	// the SD family.
	ShiftFactor float64
	// LatentsMean and LatentsStd, when set, give a per-channel
	// normalisation used instead of ShiftFactor:
	// latent = (z - mean[c]) * ScalingFactor / std[c]. Both or neither must
	// be set, each with Channels values.
	LatentsMean []float64
	LatentsStd  []float64
	// PixelRange is the range the autoencoder's images live in.
	PixelRange PixelRange
}

// StableDiffusion is the latent space of the SD 1.x and 2.x VAE.
func StableDiffusion() Space {
	return Space{Name: "sd", Channels: 4, Factor: 8, ScalingFactor: 0.18215}
}

// StableDiffusionXL is the latent space of the SDXL VAE (base and refiner).
func StableDiffusionXL() Space {
	return Space{Name: "sdxl", Channels: 4, Factor: 8, ScalingFactor: 0.13025}
}

// StableCascadePrior is the shape of Stable Cascade's stage C latents:
// 16 channels at ceil(H/42.67) x ceil(W/42.67), with no scaling, as in
// diffusers' StableCascadePriorPipeline. Its encoder (EfficientNet) reads
// images in [0, 1], normalising them itself.
func StableCascadePrior() Space {
	return Space{Name: "cascade-c", Channels: 16, Factor: 42.67, ScalingFactor: 1, PixelRange: ZeroToOne}
}

// StableCascadeStageA is the latent space of Stable Cascade's stage A VQGAN,
// in which stage B works: 4 channels at f = 4, multiplied by 0.3764 before
// decoding, images in [0, 1].
func StableCascadeStageA() Space {
	return Space{Name: "cascade-a", Channels: 4, Factor: 4, ScalingFactor: 1 / 0.3764, PixelRange: ZeroToOne}
}

func (s Space) label() string {
	if s.Name == "" {
		return "latent space"
	}
	return fmt.Sprintf("latent space %q", s.Name)
}

// Validate reports the first field of s that cannot describe a latent space.
func (s Space) Validate() error {
	finite := func(v float64) bool { return !math.IsNaN(v) && !math.IsInf(v, 0) }
	switch {
	case s.Channels <= 0:
		return fmt.Errorf("%s: Channels is %d, must be positive", s.label(), s.Channels)
	case !finite(s.Factor) || s.Factor <= 0:
		return fmt.Errorf("%s: Factor is %v, must be positive", s.label(), s.Factor)
	case !finite(s.ScalingFactor) || s.ScalingFactor <= 0:
		return fmt.Errorf("%s: ScalingFactor is %v, must be positive", s.label(), s.ScalingFactor)
	case !finite(s.ShiftFactor):
		return fmt.Errorf("%s: ShiftFactor is %v", s.label(), s.ShiftFactor)
	case s.PixelRange != MinusOneToOne && s.PixelRange != ZeroToOne:
		return fmt.Errorf("%s: unknown %v", s.label(), s.PixelRange)
	case (s.LatentsMean == nil) != (s.LatentsStd == nil):
		return fmt.Errorf("%s: LatentsMean and LatentsStd must be given together", s.label())
	}
	if s.LatentsMean == nil {
		return nil
	}
	if s.ShiftFactor != 0 {
		return fmt.Errorf("%s: both ShiftFactor and LatentsMean are set; use one", s.label())
	}
	if len(s.LatentsMean) != s.Channels || len(s.LatentsStd) != s.Channels {
		return fmt.Errorf("%s: LatentsMean has %d values and LatentsStd %d, want Channels = %d",
			s.label(), len(s.LatentsMean), len(s.LatentsStd), s.Channels)
	}
	for c := range s.Channels {
		if !finite(s.LatentsMean[c]) {
			return fmt.Errorf("%s: LatentsMean[%d] is %v", s.label(), c, s.LatentsMean[c])
		}
		if !finite(s.LatentsStd[c]) || s.LatentsStd[c] <= 0 {
			return fmt.Errorf("%s: LatentsStd[%d] is %v, must be positive", s.label(), c, s.LatentsStd[c])
		}
	}
	return nil
}

// IntegerFactor reports whether Factor is a whole number, in which case
// pixel sizes must be multiples of it.
func (s Space) IntegerFactor() bool { return s.Factor == math.Trunc(s.Factor) }

// LatentSize returns the latent height and width for an image of
// heightPx x widthPx pixels. With a whole-number Factor the pixel sizes must
// be multiples of it; with a fractional one the latent size is
// ceil(size / Factor), as Stable Cascade computes it.
func (s Space) LatentSize(heightPx, widthPx int) (h, w int, err error) {
	if err := s.Validate(); err != nil {
		return 0, 0, err
	}
	if heightPx <= 0 || widthPx <= 0 {
		return 0, 0, fmt.Errorf("%s: image size %dx%d (width x height) must be positive", s.label(), widthPx, heightPx)
	}
	if !s.IntegerFactor() {
		h = int(math.Ceil(float64(heightPx) / s.Factor))
		w = int(math.Ceil(float64(widthPx) / s.Factor))
		return h, w, nil
	}
	f := int(s.Factor)
	if heightPx%f != 0 {
		return 0, 0, fmt.Errorf("%s: image height %d is not a multiple of %d", s.label(), heightPx, f)
	}
	if widthPx%f != 0 {
		return 0, 0, fmt.Errorf("%s: image width %d is not a multiple of %d", s.label(), widthPx, f)
	}
	return heightPx / f, widthPx / f, nil
}

// checkLatent reports why t cannot be a latent of s.
func (s Space) checkLatent(t *Tensor, what string) error {
	if len(t.Shape) != 4 {
		return fmt.Errorf("%s: %s %v is not rank 4 (NCHW)", s.label(), what, t)
	}
	if t.C() != s.Channels {
		return fmt.Errorf("%s: %s %v has %d channels, want %d", s.label(), what, t, t.C(), s.Channels)
	}
	return nil
}

// ToLatent turns raw encoder output z into a diffusion latent in place:
// (z - shift) * scale, or (z - mean[c]) * scale / std[c] when LatentsMean is
// set. It allocates nothing on success.
func (s Space) ToLatent(raw *Tensor) error { return s.ToLatentInto(raw, raw) }

// ToLatentInto is ToLatent writing into dst, which must have raw's shape
// and may be raw: the copy out of an encoder's output buffer and the
// scaling in one pass.
func (s Space) ToLatentInto(dst, raw *Tensor) error {
	if err := s.checkAffine(dst, raw, "encoder output"); err != nil {
		return err
	}
	s.affine(dst, raw, true)
	return nil
}

// FromLatent turns a diffusion latent into decoder input in place:
// lat / scale + shift, or lat * std[c] / scale + mean[c]. It allocates
// nothing on success.
func (s Space) FromLatent(lat *Tensor) error { return s.FromLatentInto(lat, lat) }

// FromLatentInto is FromLatent writing into dst, which must have lat's
// shape and may be lat: the copy into a decoder's input buffer and the
// scaling in one pass.
func (s Space) FromLatentInto(dst, lat *Tensor) error {
	if err := s.checkAffine(dst, lat, "latent"); err != nil {
		return err
	}
	s.affine(dst, lat, false)
	return nil
}

// checkAffine reports why src (what it is) cannot be scaled into dst.
func (s Space) checkAffine(dst, src *Tensor, what string) error {
	if err := s.checkLatent(src, what); err != nil {
		return err
	}
	if !dst.SameShape(src) {
		return fmt.Errorf("%s: destination %v does not match %s %v", s.label(), dst, what, src)
	}
	return s.Validate()
}

// affine writes v -> (v - centre) * gain (toLatent) or v -> v / gain +
// centre of src into dst per channel, in float64 with one rounding per
// element (f32.AddMul and f32.DivAdd, bit for bit the scalar formulas).
func (s Space) affine(dst, src *Tensor, toLatent bool) {
	plane := src.H() * src.W()
	for n := range src.N() {
		for c := range src.C() {
			centre, gain := s.ShiftFactor, s.ScalingFactor
			if s.LatentsMean != nil {
				centre, gain = s.LatentsMean[c], s.ScalingFactor/s.LatentsStd[c]
			}
			off := (n*src.C() + c) * plane
			d, v := dst.Data[off:off+plane], src.Data[off:off+plane]
			if toLatent {
				f32.AddMul(d, v, -centre, gain)
			} else {
				f32.DivAdd(d, v, gain, centre)
			}
		}
	}
}

// PixelsToModel converts an image tensor from [0, 1] to the autoencoder's
// PixelRange in place, without clamping.
func (s Space) PixelsToModel(img *Tensor) {
	if s.PixelRange == MinusOneToOne {
		ToSignedRange(img)
	}
}

// ModelToPixels converts the autoencoder's output from its PixelRange to
// [0, 1] in place, without clamping (ToImage clamps).
func (s Space) ModelToPixels(img *Tensor) {
	if s.PixelRange == MinusOneToOne {
		ToUnitRange(img)
	}
}

// ToSignedRange maps values from [0, 1] to [-1, 1] in place: v -> 2v - 1.
func ToSignedRange(t *Tensor) { f32.MulAdd(t.Data, t.Data, 2, -1) }

// ToUnitRange maps values from [-1, 1] to [0, 1] in place: v -> (v + 1) / 2.
func ToUnitRange(t *Tensor) { f32.AddMul(t.Data, t.Data, 1, 0.5) }
