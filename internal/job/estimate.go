package job

import (
	"fmt"
	"slices"
	"sort"

	"github.com/coop-diffusion/coop/adapters"
	"github.com/coop-diffusion/coop/coop"
	"github.com/coop-diffusion/coop/coop/sampler"
	"github.com/coop-diffusion/coop/graphs"
	"github.com/coop-diffusion/coop/latent"
)

// Estimate is what one run of a job will do, worked out from the plan and
// the models' signatures before anything runs: `coop plan` prints it, and
// the report of `coop run` for the same recipe has the same counts. It
// follows the engine's rules step by step: a participant predicts at the
// steps where its weight is positive; a guided prediction (guidance > 1)
// costs one graph evaluation when the denoiser batches the conditional and
// unconditional rows and two otherwise; each active split ControlNet runs
// once per evaluation of its base; a participant in a foreign space
// carries its prediction to the primary space (one decode and one encode)
// at every step it predicts (every k-th step with bridge.every), takes up
// the fused estimate carried back before each prediction after its first,
// and when it joins a stage already under way starts from the primary's
// estimate carried over; a stage entered by renoise or naive carries the
// clean estimate over, and the final latent is decoded once. Every decode
// of a Stable Cascade prior whose recipe entry names a decoder runs that
// decoder's stage B for its steps (cascade.Bridge): those evaluations count
// under the decoder's name, with no predictions.
type Estimate struct {
	Stages []StageEstimate `json:"stages"`
	// Models lists the denoising models' predictions and graph
	// evaluations, by recipe name.
	Models []ModelEstimate `json:"models"`
	// ControlNets lists the split ControlNets' graph evaluations.
	ControlNets []ControlNetEstimate `json:"controlnets,omitempty"`
	// Bridges lists decodes and encodes per direction, as coop.Report
	// does (the final decode is "MODEL -> image").
	Bridges []coop.BridgeReport `json:"bridges"`
	// ModelEvaluations is the number of denoiser graph evaluations:
	// coop.Report.ModelEvaluations of the run.
	ModelEvaluations int `json:"model_evaluations"`
	// ControlNetEvaluations counts split ControlNet evaluations, which
	// Report.ModelEvaluations does not include.
	ControlNetEvaluations int `json:"controlnet_evaluations"`
	// Decodes and Encodes are the autoencoder evaluations of bridges and
	// the final decode.
	Decodes int            `json:"decodes"`
	Encodes int            `json:"encodes"`
	Memory  MemoryEstimate `json:"memory"`
}

// StageEstimate is one stage of an Estimate.
type StageEstimate struct {
	Name  string `json:"name"`
	Entry string `json:"entry"`
	// First and End delimit the steps [First, End) of a schedule of
	// ScheduleSteps steps that the stage runs.
	First         int    `json:"first_step"`
	End           int    `json:"end_step"`
	Steps         int    `json:"steps"`
	ScheduleSteps int    `json:"schedule_steps"`
	Sampler       string `json:"sampler"`
	Width         int    `json:"width"`
	Height        int    `json:"height"`
	// EntryCarry is true when the stage starts by carrying the previous
	// stage's clean estimate into its space (renoise, naive).
	EntryCarry   bool                  `json:"entry_carry"`
	Participants []ParticipantEstimate `json:"participants"`
	// PerStep is the cost of each of the stage's steps.
	PerStep []StepCost `json:"per_step"`
	// EntryEvaluations are the stage B evaluations of the entry carry, when
	// a prior decoded through a decoder hands over.
	EntryEvaluations int `json:"entry_evaluations,omitempty"`
	// ModelEvaluations sums PerStep's evaluations and EntryEvaluations.
	ModelEvaluations int `json:"model_evaluations"`
}

// StepCost is what one step costs.
type StepCost struct {
	// Evaluations are denoiser graph evaluations, those of Stable Cascade
	// stage B inside the step's bridge decodes included; ControlNet the
	// split ControlNets' evaluations.
	Evaluations int `json:"evaluations"`
	// BridgeEvaluations is the part of Evaluations spent decoding a
	// prior's latents through a decoder's stage B.
	BridgeEvaluations int `json:"bridge_evaluations,omitempty"`
	ControlNet        int `json:"controlnet"`
	// Carries are pixel-bridge carries (one decode and one encode each);
	// InterposerMaps the carries through an interposer file instead
	// (bridge.interposer or bridge.back: a linear map from latents to
	// latents, no decode or encode).
	Carries        int `json:"carries"`
	InterposerMaps int `json:"interposer_maps,omitempty"`
}

