package recipes

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"

	"go.yaml.in/yaml/v3"

	"github.com/coop-diffusion/coop/latent"
)

// Limits bound what a recipe may ask for, so that a typo (or a hostile
// recipe) is refused before anything is allocated. Zero fields take the
// defaults of DefaultLimits.
type Limits struct {
	// MaxSize is the largest width or height in pixels.
	MaxSize int
	// MaxSteps is the largest step count.
	MaxSteps int
	// MaxImages is the most images one recipe may render: seeds times
	// sweep combinations.
	MaxImages int
	// MaxBytes is the largest recipe file.
	MaxBytes int
	// MaxImagePixels is the largest control or input image, width times
	// height. The recipe reader does not open images; the job's image
	// checks and the engine refuse larger ones from their headers, before
	// decoding a pixel (see latent.ImageReader).
	MaxImagePixels int64
}

// DefaultLimits are the limits Load applies unless told otherwise.
var DefaultLimits = Limits{MaxSize: 4096, MaxSteps: 1000, MaxImages: 1024, MaxBytes: 1 << 20, MaxImagePixels: latent.DefaultMaxImagePixels}

func (l Limits) withDefaults() Limits {
	if l.MaxSize <= 0 {
		l.MaxSize = DefaultLimits.MaxSize
	}
	if l.MaxSteps <= 0 {
		l.MaxSteps = DefaultLimits.MaxSteps
	}
	if l.MaxImages <= 0 {
		l.MaxImages = DefaultLimits.MaxImages
	}
	if l.MaxBytes <= 0 {
		l.MaxBytes = DefaultLimits.MaxBytes
	}
	if l.MaxImagePixels <= 0 {
		l.MaxImagePixels = DefaultLimits.MaxImagePixels
	}
	return l
}

// Limits returns the limits the recipe was read with, zero fields filled
// from DefaultLimits; DefaultLimits for a recipe not made by a Loader.
func (r *Recipe) Limits() Limits {
	if r.src == nil {
		return DefaultLimits
	}
	return r.src.loader.Limits.withDefaults()
}

// Loader reads recipes with options. The zero Loader is what Load uses:
// no overrides, files checked, DefaultLimits.
type Loader struct {
	// Sets are --set overrides, "path=value" each, applied in order to the
	// YAML tree before it is decoded, so that their values are checked like
	// the file's. Paths name fields the way the schema does:
	// steps, stages.0.participants.1.weight, models.base.path. A field the
	// recipe's sweep varies is taken out of the sweep: the value set is the
	// one rendered.
	Sets []string
	// Overrides are the overrides of command-line flags other than --set,
	// applied like Sets after them; errors about them name the flag.
	Overrides []Override
	// SkipFileChecks skips checking that model folders, images and
	// interposers exist: for validating recipes written for another
	// machine.
	SkipFileChecks bool
	// Limits bound sizes, steps and image counts.
	Limits Limits
}

// Override is a field override that a command-line flag makes (--device
// cuda sets device=cuda).
type Override struct {
	// Flag is the flag as the user gave it, "--device tpu", for messages.
	Flag string
	// Set is the override as --set takes it, "device=tpu".
	Set string
}

// MaxPNGBytes bounds the PNGs Load reads whole to find their recipe: far
// beyond any image coop writes (a 4096 px RGB PNG is at most 50 MB).
const MaxPNGBytes = 1 << 30

// Load reads and validates the recipe file at path with the zero Loader.
func Load(path string) (*Recipe, error) { return Loader{}.Load(path) }

// LoadBytes reads and validates a recipe held in memory; name is used in
// messages and for {recipe}, baseDir is where relative paths resolve.
func LoadBytes(name string, data []byte, baseDir string) (*Recipe, error) {
	return Loader{}.LoadBytes(name, data, baseDir)
}

