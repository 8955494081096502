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

var recipeType = reflect.TypeFor[Recipe]()

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
		if reflect.PointerTo(t).Implements(nodeDecoderType) {
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

// set applies one --set argument to the tree. Its value is YAML, except
// for text fields, where it is taken literally unless it starts with a
// quote, so that --set prompt=a cat: sitting needs no quoting.
func (s *source) set(arg string) *Error {
	s.sets = append(s.sets, arg)
	at := Position{File: "--set " + arg}
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
	var errs ErrorList
	for _, arg := range args {
		if err := src.set(arg); err != nil {
			errs = append(errs, err)
		}
	}
	if errs != nil {
		return nil, errs.sorted()
	}
	return src.load()
}
