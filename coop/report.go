package coop

import (
	"sort"
	"sync"
	"time"
)

// Report says where a run's time went: per model the number of graph
// evaluations and the time spent predicting, per bridge the decodes and
// encodes, per stage the steps. The CLI prints it with --json.
type Report struct {
	Models  []ModelReport  `json:"models"`
	Bridges []BridgeReport `json:"bridges"`
	Stages  []StageReport  `json:"stages"`
	// ModelEvaluations is the total number of graph evaluations of
	// denoisers and ControlNets (a guided prediction batched in one call
	// counts once), the figure `coop plan` predicts.
	ModelEvaluations int `json:"model_evaluations"`
	// Wall is the run's wall time.
	Wall time.Duration `json:"wall_ns"`
}

// ModelReport is one model's share of a run.
type ModelReport struct {
	Name string `json:"name"`
	// Predictions is the number of noise predictions asked of the model.
	Predictions int `json:"predictions"`
	// Calls is the number of graph evaluations (two per guided prediction
	// when the graph's batch is fixed at one).
	Calls int           `json:"calls"`
	Time  time.Duration `json:"time_ns"`
}

// BridgeReport is one direction of one bridge.
type BridgeReport struct {
	From    string        `json:"from"`
	To      string        `json:"to"`
	Kind    string        `json:"kind"`
	Decodes int           `json:"decodes"`
	Encodes int           `json:"encodes"`
	Time    time.Duration `json:"time_ns"`
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
// participants of one step may predict concurrently.
type recorder struct {
	mu      sync.Mutex
	models  map[string]*ModelReport
	bridges map[[3]string]*BridgeReport
	stages  []StageReport
}

func newRecorder() *recorder {
	return &recorder{models: map[string]*ModelReport{}, bridges: map[[3]string]*BridgeReport{}}
}

func (r *recorder) prediction(name string, d time.Duration) {
	r.mu.Lock()
	m := r.models[name]
	if m == nil {
		m = &ModelReport{Name: name}
		r.models[name] = m
	}
	m.Predictions++
	m.Time += d
	r.mu.Unlock()
}

func (r *recorder) bridge(from, to, kind string, decodes, encodes int, d time.Duration) {
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
	r.mu.Unlock()
}

// report builds the final Report; calls maps model names to their graph
// evaluation counts.
func (r *recorder) report(calls map[string]int, wall time.Duration) *Report {
	r.mu.Lock()
	defer r.mu.Unlock()
	rep := &Report{Wall: wall, Stages: append([]StageReport(nil), r.stages...)}
	for name, n := range calls {
		if r.models[name] == nil {
			r.models[name] = &ModelReport{Name: name}
		}
		r.models[name].Calls = n
		rep.ModelEvaluations += n
	}
	for _, m := range r.models {
		rep.Models = append(rep.Models, *m)
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
	return rep
}
