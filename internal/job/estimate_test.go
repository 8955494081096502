package job_test

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/coop-diffusion/coop/coop"
	"github.com/coop-diffusion/coop/internal/job"
)

// estimateCases are recipes that exercise every rule of the estimate:
// guidance in one batch or two calls, unguided participants, windows and
// weight curves that make a foreign participant drop out and rejoin,
// bridging every k-th step, split, fused and zero-scale ControlNets, each
// stage entry, img2img, Stable Cascade, and a Cascade prior whose decodes
// run a decoder's stage B.
var estimateCases = []struct{ name, yaml string }{
	{"fixed batch and a foreign participant bridged every 3 steps", `
version: 1
models:
  sd: {path: sd15-rank0}
  xl: {path: sdxl}
prompt: a photo of a cat
seed: 1
steps: 10
stages:
  - participants:
      - {model: sd, weight: 0.5}
      - {model: xl, weight: 0.5, guidance: 1, bridge: {every: 3}, window: [0.2, 0.8]}
`},
	{"a foreign participant that drops out and rejoins", `
version: 1
models:
  sd: {path: sd15}
  xl: {path: sdxl}
prompt: a photo of a coffee
seed: 2
steps: 12
stages:
  - participants:
      - {model: sd}
      - {model: xl, weight: [[1, 0.5], [0.7, 0.5], [0.69, 0], [0.4, 0], [0.39, 0.5]]}
`},
	{"split ControlNets with windows and a zero scale, and a fused one", `
version: 1
models:
  sd: {path: sd15-cn}
  cn: {path: controlnet-sd15}
  fused: {path: sd15-fusedcn}
prompt: a photo
seed: 3
steps: 8
stages:
  - participants:
      - model: sd
        controls:
          - {model: cn, image: controls/grass.png, window: [0, 0.5]}
          - {model: cn, image: controls/cat.png, scale: 0}
      - model: fused
        weight: 0.3
        controls: [{model: fused, image: controls/grass.png}]
`},
	{"three stages: renoise, a late joiner, naive", `
version: 1
models:
  small: {path: sd15-small}
  sd: {path: sd15}
  xl: {path: sdxl}
prompt: a photo of a rocket
seed: 4
steps: 12
stages:
  - {model: small, until: 0.3}
  - participants:
      - {model: sd}
      - {model: xl, weight: 0.4, window: [0.5, 1]}
    until: 0.7
    transition: naive
  - {model: sd}
`},
	{"img2img", `
version: 1
models:
  sd: {path: sd15}
prompt: a photo of a cat
seed: 5
steps: 10
img2img: {image: controls/brick.png, strength: 0.6}
`},
	{"Stable Cascade", `
version: 1
models:
  prior: {path: cascade-prior}
  decoder: {path: cascade-decoder}
prompt: a photo of a rocket
seed: 6
steps: 6
stages:
  - {model: prior, transition: condition}
  - {model: decoder, steps: 4}
`},
	{"a Cascade prior decoded through stage B and A: a renoise entry and bridges every 2 steps", `
version: 1
models:
  sd: {path: sd15}
  prior: {path: cascade-prior, decoder: dec, decoder_steps: 3}
  dec: {path: cascade-decoder}
prompt: a photo of a cat
seed: 7
steps: 8
stages:
  - {model: prior, until: 0.3}
  - participants:
      - {model: sd}
      - {model: prior, weight: [[1, 0.5], [0.5, 0.5], [0.4, 0]], bridge: {every: 2}}
`},
	{"a Cascade prior alone, its result decoded through stage B and A", `
version: 1
models:
  prior: {path: cascade-prior, decoder: dec}
  dec: {path: cascade-decoder}
prompt: a photo of a rocket
seed: 6
steps: 5
`},
}

// TestEstimateMatchesRun checks every count of Estimate against the
// report of a run of the same plan.
func TestEstimateMatchesRun(t *testing.T) {
	for _, c := range estimateCases {
		t.Run(c.name, func(t *testing.T) {
			p := prepare(t, c.yaml)
			est, err := p.job.Estimate(p.models)
			if err != nil {
				t.Fatal(err)
			}
			res := p.run(t, job.RunOptions{})
			compareEstimate(t, est, res.Report)
			t.Logf("%d model evaluations, %d ControlNet evaluations, %d decodes, %d encodes; memory %d B (weights %d, buffers %d)",
				est.ModelEvaluations, est.ControlNetEvaluations, est.Decodes, est.Encodes, est.Memory.TotalBytes, est.Memory.WeightBytes, est.Memory.BufferBytes)
		})
	}
}

