package clip

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"math"
	"os"
	"path/filepath"
	"reflect"
	"strings"
)

// The files of a Hugging Face tokenizer folder that Load reads.
const (
	VocabFile         = "vocab.json"
	MergesFile        = "merges.txt"
	SpecialTokensFile = "special_tokens_map.json"
	ConfigFile        = "tokenizer_config.json"
)

// maxID bounds the ids vocab.json may use, so that a corrupt file cannot
// make Load allocate gigabytes for the id-to-token table.
const maxID = 1 << 24

// Load reads a CLIP tokenizer from dir: either a tokenizer folder holding
// vocab.json and merges.txt, or a model folder with such a folder named
// tokenizer inside (for SDXL's second encoder pass the tokenizer_2 folder
// itself). special_tokens_map.json and tokenizer_config.json are optional;
// they name the start, end and padding tokens (the first file wins where
// both do), and tokenizer_config.json may set model_max_length. Missing or
// malformed files give an error that names the file and, for merges.txt,
// the line.
func Load(dir string) (*Tokenizer, error) {
	dir, err := tokenizerDir(dir)
	if err != nil {
		return nil, err
	}
	t := &Tokenizer{dir: dir, length: DefaultLength}
	if err := t.readVocab(filepath.Join(dir, VocabFile)); err != nil {
		return nil, err
	}
	if err := t.readMerges(filepath.Join(dir, MergesFile)); err != nil {
		return nil, err
	}
	if err := t.readSpecialTokens(dir); err != nil {
		return nil, err
	}
	t.sot, t.eot = -1, -1
	if id, ok := t.vocab[startOfText]; ok {
		t.sot = int(id)
	}
	if id, ok := t.vocab[endOfText]; ok {
		t.eot = int(id)
	}
	t.comma = -1
	if id, ok := t.vocab[",</w>"]; ok {
		t.comma = int(id)
	}
	return t, nil
}

// tokenizerDir picks the folder holding the files: dir itself, or
// dir/tokenizer when dir is a model folder.
func tokenizerDir(dir string) (string, error) {
	info, err := os.Stat(dir)
	if err != nil {
		return "", fmt.Errorf("clip: tokenizer folder: %w", err)
	}
	if !info.IsDir() {
		return "", fmt.Errorf("clip: tokenizer folder %s is a file, not a folder", dir)
	}
	for _, name := range []string{VocabFile, MergesFile} {
		if fileExists(filepath.Join(dir, name)) {
			return dir, nil
		}
	}
	if sub := filepath.Join(dir, "tokenizer"); fileExists(filepath.Join(sub, VocabFile)) || fileExists(filepath.Join(sub, MergesFile)) {
		return sub, nil
	}
	return "", fmt.Errorf("clip: %s: no %s or %s here nor in its tokenizer folder", dir, VocabFile, MergesFile)
}

func fileExists(path string) bool {
	_, err := os.Stat(path)
	return err == nil
}

func readFile(path string) ([]byte, error) {
	data, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("clip: %s is missing: %w", path, err)
	}
	if err != nil {
		return nil, fmt.Errorf("clip: %w", err)
	}
	return data, nil
}

// jsonError describes a decoding error of a JSON file with its position.
func jsonError(path string, data []byte, err error) error {
	var syn *json.SyntaxError
	if errors.As(err, &syn) {
		line, col := position(data, syn.Offset)
		return fmt.Errorf("clip: %s:%d:%d: malformed JSON: %v", path, line, col, err)
	}
	var typ *json.UnmarshalTypeError
	if errors.As(err, &typ) {
		line, col := position(data, typ.Offset)
		if typ.Field == "" {
			return fmt.Errorf("clip: %s:%d:%d: want a JSON object, found %s", path, line, col, typ.Value)
		}
		want := "a " + typ.Type.Kind().String()
		switch typ.Type.Kind() {
		case reflect.Float32, reflect.Float64, reflect.Int, reflect.Int64:
			want = "a number"
		}
		return fmt.Errorf("clip: %s:%d:%d: %q is a JSON %s, want %s", path, line, col, typ.Field, typ.Value, want)
	}
	return fmt.Errorf("clip: %s: %w", path, err)
}

// jsonKind names the JSON type of a decoded value, for error messages.
func jsonKind(v any) string {
	switch v := v.(type) {
	case nil:
		return "null"
	case string:
		return fmt.Sprintf("%q, a string", v)
	case bool:
		return "a boolean"
	case []any:
		return "an array"
	case map[string]any:
		return "an object"
	}
	return fmt.Sprintf("%v", v)
}

