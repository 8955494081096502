package interposer

import (
	"fmt"
	"math"
	"sync"

	"gonum.org/v1/gonum/mat"

	"github.com/coop-diffusion/coop/internal/f32"
	"github.com/coop-diffusion/coop/latent"
)

// Endpoint describes one side of an interposer: a latent space and the
// pixel size the interposer was calibrated at.
type Endpoint struct {
	// Space is the latent space's name ("sd", "sdxl", "cascade-c", ...).
	Space string `json:"space"`
	// Channels and Factor are the space's channel count and downsampling
	// factor.
	Channels int     `json:"channels"`
	Factor   float64 `json:"factor"`
	// Height and Width are the calibration images' pixel size in this space.
	Height int `json:"height"`
	Width  int `json:"width"`
	// LatentHeight and LatentWidth are the latent grid at that size.
	LatentHeight int `json:"latent_height"`
	LatentWidth  int `json:"latent_width"`
}

func (e Endpoint) String() string {
	return fmt.Sprintf("%s (%d channels, f %g) at %dx%d px", e.Space, e.Channels, e.Factor, e.Width, e.Height)
}

// check reports the first field that cannot describe an endpoint.
func (e Endpoint) check() error {
	switch {
	case e.Space == "":
		return fmt.Errorf("space: empty name")
	case e.Channels <= 0:
		return fmt.Errorf("channels: %d, must be positive", e.Channels)
	case math.IsNaN(e.Factor) || math.IsInf(e.Factor, 0) || e.Factor <= 0:
		return fmt.Errorf("factor: %v, must be positive", e.Factor)
	case e.Height <= 0:
		return fmt.Errorf("height: %d, must be positive", e.Height)
	case e.Width <= 0:
		return fmt.Errorf("width: %d, must be positive", e.Width)
	case e.LatentHeight <= 0:
		return fmt.Errorf("latent_height: %d, must be positive", e.LatentHeight)
	case e.LatentWidth <= 0:
		return fmt.Errorf("latent_width: %d, must be positive", e.LatentWidth)
	}
	return nil
}

// Calibration records how an interposer was fitted.
type Calibration struct {
	// Images is the number of calibration images; Names their file names
	// when known.
	Images int      `json:"images"`
	Names  []string `json:"names,omitempty"`
	// Target says what the map was fitted to (see Target).
	Target Target `json:"target"`
	// Samples is the number of working pixels in the least-squares
	// system (its rows), Rank the rank of its centred, scaled feature
	// matrix (at most Features()).
	Samples int `json:"samples"`
	Rank    int `json:"rank"`
	// Ridge is the penalty cross-validation chose, relative to the mean
	// eigenvalue of the Gram matrix (0: plain least squares).
	Ridge float64 `json:"ridge"`
	// ResidualRMS is the root mean square of the fit's residual over all
	// samples and outputs, in target latent units; RelativeResidual
	// divides it by the RMS of the targets about their means (0 is a
	// perfect fit, 1 no better than the means).
	ResidualRMS      float64 `json:"residual_rms"`
	RelativeResidual float64 `json:"relative_residual"`
	// HeldOutRelativeResidual is RelativeResidual for images left out of
	// the fit (cross-validation over folds of whole images): what to
	// expect on other images. Zero with a single calibration image.
	HeldOutRelativeResidual float64 `json:"held_out_relative_residual"`
}

// Layout is how the map reads the source and writes the target. The map
// works on a working grid, the coarser of the two latent grids along each
// axis (the target grid where they agree).
//
// Along an axis where the source grid is finer, InPhases says how many
// source samples one working pixel reads: the source is resampled to
// InPhases times the working grid and each block becomes features of its
// working pixel (space-to-depth). Where the target grid is finer, OutPhases
// says how many target samples one working pixel writes: the map's outputs
// fill blocks of a grid OutPhases times the working grid (depth-to-space),
// which is resampled to the target grid. With both 1 the source is resampled
// to the target grid and the map is per pixel, which averages away whatever
// structure the finer grid holds within a coarse pixel; phases map it
// instead.
type Layout struct {
	// SourceFilter resamples the source to the input phase grid, Filter
	// the output phase grid to the target (both antialiased when
	// shrinking). The map, fitted after the one and before the other, can
	// sharpen what the source filter blurs within its window but not what
	// the target filter does: a cheap source filter costs nothing, the
	// target filter is worth its taps.
	SourceFilter latent.Filter
	Filter       latent.Filter
	// Window is the odd side of the neighbourhood of working pixels whose
	// features a working pixel reads, edge clamped.
	Window int
	// InPhases and OutPhases are [rows, columns] per working pixel, each
	// at least 1; along an axis at most one of them exceeds 1.
	InPhases, OutPhases [2]int
}

