package clip_test

import (
	"fmt"
	"log"
	"path/filepath"

	"github.com/coop-diffusion/coop/adapters/clip"
)

func ExampleParseWeights() {
	frags, err := clip.ParseWeights(`a (red:1.3) car, [blurry], ((sharp)) \(2024\)`)
	if err != nil {
		log.Fatal(err)
	}
	for _, f := range frags {
		fmt.Printf("%q × %.4g\n", f.Text, f.Weight)
	}

	_, err = clip.ParseWeights("a photo of a (cat")
	fmt.Println(err)
	// Output:
	// "a " × 1
	// "red" × 1.3
	// " car, " × 1
	// "blurry" × 0.9091
	// ", " × 1
	// "sharp" × 1.21
	// " (2024)" × 1
	// prompt:1:14: unbalanced "(" opened here
}

func ExampleTokenizer_EncodePrompt() {
	// A tokenizer folder as diffusers writes it (vocab.json, merges.txt,
	// special_tokens_map.json), or the model folder holding it as
	// tokenizer/. Here: the reference files checked out beside the
	// repository.
	tok, err := clip.Load(filepath.Join("..", "..", "..", "shared", "clip"))
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(tok.Sequence(tok.Encode("A photo of a cat.")))

	e, err := tok.EncodePrompt("a photo of a (cat:1.5)", clip.Options{})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(e.Windows(), "window of", len(e.IDs[0]))
	fmt.Println(e.IDs[0][:8])
	fmt.Println(e.Weights[0][:8])
	// Output:
	// [49406 320 1125 539 320 2368 269 49407]
	// 1 window of 77
	// [49406 320 1125 539 320 2368 49407 49407]
	// [1 1 1 1 1 1.5 1 1]
}
