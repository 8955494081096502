package recipes

import (
	"reflect"
	"sort"
	"strconv"

	"go.yaml.in/yaml/v3"
)

// Weight is a participant's fusion weight: a constant, or a
// piecewise-linear curve over the noise level t in [0, 1] (1 is pure
// noise), written as [[t, w], ...] in increasing or decreasing t.
type Weight struct {
	// Constant is true when the recipe gave a single number.
	Constant bool
	// Points are sorted by increasing T; a constant has one point.
	Points []WeightPoint
}

// WeightPoint is one point of a weight curve.
type WeightPoint struct {
	T, W float64
}

// ConstantWeight returns the weight w at every noise level.
func ConstantWeight(w float64) *Weight {
	return &Weight{Constant: true, Points: []WeightPoint{{T: 0, W: w}}}
}

// At evaluates the weight at noise level t: linear interpolation between
// points, the end values beyond them.
func (w *Weight) At(t float64) float64 {
	p := w.Points
	switch {
	case len(p) == 0:
		return 0
	case w.Constant || len(p) == 1 || t <= p[0].T:
		return p[0].W
	case t >= p[len(p)-1].T:
		return p[len(p)-1].W
	}
	i := sort.Search(len(p), func(i int) bool { return p[i].T >= t })
	a, b := p[i-1], p[i]
	return a.W + (b.W-a.W)*(t-a.T)/(b.T-a.T)
}

func (w *Weight) decodeNode(d *decoder, path string, n *yaml.Node) {
	switch n.Kind {
	case yaml.ScalarNode:
		v, ok := d.number(path, n)
		if !ok {
			return
		}
		if v < 0 || v > 1 {
			d.errorf(n, path, "weight must be between 0 and 1, got %s", n.Value)
			return
		}
		*w = *ConstantWeight(v)
		return
	case yaml.SequenceNode:
	default:
		d.errorf(n, path, "expected a weight (a number, or a curve [[t, w], ...]), got %s", describe(n))
		return
	}
	if len(n.Content) == 0 {
		d.errorf(n, path, "a weight curve needs at least one point [t, w]")
		return
	}
	pts := make([]WeightPoint, 0, len(n.Content))
	for i, pn := range n.Content {
		ppath := joinPath(path, strconv.Itoa(i))
		d.pos[ppath] = d.src.at(pn)
		if pn.Kind != yaml.SequenceNode || len(pn.Content) != 2 {
			d.errorf(pn, ppath, "each point of a weight curve is [t, w] (noise level t, 1 = pure noise), got %s", describe(pn))
			return
		}
		t, ok1 := d.number(ppath, pn.Content[0])
		v, ok2 := d.number(ppath, pn.Content[1])
		if !ok1 || !ok2 {
			return
		}
		if t < 0 || t > 1 {
			d.errorf(pn.Content[0], ppath, "noise level t must be between 0 and 1, got %s", pn.Content[0].Value)
			return
		}
		if v < 0 || v > 1 {
			d.errorf(pn.Content[1], ppath, "weight must be between 0 and 1, got %s", pn.Content[1].Value)
			return
		}
		pts = append(pts, WeightPoint{T: t, W: v})
	}
	if len(pts) > 1 {
		up := pts[1].T > pts[0].T
		for i := 1; i < len(pts); i++ {
			if (pts[i].T > pts[i-1].T) != up || pts[i].T == pts[i-1].T {
				d.errorf(n.Content[i].Content[0], joinPath(path, strconv.Itoa(i)),
					"noise levels of a weight curve must all increase or all decrease; %g follows %g", pts[i].T, pts[i-1].T)
				return
			}
		}
		if !up {
			for i, j := 0, len(pts)-1; i < j; i, j = i+1, j-1 {
				pts[i], pts[j] = pts[j], pts[i]
			}
		}
	}
	*w = Weight{Points: pts}
}

// MarshalYAML writes a constant as a number and a curve as a flow list.
func (w *Weight) MarshalYAML() (any, error) {
	if w.Constant && len(w.Points) == 1 {
		return w.Points[0].W, nil
	}
	seq := &yaml.Node{Kind: yaml.SequenceNode, Style: yaml.FlowStyle}
	for _, p := range w.Points {
		seq.Content = append(seq.Content, &yaml.Node{Kind: yaml.SequenceNode, Style: yaml.FlowStyle,
			Content: []*yaml.Node{floatNode(p.T), floatNode(p.W)}})
	}
	return seq, nil
}

func floatNode(f float64) *yaml.Node {
	// No tag: "1" reads back as an integer, which number fields accept.
	return &yaml.Node{Kind: yaml.ScalarNode, Value: strconv.FormatFloat(f, 'g', -1, 64)}
}

