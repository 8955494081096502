package interposer

import (
	"context"
	"fmt"
	"math"

	"gonum.org/v1/gonum/mat"

	"github.com/coop-diffusion/coop/adapters"
	"github.com/coop-diffusion/coop/latent"
)

// Target is what the map is fitted to reproduce.
type Target int

const (
	// BridgeOutput fits the map to the pixel bridge's output for each
	// calibration latent, E_to(resize(D_from(E_from(image)))): exactly the
	// function the interposer replaces, including what the source decoder
	// loses.
	BridgeOutput Target = iota
	// EncodedImage fits it to the image encoded directly in the target
	// space, E_to(image): the latents of both spaces for the same picture.
	EncodedImage
)

func (t Target) String() string {
	switch t {
	case BridgeOutput:
		return "bridge-output"
	case EncodedImage:
		return "encoded-image"
	}
	return fmt.Sprintf("Target(%d)", int(t))
}

// MarshalText writes the target's name.
func (t Target) MarshalText() ([]byte, error) {
	if t != BridgeOutput && t != EncodedImage {
		return nil, fmt.Errorf("unknown %v", t)
	}
	return []byte(t.String()), nil
}

// UnmarshalText reads a target's name.
func (t *Target) UnmarshalText(b []byte) error {
	switch string(b) {
	case "bridge-output":
		*t = BridgeOutput
	case "encoded-image":
		*t = EncodedImage
	default:
		return fmt.Errorf("unknown target %q (want bridge-output or encoded-image)", b)
	}
	return nil
}

// Options tune FitWith; DefaultOptions are what Fit uses.
type Options struct {
	// Window is the side of the neighbourhood of working pixels that
	// each working pixel reads (see Layout); 0 means 1. It must be odd.
	Window int
	// SourceFilter and Filter resample the source and the map's output
	// (see Layout).
	SourceFilter latent.Filter
	Filter       latent.Filter
	// PerPixel turns the phases off: the source is resampled to the
	// target grid and mapped pixel by pixel (see Layout).
	PerPixel bool
	// MaxPhases bounds the phases along each axis; 0 means 6.
	MaxPhases int
	// Target is what the map reproduces; the zero value is BridgeOutput.
	Target Target
	// Names, when set, are the calibration images' names, recorded in
	// the interposer (one per image).
	Names []string
}

// DefaultOptions are maps with phases of at most 6 per axis and Window 1,
// bilinear resampling of the source and bicubic of the output, and the
// pixel bridge's output as the target. Measured on the fixture zoo
// (docs/PERFORMANCE.md, "Latent interposer", held-out PSNR against the
// pixel bridge): without phases the pairs involving Stable Cascade's stage
// C lose 7 to 15 dB, and the exact maps between the f8 spaces and stage A's
// f4 space become 23 dB approximations; a bilinear output filter loses 2.6
// to 3.8 dB where the output is resampled and Lanczos3 gains nothing, while
// the source filter makes no difference (the map, fitted after it, makes up
// for its blur), so the cheapest is used; 4 phases lose 2.4 to 5.2 dB where
// stage C is the source, more than 6 gain nothing and cost up to twice as
// much; a window of 3 gains 0.7 to 1.4 dB where stage C is the source but
// loses 3 dB where it is the target (too many features for the samples)
// and costs 9 times the multiply-adds; fitting to the encoded image rather
// than the bridge's output loses up to 2 dB, and the exactness of the f8/f4
// maps.
func DefaultOptions() Options {
	return Options{Window: 1, SourceFilter: latent.Bilinear, Filter: latent.Bicubic, Target: BridgeOutput, MaxPhases: defaultMaxPhases}
}

const defaultMaxPhases = 6

// rcond is the smallest eigenvalue of the centred, scaled Gram matrix,
// relative to its largest, that the solution uses: directions below it
// (collinear or constant source channels) get no weight. In singular values
// of the feature matrix it is 1e-6, far below the noise of float32 latents.
const rcond = 1e-12

