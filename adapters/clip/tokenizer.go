package clip

import (
	"strings"
	"sync"
	"unicode/utf8"
)

// DefaultLength is the sequence length of every CLIP text encoder used by
// Stable Diffusion: a start token, 75 text tokens and an end token.
const DefaultLength = 77

// Tokenizer is a CLIP byte-level BPE tokenizer. It is safe for concurrent
// use; words it has split once are kept in a bounded cache.
type Tokenizer struct {
	dir string

	vocab  map[string]int32
	tokens []string // by id; "" where the vocabulary has a gap

	byteSym    [256]int32 // the symbol for a byte inside a word
	byteEndSym [256]int32 // the symbol for a word's last byte (with </w>)

	// merges maps a pair of symbol ids (left<<32 | right) to its rank in
	// merges.txt (high 32 bits) and the id of the merged symbol (low 32).
	merges map[uint64]uint64
	// wellOrdered says that every merged symbol comes from exactly one
	// merge, ranked after the merges that make its parts. Real CLIP files
	// are; it lets bpe use a heap in place of the quadratic scan.
	wellOrdered bool

	sot, eot int // ids of <|startoftext|> and <|endoftext|> as written in text, -1 if absent

	start, end, pad int
	length          int
	comma           int // id of ",</w>" for comma backtracking, -1 if absent

	cache   wordCache
	scratch sync.Pool // *scratch
}

// scratch holds the buffers one Encode call needs, reused across calls.
type scratch struct {
	text  []byte // the cleaned text
	clean []byte // normalizeInto's scratch
	syms  []int32
	bpe   bpeState
}

func (t *Tokenizer) getScratch() *scratch {
	if s, ok := t.scratch.Get().(*scratch); ok {
		return s
	}
	return new(scratch)
}

// Dir is the folder the tokenizer files were read from.
func (t *Tokenizer) Dir() string { return t.dir }

// Start is the id that opens every sequence (<|startoftext|>, 49406).
func (t *Tokenizer) Start() int { return t.start }

// End is the id that closes every sequence (<|endoftext|>, 49407).
func (t *Tokenizer) End() int { return t.end }

// Pad is the id that fills a sequence after its end token: the end token
// for SD 1.x, "!" (0) for SD 2.x and SDXL's second encoder.
func (t *Tokenizer) Pad() int { return t.pad }

// Length is the fixed sequence length of the text encoder: 77, unless
// tokenizer_config.json sets another model_max_length.
func (t *Tokenizer) Length() int { return t.length }

// VocabSize is one more than the largest id in the vocabulary.
func (t *Tokenizer) VocabSize() int { return len(t.tokens) }

// Token returns the vocabulary entry for id, such as "cat</w>", or "" for
// an id outside the vocabulary.
func (t *Tokenizer) Token(id int) string {
	if id < 0 || id >= len(t.tokens) {
		return ""
	}
	return t.tokens[id]
}

// ID returns the id of a vocabulary entry.
func (t *Tokenizer) ID(token string) (int, bool) {
	id, ok := t.vocab[token]
	return int(id), ok
}

// Encode returns the ids of text's tokens, without start or end token.
func (t *Tokenizer) Encode(text string) []int {
	return t.AppendEncode(make([]int, 0, len(text)/3+4), text)
}

// AppendEncode appends the ids of text's tokens to dst. With a dst that
// has room and words seen before, it allocates nothing.
func (t *Tokenizer) AppendEncode(dst []int, text string) []int {
	sc := t.getScratch()
	sc.text, sc.clean = normalizeInto(sc.text[:0], sc.clean, text)
	s := sc.text
	for i := 0; ; {
		start, end := nextPiece(s, i)
		if start >= len(s) {
			break
		}
		dst = t.appendPiece(dst, s[start:end], sc)
		i = end
	}
	t.scratch.Put(sc)
	return dst
}

// appendPiece appends the ids of one piece of the split text.
func (t *Tokenizer) appendPiece(dst []int, piece []byte, sc *scratch) []int {
	if piece[0] == '<' {
		if _, exact := specialLen(piece); exact {
			id := t.sot
			if string(piece) == endOfText {
				id = t.eot
			}
			if id >= 0 {
				return append(dst, id)
			}
		}
	}
	if len(piece) == 1 {
		return append(dst, int(t.byteEndSym[piece[0]]))
	}
	if ids, ok := t.cache.get(piece); ok {
		for _, id := range ids {
			dst = append(dst, int(id))
		}
		return dst
	}
	sc.syms = t.bpe(sc.syms[:0], piece, &sc.bpe)
	t.cache.put(string(piece), append([]int32(nil), sc.syms...))
	for _, id := range sc.syms {
		dst = append(dst, int(id))
	}
	return dst
}

