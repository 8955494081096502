package clip

import (
	"unicode"
	"unicode/utf8"
)

// The original tokenizer splits the cleaned text with
//
//	<\|startoftext\|>|<\|endoftext\|>|'s|'t|'re|'ve|'m|'ll|'d|[\p{L}]+|[\p{N}]|[^\s\p{L}\p{N}]+
//
// compiled case-insensitively, taking at each position the first
// alternative that matches. nextPiece is that scan written out by hand: it
// allocates nothing, and it keeps the leftmost-alternative semantics that
// Go's leftmost-longest regexp would not give for the contractions.

// nextPiece returns the byte range of the first match at or after i;
// start == len(s) when there is none.
func nextPiece(s []byte, i int) (start, end int) {
	for i < len(s) {
		c := s[i]
		if c < utf8.RuneSelf {
			switch {
			case c == ' ' || ('\t' <= c && c <= '\r'):
				i++
				continue
			case c == '<':
				if n, _ := specialLen(s[i:]); n > 0 {
					return i, i + n
				}
			case c == '\'':
				if n := contractionLen(s[i+1:]); n > 0 {
					return i, i + 1 + n
				}
			case isASCIILetter(c):
				end = i + 1
				for end < len(s) {
					r, size := decodeRune(s[end:])
					if !isLetter(r) {
						break
					}
					end += size
				}
				return i, end
			case '0' <= c && c <= '9':
				return i, i + 1
			}
			return i, otherEnd(s, i+1)
		}
		r, size := decodeRune(s[i:])
		switch {
		case pyIsSpace(r):
			i += size
			continue
		case isLetter(r):
			end = i + size
			for end < len(s) {
				r, size := decodeRune(s[end:])
				if !isLetter(r) {
					break
				}
				end += size
			}
			return i, end
		case unicode.IsNumber(r):
			return i, i + size
		}
		return i, otherEnd(s, i+size)
	}
	return len(s), len(s)
}

// otherEnd extends a run of [^\s\p{L}\p{N}] from byte i.
func otherEnd(s []byte, i int) int {
	for i < len(s) {
		r, size := decodeRune(s[i:])
		if pyIsSpace(r) || isLetter(r) || unicode.IsNumber(r) {
			break
		}
		i += size
	}
	return i
}

func decodeRune(s []byte) (rune, int) {
	if s[0] < utf8.RuneSelf {
		return rune(s[0]), 1
	}
	return utf8.DecodeRune(s)
}

func isASCIILetter(c byte) bool { return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' }

func isLetter(r rune) bool {
	if r < utf8.RuneSelf {
		return isASCIILetter(byte(r))
	}
	return unicode.IsLetter(r)
}

// foldsTo reports whether r matches the lower-case ASCII letter want under
// the pattern's case-insensitive matching (simple case folding, in which
// the long s ſ folds to s).
func foldsTo(r rune, want byte) bool {
	if r < utf8.RuneSelf {
		c := byte(r)
		if 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		return c == want
	}
	return want == 's' && r == 'ſ'
}

// matchFold returns the number of bytes of s that match the lower-case
// ASCII string pat case-insensitively, or 0.
func matchFold(s []byte, pat string) int {
	n := 0
	for k := 0; k < len(pat); k++ {
		if n >= len(s) {
			return 0
		}
		r, size := decodeRune(s[n:])
		if !foldsTo(r, pat[k]) {
			return 0
		}
		n += size
	}
	return n
}

// contractionLen matches s|t|re|ve|m|ll|d after an apostrophe.
func contractionLen(s []byte) int {
	for _, c := range [...]string{"s", "t", "re", "ve", "m", "ll", "d"} {
		if n := matchFold(s, c); n > 0 {
			return n
		}
	}
	return 0
}

const (
	startOfText = "<|startoftext|>"
	endOfText   = "<|endoftext|>"
)

// specialLen matches the two special tokens the pattern names. exact
// reports whether the match is the token itself rather than a case-folded
// spelling, which the original then splits into bytes like any other word.
func specialLen(s []byte) (n int, exact bool) {
	for _, tok := range [...]string{startOfText, endOfText} {
		if n := matchFold(s, tok); n > 0 {
			return n, n == len(tok) && string(s[:n]) == tok
		}
	}
	return 0, false
}