// Fit fits an interposer from the space of from at pixel size fromPx to the
// space of to at toPx with DefaultOptions. images are [1, 3, H, W] in
// [0, 1], resized to each side's pixel size (bicubic) when they have
// another.
func Fit(ctx context.Context, from, to adapters.Autoencoder, images []*latent.Tensor, fromPx, toPx adapters.Size) (*Interposer, error) {
	return FitWith(ctx, from, to, images, fromPx, toPx, DefaultOptions())
}

// FitWith is Fit with options: it chooses the layout (phases from the ratio
// of the latent grids, at most Options.MaxPhases per axis and fewer when
// the features would exceed 256), encodes every image in the source space,
// computes the target for it (Options.Target) and solves the linear
// least-squares problem over all working pixels of all images, one row per
// pixel, for the weights and bias of every output (see system.solve for the
// ridge penalty and rank-deficient features).
func FitWith(ctx context.Context, from, to adapters.Autoencoder, images []*latent.Tensor, fromPx, toPx adapters.Size, opts Options) (*Interposer, error) {
	if err := checkImages(images); err != nil {
		return nil, fmt.Errorf("interposer: calibration %w", err)
	}
	if opts.Names != nil && len(opts.Names) != len(images) {
		return nil, fmt.Errorf("interposer: %d names for %d calibration images", len(opts.Names), len(images))
	}
	window := opts.Window
	if window == 0 {
		window = 1
	}
	if window < 0 || window%2 == 0 {
		return nil, fmt.Errorf("interposer: window %d must be a positive odd number", window)
	}
	if err := checkFilter(opts.SourceFilter); err != nil {
		return nil, fmt.Errorf("interposer: source %w", err)
	}
	if err := checkFilter(opts.Filter); err != nil {
		return nil, fmt.Errorf("interposer: %w", err)
	}
	if opts.Target != BridgeOutput && opts.Target != EncodedImage {
		return nil, fmt.Errorf("interposer: unknown %v", opts.Target)
	}
	fromEnd, err := endpoint(from.Space(), fromPx)
	if err != nil {
		return nil, fmt.Errorf("interposer: source side: %w", err)
	}
	toEnd, err := endpoint(to.Space(), toPx)
	if err != nil {
		return nil, fmt.Errorf("interposer: target side: %w", err)
	}
	limit := opts.MaxPhases
	if limit == 0 {
		limit = defaultMaxPhases
	}
	if limit < 1 || limit > maxPhases {
		return nil, fmt.Errorf("interposer: MaxPhases %d must be between 1 and %d", limit, maxPhases)
	}
	layout := Layout{SourceFilter: opts.SourceFilter, Filter: opts.Filter, Window: window, InPhases: [2]int{1, 1}, OutPhases: [2]int{1, 1}}
	if !opts.PerPixel {
		layout.InPhases[0], layout.OutPhases[0] = phasesFor(fromEnd.LatentHeight, toEnd.LatentHeight, limit)
		layout.InPhases[1], layout.OutPhases[1] = phasesFor(fromEnd.LatentWidth, toEnd.LatentWidth, limit)
	}
	// Lower the larger input phase until the features fit the budget: the
	// resampling to the phase grid then averages what the map cannot read.
	features := func() int { return fromEnd.Channels * window * window * layout.inBlock() }
	for features() > maxFeatures && max(layout.InPhases[0], layout.InPhases[1]) > 1 {
		if layout.InPhases[0] >= layout.InPhases[1] {
			layout.InPhases[0]--
		} else {
			layout.InPhases[1]--
		}
	}
	if features() > maxFeatures {
		return nil, fmt.Errorf("interposer: %s -> %s: window %d reads %d features per output, more than %d; use a smaller window",
			fromEnd, toEnd, window, features(), maxFeatures)
	}
	if err := layout.check(); err != nil {
		return nil, fmt.Errorf("interposer: %s -> %s: %w", fromEnd, toEnd, err)
	}
	bridge, err := newPixelBridge(from, to, fromPx, toPx)
	if err != nil {
		return nil, fmt.Errorf("interposer: %w", err)
	}
	sys, err := newSystem(layout, fromEnd, toEnd)
	if err != nil {
		return nil, fmt.Errorf("interposer: %w", err)
	}
	src, tgt := fromEnd.latent(), toEnd.latent()
	for i, img := range images {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		name := fmt.Sprintf("calibration image %d", i)
		if opts.Names != nil {
			name = fmt.Sprintf("calibration image %s", opts.Names[i])
		}
		pix, err := resized(img, fromPx)
		if err != nil {
			return nil, fmt.Errorf("interposer: %s: %w", name, err)
		}
		if err := from.Encode(ctx, pix, src); err != nil {
			return nil, fmt.Errorf("interposer: %s: encoding into %s: %w", name, fromEnd.Space, err)
		}
		switch opts.Target {
		case BridgeOutput:
			err = bridge.carry(ctx, src, tgt)
		case EncodedImage:
			if pix, err = resized(img, toPx); err == nil {
				err = to.Encode(ctx, pix, tgt)
			}
		}
		if err != nil {
			return nil, fmt.Errorf("interposer: %s: %w", name, err)
		}
		if !finite(src.Data) || !finite(tgt.Data) {
			return nil, fmt.Errorf("interposer: %s: the latents contain NaN or Inf", name)
		}
		if err := sys.add(src, tgt); err != nil {
			return nil, fmt.Errorf("interposer: %s: %w", name, err)
		}
	}
	weights, calib, err := sys.solve()
	if err != nil {
		return nil, fmt.Errorf("interposer: %s -> %s: %w", fromEnd.Space, toEnd.Space, err)
	}
	calib.Images = len(images)
	calib.Names = append([]string(nil), opts.Names...)
	calib.Target = opts.Target
	return New(fromEnd, toEnd, layout, weights, calib)
}

