package clip

import (
	"math/rand/v2"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
)

// TestBPEHeapMatchesScan checks the O(n log n) merge against the original
// quadratic algorithm on words from the reference texts and random words.
func TestBPEHeapMatchesScan(t *testing.T) {
	tok := sharedTokenizer(t)
	var wordsToTry []string
	for _, path := range []string{"testdata/extra_vectors.json"} {
		for _, c := range readVectors(t, path) {
			wordsToTry = append(wordsToTry, strings.Fields(c.Text)...)
		}
	}
	rng := rand.New(rand.NewPCG(1, 2))
	const letters = "abcdefghijklmnopqrstuvwxyzéß日本"
	runes := []rune(letters)
	for range 300 {
		var b strings.Builder
		for range 1 + rng.IntN(40) {
			b.WriteRune(runes[rng.IntN(len(runes))])
		}
		wordsToTry = append(wordsToTry, b.String())
	}
	var st bpeState
	for _, w := range wordsToTry {
		heap := tok.bpeHeap(nil, []byte(w), &st)
		scan := tok.bpeScan(nil, []byte(w))
		if !slices.Equal(heap, scan) {
			t.Errorf("%q: heap %v, scan %v", w, heap, scan)
		}
	}
}

// TestEncodeConcurrent encodes from many goroutines at once (run with
// -race) with a cache small enough to turn over.
func TestEncodeConcurrent(t *testing.T) {
	tok := sharedTokenizer(t)
	text := "a photo of an astronaut riding a horse on mars, highly detailed, 8k"
	want := tok.Encode(text)
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 50 {
				if got := tok.Encode(text); !slices.Equal(got, want) {
					t.Errorf("goroutine %d: %v, want %v", g, got, want)
					return
				}
				tok.Encode(strings.Repeat("x", g+i+2)) // new words
			}
		}()
	}
	wg.Wait()
}

// TestWordCacheBounded fills the cache past two generations.
func TestWordCacheBounded(t *testing.T) {
	var c wordCache
	for i := range 3*cacheGeneration + 5 {
		c.put(strconv.Itoa(i), []int32{int32(i)})
	}
	if n := c.len(); n > 2*cacheGeneration {
		t.Errorf("cache holds %d words, bound %d", n, 2*cacheGeneration)
	}
	// A word from the old generation is still found and moves back.
	old := strconv.Itoa(2 * cacheGeneration)
	if ids, ok := c.get([]byte(old)); !ok || ids[0] != int32(2*cacheGeneration) {
		t.Errorf("old-generation word: %v %v", ids, ok)
	}
	if _, ok := c.current[old]; !ok {
		t.Error("old-generation hit was not promoted")
	}
}

func TestDecode(t *testing.T) {
	tok := sharedTokenizer(t)
	for _, c := range [][2]string{
		{"A photo of a Cat!", "a photo of a cat ! "},
		{"Ελληνικά 🐱", "ελληνικά 🐱 "},
		{"<|startoftext|>hi", "<|startoftext|>hi "},
	} {
		if got := tok.Decode(tok.Encode(c[0])); got != c[1] {
			t.Errorf("Decode(Encode(%q)) = %q, want %q", c[0], got, c[1])
		}
	}
	if got := tok.Decode([]int{-1, 1 << 30}); got != "" {
		t.Errorf("Decode of ids outside the vocabulary = %q", got)
	}
}
