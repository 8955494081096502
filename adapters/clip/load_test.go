package clip

import (
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// tinyTokenizer writes a small but complete CLIP-style tokenizer folder
// and returns it: the 512 byte symbols in CLIP's order (so "!" is 0), the
// merges "c a" and "ca t</w>" on lines 2 and 3 of merges.txt, then the two
// special tokens (ids 514 and 515). Loading it takes a millisecond, which
// keeps the many broken-folder cases fast.
func tinyTokenizer(t *testing.T) string {
	t.Helper()
	var order []int
	for b := 0; b < 256; b++ {
		if byteToUnicode[b] == rune(b) {
			order = append(order, b)
		}
	}
	for b := 0; b < 256; b++ {
		if byteToUnicode[b] != rune(b) {
			order = append(order, b)
		}
	}
	vocab := map[string]int{}
	for i, b := range order {
		vocab[string(byteToUnicode[b])] = i
		vocab[string(byteToUnicode[b])+"</w>"] = 256 + i
	}
	vocab["ca"], vocab["cat</w>"] = 512, 513
	vocab[startOfText], vocab[endOfText] = 514, 515
	data, err := json.Marshal(vocab)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	writeFile(t, filepath.Join(dir, VocabFile), string(data))
	writeFile(t, filepath.Join(dir, MergesFile), "#version: 0.2\nc a\nca t</w>\n")
	writeFile(t, filepath.Join(dir, SpecialTokensFile), `{"bos_token": "<|startoftext|>", "eos_token": "<|endoftext|>", "pad_token": "<|endoftext|>"}`)
	return dir
}

// copyTokenizer copies the shared tokenizer files into a fresh folder and
// returns it.
func copyTokenizer(t *testing.T) string {
	t.Helper()
	src := sharedClipDir(t)
	dst := t.TempDir()
	for _, name := range []string{VocabFile, MergesFile, SpecialTokensFile} {
		data, err := os.ReadFile(filepath.Join(src, name))
		if err != nil {
			t.Fatal(err)
		}
		writeFile(t, filepath.Join(dst, name), string(data))
	}
	return dst
}

func writeFile(t *testing.T, path, content string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

// editVocab rewrites dir's vocab.json after edit has changed the map.
func editVocab(t *testing.T, dir string, edit func(map[string]any)) {
	t.Helper()
	path := filepath.Join(dir, VocabFile)
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var v map[string]any
	if err := json.Unmarshal(data, &v); err != nil {
		t.Fatal(err)
	}
	edit(v)
	out, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	writeFile(t, path, string(out))
}

// editMerges replaces line number line (1-based, the header is line 1) of
// dir's merges.txt, or appends when line is 0.
func editMerges(t *testing.T, dir string, line int, text string) {
	t.Helper()
	path := filepath.Join(dir, MergesFile)
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(string(data), "\n")
	if line == 0 {
		last := len(lines) - 1 // the empty string after the final newline
		lines = append(lines[:last], text, "")
	} else {
		lines[line-1] = text
	}
	writeFile(t, path, strings.Join(lines, "\n"))
}

func TestLoadReal(t *testing.T) {
	tok := sharedTokenizer(t)
	if tok.Start() != 49406 || tok.End() != 49407 || tok.Pad() != 49407 {
		t.Errorf("start, end, pad = %d, %d, %d; want 49406, 49407, 49407", tok.Start(), tok.End(), tok.Pad())
	}
	if tok.Length() != 77 || tok.VocabSize() != 49408 {
		t.Errorf("length %d, vocabulary %d; want 77, 49408", tok.Length(), tok.VocabSize())
	}
	if !tok.wellOrdered {
		t.Error("the real merges.txt should be well ordered (each merge after the merges making its parts)")
	}
	if len(tok.merges) != 48894 {
		t.Errorf("%d merges, want 48894", len(tok.merges))
	}
	if id, ok := tok.ID("cat</w>"); !ok || tok.Token(id) != "cat</w>" {
		t.Errorf("ID/Token round trip of cat</w>: %d %v %q", id, ok, tok.Token(id))
	}
}

// TestTinyTokenizer checks the fixture the error cases break.
func TestTinyTokenizer(t *testing.T) {
	tok, err := Load(tinyTokenizer(t))
	if err != nil {
		t.Fatal(err)
	}
	// "!" is byte 33, the first symbol; "b" (98) is the 66th, so "b</w>"
	// is 256 + 65.
	want := []int{514, 513, 256, 512, 256 + 65, 515}
	if got := tok.Sequence(tok.Encode("Cat! cab")); !slices.Equal(got, want) {
		t.Errorf("Encode: %v, want %v", got, want)
	}
}

// TestLoadLayouts checks the folder layouts and the padding token each
// declaration gives.
func TestLoadLayouts(t *testing.T) {
	t.Run("model folder", func(t *testing.T) {
		model := t.TempDir()
		tokDir := filepath.Join(model, "tokenizer")
		if err := os.Rename(tinyTokenizer(t), tokDir); err != nil {
			t.Fatal(err)
		}
		tok, err := Load(model)
		if err != nil {
			t.Fatal(err)
		}
		if tok.Dir() != tokDir {
			t.Errorf("Dir() = %s, want %s", tok.Dir(), tokDir)
		}
	})
	cases := []struct {
		name            string
		special, config string // file contents; "" leaves the file out
		pad, length     int
	}{
		{"SD 1.x map", `{"pad_token": "<|endoftext|>"}`, "", 515, 77},
		{"SD 2.x map", `{"bos_token": {"content": "<|startoftext|>", "lstrip": false}, "pad_token": "!"}`, "", 0, 77},
		{"content object", `{"pad_token": {"content": "!", "single_word": false}}`, "", 0, 77},
		{"config only", "", `{"pad_token": "!", "model_max_length": 77}`, 0, 77},
		{"map wins over config", `{"pad_token": "<|endoftext|>"}`, `{"pad_token": "!"}`, 515, 77},
		{"no declaration", "", "", 515, 77},
		{"unset max length", "", `{"model_max_length": 1e30}`, 515, 77},
		{"other max length", "", `{"model_max_length": 64}`, 515, 64},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			dir := tinyTokenizer(t)
			os.Remove(filepath.Join(dir, SpecialTokensFile))
			if c.special != "" {
				writeFile(t, filepath.Join(dir, SpecialTokensFile), c.special)
			}
			if c.config != "" {
				writeFile(t, filepath.Join(dir, ConfigFile), c.config)
			}
			tok, err := Load(dir)
			if err != nil {
				t.Fatal(err)
			}
			if tok.Pad() != c.pad || tok.Length() != c.length || tok.Start() != 514 || tok.End() != 515 {
				t.Errorf("pad %d length %d start %d end %d; want pad %d length %d", tok.Pad(), tok.Length(), tok.Start(), tok.End(), c.pad, c.length)
			}
		})
	}
}