// system is the least-squares problem: one row per working pixel of every
// calibration image, with the features Apply gathers for it and the
// outputs it should write.
type system struct {
	layout            Layout
	cin, cout         int
	ax                [2]axis
	pre, post         *latent.Resizer // source to the input phase grid; target to the output phase grid
	srcPhased, tgtPhs *latent.Tensor
	// feats and outs hold, per image, features() planes and outputs()
	// planes of the working grid.
	feats, outs [][]float32
}

func newSystem(l Layout, from, to Endpoint) (*system, error) {
	s := &system{layout: l, cin: from.Channels, cout: to.Channels,
		ax: l.axes(from.LatentHeight, from.LatentWidth, to.LatentHeight, to.LatentWidth, false)}
	pre, post := [2]int{s.ax[0].pre, s.ax[1].pre}, [2]int{s.ax[0].post, s.ax[1].post}
	var err error
	if pre != [2]int{from.LatentHeight, from.LatentWidth} {
		if s.pre, err = latent.NewResizer(from.LatentHeight, from.LatentWidth, pre[0], pre[1], l.SourceFilter); err != nil {
			return nil, err
		}
		s.srcPhased = latent.New(1, s.cin, pre[0], pre[1])
	}
	if post != [2]int{to.LatentHeight, to.LatentWidth} {
		// The map writes the output phase grid, which Apply resamples to
		// the target; the fit compares on the phase grid, with the target
		// resampled to it.
		if s.post, err = latent.NewResizer(to.LatentHeight, to.LatentWidth, post[0], post[1], l.Filter); err != nil {
			return nil, err
		}
		s.tgtPhs = latent.New(1, s.cout, post[0], post[1])
	}
	return s, nil
}

func (s *system) work() int { return s.ax[0].work * s.ax[1].work }
func (s *system) features() int {
	return s.cin * s.layout.Window * s.layout.Window * s.layout.inBlock()
}
func (s *system) outputs() int { return s.cout * s.layout.outBlock() }
func (s *system) samples() int { return len(s.feats) * s.work() }

