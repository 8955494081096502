package recipes

import (
	"fmt"
	"math"
	"reflect"
	"regexp"
	"strconv"
	"strings"

	"go.yaml.in/yaml/v3"
)

// A nodeDecoder decodes a value whose YAML form is not a plain mapping,
// list or scalar (a weight is a number or a curve), reporting problems
// through d at the node's position.
type nodeDecoder interface {
	decodeNode(d *decoder, path string, n *yaml.Node)
}

var nodeDecoderType = reflect.TypeFor[nodeDecoder]()

// decoder turns a YAML tree into a Recipe, checking every field's name and
// type and recording where each value is, so that later checks (here and
// in the compiler) can point at it.
type decoder struct {
	src        *source
	errs       ErrorList
	pos        map[string]Position
	keyPos     map[string]Position
	modelOrder []string
	modelKeys  int // entries of the models mapping, valid names or not
}

func newDecoder(src *source) *decoder {
	return &decoder{src: src, pos: make(map[string]Position), keyPos: make(map[string]Position)}
}

// errorf reports a problem with the value at path, at node n.
func (d *decoder) errorf(n *yaml.Node, path, format string, args ...any) {
	msg := fmt.Sprintf(format, args...)
	if path != "" {
		msg = path + ": " + msg
	}
	d.errs = append(d.errs, newError(d.src.at(n), "%s", msg))
}

// errorAt reports a problem at a recorded position.
func (d *decoder) errorAt(p Position, path, format string, args ...any) {
	msg := fmt.Sprintf(format, args...)
	if path != "" {
		msg = path + ": " + msg
	}
	d.errs = append(d.errs, newError(p, "%s", msg))
}

func joinPath(path, seg string) string {
	if path == "" {
		return seg
	}
	return path + "." + seg
}

func isNull(n *yaml.Node) bool {
	return n.Kind == yaml.ScalarNode && n.ShortTag() == "!!null"
}

// describe names what a node is, for "expected X, got Y" messages.
func describe(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		return "a list"
	case yaml.AliasNode:
		return "an alias"
	case yaml.DocumentNode:
		return "a document"
	}
	if isNull(n) {
		return "nothing"
	}
	v := n.Value
	if len(v) > 40 {
		v = v[:37] + "..."
	}
	return strconv.Quote(v)
}

// value decodes n into v, the field at path.
func (d *decoder) value(path string, n *yaml.Node, v reflect.Value) {
	d.pos[path] = d.src.at(n)
	if n.Kind == yaml.AliasNode {
		d.errorf(n, path, "aliases (*%s) are not supported in recipes; write the value out", n.Value)
		return
	}
	if v.CanAddr() && v.Addr().Type().Implements(nodeDecoderType) {
		v.Addr().Interface().(nodeDecoder).decodeNode(d, path, n)
		return
	}
	switch v.Kind() {
	case reflect.String, reflect.Int, reflect.Uint64, reflect.Float64:
		// A scalar that fails to decode counts as not given, so that checks
		// of its value do not repeat the error.
		before := len(d.errs)
		d.scalar(path, n, v)
		if len(d.errs) > before {
			delete(d.pos, path)
		}
	case reflect.Pointer:
		et := v.Type().Elem()
		if et.Kind() == reflect.Struct && !reflect.PointerTo(et).Implements(nodeDecoderType) && n.Kind != yaml.MappingNode {
			// Leave the pointer nil: checks of the missing value's fields
			// would only repeat this error.
			d.errorf(n, path, "expected a mapping of fields, got %s", describe(n))
			return
		}
		nv := reflect.New(et)
		d.value(path, n, nv.Elem())
		v.Set(nv)
	case reflect.Struct:
		d.fields(path, n, v)
	case reflect.Map:
		d.dict(path, n, v)
	case reflect.Slice:
		d.list(path, n, v)
	default:
		panic(fmt.Sprintf("recipes: no decoder for %s at %s", v.Type(), path))
	}
}

// scalar decodes a string, an integer or a number.
func (d *decoder) scalar(path string, n *yaml.Node, v reflect.Value) {
	switch v.Kind() {
	case reflect.String:
		if n.Kind != yaml.ScalarNode || isNull(n) {
			d.errorf(n, path, "expected a string, got %s", describe(n))
			return
		}
		v.SetString(n.Value)
	case reflect.Int:
		if n.Kind != yaml.ScalarNode || n.ShortTag() != "!!int" {
			d.errorf(n, path, "expected an integer, got %s", describe(n))
			return
		}
		var i int64
		if err := n.Decode(&i); err != nil || int64(int(i)) != i {
			d.errorf(n, path, "integer %s is out of range", n.Value)
			return
		}
		v.SetInt(i)
	case reflect.Uint64:
		if n.Kind != yaml.ScalarNode || n.ShortTag() != "!!int" {
			d.errorf(n, path, "expected a non-negative integer, got %s", describe(n))
			return
		}
		var u uint64
		if err := n.Decode(&u); err != nil {
			if strings.HasPrefix(strings.TrimSpace(n.Value), "-") {
				d.errorf(n, path, "must not be negative, got %s", n.Value)
			} else {
				d.errorf(n, path, "integer %s is out of range (at most %d)", n.Value, uint64(math.MaxUint64))
			}
			return
		}
		v.SetUint(u)
	case reflect.Float64:
		f, ok := d.number(path, n)
		if ok {
			v.SetFloat(f)
		}
	}
}

