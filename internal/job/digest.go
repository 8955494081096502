package job

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"github.com/coop-diffusion/coop/internal/atomicfile"
	"io"
	"os"
	"path/filepath"
	"sort"
	"sync"

	"github.com/coop-diffusion/coop/adapters"
	"github.com/coop-diffusion/coop/internal/modelfolder"
)

// ModelFile is one file of a model's weights: an ONNX graph the model's
// family uses, or an external data file beside it.
type ModelFile struct {
	// Path is the file's path; Rel is the same path relative to the
	// model's folder, with forward slashes; Size is in bytes.
	Path string `json:"path"`
	Rel  string `json:"rel"`
	Size int64  `json:"size"`
}

// ModelFiles lists the files that hold a model's weights: every ONNX file
// Check found the family using (info.Components) and the external data
// files each references (model.onnx_data), sorted by Rel. Tokenizer,
// scheduler and configuration files are not included.
func ModelFiles(info *adapters.Info) ([]ModelFile, error) { return modelFiles(info, nil) }

// modelFiles is ModelFiles of the components keep accepts (all when keep
// is nil).
func modelFiles(info *adapters.Info, keep func(adapters.Component) bool) ([]ModelFile, error) {
	f, err := modelfolder.Scan(info.Dir)
	if err != nil {
		return nil, fmt.Errorf("model %q: %w", info.Name, err)
	}
	root := f.Path
	if f.SingleFile {
		root = filepath.Dir(f.Path)
	}
	byPath := make(map[string]*modelfolder.Component)
	for _, c := range f.Components {
		if c.HasModel() {
			byPath[filepath.Clean(c.ModelPath)] = c
		}
	}
	seen := make(map[string]bool)
	var out []ModelFile
	add := func(path string, size int64) error {
		path = filepath.Clean(path)
		if seen[path] {
			return nil
		}
		seen[path] = true
		rel, err := filepath.Rel(root, path)
		if err != nil {
			return fmt.Errorf("model %q: %w", info.Name, err)
		}
		out = append(out, ModelFile{Path: path, Rel: filepath.ToSlash(rel), Size: size})
		return nil
	}
	for _, comp := range info.Components {
		if keep != nil && !keep(comp) {
			continue
		}
		c := byPath[filepath.Clean(comp.Path)]
		if c == nil {
			st, err := os.Stat(comp.Path)
			if err != nil {
				return nil, fmt.Errorf("model %q: %s: %w", info.Name, comp.Role, err)
			}
			if err := add(comp.Path, st.Size()); err != nil {
				return nil, err
			}
			continue
		}
		if err := add(c.ModelPath, c.Size); err != nil {
			return nil, err
		}
		for _, d := range c.DataFiles {
			if d.Exists {
				if err := add(d.Path, d.Size); err != nil {
					return nil, err
				}
			}
		}
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("model %q (%s): no model files", info.Name, info.Dir)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Rel < out[j].Rel })
	return out, nil
}

