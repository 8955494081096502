package clip

import (
	"html"
	"strings"
	"unicode"
	"unicode/utf8"

	"golang.org/x/text/unicode/norm"
)

// This file reproduces the text clean-up of the original CLIP tokenizer:
//
//	text = ftfy.fix_text(text)
//	text = html.unescape(html.unescape(text)).strip()
//	text = re.sub(r'\s+', ' ', text).strip().lower()
//
// with Python's semantics for each step (str.isspace, str.lower with its
// special cases, html.unescape's handling of numeric references), because a
// different clean-up silently changes token ids. ftfy's mojibake repair
// (fix_encoding) is the one step left out: it is a statistical guess about
// text decoded with the wrong code page, never applies to text typed as a
// prompt, and would need ftfy's tables of "badness" heuristics.

// normalize appends the cleaned form of text to dst and returns it.
func normalize(dst []byte, text string) []byte {
	out, _ := normalizeInto(dst, nil, text)
	return out
}

// normalizeInto appends the cleaned form of text to dst, using tmp as
// scratch space, and returns both for reuse. Text that ftfy and
// html.unescape would leave alone, the common case, is only collapsed and
// lower-cased, with no allocation once the buffers have grown.
func normalizeInto(dst, tmp []byte, text string) (out, tmpOut []byte) {
	if plainASCII(text) {
		return cleanLowerASCII(dst, text), tmp
	}
	s := text
	if needsFixing(s) {
		s = pyUnescape(pyUnescape(fixText(validUTF8(s))))
	}
	tmp = collapseSpaces(tmp[:0], s)
	return pyLower(dst, tmp), tmp
}

// needsFixing reports whether any step of ftfy.fix_text or html.unescape
// could change s: invalid UTF-8, a character one of the fixers replaces or
// removes, an '&', or text that is not in NFC.
func needsFixing(s string) bool {
	for _, r := range s {
		if fixerTouches(r) {
			return true
		}
	}
	// The quick check is conservative (a "maybe" counts as not normal)
	// and, unlike IsNormalString, allocates nothing.
	return norm.NFC.QuickSpanString(s) != len(s)
}

func fixerTouches(r rune) bool {
	switch {
	case r == utf8.RuneError, r == '&', r == '\r', r == 0x1b:
		return true
	case r < 0x20:
		return r != '\t' && r != '\n' && r != '\f'
	case r < 0x7f:
		return false
	case r <= 0x9f, r == 0x2bc, r >= 0x2018 && r <= 0x201f, r == 0x2028, r == 0x2029,
		r >= 0x206a && r <= 0x206f, r == 0x3000, r == 0xfeff, r >= 0xff01 && r <= 0xffef, r >= 0xfff9 && r <= 0xfffc:
		return true
	}
	_, lig := latinLigatures[r]
	return lig
}

// validUTF8 replaces each byte that is not part of a valid UTF-8 sequence
// with U+FFFD, so that every later step works on well-formed text.
func validUTF8(s string) string {
	if utf8.ValidString(s) {
		return s
	}
	var b strings.Builder
	for _, r := range s {
		b.WriteRune(r) // an invalid byte arrives as utf8.RuneError
	}
	return b.String()
}

// plainASCII reports whether every step but whitespace collapsing and
// lower-casing is the identity on text: printable ASCII and the whitespace
// controls that ftfy keeps, and no '&' that could start an HTML entity.
func plainASCII(text string) bool {
	for i := 0; i < len(text); i++ {
		c := text[i]
		if c == '&' || c > 0x7e || (c < 0x20 && c != '\t' && c != '\n' && c != '\f' && c != '\r') {
			return false
		}
	}
	return true
}

// cleanLowerASCII collapses whitespace runs to one space, trims both ends
// and lower-cases, for text that plainASCII accepted.
func cleanLowerASCII(dst []byte, text string) []byte {
	pendingSpace := false
	start := len(dst)
	for i := 0; i < len(text); i++ {
		c := text[i]
		if c == ' ' || c == '\t' || c == '\n' || c == '\f' || c == '\r' {
			pendingSpace = len(dst) > start
			continue
		}
		if pendingSpace {
			dst = append(dst, ' ')
			pendingSpace = false
		}
		if 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		dst = append(dst, c)
	}
	return dst
}

