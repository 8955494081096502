package textenc

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"

	"github.com/coop-diffusion/coop/adapters"
	"github.com/coop-diffusion/coop/adapters/clip"
	"github.com/coop-diffusion/coop/adapters/internal/graph"
	"github.com/coop-diffusion/coop/internal/onnx"
	"github.com/coop-diffusion/coop/internal/ort"
	"github.com/coop-diffusion/coop/latent"
)

// Part is one CLIP text encoder and the output it contributes.
type Part struct {
	Graph *graph.Model
	// TokenizerDir holds vocab.json and merges.txt (and the special
	// tokens files naming the padding token).
	TokenizerDir string
	// Depth selects the hidden state: 0 is last_hidden_state, k > 0 is
	// hidden_states[-k] (2 for SDXL's penultimate layer).
	Depth int
	// Pooled makes this part provide the pooled embedding (text_embeds,
	// else pooler_output).
	Pooled bool
}

// Config describes a family's text conditioning.
type Config struct {
	// Parts are concatenated along the width axis in order.
	Parts []Part
	// PooledRank is 2 for a pooled embedding shaped [1, P] (SDXL
	// text_embeds), 3 for [1, 1, P] (Cascade clip_text_pooled), 0 when the
	// family takes none.
	PooledRank int
	// ZeroNegative makes an empty negative prompt all zeros by default
	// (model_index.json force_zeros_for_empty_prompt).
	ZeroNegative bool
	// Windows is the number of 77-token windows the denoiser's context
	// input fixes, 0 when it takes any number. With 1 every prompt is
	// truncated to one window.
	Windows int
}

// Encoder implements adapters.TextEncoder for one family's CLIP encoders.
type Encoder struct {
	cfg   Config
	parts []*part
	width int // sum of the parts' hidden widths
	pool  int // pooled width, 0 without
}

var _ adapters.TextEncoder = (*Encoder)(nil)

type part struct {
	Part
	idsName, maskName string
	idsType           onnx.ElemType
	hidden            map[int]string // hidden_states.i by i
	layers            int            // len(hidden)
	last              string         // last_hidden_state output, "" without
	pooledName        string
	width, pool       int
	fixedBatch        int // 0 when the batch axis is dynamic

	tokOnce sync.Once
	tok     *clip.Tokenizer
	tokErr  error
}

// New checks the parts' signatures and reads their tokenizers, without
// loading weights: a malformed vocab.json or merges.txt is reported when
// the model is checked, not when its first prompt is encoded. Tokenizers
// are read once per folder and process (CLIP's take about 50 ms).
func New(cfg Config) (*Encoder, error) {
	if len(cfg.Parts) == 0 {
		return nil, fmt.Errorf("textenc: no text encoder")
	}
	e := &Encoder{cfg: cfg}
	for i := range cfg.Parts {
		p := &part{Part: cfg.Parts[i]}
		if err := p.check(cfg.PooledRank > 0); err != nil {
			return nil, err
		}
		e.parts = append(e.parts, p)
		e.width += p.width
		if p.Pooled {
			if e.pool != 0 {
				return nil, p.Graph.Errorf("two text encoders provide the pooled embedding")
			}
			e.pool = p.pool
		}
	}
	if cfg.PooledRank > 0 && e.pool == 0 {
		return nil, fmt.Errorf("textenc: the family needs a pooled embedding and no text encoder is marked to provide it")
	}
	return e, nil
}

// Width is the width of the hidden states Encode returns.
func (e *Encoder) Width() int { return e.width }

// PooledWidth is the width of the pooled embedding, 0 without one.
func (e *Encoder) PooledWidth() int { return e.pool }

// Close releases the encoders' sessions.
func (e *Encoder) Close() error {
	var err error
	for _, p := range e.parts {
		if c := p.Graph.Close(); c != nil && err == nil {
			err = c
		}
	}
	return err
}