// position turns a byte offset into a 1-based line and column.
func position(data []byte, offset int64) (line, col int) {
	if offset > int64(len(data)) {
		offset = int64(len(data))
	}
	before := data[:offset]
	line = bytes.Count(before, []byte{'\n'}) + 1
	col = int(offset) - (bytes.LastIndexByte(before, '\n') + 1)
	if col < 1 {
		col = 1
	}
	return line, col
}

func (t *Tokenizer) readVocab(path string) error {
	data, err := readFile(path)
	if err != nil {
		return err
	}
	var raw map[string]any
	if err := json.Unmarshal(data, &raw); err != nil {
		return jsonError(path, data, err)
	}
	if raw == nil {
		return fmt.Errorf("clip: %s: want a JSON object mapping tokens to ids, found null", path)
	}
	if len(raw) == 0 {
		return fmt.Errorf("clip: %s: the vocabulary is empty", path)
	}
	t.vocab = make(map[string]int32, len(raw))
	size := 0
	for tok, value := range raw {
		v, ok := value.(float64)
		if !ok {
			return fmt.Errorf("clip: %s: token %q has id %s, want an integer", path, tok, jsonKind(value))
		}
		if v != math.Trunc(v) || v < 0 || v >= maxID {
			return fmt.Errorf("clip: %s: token %q has id %v, want an integer in [0, %d)", path, tok, v, maxID)
		}
		t.vocab[tok] = int32(v)
		size = max(size, int(v)+1)
	}
	t.tokens = make([]string, size)
	for tok, id := range t.vocab {
		if prev := t.tokens[id]; prev != "" {
			a, b := min(prev, tok), max(prev, tok)
			return fmt.Errorf("clip: %s: tokens %q and %q share id %d", path, a, b, id)
		}
		t.tokens[id] = tok
	}
	for b := 0; b < 256; b++ {
		sym := string(byteToUnicode[b])
		id, ok := t.vocab[sym]
		if !ok {
			return fmt.Errorf("clip: %s: byte token %q (byte 0x%02x) is missing: not a byte-level BPE vocabulary", path, sym, b)
		}
		end, ok := t.vocab[sym+"</w>"]
		if !ok {
			return fmt.Errorf("clip: %s: byte token %q (byte 0x%02x) is missing: not a CLIP vocabulary", path, sym+"</w>", b)
		}
		t.byteSym[b], t.byteEndSym[b] = id, end
	}
	return nil
}

func (t *Tokenizer) readMerges(path string) error {
	data, err := readFile(path)
	if err != nil {
		return err
	}
	text := string(data)
	t.merges = make(map[uint64]uint64, strings.Count(text, "\n")+1)
	created := make(map[int32]uint32) // merged symbol -> rank of the merge making it
	type merge struct{ left, right int32 }
	var order []merge
	t.wellOrdered = true
	rank := uint32(0)
	for lineNo := 1; len(text) > 0; lineNo++ {
		line := text
		if i := strings.IndexByte(text, '\n'); i >= 0 {
			line, text = text[:i], text[i+1:]
		} else {
			text = ""
		}
		line = strings.TrimSuffix(line, "\r")
		if lineNo == 1 && strings.HasPrefix(line, "#") {
			continue // "#version: 0.2"
		}
		if strings.TrimSpace(line) == "" {
			continue
		}
		parts := strings.Fields(line)
		if len(parts) != 2 {
			return fmt.Errorf("clip: %s:%d: want two symbols separated by a space, found %q", path, lineNo, line)
		}
		left, ok := t.vocab[parts[0]]
		if !ok {
			return fmt.Errorf("clip: %s:%d: symbol %q is not in %s", path, lineNo, parts[0], VocabFile)
		}
		right, ok := t.vocab[parts[1]]
		if !ok {
			return fmt.Errorf("clip: %s:%d: symbol %q is not in %s", path, lineNo, parts[1], VocabFile)
		}
		merged, ok := t.vocab[parts[0]+parts[1]]
		if !ok {
			return fmt.Errorf("clip: %s:%d: merged symbol %q is not in %s", path, lineNo, parts[0]+parts[1], VocabFile)
		}
		key := pairKey(left, right)
		if _, dup := t.merges[key]; dup {
			return fmt.Errorf("clip: %s:%d: merge %q repeats an earlier line", path, lineNo, line)
		}
		t.merges[key] = uint64(rank)<<32 | uint64(uint32(merged))
		if _, twice := created[merged]; twice {
			t.wellOrdered = false
		} else {
			created[merged] = rank
		}
		order = append(order, merge{left, right})
		rank++
	}
	if len(t.merges) == 0 {
		return fmt.Errorf("clip: %s: no merges", path)
	}
	for r, m := range order {
		for _, part := range [2]int32{m.left, m.right} {
			if cr, ok := created[part]; ok && cr >= uint32(r) {
				t.wellOrdered = false
			}
		}
	}
	return nil
}

