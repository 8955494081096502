package clip

import "fmt"

// Options says how EncodePrompt reads a prompt and fits it into the text
// encoder's fixed-length input. The zero value is the engine's default:
// weighting syntax on, long prompts in several windows cut every 75 tokens.
type Options struct {
	// Truncate keeps only the first window and drops the tokens after it,
	// as diffusers does. By default a prompt longer than one window goes
	// into as many windows as it needs, each encoded on its own and the
	// results concatenated along the sequence axis (the AUTOMATIC1111 and
	// ComfyUI convention). BREAK keywords are ignored when truncating.
	Truncate bool
	// Literal reads the prompt as plain text: brackets, colons and BREAK
	// are ordinary characters and every weight is 1.
	Literal bool
	// CommaBacktrack, when positive, moves the tail of a full window to
	// the next one if a comma lies within that many tokens of the window's
	// end, so that a phrase is not cut in two. AUTOMATIC1111 uses 20;
	// zero cuts plainly every 75 tokens.
	CommaBacktrack int
}

// Encoded is a prompt ready for a CLIP text encoder: one or more windows
// of Length ids, each start, up to 75 text tokens, end, then padding, and
// the weight of every position (1 for start, end and padding).
type Encoded struct {
	IDs     [][]int64
	Weights [][]float32
	// Tokens counts the prompt's own tokens, before windowing or
	// truncation.
	Tokens int
	// Truncated reports that Options.Truncate dropped tokens.
	Truncated bool

	start, end, pad int64
	length          int
}

// breakMarker stands for a BREAK keyword in a token stream.
const breakMarker = -1

// EncodePrompt tokenizes a prompt with its weights and packs it into
// windows. Only a weighting syntax error (a *SyntaxError) fails.
func (t *Tokenizer) EncodePrompt(prompt string, opt Options) (*Encoded, error) {
	frags := []Fragment{{Text: prompt, Weight: 1}}
	if !opt.Literal {
		var err error
		if frags, err = ParseWeights(prompt); err != nil {
			return nil, err
		}
	}
	ids, weights := t.EncodeFragments(frags)
	return t.pack(ids, weights, opt), nil
}

// EncodeFragments tokenizes each fragment on its own and returns the ids
// with one weight per id. A BREAK fragment appears as the id -1.
func (t *Tokenizer) EncodeFragments(frags []Fragment) (ids []int, weights []float32) {
	for _, f := range frags {
		if f.Break {
			ids = append(ids, breakMarker)
			weights = append(weights, 1)
			continue
		}
		n := len(ids)
		ids = t.AppendEncode(ids, f.Text)
		for range ids[n:] {
			weights = append(weights, f.Weight)
		}
	}
	return ids, weights
}

// Pack fits token ids (as from Encode, without start and end) and their
// weights into windows; weights may be nil for all ones, else it must be
// as long as ids.
func (t *Tokenizer) Pack(ids []int, weights []float32, opt Options) *Encoded {
	if weights != nil && len(weights) != len(ids) {
		panic(fmt.Sprintf("clip.Pack: %d weights for %d ids", len(weights), len(ids)))
	}
	if weights == nil {
		weights = make([]float32, len(ids))
		for i := range weights {
			weights[i] = 1
		}
	}
	return t.pack(ids, weights, opt)
}

func (t *Tokenizer) newEncoded() *Encoded {
	return &Encoded{start: int64(t.start), end: int64(t.end), pad: int64(t.pad), length: t.length}
}

func (t *Tokenizer) pack(ids []int, weights []float32, opt Options) *Encoded {
	e := t.newEncoded()
	per := t.length - 2
	for _, id := range ids {
		if id != breakMarker {
			e.Tokens++
		}
	}
	if opt.Truncate {
		kept, keptW := make([]int, 0, per), make([]float32, 0, per)
		for k, id := range ids {
			if id == breakMarker {
				continue
			}
			if len(kept) == per {
				e.Truncated = true
				break
			}
			kept, keptW = append(kept, id), append(keptW, weights[k])
		}
		e.appendWindow(kept, keptW)
		return e
	}
	var (
		cur       []int
		curW      []float32
		lastComma = -1
	)
	flush := func() {
		e.appendWindow(cur, curW)
		cur, curW = cur[:0], curW[:0]
		lastComma = -1
	}
	for k, id := range ids {
		if id == breakMarker {
			flush()
			continue
		}
		// The order of these steps is AUTOMATIC1111's, so that windows come
		// out the same: a comma arriving at a full window opens the next.
		if opt.CommaBacktrack > 0 && id == t.comma {
			lastComma = len(cur)
		} else if opt.CommaBacktrack > 0 && len(cur) == per && lastComma >= 0 && len(cur)-lastComma <= opt.CommaBacktrack {
			moved := append([]int(nil), cur[lastComma+1:]...)
			movedW := append([]float32(nil), curW[lastComma+1:]...)
			cur, curW = cur[:lastComma+1], curW[:lastComma+1]
			flush()
			cur, curW = append(cur, moved...), append(curW, movedW...)
		}
		if len(cur) == per {
			flush()
		}
		cur, curW = append(cur, id), append(curW, weights[k])
	}
	if len(cur) > 0 || len(e.IDs) == 0 {
		flush()
	}
	return e
}

// appendWindow adds start, tokens, end and padding as a new window.
func (e *Encoded) appendWindow(tokens []int, weights []float32) {
	ids := make([]int64, e.length)
	ws := make([]float32, e.length)
	ids[0], ws[0] = e.start, 1
	for i, id := range tokens {
		ids[1+i], ws[1+i] = int64(id), weights[i]
	}
	n := 1 + len(tokens)
	ids[n], ws[n] = e.end, 1
	for i := n + 1; i < e.length; i++ {
		ids[i], ws[i] = e.pad, 1
	}
	e.IDs = append(e.IDs, ids)
	e.Weights = append(e.Weights, ws)
}

// Windows is the number of windows, the factor by which the encoded
// sequence is longer than one encoder pass.
func (e *Encoded) Windows() int { return len(e.IDs) }

// Weighted reports whether any weight differs from 1, that is whether
// ApplyWeights has anything to do.
func (e *Encoded) Weighted() bool {
	for _, row := range e.Weights {
		for _, w := range row {
			if w != 1 {
				return true
			}
		}
	}
	return false
}

// PadTo appends empty windows (start, end, padding; weights 1) until there
// are n. Classifier-free guidance needs the conditional and unconditional
// embeddings to be equally long; AUTOMATIC1111 pads the shorter one this
// way.
func (e *Encoded) PadTo(n int) {
	for len(e.IDs) < n {
		e.appendWindow(nil, nil)
	}
}

// Flat returns the ids of all windows one after the other, the row-major
// data of an input_ids tensor of shape [Windows(), Length].
func (e *Encoded) Flat() []int64 {
	out := make([]int64, 0, len(e.IDs)*e.length)
	for _, row := range e.IDs {
		out = append(out, row...)
	}
	return out
}
