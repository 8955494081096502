package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// tokenizeSharedClip finds the CLIP reference files ($COOP_SHARED/clip, else
// shared/clip beside the repository). CI always has them: not finding them
// fails the test.
func tokenizeSharedClip(t *testing.T) string {
	t.Helper()
	if env := os.Getenv("COOP_SHARED"); env != "" {
		if _, err := os.Stat(filepath.Join(env, "clip", "vocab.json")); err == nil {
			return filepath.Join(env, "clip")
		}
	}
	wd, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	for dir := wd; ; dir = filepath.Dir(dir) {
		d := filepath.Join(dir, "shared", "clip")
		if _, err := os.Stat(filepath.Join(d, "vocab.json")); err == nil {
			return d
		}
		if filepath.Dir(dir) == dir {
			t.Fatalf("shared/clip not found above %s; set COOP_SHARED", wd)
		}
	}
}

// tokenizeModelFolder copies the shared tokenizer into model/tokenizer, the layout
// of a diffusers model folder, with the given special_tokens_map.json.
func tokenizeModelFolder(t *testing.T, specialTokens string) string {
	t.Helper()
	src := tokenizeSharedClip(t)
	model := t.TempDir()
	dst := filepath.Join(model, "tokenizer")
	if err := os.Mkdir(dst, 0o755); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"vocab.json", "merges.txt"} {
		data, err := os.ReadFile(filepath.Join(src, name))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dst, name), data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.WriteFile(filepath.Join(dst, "special_tokens_map.json"), []byte(specialTokens), 0o644); err != nil {
		t.Fatal(err)
	}
	return model
}

// runTokenizeCLI runs the CLI in-process and returns its standard output.
func runTokenizeCLI(t *testing.T, args ...string) (string, error) {
	t.Helper()
	root := rootCommand()
	var out, errOut bytes.Buffer
	root.Writer, root.ErrWriter = &out, &errOut
	err := root.Run(context.Background(), append([]string{"coop"}, args...))
	return out.String(), err
}

func tokenizeJSON(t *testing.T, args ...string) tokenizeReport {
	t.Helper()
	out, err := runTokenizeCLI(t, append([]string{"tokenize", "--json"}, args...)...)
	if err != nil {
		t.Fatalf("coop tokenize %q: %v", args, err)
	}
	var r tokenizeReport
	if err := json.Unmarshal([]byte(out), &r); err != nil {
		t.Fatalf("coop tokenize %q printed %q: %v", args, out, err)
	}
	return r
}

// TestTokenizeVectors checks the ids against the original CLIP tokenizer
// on the cases of the shared reference file that are more than plain words
// and full stops (the 300-character word, punctuation, Greek, special
// tokens...). Package clip checks every case; each run here loads the
// vocabulary again, so the command is checked on a sample.
func TestTokenizeVectors(t *testing.T) {
	dir := tokenizeSharedClip(t)
	data, err := os.ReadFile(filepath.Join(dir, "tokenizer_vectors.json"))
	if err != nil {
		t.Fatal(err)
	}
	var file struct {
		Cases []struct {
			Text string `json:"text"`
			IDs  []int  `json:"ids"`
		} `json:"cases"`
	}
	if err := json.Unmarshal(data, &file); err != nil || len(file.Cases) == 0 {
		t.Fatalf("tokenizer_vectors.json: %d cases, %v", len(file.Cases), err)
	}
	model := tokenizeModelFolder(t, `{"pad_token": "<|endoftext|>"}`)
	plain := func(s string) bool {
		return strings.Trim(strings.ToLower(s), "abcdefghijklmnopqrstuvwxyz .") == "" && len(s) < 100
	}
	checked := 0
	for _, c := range file.Cases {
		if plain(c.Text) && checked > 0 {
			continue
		}
		checked++
		r := tokenizeJSON(t, "--tokenizer", model, c.Text)
		if !slices.Equal(r.IDs, c.IDs) {
			t.Errorf("%.50q: ids %v, want %v", c.Text, r.IDs, c.IDs)
		}
		if r.Count != len(c.IDs) || r.Truncated != (len(c.IDs) > 77) || r.PadID != 49407 || len(r.Weights) != len(c.IDs) || len(r.Tokens) != len(c.IDs) {
			t.Errorf("%.50q: count %d truncated %v pad %d, %d weights, %d tokens", c.Text, r.Count, r.Truncated, r.PadID, len(r.Weights), len(r.Tokens))
		}
	}
	if checked < 5 {
		t.Errorf("only %d reference cases checked", checked)
	}
	t.Logf("%d of %d reference cases checked", checked, len(file.Cases))
}

