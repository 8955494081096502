package coop

import (
	"sort"
	"sync"
	"time"
)

// Report says where a run's time went: per model the number of graph
// evaluations, the time spent predicting and the time inside ONNX Runtime,
// per bridge the decodes and encodes, per stage the steps, and the engine's
// own overhead. The CLI prints it with --json; `coop bench` tabulates it.
//
// Time inside ONNX Runtime is what the models' sessions count inside their
// Run calls (adapters.Timed); everything else, the adapters' input and
// output conversion included, is the engine's. When participants of a step
// run concurrently their ONNX Runtime calls overlap, so the engine keeps
// apart the part of that time spent beside the step's critical path
// (Overlap): Wall = (ORT - Overlap) + Open + Overhead.
type Report struct {
	Models  []ModelReport  `json:"models"`
	Bridges []BridgeReport `json:"bridges"`
	Stages  []StageReport  `json:"stages"`
	// ModelEvaluations is the total number of graph evaluations of
	// denoisers in this run (a guided prediction batched in one call
	// counts once; split ControlNets are not counted), the figure `coop
	// plan` predicts.
	ModelEvaluations int `json:"model_evaluations"`
	// Wall is the run's wall time.
	Wall time.Duration `json:"wall_ns"`
	// ORT is the time spent inside ONNX Runtime's Run by all models'
	// sessions in this run, summed over sessions; zero for models that
	// do not run in ONNX Runtime.
	ORT time.Duration `json:"ort_ns"`
	// Overlap is the part of ORT that ran concurrently with, and beside,
	// the critical path of a step: ORT - Overlap is the wall time the run
	// spent waiting for ONNX Runtime.
	Overlap time.Duration `json:"ort_overlap_ns"`
	// Open is the time ONNX Runtime spent creating sessions during the
	// run (the first run of a loaded model opens them).
	Open time.Duration `json:"open_ns"`
	// Overhead is the engine's own time: Wall - (ORT - Overlap) - Open.
	Overhead time.Duration `json:"overhead_ns"`
	// Adapters is the wall time of the engine's calls into the model
	// adapters (predictions, encodes, decodes, prompt encodings), summed
	// over concurrent participants: Adapters - ORT is the adapters' own
	// part of the overhead, converting inputs and outputs around ONNX
	// Runtime's calls, and in a sequential run Overhead - (Adapters -
	// ORT) is the engine's arithmetic and bookkeeping.
	Adapters time.Duration `json:"adapters_ns"`
	// Concurrent says whether the participants of a step ran
	// concurrently.
	Concurrent bool `json:"concurrent"`
}

// OverheadFraction is Overhead as a fraction of Wall.
func (r *Report) OverheadFraction() float64 {
	if r.Wall <= 0 {
		return 0
	}
	return float64(r.Overhead) / float64(r.Wall)
}

// ModelReport is one model's share of a run.
type ModelReport struct {
	Name string `json:"name"`
	// Predictions is the number of noise predictions asked of the model.
	Predictions int `json:"predictions"`
	// Calls is the number of denoiser graph evaluations (two per guided
	// prediction when the graph's batch is fixed at one).
	Calls int `json:"calls"`
	// Time is the wall time of the model's predictions, conversions and
	// ControlNets included.
	Time time.Duration `json:"time_ns"`
	// ORT is the time inside ONNX Runtime of all the model's graphs in
	// this run (denoiser, autoencoder, text encoders, ControlNet), ORTRuns
	// the number of their runs; Graphs splits them by graph.
	ORT     time.Duration `json:"ort_ns"`
	ORTRuns int64         `json:"ort_runs"`
	Graphs  []GraphReport `json:"graphs,omitempty"`
	// Text is the wall time of encoding the model's prompts in this run;
	// a Model keeps its encoded prompts, so later runs of the same
	// prompts spend none.
	Text time.Duration `json:"text_ns"`
	// Open is the time ONNX Runtime took to create the model's sessions
	// in this run.
	Open time.Duration `json:"open_ns"`
	// Released is true when the engine closed the model's sessions after
	// the last stage that used it (Engine.Release).
	Released bool `json:"released,omitempty"`
}

// GraphReport is one graph of a model: its runs and time inside ONNX
// Runtime in this run.
type GraphReport struct {
	Role string        `json:"role"`
	Runs int64         `json:"runs"`
	ORT  time.Duration `json:"ort_ns"`
}

