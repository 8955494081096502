package denoise

import (
	"context"
	"fmt"
	"math"
	"sync"
	"sync/atomic"
	"unsafe"

	"github.com/coop-diffusion/coop/adapters"
	"github.com/coop-diffusion/coop/adapters/controlnet"
	"github.com/coop-diffusion/coop/adapters/internal/graph"
	"github.com/coop-diffusion/coop/coop/sampler"
	"github.com/coop-diffusion/coop/internal/f32"
	"github.com/coop-diffusion/coop/internal/onnx"
	"github.com/coop-diffusion/coop/internal/ort"
	"github.com/coop-diffusion/coop/latent"
)

// Inputs names the graph's inputs and output by role; "" where the graph
// has no such input.
type Inputs struct {
	Sample   string // the latent, [B, C, h, w]
	Timestep string // the time, rank 0 or [B]
	Context  string // text hidden states, [B, T, W] (encoder_hidden_states, clip_text)
	Pooled   string // pooled text embedding, [B, P] or [B, 1, P] (text_embeds, clip_text_pooled)
	TimeIDs  string // SDXL's micro-conditioning, [B, 6] or [B, 5]
	ClipImg  string // Stable Cascade's image embedding, zeros (no image prompt)
	Effnet   string // Stable Cascade stage B's stage C latent

	// ControlImages and ControlScales are the inputs of ControlNets fused
	// into the graph: [nCN, B, 3, H, W] and [nCN].
	ControlImages, ControlScales string

	Output string
}

// Config describes a denoiser graph.
type Config struct {
	// Info describes the model (Name, Family, Channels, Space, Control);
	// Info.Control lists the residual inputs of a unet built for split
	// ControlNets and the number of fused slots.
	Info  *adapters.Info
	Graph *graph.Model
	In    Inputs
	// Schedule is the model's own time axis; Time converts the engine's
	// abar into the value fed to the time input (a rounded timestep for an
	// integer input).
	Schedule sampler.Schedule
	Time     func(abar float64) float64
	// Prediction is what the output means; Predict converts it to epsilon.
	Prediction sampler.Prediction
	// TimeIDs writes the time_ids row of a request, for the unconditional
	// row when uncond is set.
	TimeIDs func(req *adapters.Request, uncond bool, row []float32)
	// UncondEffnetZero feeds zeros as the unconditional row's effnet, as
	// diffusers' Stable Cascade decoder does.
	UncondEffnetZero bool
	// Arch gives the sizes of residual inputs the graph leaves symbolic.
	Arch controlnet.Architecture
}

// Denoiser implements adapters.Denoiser for a unet-style graph.
type Denoiser struct {
	cfg        Config
	fixedBatch int // the sample's batch size when the graph fixes it, else 0
	calls      atomic.Int64

	mu      sync.Mutex
	bufs    map[int]*buffers // by batch size
	checked map[adapters.ControlNetModel]error
}

var (
	_ adapters.Denoiser       = (*Denoiser)(nil)
	_ adapters.ControlChecker = (*Denoiser)(nil)
)

