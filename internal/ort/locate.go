package ort

import (
	"bufio"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
)

// Version is the ONNX Runtime release that Setup installs and that the
// project is tested against.
const Version = "1.24.3"

// LibraryEnv is the environment variable naming the ONNX Runtime shared
// library; onnxruntime_go's own examples use the same name.
const LibraryEnv = "ONNXRUNTIME_SHARED_LIBRARY_PATH"

// CacheEnv overrides the per-user cache directory that Setup fills.
const CacheEnv = "COOP_CACHE_DIR"

// Sources reported by Locate: where the library it returns was found.
const (
	SourceFlag   = "--ort-lib"
	SourceEnv    = "$" + LibraryEnv
	SourceCache  = "cache"
	SourceSystem = "system"
	// SourceCUDACache is the CUDA build coop setup --cuda installs, which
	// LocateFor picks for device cuda before the CPU build.
	SourceCUDACache = "CUDA cache"
)

// ErrNotFound is wrapped by the error Locate returns when no library exists
// anywhere it looks.
var ErrNotFound = errors.New("ONNX Runtime shared library not found")

// libraryNames are the file names tried in each system directory: the
// unversioned development link first, then the soname that release archives
// and the npm package ship.
var libraryNames = []string{"libonnxruntime.so", "libonnxruntime.so.1"}

// defaultSystemDirs are searched after $LD_LIBRARY_PATH and before the
// directories listed in /etc/ld.so.conf.
var defaultSystemDirs = []string{"/usr/local/lib", "/usr/lib", "/usr/lib/x86_64-linux-gnu"}

// CacheDir returns the per-user cache directory of coop: $COOP_CACHE_DIR when
// set, else the "coop" directory under os.UserCacheDir.
func CacheDir() (string, error) {
	if dir := os.Getenv(CacheEnv); dir != "" {
		return dir, nil
	}
	base, err := os.UserCacheDir()
	if err != nil {
		return "", fmt.Errorf("no cache directory for ONNX Runtime (set $%s): %w", CacheEnv, err)
	}
	return filepath.Join(base, "coop"), nil
}

// CachedLibraryPath returns where Setup puts the library:
// <CacheDir>/onnxruntime/<Version>/libonnxruntime.so.1.
func CachedLibraryPath() (string, error) {
	dir, err := CacheDir()
	if err != nil {
		return "", err
	}
	return filepath.Join(dir, "onnxruntime", Version, "libonnxruntime.so.1"), nil
}

// CachedCUDALibraryPath is where Setup with SetupOptions.CUDA installs
// the CUDA build of ONNX Runtime CUDAVersion, with its providers beside it.
func CachedCUDALibraryPath() (string, error) {
	dir, err := CacheDir()
	if err != nil {
		return "", err
	}
	return filepath.Join(dir, "onnxruntime", CUDAVersion+"-cuda", "libonnxruntime.so"), nil
}

// Locate finds the ONNX Runtime shared library to load and reports where it
// came from (one of the Source constants). It tries, in order: flagPath (the
// --ort-lib flag, ignored when empty), $ONNXRUNTIME_SHARED_LIBRARY_PATH, the
// cache that Setup fills, and the system library directories
// ($LD_LIBRARY_PATH, /usr/local/lib, /usr/lib, /usr/lib/x86_64-linux-gnu and
// the directories of /etc/ld.so.conf, each for libonnxruntime.so and
// libonnxruntime.so.1).
//
// A path given explicitly by the flag or the environment must exist: Locate
// does not fall back to another library when the user named one, since
// silently loading a different build is worse than stopping. When nothing is
// found, the error wraps ErrNotFound and says how to get the library.
func Locate(flagPath string) (path, source string, err error) {
	return systemLocator().locate(flagPath, "")
}

// LocateFor is Locate for sessions on device: for DeviceCUDA, the CUDA
// build coop setup --cuda installed (CachedCUDALibraryPath) comes before
// the CPU build of the cache, when the flag and the environment name no
// library.
func LocateFor(flagPath, device string) (path, source string, err error) {
	return systemLocator().locate(flagPath, device)
}

// CUDAProviderFiles are the libraries the CUDA build coop setup --cuda
// installs puts beside libonnxruntime.so: ONNX Runtime loads its CUDA
// execution provider from them.
var CUDAProviderFiles = []string{"libonnxruntime_providers_shared.so", cudaProviderLibrary}

// MissingCUDAProviders lists the CUDAProviderFiles that are not beside the
// ONNX Runtime library at libPath: none for a CUDA build as coop setup
// --cuda installs it, all of them for a CPU build.
func MissingCUDAProviders(libPath string) []string {
	var missing []string
	for _, name := range CUDAProviderFiles {
		if checkLibraryFile(filepath.Join(filepath.Dir(libPath), name)) != nil {
			missing = append(missing, name)
		}
	}
	return missing
}

// CheckCUDA checks that the library LocateFor found for device cuda
// (path, from source) has the CUDA execution provider beside it; the
// error says to run coop setup --cuda. A library named by the flag or the
// environment is the user's choice and only needs the provider library
// itself, which a build with CUDA always ships as a separate file.
func CheckCUDA(path, source string) error {
	missing := MissingCUDAProviders(path)
	if source == SourceFlag || source == SourceEnv {
		if checkLibraryFile(filepath.Join(filepath.Dir(path), cudaProviderLibrary)) == nil {
			return nil
		}
		return fmt.Errorf("device cuda: the ONNX Runtime library %s (given by %s) has no CUDA execution provider (%s) beside it; run `coop setup --cuda` to install the CUDA build of ONNX Runtime %s, or name a CUDA build", path, source, cudaProviderLibrary, CUDAVersion)
	}
	if len(missing) == 0 {
		return nil
	}
	if source == SourceCUDACache {
		return fmt.Errorf("device cuda: the CUDA build of ONNX Runtime in %s is incomplete (%s missing); run `coop setup --cuda --force` to install it again", filepath.Dir(path), strings.Join(missing, ", "))
	}
	where := "the cache"
	if p, err := CachedCUDALibraryPath(); err == nil {
		where = p
	}
	return fmt.Errorf("device cuda: the CUDA build of ONNX Runtime %s is not installed (looked for %s); the library found, %s (from %s), has no CUDA execution provider: run `coop setup --cuda` to install it", CUDAVersion, where, path, source)
}

