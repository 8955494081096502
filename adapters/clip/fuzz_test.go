package clip

import (
	"errors"
	"math"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"unicode/utf8"
)

// fuzzSeeds are the reference texts plus inputs aimed at the clean-up and
// the splitter's corners. They run in every go test.
func fuzzSeeds(f *testing.F) []string {
	seeds := []string{
		"", " ", "\x00", "\xff\xfe", "&", "&#", "&#x", "&#1114112;", "&amp;amp;amp;", "<|startoftext|",
		"<|ſtartoftext|>", "'", "''s", "\u0130\u03a3", "\u0345\u03a3", "\x1b[", "\x1b[1;2m", "\r\n\u2028",
		"(a:1.2) [b] \\( BREAK", strings.Repeat("é", 200), strings.Repeat("👍🏽", 40), "a\u0301\u0302\u0303",
		"ＡＢＣ\u3000ｱｲｳ", "\ufeff\u200d\u2060", "&SZLIG;&NTILDE;&FFLIG;",
	}
	for _, path := range []string{filepath.Join(sharedClipDir(f), "tokenizer_vectors.json"), filepath.Join("testdata", "extra_vectors.json")} {
		for _, c := range readVectors(f, path) {
			seeds = append(seeds, c.Text)
		}
	}
	return seeds
}

// FuzzEncode checks, for any text: no panic; every id is in the
// vocabulary; the tokens spell out exactly the cleaned text less its
// spaces; the heap and scan merges agree; prompts pack into windows of the
// encoder's length.
func FuzzEncode(f *testing.F) {
	tok := sharedTokenizer(f)
	for _, s := range fuzzSeeds(f) {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, text string) {
		ids := tok.Encode(text)
		var spelled []byte
		for _, id := range ids {
			if id < 0 || id >= tok.VocabSize() || tok.Token(id) == "" {
				t.Fatalf("%q: id %d outside the vocabulary", text, id)
			}
			spelled = append(spelled, tok.TokenBytes(id)...)
		}
		clean := normalize(nil, text)
		if !utf8.Valid(clean) {
			t.Fatalf("%q: cleaned text %q is not UTF-8", text, clean)
		}
		if want := strings.ReplaceAll(string(clean), " ", ""); string(spelled) != want {
			t.Fatalf("%q: tokens spell %q, want %q", text, spelled, want)
		}
		var st bpeState
		for i := 0; ; {
			start, end := nextPiece(clean, i)
			if start >= len(clean) {
				break
			}
			if h, s := tok.bpeHeap(nil, clean[start:end], &st), tok.bpeScan(nil, clean[start:end]); !slices.Equal(h, s) {
				t.Fatalf("%q: heap %v, scan %v", clean[start:end], h, s)
			}
			i = end
		}
		for _, opt := range []Options{{}, {Literal: true}, {Truncate: true}, {CommaBacktrack: 20}} {
			e, err := tok.EncodePrompt(text, opt)
			var se *SyntaxError
			if err != nil && (opt.Literal || !errors.As(err, &se)) {
				t.Fatalf("%q %+v: %v", text, opt, err)
			}
			if err != nil {
				continue
			}
			if len(e.IDs) == 0 || (opt.Truncate && len(e.IDs) != 1) {
				t.Fatalf("%q %+v: %d windows", text, opt, len(e.IDs))
			}
			for k, row := range e.IDs {
				if len(row) != 77 || len(e.Weights[k]) != 77 || row[0] != idStart || !slices.Contains(row[1:], idEnd) {
					t.Fatalf("%q %+v: window %d malformed: %v", text, opt, k, row)
				}
			}
		}
	})
}

// FuzzParseWeights checks, for any prompt: no panic; errors are
// *SyntaxError with a position inside the prompt; weights are finite;
// text without syntax comes back whole; escaping makes any text literal.
func FuzzParseWeights(f *testing.F) {
	for _, s := range fuzzSeeds(f) {
		f.Add(s)
	}
	for _, s := range []string{"((a:1.5) [b]) c", "(a", "a)", "[a)", "(a:1.2.3)", "x\ny (z", "(a:-0)", `\\(a\\)`, "BREAK(BREAK)"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, prompt string) {
		frags, err := ParseWeights(prompt)
		if err != nil {
			var se *SyntaxError
			if !errors.As(err, &se) {
				t.Fatalf("%q: %v is not a *SyntaxError", prompt, err)
			}
			lines := strings.Split(prompt, "\n")
			if se.Line < 1 || se.Line > len(lines) || se.Column < 1 || se.Column > utf8.RuneCountInString(lines[se.Line-1])+1 {
				t.Fatalf("%q: position %d:%d outside the prompt", prompt, se.Line, se.Column)
			}
			return
		}
		if len(frags) == 0 {
			t.Fatalf("%q: no fragments", prompt)
		}
		for _, fr := range frags {
			if math.IsInf(float64(fr.Weight), 0) || math.IsNaN(float64(fr.Weight)) {
				t.Fatalf("%q: weight %v", prompt, fr.Weight)
			}
		}
		if strings.Contains(prompt, "BREAK") {
			return
		}
		if !strings.ContainsAny(prompt, `\()[]:`) && (len(frags) != 1 || frags[0].Text != prompt || frags[0].Weight != 1) {
			t.Fatalf("%q: plain text parsed as %+v", prompt, frags)
		}
		escaped := escapeWeights(prompt)
		lit, err := ParseWeights(escaped)
		if err != nil || len(lit) != 1 || lit[0].Text != prompt || lit[0].Weight != 1 {
			t.Fatalf("escaped %q parsed as %+v, %v", escaped, lit, err)
		}
	})
}

// escapeWeights puts a backslash before every character the syntax uses.
func escapeWeights(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if strings.IndexByte(`\()[]`, s[i]) >= 0 {
			b.WriteByte('\\')
		}
		b.WriteByte(s[i])
	}
	return b.String()
}
