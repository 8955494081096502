package ort

import (
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

// fakeLibrary writes a placeholder file; Locate only checks existence.
func fakeLibrary(t *testing.T, path string) string {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte("not really a library"), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// testLocator builds a locator over temporary directories: env holds the
// environment, cache the cache path, system the system directories.
func testLocator(env map[string]string, cache string, system ...string) locator {
	return locator{
		getenv:     func(k string) string { return env[k] },
		cachePath:  func() (string, error) { return cache, nil },
		systemDirs: func() []string { return system },
	}
}

func TestLocateOrder(t *testing.T) {
	dir := t.TempDir()
	flagLib := fakeLibrary(t, filepath.Join(dir, "flag", "libonnxruntime.so"))
	envLib := fakeLibrary(t, filepath.Join(dir, "env", "libonnxruntime.so.1"))
	cacheLib := fakeLibrary(t, filepath.Join(dir, "cache", "onnxruntime", Version, "libonnxruntime.so.1"))
	sys1 := filepath.Join(dir, "sys1") // holds nothing
	sys2 := filepath.Join(dir, "sys2")
	sysLib := fakeLibrary(t, filepath.Join(sys2, "libonnxruntime.so.1"))
	env := map[string]string{LibraryEnv: envLib}

	cases := []struct {
		name       string
		flag       string
		env        map[string]string
		cache      string
		wantPath   string
		wantSource string
	}{
		{"flag beats everything", flagLib, env, cacheLib, flagLib, SourceFlag},
		{"env beats cache", "", env, cacheLib, envLib, SourceEnv},
		{"cache beats system", "", nil, cacheLib, cacheLib, SourceCache},
		{"system last", "", nil, filepath.Join(dir, "empty-cache", "libonnxruntime.so.1"), sysLib, SourceSystem},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			path, source, err := testLocator(c.env, c.cache, sys1, sys2).locate(c.flag, "")
			if err != nil {
				t.Fatal(err)
			}
			if path != c.wantPath || source != c.wantSource {
				t.Errorf("locate = %s from %s, want %s from %s", path, source, c.wantPath, c.wantSource)
			}
		})
	}
}

func TestLocatePrefersUnversionedName(t *testing.T) {
	dir := t.TempDir()
	fakeLibrary(t, filepath.Join(dir, "libonnxruntime.so.1"))
	dev := fakeLibrary(t, filepath.Join(dir, "libonnxruntime.so"))
	path, _, err := testLocator(nil, filepath.Join(dir, "none"), dir).locate("", "")
	if err != nil {
		t.Fatal(err)
	}
	if path != dev {
		t.Errorf("locate = %s, want %s", path, dev)
	}
}

func TestLocateExplicitPathMustExist(t *testing.T) {
	dir := t.TempDir()
	cacheLib := fakeLibrary(t, filepath.Join(dir, "cache", "libonnxruntime.so.1"))
	missing := filepath.Join(dir, "missing", "libonnxruntime.so")

	// A wrong --ort-lib must not fall through to the cached library.
	_, _, err := testLocator(nil, cacheLib).locate(missing, "")
	if err == nil || !strings.Contains(err.Error(), missing) || !strings.Contains(err.Error(), SourceFlag) {
		t.Errorf("missing flag path: err = %v, want one naming %s and %s", err, missing, SourceFlag)
	}
	_, _, err = testLocator(map[string]string{LibraryEnv: missing}, cacheLib).locate("", "")
	if err == nil || !strings.Contains(err.Error(), missing) || !strings.Contains(err.Error(), LibraryEnv) {
		t.Errorf("missing env path: err = %v, want one naming %s and %s", err, missing, LibraryEnv)
	}
	_, _, err = testLocator(nil, cacheLib).locate(dir, "")
	if err == nil || !strings.Contains(err.Error(), "not a regular file") {
		t.Errorf("directory as flag path: err = %v, want 'not a regular file'", err)
	}
}

func TestLocateNotFoundSaysHowToGetIt(t *testing.T) {
	dir := t.TempDir()
	cache := filepath.Join(dir, "cache", "onnxruntime", Version, "libonnxruntime.so.1")
	_, _, err := testLocator(nil, cache, filepath.Join(dir, "sys")).locate("", "")
	if !errors.Is(err, ErrNotFound) {
		t.Fatalf("err = %v, want ErrNotFound", err)
	}
	for _, want := range []string{"coop setup", cache, "--ort-lib", LibraryEnv, filepath.Join(dir, "sys")} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not mention %q", err, want)
		}
	}
}

// TestLocateNotFoundWithoutCacheSaysItOnce: without a cache directory the
// message asks once to set $COOP_CACHE_DIR and once to run coop setup.
func TestLocateNotFoundWithoutCacheSaysItOnce(t *testing.T) {
	t.Setenv(CacheEnv, "")
	t.Setenv("XDG_CACHE_HOME", "")
	t.Setenv("HOME", "")
	l := testLocator(nil, "", filepath.Join(t.TempDir(), "sys"))
	l.cachePath = CachedLibraryPath
	_, _, err := l.locate("", "")
	if !errors.Is(err, ErrNotFound) {
		t.Fatalf("err = %v, want ErrNotFound", err)
	}
	for _, want := range []string{"$" + CacheEnv, "coop setup", "--ort-lib"} {
		if n := strings.Count(err.Error(), want); n != 1 {
			t.Errorf("error %q mentions %q %d times, want once", err, want, n)
		}
	}
}

