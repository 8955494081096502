package job

import (
	"context"
	"fmt"
	"sort"

	"github.com/coop-diffusion/coop/coop"
	"github.com/coop-diffusion/coop/latent"
)

// BenchOptions configure Bench.
type BenchOptions struct {
	// Runs is the number of measured runs after the first; 0 measures the
	// first run alone.
	Runs int
	// Seed is the seed of every run; the plan's when 0.
	Seed uint64
	// Concurrency says when the participants of a step work
	// concurrently (coop.Engine.Concurrency).
	Concurrency coop.Concurrency
	// Release closes each model after its last stage in the last run (so
	// with Runs = 0, the first run shows the memory a single coop run
	// holds).
	Release bool
}

// Bench is the outcome of benchmarking a job: the first run (which opens
// the sessions and loads the tokenizers), the measured runs after it, and
// the memory.
type Bench struct {
	First *coop.Report   `json:"first"`
	Runs  []*coop.Report `json:"runs"`
	// Median is the measured run of median wall time, First when there
	// is none.
	Median *coop.Report `json:"median"`
	Memory BenchMemory  `json:"memory"`
}

// BenchMemory is the memory side of a Bench.
type BenchMemory struct {
	// StartRSS is the process's resident memory before the first run,
	// PeakRSS its high-water mark after the last (ResidentMemory); both
	// 0 where the system does not tell.
	StartRSS int64 `json:"start_rss_bytes"`
	PeakRSS  int64 `json:"peak_rss_bytes"`
	// StageRSS is the resident memory after the first step of each stage
	// of the last run: with Release, the models of earlier stages are
	// closed by then.
	StageRSS []int64 `json:"stage_rss_bytes,omitempty"`
	// ModelBytes are the sizes of each used model's files (ModelFiles),
	// TotalModelBytes their sum.
	ModelBytes      map[string]int64 `json:"model_bytes"`
	TotalModelBytes int64            `json:"total_model_bytes"`
	// HeldModelBytes is the most model file bytes whose sessions are
	// open at once: the busiest stage's live models (graphs.Plan
	// LiveModels) when the run releases models, all of them otherwise.
	HeldModelBytes int64 `json:"held_model_bytes"`
}

// Bench runs the job 1 + o.Runs times on ms and collects the reports.
func (j *Job) Bench(ctx context.Context, ms *Models, o BenchOptions) (*Bench, error) {
	if o.Runs < 0 {
		return nil, fmt.Errorf("bench: %d runs", o.Runs)
	}
	seed := o.Seed
	if seed == 0 {
		seed = j.Plan.Seed
	}
	mem, err := j.modelBytes(o.Release)
	if err != nil {
		return nil, err
	}
	b := &Bench{Memory: mem}
	b.Memory.StartRSS, _, _ = ResidentMemory()
	stageRSS := make([]int64, len(j.Plan.Stages))
	sample := func(ev coop.Event) {
		if ev.Step == 1 && ev.StageIndex < len(stageRSS) {
			stageRSS[ev.StageIndex], _, _ = ResidentMemory()
		}
	}
	var img *latent.Tensor // the runs' images, one buffer for all
	for i := 0; i <= o.Runs; i++ {
		ro := RunOptions{Seed: seed, Concurrency: o.Concurrency, Release: o.Release && i == o.Runs, Image: img}
		if i == o.Runs {
			ro.Progress = sample
		}
		res, err := j.Run(ctx, ms, ro)
		if err != nil {
			return nil, err
		}
		img = res.Image
		if i == 0 {
			b.First = res.Report
		} else {
			b.Runs = append(b.Runs, res.Report)
		}
	}
	_, b.Memory.PeakRSS, _ = ResidentMemory()
	if stageRSS[0] > 0 {
		b.Memory.StageRSS = stageRSS
	}
	b.Median = b.First
	if len(b.Runs) > 0 {
		sorted := append([]*coop.Report(nil), b.Runs...)
		sort.Slice(sorted, func(a, c int) bool { return sorted[a].Wall < sorted[c].Wall })
		b.Median = sorted[len(sorted)/2]
	}
	return b, nil
}

// modelBytes sizes the files of the models the plan opens (openModels:
// a Stable Cascade decoder that only decodes a prior's latents counts).
func (j *Job) modelBytes(release bool) (BenchMemory, error) {
	m := BenchMemory{ModelBytes: map[string]int64{}}
	open, err := j.openModels()
	if err != nil {
		return m, err
	}
	for name, om := range open {
		m.ModelBytes[name] = om.bytes
		m.TotalModelBytes += om.bytes
	}
	m.HeldModelBytes = m.TotalModelBytes
	if release {
		m.HeldModelBytes, _ = j.peakOpen(open)
	}
	return m, nil
}
