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

// Options tune Fit. The zero value is the default.
type Options struct {
	// Window is the side of the neighbourhood of working pixels that
	// each working pixel reads (see Layout); 0 means 1. It must be odd.
	Window int
	// Filter resamples latents between grids; the zero value is
	// latent.Bilinear.
	Filter latent.Filter
	// PerPixel turns the phases off: the source is resampled to the
	// target grid and mapped pixel by pixel (see Layout).
	PerPixel bool
	// Target is what the map reproduces; the zero value is BridgeOutput.
	Target Target
	// Names, when set, are the calibration images' names, recorded in
	// the interposer (one per image).
	Names []string
}

// rcond is the smallest eigenvalue of the centred, scaled Gram matrix,
// relative to its largest, that the solution uses: directions below it
// (collinear or constant source channels) get no weight. In singular values
// of the feature matrix it is 1e-6, far below the noise of float32 latents.
const rcond = 1e-12

// Fit fits an interposer from the space of from at pixel size fromPx to the
// space of to at toPx with the default Options. images are [1, 3, H, W] in
// [0, 1], resized to each side's pixel size (bicubic) when they have
// another.
func Fit(ctx context.Context, from, to adapters.Autoencoder, images []*latent.Tensor, fromPx, toPx adapters.Size) (*Interposer, error) {
	return FitWith(ctx, from, to, images, fromPx, toPx, Options{})
}

// FitWith is Fit with options: it encodes every image in the source space,
// computes the target for it (Options.Target), resamples the source latent
// to the target grid and solves the linear least-squares problem over all
// target latent pixels of all images, one row per pixel, for the weights
// and bias of every target channel. The solution is the minimum-norm one
// when the features are rank deficient.
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
	layout := Layout{Filter: opts.Filter, Window: window, InPhases: [2]int{1, 1}, OutPhases: [2]int{1, 1}}
	if !opts.PerPixel {
		layout.InPhases[0], layout.OutPhases[0] = phasesFor(fromEnd.LatentHeight, toEnd.LatentHeight)
		layout.InPhases[1], layout.OutPhases[1] = phasesFor(fromEnd.LatentWidth, toEnd.LatentWidth)
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
		if s.pre, err = latent.NewResizer(from.LatentHeight, from.LatentWidth, pre[0], pre[1], l.Filter); err != nil {
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

// each calls fn for every row with its features x and targets y.
func (s *system) each(fn func(x, y []float64)) {
	work := s.work()
	x := make([]float64, s.features())
	y := make([]float64, s.outputs())
	for i, feat := range s.feats {
		out := s.outs[i]
		for p := range work {
			for f := range x {
				x[f] = float64(feat[f*work+p])
			}
			for o := range y {
				y[o] = float64(out[o*work+p])
			}
			fn(x, y)
		}
	}
}

// solve returns the weights (cout x (features+1), bias last) and the fit's
// statistics. It centres the features and targets (which takes the bias out
// of the system and keeps the normal equations well conditioned), scales
// each feature to unit variance, solves the normal equations through the
// eigendecomposition of the Gram matrix with small eigenvalues cut
// (rcond), and computes the residual from the data, not from the normal
// equations.
func (s *system) solve() (*mat.Dense, Calibration, error) {
	f, cout := s.features(), s.outputs()
	n := 0
	meanX, meanY := make([]float64, f), make([]float64, cout)
	s.each(func(x, y []float64) {
		n++
		for i, v := range x {
			meanX[i] += v
		}
		for o, v := range y {
			meanY[o] += v
		}
	})
	if n == 0 {
		return nil, Calibration{}, fmt.Errorf("no latent pixels to fit")
	}
	for i := range meanX {
		meanX[i] /= float64(n)
	}
	for o := range meanY {
		meanY[o] /= float64(n)
	}
	scale := make([]float64, f) // standard deviation of each feature
	s.each(func(x, _ []float64) {
		for i, v := range x {
			d := v - meanX[i]
			scale[i] += d * d
		}
	})
	for i := range scale {
		scale[i] = math.Sqrt(scale[i] / float64(n))
	}
	gram := make([]float64, f*f) // upper triangle of Z^T Z
	cross := make([]float64, f*cout)
	z := make([]float64, f)
	s.each(func(x, y []float64) {
		for i, v := range x {
			if scale[i] > 0 {
				z[i] = (v - meanX[i]) / scale[i]
			} else {
				z[i] = 0
			}
		}
		for i, zi := range z {
			if zi == 0 {
				continue
			}
			row := gram[i*f : (i+1)*f]
			for j := i; j < f; j++ {
				row[j] += zi * z[j]
			}
			cr := cross[i*cout : (i+1)*cout]
			for o, v := range y {
				cr[o] += zi * (v - meanY[o])
			}
		}
	})
	sym := mat.NewSymDense(f, nil)
	for i := range f {
		for j := i; j < f; j++ {
			sym.SetSym(i, j, gram[i*f+j])
		}
	}
	var eig mat.EigenSym
	if !eig.Factorize(sym, true) {
		return nil, Calibration{}, fmt.Errorf("the eigendecomposition of the %dx%d Gram matrix did not converge", f, f)
	}
	values := eig.Values(nil)
	var vectors mat.Dense
	eig.VectorsTo(&vectors)
	top := 0.0
	for _, v := range values {
		top = math.Max(top, v)
	}
	// pinv = V diag(1/λ) V^T over the kept eigenvalues.
	var kept []int
	for i, v := range values {
		if top > 0 && v > rcond*top {
			kept = append(kept, i)
		}
	}
	beta := mat.NewDense(f, cout, nil) // solution in scaled features
	if len(kept) > 0 {
		vk := mat.NewDense(f, len(kept), nil)
		for j, idx := range kept {
			for i := range f {
				vk.Set(i, j, vectors.At(i, idx)/values[idx])
			}
		}
		vkRaw := mat.NewDense(f, len(kept), nil)
		for j, idx := range kept {
			for i := range f {
				vkRaw.Set(i, j, vectors.At(i, idx))
			}
		}
		var proj mat.Dense // V_k^T B: len(kept) x cout
		proj.Mul(vkRaw.T(), mat.NewDense(f, cout, cross))
		beta.Mul(vk, &proj)
	}
	weights := mat.NewDense(cout, f+1, nil)
	for o := range cout {
		bias := meanY[o]
		for i := range f {
			if scale[i] == 0 {
				continue
			}
			w := beta.At(i, o) / scale[i]
			weights.Set(o, i, w)
			bias -= w * meanX[i]
		}
		weights.Set(o, f, bias)
	}
	// The residual, from the data.
	var sse, sst float64
	wd := weights.RawMatrix().Data
	s.each(func(x, y []float64) {
		for o, v := range y {
			row := wd[o*(f+1) : (o+1)*(f+1)]
			pred := row[f]
			for i, xi := range x {
				pred += row[i] * xi
			}
			d := v - pred
			sse += d * d
			t := v - meanY[o]
			sst += t * t
		}
	})
	calib := Calibration{Samples: n, Rank: len(kept), ResidualRMS: math.Sqrt(sse / float64(n*cout))}
	if sst > 0 {
		calib.RelativeResidual = math.Sqrt(sse / sst)
	}
	return weights, calib, nil
}

func finite(xs []float32) bool {
	for _, v := range xs {
		if math.IsNaN(float64(v)) || math.IsInf(float64(v), 0) {
			return false
		}
	}
	return true
}
