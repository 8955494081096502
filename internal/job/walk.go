package job

import (
	"github.com/coop-diffusion/coop/coop"
	"github.com/coop-diffusion/coop/coop/sampler"
	"github.com/coop-diffusion/coop/graphs"
)

// stageVisitor receives what a stage's participants do at each step k as
// walkStage follows the engine. Nil functions are skipped.
type stageVisitor struct {
	// predict: participant j predicts.
	predict func(k, j int)
	// toPrimary: foreign participant j carries its clean estimate into
	// the primary's space.
	toPrimary func(k, j int)
	// fromPrimary: foreign participant j takes up the primary's clean
	// estimate carried into its space, to join a stage under way or to
	// catch up after resting.
	fromPrimary func(k, j int)
}

// walkStage follows stage st, whose schedule is plan, step by step by the
// engine's rules (coop/stage.go): a participant predicts at the steps
// where its weight is positive; a foreign one (foreign[j]: another latent
// space or size than the primary's) predicts and carries its estimate to
// the primary at every step it is active (every bridge.every-th step),
// takes up the fused estimate carried back before its next prediction
// when it stayed active in between, and when it joins a stage already
// under way starts from the primary's estimate carried over. The estimate
// of a run's cost (Estimate) and the check of what the models must
// provide for it (checkParts) both walk the stage this way, so they agree
// with each other and with the engine.
func walkStage(st *graphs.Stage, plan *sampler.Plan, foreign []bool, v stageVisitor) {
	call := func(f func(k, j int), k, j int) {
		if f != nil {
			f(k, j)
		}
	}
	type state struct {
		live, behind bool
		lastBridge   int
	}
	parts := make([]state, len(st.Participants))
	parts[0].live = true
	n := st.Steps()
	weights := make([]float64, len(parts))
	next := make([]float64, len(parts))
	for k := range n {
		i := st.First + k
		weights = st.Weights(k, coop.NoiseLevel(plan.Steps[i].Abar), weights)
		for j := range parts {
			ps := &parts[j]
			if weights[j] <= 0 {
				ps.live = ps.live && j == 0
				continue
			}
			if !foreign[j] {
				call(v.predict, k, j)
				continue
			}
			if !ps.live {
				// Joining: from the primary's noise at the very start,
				// else from its clean estimate carried over.
				ps.lastBridge, ps.behind = -1, false
				if !(k == 0 && st.Entry == graphs.Fresh && st.First == 0) {
					call(v.fromPrimary, k, j)
				}
				ps.live = true
			}
			if ps.lastBridge < 0 || k-ps.lastBridge >= max(st.Participants[j].Bridge.Every, 1) {
				if ps.behind {
					// Catching up with the fused estimate.
					call(v.fromPrimary, k, j)
					ps.behind = false
				}
				call(v.predict, k, j)
				call(v.toPrimary, k, j)
				ps.lastBridge = k
			}
		}
		if k+1 < n {
			next = st.Weights(k+1, coop.NoiseLevel(plan.Steps[i+1].Abar), next)
		}
		for j := range parts {
			ps := &parts[j]
			if !foreign[j] || !ps.live {
				continue
			}
			if k+1 >= n || next[j] <= 0 {
				ps.live = false
				continue
			}
			if ps.lastBridge == k {
				ps.behind = true
			}
		}
	}
}
