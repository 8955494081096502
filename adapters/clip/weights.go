package clip

import (
	"fmt"
	"math"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"
)

// Fragment is a run of prompt text whose tokens share one weight, or a
// BREAK keyword.
type Fragment struct {
	Text   string
	Weight float32
	// Break marks the BREAK keyword: the tokens after it start a new
	// window. Text is empty and Weight is 1.
	Break bool
}

// RoundMultiplier and SquareMultiplier are the factors that (text) and
// [text] apply, as in AUTOMATIC1111.
const (
	RoundMultiplier  = 1.1
	SquareMultiplier = 1 / 1.1
)

// SyntaxError is a mistake in the weighting syntax of a prompt. Line and
// Column are 1-based; Column counts characters, not bytes.
type SyntaxError struct {
	Line, Column int
	Msg          string
}

func (e *SyntaxError) Error() string {
	return fmt.Sprintf("prompt:%d:%d: %s", e.Line, e.Column, e.Msg)
}

func syntaxError(prompt string, offset int, format string, args ...any) *SyntaxError {
	line, col := textPosition(prompt, offset)
	return &SyntaxError{Line: line, Column: col, Msg: fmt.Sprintf(format, args...)}
}

// textPosition turns a byte offset of s into a 1-based line and column in
// characters.
func textPosition(s string, offset int) (line, col int) {
	before := s[:offset]
	line = strings.Count(before, "\n") + 1
	lineStart := strings.LastIndexByte(before, '\n') + 1
	return line, utf8.RuneCountInString(before[lineStart:]) + 1
}