// number decodes a finite number (an integer or a float).
func (d *decoder) number(path string, n *yaml.Node) (float64, bool) {
	if n.Kind != yaml.ScalarNode || (n.ShortTag() != "!!int" && n.ShortTag() != "!!float") {
		d.errorf(n, path, "expected a number, got %s", describe(n))
		return 0, false
	}
	var f float64
	if err := n.Decode(&f); err != nil {
		d.errorf(n, path, "number %s is out of range", n.Value)
		return 0, false
	}
	if math.IsNaN(f) || math.IsInf(f, 0) {
		d.errorf(n, path, "expected a finite number, got %s", n.Value)
		return 0, false
	}
	if f == 0 {
		f = 0 // -0 would be written back as -0, which reads as the integer 0
	}
	return f, true
}

// yamlName is a struct field's name in YAML, "" for fields YAML ignores.
func yamlName(f reflect.StructField) string {
	if f.PkgPath != "" {
		return ""
	}
	tag := f.Tag.Get("yaml")
	name, _, _ := strings.Cut(tag, ",")
	if name == "-" {
		return ""
	}
	return name
}

// fieldNames lists the YAML names of a struct's fields.
func fieldNames(t reflect.Type) []string {
	var names []string
	for i := 0; i < t.NumField(); i++ {
		if n := yamlName(t.Field(i)); n != "" {
			names = append(names, n)
		}
	}
	return names
}

// fieldIndex finds the field YAML calls name.
func fieldIndex(t reflect.Type, name string) (int, bool) {
	for i := 0; i < t.NumField(); i++ {
		if yamlName(t.Field(i)) == name {
			return i, true
		}
	}
	return 0, false
}

// unknownField formats the message for a field the schema lacks.
func unknownField(t reflect.Type, name, path string) string {
	names := fieldNames(t)
	where := ""
	if path != "" {
		where = " in " + path
	}
	if s := suggest(name, names); s != "" {
		return fmt.Sprintf("unknown field %q%s%s", name, where, s)
	}
	return fmt.Sprintf("unknown field %q%s; known fields: %s", name, where, strings.Join(names, ", "))
}

// keyName checks a mapping key and returns its text.
func (d *decoder) keyName(path string, k *yaml.Node) (string, bool) {
	if k.Kind != yaml.ScalarNode || isNull(k) || k.Value == "" {
		d.errorf(k, path, "expected a field name, got %s", describe(k))
		return "", false
	}
	return k.Value, true
}

// fields decodes a mapping into the struct v.
func (d *decoder) fields(path string, n *yaml.Node, v reflect.Value) {
	if n.Kind != yaml.MappingNode {
		d.errorf(n, path, "expected a mapping of fields, got %s", describe(n))
		return
	}
	t := v.Type()
	seen := make(map[string]*yaml.Node)
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, val := n.Content[i], n.Content[i+1]
		name, ok := d.keyName(path, k)
		if !ok {
			continue
		}
		if first, dup := seen[name]; dup {
			d.errorf(k, joinPath(path, name), "given twice (first at %s)", d.src.at(first))
			continue
		}
		seen[name] = k
		fi, ok := fieldIndex(t, name)
		if !ok {
			d.errorf(k, "", "%s", unknownField(t, name, path))
			continue
		}
		fpath := joinPath(path, name)
		d.keyPos[fpath] = d.src.at(k)
		if isNull(val) {
			continue // an empty value leaves the field unset
		}
		d.value(fpath, val, v.Field(fi))
	}
}

// modelNameRE is what model names look like: they appear in field paths
// (models.NAME.path), so they hold no dots.
var modelNameRE = regexp.MustCompile(`^[A-Za-z][A-Za-z0-9_-]*$`)

// dict decodes the models mapping (name -> *Model).
func (d *decoder) dict(path string, n *yaml.Node, v reflect.Value) {
	if n.Kind != yaml.MappingNode {
		d.errorf(n, path, "expected a mapping of names to models, got %s", describe(n))
		return
	}
	if v.IsNil() {
		v.Set(reflect.MakeMap(v.Type()))
	}
	seen := make(map[string]*yaml.Node)
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, val := n.Content[i], n.Content[i+1]
		if path == "models" {
			d.modelKeys++
		}
		name, ok := d.keyName(path, k)
		if !ok {
			continue
		}
		if first, dup := seen[name]; dup {
			d.errorf(k, joinPath(path, name), "given twice (first at %s)", d.src.at(first))
			continue
		}
		seen[name] = k
		if !modelNameRE.MatchString(name) {
			d.errorf(k, path, "model name %q must start with a letter and hold only letters, digits, _ and -", name)
			continue
		}
		epath := joinPath(path, name)
		d.keyPos[epath] = d.src.at(k)
		if path == "models" {
			d.modelOrder = append(d.modelOrder, name)
		}
		if isNull(val) {
			d.pos[epath] = d.src.at(val)
			d.errorf(val, epath, "expected a model {path: FOLDER}, got nothing")
			continue
		}
		ev := reflect.New(v.Type().Elem()).Elem()
		d.value(epath, val, ev)
		v.SetMapIndex(reflect.ValueOf(name), ev)
	}
}

// list decodes a sequence into the slice v.
func (d *decoder) list(path string, n *yaml.Node, v reflect.Value) {
	if n.Kind != yaml.SequenceNode {
		d.errorf(n, path, "expected a list, got %s", describe(n))
		return
	}
	s := reflect.MakeSlice(v.Type(), len(n.Content), len(n.Content))
	for i, item := range n.Content {
		ipath := joinPath(path, strconv.Itoa(i))
		if isNull(item) {
			d.pos[ipath] = d.src.at(item)
			d.errorf(item, ipath, "empty list entry")
			continue
		}
		d.value(ipath, item, s.Index(i))
	}
	v.Set(s)
}
