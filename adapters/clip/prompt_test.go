package clip

import (
	"errors"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

const (
	idStart = 49406
	idEnd   = 49407
	idA     = 320  // a</w>
	idPhoto = 1125 // photo</w>
	idOf    = 539  // of</w>
	idCat   = 2368 // cat</w>
	idDog   = 1929 // dog</w>
	idComma = 267  // ,</w>
)

// window builds the expected 77 ids: start, tokens, end, then pad.
func window(pad int64, tokens ...int64) []int64 {
	w := append([]int64{idStart}, tokens...)
	w = append(w, idEnd)
	for len(w) < 77 {
		w = append(w, pad)
	}
	return w
}

func repeat(id int64, n int) []int64 {
	out := make([]int64, n)
	for i := range out {
		out[i] = id
	}
	return out
}

func words(w string, n int) string { return strings.TrimSpace(strings.Repeat(w+" ", n)) }

func checkWindows(t *testing.T, name string, e *Encoded, want ...[]int64) {
	t.Helper()
	if len(e.IDs) != len(want) {
		t.Fatalf("%s: %d windows, want %d", name, len(e.IDs), len(want))
	}
	for k := range want {
		if !slices.Equal(e.IDs[k], want[k]) {
			t.Errorf("%s: window %d\n got %v\nwant %v", name, k, e.IDs[k], want[k])
		}
		if len(e.Weights[k]) != len(e.IDs[k]) {
			t.Errorf("%s: window %d has %d weights for %d ids", name, k, len(e.Weights[k]), len(e.IDs[k]))
		}
	}
}

func TestEncodePromptWindows(t *testing.T) {
	tok := sharedTokenizer(t)
	const pad = idEnd
	cases := []struct {
		name   string
		prompt string
		opt    Options
		tokens int
		trunc  bool
		want   [][]int64
	}{
		{"short", "a photo of a cat", Options{}, 5, false,
			[][]int64{window(pad, idA, idPhoto, idOf, idA, idCat)}},
		{"empty", "", Options{}, 0, false, [][]int64{window(pad)}},
		{"exactly 75", words("cat", 75), Options{}, 75, false, [][]int64{window(pad, repeat(idCat, 75)...)}},
		{"76 tokens", words("cat", 76), Options{}, 76, false,
			[][]int64{window(pad, repeat(idCat, 75)...), window(pad, idCat)}},
		{"150 tokens", words("cat", 150), Options{}, 150, false,
			[][]int64{window(pad, repeat(idCat, 75)...), window(pad, repeat(idCat, 75)...)}},
		{"151 tokens", words("cat", 151), Options{}, 151, false,
			[][]int64{window(pad, repeat(idCat, 75)...), window(pad, repeat(idCat, 75)...), window(pad, idCat)}},
		{"truncate", words("cat", 100), Options{Truncate: true}, 100, true,
			[][]int64{window(pad, repeat(idCat, 75)...)}},
		{"truncate fits", words("cat", 75), Options{Truncate: true}, 75, false,
			[][]int64{window(pad, repeat(idCat, 75)...)}},
		{"break", "a cat BREAK a dog", Options{}, 4, false,
			[][]int64{window(pad, idA, idCat), window(pad, idA, idDog)}},
		{"break first", "BREAK a dog", Options{}, 2, false,
			[][]int64{window(pad), window(pad, idA, idDog)}},
		{"break when truncating", "a cat BREAK a dog", Options{Truncate: true}, 4, false,
			[][]int64{window(pad, idA, idCat, idA, idDog)}},
		{"break literal", "a cat BREAK", Options{Literal: true}, 3, false,
			[][]int64{window(pad, idA, idCat, 2568)}}, // break</w>
		// 70 cats, a comma, 10 dogs: the window is full at the fifth dog.
		{"plain cut", words("cat", 70) + ", " + words("dog", 10), Options{}, 81, false,
			[][]int64{window(pad, append(append(repeat(idCat, 70), idComma), repeat(idDog, 4)...)...), window(pad, repeat(idDog, 6)...)}},
		{"comma backtrack", words("cat", 70) + ", " + words("dog", 10), Options{CommaBacktrack: 20}, 81, false,
			[][]int64{window(pad, append(repeat(idCat, 70), idComma)...), window(pad, repeat(idDog, 10)...)}},
		{"comma too far back", words("cat", 50) + ", " + words("dog", 30), Options{CommaBacktrack: 20}, 81, false,
			[][]int64{window(pad, append(append(repeat(idCat, 50), idComma), repeat(idDog, 24)...)...), window(pad, repeat(idDog, 6)...)}},
		{"comma opens window", words("cat", 75) + ", dog", Options{CommaBacktrack: 20}, 77, false,
			[][]int64{window(pad, repeat(idCat, 75)...), window(pad, idComma, idDog)}},
	}
	for _, c := range cases {
		e, err := tok.EncodePrompt(c.prompt, c.opt)
		if err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		if e.Tokens != c.tokens || e.Truncated != c.trunc {
			t.Errorf("%s: Tokens %d Truncated %v, want %d %v", c.name, e.Tokens, e.Truncated, c.tokens, c.trunc)
		}
		checkWindows(t, c.name, e, c.want...)
	}
}

func TestEncodePromptWeights(t *testing.T) {
	tok := sharedTokenizer(t)
	e, err := tok.EncodePrompt("a (photo:1.5) of [a cat]", Options{})
	if err != nil {
		t.Fatal(err)
	}
	checkWindows(t, "weighted", e, window(idEnd, idA, idPhoto, idOf, idA, idCat))
	s := float32(SquareMultiplier)
	want := append([]float32{1, 1, 1.5, 1, s, s, 1}, make([]float32, 70)...)
	for i := 7; i < 77; i++ {
		want[i] = 1
	}
	if !slices.Equal(e.Weights[0], want) {
		t.Errorf("weights\n got %v\nwant %v", e.Weights[0], want)
	}
	if !e.Weighted() {
		t.Error("Weighted() = false")
	}

	// Literal mode tokenizes the brackets like any other text.
	lit, err := tok.EncodePrompt("(photo:1.5)", Options{Literal: true})
	if err != nil {
		t.Fatal(err)
	}
	ids := tok.Encode("(photo:1.5)")
	w := make([]int64, len(ids))
	for i, id := range ids {
		w[i] = int64(id)
	}
	checkWindows(t, "literal", lit, window(idEnd, w...))
	if lit.Weighted() {
		t.Error("literal prompt is weighted")
	}

	var se *SyntaxError
	if _, err := tok.EncodePrompt("a (cat", Options{}); !errors.As(err, &se) {
		t.Errorf("unbalanced prompt: error %v, want *SyntaxError", err)
	}
}

func TestPadToAndFlat(t *testing.T) {
	tok := sharedTokenizer(t)
	e, err := tok.EncodePrompt("a cat", Options{})
	if err != nil {
		t.Fatal(err)
	}
	e.PadTo(3)
	checkWindows(t, "padded", e, window(idEnd, idA, idCat), window(idEnd), window(idEnd))
	flat := e.Flat()
	if len(flat) != 3*77 || !slices.Equal(flat[77:154], window(idEnd)) {
		t.Errorf("Flat: %d ids, second window %v", len(flat), flat[77:154])
	}
	e.PadTo(2) // never shrinks
	if e.Windows() != 3 {
		t.Errorf("PadTo(2) left %d windows", e.Windows())
	}
}

// TestPadToken checks an SD 2.x style tokenizer, which pads with "!" (0)
// after the end token.
func TestPadToken(t *testing.T) {
	dir := copyTokenizer(t)
	writeFile(t, filepath.Join(dir, SpecialTokensFile), `{"bos_token": "<|startoftext|>", "eos_token": "<|endoftext|>", "pad_token": "!"}`)
	tok, err := Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	e, err := tok.EncodePrompt("a cat", Options{})
	if err != nil {
		t.Fatal(err)
	}
	e.PadTo(2)
	checkWindows(t, "pad 0", e, window(0, idA, idCat), window(0))
	// "!" in text is still the word-final "!</w>" (256), as in the original
	// tokenizer and open_clip; only padding uses id 0.
	wow, _ := tok.ID("wow</w>")
	if got, want := tok.Encode("wow!"), []int{wow, 256}; !slices.Equal(got, want) {
		t.Errorf("Encode(wow!) = %v, want %v", got, want)
	}
}

func TestPack(t *testing.T) {
	tok := sharedTokenizer(t)
	ids := make([]int, 80)
	for i := range ids {
		ids[i] = idCat
	}
	e := tok.Pack(ids, nil, Options{})
	checkWindows(t, "pack", e, window(idEnd, repeat(idCat, 75)...), window(idEnd, repeat(idCat, 5)...))
	if e.Weighted() || e.Tokens != 80 {
		t.Errorf("Weighted %v Tokens %d", e.Weighted(), e.Tokens)
	}
	defer func() {
		if recover() == nil {
			t.Error("Pack with mismatched weights did not panic")
		}
	}()
	tok.Pack(ids, make([]float32, 3), Options{})
}