// New checks what every denoiser needs of its graph (a rank-4 sample with
// Info.Channels channels, a rank-0 or rank-1 numeric time input, a rank-4
// output of the sample's channels; ranks of the conditioning inputs) and
// returns the denoiser. Its session opens on the first Predict.
func New(cfg Config) (*Denoiser, error) {
	m, in := cfg.Graph, cfg.In
	if in.Output == "" {
		return nil, m.Errorf("no output to read the prediction from (outputs: %s)", graph.List(m.Sig.Outputs))
	}
	sample, err := m.Require(in.Sample, "a denoiser")
	if err != nil {
		return nil, err
	}
	if err := m.CheckRank(sample, "input", 4); err != nil {
		return nil, err
	}
	if err := m.CheckFloat(sample, "input"); err != nil {
		return nil, err
	}
	if err := m.CheckDim(sample, "input", 1, cfg.Info.Channels, fmt.Sprintf("the latent channel count (%d in latent space %q)", cfg.Info.Channels, cfg.Info.Space.Name)); err != nil {
		return nil, err
	}
	t, err := m.Require(in.Timestep, "a denoiser")
	if err != nil {
		return nil, err
	}
	if err := m.CheckRank(t, "input", 0, 1); err != nil {
		return nil, err
	}
	if err := m.CheckNumeric(t, "input"); err != nil {
		return nil, err
	}
	out := m.Output(in.Output)
	if out == nil {
		return nil, m.Errorf("no output %q (outputs: %s)", in.Output, graph.List(m.Sig.Outputs))
	}
	if err := m.CheckRank(out, "output", 4); err != nil {
		return nil, err
	}
	if err := m.CheckFloat(out, "output"); err != nil {
		return nil, err
	}
	if err := m.CheckDim(out, "output", 1, cfg.Info.Channels, "the latent channel count"); err != nil {
		return nil, err
	}
	ranks := []struct {
		name  string
		ranks []int
	}{{in.Context, []int{3}}, {in.Pooled, []int{2, 3}}, {in.TimeIDs, []int{2}}, {in.ClipImg, []int{2, 3}}, {in.Effnet, []int{4}}, {in.ControlImages, []int{5}}, {in.ControlScales, []int{1}}}
	for _, r := range ranks {
		if r.name == "" {
			continue
		}
		v, err := m.Require(r.name, "the "+string(cfg.Info.Family)+" denoiser")
		if err != nil {
			return nil, err
		}
		if err := m.CheckRank(v, "input", r.ranks...); err != nil {
			return nil, err
		}
	}
	if in.TimeIDs != "" && cfg.TimeIDs == nil {
		return nil, m.Errorf("input %s needs a time_ids rule", in.TimeIDs)
	}
	d := &Denoiser{cfg: cfg, bufs: map[int]*buffers{}, checked: map[adapters.ControlNetModel]error{}}
	if n, ok := graph.Dim(sample, 0); ok {
		d.fixedBatch = n
		if n != 1 && n != 2 {
			return nil, m.Errorf("input %s has a fixed batch of %d; coop runs batches of 1 or 2", in.Sample, n)
		}
	}
	return d, nil
}

// Name is the model's name in the recipe.
func (d *Denoiser) Name() string { return d.cfg.Info.Name }

// Family is the model's family.
func (d *Denoiser) Family() adapters.Family { return d.cfg.Info.Family }

// Schedule is the model's own time axis.
func (d *Denoiser) Schedule() sampler.Schedule { return d.cfg.Schedule }

// Channels is the latent channel count.
func (d *Denoiser) Channels() int { return d.cfg.Info.Channels }

// Calls counts graph evaluations; a guided prediction in one batch counts
// once, ControlNet evaluations do not count.
func (d *Denoiser) Calls() int { return int(d.calls.Load()) }

// BatchedGuidance reports whether classifier-free guidance runs as one
// batch of two (the graph's batch axis is dynamic or fixed at 2) rather
// than two calls.
func (d *Denoiser) BatchedGuidance() bool { return d.fixedBatch != 1 }

// Close releases the graph's session.
func (d *Denoiser) Close() error { return d.cfg.Graph.Close() }

// CheckControl reports whether c can act on this denoiser: a split
// ControlNet must match the unet's residual inputs (adapters.CheckControl),
// a fused slot must be one of this unet's slots.
func (d *Denoiser) CheckControl(c adapters.ControlNetModel) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.checkControl(c)
}