func (l Layout) inBlock() int  { return l.InPhases[0] * l.InPhases[1] }
func (l Layout) outBlock() int { return l.OutPhases[0] * l.OutPhases[1] }

func (l Layout) check() error {
	if err := checkFilter(l.SourceFilter); err != nil {
		return err
	}
	if err := checkFilter(l.Filter); err != nil {
		return err
	}
	if l.Window < 1 || l.Window%2 == 0 {
		return fmt.Errorf("window %d must be a positive odd number", l.Window)
	}
	for i, axis := range []string{"rows", "columns"} {
		a, b := l.InPhases[i], l.OutPhases[i]
		if a < 1 || b < 1 {
			return fmt.Errorf("phases of the %s: in %d, out %d, must be at least 1", axis, a, b)
		}
		if a > 1 && b > 1 {
			return fmt.Errorf("phases of the %s: in %d and out %d; at most one may exceed 1", axis, a, b)
		}
		if a*b > maxPhases {
			return fmt.Errorf("phases of the %s: %d exceeds %d", axis, a*b, maxPhases)
		}
	}
	return nil
}

// maxPhases bounds the phases per axis: a latent grid 64 times finer than
// another is no bridge between diffusion models.
const maxPhases = 64

// phasesFor returns the phases of one axis for source and target grid
// sizes: the ceiling of the finer over the coarser, so that the phase grid
// is at least as fine as the finer latent grid and resampling to it loses
// nothing, but at most limit.
func phasesFor(src, dst, limit int) (in, out int) {
	switch {
	case src > dst:
		return min((src+dst-1)/dst, limit), 1
	case dst > src:
		return 1, min((dst+src-1)/src, limit)
	}
	return 1, 1
}

// axis is the geometry of one axis of an Apply call: source samples are
// resampled to pre (InPhases x work), the map runs on work pixels and
// writes post (OutPhases x work) samples, resampled to the target.
type axis struct{ pre, work, post int }

// axes returns the geometry of both axes for source and target grids.
// anyGrid allows the working grid to be the smaller of the two grids when
// the phases are 1 (valid for per-pixel maps, with which resampling
// commutes).
func (l Layout) axes(srcH, srcW, dstH, dstW int, anyGrid bool) [2]axis {
	var out [2]axis
	for i, sd := range [2][2]int{{srcH, dstH}, {srcW, dstW}} {
		s, d := sd[0], sd[1]
		a, b := l.InPhases[i], l.OutPhases[i]
		var work int
		switch {
		case a > 1:
			work = d
		case b > 1:
			work = s
		case anyGrid:
			work = min(s, d)
		default:
			work = d
		}
		out[i] = axis{pre: a * work, work: work, post: b * work}
	}
	return out
}

// Interposer is a fitted linear map from one latent space to another (see
// the package documentation and Layout). Fit and Load make one; it is
// immutable apart from its scratch buffers, and safe for concurrent use
// (calls to Apply are serialised since they share those buffers).
type Interposer struct {
	from, to Endpoint
	layout   Layout
	// weights is Outputs() x (Features()+1), row-major, the bias last in
	// each row.
	weights []float64
	calib   Calibration

	mu sync.Mutex
	// w32 holds weights in float32, the precision Apply computes in.
	w32   []float32
	plans map[shapeKey]*plan
}