// locator holds Locate's inputs so that tests can point every step at
// temporary directories.
type locator struct {
	getenv        func(string) string
	cachePath     func() (string, error)
	cudaCachePath func() (string, error)
	systemDirs    func() []string
}

func systemLocator() locator {
	return locator{getenv: os.Getenv, cachePath: CachedLibraryPath, cudaCachePath: CachedCUDALibraryPath, systemDirs: systemLibraryDirs}
}

func (l locator) locate(flagPath, device string) (string, string, error) {
	if flagPath != "" {
		if err := checkLibraryFile(flagPath); err != nil {
			return "", "", fmt.Errorf("ONNX Runtime library given by %s: %w", SourceFlag, err)
		}
		return flagPath, SourceFlag, nil
	}
	if p := l.getenv(LibraryEnv); p != "" {
		if err := checkLibraryFile(p); err != nil {
			return "", "", fmt.Errorf("ONNX Runtime library given by %s: %w", SourceEnv, err)
		}
		return p, SourceEnv, nil
	}
	if device == DeviceCUDA && l.cudaCachePath != nil {
		if p, err := l.cudaCachePath(); err == nil && checkLibraryFile(p) == nil {
			return p, SourceCUDACache, nil
		}
	}
	cached, cacheErr := l.cachePath()
	if cacheErr == nil && checkLibraryFile(cached) == nil {
		return cached, SourceCache, nil
	}
	var searched []string
	for _, dir := range l.systemDirs() {
		for _, name := range libraryNames {
			p := filepath.Join(dir, name)
			if checkLibraryFile(p) == nil {
				return p, SourceSystem, nil
			}
		}
		searched = append(searched, dir)
	}
	setupHint := "run `coop setup` to download ONNX Runtime " + Version
	if cacheErr == nil {
		setupHint += " into " + cached
	} else {
		// CacheDir's error says to set $COOP_CACHE_DIR itself; say it once.
		reason := cacheErr
		if inner := errors.Unwrap(cacheErr); inner != nil {
			reason = inner
		}
		setupHint += fmt.Sprintf(" (after setting $%s: %v)", CacheEnv, reason)
	}
	return "", "", fmt.Errorf("%w: %s, or pass --ort-lib PATH, or set $%s (searched the cache and %s for %s)",
		ErrNotFound, setupHint, LibraryEnv, strings.Join(searched, ", "), strings.Join(libraryNames, ", "))
}

// checkLibraryFile reports whether path names an existing regular file
// (following symbolic links); whether it really is a loadable library is
// Init's business.
func checkLibraryFile(path string) error {
	st, err := os.Stat(path)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("%s does not exist", path)
		}
		return err
	}
	if !st.Mode().IsRegular() {
		return fmt.Errorf("%s is not a regular file (mode %v)", path, st.Mode().Type())
	}
	return nil
}

// systemLibraryDirs lists the directories the dynamic linker searches, in
// its order: $LD_LIBRARY_PATH, then the usual system directories, then those
// configured in /etc/ld.so.conf. Duplicates are dropped.
func systemLibraryDirs() []string {
	var dirs []string
	dirs = append(dirs, filepath.SplitList(os.Getenv("LD_LIBRARY_PATH"))...)
	dirs = append(dirs, defaultSystemDirs...)
	dirs = append(dirs, ldSoConfDirs("/etc/ld.so.conf", 0)...)
	return dedupeDirs(dirs)
}

func dedupeDirs(dirs []string) []string {
	seen := make(map[string]bool, len(dirs))
	out := dirs[:0]
	for _, d := range dirs {
		if d == "" {
			continue
		}
		d = filepath.Clean(d)
		if seen[d] {
			continue
		}
		seen[d] = true
		out = append(out, d)
	}
	return out
}

// ldSoConfDirs reads a ld.so.conf file: one directory per line, "#"
// comments, and "include GLOB" lines naming further files (relative globs are
// relative to the including file's directory). depth bounds include cycles.
// Unreadable files contribute nothing: the search is best effort.
func ldSoConfDirs(path string, depth int) []string {
	if depth > 8 {
		return nil
	}
	f, err := os.Open(path)
	if err != nil {
		return nil
	}
	defer f.Close()
	var dirs []string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := sc.Text()
		if i := strings.IndexByte(line, '#'); i >= 0 {
			line = line[:i]
		}
		line = strings.TrimSpace(line)
		if line == "" {
			continue
		}
		if rest, ok := strings.CutPrefix(line, "include"); ok && (rest == "" || rest[0] == ' ' || rest[0] == '\t') {
			for _, pattern := range strings.Fields(rest) {
				if !filepath.IsAbs(pattern) {
					pattern = filepath.Join(filepath.Dir(path), pattern)
				}
				matches, _ := filepath.Glob(pattern)
				for _, m := range matches {
					dirs = append(dirs, ldSoConfDirs(m, depth+1)...)
				}
			}
			continue
		}
		// Old-style entries may carry a hwcap suffix ("dir=TYPE").
		if i := strings.IndexByte(line, '='); i >= 0 {
			line = line[:i]
		}
		dirs = append(dirs, line)
	}
	return dirs
}