func (d *Denoiser) checkControl(c adapters.ControlNetModel) error {
	if err, ok := d.checked[c]; ok {
		return err
	}
	var err error
	info := d.cfg.Info
	switch n := c.(type) {
	case *controlnet.Split:
		err = adapters.CheckControl(info, n.Info())
	case controlnet.Slot:
		switch {
		case info.Control.Fused == 0:
			err = fmt.Errorf("ControlNet %s on model %q: the unet has no fused ControlNets", n.Name(), info.Name)
		case n.Model != info.Name:
			err = fmt.Errorf("ControlNet %s is fused into the unet of model %q and cannot act on model %q", n.Name(), n.Model, info.Name)
		case n.Index < 0 || n.Index >= info.Control.Fused:
			err = fmt.Errorf("ControlNet %s: model %q has %d fused ControlNet slots", n.Name(), info.Name, info.Control.Fused)
		}
	case nil:
		err = fmt.Errorf("model %q: a control without a ControlNet", info.Name)
	default:
		err = fmt.Errorf("ControlNet %q (%T) is not one the %s adapter can drive", c.Name(), c, info.Family)
	}
	d.checked[c] = err
	return err
}

// row says which conditioning a batch row gets.
type row struct{ uncond bool }

// Predict writes the guided epsilon prediction for req into eps.
func (d *Denoiser) Predict(ctx context.Context, req *adapters.Request, eps *latent.Tensor) error {
	info := d.cfg.Info
	z := req.Latent
	if z == nil || len(z.Shape) != 4 || z.N() != 1 || z.C() != info.Channels {
		return fmt.Errorf("model %q: latent %v, want [1, %d, h, w]", info.Name, z, info.Channels)
	}
	if eps == nil || !eps.SameShape(z) {
		return fmt.Errorf("model %q: prediction buffer %v for latent %v", info.Name, eps, z)
	}
	if !(req.Abar > 0 && req.Abar < 1) {
		return fmt.Errorf("model %q: noise level abar %v outside (0, 1)", info.Name, req.Abar)
	}
	if req.Cond == nil && (d.cfg.In.Context != "" || d.cfg.In.Pooled != "") {
		return fmt.Errorf("model %q: request without conditioning", info.Name)
	}
	if d.cfg.In.Effnet != "" && req.Effnet == nil {
		return fmt.Errorf("model %q: the %s denoiser needs the stage C latent (Request.Effnet)", info.Name, info.Family)
	}
	if d.cfg.In.TimeIDs != "" && (req.Height <= 0 || req.Width <= 0) {
		return fmt.Errorf("model %q: time_ids need the image size (Request.Height and Width)", info.Name)
	}
	guided := req.Cond != nil && req.Cond.Guidance > 1
	if d.cfg.In.Context != "" && (req.Cond.Cond.Hidden == nil || guided && req.Cond.Uncond.Hidden == nil) {
		return fmt.Errorf("model %q: conditioning without text embeddings (guidance %g needs both the prompt's and the negative prompt's)", info.Name, req.Cond.Guidance)
	}
	if d.cfg.In.Pooled != "" && (req.Cond.Cond.Pooled == nil || guided && req.Cond.Uncond.Pooled == nil) {
		return fmt.Errorf("model %q: the %s denoiser needs pooled text embeddings (%s), and the conditioning lacks them", info.Name, info.Family, d.cfg.In.Pooled)
	}

	d.mu.Lock()
	defer d.mu.Unlock()
	for _, c := range req.Controls {
		if err := d.checkControl(c.Net); err != nil {
			return err
		}
	}
	t := d.cfg.Time(req.Abar)
	switch {
	case guided && d.fixedBatch != 1:
		b, err := d.run(ctx, req, t, []row{{uncond: true}, {}})
		if err != nil {
			return err
		}
		if err := d.toEpsilon(b, 0, req); err != nil {
			return err
		}
		if err := d.toEpsilon(b, 1, req); err != nil {
			return err
		}
		guide(eps.Data, b.rows[0].Data, b.rows[1].Data, req.Cond.Guidance)
	case guided:
		b, err := d.run(ctx, req, t, []row{{uncond: true}})
		if err != nil {
			return err
		}
		if err := d.toEpsilon(b, 0, req); err != nil {
			return err
		}
		copy(b.spare.Data, b.rows[0].Data)
		if b, err = d.run(ctx, req, t, []row{{}}); err != nil {
			return err
		}
		if err := d.toEpsilon(b, 0, req); err != nil {
			return err
		}
		guide(eps.Data, b.spare.Data, b.rows[0].Data, req.Cond.Guidance)
	default:
		b, err := d.run(ctx, req, t, []row{{}})
		if err != nil {
			return err
		}
		if err := d.toEpsilon(b, 0, req); err != nil {
			return err
		}
		copy(eps.Data, b.rows[0].Data)
	}
	return nil
}

