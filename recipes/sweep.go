package recipes

import (
	"fmt"
	"math"
	"strings"

	"go.yaml.in/yaml/v3"
)

// Sweep is the list of fields a recipe renders with several values, in
// the order the recipe gives them. In YAML it is a mapping from field
// paths to lists of values:
//
//	sweep:
//	  stages.0.participants.1.weight: [0, 0.25, 0.5, 0.75, 1]
//	  seed: [1, 2]
type Sweep []SweepAxis

// SweepAxis is one swept field.
type SweepAxis struct {
	// Path names the field as --set does.
	Path string
	// Values are the values as compact YAML text, for labels.
	Values []string

	keyPos Position     // where the path is written
	nodes  []*yaml.Node // the values as written, type-checked per variant
}

// Len is the number of combinations: the product of the axes' lengths
// (1 without a sweep).
func (s Sweep) Len() int {
	n := 1
	for _, a := range s {
		if k := len(a.Values); k > 0 && n > math.MaxInt32/k {
			return math.MaxInt32 // saturated: far beyond any limit
		} else {
			n *= k
		}
	}
	return n
}

// Shape lists each axis's number of values, for laying out a contact
// sheet (the first axis varies slowest).
func (s Sweep) Shape() []int {
	out := make([]int, len(s))
	for i, a := range s {
		out[i] = len(a.Values)
	}
	return out
}

// Labels returns the short names of the axes: the last segment of each
// path, or more segments where that would be ambiguous.
func (s Sweep) Labels() []string {
	labels := make([]string, len(s))
	split := make([][]string, len(s))
	for i, a := range s {
		split[i] = strings.Split(a.Path, ".")
	}
	for i := range s {
		for k := 1; k <= len(split[i]); k++ {
			cand := strings.Join(split[i][len(split[i])-k:], ".")
			unique := true
			for j := range s {
				if j != i && strings.HasSuffix("."+s[j].Path, "."+cand) {
					unique = false
					break
				}
			}
			labels[i] = cand
			if unique {
				break
			}
		}
	}
	return labels
}

func (s *Sweep) decodeNode(d *decoder, path string, n *yaml.Node) {
	if n.Kind != yaml.MappingNode {
		d.errorf(n, path, "expected a mapping of field paths to lists of values, got %s", describe(n))
		return
	}
	seen := make(map[string]*yaml.Node)
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		name, ok := d.keyName(path, k)
		if !ok {
			continue
		}
		apath := joinPath(path, name)
		d.keyPos[apath] = d.src.at(k)
		d.pos[apath] = d.src.at(v)
		segs, _, err := schemaPath(name)
		if err != nil {
			d.errorf(k, path, "%v", err)
			continue
		}
		canon := strings.Join(segs, ".")
		if first, dup := seen[canon]; dup {
			d.errorf(k, path, "%s is swept twice (first at %s)", canon, d.src.at(first))
			continue
		}
		seen[canon] = k
		if segs[0] == "sweep" || segs[0] == "version" {
			d.errorf(k, path, "%s cannot be swept", segs[0])
			continue
		}
		if v.Kind != yaml.SequenceNode || len(v.Content) == 0 {
			d.errorf(v, apath, "expected a non-empty list of values to render, got %s", describe(v))
			continue
		}
		axis := SweepAxis{Path: canon, keyPos: d.src.at(k)}
		for _, vn := range v.Content {
			if vn.Kind == yaml.AliasNode {
				d.errorf(vn, apath, "aliases (*%s) are not supported in recipes; write the value out", vn.Value)
				continue
			}
			axis.Values = append(axis.Values, compactYAML(vn))
			axis.nodes = append(axis.nodes, vn)
		}
		*s = append(*s, axis)
	}
}

// MarshalYAML writes the sweep as it was written.
func (s Sweep) MarshalYAML() (any, error) {
	m := &yaml.Node{Kind: yaml.MappingNode}
	for _, a := range s {
		seq := &yaml.Node{Kind: yaml.SequenceNode, Style: yaml.FlowStyle}
		for i, v := range a.Values {
			var n *yaml.Node
			if i < len(a.nodes) {
				n = cloneNode(a.nodes[i])
				clearPositions(n)
			} else {
				var doc yaml.Node
				if err := yaml.Unmarshal([]byte(v), &doc); err != nil || len(doc.Content) == 0 {
					return nil, fmt.Errorf("recipes: sweep value %q of %s is not YAML", v, a.Path)
				}
				n = doc.Content[0]
			}
			seq.Content = append(seq.Content, n)
		}
		m.Content = append(m.Content, &yaml.Node{Kind: yaml.ScalarNode, Value: a.Path}, seq)
	}
	return m, nil
}