// collapseSpaces appends s to dst with each run of Python whitespace
// replaced by one space and none at either end: the original's
// whitespace_clean.
func collapseSpaces(dst []byte, s string) []byte {
	start := len(dst)
	pendingSpace := false
	for _, r := range s {
		if pyIsSpace(r) {
			pendingSpace = len(dst) > start
			continue
		}
		if pendingSpace {
			dst = append(dst, ' ')
			pendingSpace = false
		}
		dst = utf8.AppendRune(dst, r)
	}
	return dst
}

// pyIsSpace is Python's str.isspace for one character: general category Zs
// or bidirectional class WS, B or S. That is Unicode's White_Space plus the
// information separators U+001C to U+001F.
func pyIsSpace(r rune) bool {
	switch {
	case r == ' ' || (r >= '\t' && r <= '\r') || (r >= 0x1c && r <= 0x1f):
		return true
	case r < 0x85:
		return false
	}
	return unicode.Is(unicode.White_Space, r)
}

// pyLower is Python's str.lower: the full lower-case mapping, in which
// U+0130 becomes "i" plus a combining dot and a capital sigma at the end of
// a word becomes the final form ς.
func pyLower(dst []byte, s []byte) []byte {
	for i := 0; i < len(s); {
		r, n := utf8.DecodeRune(s[i:])
		at := i
		i += n
		switch r {
		case 'İ':
			dst = append(dst, "i\u0307"...)
			continue
		case 'Σ':
			if finalSigma(s, at) {
				r = 'ς'
			} else {
				r = 'σ'
			}
		default:
			r = unicode.ToLower(r)
		}
		dst = utf8.AppendRune(dst, r)
	}
	return dst
}

// finalSigma implements Unicode's Final_Sigma condition for the capital
// sigma at byte offset i: a cased letter before it, skipping case-ignorable
// characters, and none after it.
func finalSigma(s []byte, i int) bool {
	before := false
	for j := i; j > 0; {
		r, n := utf8.DecodeLastRune(s[:j])
		j -= n
		if !caseIgnorable(r) {
			before = cased(r)
			break
		}
	}
	if !before {
		return false
	}
	for j := i + len("Σ"); j < len(s); {
		r, n := utf8.DecodeRune(s[j:])
		if !caseIgnorable(r) {
			return !cased(r)
		}
		j += n
	}
	return true
}

func cased(r rune) bool {
	return unicode.IsUpper(r) || unicode.IsLower(r) || unicode.IsTitle(r) ||
		unicode.Is(unicode.Other_Lowercase, r) || unicode.Is(unicode.Other_Uppercase, r)
}

// caseIgnorable is Unicode's Case_Ignorable: marks, format characters,
// modifier letters and symbols, and the word-internal punctuation of the
// Word_Break classes MidLetter, MidNumLet and Single_Quote.
func caseIgnorable(r rune) bool {
	switch r {
	case '\'', '.', ':', 0xb7, 0x387, 0x55f, 0x5f4, 0x2018, 0x2019, 0x2024, 0x2027,
		0xfe13, 0xfe52, 0xfe55, 0xff07, 0xff0e, 0xff1a:
		return true
	}
	return unicode.In(r, unicode.Mn, unicode.Me, unicode.Cf, unicode.Lm, unicode.Sk)
}

// fixText is ftfy.fix_text with its default configuration, less
// fix_encoding. ftfy works line by line; HTML entities are decoded only
// until a line containing '<' is seen, since such text may be markup.
func fixText(s string) string {
	var b strings.Builder
	unescape := true
	for len(s) > 0 {
		end := strings.IndexByte(s, '\n') + 1
		if end == 0 {
			end = len(s)
		}
		seg := s[:end]
		s = s[end:]
		if unescape && strings.IndexByte(seg, '<') >= 0 {
			unescape = false
		}
		b.WriteString(fixSegment(seg, unescape))
	}
	return b.String()
}

