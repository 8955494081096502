package main

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/coop-diffusion/coop/coop"
)

// progress shows a run as it goes. Three forms: a bar per stage redrawn in
// place when stderr is a terminal, plain lines (about one per tenth of a
// stage) when it is not, and with --json one JSON object per line on
// stdout for every step, image and report, for programs to read.
type progress interface {
	// begin announces image i of n (label names it: the sweep
	// combination and seed, "" for a single image).
	begin(i, n int, label, path string)
	step(ev coop.Event)
	// image reports a written image, its seed, sweep combination ("" for
	// none) and its run's report.
	image(path string, seed uint64, variant string, rep *coop.Report)
	// sheet reports a written contact sheet.
	sheet(path string, images int)
	// warn reports a problem that does not stop the run.
	warn(format string, args ...any)
}

// isTerminal reports whether w is a terminal (a character device), where
// progress can be redrawn in place.
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	st, err := f.Stat()
	return err == nil && st.Mode()&os.ModeCharDevice != 0
}

// newProgress picks the form for the command's writers.
func newProgress(jsonOut bool, stdout, stderr io.Writer) progress {
	if jsonOut {
		return &jsonProgress{out: json.NewEncoder(stdout), stderr: stderr}
	}
	return &textProgress{stdout: stdout, stderr: stderr, bar: isTerminal(stderr), paths: !isTerminal(stdout)}
}

// stageClock measures a stage's speed from its steps after the first,
// since the first step also pays for opening sessions and preparing the
// stage.
type stageClock struct {
	stage    int
	first    time.Duration // Elapsed at step 1
	haveStep bool
}

// rate is steps per second and the time left for the rest of the stage.
func (c *stageClock) rate(ev coop.Event) (itPerSec float64, eta time.Duration) {
	if ev.Step == 1 || !c.haveStep || c.stage != ev.StageIndex {
		c.stage, c.first, c.haveStep = ev.StageIndex, ev.Elapsed, true
	}
	steps, d := float64(ev.Step-1), ev.Elapsed-c.first
	if ev.Step == 1 || d <= 0 {
		steps, d = float64(ev.Step), ev.Elapsed
	}
	if steps <= 0 || d <= 0 {
		return 0, 0
	}
	itPerSec = steps / d.Seconds()
	eta = time.Duration(float64(ev.Steps-ev.Step) / itPerSec * float64(time.Second))
	return itPerSec, eta
}

// formatETA writes a duration the way progress bars do: 5s, 2m05s, 1h02m.
func formatETA(d time.Duration) string {
	s := int(d.Round(time.Second).Seconds())
	switch {
	case s < 60:
		return fmt.Sprintf("%ds", s)
	case s < 3600:
		return fmt.Sprintf("%dm%02ds", s/60, s%60)
	}
	return fmt.Sprintf("%dh%02dm", s/3600, s%3600/60)
}

// barWidth is the number of cells of a progress bar.
const barWidth = 20

// barLine formats one stage's progress:
// "stage 1/2 base  [#####---------------] 12/30  3.2 it/s  ETA 5s".
func barLine(ev coop.Event, ips float64, eta time.Duration) string {
	done := barWidth * ev.Step / max(ev.Steps, 1)
	bar := strings.Repeat("#", done) + strings.Repeat("-", barWidth-done)
	return fmt.Sprintf("stage %d/%d %s  [%s] %d/%d  %.1f it/s  ETA %s",
		ev.StageIndex+1, ev.Stages, ev.Stage, bar, ev.Step, ev.Steps, ips, formatETA(eta))
}

// textProgress writes progress to stderr and the paths of what it wrote
// to stdout, so that `coop run r.yaml > files.txt` lists the images.
type textProgress struct {
	stdout, stderr io.Writer
	bar            bool
	// paths says whether written paths go to stdout too: not when it is
	// the terminal stderr already writes them to.
	paths      bool
	prefix     string
	clock      stageClock
	lastDecile int
	open       bool // a bar line is drawn and not ended
}

func (p *textProgress) begin(i, n int, label, path string) {
	p.endBar()
	switch {
	case n > 1 && label != "":
		p.prefix = fmt.Sprintf("[%d/%d %s] ", i+1, n, label)
	case n > 1:
		p.prefix = fmt.Sprintf("[%d/%d] ", i+1, n)
	default:
		p.prefix = ""
	}
	p.lastDecile = -1
}

