package main

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/coop-diffusion/coop/coop"
)

// stageEvents are the events of a stage of n steps whose first step took
// first (opening sessions) and every other step took each.
func stageEvents(n int, first, each time.Duration) []coop.Event {
	evs := make([]coop.Event, n)
	for k := range evs {
		evs[k] = coop.Event{Stage: "base", StageIndex: 0, Stages: 2, Step: k + 1, Steps: n, Elapsed: first + time.Duration(k)*each}
	}
	return evs
}

func TestPlainProgress(t *testing.T) {
	var out, errOut bytes.Buffer
	p := newProgress(false, &out, &errOut)
	p.begin(0, 2, "weight=0.5", "out/a.png")
	for _, ev := range stageEvents(30, time.Second, 250*time.Millisecond) {
		p.step(ev)
	}
	lines := strings.Split(strings.TrimSpace(errOut.String()), "\n")
	// One line per tenth of the stage, the first step and the last.
	if len(lines) < 10 || len(lines) > 12 {
		t.Errorf("%d lines for 30 steps:\n%s", len(lines), errOut.String())
	}
	last := lines[len(lines)-1]
	if want := "[1/2 weight=0.5] stage 1/2 base: step 30/30, 4.0 it/s, ETA 0s"; last != want {
		t.Errorf("last line %q, want %q", last, want)
	}
	if !strings.Contains(lines[1], "4.0 it/s") {
		t.Errorf("the speed leaves out the first step (sessions opening): %q", lines[1])
	}
	p.image("out/a.png", 3, "weight=0.5", &coop.Report{ModelEvaluations: 30})
	if out.String() != "out/a.png\n" || !strings.Contains(errOut.String(), "wrote out/a.png (seed 3, 30 model evaluations") {
		t.Errorf("stdout %q, stderr:\n%s", out.String(), errOut.String())
	}

	// Short stages get a line per step.
	errOut.Reset()
	for _, ev := range stageEvents(4, time.Second, time.Second) {
		p.step(ev)
	}
	if n := strings.Count(errOut.String(), "\n"); n != 4 {
		t.Errorf("%d lines for 4 steps", n)
	}
}

func TestBarLine(t *testing.T) {
	evs := stageEvents(30, 2*time.Second, 312500*time.Microsecond)
	var c stageClock
	var line string
	for _, ev := range evs[:12] {
		ips, eta := c.rate(ev)
		line = barLine(ev, ips, eta)
	}
	// 11 steps in 3.4375 s after the first: 3.2 it/s, 18 steps left.
	if want := "stage 1/2 base  [########------------] 12/30  3.2 it/s  ETA 6s"; line != want {
		t.Errorf("bar %q, want %q", line, want)
	}
	for _, c := range []struct {
		d    time.Duration
		want string
	}{{5 * time.Second, "5s"}, {125 * time.Second, "2m05s"}, {3725 * time.Second, "1h02m"}} {
		if got := formatETA(c.d); got != c.want {
			t.Errorf("formatETA(%v) = %q, want %q", c.d, got, c.want)
		}
	}
}

func TestJSONProgress(t *testing.T) {
	var out, errOut bytes.Buffer
	p := newProgress(true, &out, &errOut)
	p.begin(1, 2, "", "out/b.png")
	for _, ev := range stageEvents(3, time.Second, time.Second) {
		p.step(ev)
	}
	p.image("out/b.png", 9, "", &coop.Report{ModelEvaluations: 3})
	p.warn("model %s changed", "sd")
	var kinds []string
	for _, line := range strings.Split(strings.TrimSpace(out.String()), "\n") {
		var ev map[string]any
		if err := json.Unmarshal([]byte(line), &ev); err != nil {
			t.Fatalf("line %q: %v", line, err)
		}
		kinds = append(kinds, ev["event"].(string))
		if ev["event"] == "step" && (ev["image"] != 1.0 || ev["path"] != "out/b.png" || ev["stage"] != "base" || ev["steps"] != 3.0) {
			t.Errorf("step event %v", ev)
		}
		if ev["event"] == "report" && ev["report"].(map[string]any)["model_evaluations"] != 3.0 {
			t.Errorf("report event %v", ev)
		}
	}
	if got := strings.Join(kinds, " "); got != "step step step image report warning" {
		t.Errorf("events %s", got)
	}
	if !strings.Contains(errOut.String(), "coop: warning: model sd changed") {
		t.Errorf("the warning is not on stderr: %q", errOut.String())
	}
}