// add puts one calibration image's latents into the system.
func (s *system) add(src, tgt *latent.Tensor) error {
	if s.pre != nil {
		if err := s.pre.Resize(s.srcPhased, src); err != nil {
			return err
		}
		src = s.srcPhased
	}
	if s.post != nil {
		if err := s.post.Resize(s.tgtPhs, tgt); err != nil {
			return err
		}
		tgt = s.tgtPhs
	}
	hw, ww := s.ax[0].work, s.ax[1].work
	feat := make([]float32, s.features()*s.work())
	gather(s.layout, s.cin, feat, src.Data, hw, ww)
	out := make([]float32, s.outputs()*s.work())
	unscatter(out, tgt.Data, s.cout, hw, ww, s.layout.OutPhases)
	s.feats = append(s.feats, feat)
	s.outs = append(s.outs, out)
	return nil
}

// The fit keeps the normal equations small and the cross-validation
// honest: at most maxFeatures weights per output (Fit lowers the input
// phases to stay within it) and at most maxFolds folds of calibration images.
const (
	maxFeatures = 256
	maxFolds    = 8
)

// ridgeGrid are the candidate ridge penalties, relative to the mean
// eigenvalue of the Gram matrix of standardised features (about the number
// of samples); 0 is the plain least-squares (minimum-norm) solution.
var ridgeGrid = []float64{0, 1e-7, 3e-7, 1e-6, 3e-6, 1e-5, 3e-5, 1e-4, 3e-4, 1e-3, 3e-3, 1e-2, 3e-2, 1e-1, 3e-1, 1}

// normal holds the normal equations of some samples in standardised
// features: gram = Z Zᵀ, cross = Z Yᵀ, yy = |Y|², Z the features
// (features x samples) and Y the centred targets (outputs x samples).
type normal struct {
	gram  *mat.SymDense
	cross *mat.Dense
	yy    float64
}

func newNormal(f, o int) normal {
	return normal{gram: mat.NewSymDense(f, nil), cross: mat.NewDense(f, o, nil)}
}

func (n *normal) add(m normal, sign float64) {
	n.gram.AddSym(n.gram, scaledSym(m.gram, sign))
	var c mat.Dense
	c.Scale(sign, m.cross)
	n.cross.Add(n.cross, &c)
	n.yy += sign * m.yy
}

func scaledSym(a *mat.SymDense, s float64) *mat.SymDense {
	if s == 1 {
		return a
	}
	var out mat.SymDense
	out.ScaleSym(s, a)
	return &out
}

// eigen is the eigendecomposition of a Gram matrix, eigenvalues clamped at
// zero.
type eigen struct {
	values  []float64
	vectors *mat.Dense
}

func decompose(g *mat.SymDense) (eigen, error) {
	var es mat.EigenSym
	if !es.Factorize(g, true) {
		return eigen{}, fmt.Errorf("the eigendecomposition of the %dx%d Gram matrix did not converge", g.SymmetricDim(), g.SymmetricDim())
	}
	e := eigen{values: es.Values(nil), vectors: &mat.Dense{}}
	es.VectorsTo(e.vectors)
	for i, v := range e.values {
		e.values[i] = math.Max(v, 0)
	}
	return e, nil
}

// shrink returns the factors 1/(d + λ) by which the solution scales the
// eigen-components; with λ = 0, components below rcond of the largest
// eigenvalue get 0 (the minimum-norm solution).
func (e eigen) shrink(lambda float64, dst []float64) []float64 {
	dst = dst[:0]
	top := 0.0
	for _, v := range e.values {
		top = math.Max(top, v)
	}
	for _, v := range e.values {
		switch {
		case lambda > 0:
			dst = append(dst, 1/(v+lambda))
		case top > 0 && v > rcond*top:
			dst = append(dst, 1/v)
		default:
			dst = append(dst, 0)
		}
	}
	return dst
}

// rank counts the eigenvalues above rcond of the largest.
func (e eigen) rank() int {
	top, r := 0.0, 0
	for _, v := range e.values {
		top = math.Max(top, v)
	}
	for _, v := range e.values {
		if top > 0 && v > rcond*top {
			r++
		}
	}
	return r
}