// New returns an interposer with the given map. weights has Outputs() rows,
// one per target channel o and output phase q (row o·OutBlock + q, q =
// qy·OutPhases[1] + qx), and Features()+1 columns: source channel c at
// window offset (dy, dx) and input phase p (p = py·InPhases[1] + px) at
// column ((c·Window + dy + Window/2)·Window + dx + Window/2)·InBlock + p, and
// the bias last. New copies weights.
func New(from, to Endpoint, layout Layout, weights mat.Matrix, calib Calibration) (*Interposer, error) {
	if err := from.check(); err != nil {
		return nil, fmt.Errorf("interposer: from: %w", err)
	}
	if err := to.check(); err != nil {
		return nil, fmt.Errorf("interposer: to: %w", err)
	}
	if err := layout.check(); err != nil {
		return nil, fmt.Errorf("interposer: %w", err)
	}
	ip := &Interposer{from: from, to: to, layout: layout, calib: calib}
	r, c := weights.Dims()
	if r != ip.Outputs() || c != ip.Features()+1 {
		return nil, fmt.Errorf("interposer: weights are %dx%d, want %dx%d (target channels · out phases x source channels · window² · in phases + bias)",
			r, c, ip.Outputs(), ip.Features()+1)
	}
	ip.weights = make([]float64, r*c)
	for i := range r {
		for j := range c {
			v := weights.At(i, j)
			if math.IsNaN(v) || math.IsInf(v, 0) {
				return nil, fmt.Errorf("interposer: weight [%d, %d] is %v", i, j, v)
			}
			ip.weights[i*c+j] = v
		}
	}
	return ip, nil
}

func checkFilter(f latent.Filter) error {
	switch f {
	case latent.Bilinear, latent.Bicubic, latent.Lanczos3:
		return nil
	}
	return fmt.Errorf("unknown resize %v", f)
}

// From and To describe the source and target sides.
func (ip *Interposer) From() Endpoint { return ip.from }
func (ip *Interposer) To() Endpoint   { return ip.to }

// Layout says how the map reads and writes the grids.
func (ip *Interposer) Layout() Layout { return ip.layout }

// Features is the number of weights per output, without the bias: source
// channels · Window² · input phases.
func (ip *Interposer) Features() int {
	return ip.from.Channels * ip.layout.Window * ip.layout.Window * ip.layout.inBlock()
}

// Outputs is the number of values the map writes per working pixel: target
// channels · output phases.
func (ip *Interposer) Outputs() int { return ip.to.Channels * ip.layout.outBlock() }

// Calibration describes the fit.
func (ip *Interposer) Calibration() Calibration {
	c := ip.calib
	c.Names = append([]string(nil), c.Names...)
	return c
}

// Matrix returns a copy of the map: Outputs() x (Features()+1), the bias in
// the last column (see New for the order).
func (ip *Interposer) Matrix() *mat.Dense {
	return mat.NewDense(ip.Outputs(), ip.Features()+1, append([]float64(nil), ip.weights...))
}

func (ip *Interposer) String() string {
	return fmt.Sprintf("interposer %s -> %s", ip.from.Space, ip.to.Space)
}

// CheckSpaces reports whether the interposer maps latents of space from to
// space to (by name and channel count): the check a caller makes before
// putting it in place of a pixel bridge.
func (ip *Interposer) CheckSpaces(from, to latent.Space) error {
	if from.Name != ip.from.Space || from.Channels != ip.from.Channels {
		return fmt.Errorf("%v maps from %q with %d channels, not %q with %d", ip, ip.from.Space, ip.from.Channels, from.Name, from.Channels)
	}
	if to.Name != ip.to.Space || to.Channels != ip.to.Channels {
		return fmt.Errorf("%v maps to %q with %d channels, not %q with %d", ip, ip.to.Space, ip.to.Channels, to.Name, to.Channels)
	}
	return nil
}

// shapeKey identifies the source and destination shapes of an Apply call.
type shapeKey [8]int

// plan holds what Apply needs for one pair of shapes, made on the first
// call: resizers and buffers, nil where a step is the identity.
type plan struct {
	ax   [2]axis
	pre  *latent.Resizer // source to the input phase grid
	post *latent.Resizer // output phase grid to the target
	// srcPhased is the source on the input phase grid, feat the features
	// of one batch item as Features() planes of the working grid, out its
	// outputs as Outputs() planes, outPhased the target on the output
	// phase grid.
	srcPhased, outPhased *latent.Tensor
	feat, out            []float32
}