// maxFixPasses bounds ftfy's repeat-until-unchanged loop. Every fixer
// shortens or canonicalises the text, so real input settles in two or three
// passes; the bound only guards against an unforeseen cycle.
const maxFixPasses = 32

// fixSegment is ftfy.fix_and_explain's loop for one segment: apply every
// fixer in ftfy's order, then NFC, until nothing changes.
func fixSegment(s string, unescape bool) string {
	for range maxFixPasses {
		orig := s
		if unescape {
			s = ftfyUnescape(s)
		}
		s = strings.Map(fixC1Control, s)
		s = fixLigatures(s)
		s = fixWidth(s)
		s = strings.Map(uncurlQuote, s)
		s = fixLineBreaks(s)
		s = removeTerminalEscapes(s)
		s = strings.Map(removeControl, s)
		s = norm.NFC.String(s)
		if s == orig {
			break
		}
	}
	return s
}

// cp1252 maps U+0080..U+009F to the characters Windows-1252 puts there, as
// Python's html module and ftfy's sloppy-windows-1252 codec do; the five
// unassigned positions keep their C1 control.
var cp1252 = [32]rune{
	0x20ac, 0x81, 0x201a, 0x192, 0x201e, 0x2026, 0x2020, 0x2021,
	0x2c6, 0x2030, 0x160, 0x2039, 0x152, 0x8d, 0x17d, 0x8f,
	0x90, 0x2018, 0x2019, 0x201c, 0x201d, 0x2022, 0x2013, 0x2014,
	0x2dc, 0x2122, 0x161, 0x203a, 0x153, 0x9d, 0x17e, 0x178,
}

// fixC1Control is ftfy's fix_c1_controls.
func fixC1Control(r rune) rune {
	if r >= 0x80 && r <= 0x9f {
		return cp1252[r-0x80]
	}
	return r
}

// latinLigatures is ftfy's LIGATURES table.
var latinLigatures = map[rune]string{
	'Ĳ': "IJ", 'ĳ': "ij", 'ŉ': "ʼn",
	'Ǳ': "DZ", 'ǲ': "Dz", 'ǳ': "dz", 'Ǆ': "DŽ", 'ǅ': "Dž", 'ǆ': "dž",
	'Ǉ': "LJ", 'ǈ': "Lj", 'ǉ': "lj", 'Ǌ': "NJ", 'ǋ': "Nj", 'ǌ': "nj",
	'ﬀ': "ff", 'ﬁ': "fi", 'ﬂ': "fl", 'ﬃ': "ffi", 'ﬄ': "ffl", 'ﬅ': "ſt", 'ﬆ': "st",
}

func fixLigatures(s string) string { return translate(s, latinLigatures) }

// widthMap is ftfy's WIDTH_MAP: the ideographic space becomes a space and
// every halfwidth or fullwidth form U+FF01..U+FFEF becomes its NFKC form.
var widthMap = func() map[rune]string {
	m := map[rune]string{0x3000: " "}
	for r := rune(0xff01); r < 0xfff0; r++ {
		c := string(r)
		if alt := norm.NFKC.String(c); alt != c {
			m[r] = alt
		}
	}
	return m
}()

func fixWidth(s string) string { return translate(s, widthMap) }

// translate is Python's str.translate with a table of replacements.
func translate(s string, table map[rune]string) string {
	i := strings.IndexFunc(s, func(r rune) bool { _, ok := table[r]; return ok })
	if i < 0 {
		return s
	}
	var b strings.Builder
	b.WriteString(s[:i])
	for _, r := range s[i:] {
		if rep, ok := table[r]; ok {
			b.WriteString(rep)
		} else {
			b.WriteRune(r)
		}
	}
	return b.String()
}

// uncurlQuote is ftfy's uncurl_quotes.
func uncurlQuote(r rune) rune {
	switch {
	case r == 0x2bc || (r >= 0x2018 && r <= 0x201b):
		return '\''
	case r >= 0x201c && r <= 0x201f:
		return '"'
	}
	return r
}

