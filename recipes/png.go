package recipes

import (
	"bytes"
	"compress/zlib"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"strings"
	"unicode/utf8"
)

// PNGKey is the keyword of the text chunk that holds a PNG's recipe.
const PNGKey = "coop-recipe"

// ErrNoRecipe is returned by ExtractFromPNG for a PNG without a recipe.
var ErrNoRecipe = errors.New("the PNG holds no coop-recipe text chunk")

var pngSignature = []byte("\x89PNG\r\n\x1a\n")

// maxTextBytes bounds a decompressed text chunk, so that a small
// compressed chunk cannot expand into gigabytes.
const maxTextBytes = 8 << 20

// TextChunk is one text chunk of a PNG (tEXt, zTXt or iTXt), its text
// converted to UTF-8.
type TextChunk struct {
	Type    string // "tEXt", "zTXt" or "iTXt"
	Keyword string
	Text    string
}

// pngChunk is a chunk's place in the file.
type pngChunk struct {
	typ        string
	start, end int // the whole chunk: length, type, data, CRC
	data       []byte
}

// pngChunks splits a PNG into chunks, checking the signature, that IHDR
// comes first, every length and CRC, and that IEND ends it.
func pngChunks(png []byte) ([]pngChunk, error) {
	if !bytes.HasPrefix(png, pngSignature) {
		return nil, errors.New("not a PNG file (bad signature)")
	}
	var chunks []pngChunk
	for off := len(pngSignature); ; {
		if len(png)-off < 12 {
			return nil, fmt.Errorf("PNG truncated at byte %d (no IEND chunk)", off)
		}
		n := binary.BigEndian.Uint32(png[off:])
		if n > 1<<31-1 || uint64(n) > uint64(len(png)-off-12) {
			return nil, fmt.Errorf("PNG chunk at byte %d: length %d runs past the end of the file", off, n)
		}
		end := off + 12 + int(n)
		typ := png[off+4 : off+8]
		for _, c := range typ {
			if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z') {
				return nil, fmt.Errorf("PNG chunk at byte %d: invalid type %q", off, typ)
			}
		}
		if want := binary.BigEndian.Uint32(png[end-4:]); crc32.ChecksumIEEE(png[off+4:end-4]) != want {
			return nil, fmt.Errorf("PNG chunk %s at byte %d: CRC mismatch", typ, off)
		}
		c := pngChunk{typ: string(typ), start: off, end: end, data: png[off+8 : end-4]}
		if len(chunks) == 0 && c.typ != "IHDR" {
			return nil, fmt.Errorf("PNG starts with chunk %s, not IHDR", c.typ)
		}
		chunks = append(chunks, c)
		off = end
		if c.typ == "IEND" {
			return chunks, nil
		}
	}
}

// appendChunk writes one chunk with its length and CRC.
func appendChunk(dst []byte, typ string, data []byte) []byte {
	dst = binary.BigEndian.AppendUint32(dst, uint32(len(data)))
	start := len(dst)
	dst = append(dst, typ...)
	dst = append(dst, data...)
	return binary.BigEndian.AppendUint32(dst, crc32.ChecksumIEEE(dst[start:]))
}

// checkKeyword applies PNG's rules for text chunk keywords: 1 to 79
// printable Latin-1 characters, no leading, trailing or double spaces.
func checkKeyword(key string) error {
	switch {
	case len(key) == 0 || len(key) > 79:
		return fmt.Errorf("PNG text keyword %q must have 1 to 79 characters", key)
	case strings.HasPrefix(key, " ") || strings.HasSuffix(key, " ") || strings.Contains(key, "  "):
		return fmt.Errorf("PNG text keyword %q has leading, trailing or consecutive spaces", key)
	}
	for i := 0; i < len(key); i++ {
		if c := key[i]; c < 32 || c > 126 {
			return fmt.Errorf("PNG text keyword %q may hold only printable ASCII", key)
		}
	}
	return nil
}

// EmbedInPNG returns a copy of png with text stored in an uncompressed
// iTXt chunk (UTF-8) under key, placed right after IHDR so that readers
// find it without scanning the image data. Text chunks already there with
// the same keyword are removed.
func EmbedInPNG(png []byte, key, text string) ([]byte, error) {
	if err := checkKeyword(key); err != nil {
		return nil, err
	}
	if !utf8.ValidString(text) {
		return nil, errors.New("PNG text is not valid UTF-8")
	}
	if len(text) > maxTextBytes {
		return nil, fmt.Errorf("PNG text of %d bytes is larger than the limit of %d", len(text), maxTextBytes)
	}
	chunks, err := pngChunks(png)
	if err != nil {
		return nil, err
	}
	// iTXt: keyword, NUL, compression flag 0, method 0, empty language
	// tag, NUL, empty translated keyword, NUL, text.
	data := make([]byte, 0, len(key)+5+len(text))
	data = append(data, key...)
	data = append(data, 0, 0, 0, 0, 0)
	data = append(data, text...)

	out := make([]byte, 0, len(png)+len(data)+12)
	out = append(out, pngSignature...)
	for i, c := range chunks {
		if i > 0 && isTextChunk(c.typ) {
			if kw, _, ok := bytes.Cut(c.data, []byte{0}); ok && string(kw) == key {
				continue
			}
		}
		out = append(out, png[c.start:c.end]...)
		if i == 0 {
			out = appendChunk(out, "iTXt", data)
		}
	}
	return out, nil
}

