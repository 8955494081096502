package clip

import (
	"errors"
	"math"
	"strings"
	"testing"
)

func TestParseWeights(t *testing.T) {
	const r, s = RoundMultiplier, SquareMultiplier
	type frag = Fragment
	cases := []struct {
		prompt string
		want   []Fragment
	}{
		{"a cat", []frag{{Text: "a cat", Weight: 1}}},
		{"", []frag{{Weight: 1}}},
		{"a (cat)", []frag{{Text: "a ", Weight: 1}, {Text: "cat", Weight: r}}},
		{"((cat))", []frag{{Text: "cat", Weight: r * r}}},
		{"[cat]", []frag{{Text: "cat", Weight: s}}},
		{"[[cat]]", []frag{{Text: "cat", Weight: s * s}}},
		{"(cat:1.3) dog", []frag{{Text: "cat", Weight: 1.3}, {Text: " dog", Weight: 1}}},
		{"( cat : 0.5 )", []frag{{Text: " cat ", Weight: 0.5}}},
		{"(cat:-1)", []frag{{Text: "cat", Weight: -1}}},
		{"(cat:.5)", []frag{{Text: "cat", Weight: 0.5}}},
		{"((cat:1.5) dog)", []frag{{Text: "cat", Weight: 1.5 * r}, {Text: " dog", Weight: r}}},
		{"[a (b:2) c]", []frag{{Text: "a ", Weight: s}, {Text: "b", Weight: 2 * s}, {Text: " c", Weight: s}}},
		{"(a)(b)", []frag{{Text: "ab", Weight: r}}},
		{`\(literal\) \[x\] \\`, []frag{{Text: `(literal) [x] \`, Weight: 1}}},
		{`a\b`, []frag{{Text: `a\b`, Weight: 1}}},
		{"time: 12:30", []frag{{Text: "time: 12:30", Weight: 1}}},
		{"(a:b)", []frag{{Text: "a:b", Weight: r}}},
		{"[a:1.5]", []frag{{Text: "a:1.5", Weight: s}}},
		{"a BREAK b", []frag{{Text: "a", Weight: 1}, {Weight: 1, Break: true}, {Text: "b", Weight: 1}}},
		{"BREAK", []frag{{Weight: 1, Break: true}}},
		{"a BREAKS b, BREAKfast, xBREAK, Break", []frag{{Text: "a BREAKS b, BREAKfast, xBREAK, Break", Weight: 1}}},
		{"(a BREAK b)", []frag{{Text: "a", Weight: r}, {Weight: 1, Break: true}, {Text: "b", Weight: r}}},
		{"a,BREAK,b", []frag{{Text: "a,", Weight: 1}, {Weight: 1, Break: true}, {Text: ",b", Weight: 1}}},
	}
	for _, c := range cases {
		got, err := ParseWeights(c.prompt)
		if err != nil {
			t.Errorf("%q: %v", c.prompt, err)
			continue
		}
		if !sameFragments(got, c.want) {
			t.Errorf("%q:\n got %+v\nwant %+v", c.prompt, got, c.want)
		}
	}
}

// sameFragments compares weights to float32 precision: products of 1.1
// are rounded once, from float64, like AUTOMATIC1111's torch tensor.
func sameFragments(a, b []Fragment) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i].Text != b[i].Text || a[i].Break != b[i].Break || math.Abs(float64(a[i].Weight-b[i].Weight)) > 1e-6 {
			return false
		}
	}
	return true
}

func TestParseWeightsErrors(t *testing.T) {
	cases := []struct {
		prompt string
		want   string
	}{
		{"a photo of a (cat", `prompt:1:14: unbalanced "(" opened here`},
		{"a photo of a cat)", `prompt:1:17: unbalanced ")": no "(" is open`},
		{"a [cat", `prompt:1:3: unbalanced "[" opened here`},
		{"cat]", `prompt:1:4: unbalanced "]": no "[" is open`},
		{"(a [b) c]", `prompt:1:6: ")" does not match the "[" at column 4`},
		{"[a:1.5)", `prompt:1:7: ")" does not match the "[" at column 1`},
		{"a:1.5)", `prompt:1:6: unbalanced ")": no "(" is open`},
		{"((a)", `prompt:1:1: unbalanced "(" opened here`},
		{"(a:1.2.3)", `prompt:1:4: invalid weight "1.2.3"`},
		{"(a: .)", `prompt:1:5: invalid weight "."`},
		{"line one\nüber (x", `prompt:2:6: unbalanced "(" opened here`},
		{"(a:1" + strings.Repeat("0", 40) + ")", `prompt:1:2: weight 1e+40 of "a" is out of range`},
	}
	for _, c := range cases {
		_, err := ParseWeights(c.prompt)
		var se *SyntaxError
		if !errors.As(err, &se) {
			t.Errorf("%q: error %v, want a *SyntaxError", c.prompt, err)
			continue
		}
		if err.Error() != c.want {
			t.Errorf("%q: error %q, want %q", c.prompt, err, c.want)
		}
	}
}