// ModelDigest is the SHA-256 that identifies a model's weights, in hex:
// for a model held in one file, that file's digest (what sha256sum
// prints); for several files, the digest of their sha256sum listing
// ("HEX  REL\n" per file of ModelFiles, in that order), so that a change
// to any graph or weights file changes it. File digests come from cache
// when it is not nil.
func ModelDigest(info *adapters.Info, cache *DigestCache) (string, error) {
	files, err := ModelFiles(info)
	if err != nil {
		return "", err
	}
	sums := make([]string, len(files))
	for i, f := range files {
		if sums[i], err = cache.FileSHA256(f.Path); err != nil {
			return "", fmt.Errorf("model %q: %w", info.Name, err)
		}
	}
	if len(files) == 1 {
		return sums[0], nil
	}
	h := sha256.New()
	for i, f := range files {
		fmt.Fprintf(h, "%s  %s\n", sums[i], f.Rel)
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

// Digests returns every model's ModelDigest by recipe name.
func (j *Job) Digests(cache *DigestCache) (map[string]string, error) {
	out := make(map[string]string, len(j.Infos))
	for _, name := range j.Recipe.ModelNames() {
		info := j.Infos[name]
		if info == nil {
			continue
		}
		d, err := ModelDigest(info, cache)
		if err != nil {
			return nil, err
		}
		out[name] = d
	}
	return out, nil
}

// DigestCache remembers file digests by path, size and modification time,
// so that the weights of a large model (gigabytes; hashing them takes
// seconds to minutes) are read once, not on every run. A nil
// *DigestCache hashes every time.
type DigestCache struct {
	path    string
	mu      sync.Mutex
	entries map[string]digestEntry
	dirty   bool
}

type digestEntry struct {
	Size    int64  `json:"size"`
	ModNano int64  `json:"mtime_ns"`
	SHA256  string `json:"sha256"`
}

// maxDigestEntries bounds the cache file; the oldest-named entries go
// first when it is exceeded (an arbitrary but deterministic choice).
const maxDigestEntries = 4096

// DigestCacheFile is the cache's file name inside coop's cache folder.
const DigestCacheFile = "sha256.json"

// OpenDigestCache reads the cache stored at path (missing or unreadable
// files give an empty cache: it only saves time). An empty path keeps the
// cache in memory.
func OpenDigestCache(path string) *DigestCache {
	c := &DigestCache{path: path, entries: map[string]digestEntry{}}
	if path == "" {
		return c
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return c
	}
	var stored struct {
		Files map[string]digestEntry `json:"files"`
	}
	if json.Unmarshal(data, &stored) == nil && stored.Files != nil {
		c.entries = stored.Files
	}
	return c
}

// FileSHA256 returns the hex SHA-256 of the file at path, from the cache
// when the file's size and modification time are those recorded.
func (c *DigestCache) FileSHA256(path string) (string, error) {
	abs, err := filepath.Abs(path)
	if err != nil {
		return "", err
	}
	st, err := os.Stat(abs)
	if err != nil {
		return "", err
	}
	if st.IsDir() {
		return "", fmt.Errorf("%s is a folder, not a file", path)
	}
	key := digestEntry{Size: st.Size(), ModNano: st.ModTime().UnixNano()}
	if c != nil {
		c.mu.Lock()
		e, ok := c.entries[abs]
		c.mu.Unlock()
		if ok && e.Size == key.Size && e.ModNano == key.ModNano {
			return e.SHA256, nil
		}
	}
	f, err := os.Open(abs)
	if err != nil {
		return "", err
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return "", fmt.Errorf("%s: %w", path, err)
	}
	sum := hex.EncodeToString(h.Sum(nil))
	if c != nil {
		key.SHA256 = sum
		c.mu.Lock()
		c.entries[abs] = key
		c.dirty = true
		c.mu.Unlock()
	}
	return sum, nil
}

// Save writes the cache back atomically when it learned something. A
// failure to save costs only time later; callers may ignore it.
func (c *DigestCache) Save() error {
	if c == nil || c.path == "" {
		return nil
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.dirty {
		return nil
	}
	if len(c.entries) > maxDigestEntries {
		keys := make([]string, 0, len(c.entries))
		for k := range c.entries {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys[:len(keys)-maxDigestEntries] {
			delete(c.entries, k)
		}
	}
	data, err := json.MarshalIndent(struct {
		Files map[string]digestEntry `json:"files"`
	}{c.entries}, "", " ")
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(c.path), 0o755); err != nil {
		return err
	}
	if err := WriteFileAtomic(c.path, data, true); err != nil {
		return err
	}
	c.dirty = false
	return nil
}

// ErrExists is wrapped by the error WriteFileAtomic returns when the file
// exists and overwrite is false.
var ErrExists = atomicfile.ErrExists

// WriteFileAtomic writes data to path through a temporary file in the same
// folder (see internal/atomicfile). Without overwrite an existing file is
// an error wrapping ErrExists and is left untouched.
func WriteFileAtomic(path string, data []byte, overwrite bool) error {
	err := atomicfile.WriteBytes(path, data, overwrite)
	if errors.Is(err, ErrExists) {
		return fmt.Errorf("%w (use --force)", err)
	}
	return err
}