// ParseWeights reads the prompt-weighting syntax of AUTOMATIC1111:
//
//	(text)       weight × 1.1; ((text)) × 1.21, and so on
//	[text]       weight ÷ 1.1
//	(text:1.3)   weight × 1.3 (any decimal number, also 0 or negative)
//	\( \) \[ \] \\   literal brackets and backslash
//	BREAK        (upper case, a word of its own) starts a new window
//
// Brackets nest and their factors multiply. A ':' that does not introduce
// the number closing a round bracket is ordinary text, as is a backslash
// before any other character. Unlike AUTOMATIC1111, which quietly reads
// unbalanced brackets as text or as open to the end, a bracket without its
// partner is an error, a *SyntaxError giving the line and column of the
// bracket at fault.
//
// Adjacent fragments of equal weight are merged. The result is never
// empty: a prompt with no text gives one empty fragment of weight 1.
func ParseWeights(prompt string) ([]Fragment, error) {
	type piece struct {
		text   string
		weight float64
		brk    bool
		pos    int // byte offset, for errors
	}
	type bracket struct {
		ch    byte
		pos   int
		first int // index of the first piece inside
	}
	var (
		pieces []piece
		stack  []bracket
		text   strings.Builder
		textAt int
	)
	flush := func() {
		if text.Len() == 0 {
			return
		}
		s := text.String()
		text.Reset()
		for {
			at, n := findBreak(s)
			if at < 0 {
				pieces = append(pieces, piece{text: s, weight: 1, pos: textAt})
				return
			}
			if before := strings.TrimRightFunc(s[:at], pyIsSpace); before != "" {
				pieces = append(pieces, piece{text: before, weight: 1, pos: textAt})
			}
			pieces = append(pieces, piece{brk: true, weight: 1, pos: textAt + at})
			rest := s[at+n:]
			trimmed := strings.TrimLeftFunc(rest, pyIsSpace)
			textAt += at + n + len(rest) - len(trimmed)
			s = trimmed
			if s == "" {
				return
			}
		}
	}
	addText := func(pos int, s string) {
		if text.Len() == 0 {
			textAt = pos
		}
		text.WriteString(s)
	}
	scale := func(from int, factor float64) {
		for k := from; k < len(pieces); k++ {
			pieces[k].weight *= factor
		}
	}
	closeBracket := func(pos int, ch byte, factor float64) error {
		flush()
		open := byte('(')
		if ch == ']' {
			open = '['
		}
		if len(stack) == 0 {
			return syntaxError(prompt, pos, "unbalanced %q: no %q is open", string(ch), string(open))
		}
		top := stack[len(stack)-1]
		if top.ch != open {
			_, col := textPosition(prompt, top.pos)
			return syntaxError(prompt, pos, "%q does not match the %q at column %d", string(ch), string(top.ch), col)
		}
		stack = stack[:len(stack)-1]
		scale(top.first, factor)
		return nil
	}
	for i := 0; i < len(prompt); {
		switch c := prompt[i]; c {
		case '\\':
			if i+1 < len(prompt) && strings.IndexByte(`()[]\`, prompt[i+1]) >= 0 {
				addText(i, prompt[i+1:i+2])
				i += 2
			} else {
				addText(i, `\`)
				i++
			}
		case '(', '[':
			flush()
			stack = append(stack, bracket{ch: c, pos: i, first: len(pieces)})
			i++
		case ')':
			if err := closeBracket(i, c, RoundMultiplier); err != nil {
				return nil, err
			}
			i++
		case ']':
			if err := closeBracket(i, c, SquareMultiplier); err != nil {
				return nil, err
			}
			i++
		case ':':
			n, numAt, num, ok := matchWeight(prompt[i:])
			if !ok {
				addText(i, ":")
				i++
				continue
			}
			w, err := strconv.ParseFloat(num, 64)
			if err != nil {
				return nil, syntaxError(prompt, i+numAt, "invalid weight %q", num)
			}
			if err := closeBracket(i+n-1, ')', w); err != nil {
				return nil, err
			}
			i += n
		default:
			j := i + 1
			for j < len(prompt) && strings.IndexByte(`\()[]:`, prompt[j]) < 0 {
				j++
			}
			addText(i, prompt[i:j])
			i = j
		}
	}
	flush()
	if len(stack) > 0 {
		top := stack[len(stack)-1]
		return nil, syntaxError(prompt, top.pos, "unbalanced %q opened here", string(top.ch))
	}

	var out []Fragment
	for _, p := range pieces {
		if p.brk {
			out = append(out, Fragment{Weight: 1, Break: true})
			continue
		}
		w := float32(p.weight)
		if math.IsInf(float64(w), 0) || math.IsNaN(float64(w)) {
			return nil, syntaxError(prompt, p.pos, "weight %g of %q is out of range", p.weight, p.text)
		}
		if k := len(out) - 1; k >= 0 && !out[k].Break && out[k].Weight == w {
			out[k].Text += p.text
			continue
		}
		out = append(out, Fragment{Text: p.text, Weight: w})
	}
	if len(out) == 0 {
		out = []Fragment{{Weight: 1}}
	}
	return out, nil
}

// matchWeight matches `:\s*([+-]?[.0-9]+)\s*\)` at the start of s, the
// form AUTOMATIC1111 reads as an explicit weight. It returns the length of
// the match, the offset and text of the number.
func matchWeight(s string) (n, numAt int, num string, ok bool) {
	i := 1 + spaceLen(s[1:])
	numAt = i
	if i < len(s) && (s[i] == '+' || s[i] == '-') {
		i++
	}
	digits := i
	for i < len(s) && (s[i] == '.' || '0' <= s[i] && s[i] <= '9') {
		i++
	}
	if i == digits {
		return 0, 0, "", false
	}
	num = s[numAt:i]
	i += spaceLen(s[i:])
	if i >= len(s) || s[i] != ')' {
		return 0, 0, "", false
	}
	return i + 1, numAt, num, true
}

func spaceLen(s string) int {
	for i, r := range s {
		if !pyIsSpace(r) {
			return i
		}
	}
	return len(s)
}

// findBreak finds the keyword BREAK standing as a word of its own (Python's
// \bBREAK\b: no letter, digit or underscore touching it) and returns its
// offset and length, or -1.
func findBreak(s string) (int, int) {
	const kw = "BREAK"
	for from := 0; ; {
		k := strings.Index(s[from:], kw)
		if k < 0 {
			return -1, 0
		}
		at := from + k
		end := at + len(kw)
		before, _ := utf8.DecodeLastRuneInString(s[:at])
		after, _ := utf8.DecodeRuneInString(s[end:])
		if (at == 0 || !isWordRune(before)) && (end == len(s) || !isWordRune(after)) {
			return at, len(kw)
		}
		from = at + 1
	}
}

func isWordRune(r rune) bool {
	return r == '_' || unicode.IsLetter(r) || unicode.IsNumber(r)
}