// guide writes u + w (c - u), computed in float64.
func guide(dst, u, c []float32, w float64) { f32.Guide(dst, u, c, w) }

func (d *Denoiser) toEpsilon(b *buffers, i int, req *adapters.Request) error {
	if d.cfg.Prediction == sampler.Epsilon {
		return nil
	}
	return sampler.ToEpsilon(d.cfg.Prediction, b.rows[i], req.Latent, req.Abar, b.rows[i])
}

// buffers are one batch size's inputs and output, reused across steps.
type buffers struct {
	b                        int
	sample, context, pooled  *latent.Tensor
	timeIDs, clipImg, effnet *latent.Tensor
	down                     []*latent.Tensor
	mid                      *latent.Tensor
	// residualsSet is set once a split ControlNet has written down and
	// mid, which hold zeros otherwise (new buffers are zeroed).
	residualsSet              bool
	controlImages, scales     *latent.Tensor
	controlImage              *latent.Tensor // one split control's image batch
	controlImageFrom          source         // the image controlImage holds
	slotFrom                  []source       // the image each fused slot's rows hold; zero: zeros
	slotWant                  []source       // scratch: the image each slot must hold this prediction
	out                       *latent.Tensor
	rows                      []*latent.Tensor // views of out, one per batch row
	spare                     *latent.Tensor   // the unconditional result of two-call guidance
	inputs                    map[string]ort.Input
	outputs                   map[string]*latent.Tensor
	latentShape, contextShape [3]int
	effnetShape               [3]int
	pooledLen                 int
	// contextFrom and pooledFrom say which embeddings each batch row of
	// context and pooled holds: a prompt's embeddings stay the same for a
	// whole run (and across runs of the same prompt), so they are copied
	// into the batch only when a row's embeddings change.
	contextFrom, pooledFrom []source
}

// source identifies the data a batch row was copied from: its first
// element and length. Embeddings are not modified once made
// (adapters.Embeddings), so the same slice means the same values; and
// since p is a pointer the garbage collector follows, the array it points
// into stays alive, so no other embedding can take its address.
type source struct {
	p *float32
	n int
}

// fillRow copies src into dst unless *from says dst already holds it.
func fillRow(dst, src []float32, from *source) {
	s := source{unsafe.SliceData(src), len(src)}
	if *from == s {
		return
	}
	copy(dst, src)
	*from = s
}

