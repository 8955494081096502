package textenc_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/coop-diffusion/coop/adapters"
	"github.com/coop-diffusion/coop/adapters/adapterstest"
	"github.com/coop-diffusion/coop/adapters/internal/graph"
	"github.com/coop-diffusion/coop/adapters/textenc"
	"github.com/coop-diffusion/coop/internal/onnx"
	"github.com/coop-diffusion/coop/internal/ort/orttest"
)

// idEncoder writes a text encoder whose last_hidden_state repeats each
// token id over the width (and whose attention_mask, when it has one,
// multiplies it) and whose pooler_output is the first token's, so a test
// can read back what was fed.
func idEncoder(t *testing.T, ids onnx.ElemType, batch any, width int, mask bool) *graph.Model {
	t.Helper()
	b := onnx.NewBuilder("text_encoder")
	in := b.Input("input_ids", ids, batch, 77)
	x := b.Op("Cast", []string{in}, onnx.Attrs{"to": int(onnx.Float32)})
	if mask {
		m := b.Input("attention_mask", onnx.Int64, batch, 77)
		x = b.Op("Mul", []string{x, b.Op("Cast", []string{m}, onnx.Attrs{"to": int(onnx.Float32)})}, nil)
	}
	x = b.Op("Unsqueeze", []string{x, b.Int64s("axis", 2)}, nil)
	x = b.Op("Mul", []string{x, b.Constant("ones", []int64{1, 1, int64(width)}, ones(width))}, nil)
	b.Output(x, "last_hidden_state", onnx.Float32, batch, 77, width)
	first := b.Op("Gather", []string{x, b.ScalarInt64("first", 0)}, onnx.Attrs{"axis": 1})
	b.Output(first, "pooler_output", onnx.Float32, batch, width)
	path := filepath.Join(t.TempDir(), "model.onnx")
	if err := b.WriteFile(path); err != nil {
		t.Fatal(err)
	}
	sig, err := onnx.ReadSignature(path)
	if err != nil {
		t.Fatal(err)
	}
	return graph.New("probe", "text_encoder", path, sig, nil, adapterstest.TestSession)
}

func ones(n int) []float32 {
	out := make([]float32, n)
	for i := range out {
		out[i] = 1
	}
	return out
}

// tokenizer is the CLIP tokenizer the fixture zoo embeds (vocab.json and
// merges.txt; padding with the end token), read in place rather than
// through fixtures.Zoo, which would write the whole zoo for two files.
func tokenizer(t *testing.T) string {
	t.Helper()
	dir := filepath.Join("..", "..", "internal", "fixtures", "testdata", "tokenizer")
	if _, err := os.Stat(filepath.Join(dir, "vocab.json")); err != nil {
		t.Fatalf("the fixtures' tokenizer: %v", err)
	}
	return dir
}

// Windows reach the encoder in order, one batch row each, or one call each
// when the graph fixes its batch at 1; int32 and int64 input_ids, and an
// attention_mask of ones, all work.
func TestWindowsReachTheEncoder(t *testing.T) {
	orttest.Init(t)
	ctx := context.Background()
	long := strings.Repeat("cat ", 100) // 100 tokens: two windows
	for _, c := range []struct {
		ids   onnx.ElemType
		batch any
		mask  bool
	}{{onnx.Int64, "batch", false}, {onnx.Int32, 1, true}} {
		e, err := textenc.New(textenc.Config{Parts: []textenc.Part{{Graph: idEncoder(t, c.ids, c.batch, 4, c.mask), TokenizerDir: tokenizer(t), Pooled: true}}, PooledRank: 2})
		if err != nil {
			t.Fatal(err)
		}
		cond, err := e.Encode(ctx, adapters.Prompt{Positive: long})
		if err != nil {
			t.Fatal(err)
		}
		h := cond.Cond.Hidden
		if h.Shape[1] != 154 || h.Shape[2] != 4 {
			t.Fatalf("%v: hidden %v, want [1 154 4]", c.ids, h.Shape)
		}
		// Window 2 holds start, tokens 76..100 (25 cats), end, padding.
		at := func(pos int) float32 { return h.Data[pos*4] }
		const start, end, cat = 49406, 49407, 2368
		for _, p := range []struct{ pos, id int }{{0, start}, {1, cat}, {75, cat}, {76, end}, {77, start}, {78, cat}, {102, cat}, {103, end}, {104, end}} {
			if got := at(p.pos); got != float32(p.id) {
				t.Errorf("%v batch %v: token %d is %v, want %d", c.ids, c.batch, p.pos, got, p.id)
			}
		}
		if cond.Cond.Pooled.Shape[1] != 4 || cond.Cond.Pooled.Data[0] != start {
			t.Errorf("pooled %v %v: want the first window's", cond.Cond.Pooled.Shape, cond.Cond.Pooled.Data)
		}
		e.Close()
	}
}

