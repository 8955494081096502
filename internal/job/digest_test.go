package job_test

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/coop-diffusion/coop/adapters"
	"github.com/coop-diffusion/coop/coop/sampler"
	"github.com/coop-diffusion/coop/graphs"
	"github.com/coop-diffusion/coop/internal/fixtures"
	"github.com/coop-diffusion/coop/internal/job"
	"github.com/coop-diffusion/coop/recipes"
)

func sha256Hex(b []byte) string {
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}

// copyFixture copies a zoo folder, so that a test may change it.
func copyFixture(t *testing.T, name string) string {
	t.Helper()
	dst := filepath.Join(t.TempDir(), name)
	if err := fixtures.Write(filepath.Dir(dst), name); err != nil {
		t.Fatal(err)
	}
	return dst
}

func TestModelDigest(t *testing.T) {
	dir := copyFixture(t, "controlnet-sd15")
	info, err := adapters.Check(dir, adapters.LoadOptions{Name: "cn"})
	if err != nil {
		t.Fatal(err)
	}
	files, err := job.ModelFiles(info)
	if err != nil {
		t.Fatal(err)
	}
	if len(files) != 1 || files[0].Rel != "model.onnx" {
		t.Fatalf("files %+v, want model.onnx alone", files)
	}
	data, err := os.ReadFile(files[0].Path)
	if err != nil {
		t.Fatal(err)
	}
	got, err := job.ModelDigest(info, nil)
	if err != nil || got != sha256Hex(data) {
		t.Errorf("one file: digest %s, %v; want the file's sha256 %s", got, err, sha256Hex(data))
	}

	// A pipeline folder: the digest of the sha256sum listing of its model
	// files (not the tokenizer, scheduler or config files).
	sd := copyFixture(t, "sd15")
	info, err = adapters.Check(sd, adapters.LoadOptions{Name: "sd"})
	if err != nil {
		t.Fatal(err)
	}
	files, err = job.ModelFiles(info)
	if err != nil {
		t.Fatal(err)
	}
	var listing strings.Builder
	var rels []string
	for _, f := range files {
		b, err := os.ReadFile(f.Path)
		if err != nil {
			t.Fatal(err)
		}
		fmt.Fprintf(&listing, "%s  %s\n", sha256Hex(b), f.Rel)
		rels = append(rels, f.Rel)
	}
	if want := []string{"text_encoder/model.onnx", "unet/model.onnx", "vae_decoder/model.onnx", "vae_encoder/model.onnx"}; !reflect.DeepEqual(rels, want) {
		t.Errorf("model files %v, want %v", rels, want)
	}
	cache := job.OpenDigestCache(filepath.Join(t.TempDir(), "cache", job.DigestCacheFile))
	before, err := job.ModelDigest(info, cache)
	if err != nil || before != sha256Hex([]byte(listing.String())) {
		t.Errorf("folder digest %s, %v; want the listing's %s", before, err, sha256Hex([]byte(listing.String())))
	}

	// Changing one byte of the unet changes the digest, also through the
	// cache (the file's size or time changed).
	unet := filepath.Join(sd, "unet", "model.onnx")
	b, _ := os.ReadFile(unet)
	b[len(b)-1] ^= 1
	if err := os.WriteFile(unet, b, 0o644); err != nil {
		t.Fatal(err)
	}
	later := time.Now().Add(time.Minute)
	os.Chtimes(unet, later, later)
	after, err := job.ModelDigest(info, cache)
	if err != nil || after == before {
		t.Errorf("after changing the unet: %s (%v), before %s", after, err, before)
	}
	if err := cache.Save(); err != nil {
		t.Fatal(err)
	}
	// A saved cache answers without reading the file: a stale entry
	// (same size and time, other bytes) shows it.
	cached := job.OpenDigestCache(cachePath(t, cache))
	st, _ := os.Stat(unet)
	b[len(b)-1] ^= 1
	if err := os.WriteFile(unet, b, 0o644); err != nil {
		t.Fatal(err)
	}
	os.Chtimes(unet, st.ModTime(), st.ModTime())
	if d, _ := job.ModelDigest(info, cached); d != after {
		t.Errorf("the saved cache was not used: %s, want the cached %s", d, after)
	}
	if d, _ := job.ModelDigest(info, nil); d != before {
		t.Errorf("without a cache: %s, want %s", d, before)
	}
}