// buffersFor returns the buffers of batch size b for req, reallocating
// what the request's shapes no longer fit.
func (d *Denoiser) buffersFor(req *adapters.Request, b int) (*buffers, error) {
	in, info, m := d.cfg.In, d.cfg.Info, d.cfg.Graph
	z := req.Latent
	c, h, w := z.C(), z.H(), z.W()
	var ctxShape [3]int
	if in.Context != "" {
		hid := req.Cond.Cond.Hidden
		if hid == nil || len(hid.Shape) != 3 || hid.Shape[0] != 1 {
			return nil, fmt.Errorf("model %q: text embedding %v, want [1, tokens, width]", info.Name, hid)
		}
		if u := req.Cond.Uncond.Hidden; u != nil && !u.SameShape(hid) {
			return nil, fmt.Errorf("model %q: the negative prompt's embedding %v differs in shape from the prompt's %v; encode both with the same text encoder", info.Name, u, hid)
		}
		ctxShape = [3]int{b, hid.Shape[1], hid.Shape[2]}
		v := m.Input(in.Context)
		if err := checkGiven(m, v, []int{b, hid.Shape[1], hid.Shape[2]}, "text embedding"); err != nil {
			return nil, err
		}
	}
	var effShape [3]int
	if in.Effnet != "" && len(req.Effnet.Shape) == 4 {
		effShape = [3]int{req.Effnet.C(), req.Effnet.H(), req.Effnet.W()}
	}
	pooledLen := 0
	if in.Pooled != "" && req.Cond.Cond.Pooled != nil {
		pooledLen = req.Cond.Cond.Pooled.Len()
	}
	buf := d.bufs[b]
	if buf != nil && buf.latentShape == [3]int{c, h, w} && buf.contextShape == ctxShape && buf.effnetShape == effShape && buf.pooledLen == pooledLen {
		return buf, nil
	}
	buf = &buffers{b: b, latentShape: [3]int{c, h, w}, contextShape: ctxShape, effnetShape: effShape, pooledLen: pooledLen,
		inputs: map[string]ort.Input{}, outputs: map[string]*latent.Tensor{},
		contextFrom: make([]source, b), pooledFrom: make([]source, b)}
	buf.sample = latent.New(b, c, h, w)
	buf.inputs[in.Sample] = ort.Float(buf.sample)
	if in.Context != "" {
		buf.context = latent.New(ctxShape[:]...)
		buf.inputs[in.Context] = ort.Float(buf.context)
	}
	if in.Pooled != "" {
		p := req.Cond.Cond.Pooled
		if p == nil {
			return nil, fmt.Errorf("model %q: the %s denoiser needs a pooled text embedding (%s) and the conditioning has none", info.Name, info.Family, in.Pooled)
		}
		v := m.Input(in.Pooled)
		shape := []int{b, p.Len()}
		if len(v.Dims) == 3 {
			shape = []int{b, 1, p.Len()}
		}
		if err := checkGiven(m, v, shape, "pooled text embedding"); err != nil {
			return nil, err
		}
		buf.pooled = latent.New(shape...)
		buf.inputs[in.Pooled] = ort.Float(buf.pooled)
	}
	if in.TimeIDs != "" {
		n, ok := graph.LastDim(m.Input(in.TimeIDs))
		if !ok {
			return nil, m.Errorf("input %s has no fixed width", in.TimeIDs)
		}
		buf.timeIDs = latent.New(b, n)
		buf.inputs[in.TimeIDs] = ort.Float(buf.timeIDs)
	}
	if in.ClipImg != "" {
		v := m.Input(in.ClipImg)
		shape := []int{b, 768}
		if len(v.Dims) == 3 {
			shape = []int{b, 1, 768}
		}
		for k := 1; k < len(shape); k++ {
			if n, ok := graph.Dim(v, k); ok {
				shape[k] = n
			}
		}
		buf.clipImg = latent.New(shape...)
		buf.inputs[in.ClipImg] = ort.Float(buf.clipImg)
	}
	if in.Effnet != "" {
		e := req.Effnet
		if len(e.Shape) != 4 || e.N() != 1 {
			return nil, fmt.Errorf("model %q: stage C latent %v, want [1, C, h, w]", info.Name, e)
		}
		shape := []int{b, e.C(), e.H(), e.W()}
		if err := checkGiven(m, m.Input(in.Effnet), shape, "stage C latent (effnet)"); err != nil {
			return nil, err
		}
		buf.effnet = latent.New(shape...)
		buf.inputs[in.Effnet] = ort.Float(buf.effnet)
	}
	ports := info.Control
	sampleInfo := m.Input(in.Sample)
	for _, r := range ports.Down {
		t := latent.New(d.cfg.Arch.Shape(m.Input(r.Name), sampleInfo, r.Index, b, h, w)...)
		buf.down = append(buf.down, t)
		buf.inputs[r.Name] = ort.Float(t)
	}
	if ports.Mid != nil {
		buf.mid = latent.New(d.cfg.Arch.Shape(m.Input(ports.Mid.Name), sampleInfo, -1, b, h, w)...)
		buf.inputs[ports.Mid.Name] = ort.Float(buf.mid)
	}
	if in.ControlImages != "" {
		hp, wp := d.pixelSize(h, w)
		buf.controlImages = latent.New(ports.Fused, b, 3, hp, wp)
		buf.scales = latent.New(ports.Fused)
		buf.inputs[in.ControlImages] = ort.Float(buf.controlImages)
		buf.inputs[in.ControlScales] = ort.Float(buf.scales)
	}
	buf.out = latent.New(b, c, h, w)
	buf.outputs[in.Output] = buf.out
	for i := range b {
		buf.rows = append(buf.rows, buf.out.Batch(i))
	}
	buf.spare = latent.New(1, c, h, w)
	d.bufs[b] = buf
	return buf, nil
}

