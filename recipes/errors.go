package recipes

import (
	"fmt"
	"sort"
	"strconv"
	"strings"
)

// Position is where a value came from: a line and column (both 1-based) of
// a recipe file, or a command-line override, which has no line (Line 0,
// File "--set path=value", or the flag that made it: "--device cuda").
type Position struct {
	File      string
	Line, Col int
}

// String formats p as FILE:LINE:COL, or FILE alone when p has no line.
func (p Position) String() string {
	if p.Line <= 0 {
		return p.File
	}
	return p.File + ":" + strconv.Itoa(p.Line) + ":" + strconv.Itoa(p.Col)
}

// Error is one problem with a recipe, at the position of the field at
// fault. Its text is "FILE:LINE:COL: message", the form editors and
// compilers use, or "--set path=value: message" ("--device cuda: ...")
// for a value given on the command line.
type Error struct {
	File      string
	Line, Col int
	Msg       string
}

func (e *Error) Error() string {
	return Position{File: e.File, Line: e.Line, Col: e.Col}.String() + ": " + e.Msg
}

// Pos is the position the error points at.
func (e *Error) Pos() Position { return Position{File: e.File, Line: e.Line, Col: e.Col} }

func newError(p Position, format string, args ...any) *Error {
	return &Error{File: p.File, Line: p.Line, Col: p.Col, Msg: fmt.Sprintf(format, args...)}
}

// ErrorList is every problem found in one recipe, in file order (errors
// from --set arguments last). Load returns one when anything is wrong;
// errors.As finds its first *Error.
type ErrorList []*Error

// Error writes one error per line.
func (l ErrorList) Error() string {
	var b strings.Builder
	for i, e := range l {
		if i > 0 {
			b.WriteByte('\n')
		}
		b.WriteString(e.Error())
	}
	return b.String()
}

// Unwrap gives errors.Is and errors.As access to each error.
func (l ErrorList) Unwrap() []error {
	out := make([]error, len(l))
	for i, e := range l {
		out[i] = e
	}
	return out
}

// sorted orders the list by position, drops exact duplicates and keeps at
// most maxErrors, so that one typo does not bury the rest.
func (l ErrorList) sorted() ErrorList {
	out := append(ErrorList(nil), l...)
	sort.SliceStable(out, func(i, j int) bool {
		a, b := out[i], out[j]
		if (a.Line <= 0) != (b.Line <= 0) {
			return a.Line > 0 // file positions before --set arguments
		}
		if a.File != b.File {
			return a.File < b.File
		}
		if a.Line != b.Line {
			return a.Line < b.Line
		}
		return a.Col < b.Col
	})
	dedup := out[:0]
	for i, e := range out {
		if i > 0 && *e == *out[i-1] {
			continue
		}
		dedup = append(dedup, e)
	}
	if len(dedup) > maxErrors {
		last := dedup[maxErrors-1]
		dedup = append(dedup[:maxErrors-1], &Error{File: last.File, Line: last.Line, Col: last.Col,
			Msg: fmt.Sprintf("%s (and %d more errors)", last.Msg, len(dedup)-maxErrors)})
	}
	return dedup
}

// maxErrors bounds the errors reported for one recipe.
const maxErrors = 20

// suggest returns ` (did you mean "x"?)` for the candidate closest to
// name, or "" when none is close: a case-insensitive optimal string
// alignment distance of at most 2, and less than half the name's length.
func suggest(name string, candidates []string) string {
	best, bestD := "", 1<<30
	lower := strings.ToLower(name)
	for _, c := range candidates {
		d := osaDistance(lower, strings.ToLower(c))
		if d < bestD || (d == bestD && c < best) {
			best, bestD = c, d
		}
	}
	if best == "" || bestD > 2 || 2*bestD >= len(name)+1 {
		return ""
	}
	return fmt.Sprintf(" (did you mean %q?)", best)
}

// osaDistance is the optimal string alignment distance: insertions,
// deletions, substitutions and transpositions of adjacent bytes each
// cost 1, so "stpes" is one edit from "steps".
func osaDistance(a, b string) int {
	if len(a) > 64 || len(b) > 64 {
		if a == b {
			return 0
		}
		return 1 << 20 // not worth comparing; never suggested
	}
	prev2 := make([]int, len(b)+1)
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			v := min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
			if i > 1 && j > 1 && a[i-1] == b[j-2] && a[i-2] == b[j-1] {
				v = min(v, prev2[j-2]+1)
			}
			cur[j] = v
		}
		prev2, prev, cur = prev, cur, prev2
	}
	return prev[len(b)]
}