func (p *part) check(wantPool bool) error {
	m := p.Graph
	p.idsName = "input_ids"
	ids, err := m.Require("input_ids", "a CLIP text encoder")
	if err != nil {
		return err
	}
	if err := m.CheckRank(ids, "input", 2); err != nil {
		return err
	}
	if !graph.IsInteger(ids.ElemType) {
		return m.Errorf("input input_ids is %s, expected an integer type (int64 or int32)", graph.Describe(ids))
	}
	if err := m.CheckDim(ids, "input", 1, clip.DefaultLength, "the sequence length"); err != nil {
		return err
	}
	p.idsType = ids.ElemType
	if n, ok := graph.Dim(ids, 0); ok {
		p.fixedBatch = n
	}
	for _, in := range m.Sig.Inputs {
		switch in.Name {
		case "input_ids":
		case "attention_mask":
			p.maskName = in.Name
		default:
			return m.Errorf("unexpected input %s (%s); a CLIP text encoder takes input_ids and maybe attention_mask", in.Name, graph.Describe(&in))
		}
	}

	p.hidden = map[int]string{}
	for _, out := range m.Sig.Outputs {
		if !strings.HasPrefix(out.Name, "hidden_states") {
			continue
		}
		if i, ok := graph.Suffix(out.Name); ok {
			p.hidden[i] = out.Name
		}
	}
	p.layers = len(p.hidden)
	for i := range p.layers {
		if p.hidden[i] == "" {
			return m.Errorf("hidden-state outputs are not numbered 0..%d (missing hidden_states.%d)", p.layers-1, i)
		}
	}
	if m.Output("last_hidden_state") != nil {
		p.last = "last_hidden_state"
	}
	name, err := p.hiddenName(0)
	if err != nil {
		return err
	}
	v := m.Output(name)
	if err := m.CheckRank(v, "output", 3); err != nil {
		return err
	}
	if w, ok := graph.LastDim(v); ok {
		p.width = w
	} else if w, ok := graph.Int(m.Config, "hidden_size"); ok {
		p.width = w
	} else {
		return m.Errorf("output %s is %s and config.json gives no hidden_size: the embedding width is unknown", name, graph.Describe(v))
	}

	if p.Pooled {
		p.pooledName = m.FirstOutputNamed("text_embeds", "pooler_output")
		if p.pooledName == "" {
			return m.Errorf("the pooled embedding needs output text_embeds or pooler_output; the graph's outputs are %s", graph.List(m.Sig.Outputs))
		}
		v := m.Output(p.pooledName)
		if err := m.CheckRank(v, "output", 2); err != nil {
			return err
		}
		if w, ok := graph.LastDim(v); ok {
			p.pool = w
		} else if w, ok := graph.Int(m.Config, "projection_dim"); ok && p.pooledName == "text_embeds" {
			p.pool = w
		} else {
			p.pool = p.width
		}
	}

	for _, f := range []string{clip.VocabFile, clip.MergesFile} {
		if st, err := os.Stat(filepath.Join(p.TokenizerDir, f)); err != nil || st.IsDir() {
			return fmt.Errorf("model %q %s: tokenizer file %s is missing", m.Owner, m.Role, filepath.Join(p.TokenizerDir, f))
		}
	}
	_, err = p.tokenizer()
	return err
}

// hiddenName is the output holding the part's hidden state under clip
// skip.
func (p *part) hiddenName(skip int) (string, error) {
	if p.Depth == 0 && skip == 0 {
		if p.last != "" {
			return p.last, nil
		}
		if p.layers > 0 {
			return p.hidden[p.layers-1], nil
		}
		return "", p.Graph.Errorf("the text encoder has neither last_hidden_state nor hidden_states outputs (outputs: %s)", graph.List(p.Graph.Sig.Outputs))
	}
	depth := max(p.Depth, 1) + skip
	if p.layers == 0 {
		return "", p.Graph.Errorf("hidden_states[-%d] is needed (clip skip %d) but the graph outputs no hidden_states.N (outputs: %s)", depth, skip, graph.List(p.Graph.Sig.Outputs))
	}
	if depth > p.layers {
		return "", p.Graph.Errorf("hidden_states[-%d] is needed (clip skip %d) but the graph outputs only %d hidden states", depth, skip, p.layers)
	}
	return p.hidden[p.layers-depth], nil
}

var tokenizers sync.Map // absolute dir -> *tokenizerEntry

type tokenizerEntry struct {
	once sync.Once
	tok  *clip.Tokenizer
	err  error
}

// tokenizer loads the part's tokenizer once per folder and process.
func (p *part) tokenizer() (*clip.Tokenizer, error) {
	p.tokOnce.Do(func() {
		dir, err := filepath.Abs(p.TokenizerDir)
		if err != nil {
			p.tokErr = err
			return
		}
		v, _ := tokenizers.LoadOrStore(dir, &tokenizerEntry{})
		ent := v.(*tokenizerEntry)
		ent.once.Do(func() { ent.tok, ent.err = clip.Load(dir) })
		p.tok, p.tokErr = ent.tok, ent.err
		if p.tokErr != nil {
			// A broken tokenizer is read again next time, once the user
			// has had a chance to mend it.
			tokenizers.CompareAndDelete(dir, ent)
			p.tokErr = fmt.Errorf("model %q %s: %w", p.Graph.Owner, p.Graph.Role, p.tokErr)
		}
	})
	return p.tok, p.tokErr
}

