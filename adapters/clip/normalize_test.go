package clip

import (
	"testing"
	"unicode"
)

// The expectations of pyUnescape, pyIsSpace and pyLower below were printed
// by CPython 3.11 (html.unescape, str.isspace, str.lower).

func TestPyUnescape(t *testing.T) {
	cases := [][2]string{
		{"&amp;", "&"}, {"&amp", "&"}, {"&ampx", "&x"}, {"&AMP", "&"},
		{"&notit;", "\u00acit;"}, {"&notin;", "\u2209"}, {"&notin", "\u00acin"},
		{"&#38;", "&"}, {"&#x26;", "&"}, {"&#X26", "&"}, {"&#0;", "\ufffd"}, {"&#1;", ""},
		{"&#13;", "\r"}, {"&#128;", "\u20ac"}, {"&#x81;", "\u0081"}, {"&#x9F;", "\u0178"},
		{"&#xD800;", "\ufffd"}, {"&#1114112;", "\ufffd"}, {"&#99999999999999999999;", "\ufffd"},
		{"&#xFFFE;", ""}, {"&#x10FFFF;", ""}, {"&#xFDD0;", ""}, {"&#65279;", "\ufeff"},
		{"&#x;", "&#x;"}, {"&#;", "&#;"}, {"&;", "&;"}, {"& amp;", "& amp;"}, {"&lt&gt", "<>"},
		{"&LT;", "<"}, {"&Lt;", "\u226a"}, {"&semi;", ";"}, {"&frac12;", "\u00bd"},
		{"&frac12", "\u00bd"}, {"&frac1", "&frac1"}, {"&NotEqualTilde;", "\u2242\u0338"},
		{"&foo;", "&foo;"}, {"&#56;0", "80"}, {"&#0056x", "8x"}, {"a&b&c", "a&b&c"},
		{"&&amp;", "&&"}, {"&copyright", "\u00a9right"}, {"&\u00e9;", "&\u00e9;"},
		{"&amp-x", "&-x"}, {"&eacute&eacute;", "\u00e9\u00e9"}, {"&#x1F600;", "\U0001F600"},
		{"&#128512", "\U0001F600"},
		{"&ThisNameIsLongerThanThirtyTwoCharactersForSure;", "&ThisNameIsLongerThanThirtyTwoCharactersForSure;"},
		{"&#9;&#10;&#11;&#12;", "\t\n\f"},
	}
	for _, c := range cases {
		if got := pyUnescape(c[0]); got != c[1] {
			t.Errorf("pyUnescape(%q) = %q, want %q", c[0], got, c[1])
		}
	}
}

func TestPyIsSpace(t *testing.T) {
	want := map[rune]bool{}
	for _, r := range []rune{9, 10, 11, 12, 13, 28, 29, 30, 31, 32, 133, 160, 5760, 8192, 8193, 8194,
		8195, 8196, 8197, 8198, 8199, 8200, 8201, 8202, 8232, 8233, 8239, 8287, 12288} {
		want[r] = true
	}
	for r := rune(0); r <= unicode.MaxRune; r++ {
		if pyIsSpace(r) != want[r] {
			t.Errorf("pyIsSpace(%U) = %v", r, !want[r])
		}
	}
}

func TestPyLower(t *testing.T) {
	cases := [][2]string{
		{"\u0130", "i\u0307"}, {"\u03a3", "\u03c3"}, {"\u0391\u03a3", "\u03b1\u03c2"},
		{"\u0391\u03a3 \u0392", "\u03b1\u03c2 \u03b2"}, {"\u0391\u03a3\u0392", "\u03b1\u03c3\u03b2"},
		{"\u0391'\u03a3", "\u03b1'\u03c2"}, {"\u0391\u03a3'", "\u03b1\u03c2'"}, {"\u0391\u03a3.", "\u03b1\u03c2."},
		{"\u03a3.\u0391", "\u03c3.\u03b1"}, {"\u1e9e", "\u00df"}, {"\u212a", "k"}, {"\u03a9", "\u03c9"},
		{"\u01c5", "\u01c6"}, {"\u1f88", "\u1f80"}, {"\u0391\u03a3\u0301", "\u03b1\u03c2\u0301"},
		{"A\u0345\u03a3", "a\u0345\u03c2"}, {"\u038c\u03a3\u039f\u03a3", "\u03cc\u03c3\u03bf\u03c2"},
		{"\u1f48", "\u1f40"}, {"\u03a3\u03a3", "\u03c3\u03c2"}, {"a\u03a31", "a\u03c21"}, {"1\u03a3", "1\u03c3"},
	}
	for _, c := range cases {
		if got := string(pyLower(nil, []byte(c[0]))); got != c[1] {
			t.Errorf("pyLower(%q) = %q, want %q", c[0], got, c[1])
		}
	}
}