// checkGiven compares a shape coop is about to feed with the declared one,
// so that the error names the model and the role rather than ONNX
// Runtime's terms.
func checkGiven(m *graph.Model, v *onnx.ValueInfo, shape []int, what string) error {
	if v == nil || !v.HasShape {
		return nil
	}
	if len(v.Dims) != len(shape) {
		return m.Errorf("input %s is %s; the %s is %v", v.Name, graph.Describe(v), what, shape)
	}
	for k, d := range v.Dims {
		if k > 0 && d.Fixed() && int(d.Value) != shape[k] {
			return m.Errorf("input %s is %s; the %s has %d where the graph wants %d (axis %d)", v.Name, graph.Describe(v), what, shape[k], d.Value, k)
		}
	}
	return nil
}

// pixelSize is the image size of a latent of h x w.
func (d *Denoiser) pixelSize(h, w int) (int, int) {
	f := d.cfg.Info.Space.Factor
	return int(math.Round(float64(h) * f)), int(math.Round(float64(w) * f))
}

// run evaluates the graph on one batch (rows padded to a fixed batch size
// with conditional copies) and leaves the raw outputs in the buffers' rows.
func (d *Denoiser) run(ctx context.Context, req *adapters.Request, t float64, rows []row) (*buffers, error) {
	b := len(rows)
	if d.fixedBatch > b {
		for len(rows) < d.fixedBatch {
			rows = append(rows, row{})
		}
		b = d.fixedBatch
	}
	buf, err := d.buffersFor(req, b)
	if err != nil {
		return nil, err
	}
	in := d.cfg.In
	per := req.Latent.Len()
	copy(buf.sample.Data[:per], req.Latent.Data)
	for i := 1; i < b; i++ {
		// From row 0, which the copy above left in the cache.
		copy(buf.sample.Data[i*per:(i+1)*per], buf.sample.Data[:per])
	}
	buf.inputs[in.Timestep] = ort.Scalar(t)
	for i, r := range rows {
		var emb *adapters.Embeddings
		if req.Cond != nil {
			emb = &req.Cond.Cond
			if r.uncond {
				emb = &req.Cond.Uncond
			}
		}
		if buf.context != nil {
			n := emb.Hidden.Len()
			fillRow(buf.context.Data[i*n:(i+1)*n], emb.Hidden.Data, &buf.contextFrom[i])
		}
		if buf.pooled != nil {
			if emb.Pooled == nil || emb.Pooled.Len() != buf.pooled.Len()/b {
				return nil, fmt.Errorf("model %q: pooled text embedding %v, want %d values", d.cfg.Info.Name, emb.Pooled, buf.pooled.Len()/b)
			}
			n := emb.Pooled.Len()
			fillRow(buf.pooled.Data[i*n:(i+1)*n], emb.Pooled.Data, &buf.pooledFrom[i])
		}
		if buf.timeIDs != nil {
			n := buf.timeIDs.Shape[1]
			d.cfg.TimeIDs(req, r.uncond, buf.timeIDs.Data[i*n:(i+1)*n])
		}
		if buf.effnet != nil {
			n := req.Effnet.Len()
			dst := buf.effnet.Data[i*n : (i+1)*n]
			if r.uncond && d.cfg.UncondEffnetZero {
				clear(dst)
			} else {
				copy(dst, req.Effnet.Data)
			}
		}
	}
	if err := d.applyControls(ctx, req, buf); err != nil {
		return nil, err
	}
	if err := d.cfg.Graph.Run(ctx, buf.inputs, buf.outputs); err != nil {
		return nil, err
	}
	d.calls.Add(1)
	return buf, nil
}