// ParticipantEstimate is one participant of a stage.
type ParticipantEstimate struct {
	Model  string          `json:"model"`
	Family adapters.Family `json:"family"`
	// Foreign is true for a participant in another latent space or size
	// than the primary's: it keeps its own trajectory, bridged.
	Foreign bool `json:"foreign"`
	Width   int  `json:"width"`
	Height  int  `json:"height"`
	// Guidance is its classifier-free guidance; EvalsPerPrediction the
	// graph evaluations each prediction costs (1, or 2 when guided with a
	// graph whose batch is fixed at one).
	Guidance           float64 `json:"guidance"`
	EvalsPerPrediction int     `json:"evals_per_prediction"`
	Predictions        int     `json:"predictions"`
	Evaluations        int     `json:"evaluations"`
	// ToPrimary and FromPrimary count the bridge carries of a foreign
	// participant (its prediction to the primary space, the fused one
	// back, and the carries that start its trajectory when it joins).
	ToPrimary   int               `json:"to_primary,omitempty"`
	FromPrimary int               `json:"from_primary,omitempty"`
	Controls    []ControlEstimate `json:"controls,omitempty"`
}

// ControlEstimate is a ControlNet attached to a participant in one stage.
type ControlEstimate struct {
	Model string  `json:"model"`
	Scale float64 `json:"scale"`
	// Fused is true for a ControlNet inside the unet graph, which costs
	// no evaluation of its own.
	Fused       bool `json:"fused"`
	ActiveSteps int  `json:"active_steps"`
	Evaluations int  `json:"evaluations"`
}

// ModelEstimate is a denoising model's share of the run.
type ModelEstimate struct {
	Name        string `json:"name"`
	Predictions int    `json:"predictions"`
	Calls       int    `json:"calls"`
	// Decodes counts the decodes of other models' latents (those of the
	// Stable Cascade priors in DecodesFor, whose recipe entries name this
	// model as decoder) that run this model's stage B; DecodeCalls is
	// their part of Calls, which counts no predictions.
	Decodes     int      `json:"decodes,omitempty"`
	DecodeCalls int      `json:"decode_calls,omitempty"`
	DecodesFor  []string `json:"decodes_for,omitempty"`
}

// ControlNetEstimate is a split ControlNet's share of the run.
type ControlNetEstimate struct {
	Name        string `json:"name"`
	Evaluations int    `json:"evaluations"`
}

// MemoryEstimate is an estimate of the memory a run holds at its peak.
// Weights: ONNX Runtime holds about a model file's size in memory per
// session (float16 files stay float16), so a model weighs the sum of its
// ONNX files and their external data. The engine opens a model's sessions
// before the first stage that uses it; releasing them after the last
// (coop run does for its last image) bounds the peak by the stage whose
// open models weigh most. Buffers are the engine's float32 tensors:
// latents, fused predictions, the denoisers' batched inputs and outputs,
// text embeddings, bridge pixel buffers and the image. What the graphs
// need while they run (activations) comes on top; for a real unet at
// 1024 px it can be as large as the weights.
type MemoryEstimate struct {
	// WeightBytes is the peak weight of the models open at once when
	// each is released after its last stage, reached at PeakStage.
	WeightBytes int64 `json:"weight_bytes"`
	PeakStage   int   `json:"peak_stage"`
	// HeldWeightBytes is the weight of every model the plan uses, all
	// open at once (models kept loaded between images).
	HeldWeightBytes int64 `json:"held_weight_bytes"`
	BufferBytes     int64 `json:"buffer_bytes"`
	// TotalBytes is WeightBytes + BufferBytes.
	TotalBytes int64 `json:"total_bytes"`
	// Files lists the model files counted, by model.
	Files map[string][]ModelFile `json:"files"`
}

// batcher is implemented by denoisers that can say whether guidance runs
// in one batch (adapters/internal/denoise.Denoiser).
type batcher interface{ BatchedGuidance() bool }

// sampledDecoder is implemented by autoencoders whose decode runs another
// model's denoiser (cascade.Bridge).
type sampledDecoder interface {
	Decoder() string
	CallsPerDecode() int
}