// Load reads and validates the recipe file at path, or the recipe that a
// PNG coop wrote holds (see LoadEmbedded; the recipe's PNG and MadeBy say
// so). Relative paths in the recipe resolve against the file's directory.
// Every error is an ErrorList whose entries read "FILE:LINE:COL: message".
func (l Loader) Load(path string) (*Recipe, error) {
	lim := l.Limits.withDefaults()
	f, err := os.Open(path)
	if err != nil {
		return nil, ErrorList{newError(Position{File: path}, "cannot read recipe: %v", unwrapPathError(err))}
	}
	defer f.Close()
	head := make([]byte, len(pngSignature))
	n, err := io.ReadFull(f, head)
	if err != nil && !errors.Is(err, io.EOF) && !errors.Is(err, io.ErrUnexpectedEOF) {
		return nil, ErrorList{newError(Position{File: path}, "cannot read recipe: %v", unwrapPathError(err))}
	}
	dir, err := filepath.Abs(filepath.Dir(path))
	if err != nil {
		return nil, ErrorList{newError(Position{File: path}, "cannot resolve the recipe's directory: %v", err)}
	}
	if IsPNG(head[:n]) {
		return l.loadPNG(path, f, dir)
	}
	rest, err := io.ReadAll(io.LimitReader(f, int64(lim.MaxBytes)+1-int64(n)))
	if err != nil {
		return nil, ErrorList{newError(Position{File: path}, "cannot read recipe: %v", unwrapPathError(err))}
	}
	return l.LoadBytes(path, append(head[:n], rest...), dir)
}

// loadPNG loads the recipe the PNG open in f holds; its signature has
// been read. The recipe is named PATH[coop-recipe] in messages.
func (l Loader) loadPNG(path string, f *os.File, dir string) (*Recipe, error) {
	at := Position{File: path}
	if st, err := f.Stat(); err == nil && st.Size() > MaxPNGBytes {
		return nil, ErrorList{newError(at, "%d bytes; coop reads the recipes of PNGs of up to %d bytes", st.Size(), int64(MaxPNGBytes))}
	}
	rest, err := io.ReadAll(io.LimitReader(f, MaxPNGBytes))
	if err != nil {
		return nil, ErrorList{newError(at, "cannot read the PNG: %v", unwrapPathError(err))}
	}
	text, err := ExtractFromPNG(append(append([]byte(nil), pngSignature...), rest...))
	if errors.Is(err, ErrNoRecipe) {
		return nil, ErrorList{newError(at, "the PNG holds no coop recipe (no %s text chunk); only the PNGs coop writes have one", PNGKey)}
	}
	if err != nil {
		return nil, ErrorList{newError(at, "%v", err)}
	}
	r, _, err := l.loadEmbedded(path+"["+PNGKey+"]", []byte(text), dir, path)
	return r, err
}

func unwrapPathError(err error) error {
	var pe *os.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return err
}

// LoadBytes reads and validates a recipe held in memory; name is used in
// messages and for {recipe}, baseDir is where relative paths resolve.
func (l Loader) LoadBytes(name string, data []byte, baseDir string) (*Recipe, error) {
	l.Limits = l.Limits.withDefaults()
	src, errs := parse(name, data, baseDir, l)
	if errs != nil {
		return nil, errs
	}
	if errs := src.applyOverrides(l); errs != nil {
		return nil, errs.sorted()
	}
	return src.load()
}

// source is a recipe's YAML tree with everything needed to decode it
// again: Set and Expand change a copy of the tree and decode that.
type source struct {
	file string     // name in messages
	dir  string     // where relative paths resolve
	root *yaml.Node // the top-level mapping
	// sets name the overrides applied ("--set steps=3", "--device
	// cuda"), indexed by -Line-1 of their nodes.
	sets   []string
	loader Loader
	// png and madeBy are the recipe's PNG and MadeBy.
	png, madeBy string
}