// Apply writes the target-space latent of src ([N, From().Channels, h, w])
// into dst ([N, To().Channels, H, W]). The grids may have any sizes (the
// map is per working pixel), though it is best at the ratio it was fitted
// at. After the first call for a pair of shapes it allocates nothing.
func (ip *Interposer) Apply(src, dst *latent.Tensor) error {
	if len(src.Shape) != 4 || len(dst.Shape) != 4 {
		return fmt.Errorf("%v: %v to %v: tensors must be rank 4 (NCHW)", ip, src, dst)
	}
	if src.C() != ip.from.Channels || dst.C() != ip.to.Channels || src.N() != dst.N() {
		return fmt.Errorf("%v: %v to %v: want [N, %d, h, w] to [N, %d, H, W]", ip, src, dst, ip.from.Channels, ip.to.Channels)
	}
	if src.H() <= 0 || src.W() <= 0 || dst.H() <= 0 || dst.W() <= 0 {
		return fmt.Errorf("%v: %v to %v: empty grid", ip, src, dst)
	}
	ip.mu.Lock()
	defer ip.mu.Unlock()
	p, err := ip.plan(src, dst)
	if err != nil {
		return err
	}
	in := src
	if p.pre != nil {
		if err := p.pre.Resize(p.srcPhased, src); err != nil {
			return err
		}
		in = p.srcPhased
	}
	out := dst
	if p.outPhased != nil {
		out = p.outPhased
	}
	ip.run(p, in, out)
	if p.post != nil {
		return p.post.Resize(dst, p.outPhased)
	}
	return nil
}

func (ip *Interposer) plan(src, dst *latent.Tensor) (*plan, error) {
	key := shapeKey{src.N(), src.C(), src.H(), src.W(), dst.N(), dst.C(), dst.H(), dst.W()}
	if p, ok := ip.plans[key]; ok {
		return p, nil
	}
	if ip.w32 == nil {
		ip.w32 = make([]float32, len(ip.weights))
		for i, v := range ip.weights {
			ip.w32[i] = float32(v)
		}
	}
	l := ip.layout
	// A per-pixel map may run on the smaller grid, the source resampled
	// after it rather than before: with the source filter, since it stands
	// for the resampling of the source that the map was fitted after.
	perPixel := l.Window == 1 && l.inBlock() == 1 && l.outBlock() == 1
	p := &plan{ax: l.axes(src.H(), src.W(), dst.H(), dst.W(), perPixel)}
	pre, post := [2]int{p.ax[0].pre, p.ax[1].pre}, [2]int{p.ax[0].post, p.ax[1].post}
	postFilter := l.Filter
	if perPixel {
		postFilter = l.SourceFilter
	}
	var err error
	if pre != [2]int{src.H(), src.W()} {
		if p.pre, err = latent.NewResizer(src.H(), src.W(), pre[0], pre[1], l.SourceFilter); err != nil {
			return nil, fmt.Errorf("%v: %w", ip, err)
		}
		p.srcPhased = latent.New(src.N(), src.C(), pre[0], pre[1])
	}
	if post != [2]int{dst.H(), dst.W()} {
		if p.post, err = latent.NewResizer(post[0], post[1], dst.H(), dst.W(), postFilter); err != nil {
			return nil, fmt.Errorf("%v: %w", ip, err)
		}
		p.outPhased = latent.New(dst.N(), dst.C(), post[0], post[1])
	}
	work := p.ax[0].work * p.ax[1].work
	if l.Window > 1 || l.inBlock() > 1 {
		p.feat = make([]float32, ip.Features()*work)
	}
	if l.outBlock() > 1 {
		p.out = make([]float32, ip.Outputs()*work)
	}
	if ip.plans == nil {
		ip.plans = map[shapeKey]*plan{}
	}
	ip.plans[key] = p
	return p, nil
}

// run maps in (on the input phase grid) to out (on the output phase grid),
// batch item by batch item: gather the features (unless they are the
// source planes themselves), multiply by the matrix, scatter the outputs
// (unless they are the target planes themselves).
func (ip *Interposer) run(p *plan, in, out *latent.Tensor) {
	l := ip.layout
	hw, ww := p.ax[0].work, p.ax[1].work
	work := hw * ww
	cin, cout := ip.from.Channels, ip.to.Channels
	inPlane, outPlane := in.H()*in.W(), out.H()*out.W()
	for n := range in.N() {
		src := in.Data[n*cin*inPlane : (n+1)*cin*inPlane]
		dst := out.Data[n*cout*outPlane : (n+1)*cout*outPlane]
		feat := src
		if p.feat != nil {
			gather(l, cin, p.feat, src, hw, ww)
			feat = p.feat
		}
		res := dst
		if p.out != nil {
			res = p.out
		}
		ip.multiply(res, feat, work)
		if p.out != nil {
			scatter(dst, p.out, cout, hw, ww, l.OutPhases)
		}
	}
}