// Estimate works out what running the job's plan costs on the models ms
// (which need not have opened sessions: Load opens none until the first
// evaluation).
func (j *Job) Estimate(ms *Models) (*Estimate, error) {
	e := &estimator{job: j, ms: ms, bridges: map[[3]string]*coop.BridgeReport{},
		models: map[string]*ModelEstimate{}, cns: map[string]int{}, bridgeBuffers: map[string]bool{}}
	est := &Estimate{}
	var prevPrimary string
	for si, st := range j.Plan.Stages {
		se, err := e.stage(si, st, prevPrimary)
		if err != nil {
			return nil, err
		}
		est.Stages = append(est.Stages, se)
		prevPrimary = st.Primary().Model
	}
	e.carry(prevPrimary, "image", "decode", 1, 0)

	for _, m := range j.Recipe.ModelNames() {
		if cm := ms.ByName[m]; cm != nil && cm.Denoiser != nil {
			if e.models[m] == nil {
				e.models[m] = &ModelEstimate{Name: m}
			}
		}
	}
	for _, m := range e.models {
		est.Models = append(est.Models, *m)
		est.ModelEvaluations += m.Calls
	}
	sort.Slice(est.Models, func(a, b int) bool { return est.Models[a].Name < est.Models[b].Name })
	for name, n := range e.cns {
		est.ControlNets = append(est.ControlNets, ControlNetEstimate{Name: name, Evaluations: n})
		est.ControlNetEvaluations += n
	}
	sort.Slice(est.ControlNets, func(a, b int) bool { return est.ControlNets[a].Name < est.ControlNets[b].Name })
	for _, b := range e.bridges {
		est.Bridges = append(est.Bridges, *b)
		est.Decodes += b.Decodes
		est.Encodes += b.Encodes
	}
	sort.Slice(est.Bridges, func(a, b int) bool {
		x, y := est.Bridges[a], est.Bridges[b]
		if x.From != y.From {
			return x.From < y.From
		}
		if x.To != y.To {
			return x.To < y.To
		}
		return x.Kind < y.Kind
	})
	mem, err := e.memory()
	if err != nil {
		return nil, err
	}
	est.Memory = mem
	return est, nil
}

type estimator struct {
	job     *Job
	ms      *Models
	bridges map[[3]string]*coop.BridgeReport
	models  map[string]*ModelEstimate
	cns     map[string]int
	buffers int64 // float32 values
	// bridgeBuffers records the priors whose stage B buffers are counted.
	bridgeBuffers map[string]bool
}

// carry counts dec decodes by model from's autoencoder and enc encodes by
// to's, and returns the denoiser evaluations the decodes cost (stage B's,
// for a prior decoded through a decoder).
func (e *estimator) carry(from, to, kind string, dec, enc int) int {
	b := e.bridgeReport(from, to, kind)
	b.Decodes += dec
	b.Encodes += enc
	return e.decodeCost(from, dec)
}

// bridgeReport is the predicted report of the bridge from -> to of kind.
func (e *estimator) bridgeReport(from, to, kind string) *coop.BridgeReport {
	key := [3]string{from, to, kind}
	b := e.bridges[key]
	if b == nil {
		b = &coop.BridgeReport{From: from, To: to, Kind: kind}
		e.bridges[key] = b
	}
	return b
}

// decodeCost counts the stage B evaluations of n decodes by model name's
// autoencoder under the decoder's name, and returns them.
func (e *estimator) decodeCost(name string, n int) int {
	cm := e.ms.ByName[name]
	if cm == nil || n == 0 {
		return 0
	}
	sd, ok := cm.VAE.(sampledDecoder)
	if !ok {
		return 0
	}
	calls := n * sd.CallsPerDecode()
	m := e.models[sd.Decoder()]
	if m == nil {
		m = &ModelEstimate{Name: sd.Decoder()}
		e.models[sd.Decoder()] = m
	}
	m.Calls += calls
	m.Decodes += n
	m.DecodeCalls += calls
	if !slices.Contains(m.DecodesFor, name) {
		m.DecodesFor = append(m.DecodesFor, name)
		slices.Sort(m.DecodesFor)
	}
	return calls
}

// bridge counts one carry of a participant's bridge: through an
// interposer file when one is named, else through pixels (a decode and an
// encode). It returns the denoiser evaluations of the decode.
func (e *estimator) bridge(from, to, interposerFile string) int {
	if interposerFile != "" {
		e.bridgeReport(from, to, "interposer").Maps++
		return 0
	}
	return e.carry(from, to, "pixel", 1, 1)
}

// stepCarry counts a participant's carry from model from's space to to's
// in a step's cost: through interposerFile when one is named, else
// through pixels.
func (e *estimator) stepCarry(cost *StepCost, from, to, interposerFile string) {
	if interposerFile != "" {
		cost.InterposerMaps++
	} else {
		cost.Carries++
	}
	cost.BridgeEvaluations += e.bridge(from, to, interposerFile)
}