func isTextChunk(typ string) bool { return typ == "tEXt" || typ == "zTXt" || typ == "iTXt" }

// PNGText returns every text chunk of png in file order.
func PNGText(png []byte) ([]TextChunk, error) {
	chunks, err := pngChunks(png)
	if err != nil {
		return nil, err
	}
	var out []TextChunk
	for _, c := range chunks {
		if !isTextChunk(c.typ) {
			continue
		}
		tc, err := parseText(c)
		if err != nil {
			return nil, fmt.Errorf("PNG chunk %s at byte %d: %w", c.typ, c.start, err)
		}
		out = append(out, tc)
	}
	return out, nil
}

// parseText decodes a tEXt, zTXt or iTXt chunk.
func parseText(c pngChunk) (TextChunk, error) {
	kw, rest, ok := bytes.Cut(c.data, []byte{0})
	if !ok {
		return TextChunk{}, errors.New("keyword not terminated")
	}
	if len(kw) == 0 || len(kw) > 79 {
		return TextChunk{}, fmt.Errorf("keyword of %d bytes (1 to 79 allowed)", len(kw))
	}
	tc := TextChunk{Type: c.typ, Keyword: latin1(kw)}
	switch c.typ {
	case "tEXt":
		tc.Text = latin1(rest)
	case "zTXt":
		if len(rest) < 1 || rest[0] != 0 {
			return TextChunk{}, errors.New("unknown compression method")
		}
		b, err := inflate(rest[1:])
		if err != nil {
			return TextChunk{}, err
		}
		tc.Text = latin1(b)
	case "iTXt":
		if len(rest) < 2 {
			return TextChunk{}, errors.New("truncated header")
		}
		flag, method := rest[0], rest[1]
		rest = rest[2:]
		var lang, translated []byte
		if lang, rest, ok = bytes.Cut(rest, []byte{0}); !ok {
			return TextChunk{}, errors.New("language tag not terminated")
		}
		if translated, rest, ok = bytes.Cut(rest, []byte{0}); !ok {
			return TextChunk{}, errors.New("translated keyword not terminated")
		}
		_, _ = lang, translated
		switch {
		case flag == 0:
		case flag == 1 && method == 0:
			b, err := inflate(rest)
			if err != nil {
				return TextChunk{}, err
			}
			rest = b
		default:
			return TextChunk{}, fmt.Errorf("unknown compression flag %d or method %d", flag, method)
		}
		if !utf8.Valid(rest) {
			return TextChunk{}, errors.New("text is not valid UTF-8")
		}
		tc.Text = string(rest)
	}
	return tc, nil
}

// inflate decompresses zlib data up to maxTextBytes.
func inflate(b []byte) ([]byte, error) {
	zr, err := zlib.NewReader(bytes.NewReader(b))
	if err != nil {
		return nil, fmt.Errorf("compressed text: %w", err)
	}
	defer zr.Close()
	out, err := io.ReadAll(io.LimitReader(zr, maxTextBytes+1))
	if err != nil {
		return nil, fmt.Errorf("compressed text: %w", err)
	}
	if len(out) > maxTextBytes {
		return nil, fmt.Errorf("compressed text expands beyond %d bytes", maxTextBytes)
	}
	return out, nil
}

// latin1 converts ISO 8859-1 bytes to a UTF-8 string.
func latin1(b []byte) string {
	var sb strings.Builder
	sb.Grow(len(b))
	for _, c := range b {
		sb.WriteRune(rune(c))
	}
	return sb.String()
}

// ExtractFromPNG returns the recipe text a PNG holds under PNGKey, or
// ErrNoRecipe. Other text chunks are not looked at.
func ExtractFromPNG(png []byte) (string, error) {
	chunks, err := pngChunks(png)
	if err != nil {
		return "", err
	}
	for _, c := range chunks {
		if !isTextChunk(c.typ) || !bytes.HasPrefix(c.data, []byte(PNGKey+"\x00")) {
			continue
		}
		tc, err := parseText(c)
		if err != nil {
			return "", fmt.Errorf("PNG chunk %s at byte %d: %w", c.typ, c.start, err)
		}
		return tc.Text, nil
	}
	return "", ErrNoRecipe
}