// at is the position of node n: in the file, or the override that put it
// there (marked by a negative line, see markSet).
func (s *source) at(n *yaml.Node) Position {
	if n.Line < 0 {
		if k := -n.Line - 1; k < len(s.sets) {
			return Position{File: s.sets[k]}
		}
	}
	return Position{File: s.file, Line: n.Line, Col: n.Column}
}

func (s *source) clone() *source {
	c := *s
	c.root = cloneNode(s.root)
	c.sets = append([]string(nil), s.sets...)
	return &c
}

// load decodes and validates the tree, and for a recipe with a sweep,
// every combination of it.
func (s *source) load() (*Recipe, error) {
	r, errs := s.decode(false)
	if errs != nil {
		return nil, errs
	}
	if len(r.Sweep) > 0 {
		if _, err := r.expand(); err != nil {
			return nil, err
		}
	}
	return r, nil
}

// decode turns the tree into a validated Recipe. variant is true for a
// combination of a sweep, whose output name needs no {variant} check.
func (s *source) decode(variant bool) (*Recipe, ErrorList) {
	d := newDecoder(s)
	r := &Recipe{File: s.file, Dir: s.dir, PNG: s.png, MadeBy: s.madeBy, src: s}
	d.value("", s.root, reflectValue(r))
	d.finish(r, variant)
	if d.errs != nil {
		return nil, d.errs.sorted()
	}
	r.pos, r.keyPos, r.modelOrder = d.pos, d.keyPos, d.modelOrder
	return r, nil
}

// yamlLineRE picks the line out of the YAML parser's messages.
var yamlLineRE = regexp.MustCompile(`^yaml: line (\d+): (.*)$`)

// parse reads the YAML tree and normalises the stage shorthand.
func parse(name string, data []byte, dir string, l Loader) (*source, ErrorList) {
	if len(data) > l.Limits.MaxBytes {
		return nil, ErrorList{newError(Position{File: name, Line: 1, Col: 1},
			"the recipe is larger than %d bytes; recipes are short YAML files", l.Limits.MaxBytes)}
	}
	dec := yaml.NewDecoder(bytes.NewReader(data))
	var doc yaml.Node
	if err := decodeYAML(dec, &doc); err != nil {
		if err == io.EOF {
			return nil, ErrorList{newError(Position{File: name, Line: 1, Col: 1}, "the recipe is empty; it starts with version: %d", Version)}
		}
		return nil, ErrorList{syntaxError(name, data, err)}
	}
	var extra yaml.Node
	switch err := decodeYAML(dec, &extra); {
	case err == io.EOF:
	case err != nil:
		return nil, ErrorList{syntaxError(name, data, err)}
	default:
		return nil, ErrorList{newError(Position{File: name, Line: extra.Line, Col: extra.Column},
			"a second YAML document; a recipe file holds one (remove the --- line)")}
	}
	if len(doc.Content) == 0 || isNull(doc.Content[0]) {
		return nil, ErrorList{newError(Position{File: name, Line: 1, Col: 1}, "the recipe is empty; it starts with version: %d", Version)}
	}
	src := &source{file: name, dir: dir, root: doc.Content[0], loader: l}
	if src.root.Kind != yaml.MappingNode {
		return nil, ErrorList{newError(src.at(src.root), "a recipe is a mapping of fields (version: %d, models: ..., prompt: ...), got %s", Version, describe(src.root))}
	}
	normalizeStages(src.root)
	return src, nil
}

// decodeYAML decodes one document, turning a panic of the parser into an
// error: a recipe must never crash the program that reads it.
func decodeYAML(dec *yaml.Decoder, n *yaml.Node) (err error) {
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("yaml: %v", p)
		}
	}()
	return dec.Decode(n)
}

