// Package cooptest provides pure-Go models for testing the engine without
// ONNX Runtime: a linear autoencoder and the exact denoiser of a finite data
// set, the same constructions as the ONNX fixture zoo at a size small enough
// for statistical tests over many runs.
package cooptest

import (
	"context"
	"fmt"
	"math"
	"strings"
	"sync/atomic"

	"github.com/coop-diffusion/coop/adapters"
	"github.com/coop-diffusion/coop/coop/sampler"
	"github.com/coop-diffusion/coop/latent"
)

// LinearVAE is a linear autoencoder: space-to-depth by Factor, then an
// orthonormal projection of each patch to Channels values (the decoder is
// its transpose), scaled so latents have about unit variance.
type LinearVAE struct {
	space latent.Space
	f     int
	basis [][]float64 // Channels x (3 f f), orthonormal rows
}

// NewLinearVAE builds an autoencoder with a seeded orthonormal basis whose
// first row is the patch mean (so flat images survive) .
func NewLinearVAE(name string, channels, factor int, scaling float64, seed uint64) *LinearVAE {
	d := 3 * factor * factor
	basis := make([][]float64, channels)
	noise := latent.NewStream(seed, "cooptest/vae/"+name)
	k := uint64(0)
	for c := range basis {
		v := make([]float64, d)
		for i := range v {
			if c == 0 {
				v[i] = 1
			} else {
				v[i] = float64(noise.At(k))
				k++
			}
		}
		for _, u := range basis[:c] {
			dot := 0.0
			for i := range v {
				dot += v[i] * u[i]
			}
			for i := range v {
				v[i] -= dot * u[i]
			}
		}
		norm := 0.0
		for _, x := range v {
			norm += x * x
		}
		norm = math.Sqrt(norm)
		for i := range v {
			v[i] /= norm
		}
		basis[c] = v
	}
	return &LinearVAE{space: latent.Space{Name: name, Channels: channels, Factor: float64(factor), ScalingFactor: scaling}, f: factor, basis: basis}
}

func (v *LinearVAE) Space() latent.Space { return v.space }

// Encode projects pixels ([0, 1]) to scaled latents.
func (v *LinearVAE) Encode(_ context.Context, pix, dst *latent.Tensor) error {
	h, w := pix.H()/v.f, pix.W()/v.f
	if dst.C() != len(v.basis) || dst.H() != h || dst.W() != w {
		return fmt.Errorf("cooptest: encode %v into %v", pix.Shape, dst.Shape)
	}
	for y := 0; y < h; y++ {
		for x := 0; x < w; x++ {
			for c, b := range v.basis {
				s, i := 0.0, 0
				for ch := 0; ch < 3; ch++ {
					for dy := 0; dy < v.f; dy++ {
						for dx := 0; dx < v.f; dx++ {
							s += b[i] * (2*float64(pix.At(0, ch, y*v.f+dy, x*v.f+dx)) - 1)
							i++
						}
					}
				}
				dst.Set(0, c, y, x, float32(s*v.space.ScalingFactor))
			}
		}
	}
	return nil
}

// Decode maps scaled latents back to pixels in [0, 1] (unclamped).
func (v *LinearVAE) Decode(_ context.Context, lat, dst *latent.Tensor) error {
	h, w := lat.H(), lat.W()
	if dst.H() != h*v.f || dst.W() != w*v.f || lat.C() != len(v.basis) {
		return fmt.Errorf("cooptest: decode %v into %v", lat.Shape, dst.Shape)
	}
	for y := 0; y < h; y++ {
		for x := 0; x < w; x++ {
			i := 0
			for ch := 0; ch < 3; ch++ {
				for dy := 0; dy < v.f; dy++ {
					for dx := 0; dx < v.f; dx++ {
						s := 0.0
						for c, b := range v.basis {
							s += b[i] * float64(lat.At(0, c, y, x)) / v.space.ScalingFactor
						}
						dst.Set(0, ch, y*v.f+dy, x*v.f+dx, float32((s+1)/2))
						i++
					}
				}
			}
		}
	}
	return nil
}

// ExactDenoiser predicts noise exactly for a data set of latents, with a
// logit bias per item from the prompt: the caption of item k is its
// keyword, and a prompt containing it adds Bias to item k's logit.
type ExactDenoiser struct {
	NameValue string
	Data      []*latent.Tensor
	Keywords  []string
	Bias      float64
	calls     atomic.Int64
}

func (d *ExactDenoiser) Name() string               { return d.NameValue }
func (d *ExactDenoiser) Family() adapters.Family    { return adapters.Generic }
func (d *ExactDenoiser) Schedule() sampler.Schedule { return nil }
func (d *ExactDenoiser) Channels() int              { return d.Data[0].C() }
func (d *ExactDenoiser) Calls() int                 { return int(d.calls.Load()) }

// Encode implements adapters.TextEncoder: the embeddings hold one logit
// bias per data item.
func (d *ExactDenoiser) Encode(_ context.Context, p adapters.Prompt) (*adapters.Conditioning, error) {
	bias := func(text string) adapters.Embeddings {
		t := latent.New(1, 1, len(d.Data))
		for k, kw := range d.Keywords {
			if kw != "" && strings.Contains(text, kw) {
				t.Data[k] = float32(d.Bias)
			}
		}
		return adapters.Embeddings{Hidden: t}
	}
	return &adapters.Conditioning{Cond: bias(p.Positive), Uncond: bias(p.Negative)}, nil
}

// Predict writes the guided exact epsilon.
func (d *ExactDenoiser) Predict(_ context.Context, req *adapters.Request, eps *latent.Tensor) error {
	d.calls.Add(1)
	w := req.Cond.Guidance
	d.eps(req.Latent, req.Abar, req.Cond.Cond.Hidden, eps)
	if w > 1 {
		u := latent.New(eps.Shape...)
		d.eps(req.Latent, req.Abar, req.Cond.Uncond.Hidden, u)
		latent.Axpby(eps, w, eps, 1-w, u)
	}
	return nil
}

func (d *ExactDenoiser) eps(z *latent.Tensor, abar float64, bias *latent.Tensor, dst *latent.Tensor) {
	sa := math.Sqrt(abar)
	logits := make([]float64, len(d.Data))
	maxL := math.Inf(-1)
	for k, x := range d.Data {
		dist := 0.0
		for i, v := range z.Data {
			e := float64(v) - sa*float64(x.Data[i])
			dist += e * e
		}
		logits[k] = -dist / (2 * (1 - abar))
		if bias != nil {
			logits[k] += float64(bias.Data[k])
		}
		maxL = math.Max(maxL, logits[k])
	}
	sum := 0.0
	for k := range logits {
		logits[k] = math.Exp(logits[k] - maxL)
		sum += logits[k]
	}
	s1 := math.Sqrt(1 - abar)
	for i := range dst.Data {
		x0 := 0.0
		for k, x := range d.Data {
			x0 += logits[k] / sum * float64(x.Data[i])
		}
		dst.Data[i] = float32((float64(z.Data[i]) - sa*x0) / s1)
	}
}
