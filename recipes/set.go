package recipes

import (
	"errors"
	"fmt"
	"io"
	"reflect"
	"strconv"
	"strings"

	"go.yaml.in/yaml/v3"
)

func reflectValue(r *Recipe) reflect.Value { return reflect.ValueOf(r).Elem() }

var (
	recipeType = reflect.TypeFor[Recipe]()
	bridgeType = reflect.TypeFor[Bridge]()
)

// maxIndex bounds list indices in paths; no recipe has this many stages.
const maxIndex = 1 << 16

// schemaPath checks a field path against the schema and returns the path
// with the stage shorthand stages.N.model spelled out as
// stages.N.participants.0.model, and the type of the container at each
// segment (types[i] holds segment i) followed by the type of the value.
func schemaPath(path string) (segs []string, types []reflect.Type, err error) {
	if path == "" {
		return nil, nil, fmt.Errorf("the field path is empty")
	}
	raw := strings.Split(path, ".")
	t := recipeType
	for i := 0; i < len(raw); i++ {
		seg := raw[i]
		for t.Kind() == reflect.Pointer {
			t = t.Elem()
		}
		done := strings.Join(segs, ".")
		if seg == "" {
			return nil, nil, fmt.Errorf("%q has an empty segment", path)
		}
		if reflect.PointerTo(t).Implements(nodeDecoderType) && !hasFields(t) {
			return nil, nil, fmt.Errorf("%s is a single value; it has no part %q", done, seg)
		}
		switch t.Kind() {
		case reflect.Struct:
			if t == reflect.TypeFor[Stage]() && seg == "model" {
				// The shorthand names the primary participant's model.
				raw = append(raw[:i], append([]string{"participants", "0", "model"}, raw[i+1:]...)...)
				seg = "participants"
			}
			fi, ok := fieldIndex(t, seg)
			if !ok {
				return nil, nil, fmt.Errorf("%s", unknownField(t, seg, done))
			}
			types = append(types, t)
			t = t.Field(fi).Type
		case reflect.Map:
			if !modelNameRE.MatchString(seg) {
				return nil, nil, fmt.Errorf("%q is not a model name (a letter, then letters, digits, _ and -)", seg)
			}
			types = append(types, t)
			t = t.Elem()
		case reflect.Slice:
			idx, err := strconv.Atoi(seg)
			if err != nil || idx < 0 || idx >= maxIndex {
				return nil, nil, fmt.Errorf("%s is a list; %q is not an index (0, 1, ...)", done, seg)
			}
			types = append(types, t)
			t = t.Elem()
		default:
			return nil, nil, fmt.Errorf("%s is a single value; it has no part %q", done, seg)
		}
		segs = append(segs, seg)
	}
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	return segs, append(types, t), nil
}

// hasFields reports whether t, a type with its own YAML form, also takes
// a mapping of named fields whose parts paths may name (bridge:
// {interposer: FILE, back: FILE, every: K}), unlike a weight or a window,
// which are single values.
func hasFields(t reflect.Type) bool {
	return t.Kind() == reflect.Struct && len(fieldNames(t)) > 0
}

// applyOverrides applies the loader's --set arguments, then its flag
// overrides, to the tree.
func (s *source) applyOverrides(l Loader) ErrorList {
	var errs ErrorList
	for _, arg := range l.Sets {
		if err := s.set(arg); err != nil {
			errs = append(errs, err)
		}
	}
	for _, o := range l.Overrides {
		if err := s.override(o.Flag, o.Set); err != nil {
			errs = append(errs, err)
		}
	}
	return errs
}

// set applies one --set argument to the tree.
func (s *source) set(arg string) *Error { return s.override("--set "+arg, arg) }