// fixLineBreaks is ftfy's fix_line_breaks.
func fixLineBreaks(s string) string {
	if !strings.ContainsAny(s, "\r\u2028\u2029\u0085") {
		return s
	}
	s = strings.ReplaceAll(s, "\r\n", "\n")
	return strings.Map(func(r rune) rune {
		switch r {
		case '\r', 0x2028, 0x2029, 0x85:
			return '\n'
		}
		return r
	}, s)
}

// removeTerminalEscapes is ftfy's remove_terminal_escapes: it deletes
// ESC '[' followed by digits or ';' and one ASCII letter.
func removeTerminalEscapes(s string) string {
	if strings.IndexByte(s, 0x1b) < 0 {
		return s
	}
	var b strings.Builder
	for {
		i := strings.IndexByte(s, 0x1b)
		if i < 0 {
			b.WriteString(s)
			return b.String()
		}
		b.WriteString(s[:i])
		if n := terminalEscapeLen(s[i:]); n > 0 {
			s = s[i+n:]
		} else {
			b.WriteByte(0x1b)
			s = s[i+1:]
		}
	}
}

// terminalEscapeLen is the length of the escape sequence at the start of s,
// or 0. Python's \d matches any decimal digit, not only ASCII ones.
func terminalEscapeLen(s string) int {
	if len(s) < 3 || s[1] != '[' {
		return 0
	}
	for i, r := range s[2:] {
		switch {
		case r == ';' || unicode.IsDigit(r):
		case r < utf8.RuneSelf && ('a' <= r && r <= 'z' || 'A' <= r && r <= 'Z'):
			return 2 + i + 1
		default:
			return 0
		}
	}
	return 0
}

// removeControl is ftfy's remove_control_chars (returning -1 drops r).
func removeControl(r rune) rune {
	switch {
	case r <= 0x08, r == 0x0b, r >= 0x0e && r <= 0x1f, r == 0x7f,
		r >= 0x206a && r <= 0x206f, r == 0xfeff, r >= 0xfff9 && r <= 0xfffc:
		return -1
	}
	return r
}

// ftfyUnescape is ftfy's unescape_html: only references of the form
// &name; or &#number; with at most 24 letters or digits are decoded, named
// ones when HTML5 defines them (or, for lower-case names, their all-caps
// spelling), numeric ones when Python's html.unescape consumes them whole.
func ftfyUnescape(s string) string {
	if strings.IndexByte(s, '&') < 0 {
		return s
	}
	var b strings.Builder
	for {
		i := strings.IndexByte(s, '&')
		if i < 0 {
			b.WriteString(s)
			return b.String()
		}
		b.WriteString(s[:i])
		s = s[i:]
		n := ftfyEntityLen(s)
		if n == 0 {
			b.WriteByte('&')
			s = s[1:]
			continue
		}
		b.WriteString(ftfyEntity(s[:n]))
		s = s[n:]
	}
}

// ftfyEntityLen is the length of a match of &#?[0-9A-Za-z]{1,24}; at the
// start of s, or 0.
func ftfyEntityLen(s string) int {
	j := 1
	if j < len(s) && s[j] == '#' {
		j++
	}
	k := j
	for k < len(s) && isASCIIAlnum(s[k]) {
		k++
	}
	if n := k - j; n < 1 || n > 24 || k >= len(s) || s[k] != ';' {
		return 0
	}
	return k + 1
}

func ftfyEntity(ref string) string {
	if ref[1] == '#' {
		if u := pyUnescape(ref); strings.IndexByte(u, ';') < 0 {
			return u
		}
		return ref
	}
	name := ref[1:]
	if v, ok := htmlEntity(name); ok {
		return v
	}
	// The all-caps spelling of an entity whose name is all lower case,
	// unless that spelling already means something to html.unescape.
	lower := strings.ToLower(name)
	if lower != name && strings.ToUpper(lower) == name && pyUnescape(ref) == ref {
		if v, ok := htmlEntity(lower); ok {
			return pyUpper(v)
		}
	}
	return ref
}