// BridgeReport is one direction of one bridge.
type BridgeReport struct {
	From    string `json:"from"`
	To      string `json:"to"`
	Kind    string `json:"kind"`
	Decodes int    `json:"decodes"`
	Encodes int    `json:"encodes"`
	// Maps counts an interposer bridge's carries: each a linear map from
	// latents to latents, in place of a decode and an encode.
	Maps int `json:"maps,omitempty"`
	// Time is the wall time of the carries; ORT the part of it inside
	// ONNX Runtime (the decodes and encodes), so Time - ORT is the
	// bridge's own arithmetic, resizing and conversion.
	Time time.Duration `json:"time_ns"`
	ORT  time.Duration `json:"ort_ns"`
}

// StageReport is one stage's share of a run.
type StageReport struct {
	Name  string        `json:"name"`
	Entry string        `json:"entry"`
	Steps int           `json:"steps"`
	First int           `json:"first_step"`
	Time  time.Duration `json:"time_ns"`
}

// recorder accumulates a Report; safe for concurrent use because
// participants of one step predict concurrently.
type recorder struct {
	mu       sync.Mutex
	models   map[string]*ModelReport
	bridges  map[[3]string]*BridgeReport
	stages   []StageReport
	overlap  time.Duration
	adapters time.Duration
}

func newRecorder() *recorder {
	return &recorder{models: map[string]*ModelReport{}, bridges: map[[3]string]*BridgeReport{}}
}

// model returns name's report; the caller holds mu.
func (r *recorder) model(name string) *ModelReport {
	m := r.models[name]
	if m == nil {
		m = &ModelReport{Name: name}
		r.models[name] = m
	}
	return m
}

func (r *recorder) prediction(name string, d time.Duration) {
	r.mu.Lock()
	m := r.model(name)
	m.Predictions++
	m.Time += d
	r.adapters += d
	r.mu.Unlock()
}

func (r *recorder) bridge(from, to, kind string, decodes, encodes int, d, ort time.Duration) {
	r.mu.Lock()
	key := [3]string{from, to, kind}
	b := r.bridges[key]
	if b == nil {
		b = &BridgeReport{From: from, To: to, Kind: kind}
		r.bridges[key] = b
	}
	b.Decodes += decodes
	b.Encodes += encodes
	b.Time += d
	b.ORT += ort
	r.mu.Unlock()
}

// mapped records one carry through an interposer.
func (r *recorder) mapped(from, to string, d time.Duration) {
	r.bridge(from, to, "interposer", 0, 0, d, 0)
	r.mu.Lock()
	r.bridges[[3]string{from, to, "interposer"}].Maps++
	r.mu.Unlock()
}

func (r *recorder) text(name string, d time.Duration) {
	r.mu.Lock()
	r.model(name).Text += d
	r.adapters += d
	r.mu.Unlock()
}

func (r *recorder) opened(name string, d time.Duration) {
	r.mu.Lock()
	r.model(name).Open += d
	r.mu.Unlock()
}

func (r *recorder) stage(s StageReport) {
	r.mu.Lock()
	r.stages = append(r.stages, s)
	r.mu.Unlock()
}

// call adds the wall time of a call into a model adapter.
func (r *recorder) call(d time.Duration) {
	r.mu.Lock()
	r.adapters += d
	r.mu.Unlock()
}

func (r *recorder) addOverlap(d time.Duration) {
	r.mu.Lock()
	r.overlap += d
	r.mu.Unlock()
}

// report builds the final Report from the models' usage in this run.
func (r *recorder) report(usage map[string]*modelUsage, wall time.Duration, concurrent bool) *Report {
	r.mu.Lock()
	defer r.mu.Unlock()
	rep := &Report{Wall: wall, Stages: append([]StageReport(nil), r.stages...), Overlap: r.overlap, Adapters: r.adapters, Concurrent: concurrent}
	for name, u := range usage {
		m := r.model(name)
		m.Calls = u.calls
		m.Released = u.released
		rep.ModelEvaluations += u.calls
		for _, g := range u.graphs {
			m.Graphs = append(m.Graphs, g)
			m.ORT += g.ORT
			m.ORTRuns += g.Runs
		}
		sort.Slice(m.Graphs, func(i, j int) bool { return m.Graphs[i].Role < m.Graphs[j].Role })
	}
	for _, m := range r.models {
		rep.Models = append(rep.Models, *m)
		rep.ORT += m.ORT
		rep.Open += m.Open
	}
	sort.Slice(rep.Models, func(i, j int) bool { return rep.Models[i].Name < rep.Models[j].Name })
	for _, b := range r.bridges {
		rep.Bridges = append(rep.Bridges, *b)
	}
	sort.Slice(rep.Bridges, func(i, j int) bool {
		a, b := rep.Bridges[i], rep.Bridges[j]
		if a.From != b.From {
			return a.From < b.From
		}
		if a.To != b.To {
			return a.To < b.To
		}
		return a.Kind < b.Kind
	})
	rep.Overhead = rep.Wall - (rep.ORT - rep.Overlap) - rep.Open
	return rep
}