// applyControls fills the residual inputs (zeros plus every active split
// ControlNet's residuals) and the fused control slots.
func (d *Denoiser) applyControls(ctx context.Context, req *adapters.Request, buf *buffers) error {
	// The residual inputs hold zeros unless a split ControlNet acts. One
	// ControlNet alone writes them whole (WriteResiduals); otherwise they
	// are zeroed, when the last prediction left them otherwise, and each
	// ControlNet adds into them.
	splits := 0
	for _, c := range req.Controls {
		if _, ok := c.Net.(*controlnet.Split); ok && c.Scale != 0 {
			splits++
		}
	}
	if splits != 1 && buf.residualsSet {
		for _, t := range buf.down {
			clear(t.Data)
		}
		if buf.mid != nil {
			clear(buf.mid.Data)
		}
		buf.residualsSet = false
	}
	var slotWant []source // by fused slot: the image it must hold, zero for none
	if buf.controlImages != nil {
		clear(buf.scales.Data)
		if len(buf.slotFrom) != len(buf.scales.Data) {
			buf.slotFrom = make([]source, len(buf.scales.Data))
			buf.slotWant = make([]source, len(buf.scales.Data))
		}
		slotWant = buf.slotWant
		clear(slotWant)
	}
	hp, wp := d.pixelSize(buf.latentShape[1], buf.latentShape[2])
	for _, c := range req.Controls {
		img := c.Image
		if img == nil || len(img.Shape) != 4 || img.N() != 1 || img.C() != 3 || img.H() != hp || img.W() != wp {
			return fmt.Errorf("model %q: control image of %s is %v, want [1, 3, %d, %d] (the latent's pixel size)", d.cfg.Info.Name, c.Net.Name(), img, hp, wp)
		}
		switch n := c.Net.(type) {
		case *controlnet.Split:
			if c.Scale == 0 {
				continue
			}
			if buf.controlImage == nil {
				buf.controlImage = latent.New(buf.b, 3, hp, wp)
			}
			// Control images, like embeddings, are not modified once
			// given: the batch keeps the last one, 3 MiB a row at 512 px.
			if from := (source{unsafe.SliceData(img.Data), len(img.Data)}); buf.controlImageFrom != from {
				per := img.Len()
				for i := range buf.b {
					copy(buf.controlImage.Data[i*per:(i+1)*per], img.Data)
				}
				buf.controlImageFrom = from
			}
			add := n.AddResiduals
			if splits == 1 {
				add = n.WriteResiduals
			}
			// Set before the call: a failed run may have written some.
			buf.residualsSet = true
			if err := add(ctx, buf.inputs, buf.controlImage, c.Scale, buf.down, buf.mid); err != nil {
				return err
			}
		case controlnet.Slot:
			slotWant[n.Index] = source{unsafe.SliceData(img.Data), len(img.Data)}
			buf.scales.Data[n.Index] = float32(c.Scale)
		}
	}
	// Each fused slot's rows hold its control image, or zeros when no
	// control uses it; they are written only when that changes.
	for k, want := range slotWant {
		if buf.slotFrom[k] == want {
			continue
		}
		rows := buf.controlImages.Data[k*buf.b*hp*wp*3 : (k+1)*buf.b*hp*wp*3]
		if want.p == nil {
			clear(rows)
		} else {
			img := unsafe.Slice(want.p, want.n)
			for i := range buf.b {
				copy(rows[i*want.n:(i+1)*want.n], img)
			}
		}
		buf.slotFrom[k] = want
	}
	return nil
}