// solve returns the weights (outputs x (features+1), bias last) and the
// fit's statistics.
//
// It centres the features and targets (which takes the bias out of the
// system and keeps the normal equations well conditioned) and scales each
// feature to unit variance (constant features get no weight). The weights
// are the ridge solution (ZZᵀ + λI)⁻¹ Z Yᵀ, computed through the
// eigendecomposition of ZZᵀ, with λ chosen by cross-validation over folds
// of whole calibration images: each fold is predicted by the solution of
// the others, and the λ with the least held-out error wins (0, the plain
// minimum-norm least-squares solution, is a candidate). Phases make many
// features, which a few images overfit; the held-out error is also
// recorded, as the fit's honest estimate. The residual is computed from the
// data, not from the normal equations.
func (s *system) solve() (*mat.Dense, Calibration, error) {
	f, o, work := s.features(), s.outputs(), s.work()
	n := s.samples()
	if n == 0 {
		return nil, Calibration{}, fmt.Errorf("no latent pixels to fit")
	}
	meanX, scale, meanY := make([]float64, f), make([]float64, f), make([]float64, o)
	for i, feat := range s.feats {
		for j := range f {
			for _, v := range feat[j*work : (j+1)*work] {
				meanX[j] += float64(v)
			}
		}
		for j := range o {
			for _, v := range s.outs[i][j*work : (j+1)*work] {
				meanY[j] += float64(v)
			}
		}
	}
	for j := range meanX {
		meanX[j] /= float64(n)
	}
	for j := range meanY {
		meanY[j] /= float64(n)
	}
	for _, feat := range s.feats {
		for j := range f {
			for _, v := range feat[j*work : (j+1)*work] {
				d := float64(v) - meanX[j]
				scale[j] += d * d
			}
		}
	}
	for j := range scale {
		scale[j] = math.Sqrt(scale[j] / float64(n))
	}

	folds := make([]normal, min(len(s.feats), maxFolds))
	for k := range folds {
		folds[k] = newNormal(f, o)
	}
	z, y := mat.NewDense(f, work, nil), mat.NewDense(o, work, nil)
	for i, feat := range s.feats {
		zr, yr := z.RawMatrix(), y.RawMatrix()
		for j := range f {
			row := zr.Data[j*zr.Stride : j*zr.Stride+work]
			for p, v := range feat[j*work : (j+1)*work] {
				if scale[j] > 0 {
					row[p] = (float64(v) - meanX[j]) / scale[j]
				} else {
					row[p] = 0
				}
			}
		}
		yy := 0.0
		for j := range o {
			row := yr.Data[j*yr.Stride : j*yr.Stride+work]
			for p, v := range s.outs[i][j*work : (j+1)*work] {
				row[p] = float64(v) - meanY[j]
				yy += row[p] * row[p]
			}
		}
		var g mat.SymDense
		g.SymOuterK(1, z)
		var c mat.Dense
		c.Mul(z, y.T())
		folds[i%len(folds)].add(normal{gram: &g, cross: &c, yy: yy}, 1)
	}
	total := newNormal(f, o)
	for _, fd := range folds {
		total.add(fd, 1)
	}

	calib := Calibration{Samples: n}
	lambda := 0.0
	if len(folds) > 1 {
		errs, err := crossValidate(total, folds)
		if err != nil {
			return nil, Calibration{}, err
		}
		best := 0
		for i, e := range errs {
			if e < errs[best] {
				best = i
			}
		}
		lambda = ridgeGrid[best] * total.gramTrace() / float64(f)
		calib.Ridge = ridgeGrid[best]
		if total.yy > 0 {
			calib.HeldOutRelativeResidual = math.Sqrt(errs[best] / total.yy)
		}
	}
	eig, err := decompose(total.gram)
	if err != nil {
		return nil, Calibration{}, err
	}
	calib.Rank = eig.rank()
	beta := ridgeSolution(eig, total.cross, lambda, nil)

	weights := mat.NewDense(o, f+1, nil)
	for j := range o {
		bias := meanY[j]
		for i := range f {
			if scale[i] == 0 {
				continue
			}
			w := beta.At(i, j) / scale[i]
			weights.Set(j, i, w)
			bias -= w * meanX[i]
		}
		weights.Set(j, f, bias)
	}
	// The residual, from the data.
	var sse float64
	wd := weights.RawMatrix().Data
	x := make([]float64, f)
	for i, feat := range s.feats {
		for p := range work {
			for j := range f {
				x[j] = float64(feat[j*work+p])
			}
			for j := range o {
				row := wd[j*(f+1) : (j+1)*(f+1)]
				pred := row[f]
				for k, xk := range x {
					pred += row[k] * xk
				}
				d := float64(s.outs[i][j*work+p]) - pred
				sse += d * d
			}
		}
	}
	calib.ResidualRMS = math.Sqrt(sse / float64(n*o))
	if total.yy > 0 {
		calib.RelativeResidual = math.Sqrt(sse / total.yy)
	}
	return weights, calib, nil
}

