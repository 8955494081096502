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
// coop_version line naming the engine, then Marshal's output. The caller
// resolves r first (model-dependent defaults, each model's SHA256, the
// seed used, absolute paths), so that the text says exactly how the image
// was made.
func (r *Recipe) MarshalEmbedded(coopVersion string) ([]byte, error) {
	head, err := yaml.Marshal(map[string]string{VersionKey: coopVersion})
	if err != nil {
		return nil, err
	}
	body, err := r.Marshal()
	if err != nil {
		return nil, err
	}
	return append(head, body...), nil
}

// LoadEmbedded reads a recipe that MarshalEmbedded wrote, typically taken
// from a PNG with ExtractFromPNG: name names it in messages, baseDir is
// where relative paths resolve. It returns the recipe, loaded and
// validated like a file (with the Loader's overrides and limits), and the
// coop version it names ("" when it names none). Errors point into the
// embedded text.
func (l Loader) LoadEmbedded(name string, data []byte, baseDir string) (*Recipe, string, error) {
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
	for _, arg := range l.Sets {
		if err := src.set(arg); err != nil {
			errs = append(errs, err)
		}
	}
	if errs != nil {
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