// override applies one path=value override to the tree; label is how the
// user gave it ("--set steps=3", "--device tpu"), which errors about it
// name. Its value is YAML, except for text fields, where it is taken
// literally unless it starts with a quote, so that --set prompt=a cat:
// sitting needs no quoting. A swept field that it sets is taken out of the
// sweep, so that the value given is the one rendered.
func (s *source) override(label, arg string) *Error {
	s.sets = append(s.sets, label)
	at := Position{File: label}
	path, text, ok := strings.Cut(arg, "=")
	if !ok {
		return newError(at, "expected path=value (for example steps=20)")
	}
	path = strings.TrimSpace(path)
	if first, _, _ := strings.Cut(path, "."); first == "sweep" || first == "version" {
		return newError(at, "%s cannot be set from the command line", first)
	}
	segs, types, err := schemaPath(path)
	if err != nil {
		return newError(at, "%v", err)
	}
	var val *yaml.Node
	if types[len(types)-1].Kind() == reflect.String && !strings.HasPrefix(text, `"`) && !strings.HasPrefix(text, `'`) {
		val = &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: text}
	} else {
		var doc yaml.Node
		if err := decodeYAML(yaml.NewDecoder(strings.NewReader(text)), &doc); err != nil && !errors.Is(err, io.EOF) {
			return newError(at, "the value is not valid YAML: %s", strings.TrimPrefix(err.Error(), "yaml: "))
		}
		if len(doc.Content) == 0 {
			val = &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!null", Value: ""}
		} else {
			val = doc.Content[0]
		}
	}
	mark := -len(s.sets) // nodes from argument k carry line -(k+1)
	markSet(val, mark)
	if err := setPath(s.root, segs, types, val, mark); err != nil {
		return newError(at, "%v", err)
	}
	if err := s.unsweep(segs); err != nil {
		return newError(at, "%v", err)
	}
	normalizeStages(s.root) // a whole stage set as {model: NAME, ...}
	return nil
}

// markSet gives every node of a --set value the line that names its
// argument, so that errors about it point at the argument.
func markSet(n *yaml.Node, line int) {
	n.Line, n.Column = line, 0
	for _, c := range n.Content {
		markSet(c, line)
	}
}

// setPath puts val at segs in the tree rooted at root, creating the
// mappings and list entries on the way (a list grows by one entry when
// the index is its length). types are schemaPath's. Setting seed removes
// seeds and the other way round, since a recipe gives one of them.
func setPath(root *yaml.Node, segs []string, types []reflect.Type, val *yaml.Node, line int) error {
	cur := root
	for i, seg := range segs {
		last := i == len(segs)-1
		where := strings.Join(segs[:i], ".")
		if where == "" {
			where = "the recipe"
		}
		var child **yaml.Node
		switch types[i].Kind() {
		case reflect.Struct, reflect.Map:
			if types[i] == bridgeType && cur.Kind == yaml.ScalarNode && cur.Value == BridgePixel {
				// "pixel" is the bridge whose fields all take their
				// defaults: setting one starts from no fields.
				*cur = yaml.Node{Kind: yaml.MappingNode, Tag: "!!map", Line: cur.Line, Column: cur.Column}
			}
			if isNull(cur) {
				*cur = yaml.Node{Kind: yaml.MappingNode, Tag: "!!map", Line: line}
			}
			if cur.Kind != yaml.MappingNode {
				return fmt.Errorf("%s is %s in the recipe, not a mapping", where, describe(cur))
			}
			for j := 0; j+1 < len(cur.Content); j += 2 {
				if k := cur.Content[j]; k.Kind == yaml.ScalarNode && k.Value == seg {
					child = &cur.Content[j+1]
					break
				}
			}
			if child == nil {
				cur.Content = append(cur.Content, &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: seg, Line: line}, nil)
				child = &cur.Content[len(cur.Content)-1]
			}
			if i == 0 && (seg == "seed" || seg == "seeds") {
				other := "seeds"
				if seg == "seeds" {
					other = "seed"
				}
				removeKey(cur, other)
				for j := 0; j+1 < len(cur.Content); j += 2 { // the slice may have moved
					if cur.Content[j].Value == seg {
						child = &cur.Content[j+1]
					}
				}
			}
		case reflect.Slice:
			if isNull(cur) {
				*cur = yaml.Node{Kind: yaml.SequenceNode, Tag: "!!seq", Line: line}
			}
			if cur.Kind != yaml.SequenceNode {
				return fmt.Errorf("%s is %s in the recipe, not a list", where, describe(cur))
			}
			idx, _ := strconv.Atoi(seg)
			switch {
			case idx < len(cur.Content):
				child = &cur.Content[idx]
			case idx == len(cur.Content):
				cur.Content = append(cur.Content, nil)
				child = &cur.Content[idx]
			default:
				return fmt.Errorf("%s has %d entries; index %d is past the end (%d adds one)", where, len(cur.Content), idx, len(cur.Content))
			}
		}
		if last {
			*child = val
			return nil
		}
		if *child == nil {
			*child = &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!null", Line: line}
		}
		cur = *child
	}
	return nil
}