func TestCachedLibraryPathHonoursCacheEnv(t *testing.T) {
	dir := t.TempDir()
	t.Setenv(CacheEnv, dir)
	got, err := CachedLibraryPath()
	if err != nil {
		t.Fatal(err)
	}
	want := filepath.Join(dir, "onnxruntime", Version, "libonnxruntime.so.1")
	if got != want {
		t.Errorf("CachedLibraryPath = %s, want %s", got, want)
	}

	// The exported Locate reads the same environment.
	t.Setenv(LibraryEnv, "")
	fakeLibrary(t, want)
	path, source, err := Locate("")
	if err != nil || path != want || source != SourceCache {
		t.Errorf("Locate = %s, %s, %v; want %s from the cache", path, source, err, want)
	}
}

func TestLdSoConf(t *testing.T) {
	dir := t.TempDir()
	confd := filepath.Join(dir, "ld.so.conf.d")
	if err := os.MkdirAll(confd, 0o755); err != nil {
		t.Fatal(err)
	}
	write := func(name, text string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	write("ld.so.conf.d/b.conf", "/opt/b/lib\n")
	write("ld.so.conf.d/a.conf", "# comment\n/opt/a/lib   # trailing\n\n/opt/old/lib=libc6\n")
	write("ld.so.conf.d/loop.conf", "include ../ld.so.conf\n")
	main := write("ld.so.conf", "/first\ninclude ld.so.conf.d/*.conf\n")

	got := dedupeDirs(ldSoConfDirs(main, 0))
	want := []string{"/first", "/opt/a/lib", "/opt/old/lib", "/opt/b/lib"}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("ld.so.conf dirs = %q, want %q", got, want)
	}
}

func TestSystemLibraryDirsOrder(t *testing.T) {
	t.Setenv("LD_LIBRARY_PATH", "/custom/lib:/usr/lib")
	dirs := systemLibraryDirs()
	if len(dirs) < 4 || dirs[0] != "/custom/lib" || dirs[1] != "/usr/lib" || dirs[2] != "/usr/local/lib" {
		t.Errorf("system dirs = %q, want $LD_LIBRARY_PATH first, then the defaults without duplicates", dirs)
	}
	seen := map[string]bool{}
	for _, d := range dirs {
		if seen[d] {
			t.Errorf("%s listed twice in %q", d, dirs)
		}
		seen[d] = true
	}
}

// TestLocateForCUDA: for device cuda the CUDA build from coop setup --cuda
// comes before the CPU build of the cache, but after the flag and the
// environment; for the CPU, and when it is not installed, nothing changes.
func TestLocateForCUDA(t *testing.T) {
	dir := t.TempDir()
	cacheLib := fakeLibrary(t, filepath.Join(dir, "cache", "onnxruntime", Version, "libonnxruntime.so.1"))
	cudaLib := filepath.Join(dir, "cache", "onnxruntime", CUDAVersion+"-cuda", "libonnxruntime.so")
	flagLib := fakeLibrary(t, filepath.Join(dir, "flag", "libonnxruntime.so"))
	l := testLocator(nil, cacheLib)
	l.cudaCachePath = func() (string, error) { return cudaLib, nil }
	check := func(what, flag, device, wantPath, wantSource string) {
		t.Helper()
		path, source, err := l.locate(flag, device)
		if err != nil || path != wantPath || source != wantSource {
			t.Errorf("%s: %s from %s (%v), want %s from %s", what, path, source, err, wantPath, wantSource)
		}
	}
	check("cuda, CUDA build not installed", "", DeviceCUDA, cacheLib, SourceCache)
	fakeLibrary(t, cudaLib)
	check("cuda", "", DeviceCUDA, cudaLib, SourceCUDACache)
	check("cpu", "", DeviceCPU, cacheLib, SourceCache)
	check("cuda with --ort-lib", flagLib, DeviceCUDA, flagLib, SourceFlag)
}

// CheckCUDA: --device cuda needs the CUDA provider beside the library;
// the CPU build found instead, or an incomplete CUDA build, is refused
// with the command that installs the CUDA build.
func TestCheckCUDA(t *testing.T) {
	dir := t.TempDir()
	cpu := fakeLibrary(t, filepath.Join(dir, "cpu", "libonnxruntime.so.1"))
	cuda := fakeLibrary(t, filepath.Join(dir, "cuda", "libonnxruntime.so"))
	if got := MissingCUDAProviders(cuda); !reflect.DeepEqual(got, CUDAProviderFiles) {
		t.Errorf("MissingCUDAProviders of a bare library = %v, want %v", got, CUDAProviderFiles)
	}
	for _, c := range []struct{ path, source, want string }{
		{cpu, SourceCache, "run `coop setup --cuda`"},
		{cpu, SourceSystem, "run `coop setup --cuda`"},
		{cpu, SourceFlag, "run `coop setup --cuda`"},
		{cuda, SourceCUDACache, "coop setup --cuda --force"},
	} {
		err := CheckCUDA(c.path, c.source)
		if err == nil || !strings.Contains(err.Error(), c.want) || !strings.Contains(err.Error(), filepath.Dir(c.path)) {
			t.Errorf("%s from %s: %v, want an error saying %q", c.path, c.source, err, c.want)
		}
	}
	for _, name := range CUDAProviderFiles {
		fakeLibrary(t, filepath.Join(filepath.Dir(cuda), name))
	}
	if got := MissingCUDAProviders(cuda); len(got) != 0 {
		t.Errorf("MissingCUDAProviders of a CUDA build = %v", got)
	}
	for _, source := range []string{SourceCUDACache, SourceFlag, SourceEnv} {
		if err := CheckCUDA(cuda, source); err != nil {
			t.Errorf("a CUDA build from %s: %v", source, err)
		}
	}
}