// Window is the active part of a stage, [Start, End] as fractions of its
// steps (A1111's and ComfyUI's start and end percent). The zero Window
// is treated as the whole stage.
type Window struct {
	Start, End float64
}

// FullWindow is the whole stage.
var FullWindow = Window{Start: 0, End: 1}

// Contains reports whether progress p through the stage (0 at the first
// step, 1 at the end) is inside the window: Start <= p < End, and p = 1
// when End is 1.
func (w Window) Contains(p float64) bool {
	if w == (Window{}) {
		w = FullWindow
	}
	return p >= w.Start && (p < w.End || (w.End >= 1 && p >= 1))
}

func (w *Window) decodeNode(d *decoder, path string, n *yaml.Node) {
	if n.Kind != yaml.SequenceNode || len(n.Content) != 2 {
		d.errorf(n, path, "expected a window [start, end] (fractions of the stage's steps), got %s", describe(n))
		return
	}
	a, ok1 := d.number(path, n.Content[0])
	b, ok2 := d.number(path, n.Content[1])
	if !ok1 || !ok2 {
		return
	}
	switch {
	case a < 0 || a > 1:
		d.errorf(n.Content[0], path, "window start must be between 0 and 1, got %s", n.Content[0].Value)
	case b < 0 || b > 1:
		d.errorf(n.Content[1], path, "window end must be between 0 and 1, got %s", n.Content[1].Value)
	case a >= b:
		d.errorf(n, path, "window start %s must be less than its end %s", n.Content[0].Value, n.Content[1].Value)
	default:
		*w = Window{Start: a, End: b}
	}
}

// MarshalYAML writes [start, end].
func (w Window) MarshalYAML() (any, error) {
	if w == (Window{}) {
		w = FullWindow
	}
	return &yaml.Node{Kind: yaml.SequenceNode, Style: yaml.FlowStyle,
		Content: []*yaml.Node{floatNode(w.Start), floatNode(w.End)}}, nil
}

// Bridge is how a foreign participant's prediction reaches the primary's
// latent space. In YAML: "pixel" (decode, resize, encode; the default),
// or a mapping {interposer: FILE, back: FILE, every: K}: fitted linear maps
// (coop interposer fit) instead of the decode-encode round trip, into the
// primary's space and back, and/or a bridge every K steps with the carried
// prediction reused in between.
type Bridge struct {
	// Interposer is a file relative to the recipe that carries the
	// participant's prediction into the primary's space; "" for the pixel
	// bridge.
	Interposer string `yaml:"interposer,omitempty"`
	// Back is an interposer file for the other direction, which carries the
	// fused prediction into the participant's space; "" for the pixel
	// bridge.
	Back string `yaml:"back,omitempty"`
	// Every is the bridging period in steps; 1 after Load when not given.
	Every int `yaml:"every,omitempty"`
}

// Bridge kinds.
const (
	BridgePixel      = "pixel"
	BridgeInterposer = "interposer"
)

// Kind is BridgeInterposer when an interposer file is given, else BridgePixel.
func (b *Bridge) Kind() string {
	if b.Interposer != "" || b.Back != "" {
		return BridgeInterposer
	}
	return BridgePixel
}

// maxBridgeEvery bounds Bridge.Every: a longer period than any plan has
// steps means the bridge never runs again, which is surely a typo.
const maxBridgeEvery = 1000

func (b *Bridge) decodeNode(d *decoder, path string, n *yaml.Node) {
	switch n.Kind {
	case yaml.ScalarNode:
		if n.Value != BridgePixel {
			d.errorf(n, path, "unknown bridge %s%s; use pixel, or {interposer: FILE, back: FILE, every: K}", describe(n), suggest(n.Value, []string{BridgePixel}))
			return
		}
		*b = Bridge{Every: 1}
	case yaml.MappingNode:
		before := len(d.errs)
		d.fields(path, n, reflect.ValueOf(b).Elem())
		if p, given := d.pos[path+".every"]; given && len(d.errs) == before && (b.Every < 1 || b.Every > maxBridgeEvery) {
			d.errorAt(p, path+".every", "must be between 1 and %d, got %d", maxBridgeEvery, b.Every)
		}
		if b.Every == 0 {
			b.Every = 1
		}
	default:
		d.errorf(n, path, "expected a bridge (pixel, or {interposer: FILE, back: FILE, every: K}), got %s", describe(n))
	}
}

// MarshalYAML writes "pixel" for the plain pixel bridge.
func (b *Bridge) MarshalYAML() (any, error) {
	if b.Interposer == "" && b.Back == "" && b.Every <= 1 {
		return BridgePixel, nil
	}
	type plain Bridge // without the method, to avoid recursion
	return (*plain)(b), nil
}
