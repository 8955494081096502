package clip

import (
	"fmt"
	"math/rand/v2"
	"path/filepath"
	"strings"
	"testing"
)

// benchText is every reference text joined: about 4,000 characters of
// prompts, punctuation and non-Latin scripts, 1,000 tokens.
func benchText(b *testing.B) string {
	var texts []string
	for _, path := range []string{filepath.Join(sharedClipDir(b), "tokenizer_vectors.json"), filepath.Join("testdata", "extra_vectors.json")} {
		for _, c := range readVectors(b, path) {
			texts = append(texts, c.Text)
		}
	}
	return strings.Join(texts, " ")
}

func reportTokens(b *testing.B, perOp int) {
	b.ReportMetric(float64(perOp)*float64(b.N)/b.Elapsed().Seconds(), "tokens/s")
}

// BenchmarkAppendEncode is the steady state: words cached, output buffer
// reused. It should report 0 allocs/op.
func BenchmarkAppendEncode(b *testing.B) {
	tok := sharedTokenizer(b)
	text := benchText(b)
	dst := tok.AppendEncode(nil, text)
	n := len(dst)
	b.SetBytes(int64(len(text)))
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		dst = tok.AppendEncode(dst[:0], text)
	}
	reportTokens(b, n)
}

// BenchmarkEncodeASCII is the same on a plain English prompt, which takes
// the clean-up's fast path.
func BenchmarkEncodeASCII(b *testing.B) {
	tok := sharedTokenizer(b)
	text := strings.Repeat("a photo of an astronaut riding a horse on mars, highly detailed, sharp focus, 8k. ", 12)
	dst := tok.AppendEncode(nil, text)
	n := len(dst)
	b.SetBytes(int64(len(text)))
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		dst = tok.AppendEncode(dst[:0], text)
	}
	reportTokens(b, n)
}

// BenchmarkEncode allocates the result each call: one allocation per call,
// none per token.
func BenchmarkEncode(b *testing.B) {
	tok := sharedTokenizer(b)
	text := benchText(b)
	n := len(tok.Encode(text))
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		tok.Encode(text)
	}
	reportTokens(b, n)
}

// BenchmarkEncodeUncached splits words never seen before: the cost of the
// merges themselves.
func BenchmarkEncodeUncached(b *testing.B) {
	tok := sharedTokenizer(b)
	rng := rand.New(rand.NewPCG(3, 4))
	words := make([]string, 1<<16)
	for i := range words {
		var w strings.Builder
		for range 4 + rng.IntN(8) {
			w.WriteByte(byte('a' + rng.IntN(26)))
		}
		words[i] = fmt.Sprintf("%s%d", w.String(), i) // unique
	}
	var dst []int
	tokens := 0
	b.ReportAllocs()
	b.ResetTimer()
	for i := range b.N {
		if i%len(words) == 0 {
			tok.cache.reset()
		}
		dst = tok.AppendEncode(dst[:0], words[i%len(words)])
		tokens += len(dst)
	}
	b.ReportMetric(float64(tokens)/b.Elapsed().Seconds(), "tokens/s")
}

// BenchmarkEncodePrompt is a weighted long prompt made into windows.
func BenchmarkEncodePrompt(b *testing.B) {
	tok := sharedTokenizer(b)
	prompt := strings.Repeat("a (photo:1.2) of [an astronaut] riding ((a horse)) on mars, ", 10)
	e, err := tok.EncodePrompt(prompt, Options{})
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		tok.EncodePrompt(prompt, Options{})
	}
	reportTokens(b, e.Tokens)
}

func BenchmarkLoad(b *testing.B) {
	dir := sharedClipDir(b)
	b.ReportAllocs()
	for range b.N {
		if _, err := Load(dir); err != nil {
			b.Fatal(err)
		}
	}
}
