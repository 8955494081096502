package clip

import (
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"testing"
)

type vectorCase struct {
	Text string `json:"text"`
	IDs  []int  `json:"ids"`
}

func readVectors(tb testing.TB, path string) []vectorCase {
	tb.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		tb.Fatal(err)
	}
	var file struct {
		Cases []vectorCase `json:"cases"`
	}
	if err := json.Unmarshal(data, &file); err != nil {
		tb.Fatalf("%s: %v", path, err)
	}
	if len(file.Cases) == 0 {
		tb.Fatalf("%s: no cases", path)
	}
	return file.Cases
}

// TestReferenceVectors checks every case produced by the original CLIP
// tokenizer: the full sequence (start, tokens, end) must match exactly.
func TestReferenceVectors(t *testing.T) {
	tok := sharedTokenizer(t)
	cases := readVectors(t, filepath.Join(sharedClipDir(t), "tokenizer_vectors.json"))
	for _, c := range cases {
		got := tok.Sequence(tok.Encode(c.Text))
		if !slices.Equal(got, c.IDs) {
			t.Errorf("%.60q:\n got %v\nwant %v", c.Text, got, c.IDs)
		}
	}
}

// TestExtraVectors checks cases the shared file lacks (emoji, contractions,
// scripts with combining marks, final sigma, dotted capital I, special
// tokens inside words, 300-character words), made with the original
// algorithm as testdata/extra_vectors.json's note describes.
func TestExtraVectors(t *testing.T) {
	tok := sharedTokenizer(t)
	for _, c := range readVectors(t, filepath.Join("testdata", "extra_vectors.json")) {
		got := tok.Sequence(tok.Encode(c.Text))
		if !slices.Equal(got, c.IDs) {
			t.Errorf("%.60q:\n got %v\nwant %v", c.Text, got, c.IDs)
		}
	}
}
