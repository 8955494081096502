package coop

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/coop-diffusion/coop/coop/interposer"
	"github.com/coop-diffusion/coop/latent"
)

// bridgeFilter resamples pixels between participants' sizes. Bicubic
// (Catmull-Rom) is sharp without Lanczos' ringing on upsampling, and the
// resizer antialiases when shrinking.
const bridgeFilter = latent.Bicubic

// end is one side of a bridge: a model's autoencoder at a pixel size.
type end struct {
	model         *Model
	height, width int
}

func (e end) String() string { return fmt.Sprintf("%s@%dx%d", e.model.Name, e.width, e.height) }

// latentShape is the [1, C, h, w] shape of this end's latents.
func (e end) latentShape() ([]int, error) {
	sp := e.model.VAE.Space()
	h, w, err := sp.LatentSize(e.height, e.width)
	if err != nil {
		return nil, fmt.Errorf("model %s: %w", e.model.Name, err)
	}
	return []int{1, sp.Channels, h, w}, nil
}

// sameSpace reports whether two ends share latents: the same space at the
// same pixel size, so a prediction needs no bridge at all.
func sameSpace(a, b end) bool {
	if a.height != b.height || a.width != b.width {
		return false
	}
	sa, sb := a.model.VAE.Space(), b.model.VAE.Space()
	if sa.Name != sb.Name || sa.Channels != sb.Channels || sa.Factor != sb.Factor ||
		sa.ScalingFactor != sb.ScalingFactor || sa.ShiftFactor != sb.ShiftFactor ||
		len(sa.LatentsMean) != len(sb.LatentsMean) {
		return false
	}
	for i := range sa.LatentsMean {
		if sa.LatentsMean[i] != sb.LatentsMean[i] || sa.LatentsStd[i] != sb.LatentsStd[i] {
			return false
		}
	}
	return true
}

// pixelBridge carries clean latents (x0 estimates) from one end to another
// through pixel space: decode, resize, encode. Its buffers live as long as
// the run, so carrying allocates nothing; each trajectory has its own
// bridges, so concurrent participants never share buffers.
type pixelBridge struct {
	from, to end
	pixFrom  *latent.Tensor // decoded pixels at from's size
	pixTo    *latent.Tensor // resized pixels at to's size; nil when sizes agree
	resizer  *latent.Resizer
	// planes, when set, resizes the three colour planes concurrently: for
	// the bridges that stage entries cross while nothing else runs.
	planes *planeResizer
	rec    *recorder
	clock  ortClock
	// ort accumulates the time the carries spent inside ONNX Runtime, for
	// the task that owns the bridge.
	ort time.Duration
	// ip, when set, replaces decode-resize-encode by a fitted linear map
	// between the two latent spaces.
	ip *interposer.Interposer
}

func newPixelBridge(from, to end, rec *recorder) (*pixelBridge, error) {
	b := &pixelBridge{from: from, to: to, rec: rec,
		pixFrom: latent.New(1, 3, from.height, from.width)}
	if from.height != to.height || from.width != to.width {
		r, err := latent.NewResizer(from.height, from.width, to.height, to.width, bridgeFilter)
		if err != nil {
			return nil, err
		}
		b.resizer = r
		b.pixTo = latent.New(1, 3, to.height, to.width)
	}
	return b, nil
}

// planeResizer resizes the planes of a [1, 3, H, W] image concurrently,
// with a Resizer per plane (a Resizer owns scratch memory).
type planeResizer struct {
	rs [3]*latent.Resizer
}

func newPlaneResizer(from, to end) (*planeResizer, error) {
	p := &planeResizer{}
	for c := range p.rs {
		r, err := latent.NewResizer(from.height, from.width, to.height, to.width, bridgeFilter)
		if err != nil {
			return nil, err
		}
		p.rs[c] = r
	}
	return p, nil
}

func (p *planeResizer) resize(dst, src *latent.Tensor) error {
	if src.N() != 1 || src.C() != len(p.rs) || dst.N() != 1 || dst.C() != len(p.rs) {
		return fmt.Errorf("resize: %v to %v: want one RGB image", src, dst)
	}
	sp, dp := src.H()*src.W(), dst.H()*dst.W()
	var errs [3]error
	var wg sync.WaitGroup
	for c, r := range p.rs {
		s := latent.FromData(src.Data[c*sp:(c+1)*sp], 1, 1, src.H(), src.W())
		d := latent.FromData(dst.Data[c*dp:(c+1)*dp], 1, 1, dst.H(), dst.W())
		wg.Go(func() { errs[c] = r.Resize(d, s) })
	}
	wg.Wait()
	return errors.Join(errs[:]...)
}

// carry writes the latent of x0 (in from's space) in to's space into dst.
func (b *pixelBridge) carry(ctx context.Context, x0, dst *latent.Tensor) error {
	start := time.Now()
	if b.ip != nil {
		if err := b.ip.Apply(x0, dst); err != nil {
			return fmt.Errorf("bridge %s -> %s: %w", b.from, b.to, err)
		}
		b.rec.bridge(b.from.model.Name, b.to.model.Name, "interposer", 0, 0, time.Since(start), 0)
		return nil
	}
	dec, enc := b.from.model.VAE, b.to.model.VAE
	same := b.from.model == b.to.model
	ort0 := b.clock.read(dec)
	if !same {
		ort0 += b.clock.read(enc)
	}
	if err := dec.Decode(ctx, x0, b.pixFrom); err != nil {
		return fmt.Errorf("bridge %s -> %s: decoding with %s: %w", b.from, b.to, b.from.model.Name, err)
	}
	calls := time.Since(start)
	pix := b.pixFrom
	if b.resizer != nil {
		var err error
		if b.planes != nil {
			err = b.planes.resize(b.pixTo, b.pixFrom)
		} else {
			err = b.resizer.Resize(b.pixTo, b.pixFrom)
		}
		if err != nil {
			return fmt.Errorf("bridge %s -> %s: %w", b.from, b.to, err)
		}
		pix = b.pixTo
	}
	encStart := time.Now()
	if err := enc.Encode(ctx, pix, dst); err != nil {
		return fmt.Errorf("bridge %s -> %s: encoding with %s: %w", b.from, b.to, b.to.model.Name, err)
	}
	b.rec.call(calls + time.Since(encStart))
	ort := b.clock.read(dec) - ort0
	if !same {
		ort += b.clock.read(enc)
	}
	b.ort += ort
	b.rec.bridge(b.from.model.Name, b.to.model.Name, "pixel", 1, 1, time.Since(start), ort)
	return nil
}

// bridges caches one pixelBridge per ordered pair of ends for the stage
// entries, which run one at a time and alone, so their resizing uses the
// idle cores.
type bridges struct {
	m   map[[2]string]*pixelBridge
	rec *recorder
}

func (bs *bridges) get(from, to end) (*pixelBridge, error) {
	key := [2]string{from.String(), to.String()}
	if b, ok := bs.m[key]; ok {
		return b, nil
	}
	b, err := newPixelBridge(from, to, bs.rec)
	if err != nil {
		return nil, err
	}
	if b.resizer != nil {
		if b.planes, err = newPlaneResizer(from, to); err != nil {
			return nil, err
		}
	}
	bs.m[key] = b
	return b, nil
}