// A denoiser whose context fixes one window truncates; one that fixes two
// pads a short prompt to both; a prompt beyond the fixed windows fails.
func TestFixedWindows(t *testing.T) {
	orttest.Init(t)
	ctx := context.Background()
	g := idEncoder(t, onnx.Int64, "batch", 2, false)
	for _, c := range []struct {
		windows, words, tokens int
		fails                  bool
	}{{1, 100, 77, false}, {2, 3, 154, false}, {2, 200, 0, true}} {
		e, err := textenc.New(textenc.Config{Parts: []textenc.Part{{Graph: g, TokenizerDir: tokenizer(t)}}, Windows: c.windows})
		if err != nil {
			t.Fatal(err)
		}
		cond, err := e.Encode(ctx, adapters.Prompt{Positive: strings.Repeat("cat ", c.words)})
		if c.fails {
			if err == nil {
				t.Errorf("%d words into %d windows: no error", c.words, c.windows)
			}
			continue
		}
		if err != nil {
			t.Fatal(err)
		}
		if cond.Cond.Hidden.Shape[1] != c.tokens || cond.Uncond.Hidden.Shape[1] != c.tokens {
			t.Errorf("%d words, %d windows: %v and %v tokens, want %d", c.words, c.windows, cond.Cond.Hidden.Shape, cond.Uncond.Hidden.Shape, c.tokens)
		}
	}
}

func TestCheckErrors(t *testing.T) {
	g := idEncoder(t, onnx.Int64, "batch", 2, false)
	cases := []struct {
		cfg  textenc.Config
		want string
	}{
		// No hidden_states outputs: SDXL's hidden_states[-2] is unavailable.
		{textenc.Config{Parts: []textenc.Part{{Graph: g, TokenizerDir: tokenizer(t), Depth: 2}}}, "hidden_states[-2]"},
		{textenc.Config{Parts: []textenc.Part{{Graph: g, TokenizerDir: t.TempDir()}}}, "vocab.json is missing"},
		{textenc.Config{Parts: []textenc.Part{{Graph: g, TokenizerDir: tokenizer(t)}}, PooledRank: 2}, "pooled"},
		{textenc.Config{}, "no text encoder"},
	}
	for _, c := range cases {
		_, err := textenc.New(c.cfg)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("error %v, want one mentioning %q", err, c.want)
		}
	}
}

// Empty negative prompts are encoded as "" unless zeros are asked for.
func TestZeroNegative(t *testing.T) {
	orttest.Init(t)
	ctx := context.Background()
	g := idEncoder(t, onnx.Int64, "batch", 2, false)
	for _, c := range []struct {
		folderDefault, prompt bool
		negative              string
		zero                  bool
	}{{false, false, "", false}, {true, false, "", true}, {false, true, "", true}, {true, true, "blurry", false}} {
		e, err := textenc.New(textenc.Config{Parts: []textenc.Part{{Graph: g, TokenizerDir: tokenizer(t)}}, ZeroNegative: c.folderDefault})
		if err != nil {
			t.Fatal(err)
		}
		cond, err := e.Encode(ctx, adapters.Prompt{Positive: "a cat", Negative: c.negative, ZeroNegative: c.prompt})
		if err != nil {
			t.Fatal(err)
		}
		first := cond.Uncond.Hidden.Data[0] // the start token, or zero
		if (first == 0) != c.zero {
			t.Errorf("folder default %v, prompt %v, negative %q: negative starts with %v", c.folderDefault, c.prompt, c.negative, first)
		}
	}
}
