package recipes

import (
	"bytes"

	"go.yaml.in/yaml/v3"
)

// VersionKey is the top-level field of an embedded recipe that names the
// coop version which made the image. Recipe files do not have it (Load
// refuses it as an unknown field); MarshalEmbedded writes it and
// LoadEmbedded takes it out before decoding the rest.
const VersionKey = "coop_version"

// MarshalEmbedded returns the text coop stores in the PNGs it writes: a
// coop_version line naming the engine, then the recipe as Marshal writes
// it but without output, which says where a recipe file's images go, not
// how they were made (whoever re-runs a PNG decides where the new image
// goes). The caller resolves r first (model-dependent defaults, each
// model's SHA256, the seed used, absolute paths), so that the text says
// exactly how the image was made.
func (r *Recipe) MarshalEmbedded(coopVersion string) ([]byte, error) {
	var doc yaml.Node
	if err := doc.Encode(r); err != nil {
		return nil, err
	}
	removeKey(&doc, "output")
	head := &yaml.Node{Kind: yaml.MappingNode, Content: []*yaml.Node{
		{Kind: yaml.ScalarNode, Value: VersionKey},
		{Kind: yaml.ScalarNode, Value: coopVersion, Style: versionStyle(coopVersion)},
	}}
	doc.Content = append(head.Content, doc.Content...)
	var buf bytes.Buffer
	enc := yaml.NewEncoder(&buf)
	enc.SetIndent(2)
	if err := enc.Encode(&doc); err != nil {
		return nil, err
	}
	if err := enc.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// versionStyle quotes a version that YAML would read as a number (1.0).
func versionStyle(v string) yaml.Style {
	var f float64
	if yaml.Unmarshal([]byte(v), &f) == nil {
		return yaml.DoubleQuotedStyle
	}
	return 0
}

// LoadEmbedded reads a recipe that MarshalEmbedded wrote, typically taken
// from a PNG with ExtractFromPNG: name names it in messages, baseDir is
// where relative paths resolve. It returns the recipe, loaded and
// validated like a file (with the Loader's overrides and limits), and the
// coop version it names ("" when it names none). An output field in the
// text is dropped unread, so that a PNG from anyone cannot say where files
// are written: the recipe gets the default output, and the caller decides.
// Errors point into the embedded text.
func (l Loader) LoadEmbedded(name string, data []byte, baseDir string) (*Recipe, string, error) {
	return l.loadEmbedded(name, data, baseDir, "")
}

// loadEmbedded is LoadEmbedded for a recipe read from the PNG at png ("":
// from elsewhere).
func (l Loader) loadEmbedded(name string, data []byte, baseDir, png string) (*Recipe, string, error) {
	l.Limits = l.Limits.withDefaults()
	src, errs := parse(name, data, baseDir, l)
	if errs != nil {
		return nil, "", errs
	}
	version := ""
	if v := mappingValue(src.root, VersionKey); v != nil {
		if v.Kind != yaml.ScalarNode {
			return nil, "", ErrorList{newError(src.at(v), "%s: expected the version as text, got %s", VersionKey, describe(v))}
		}
		version = v.Value
		removeKey(src.root, VersionKey)
	}
	removeKey(src.root, "output")
	src.png, src.madeBy = png, version
	if errs := src.applyOverrides(l); errs != nil {
		return nil, "", errs.sorted()
	}
	r, err := src.load()
	if err != nil {
		return nil, "", err
	}
	return r, version, nil
}

// IsPNG reports whether data starts with the PNG signature, so that a
// command given a file can tell an image to re-run from a recipe.
func IsPNG(data []byte) bool { return bytes.HasPrefix(data, pngSignature) }