// countBridgeBuffers adds, once per model, the buffers of a stage B loop
// that decodes model name's latents at h x w pixels: its state, model
// input and prediction, the denoiser's sample and output, the noise it
// keeps (about one latent per step) and the pooled text embedding.
func (e *estimator) countBridgeBuffers(name string, h, w int) {
	cm := e.ms.ByName[name]
	if cm == nil || e.bridgeBuffers[name] {
		return
	}
	sd, ok := cm.VAE.(sampledDecoder)
	if !ok {
		return
	}
	dec := e.ms.ByName[sd.Decoder()]
	if dec == nil || dec.VAE == nil {
		return
	}
	sp := dec.VAE.Space()
	lh, lw, err := sp.LatentSize(h, w)
	if err != nil {
		return
	}
	e.bridgeBuffers[name] = true
	e.buffers += int64(5+sd.CallsPerDecode())*int64(sp.Channels*lh*lw) + 1280
}

// end is a participant's latent space at a pixel size.
type estEnd struct {
	space         latent.Space
	height, width int
}

func (a estEnd) same(b estEnd) bool {
	if a.height != b.height || a.width != b.width {
		return false
	}
	sa, sb := a.space, b.space
	if sa.Name != sb.Name || sa.Channels != sb.Channels || sa.Factor != sb.Factor ||
		sa.ScalingFactor != sb.ScalingFactor || sa.ShiftFactor != sb.ShiftFactor || len(sa.LatentsMean) != len(sb.LatentsMean) {
		return false
	}
	for i := range sa.LatentsMean {
		if sa.LatentsMean[i] != sb.LatentsMean[i] || sa.LatentsStd[i] != sb.LatentsStd[i] {
			return false
		}
	}
	return true
}

func (a estEnd) latentLen() (int64, error) {
	h, w, err := a.space.LatentSize(a.height, a.width)
	if err != nil {
		return 0, err
	}
	return int64(a.space.Channels * h * w), nil
}

// space is the latent space a loaded model's autoencoder works in; the
// engine decides shared and foreign participants by it.
func (e *estimator) space(name string) (latent.Space, error) {
	m := e.ms.ByName[name]
	if m == nil || m.VAE == nil || m.Denoiser == nil {
		return latent.Space{}, fmt.Errorf("model %s cannot take part in a stage (it has no denoiser and autoencoder)", name)
	}
	return m.VAE.Space(), nil
}