// unsweep takes out of the sweep every axis that varies the field at segs
// or a part of it: the override replaces them all. An axis that varies a
// field holding segs would replace the override in every combination, so
// it is an error. seed and seeds count as one field, since setting either
// removes the other.
func (s *source) unsweep(segs []string) error {
	sweep := mappingValue(s.root, "sweep")
	if sweep == nil || sweep.Kind != yaml.MappingNode {
		return nil
	}
	set := seedsAsSeed(segs)
	kept := sweep.Content[:0] // filtered in place: kept never overtakes i
	var err error
	for i := 0; i+1 < len(sweep.Content); i += 2 {
		k := sweep.Content[i]
		if k.Kind == yaml.ScalarNode {
			// A path that is not one is reported when the sweep is decoded.
			if axis, _, perr := schemaPath(k.Value); perr == nil {
				a := seedsAsSeed(axis)
				if hasPrefix(a, set) {
					continue
				}
				if hasPrefix(set, a) && err == nil {
					err = fmt.Errorf("the sweep varies %s (%s), and each of its values replaces all of it, this part too; set the whole field, or sweep only this part",
						strings.Join(axis, "."), s.at(k))
				}
			}
		}
		kept = append(kept, k, sweep.Content[i+1])
	}
	if len(kept) == 0 && len(sweep.Content) > 0 {
		removeKey(s.root, "sweep") // every axis was set: no sweep is left
	}
	sweep.Content = kept
	return err
}

// seedsAsSeed spells a path into seeds as one into seed, so that paths into
// either compare equal.
func seedsAsSeed(segs []string) []string {
	if len(segs) > 0 && segs[0] == "seeds" {
		return append([]string{"seed"}, segs[1:]...)
	}
	return segs
}

// hasPrefix reports whether path starts with the segments of prefix.
func hasPrefix(path, prefix []string) bool {
	if len(prefix) > len(path) {
		return false
	}
	for i, seg := range prefix {
		if path[i] != seg {
			return false
		}
	}
	return true
}

// removeKey deletes key from mapping m.
func removeKey(m *yaml.Node, key string) {
	for j := 0; j+1 < len(m.Content); j += 2 {
		if k := m.Content[j]; k.Kind == yaml.ScalarNode && k.Value == key {
			m.Content = append(m.Content[:j], m.Content[j+2:]...)
			return
		}
	}
}

// Set returns a copy of r with "path=value" overrides applied, decoded and
// validated like a loaded recipe. Errors name the argument at fault.
func (r *Recipe) Set(args ...string) (*Recipe, error) {
	if r.src == nil {
		return nil, fmt.Errorf("recipes: Set needs a recipe made by Load")
	}
	src := r.src.clone()
	if errs := src.applyOverrides(Loader{Sets: args}); errs != nil {
		return nil, errs.sorted()
	}
	return src.load()
}
