package clip

import (
	"os"
	"path/filepath"
	"sync"
	"testing"
)

// sharedClipDir finds the CLIP reference files: $COOP_SHARED/clip (or
// $COOP_SHARED itself), else a shared/clip folder beside the repository or
// any folder above the test. CI always checks out shared/ beside the
// repository, so not finding it is a failure, not a reason to skip.
func sharedClipDir(tb testing.TB) string {
	tb.Helper()
	var tried []string
	if env := os.Getenv("COOP_SHARED"); env != "" {
		for _, d := range []string{filepath.Join(env, "clip"), env} {
			if fileExists(filepath.Join(d, VocabFile)) {
				return d
			}
			tried = append(tried, d)
		}
	}
	wd, err := os.Getwd()
	if err != nil {
		tb.Fatal(err)
	}
	for dir := wd; ; dir = filepath.Dir(dir) {
		d := filepath.Join(dir, "shared", "clip")
		if fileExists(filepath.Join(d, VocabFile)) {
			return d
		}
		tried = append(tried, d)
		if filepath.Dir(dir) == dir {
			break
		}
	}
	tb.Fatalf("CLIP reference files (vocab.json, merges.txt, tokenizer_vectors.json) not found; "+
		"set COOP_SHARED to the shared folder or check it out beside the repository. Looked in %v", tried)
	return ""
}

var (
	sharedOnce sync.Once
	sharedTok  *Tokenizer
	sharedErr  error
)

// sharedTokenizer loads the real CLIP tokenizer once for all tests.
func sharedTokenizer(tb testing.TB) *Tokenizer {
	tb.Helper()
	dir := sharedClipDir(tb)
	sharedOnce.Do(func() { sharedTok, sharedErr = Load(dir) })
	if sharedErr != nil {
		tb.Fatal(sharedErr)
	}
	return sharedTok
}
