package graphs

import (
	"fmt"
	"testing"
)

func TestModelLifetimes(t *testing.T) {
	part := func(model string, controls ...string) *Participant {
		p := &Participant{Model: model}
		for _, c := range controls {
			p.Controls = append(p.Controls, Control{Model: c})
		}
		return p
	}
	p := &Plan{Stages: []*Stage{
		{Entry: Fresh, Participants: []*Participant{part("small")}},
		{Entry: Renoise, Participants: []*Participant{part("xl", "cn"), part("sd")}},
		{Entry: Continue, Participants: []*Participant{part("refiner")}},
		{Entry: Naive, Participants: []*Participant{part("sd")}},
	}}
	got := fmt.Sprint(p.StageModels(0), p.StageModels(1), p.StageModels(2), p.StageModels(3))
	if want := "[small] [cn sd small xl] [refiner] [refiner sd]"; got != want {
		t.Errorf("stage models %s, want %s", got, want)
	}
	if got, want := fmt.Sprint(p.FirstUse(), p.LastUse()), "map[cn:1 refiner:2 sd:1 small:0 xl:1] map[cn:1 refiner:3 sd:3 small:1 xl:1]"; got != want {
		t.Errorf("first and last use %s, want %s", got, want)
	}
	if got, want := fmt.Sprint(p.LiveModels()), "[[small] [cn sd small xl] [refiner sd] [refiner sd]]"; got != want {
		t.Errorf("live models %s, want %s", got, want)
	}
}
