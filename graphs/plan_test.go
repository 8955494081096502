package graphs_test

import (
	"fmt"
	"math"
	"testing"

	"github.com/coop-diffusion/coop/graphs"
)

func ExampleCurve_At() {
	// A structure model that leads at high noise and hands over to the
	// detail model below t = 0.3.
	c := graphs.Curve{Points: [][2]float64{{0.3, 0}, {0.7, 0.8}}}
	for _, t := range []float64{1, 0.7, 0.5, 0.3, 0} {
		fmt.Printf("t=%.1f weight %.2f\n", t, c.At(t))
	}
	// Output:
	// t=1.0 weight 0.80
	// t=0.7 weight 0.80
	// t=0.5 weight 0.40
	// t=0.3 weight 0.00
	// t=0.0 weight 0.00
}

func TestCurveValidate(t *testing.T) {
	for _, c := range []graphs.Curve{
		{Points: [][2]float64{{1.5, 1}}},
		{Points: [][2]float64{{0.5, -1}}},
		{Points: [][2]float64{{0.5, 1}, {0.2, 1}}},
		{Points: [][2]float64{{0.5, math.NaN()}}},
	} {
		if err := c.Validate(); err == nil {
			t.Errorf("curve %v validated", c.Points)
		}
	}
	if err := graphs.Constant(0.5).Validate(); err != nil {
		t.Error(err)
	}
}

func TestWindowActive(t *testing.T) {
	w := graphs.Window{Start: 0.25, End: 0.5}
	var got []int
	for k := 0; k < 8; k++ {
		if w.Active(k, 8) {
			got = append(got, k)
		}
	}
	if fmt.Sprint(got) != "[2 3]" {
		t.Errorf("window [0.25, 0.5) of 8 steps is active at %v, want [2 3]", got)
	}
	full := graphs.Window{Start: 0, End: 1}
	if !full.Active(7, 8) || !(graphs.Window{}).Active(7, 8) {
		t.Error("a full window must include the last step")
	}
}

// TestWeightRules is the table of the recipe format's weight rules
// (docs/RECIPES.md): given weights, sharing, windows, curves, normalisation
// and the primary's fallback. Stages have 10 steps; p is the progress.
func TestWeightRules(t *testing.T) {
	const tol = 1e-12
	w := func(v float64) graphs.Curve { return graphs.Constant(v) }
	curve := graphs.Curve{Points: [][2]float64{{0, 0.8}, {1, 0.2}}}
	share := func() *graphs.Participant { return &graphs.Participant{Shares: true} }
	given := func(c graphs.Curve) *graphs.Participant { return &graphs.Participant{Weight: c} }
	for _, tc := range []struct {
		name  string
		parts []*graphs.Participant
		t     float64
		k     int
		want  []float64
	}{
		{"one given, one shares the rest", []*graphs.Participant{share(), given(w(0.3))}, 0.5, 5, []float64{0.7, 0.3}},
		{"none given", []*graphs.Participant{share(), share()}, 0.5, 5, []float64{0.5, 0.5}},
		{"three, none given", []*graphs.Participant{share(), share(), share()}, 0.5, 5, []float64{1.0 / 3, 1.0 / 3, 1.0 / 3}},
		{"given sum above 1 is normalised", []*graphs.Participant{given(w(1)), given(w(1))}, 0.5, 5, []float64{0.5, 0.5}},
		{"given sum 1 leaves nothing", []*graphs.Participant{share(), given(w(0.6)), given(w(0.4))}, 0.5, 5, []float64{0, 0.6, 0.4}},
		{"outside the window", []*graphs.Participant{share(), {Weight: w(0.3), Window: graphs.Window{Start: 0, End: 0.5}}}, 0.5, 7, []float64{1, 0}},
		{"inside the window", []*graphs.Participant{share(), {Weight: w(0.3), Window: graphs.Window{Start: 0, End: 0.5}}}, 0.5, 2, []float64{0.7, 0.3}},
		{"curve at pure noise", []*graphs.Participant{share(), given(curve)}, 1, 0, []float64{0.8, 0.2}},
		{"curve midway", []*graphs.Participant{share(), given(curve)}, 0.25, 0, []float64{0.35, 0.65}},
		{"curve beyond its ends", []*graphs.Participant{share(), given(graphs.Curve{Points: [][2]float64{{0.2, 0.4}, {0.6, 0.8}}})}, 0.9, 0, []float64{0.2, 0.8}},
		{"all zero: the primary", []*graphs.Participant{given(w(0)), given(w(0))}, 0.5, 5, []float64{1, 0}},
		{"last step of the full window", []*graphs.Participant{share(), given(w(0.3))}, 0, 9, []float64{0.7, 0.3}},
	} {
		st := &graphs.Stage{First: 0, End: 10, Participants: tc.parts}
		got := st.Weights(tc.k, tc.t, nil)
		for i := range got {
			if math.Abs(got[i]-tc.want[i]) > tol {
				t.Errorf("%s: weights %v, want %v (tolerance %g)", tc.name, got, tc.want, tol)
				break
			}
		}
	}
	dst := make([]float64, 0, 4)
	got := (&graphs.Stage{First: 0, End: 2, Participants: []*graphs.Participant{share(), share()}}).Weights(0, 0, dst)
	if &got[0] != &dst[:1][0] {
		t.Error("Weights did not reuse dst")
	}
}

func TestStageWeights(t *testing.T) {
	st := &graphs.Stage{First: 0, End: 10, Participants: []*graphs.Participant{
		{Model: "a", Weight: graphs.Constant(0.25)},
		{Model: "b", Shares: true},
		{Model: "c", Shares: true, Window: graphs.Window{Start: 0, End: 0.5}},
	}}
	cases := []struct {
		k    int
		want []float64
	}{
		{0, []float64{0.25, 0.375, 0.375}},
		{9, []float64{0.25, 0.75, 0}},
	}
	for _, c := range cases {
		got := st.Weights(c.k, 0.5, nil)
		for i := range got {
			if math.Abs(got[i]-c.want[i]) > 1e-12 {
				t.Errorf("step %d: weights %v, want %v", c.k, got, c.want)
				break
			}
		}
	}
	// Nothing active: the primary carries the trajectory alone.
	zero := &graphs.Stage{First: 0, End: 4, Participants: []*graphs.Participant{
		{Model: "a", Weight: graphs.Constant(0)}, {Model: "b", Weight: graphs.Constant(0)},
	}}
	if got := zero.Weights(0, 0.5, nil); got[0] != 1 || got[1] != 0 {
		t.Errorf("all-zero weights gave %v, want the primary at 1", got)
	}
}