// Encode returns the conditional and unconditional embeddings of p.
// Guidance is left at 0 for the caller to set.
func (e *Encoder) Encode(ctx context.Context, p adapters.Prompt) (*adapters.Conditioning, error) {
	opt := clip.Options{Truncate: p.Truncate || e.cfg.Windows == 1}
	zeroNeg := p.Negative == "" && (p.ZeroNegative || e.cfg.ZeroNegative)

	// Tokenize with every part's tokenizer: they agree on the tokens and
	// differ in padding.
	pos := make([]*clip.Encoded, len(e.parts))
	neg := make([]*clip.Encoded, len(e.parts))
	windows := 1
	for i, pt := range e.parts {
		tok, err := pt.tokenizer()
		if err != nil {
			return nil, err
		}
		if pos[i], err = tok.EncodePrompt(p.Positive, opt); err != nil {
			return nil, fmt.Errorf("prompt: %w", err)
		}
		windows = max(windows, pos[i].Windows())
		if !zeroNeg {
			if neg[i], err = tok.EncodePrompt(p.Negative, opt); err != nil {
				return nil, fmt.Errorf("negative prompt: %w", err)
			}
			windows = max(windows, neg[i].Windows())
		}
	}
	if e.cfg.Windows > 0 {
		if windows > e.cfg.Windows {
			return nil, fmt.Errorf("model %q: the prompt needs %d windows of 75 tokens and the denoiser takes %d (%d tokens); shorten it or truncate",
				e.parts[0].Graph.Owner, windows, e.cfg.Windows, e.cfg.Windows*clip.DefaultLength)
		}
		windows = e.cfg.Windows
	}
	for i := range e.parts {
		pos[i].PadTo(windows)
		if neg[i] != nil {
			neg[i].PadTo(windows)
		}
	}

	cond, err := e.embed(ctx, pos, p.ClipSkip)
	if err != nil {
		return nil, err
	}
	var uncond adapters.Embeddings
	if zeroNeg {
		uncond.Hidden = latent.New(cond.Hidden.Shape...)
		if cond.Pooled != nil {
			uncond.Pooled = latent.New(cond.Pooled.Shape...)
		}
	} else if uncond, err = e.embed(ctx, neg, p.ClipSkip); err != nil {
		return nil, err
	}
	return &adapters.Conditioning{Cond: cond, Uncond: uncond}, nil
}

// embed runs every part on its tokens and assembles the family's
// embeddings.
func (e *Encoder) embed(ctx context.Context, encs []*clip.Encoded, skip int) (adapters.Embeddings, error) {
	k := encs[0].Windows()
	const T = clip.DefaultLength
	z := latent.New(k, T, e.width)
	var pooled *latent.Tensor
	off := 0
	for i, pt := range e.parts {
		hidden, pool, err := pt.run(ctx, encs[i], skip)
		if err != nil {
			return adapters.Embeddings{}, err
		}
		for r := range k * T {
			copy(z.Data[r*e.width+off:r*e.width+off+pt.width], hidden.Data[r*pt.width:(r+1)*pt.width])
		}
		off += pt.width
		if pt.Pooled {
			pooled = pool
		}
	}
	if encs[0].Weighted() {
		if err := clip.ApplyWeights(z, encs[0].Weights); err != nil {
			return adapters.Embeddings{}, err
		}
	}
	joined, err := clip.JoinWindows(z)
	if err != nil {
		return adapters.Embeddings{}, err
	}
	emb := adapters.Embeddings{Hidden: joined}
	switch e.cfg.PooledRank {
	case 2:
		emb.Pooled = latent.FromData(pooled.Data[:e.pool:e.pool], 1, e.pool)
	case 3:
		emb.Pooled = latent.FromData(pooled.Data[:e.pool:e.pool], 1, 1, e.pool)
	}
	return emb, nil
}

// run encodes the windows of enc, in one batch when the graph's batch axis
// allows it, and returns the hidden states [K, 77, width] and the pooled
// embeddings [K, pool] (nil unless the part is pooled).
func (p *part) run(ctx context.Context, enc *clip.Encoded, skip int) (hidden, pooled *latent.Tensor, err error) {
	name, err := p.hiddenName(skip)
	if err != nil {
		return nil, nil, err
	}
	k := enc.Windows()
	const T = clip.DefaultLength
	hidden = latent.New(k, T, p.width)
	if p.Pooled {
		pooled = latent.New(k, p.pool)
	}
	ids := enc.Flat()
	ones := make([]int64, len(ids))
	for i := range ones {
		ones[i] = 1
	}
	batch := k
	if p.fixedBatch > 0 {
		batch = p.fixedBatch
		if batch != 1 && batch != k {
			return nil, nil, p.Graph.Errorf("input input_ids has a fixed batch of %d; coop feeds 1 or one row per 77-token window (%d)", batch, k)
		}
	}
	for first := 0; first < k; first += batch {
		rows := ids[first*T : (first+batch)*T]
		in := map[string]ort.Input{p.idsName: ort.Int([]int64{int64(batch), T}, rows)}
		if p.maskName != "" {
			in[p.maskName] = ort.Int([]int64{int64(batch), T}, ones[first*T:(first+batch)*T])
		}
		out := map[string]*latent.Tensor{
			name: latent.FromData(hidden.Data[first*T*p.width:(first+batch)*T*p.width], batch, T, p.width),
		}
		if p.Pooled {
			out[p.pooledName] = latent.FromData(pooled.Data[first*p.pool:(first+batch)*p.pool], batch, p.pool)
		}
		if err := p.Graph.Run(ctx, in, out); err != nil {
			return nil, nil, err
		}
	}
	return hidden, pooled, nil
}