// TestLoadErrors checks that every broken folder is reported with the file
// (and line) at fault and what is wrong with it.
func TestLoadErrors(t *testing.T) {
	cases := []struct {
		name   string
		break_ func(t *testing.T, dir string) string // breaks a copy, returns the folder to load
		want   []string                              // in the error; {dir} stands for the copy
	}{
		{"no folder", func(t *testing.T, dir string) string { return filepath.Join(dir, "nope") },
			[]string{"nope", "no such file"}},
		{"a file", func(t *testing.T, dir string) string { return filepath.Join(dir, VocabFile) },
			[]string{VocabFile, "is a file"}},
		{"empty folder", func(t *testing.T, dir string) string { return t.TempDir() },
			[]string{"no vocab.json or merges.txt"}},
		{"no vocab", func(t *testing.T, dir string) string { os.Remove(filepath.Join(dir, VocabFile)); return dir },
			[]string{"{dir}/" + VocabFile, "missing"}},
		{"no merges", func(t *testing.T, dir string) string { os.Remove(filepath.Join(dir, MergesFile)); return dir },
			[]string{MergesFile, "missing"}},
		{"truncated vocab", func(t *testing.T, dir string) string {
			writeFile(t, filepath.Join(dir, VocabFile), "{\n\"a\": 1,\n\"b\": ")
			return dir
		}, []string{VocabFile + ":3:", "malformed JSON"}},
		{"vocab array", func(t *testing.T, dir string) string {
			writeFile(t, filepath.Join(dir, VocabFile), `["a", "b"]`)
			return dir
		}, []string{VocabFile, "want a JSON object"}},
		{"vocab string id", func(t *testing.T, dir string) string {
			editVocab(t, dir, func(v map[string]any) { v["cat</w>"] = "2368" })
			return dir
		}, []string{VocabFile, `"cat</w>"`, "string"}},
		{"vocab fractional id", func(t *testing.T, dir string) string {
			editVocab(t, dir, func(v map[string]any) { v["cat</w>"] = 1.5 })
			return dir
		}, []string{VocabFile, `"cat</w>"`, "1.5", "integer"}},
		{"vocab shared id", func(t *testing.T, dir string) string {
			editVocab(t, dir, func(v map[string]any) { v["zzz-extra"] = 513 })
			return dir
		}, []string{VocabFile, `"cat</w>"`, `"zzz-extra"`, "share id 513"}},
		{"vocab without byte token", func(t *testing.T, dir string) string {
			editVocab(t, dir, func(v map[string]any) { delete(v, "Ā") })
			return dir
		}, []string{VocabFile, "byte 0x00", "missing"}},
		{"merges three parts", func(t *testing.T, dir string) string { editMerges(t, dir, 2, "a b c"); return dir },
			[]string{MergesFile + ":2:", "two symbols", `"a b c"`}},
		{"merges one part", func(t *testing.T, dir string) string { editMerges(t, dir, 3, "ab"); return dir },
			[]string{MergesFile + ":3:", "two symbols"}},
		{"merges unknown symbol", func(t *testing.T, dir string) string { editMerges(t, dir, 2, "qqqq zz"); return dir },
			[]string{MergesFile + ":2:", `"qqqq"`, "not in vocab.json"}},
		{"merges unknown result", func(t *testing.T, dir string) string { editMerges(t, dir, 0, "z q"); return dir },
			[]string{MergesFile + ":4:", `"zq"`, "not in vocab.json"}},
		{"merges repeated", func(t *testing.T, dir string) string { editMerges(t, dir, 0, "c a"); return dir },
			[]string{MergesFile + ":4:", "repeats"}},
		{"merges empty", func(t *testing.T, dir string) string {
			writeFile(t, filepath.Join(dir, MergesFile), "#version: 0.2\n")
			return dir
		}, []string{MergesFile, "no merges"}},
		{"special map malformed", func(t *testing.T, dir string) string {
			writeFile(t, filepath.Join(dir, SpecialTokensFile), `{"pad_token": "!",}`)
			return dir
		}, []string{SpecialTokensFile + ":1:", "malformed JSON"}},
		{"pad not in vocab", func(t *testing.T, dir string) string {
			writeFile(t, filepath.Join(dir, SpecialTokensFile), `{"pad_token": "<pad>"}`)
			return dir
		}, []string{SpecialTokensFile, "pad_token", `"<pad>"`, "not in vocab.json"}},
		{"pad a number", func(t *testing.T, dir string) string {
			writeFile(t, filepath.Join(dir, SpecialTokensFile), `{"pad_token": 5}`)
			return dir
		}, []string{SpecialTokensFile, "pad_token", "want a string"}},
		{"config malformed", func(t *testing.T, dir string) string {
			writeFile(t, filepath.Join(dir, ConfigFile), `{"model_max_length": "77"}`)
			return dir
		}, []string{ConfigFile, "model_max_length"}},
		{"config bos not in vocab", func(t *testing.T, dir string) string {
			os.Remove(filepath.Join(dir, SpecialTokensFile))
			writeFile(t, filepath.Join(dir, ConfigFile), `{"bos_token": {"content": "<s>"}}`)
			return dir
		}, []string{ConfigFile, "bos_token", `"<s>"`}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			dir := tinyTokenizer(t)
			target := c.break_(t, dir)
			_, err := Load(target)
			if err == nil {
				t.Fatal("Load succeeded")
			}
			t.Log(err)
			for _, w := range c.want {
				w = strings.ReplaceAll(w, "{dir}", dir)
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not mention %q", err, w)
				}
			}
		})
	}
}