// syntaxError converts a YAML parser error. The parser reports the line
// of the construct it was reading (often the enclosing mapping) and no
// column; for short recipes the error points instead at the line after
// the longest prefix of the file that still parses, which is where the
// mistake is in practice, and at that line's first non-blank character.
func syntaxError(name string, data []byte, err error) *Error {
	msg := err.Error()
	line := 0
	if m := yamlLineRE.FindStringSubmatch(msg); m != nil {
		line, _ = strconv.Atoi(m[1])
		msg = m[2]
	} else {
		msg = strings.TrimPrefix(msg, "yaml: ")
	}
	lines := bytes.SplitAfter(data, []byte("\n"))
	if len(data) <= maxLocateBytes && len(lines) <= maxLocateLines {
		if k := firstBadLine(lines); k > 0 {
			line = k
		}
	}
	col := 1
	if line < 1 {
		line = 1
	} else if line <= len(lines) {
		text := bytes.TrimRight(lines[line-1], "\r\n")
		if trimmed := bytes.TrimLeft(text, " \t"); len(trimmed) > 0 {
			col = len(text) - len(trimmed) + 1
		}
	}
	return newError(Position{File: name, Line: line, Col: col}, "YAML syntax error: %s", msg)
}

// Bounds of the search for a syntax error's line (each step parses a
// prefix of the file).
const (
	maxLocateBytes = 16 << 10
	maxLocateLines = 500
)

// firstBadLine returns 1 + the number of lines of the longest prefix of
// the file that parses as YAML, or 0 when it finds none that does.
func firstBadLine(lines [][]byte) int {
	for k := len(lines) - 1; k >= 0; k-- {
		if parses(bytes.Join(lines[:k], nil)) {
			return k + 1
		}
	}
	return 0
}

// parses reports whether every YAML document in data parses.
func parses(data []byte) bool {
	dec := yaml.NewDecoder(bytes.NewReader(data))
	for {
		var n yaml.Node
		if err := decodeYAML(dec, &n); err != nil {
			return errors.Is(err, io.EOF)
		}
	}
}

// normalizeStages rewrites each stage's shorthand "model: NAME" as
// "participants: [{model: NAME}]" (when the stage has no participants),
// so that overrides and sweeps address every participant the same way.
// The new nodes keep the shorthand's positions.
func normalizeStages(root *yaml.Node) {
	stages := mappingValue(root, "stages")
	if stages == nil || stages.Kind != yaml.SequenceNode {
		return
	}
	for _, st := range stages.Content {
		if st.Kind != yaml.MappingNode || mappingValue(st, "participants") != nil {
			continue
		}
		for i := 0; i+1 < len(st.Content); i += 2 {
			k, v := st.Content[i], st.Content[i+1]
			if k.Kind != yaml.ScalarNode || k.Value != "model" {
				continue
			}
			st.Content[i] = &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: "participants", Line: k.Line, Column: k.Column}
			part := &yaml.Node{Kind: yaml.MappingNode, Tag: "!!map", Line: v.Line, Column: v.Column,
				Content: []*yaml.Node{{Kind: yaml.ScalarNode, Tag: "!!str", Value: "model", Line: k.Line, Column: k.Column}, v}}
			st.Content[i+1] = &yaml.Node{Kind: yaml.SequenceNode, Tag: "!!seq", Line: v.Line, Column: v.Column, Content: []*yaml.Node{part}}
			break
		}
	}
}

// mappingValue returns the value of key in mapping m, or nil.
func mappingValue(m *yaml.Node, key string) *yaml.Node {
	if m == nil || m.Kind != yaml.MappingNode {
		return nil
	}
	for i := 0; i+1 < len(m.Content); i += 2 {
		if k := m.Content[i]; k.Kind == yaml.ScalarNode && k.Value == key {
			return m.Content[i+1]
		}
	}
	return nil
}

// cloneNode deep-copies a YAML tree.
func cloneNode(n *yaml.Node) *yaml.Node {
	if n == nil {
		return nil
	}
	c := *n
	if n.Content != nil {
		c.Content = make([]*yaml.Node, len(n.Content))
		for i, ch := range n.Content {
			c.Content[i] = cloneNode(ch)
		}
	}
	return &c
}
