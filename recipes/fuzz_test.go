package recipes

import (
	"os"
	"path/filepath"
	"testing"
)

// FuzzLoad feeds arbitrary bytes to the recipe reader. It must never
// panic, every error must carry a position, and a recipe that loads must
// survive Marshal and a second load unchanged. The seed corpus (the
// examples, the demo recipes, the malformed recipes of TestMalformed and a
// recipe using every field) runs in every go test.
func FuzzLoad(f *testing.F) {
	for _, pattern := range []string{"examples/*.yaml", "demo/*.yaml"} {
		files, _ := filepath.Glob(pattern)
		for _, file := range files {
			data, err := os.ReadFile(file)
			if err != nil {
				f.Fatal(err)
			}
			f.Add(data)
		}
	}
	f.Add([]byte(fullRecipe))
	f.Add([]byte(twoModels + "sweep:\n  stages.1.participants.1.weight: [0, [[1, 0.2], [0, 0.8]]]\n  seed: [1, 2]\n"))
	// -0 once failed the round trip (written as -0, read back as 0).
	f.Add([]byte("version: 1\nmodels: {m: {path: m}}\nguidance: -0.0\nstages: [{participants: [{model: m, weight: -0.0}]}]\n"))
	for _, src := range malformedSeeds {
		f.Add([]byte(src))
	}
	loader := Loader{SkipFileChecks: true, Limits: Limits{MaxImages: 64}}
	dir := f.TempDir()
	f.Fuzz(func(t *testing.T, data []byte) {
		r, err := loader.LoadBytes("fuzz.yaml", data, dir)
		if err != nil {
			list, ok := err.(ErrorList)
			if !ok || len(list) == 0 {
				t.Fatalf("error %T without positions: %v", err, err)
			}
			for _, e := range list {
				if e.File != "fuzz.yaml" || e.Line < 1 || e.Col < 0 {
					t.Fatalf("error without a file position: %q", e)
				}
			}
			return
		}
		out, err := r.Marshal()
		if err != nil {
			t.Fatalf("Marshal: %v", err)
		}
		r2, err := loader.LoadBytes("fuzz.yaml", out, dir)
		if err != nil {
			t.Fatalf("the marshalled recipe does not load: %v\n%s", err, out)
		}
		out2, err := r2.Marshal()
		if err != nil || string(out2) != string(out) {
			t.Fatalf("Marshal is not stable:\n%s\n---\n%s", out, out2)
		}
	})
}

// FuzzExtractFromPNG feeds arbitrary bytes to the PNG text reader. It must
// never panic; where the chunk structure is valid, embedding a text and
// extracting it again must give the text back.
func FuzzExtractFromPNG(f *testing.F) {
	plain := smallPNG(f)
	with, err := EmbedInPNG(plain, PNGKey, "version: 1\n")
	if err != nil {
		f.Fatal(err)
	}
	f.Add(plain)
	f.Add(with)
	f.Add(with[:len(with)-3])
	f.Add(withChunk(f, plain, "zTXt", append([]byte(PNGKey+"\x00\x00"), zlibBytes(f, "packed")...)))
	f.Add(withChunk(f, plain, "iTXt", append([]byte(PNGKey+"\x00\x01\x00en\x00\x00"), zlibBytes(f, "größer")...)))
	f.Add(withChunk(f, plain, "tEXt", []byte("Comment\x00hello")))
	f.Add([]byte("\x89PNG\r\n\x1a\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		ExtractFromPNG(data)
		PNGText(data)
		if _, err := pngChunks(data); err != nil {
			return
		}
		const text = "prompt: a cat"
		p, err := EmbedInPNG(data, PNGKey, text)
		if err != nil {
			t.Fatalf("EmbedInPNG on a valid chunk stream: %v", err)
		}
		if got, err := ExtractFromPNG(p); err != nil || got != text {
			t.Fatalf("round trip: %q, %v", got, err)
		}
	})
}
