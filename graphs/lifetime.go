package graphs

import "sort"

// StageModels returns the recipe names of the models stage i uses, sorted:
// its participants, their ControlNets and, when the stage enters by
// renoise or naive, the previous stage's primary, whose autoencoder
// decodes the estimate handed over. The last stage also uses its primary
// to decode the result, which it already lists.
func (p *Plan) StageModels(i int) []string {
	st := p.Stages[i]
	seen := map[string]bool{}
	for _, pt := range st.Participants {
		seen[pt.Model] = true
		for _, c := range pt.Controls {
			seen[c.Model] = true
		}
	}
	if i > 0 && (st.Entry == Renoise || st.Entry == Naive) {
		seen[p.Stages[i-1].Primary().Model] = true
	}
	names := make([]string, 0, len(seen))
	for n := range seen {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// LastUse maps every model the plan uses to the index of the last stage
// that uses it (StageModels): after that stage the model's sessions can
// be released.
func (p *Plan) LastUse() map[string]int {
	last := map[string]int{}
	for i := range p.Stages {
		for _, n := range p.StageModels(i) {
			last[n] = i
		}
	}
	return last
}

// FirstUse maps every model the plan uses to the index of the first stage
// that uses it: its sessions need to be open from that stage on.
func (p *Plan) FirstUse() map[string]int {
	first := map[string]int{}
	for i := range p.Stages {
		for _, n := range p.StageModels(i) {
			if _, ok := first[n]; !ok {
				first[n] = i
			}
		}
	}
	return first
}

// LiveModels returns, for each stage, the models whose sessions are open
// while it runs when every model opens at its first stage and is released
// after its last: what the run holds in memory at that stage.
func (p *Plan) LiveModels() [][]string {
	first, last := p.FirstUse(), p.LastUse()
	live := make([][]string, len(p.Stages))
	for n, f := range first {
		for i := f; i <= last[n]; i++ {
			live[i] = append(live[i], n)
		}
	}
	for i := range live {
		sort.Strings(live[i])
	}
	return live
}