// Sequence returns start, ids, end: the full sequence before truncation or
// padding.
func (t *Tokenizer) Sequence(ids []int) []int {
	seq := make([]int, 0, len(ids)+2)
	seq = append(seq, t.start)
	seq = append(seq, ids...)
	return append(seq, t.end)
}

// TokenBytes returns the bytes of text that id stands for, without the
// end-of-word marker: "cat" for "cat</w>", and for a token that holds part
// of a multi-byte character, just those bytes. Special tokens are returned
// as written, nil for an id outside the vocabulary.
func (t *Tokenizer) TokenBytes(id int) []byte {
	var b []byte
	for _, r := range strings.TrimSuffix(t.Token(id), "</w>") {
		if c, ok := unicodeToByte(r); ok {
			b = append(b, c)
		} else {
			b = utf8.AppendRune(b, r)
		}
	}
	return b
}

// Decode turns ids back into text: the bytes of each token, with the
// end-of-word marker read as a space. Ids outside the vocabulary are
// skipped; bytes that do not form UTF-8 become U+FFFD.
func (t *Tokenizer) Decode(ids []int) string {
	var b []byte
	for _, id := range ids {
		tok := t.Token(id)
		for _, r := range tok {
			if c, ok := unicodeToByte(r); ok {
				b = append(b, c)
			} else {
				b = utf8.AppendRune(b, r)
			}
		}
	}
	return strings.ReplaceAll(strings.ToValidUTF8(string(b), "\uFFFD"), "</w>", " ")
}

// byteToUnicode is GPT-2's reversible map from bytes to printable
// characters, which BPE vocabularies are written in: printable Latin-1
// bytes stand for themselves, the other 68 take the characters from U+0100
// on, in byte order.
var byteToUnicode = func() (m [256]rune) {
	n := rune(0)
	for b := 0; b < 256; b++ {
		if ('!' <= b && b <= '~') || (0xa1 <= b && b <= 0xac) || (0xae <= b && b <= 0xff) {
			m[b] = rune(b)
		} else {
			m[b] = 256 + n
			n++
		}
	}
	return m
}()

// unicodeToByteTable inverts byteToUnicode; -1 marks characters that
// stand for no byte.
var unicodeToByteTable = func() (m [256 + 68]int16) {
	for i := range m {
		m[i] = -1
	}
	for b, r := range byteToUnicode {
		m[r] = int16(b)
	}
	return m
}()

func unicodeToByte(r rune) (byte, bool) {
	if r < 0 || int(r) >= len(unicodeToByteTable) || unicodeToByteTable[r] < 0 {
		return 0, false
	}
	return byte(unicodeToByteTable[r]), true
}

// wordCache remembers the ids of words already split. It holds two
// generations of at most cacheGeneration words: when the current one fills
// up it becomes the old one and the previous old one is dropped, and a word
// found in the old generation moves back to the current one. Memory stays
// bounded while the words a user keeps repeating stay cached.
type wordCache struct {
	mu      sync.RWMutex
	current map[string][]int32
	old     map[string][]int32
}

const cacheGeneration = 1 << 14

func (c *wordCache) get(word []byte) ([]int32, bool) {
	c.mu.RLock()
	ids, ok := c.current[string(word)]
	fromOld := false
	if !ok {
		ids, ok = c.old[string(word)]
		fromOld = ok
	}
	c.mu.RUnlock()
	if fromOld {
		c.put(string(word), ids)
	}
	return ids, ok
}

func (c *wordCache) put(word string, ids []int32) {
	c.mu.Lock()
	if c.current == nil || len(c.current) >= cacheGeneration {
		c.old = c.current
		c.current = make(map[string][]int32, 256)
	}
	c.current[word] = ids
	c.mu.Unlock()
}

func (c *wordCache) reset() {
	c.mu.Lock()
	c.current, c.old = nil, nil
	c.mu.Unlock()
}

func (c *wordCache) len() int {
	c.mu.RLock()
	defer c.mu.RUnlock()
	return len(c.current) + len(c.old)
}
