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