func (e *estimator) stage(si int, st *graphs.Stage, prevPrimary string) (StageEstimate, error) {
	se := StageEstimate{Name: st.Name, Entry: string(st.Entry), First: st.First, End: st.End, Steps: st.Steps(),
		ScheduleSteps: st.Config.Steps, Sampler: st.Sampler, Width: st.Width, Height: st.Height}
	if canon, err := sampler.Canonical(st.Sampler); err == nil {
		se.Sampler = canon
	}
	plan, err := sampler.NewPlan(st.Sampler, st.Config)
	if err != nil {
		return se, fmt.Errorf("stage %s: %w", st.Name, err)
	}
	if st.End > plan.Len() {
		return se, fmt.Errorf("stage %s runs to step %d of a %d-step schedule", st.Name, st.End, plan.Len())
	}
	primName := st.Primary().Model
	ps, err := e.space(primName)
	if err != nil {
		return se, fmt.Errorf("stage %s: %w", st.Name, err)
	}
	prim := estEnd{space: ps, height: st.Height, width: st.Width}
	primLen, err := prim.latentLen()
	if err != nil {
		return se, fmt.Errorf("stage %s: model %s: %w", st.Name, primName, err)
	}
	// x, z, x0, the fused prediction and the carried one.
	e.buffers += 5 * primLen
	if st.Entry == graphs.Renoise || st.Entry == graphs.Naive {
		se.EntryCarry = true
		se.EntryEvaluations = e.carry(prevPrimary, primName, "pixel", 1, 1)
		se.ModelEvaluations += se.EntryEvaluations
	}

	n := st.Steps()
	type partState struct {
		est     *ParticipantEstimate
		end     estEnd
		evals   int
		batched bool
	}
	parts := make([]*partState, len(st.Participants))
	foreign := make([]bool, len(st.Participants))
	for j, p := range st.Participants {
		sp, err := e.space(p.Model)
		if err != nil {
			return se, fmt.Errorf("stage %s: %w", st.Name, err)
		}
		h, w := p.Height, p.Width
		if h == 0 || w == 0 {
			h, w = st.Height, st.Width
		}
		ps := &partState{end: estEnd{space: sp, height: h, width: w}}
		foreign[j] = j > 0 && !ps.end.same(prim)
		ps.evals = 1
		ps.batched = true
		if b, ok := e.ms.ByName[p.Model].Denoiser.(batcher); ok {
			ps.batched = b.BatchedGuidance()
		}
		if p.Guidance > 1 && !ps.batched {
			ps.evals = 2
		}
		fam := adapters.Family("")
		if info := e.job.Infos[p.Model]; info != nil {
			fam = info.Family
		}
		ps.est = &ParticipantEstimate{Model: p.Model, Family: fam, Foreign: foreign[j], Width: w, Height: h,
			Guidance: p.Guidance, EvalsPerPrediction: ps.evals}
		for _, c := range p.Controls {
			ce := ControlEstimate{Model: c.Model, Scale: c.Scale}
			if info := e.job.Infos[c.Model]; info == nil || info.Family != adapters.ControlNet {
				ce.Fused = true
			}
			ps.est.Controls = append(ps.est.Controls, ce)
		}
		l, err := ps.end.latentLen()
		if err != nil {
			return se, fmt.Errorf("stage %s: model %s: %w", st.Name, p.Model, err)
		}
		rows := int64(1)
		if p.Guidance > 1 && ps.batched {
			rows = 2
		}
		// The denoiser's batched sample and output, and its prediction.
		e.buffers += 2*rows*l + 2*l
		if info := e.job.Infos[p.Model]; info != nil && info.ContextWidth > 0 {
			e.buffers += rows * 77 * int64(info.ContextWidth)
		}
		if foreign[j] {
			// Its own x, z, x0, carried prediction, the prediction carried
			// to the primary, and the two bridges' pixel buffers.
			e.buffers += 4*l + primLen + 2*3*int64(h*w+st.Height*st.Width)
		}
		e.countBridgeBuffers(p.Model, h, w)
		parts[j] = ps
	}

	se.PerStep = make([]StepCost, n)
	walkStage(st, plan, foreign, stageVisitor{
		predict: func(k, j int) {
			ps, p, cost := parts[j], st.Participants[j], &se.PerStep[k]
			ps.est.Predictions++
			ps.est.Evaluations += ps.evals
			cost.Evaluations += ps.evals
			for ci, c := range p.Controls {
				ce := &ps.est.Controls[ci]
				if !c.Window.Active(k, n) {
					continue
				}
				ce.ActiveSteps++
				if !ce.Fused && c.Scale != 0 {
					ce.Evaluations += ps.evals
					cost.ControlNet += ps.evals
					e.cns[c.Model] += ps.evals
				}
			}
			m := e.models[p.Model]
			if m == nil {
				m = &ModelEstimate{Name: p.Model}
				e.models[p.Model] = m
			}
			m.Predictions++
			m.Calls += ps.evals
		},
		toPrimary: func(k, j int) {
			p := st.Participants[j]
			parts[j].est.ToPrimary++
			e.stepCarry(&se.PerStep[k], p.Model, primName, p.Bridge.Interposer)
		},
		fromPrimary: func(k, j int) {
			p := st.Participants[j]
			parts[j].est.FromPrimary++
			e.stepCarry(&se.PerStep[k], primName, p.Model, p.Bridge.Back)
		},
	})
	for k := range se.PerStep {
		cost := &se.PerStep[k]
		cost.Evaluations += cost.BridgeEvaluations
		se.ModelEvaluations += cost.Evaluations
	}
	for _, ps := range parts {
		se.Participants = append(se.Participants, *ps.est)
	}
	if si == len(e.job.Plan.Stages)-1 {
		e.buffers += 3 * int64(st.Height*st.Width)
	}
	return se, nil
}

func (e *estimator) memory() (MemoryEstimate, error) {
	m := MemoryEstimate{BufferBytes: 4 * e.buffers, Files: map[string][]ModelFile{}}
	open, err := e.job.openModels()
	if err != nil {
		return m, err
	}
	for name, om := range open {
		m.Files[name] = om.files
		m.HeldWeightBytes += om.bytes
	}
	m.WeightBytes, m.PeakStage = e.job.peakOpen(open)
	m.TotalBytes = m.WeightBytes + m.BufferBytes
	return m, nil
}
