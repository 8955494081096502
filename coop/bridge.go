package coop

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/coop-diffusion/coop/adapters"
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
	// rawDec and rawEnc are set when both autoencoders exchange pixels in
	// their own ranges (adapters.RawPixels): the pixels then stay in the
	// decoder's range, and are converted only where the two ranges
	// differ, the signed end's side converting as the autoencoder itself
	// would have (toUnit after decoding, toSigned before encoding), so
	// the encoder reads the bridge's buffer in place.
	rawDec, rawEnc   adapters.RawPixels
	toUnit, toSigned bool
	// key is the bridge's place in its pool (bridgePool).
	key bridgeKey
}

func newPixelBridge(from, to end, rec *recorder) (*pixelBridge, error) {
	b := &pixelBridge{from: from, to: to, rec: rec,
		pixFrom: latent.New(1, 3, from.height, from.width)}
	b.bind()
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

// bind chooses between the raw and the [0, 1] path for the ends' current
// autoencoders: a pooled bridge is bound again when a run takes it, since
// a model's autoencoder may have been replaced in between.
func (b *pixelBridge) bind() {
	b.rawDec, b.rawEnc, b.toUnit, b.toSigned = nil, nil, false, false
	rd, okDec := b.from.model.VAE.(adapters.RawPixels)
	re, okEnc := b.to.model.VAE.(adapters.RawPixels)
	if okDec && okEnc {
		b.rawDec, b.rawEnc = rd, re
		fr, tr := rd.Space().PixelRange, re.Space().PixelRange
		b.toUnit = fr == latent.MinusOneToOne && tr != latent.MinusOneToOne
		b.toSigned = tr == latent.MinusOneToOne && fr != latent.MinusOneToOne
	}
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
		b.rec.mapped(b.from.model.Name, b.to.model.Name, time.Since(start))
		return nil
	}
	dec, enc := b.from.model.VAE, b.to.model.VAE
	same := b.from.model == b.to.model
	ort0 := b.clock.read(dec)
	if !same {
		ort0 += b.clock.read(enc)
	}
	var err error
	if b.rawDec != nil {
		err = b.rawDec.DecodeRaw(ctx, x0, b.pixFrom)
	} else {
		err = dec.Decode(ctx, x0, b.pixFrom)
	}
	if err != nil {
		return fmt.Errorf("bridge %s -> %s: decoding with %s: %w", b.from, b.to, b.from.model.Name, err)
	}
	calls := time.Since(start)
	if b.toUnit {
		latent.ToUnitRange(b.pixFrom)
	}
	pix := b.pixFrom
	if b.resizer != nil {
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
	if b.toSigned {
		latent.ToSignedRange(pix)
	}
	encStart := time.Now()
	if b.rawEnc != nil {
		err = b.rawEnc.EncodeRaw(ctx, pix, dst)
	} else {
		err = enc.Encode(ctx, pix, dst)
	}
	if err != nil {
		return fmt.Errorf("bridge %s -> %s: encoding with %s: %w", b.from, b.to, b.to.model.Name, err)
	}
	if !finite(dst.Data) {
		// A NaN or Inf in the decoded image reaches the encoded latent
		// (the image only passes through the resize and the encoder), so
		// the image is scanned only to tell whose autoencoder gave it:
		// scanning it at every carry, 3 MiB at 512 px, cost as much as
		// the fixture autoencoders' own work. The range conversions and
		// the resize leave pixFrom non-finite where the decoder made it so.
		if !finite(b.pixFrom.Data) {
			return b.nonFinite(b.from.model, "the decoded image")
		}
		return b.nonFinite(b.to.model, "the encoded latent")
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

// nonFinite reports a NaN or Inf in what m's autoencoder gave inside the
// bridge; the caller, which knows the stage and step, sets them (atStep).
// Unchecked, the value would surface in the fused prediction and be
// blamed on the primary participant.
func (b *pixelBridge) nonFinite(m *Model, what string) error {
	return &NonFiniteError{Model: m.Name, What: what, Bridge: b.from.String() + " -> " + b.to.String()}
}

// bridges hands out a run's pixel bridges: for the stage entries, which
// run one at a time and alone, one per ordered pair of ends, whose
// resizing uses the idle cores (m); for each foreign participant's
// trajectory one per direction. They come from the destination model's
// pool and go back there when the run ends (release), so that later runs
// of the same models reuse their pixel buffers and resizers.
type bridges struct {
	m    map[[2]string]*pixelBridge
	rec  *recorder
	held []*pixelBridge
}

// get returns the stage-entry bridge from one end to another.
func (bs *bridges) get(from, to end) (*pixelBridge, error) {
	key := [2]string{from.String(), to.String()}
	if b, ok := bs.m[key]; ok {
		return b, nil
	}
	b, err := bs.take(from, to, true)
	if err != nil {
		return nil, err
	}
	bs.m[key] = b
	return b, nil
}

// take returns a bridge of the run's own, from the pool of to's model or
// new; entry bridges resize the colour planes concurrently.
func (bs *bridges) take(from, to end, entry bool) (*pixelBridge, error) {
	k := bridgeKey{from: from.model, fromH: from.height, fromW: from.width, toH: to.height, toW: to.width, entry: entry}
	b := to.model.bridges.take(k)
	if b != nil {
		b.bind()
	} else {
		var err error
		if b, err = newPixelBridge(from, to, bs.rec); err != nil {
			return nil, err
		}
		b.key = k
		if entry && b.resizer != nil {
			if b.planes, err = newPlaneResizer(from, to); err != nil {
				return nil, err
			}
		}
	}
	b.rec, b.ort, b.ip = bs.rec, 0, nil
	bs.held = append(bs.held, b)
	return b, nil
}

// release gives the run's bridges back to their pools; no carry may be
// running.
func (bs *bridges) release() {
	for _, b := range bs.held {
		b.rec, b.ip = nil, nil
		b.to.model.bridges.give(b)
	}
	bs.held = nil
}

// bridgeKey tells which bridges are interchangeable: the same ends, and
// the same use (entry bridges resize the planes concurrently).
type bridgeKey struct {
	from                   *Model
	fromH, fromW, toH, toW int
	entry                  bool
}

// bridgePool keeps the idle pixel bridges into a model's space between
// runs. A bridge's buffers are images (3 MiB at 512 px) and its resizers
// hold weight tables: making them for every run of the fixture demo cost
// as much as a step (allocation, zeroing, page faults and the garbage
// collections they bring on). It keeps at most maxIdleBridges, so that
// runs at ever other sizes do not accumulate them.
type bridgePool struct {
	mu   sync.Mutex
	idle map[bridgeKey][]*pixelBridge
	n    int
}

// maxIdleBridges bounds a model's pool: a run of the widest plan
// (participants in several spaces, each with a bridge each way, and stage
// entries) gives back a handful, runs side by side a few times that.
const maxIdleBridges = 16

func (p *bridgePool) take(k bridgeKey) *pixelBridge {
	p.mu.Lock()
	defer p.mu.Unlock()
	list := p.idle[k]
	if len(list) == 0 {
		return nil
	}
	b := list[len(list)-1]
	p.idle[k] = list[:len(list)-1]
	p.n--
	return b
}

// give keeps b for a later run, or leaves it to the garbage collector when
// the pool is full.
func (p *bridgePool) give(b *pixelBridge) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.n >= maxIdleBridges {
		return
	}
	if p.idle == nil {
		p.idle = map[bridgeKey][]*pixelBridge{}
	}
	p.idle[b.key] = append(p.idle[b.key], b)
	p.n++
}
