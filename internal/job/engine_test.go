package job

import (
	"testing"

	"github.com/coop-diffusion/coop/graphs"
	"github.com/coop-diffusion/coop/recipes"
)

func TestIntraOpThreads(t *testing.T) {
	part := func(model string, controls ...string) *graphs.Participant {
		p := &graphs.Participant{Model: model}
		for _, c := range controls {
			p.Controls = append(p.Controls, graphs.Control{Model: c})
		}
		return p
	}
	j := &Job{Plan: &graphs.Plan{Stages: []*graphs.Stage{
		{Participants: []*graphs.Participant{part("small")}},
		{Entry: graphs.Renoise, Participants: []*graphs.Participant{part("xl", "cn"), part("sd"), part("prior")}},
		{Entry: graphs.Continue, Participants: []*graphs.Participant{part("xl")}},
	}}, Recipe: &recipes.Recipe{Models: map[string]*recipes.Model{"prior": {Decoder: "dec"}, "dec": {}}}}
	for _, c := range []struct {
		model       string
		cores, want int
	}{
		{"small", 2, 2},  // alone in its stage; decoding the handover runs alone too
		{"sd", 16, 5},    // 16 cores over three participants
		{"xl", 2, 1},     // its busiest stage has three participants
		{"cn", 6, 2},     // a ControlNet shares its participant's count
		{"sd", 1, 1},     // never less than one
		{"unused", 8, 8}, // no stage: every core
		{"dec", 6, 2},    // decodes the prior's latents, sharing its count
	} {
		if got := intraOpThreads(j, c.model, c.cores); got != c.want {
			t.Errorf("%s on %d cores: %d threads, want %d", c.model, c.cores, got, c.want)
		}
	}
}