func clearPositions(n *yaml.Node) {
	n.Line, n.Column = 0, 0
	n.HeadComment, n.LineComment, n.FootComment = "", "", ""
	for _, c := range n.Content {
		clearPositions(c)
	}
}

// compactYAML writes a value on one line: a scalar as written, anything
// else in flow style.
func compactYAML(n *yaml.Node) string {
	if n.Kind == yaml.ScalarNode {
		return n.Value
	}
	c := cloneNode(n)
	var flow func(*yaml.Node)
	flow = func(n *yaml.Node) {
		n.Style |= yaml.FlowStyle
		n.HeadComment, n.LineComment, n.FootComment = "", "", ""
		for _, ch := range n.Content {
			flow(ch)
		}
	}
	flow(c)
	out, err := yaml.Marshal(c)
	if err != nil {
		return "?"
	}
	return strings.TrimSpace(string(out))
}

// Variant is one combination of a sweep.
type Variant struct {
	// Number counts variants from 0 in Expand's order; it is {variant} in
	// output names.
	Number int
	// Index is the position along each axis.
	Index []int
	// Label names the combination, "weight=0.25 seed=2".
	Label string
	// Recipe is the recipe with the combination's values and no sweep.
	Recipe *Recipe
}

// Expand lists the concrete recipes of a sweep, one per combination of
// the axes' values, the first axis varying slowest. Each is decoded and
// validated like a loaded recipe; errors point at the value in the sweep
// and name the combination. A recipe without a sweep expands to itself.
func Expand(r *Recipe) ([]Variant, error) {
	if len(r.Sweep) == 0 {
		return []Variant{{Number: 0, Recipe: r}}, nil
	}
	return r.expand()
}

func (r *Recipe) expand() ([]Variant, error) {
	if r.src == nil {
		return nil, fmt.Errorf("recipes: Expand needs a recipe made by Load")
	}
	lim := r.src.loader.Limits.withDefaults()
	total := r.Sweep.Len()
	if images := total * len(r.SeedList()); total > lim.MaxImages || images > lim.MaxImages {
		at, ok := r.keyPos["sweep"]
		if !ok {
			at = r.Pos("sweep")
		}
		return nil, ErrorList{newError(at, "sweep: %d combinations of %d seeds make %d images; the limit is %d",
			total, len(r.SeedList()), images, lim.MaxImages)}
	}
	labels := r.Sweep.Labels()
	base := r.src.clone()
	removeKey(base.root, "sweep")
	variants := make([]Variant, 0, total)
	var errs ErrorList
	idx := make([]int, len(r.Sweep))
	for num := 0; num < total; num++ {
		// idx counts in mixed radix, last axis fastest.
		rem := num
		for a := len(r.Sweep) - 1; a >= 0; a-- {
			idx[a] = rem % len(r.Sweep[a].Values)
			rem /= len(r.Sweep[a].Values)
		}
		src := base.clone()
		parts := make([]string, len(r.Sweep))
		var setErr *Error
		for a, axis := range r.Sweep {
			parts[a] = labels[a] + "=" + axis.Values[idx[a]]
			segs, types, err := schemaPath(axis.Path)
			if err == nil {
				err = setPath(src.root, segs, types, cloneNode(axis.nodes[idx[a]]), axis.keyPos.Line)
			}
			if err != nil && setErr == nil {
				setErr = newError(axis.keyPos, "sweep.%s: %v", axis.Path, err)
			}
		}
		label := strings.Join(parts, " ")
		if setErr != nil {
			return nil, ErrorList{setErr} // the same for every combination
		}
		vr, verrs := src.decode(true)
		if verrs != nil {
			for _, e := range verrs {
				c := *e
				c.Msg += " (in sweep combination " + label + ")"
				errs = append(errs, &c)
			}
			if len(errs) >= maxErrors {
				break
			}
			continue
		}
		variants = append(variants, Variant{Number: num, Index: append([]int(nil), idx...), Label: label, Recipe: vr})
	}
	if errs != nil {
		return nil, errs.sorted()
	}
	return variants, nil
}