// planText spells a plan out for comparison, with sampler names in their
// canonical form (a scheduler_config.json's class name and coop's name
// for it build the same sampler).
func planText(p *graphs.Plan) string {
	var b strings.Builder
	fmt.Fprintf(&b, "seed %d img2img %+v\n", p.Seed, p.Img2Img)
	for _, s := range p.Stages {
		st := *s
		if canon, err := sampler.Canonical(st.Sampler); err == nil {
			st.Sampler = canon
		}
		st.Participants = nil // printed below
		fmt.Fprintf(&b, "stage %+v\n", st)
		for _, pt := range s.Participants {
			fmt.Fprintf(&b, "  %+v\n", *pt)
		}
	}
	return b.String()
}

// cachePath digs the path out of a cache for the test above.
func cachePath(t *testing.T, c *job.DigestCache) string {
	t.Helper()
	v := reflect.ValueOf(c).Elem().FieldByName("path")
	return v.String()
}

func TestWriteFileAtomic(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "a.png")
	if err := job.WriteFileAtomic(path, []byte("one"), false); err != nil {
		t.Fatal(err)
	}
	err := job.WriteFileAtomic(path, []byte("two"), false)
	if !errors.Is(err, job.ErrExists) || !strings.Contains(err.Error(), "--force") {
		t.Errorf("second write without overwrite: %v", err)
	}
	if b, _ := os.ReadFile(path); string(b) != "one" {
		t.Errorf("the file holds %q after a refused write", b)
	}
	if err := job.WriteFileAtomic(path, []byte("two"), true); err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(path); string(b) != "two" {
		t.Errorf("the file holds %q after an overwrite", b)
	}
	// A write that fails (the target is a folder) leaves nothing.
	sub := filepath.Join(dir, "sub")
	os.Mkdir(sub, 0o755)
	if err := job.WriteFileAtomic(sub, []byte("x"), true); err == nil {
		t.Error("writing over a folder succeeded")
	}
	entries, _ := os.ReadDir(dir)
	if len(entries) != 2 {
		var names []string
		for _, e := range entries {
			names = append(names, e.Name())
		}
		t.Errorf("folder holds %v, want a.png and sub", names)
	}
}

// TestResolvedCompilesToTheSamePlan embeds the resolved recipe of each
// case, loads it back from another folder and compiles it: the plan must
// be the same, with every default written out.
func TestResolvedCompilesToTheSamePlan(t *testing.T) {
	for _, c := range estimateCases {
		p := prepare(t, c.yaml)
		digests, err := p.job.Digests(nil)
		if err != nil {
			t.Fatal(err)
		}
		text, err := p.job.Resolved(42, digests).MarshalEmbedded("test")
		if err != nil {
			t.Fatal(err)
		}
		r, v, err := recipes.Loader{}.LoadEmbedded("x.png", text, t.TempDir())
		if err != nil || v != "test" {
			t.Fatalf("%s: %v\n%s", c.name, err, text)
		}
		again, err := job.Prepare(r)
		if err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		want := *p.job.Plan
		want.Seed = 42
		if a, b := fmt.Sprintf("%+v", planText(again.Plan)), fmt.Sprintf("%+v", planText(&want)); a != b {
			t.Errorf("%s: the resolved recipe compiles to another plan:\n%s\nvs\n%s", c.name, a, b)
		}
		for name, d := range digests {
			if r.Models[name].SHA256 != d {
				t.Errorf("%s: model %s records %q, want %s", c.name, name, r.Models[name].SHA256, d)
			}
			// A prior decoded through a decoder keeps it, with its stage B
			// steps written out.
			if m, given := r.Models[name], p.job.Recipe.Models[name]; m.Decoder != given.Decoder || m.Decoder != "" && m.DecoderSteps == 0 ||
				given.DecoderSteps != 0 && m.DecoderSteps != given.DecoderSteps {
				t.Errorf("%s: model %s resolved with decoder %q, %d steps; the recipe gives %q, %d steps", c.name, name, m.Decoder, m.DecoderSteps, given.Decoder, given.DecoderSteps)
			}
		}
		for _, s := range r.Stages {
			if s.Steps == 0 && r.Steps == 0 || s.Sampler == "" && r.Sampler == "" || s.Width == 0 && r.Width == 0 {
				t.Errorf("%s: a stage leaves defaults to the models: %+v", c.name, s)
			}
			for _, p := range s.Participants {
				if p.Guidance == nil && r.Guidance == nil {
					t.Errorf("%s: a participant of stage %s leaves its guidance to the model", c.name, s.Name)
				}
			}
		}
	}
}