func compareEstimate(t *testing.T, est *job.Estimate, rep *coop.Report) {
	t.Helper()
	if est.ModelEvaluations != rep.ModelEvaluations {
		t.Errorf("estimate: %d model evaluations, run: %d", est.ModelEvaluations, rep.ModelEvaluations)
	}
	got := map[string]string{}
	for _, m := range rep.Models {
		got[m.Name] = fmt.Sprintf("%d predictions, %d calls", m.Predictions, m.Calls)
	}
	for _, m := range est.Models {
		if want := fmt.Sprintf("%d predictions, %d calls", m.Predictions, m.Calls); got[m.Name] != want {
			t.Errorf("model %s: estimate %s, run %s", m.Name, want, got[m.Name])
		}
	}
	runs := map[string]int64{}
	for _, m := range rep.Models {
		for _, g := range m.Graphs {
			if g.Role == "controlnet" {
				runs[m.Name] += g.Runs
			}
		}
	}
	for _, c := range est.ControlNets {
		if runs[c.Name] != int64(c.Evaluations) {
			t.Errorf("ControlNet %s: estimate %d evaluations, run %d", c.Name, c.Evaluations, runs[c.Name])
		}
	}
	bridges := func(bs []coop.BridgeReport) map[string]string {
		out := map[string]string{}
		for _, b := range bs {
			out[b.From+" -> "+b.To+" ("+b.Kind+")"] = fmt.Sprintf("%d decodes, %d encodes", b.Decodes, b.Encodes)
		}
		return out
	}
	eb, rb := bridges(est.Bridges), bridges(rep.Bridges)
	for k, v := range rb {
		if eb[k] != v {
			t.Errorf("bridge %s: estimate %q, run %q", k, eb[k], v)
		}
	}
	for k, v := range eb {
		if _, ok := rb[k]; !ok {
			t.Errorf("bridge %s: estimate %q, the run has none", k, v)
		}
	}
	if len(est.Stages) != len(rep.Stages) {
		t.Fatalf("estimate has %d stages, the run %d", len(est.Stages), len(rep.Stages))
	}
	for i, s := range est.Stages {
		r := rep.Stages[i]
		if s.Name != r.Name || s.Entry != r.Entry || s.Steps != r.Steps || s.First != r.First {
			t.Errorf("stage %d: estimate %s %s %d steps from %d, run %s %s %d steps from %d", i, s.Name, s.Entry, s.Steps, s.First, r.Name, r.Entry, r.Steps, r.First)
		}
	}
}

// TestEstimateGuidanceCost checks the cost of guidance on its own: the
// same recipe on a unet that batches guidance and on one whose batch is
// fixed at one.
func TestEstimateGuidanceCost(t *testing.T) {
	for _, c := range []struct {
		folder   string
		guidance string
		perPred  int
	}{{"sd15", "7.5", 1}, {"sd15-rank0", "7.5", 2}, {"sd15-rank0", "1", 1}} {
		p := prepare(t, fmt.Sprintf("version: 1\nmodels: {sd: {path: %s}}\nprompt: a cat\nsteps: 5\nguidance: %s\n", c.folder, c.guidance))
		est, err := p.job.Estimate(p.models)
		if err != nil {
			t.Fatal(err)
		}
		if got := est.Stages[0].Participants[0].EvalsPerPrediction; got != c.perPred || est.ModelEvaluations != 5*c.perPred {
			t.Errorf("%s at guidance %s: %d evaluations per prediction, %d in all; want %d and %d", c.folder, c.guidance, got, est.ModelEvaluations, c.perPred, 5*c.perPred)
		}
	}
}

// TestEstimateCountsStageB checks where the plan puts the stage B
// evaluations of a prior decoded through a decoder: under the decoder's
// name, in the stage entry's carry and in the steps whose bridges decode.
func TestEstimateCountsStageB(t *testing.T) {
	const steps = 3
	var yaml string
	for _, c := range estimateCases {
		if strings.HasPrefix(c.name, "a Cascade prior decoded through stage B") {
			yaml = c.yaml
		}
	}
	p := prepare(t, yaml)
	est, err := p.job.Estimate(p.models)
	if err != nil {
		t.Fatal(err)
	}
	decodes := 0
	for _, b := range est.Bridges {
		if b.From == "prior" {
			decodes += b.Decodes
		}
	}
	calls := -1
	for _, m := range est.Models {
		if m.Name == "dec" {
			calls = m.Calls
			if m.Predictions != 0 {
				t.Errorf("decoder: %d predictions, want none", m.Predictions)
			}
			// The plan's text names what the calls decode.
			if m.Decodes != decodes || m.DecodeCalls != m.Calls || len(m.DecodesFor) != 1 || m.DecodesFor[0] != "prior" {
				t.Errorf("decoder: %d decodes in %d calls for %v, want %d in all its %d calls for prior", m.Decodes, m.DecodeCalls, m.DecodesFor, decodes, m.Calls)
			}
		}
	}
	if decodes == 0 || calls != steps*decodes {
		t.Errorf("decoder: %d calls for %d decodes of the prior's latents, want %d each", calls, decodes, steps)
	}
	entry, inSteps := est.Stages[1].EntryEvaluations, 0
	for _, c := range est.Stages[1].PerStep {
		inSteps += c.BridgeEvaluations
	}
	if entry != steps || entry+inSteps != calls {
		t.Errorf("stage B evaluations: %d at the renoise entry, %d in the steps; want %d and %d", entry, inSteps, steps, calls-steps)
	}
	// The decoder's weights are open while the prior is, though no stage
	// names it.
	if len(est.Memory.Files["dec"]) == 0 {
		t.Errorf("the memory estimate counts no weights of the decoder: %v", est.Memory.Files)
	}
	// Only the graphs the bridge opens count: not the prior's previewer,
	// not stage A's encoder (TestCascadeBridgeOpensWhatItRuns checks the
	// sessions themselves).
	for name, files := range est.Memory.Files {
		for _, f := range files {
			if strings.HasPrefix(f.Rel, "previewer/") || strings.HasPrefix(f.Rel, "vqgan_encoder/") {
				t.Errorf("the memory estimate counts %s of %s, which the run never opens", f.Rel, name)
			}
		}
	}
	// coop bench counts the same files.
	b, err := p.job.Bench(context.Background(), p.models, job.BenchOptions{Seed: p.job.Plan.Seed})
	if err != nil {
		t.Fatal(err)
	}
	mem := b.Memory
	var weight int64
	for _, files := range est.Memory.Files {
		for _, f := range files {
			weight += f.Size
		}
	}
	if mem.TotalModelBytes != weight || mem.ModelBytes["dec"] == 0 {
		t.Errorf("bench counts %d bytes of model files (decoder %d), the estimate %d", mem.TotalModelBytes, mem.ModelBytes["dec"], weight)
	}
}
