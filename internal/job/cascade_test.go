package job_test

import "testing"

func TestCascadeStages(t *testing.T) {
	res := runRecipe(t, `
version: 1
models:
  prior: {path: cascade-prior}
  decoder: {path: cascade-decoder}
prompt: a photo of a cat
seed: 8
stages:
  - {model: prior, transition: condition}
  - {model: decoder}
`)
	st := res.Report.Stages
	if len(st) != 2 || st[0].Steps != 20 || st[1].Steps != 10 || st[1].Entry != "effnet" {
		t.Errorf("stages %+v, want prior 20 steps then decoder 10 steps conditioned on it", st)
	}
	db := wantPhoto(t, "Stable Cascade C, B, A", "cascade-decoder", res.Image, "cat", 35)
	t.Logf("cascade C->B->A: cat at %.1f dB", db)
}

// The Cascade prior's 16-channel space keeps only coarse structure, so
// the recipe gives it a say over the noisy part of the trajectory and fades
// it out before the details settle: the use PanGu-Draw makes of a
// structure model.
func TestCascadeAsParticipant(t *testing.T) {
	res := runRecipe(t, `
version: 1
models:
  sd: {path: sd15}
  prior: {path: cascade-prior}
prompt: a photo of a coffee
seed: 8
steps: 20
stages:
  - participants:
      - {model: sd, weight: 0.5}
      - {model: prior, weight: [[1, 0.5], [0.3, 0.5], [0.1, 0]]}
`)
	db := wantPhoto(t, "sd15 fused with the Cascade prior", "sd15", res.Image, "coffee", 30)
	t.Logf("sd15 + cascade prior (bridged through effnet and the previewer): coffee at %.1f dB; bridges %+v", db, res.Report.Bridges)
}