// specialTokens is the part of special_tokens_map.json and
// tokenizer_config.json that Load uses. Tokens are written either as a
// string or as an object with a "content" field.
type specialTokens struct {
	BOS            json.RawMessage `json:"bos_token"`
	EOS            json.RawMessage `json:"eos_token"`
	Pad            json.RawMessage `json:"pad_token"`
	ModelMaxLength *float64        `json:"model_max_length"`
}

// readSpecialFile reads an optional JSON file; nil when it is absent.
func readSpecialFile(path string) (*specialTokens, error) {
	data, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("clip: %w", err)
	}
	var s specialTokens
	if err := json.Unmarshal(data, &s); err != nil {
		return nil, jsonError(path, data, err)
	}
	return &s, nil
}

// tokenString decodes a special token entry: "tok", {"content": "tok"},
// or absent/null (ok false).
func tokenString(raw json.RawMessage) (tok string, ok bool, err error) {
	if len(raw) == 0 || string(raw) == "null" {
		return "", false, nil
	}
	if err := json.Unmarshal(raw, &tok); err == nil {
		return tok, true, nil
	}
	var obj struct {
		Content *string `json:"content"`
	}
	if err := json.Unmarshal(raw, &obj); err != nil || obj.Content == nil {
		return "", false, fmt.Errorf("want a string or an object with a \"content\" string, found %s", raw)
	}
	return *obj.Content, true, nil
}

func (t *Tokenizer) readSpecialTokens(dir string) error {
	mapPath := filepath.Join(dir, SpecialTokensFile)
	cfgPath := filepath.Join(dir, ConfigFile)
	special, err := readSpecialFile(mapPath)
	if err != nil {
		return err
	}
	config, err := readSpecialFile(cfgPath)
	if err != nil {
		return err
	}
	// resolve finds a special token: special_tokens_map.json first, then
	// tokenizer_config.json, then the CLIP default.
	resolve := func(field string, pick func(*specialTokens) json.RawMessage, def string) (int, error) {
		for _, src := range []struct {
			path string
			s    *specialTokens
		}{{mapPath, special}, {cfgPath, config}} {
			if src.s == nil {
				continue
			}
			tok, ok, err := tokenString(pick(src.s))
			if err != nil {
				return 0, fmt.Errorf("clip: %s: %s: %v", src.path, field, err)
			}
			if !ok {
				continue
			}
			id, ok := t.vocab[tok]
			if !ok {
				return 0, fmt.Errorf("clip: %s: %s %q is not in %s", src.path, field, tok, VocabFile)
			}
			return int(id), nil
		}
		id, ok := t.vocab[def]
		if !ok {
			return 0, fmt.Errorf("clip: %s: no %s declared and the default %q is not in %s", dir, field, def, VocabFile)
		}
		return int(id), nil
	}
	if t.start, err = resolve("bos_token", func(s *specialTokens) json.RawMessage { return s.BOS }, startOfText); err != nil {
		return err
	}
	if t.end, err = resolve("eos_token", func(s *specialTokens) json.RawMessage { return s.EOS }, endOfText); err != nil {
		return err
	}
	// Hugging Face's CLIPTokenizer pads with <|endoftext|> unless told otherwise.
	if t.pad, err = resolve("pad_token", func(s *specialTokens) json.RawMessage { return s.Pad }, endOfText); err != nil {
		return err
	}
	// model_max_length is 77 in every Stable Diffusion tokenizer; configs
	// that leave it unset write a huge placeholder (1e30), which means
	// "no limit" and is ignored here.
	if config != nil && config.ModelMaxLength != nil {
		if n := *config.ModelMaxLength; n == math.Trunc(n) && n >= 3 && n <= 4096 {
			t.length = int(n)
		}
	}
	return nil
}