// multiply writes res (Outputs() planes of work values) = bias + W · feat
// (Features() planes), one output plane at a time: a weighted sum of the
// feature planes, which the f32 kernel accumulates in registers.
func (ip *Interposer) multiply(res, feat []float32, work int) {
	cols := ip.Features() + 1
	for o := range ip.Outputs() {
		w := ip.w32[o*cols : (o+1)*cols]
		f32.WeightedRows(res[o*work:(o+1)*work], w[cols-1], w[:cols-1], feat, work)
	}
}

// gather writes the features of every working pixel of one batch item:
// for source channel c, window offset (dy, dx) and input phase (py, px),
// the plane of source samples at ((y+dy)·ay + py, (x+dx)·ax + px), working
// coordinates clamped to the grid. The planes of offset (0, 0) split the
// source's blocks of phases (each row of input phase py holds ww groups of
// ax phases); the others are shifted copies of them.
func gather(l Layout, cin int, feat, src []float32, hw, ww int) {
	k, r := l.Window, l.Window/2
	ay, ax := l.InPhases[0], l.InPhases[1]
	block := ay * ax
	sw := ww * ax // source row length on the input phase grid
	splane := hw * ay * sw
	work := hw * ww
	for c := range cin {
		sc := src[c*splane : (c+1)*splane]
		centre := ((c*k+r)*k + r) * block
		for py := range ay {
			f32.Deinterleave(feat[(centre+py*ax)*work:], ww, work, sc[py*sw:], ay*sw, ax, ww, hw)
		}
		for dy := -r; dy <= r; dy++ {
			for dx := -r; dx <= r; dx++ {
				if dy == 0 && dx == 0 {
					continue
				}
				base := ((c*k+dy+r)*k + dx + r) * block
				for p := range block {
					shift(feat[(base+p)*work:(base+p+1)*work], feat[(centre+p)*work:(centre+p+1)*work], hw, ww, dy, dx)
				}
			}
		}
	}
}

// shift writes plane (hw x ww) shifted by (dy, dx) into dst: dst[y][x] =
// plane[y+dy][x+dx], coordinates clamped to the grid.
func shift(dst, plane []float32, hw, ww, dy, dx int) {
	for y := range hw {
		srow := plane[min(max(y+dy, 0), hw-1)*ww:][:ww]
		drow := dst[y*ww : (y+1)*ww]
		switch {
		case dx >= ww || -dx >= ww:
			for x := range drow {
				drow[x] = srow[min(max(x+dx, 0), ww-1)]
			}
		case dx >= 0:
			n := copy(drow, srow[dx:])
			for x := n; x < ww; x++ {
				drow[x] = srow[ww-1]
			}
		default:
			copy(drow[-dx:], srow)
			for x := range -dx {
				drow[x] = srow[0]
			}
		}
	}
}

// scatter writes the map's outputs (cout · OutPhases planes of the working
// grid) into the target on the output phase grid: output phase (qy, qx)
// of working pixel (y, x) goes to (y·by + qy, x·bx + qx). Each row of
// output phase qy interleaves the bx planes of that qy.
func scatter(dst, res []float32, cout, hw, ww int, phases [2]int) {
	by, bx := phases[0], phases[1]
	block := by * bx
	work := hw * ww
	dw := ww * bx
	dplane := hw * by * dw
	for o := range cout {
		for qy := range by {
			f32.Interleave(dst[o*dplane+qy*dw:], by*dw, res[(o*block+qy*bx)*work:], ww, work, bx, ww, hw)
		}
	}
}

// unscatter is the inverse of scatter: it reads the output phases of every
// working pixel from a target on the output phase grid, for fitting.
func unscatter(res, dst []float32, cout, hw, ww int, phases [2]int) {
	by, bx := phases[0], phases[1]
	block := by * bx
	work := hw * ww
	dw := ww * bx
	dplane := hw * by * dw
	for o := range cout {
		for qy := range by {
			f32.Deinterleave(res[(o*block+qy*bx)*work:], ww, work, dst[o*dplane+qy*dw:], by*dw, bx, ww, hw)
		}
	}
}