func (p *textProgress) step(ev coop.Event) {
	if p.bar {
		ips, eta := p.clock.rate(ev)
		fmt.Fprintf(p.stderr, "\r\033[K%s%s", p.prefix, barLine(ev, ips, eta))
		p.open = true
		if ev.Step == ev.Steps {
			p.endBar()
		}
		return
	}
	// Plain lines: every step of short stages, else about one line per
	// tenth of the stage, and always the last step.
	if ev.Step == 1 {
		p.lastDecile = -1
	}
	ips, eta := p.clock.rate(ev)
	decile := 10 * ev.Step / max(ev.Steps, 1)
	if ev.Steps > 10 && decile == p.lastDecile && ev.Step != ev.Steps {
		return
	}
	p.lastDecile = decile
	fmt.Fprintf(p.stderr, "%sstage %d/%d %s: step %d/%d, %.1f it/s, ETA %s\n",
		p.prefix, ev.StageIndex+1, ev.Stages, ev.Stage, ev.Step, ev.Steps, ips, formatETA(eta))
}

func (p *textProgress) endBar() {
	if p.open {
		fmt.Fprintln(p.stderr)
		p.open = false
	}
}

func (p *textProgress) image(path string, seed uint64, variant string, rep *coop.Report) {
	p.endBar()
	fmt.Fprintf(p.stderr, "%swrote %s (seed %d, %d model evaluations, %s)\n", p.prefix, path, seed, rep.ModelEvaluations, rep.Wall.Round(time.Millisecond))
	if p.paths {
		fmt.Fprintln(p.stdout, path)
	}
}

func (p *textProgress) sheet(path string, images int) {
	p.endBar()
	fmt.Fprintf(p.stderr, "wrote contact sheet %s (%d images)\n", path, images)
	if p.paths {
		fmt.Fprintln(p.stdout, path)
	}
}

func (p *textProgress) warn(format string, args ...any) {
	p.endBar()
	fmt.Fprintf(p.stderr, "coop: warning: "+format+"\n", args...)
}

// jsonProgress writes one JSON object per line to stdout; warnings also go
// to stderr, where people look for them.
type jsonProgress struct {
	mu     sync.Mutex
	out    *json.Encoder
	stderr io.Writer
	clock  stageClock
	index  int
	path   string
	label  string
}

// stepEvent is {"event":"step",...}: coop.Event plus the image it belongs
// to and the speed.
type stepEvent struct {
	Kind  string `json:"event"`
	Image int    `json:"image"`
	Path  string `json:"path"`
	coop.Event
	ItPerSec float64 `json:"it_per_s"`
	ETA      float64 `json:"eta_s"`
}

// imageEvent is {"event":"image",...}.
type imageEvent struct {
	Kind    string `json:"event"`
	Image   int    `json:"image"`
	Path    string `json:"path"`
	Seed    uint64 `json:"seed"`
	Variant string `json:"variant,omitempty"`
}

// reportEvent is {"event":"report",...}: the run's coop.Report.
type reportEvent struct {
	Kind    string       `json:"event"`
	Image   int          `json:"image"`
	Path    string       `json:"path"`
	Seed    uint64       `json:"seed"`
	Variant string       `json:"variant,omitempty"`
	Report  *coop.Report `json:"report"`
}

type sheetEvent struct {
	Kind   string `json:"event"`
	Path   string `json:"path"`
	Images int    `json:"images"`
}

type warningEvent struct {
	Kind    string `json:"event"`
	Message string `json:"message"`
}

func (p *jsonProgress) emit(v any) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.out.Encode(v) // a closed stdout cannot be reported anywhere better
}

func (p *jsonProgress) begin(i, n int, label, path string) {
	p.index, p.label, p.path = i, label, path
}

func (p *jsonProgress) step(ev coop.Event) {
	ips, eta := p.clock.rate(ev)
	p.emit(stepEvent{Kind: "step", Image: p.index, Path: p.path, Event: ev, ItPerSec: ips, ETA: eta.Seconds()})
}

func (p *jsonProgress) image(path string, seed uint64, variant string, rep *coop.Report) {
	p.emit(imageEvent{Kind: "image", Image: p.index, Path: path, Seed: seed, Variant: variant})
	p.emit(reportEvent{Kind: "report", Image: p.index, Path: path, Seed: seed, Variant: variant, Report: rep})
}

func (p *jsonProgress) sheet(path string, images int) {
	p.emit(sheetEvent{Kind: "contact_sheet", Path: path, Images: images})
}

func (p *jsonProgress) warn(format string, args ...any) {
	msg := fmt.Sprintf(format, args...)
	fmt.Fprintf(p.stderr, "coop: warning: %s\n", msg)
	p.emit(warningEvent{Kind: "warning", Message: msg})
}