// ridgeSolution returns V diag(shrink) Vᵀ cross.
func ridgeSolution(e eigen, cross *mat.Dense, lambda float64, shrink []float64) *mat.Dense {
	var p mat.Dense
	p.Mul(e.vectors.T(), cross)
	shrink = e.shrink(lambda, shrink)
	for i, d := range shrink {
		row := p.RawRowView(i)
		for j := range row {
			row[j] *= d
		}
	}
	var beta mat.Dense
	beta.Mul(e.vectors, &p)
	return &beta
}

// crossValidate returns, for each λ of ridgeGrid, the summed squared error
// of every fold predicted by the ridge solution of the other folds. In the
// eigenbasis V of the training Gram matrix, with p = Vᵀ C_train, q = Vᵀ C_k,
// H = Vᵀ G_k V and β = V D p (D the shrink factors), the held-out error is
// yy_k − 2 Σ D_i p_ij q_ij + Σ D_i D_l H_il (p pᵀ)_il, so every λ costs
// O(f² + f·o) once the fold's products are made.
func crossValidate(total normal, folds []normal) ([]float64, error) {
	f, o := total.cross.Dims()
	errs := make([]float64, len(ridgeGrid))
	var shrink []float64
	for _, fd := range folds {
		train := newNormal(f, o)
		train.add(total, 1)
		train.add(fd, -1)
		eig, err := decompose(train.gram)
		if err != nil {
			return nil, err
		}
		var p, q, h, gv, pp mat.Dense
		p.Mul(eig.vectors.T(), train.cross)
		q.Mul(eig.vectors.T(), fd.cross)
		gv.Mul(fd.gram, eig.vectors)
		h.Mul(eig.vectors.T(), &gv)
		pp.Mul(&p, p.T())
		// pq[i] = Σ_j p_ij q_ij
		pq := make([]float64, f)
		for i := range f {
			pr, qr := p.RawRowView(i), q.RawRowView(i)
			for j := range pr {
				pq[i] += pr[j] * qr[j]
			}
		}
		for li, rel := range ridgeGrid {
			lambda := rel * float64(train.gramTrace()) / float64(f)
			shrink = eig.shrink(lambda, shrink)
			e := fd.yy
			for i, di := range shrink {
				if di == 0 {
					continue
				}
				e -= 2 * di * pq[i]
				hr, ppr := h.RawRowView(i), pp.RawRowView(i)
				for l, dl := range shrink {
					e += di * dl * hr[l] * ppr[l]
				}
			}
			// Exact fits leave rounding, which may come out negative.
			errs[li] += math.Max(e, 0)
		}
	}
	return errs, nil
}

// gramTrace is the trace of the Gram matrix: the number of samples times
// the number of non-constant features, for standardised features.
func (n normal) gramTrace() float64 {
	t := 0.0
	for i := range n.gram.SymmetricDim() {
		t += n.gram.At(i, i)
	}
	return t
}

func finite(xs []float32) bool {
	for _, v := range xs {
		if math.IsNaN(float64(v)) || math.IsInf(float64(v), 0) {
			return false
		}
	}
	return true
}