func TestTokenizeLong(t *testing.T) {
	model := tokenizeModelFolder(t, `{"pad_token": "!"}`)
	text := strings.TrimSpace(strings.Repeat("cat ", 100))
	r := tokenizeJSON(t, "--tokenizer", model, text)
	if r.Count != 102 || r.TextTokens != 100 || !r.Truncated || r.Windows != 2 || r.PadID != 0 || r.Length != 77 {
		t.Errorf("long prompt: %+v", r)
	}
	if r.IDs[0] != 49406 || r.IDs[101] != 49407 || r.Tokens[1] != "cat</w>" {
		t.Errorf("long prompt ids %v...%v tokens %v", r.IDs[:3], r.IDs[100:], r.Tokens[:3])
	}
	r = tokenizeJSON(t, "--tokenizer", model, "--no-long-prompts", text)
	if r.Count != 102 || !r.Truncated || r.Windows != 1 {
		t.Errorf("--no-long-prompts: count %d truncated %v windows %d", r.Count, r.Truncated, r.Windows)
	}
}

func TestTokenizeWeighted(t *testing.T) {
	model := tokenizeModelFolder(t, `{}`)
	r := tokenizeJSON(t, "--tokenizer", model, "--weighted", "a (cat:1.5) BREAK [dog]")
	wantIDs := []int{49406, 320, 2368, 1929, 49407}
	wantW := []float32{1, 1, 1.5, 1 / 1.1, 1}
	if !slices.Equal(r.IDs, wantIDs) || r.Windows != 2 {
		t.Errorf("weighted ids %v windows %d, want %v and 2", r.IDs, r.Windows, wantIDs)
	}
	for i := range wantW {
		if d := r.Weights[i] - wantW[i]; d > 1e-6 || d < -1e-6 {
			t.Errorf("weights %v, want %v", r.Weights, wantW)
			break
		}
	}
	// Without --weighted the brackets are text.
	r = tokenizeJSON(t, "--tokenizer", model, "(cat:1.5)")
	if len(r.IDs) <= 3 || slices.ContainsFunc(r.Weights, func(w float32) bool { return w != 1 }) {
		t.Errorf("literal: ids %v weights %v", r.IDs, r.Weights)
	}
}

func TestTokenizeTable(t *testing.T) {
	model := tokenizeModelFolder(t, `{}`)
	out, err := runTokenizeCLI(t, "tokenize", "--tokenizer", model, "a", "photo", "of", "a", "cat")
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"49406", "<|startoftext|>", "2368", "cat</w>", "7 ids: start, 5 text tokens, end; padding id 49407"} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
	out, err = runTokenizeCLI(t, "tokenize", "--tokenizer", model, "--weighted", "(cat)")
	if err != nil || !strings.Contains(out, "weight") || !strings.Contains(out, "1.1") {
		t.Errorf("weighted table: %v\n%s", err, out)
	}
}

func TestTokenizeErrors(t *testing.T) {
	broken := tokenizeModelFolder(t, `{}`)
	if err := os.WriteFile(filepath.Join(broken, "tokenizer", "vocab.json"), []byte(`{"a": 1,`), 0o644); err != nil {
		t.Fatal(err)
	}
	good := tokenizeModelFolder(t, `{}`)
	cases := []struct {
		args []string
		want string
	}{
		{[]string{"tokenize", "--tokenizer", filepath.Join(good, "missing"), "x"}, "missing"},
		{[]string{"tokenize", "--tokenizer", broken, "x"}, "vocab.json:1:"},
		{[]string{"tokenize", "x"}, "--tokenizer"},
		{[]string{"tokenize", "--tokenizer", good}, "no text"},
		{[]string{"tokenize", "--tokenizer", good, "--weighted", "a (cat"}, `prompt:1:3: unbalanced "("`},
	}
	for _, c := range cases {
		_, err := runTokenizeCLI(t, c.args...)
		var ee *exitError
		if !errors.As(err, &ee) || ee.code != 2 {
			t.Errorf("%q: error %v, want exit status 2", c.args, err)
			continue
		}
		if !strings.Contains(err.Error(), c.want) {
			t.Errorf("%q: error %q does not mention %q", c.args, err, c.want)
		}
	}
}
