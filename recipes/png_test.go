package recipes

import (
	"bytes"
	"compress/zlib"
	"errors"
	"image"
	"image/color"
	"image/png"
	"strings"
	"testing"
)

// smallPNG encodes a 3x2 image with the standard library.
func smallPNG(t testing.TB) []byte {
	t.Helper()
	img := image.NewNRGBA(image.Rect(0, 0, 3, 2))
	img.Set(1, 1, color.NRGBA{R: 200, G: 10, B: 30, A: 255})
	var buf bytes.Buffer
	if err := png.Encode(&buf, img); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// withChunk inserts a chunk right after IHDR.
func withChunk(t testing.TB, p []byte, typ string, data []byte) []byte {
	t.Helper()
	ihdrEnd := len(pngSignature) + 12 + 13
	out := append([]byte(nil), p[:ihdrEnd]...)
	out = appendChunk(out, typ, data)
	return append(out, p[ihdrEnd:]...)
}

func zlibBytes(t testing.TB, s string) []byte {
	var buf bytes.Buffer
	w := zlib.NewWriter(&buf)
	w.Write([]byte(s))
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func TestEmbedExtract(t *testing.T) {
	orig := smallPNG(t)
	text := "version: 1\nprompt: \"une tasse de café ☕\"\n"
	p, err := EmbedInPNG(orig, PNGKey, text)
	if err != nil {
		t.Fatal(err)
	}
	got, err := ExtractFromPNG(p)
	if err != nil || got != text {
		t.Fatalf("ExtractFromPNG = %q, %v; want %q", got, err, text)
	}
	// The result is still a PNG the standard decoder reads, with the same pixels.
	a, err1 := png.Decode(bytes.NewReader(orig))
	b, err2 := png.Decode(bytes.NewReader(p))
	if err1 != nil || err2 != nil {
		t.Fatalf("decoding: %v, %v", err1, err2)
	}
	if a.At(1, 1) != b.At(1, 1) || a.Bounds() != b.Bounds() {
		t.Error("embedding changed the image")
	}
	// Embedding again replaces the chunk instead of adding one.
	p2, err := EmbedInPNG(p, PNGKey, "second")
	if err != nil {
		t.Fatal(err)
	}
	texts, err := PNGText(p2)
	if err != nil || len(texts) != 1 || texts[0] != (TextChunk{Type: "iTXt", Keyword: PNGKey, Text: "second"}) {
		t.Errorf("after a second embed: %+v, %v", texts, err)
	}
	if len(p2) != len(p)-len(text)+len("second") {
		t.Errorf("size %d after replacing, want %d", len(p2), len(p)-len(text)+len("second"))
	}
	// Other keys stay.
	p3, err := EmbedInPNG(p2, "Software", "coop")
	if err != nil {
		t.Fatal(err)
	}
	if texts, _ := PNGText(p3); len(texts) != 2 {
		t.Errorf("two keys: %+v", texts)
	}
	if got, _ := ExtractFromPNG(p3); got != "second" {
		t.Errorf("recipe after adding another key: %q", got)
	}
}

func TestPNGTextKinds(t *testing.T) {
	base := smallPNG(t)
	for _, tc := range []struct {
		name, typ string
		data      []byte
		want      TextChunk
	}{
		{"tEXt in Latin-1", "tEXt", append([]byte(PNGKey+"\x00caf"), 0xe9), TextChunk{"tEXt", PNGKey, "café"}},
		{"zTXt", "zTXt", append([]byte(PNGKey+"\x00\x00"), zlibBytes(t, "packed")...), TextChunk{"zTXt", PNGKey, "packed"}},
		{"iTXt compressed", "iTXt", append([]byte(PNGKey+"\x00\x01\x00en\x00Rezept\x00"), zlibBytes(t, "größer")...), TextChunk{"iTXt", PNGKey, "größer"}},
		{"iTXt plain", "iTXt", []byte(PNGKey + "\x00\x00\x00\x00\x00plain"), TextChunk{"iTXt", PNGKey, "plain"}},
	} {
		p := withChunk(t, base, tc.typ, tc.data)
		texts, err := PNGText(p)
		if err != nil || len(texts) != 1 || texts[0] != tc.want {
			t.Errorf("%s: %+v, %v; want %+v", tc.name, texts, err, tc.want)
		}
		if got, err := ExtractFromPNG(p); err != nil || got != tc.want.Text {
			t.Errorf("%s: ExtractFromPNG = %q, %v", tc.name, got, err)
		}
	}
}

func TestPNGErrors(t *testing.T) {
	good := smallPNG(t)
	if _, err := ExtractFromPNG(good); !errors.Is(err, ErrNoRecipe) {
		t.Errorf("a PNG without a recipe: %v, want ErrNoRecipe", err)
	}
	badCRC := append([]byte(nil), good...)
	badCRC[len(pngSignature)+8+5] ^= 1 // a byte of IHDR's data
	truncated := good[:len(good)-5]
	huge := append([]byte(nil), good...)
	huge[len(pngSignature)] = 0x7f // IHDR's length
	bomb := withChunk(t, good, "zTXt", append([]byte(PNGKey+"\x00\x00"), zlibBytes(t, strings.Repeat("a", maxTextBytes+1))...))
	badUTF8 := withChunk(t, good, "iTXt", []byte(PNGKey+"\x00\x00\x00\x00\x00\xff\xfe"))
	noIHDR := append(append([]byte(nil), pngSignature...), good[len(pngSignature)+25:]...)
	for _, tc := range []struct {
		name string
		data []byte
		want string
	}{
		{"not a PNG", []byte("GIF89a"), "not a PNG file"},
		{"CRC", badCRC, "CRC mismatch"},
		{"truncated", truncated, "no IEND"},
		{"length past the end", huge, "past the end"},
		{"decompression bomb", bomb, "expands beyond"},
		{"invalid UTF-8", badUTF8, "not valid UTF-8"},
		{"no IHDR", noIHDR, "not IHDR"},
	} {
		if _, err := ExtractFromPNG(tc.data); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: %v, want an error saying %q", tc.name, err, tc.want)
		}
	}
	for _, key := range []string{"", " lead", "trail ", "two  spaces", strings.Repeat("k", 80), "tab\there"} {
		if _, err := EmbedInPNG(good, key, "x"); err == nil {
			t.Errorf("keyword %q accepted", key)
		}
	}
	if _, err := EmbedInPNG(good, PNGKey, "\xff"); err == nil {
		t.Error("invalid UTF-8 text accepted")
	}
}

// TestEmbedResolvedRecipe is the intended use: a loaded recipe, marshalled,
// embedded, extracted and loaded again.
func TestEmbedResolvedRecipe(t *testing.T) {
	dir := recipeDir(t)
	r, err := LoadBytes("full.yaml", []byte(fullRecipe), dir)
	if err != nil {
		t.Fatal(err)
	}
	resolved := r.Clone()
	resolved.MakePathsAbsolute()
	resolved.Models["base"].SHA256 = strings.Repeat("ab", 32)
	text, err := resolved.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	p, err := EmbedInPNG(smallPNG(t), PNGKey, string(text))
	if err != nil {
		t.Fatal(err)
	}
	got, err := ExtractFromPNG(p)
	if err != nil {
		t.Fatal(err)
	}
	back, err := LoadBytes("from-png.yaml", []byte(got), t.TempDir())
	if err != nil {
		t.Fatalf("the embedded recipe does not load elsewhere: %v\n%s", err, got)
	}
	if back.Models["base"].SHA256 != strings.Repeat("ab", 32) || back.Path(back.Models["base"].Path) != resolved.Models["base"].Path {
		t.Errorf("reloaded model = %+v", *back.Models["base"])
	}
}