// TestFixText checks the port of ftfy.fix_text against the examples in
// ftfy's own documentation (version 6, NFC normalisation).
func TestFixText(t *testing.T) {
	cases := [][2]string{
		{"ＬＯＵＤ　ＮＯＩＳＥＳ", "LOUD NOISES"},
		{"ﬂuﬃeﬆ", "fluffiest"},
		{"\u201chere\u2019s a test\u201d", "\"here's a test\""},
		{"one\r\ntwo\rthree\u2028four\u2029five", "one\ntwo\nthree\nfour\nfive"},
		{"\033[36;44mblue\033[0m", "blue"},
		{"e\u0301", "\u00e9"},
		{"P&EACUTE;REZ", "PÉREZ"},
		{"BUNDESSTRA&SZLIG;E", "BUNDESSTRASSE"},
		{"&ntilde; &Ntilde; &NTILDE; &nTILDE;", "ñ Ñ Ñ &nTILDE;"},
		{"&Jscr;ohn &HilbertSpace;ancock", "𝒥ohn ℋancock"},
		{"&checkmark;", "✓"},
		{"Broken text&hellip; it&#x2019;s ﬂubberiﬁc!", "Broken text… it's flubberific!"},
		{"HTML entities &lt;3", "HTML entities <3"},
		{"<em>HTML entities &lt;3</em>", "<em>HTML entities &lt;3</em>"},
		{"\001\033[36;44mI&#x92;m blue, da ba dee da ba doo&#133;\033[0m", "I'm blue, da ba dee da ba doo…"},
		{"&amp;amp;", "&"},
		{"\ufeffParty", "Party"},
		{"Uﾀｰﾝ", "Uターン"},
		{"a\x00b\x0bc\x7fd", "abcd"},
		{"\u0080 \u0085 \u0093x\u0094", "€ … \"x\""},
		// Entities stay encoded on the lines after one that looks like HTML.
		{"&lt;\n<b>\n&lt;", "<\n<b>\n&lt;"},
	}
	for _, c := range cases {
		if got := fixText(c[0]); got != c[1] {
			t.Errorf("fixText(%q) = %q, want %q", c[0], got, c[1])
		}
	}
}

// TestNormalize checks the whole clean-up, and that the ASCII fast path
// agrees with the general one.
func TestNormalize(t *testing.T) {
	cases := [][2]string{
		{"  A  Photo\tOF\n\na CAT  ", "a photo of a cat"},
		{"", ""},
		{" \t\r\n\f ", ""},
		{"a\vb", "ab"}, // ftfy deletes a vertical tab; it never becomes a space
		{"a\fb", "a b"},
		{"Fish &amp;amp; Chips", "fish & chips"},
		{"&lt;b&gt; bold", "<b> bold"},
		{"ＡＢＣ　ｄｅｆ，", "abc def,"},
		{"Ο ΣΟΦΟΣ", "ο σοφος"},
		{"İ", "i\u0307"},
		{"bad \xff byte", "bad \ufffd byte"},
	}
	for _, c := range cases {
		if got := string(normalize(nil, c[0])); got != c[1] {
			t.Errorf("normalize(%q) = %q, want %q", c[0], got, c[1])
		}
	}
	for _, s := range []string{"  A  Photo\tOF\n\na CAT  ", "Hello, World! 123 (x:1.5) it's", "\r\n\fx",
		"Ελληνικά ΓΡΆΜΜΑΤΑ", "naïve café\u00a0ok", "日本語 🐱", "ΟΔΥΣΣΕΥΣ"} {
		fast := string(normalize(nil, s))
		full := string(pyLower(nil, collapseSpaces(nil, pyUnescape(pyUnescape(fixText(validUTF8(s)))))))
		if fast != full {
			t.Errorf("%q: fast path %q, full path %q", s, fast, full)
		}
	}
}