// htmlEntity looks up an HTML5 named reference written with its semicolon.
// Go's html package holds the table; a name it does not know either comes
// back unchanged or, through the legacy prefix rule, as a shorter entity
// followed by the rest of the name, which always ends in ';'. Only &semi;
// itself decodes to a text ending in ';'.
func htmlEntity(nameSemi string) (string, bool) {
	ref := "&" + nameSemi
	v := html.UnescapeString(ref)
	if v == ref || (strings.HasSuffix(v, ";") && nameSemi != "semi;") {
		return "", false
	}
	return v, true
}

// pyUpper is Python's str.upper for the characters HTML entities name: the
// simple mapping plus the full mappings that expand to several letters.
func pyUpper(s string) string {
	var b strings.Builder
	for _, r := range s {
		switch r {
		case 'ß':
			b.WriteString("SS")
		case 'ŉ':
			b.WriteString("ʼN")
		case 'ﬀ':
			b.WriteString("FF")
		case 'ﬁ':
			b.WriteString("FI")
		case 'ﬂ':
			b.WriteString("FL")
		case 'ﬃ':
			b.WriteString("FFI")
		case 'ﬄ':
			b.WriteString("FFL")
		case 'ﬅ', 'ﬆ':
			b.WriteString("ST")
		default:
			b.WriteRune(unicode.ToUpper(r))
		}
	}
	return b.String()
}

// pyUnescape is Python's html.unescape. Named references behave as in Go's
// html.UnescapeString (both follow HTML5, including the legacy names that
// need no semicolon), so those are handed to it one at a time; numeric
// references differ (Python drops control characters and noncharacters,
// accepts any number of digits, and wants at least one), so they are
// decoded here.
func pyUnescape(s string) string {
	if strings.IndexByte(s, '&') < 0 {
		return s
	}
	var b strings.Builder
	for {
		i := strings.IndexByte(s, '&')
		if i < 0 {
			b.WriteString(s)
			return b.String()
		}
		b.WriteString(s[:i])
		s = s[i:]
		if n, text := numericRef(s); n > 0 {
			b.WriteString(text)
			s = s[n:]
			continue
		}
		// Python's named references need a first character outside
		// "\t\n\f <&#;"; only an ASCII letter or digit can start a name.
		j := 1
		for j < len(s) && isASCIIAlnum(s[j]) {
			j++
		}
		if j == 1 {
			b.WriteByte('&')
			s = s[1:]
			continue
		}
		if j < len(s) && s[j] == ';' {
			j++
		}
		b.WriteString(html.UnescapeString(s[:j]))
		s = s[j:]
	}
}

// numericRef decodes &#digits or &#xhex (with an optional ';') at the start
// of s as Python's html.unescape does, returning the bytes consumed (0 for
// no reference) and the replacement.
func numericRef(s string) (int, string) {
	if len(s) < 3 || s[1] != '#' {
		return 0, ""
	}
	base, j := 10, 2
	if s[2] == 'x' || s[2] == 'X' {
		base, j = 16, 3
	}
	k := j
	var num uint64
	for k < len(s) {
		d := digitVal(s[k], base)
		if d < 0 {
			break
		}
		if num <= 0x10ffff {
			num = num*uint64(base) + uint64(d)
		}
		k++
	}
	if k == j {
		return 0, ""
	}
	if k < len(s) && s[k] == ';' {
		k++
	}
	switch {
	case num == 0:
		return k, "\ufffd"
	case num == 0x0d:
		return k, "\r"
	case num >= 0x80 && num <= 0x9f:
		return k, string(cp1252[num-0x80])
	case num > 0x10ffff || (num >= 0xd800 && num <= 0xdfff):
		return k, "\ufffd"
	case num <= 0x08, num == 0x0b, num >= 0x0e && num <= 0x1f, num == 0x7f,
		num >= 0xfdd0 && num <= 0xfdef, num&0xfffe == 0xfffe:
		return k, ""
	}
	return k, string(rune(num))
}

func digitVal(c byte, base int) int {
	switch {
	case '0' <= c && c <= '9':
		return int(c - '0')
	case base == 16 && 'a' <= c && c <= 'f':
		return int(c-'a') + 10
	case base == 16 && 'A' <= c && c <= 'F':
		return int(c-'A') + 10
	}
	return -1
}

func isASCIIAlnum(c byte) bool {
	return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9'
}
