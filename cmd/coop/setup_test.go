package main

import (
	"errors"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/coop-diffusion/coop/internal/ort"
	"github.com/coop-diffusion/coop/internal/ort/orttest"
)

// setupCLI runs `coop args...` through run, as main does, and returns the
// exit status with what went to stdout and stderr.
func setupCLI(t *testing.T, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	dir := t.TempDir()
	outF, err := os.Create(filepath.Join(dir, "stdout"))
	if err != nil {
		t.Fatal(err)
	}
	errF, err := os.Create(filepath.Join(dir, "stderr"))
	if err != nil {
		t.Fatal(err)
	}
	code = run(append([]string{"coop"}, args...), outF, errF)
	outF.Close()
	errF.Close()
	o, _ := os.ReadFile(outF.Name())
	e, _ := os.ReadFile(errF.Name())
	return code, string(o), string(e)
}

// isolateSetup points every place coop looks for ONNX Runtime at empty
// temporary directories and makes any download attempt fail the test.
func isolateSetup(t *testing.T) (cacheLib string) {
	t.Helper()
	t.Setenv(ort.CacheEnv, t.TempDir())
	t.Setenv(ort.LibraryEnv, "")
	t.Setenv("LD_LIBRARY_PATH", "")
	t.Setenv("PATH", t.TempDir()) // no npm
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		t.Errorf("coop setup contacted the registry: %s", r.URL)
		http.NotFound(w, r)
	}))
	t.Cleanup(srv.Close)
	t.Setenv("npm_config_registry", srv.URL)
	cacheLib, err := ort.CachedLibraryPath()
	if err != nil {
		t.Fatal(err)
	}
	return cacheLib
}

func TestSetupCheck(t *testing.T) {
	lib := orttest.Library(t)
	isolateSetup(t)

	missing := filepath.Join(t.TempDir(), "libonnxruntime.so")
	code, _, stderr := setupCLI(t, "--ort-lib", missing, "setup", "--check")
	if code != 1 || !strings.Contains(stderr, missing) || !strings.Contains(stderr, "does not exist") {
		t.Errorf("--check with a missing --ort-lib: status %d, stderr %q", code, stderr)
	}

	t.Setenv(ort.LibraryEnv, lib)
	code, stdout, stderr := setupCLI(t, "setup", "--check")
	if code != 0 || !strings.Contains(stdout, lib) || !strings.Contains(stdout, ort.SourceEnv) || !strings.Contains(stdout, "ONNX Runtime 1.") {
		t.Errorf("--check with $%s: status %d, stdout %q, stderr %q", ort.LibraryEnv, code, stdout, stderr)
	}
}

func TestSetupCheckNotFound(t *testing.T) {
	cacheLib := isolateSetup(t)
	if path, source, err := ort.Locate(""); err == nil {
		t.Skipf("this machine has ONNX Runtime in a system directory (%s, %s); nothing to miss", path, source)
	}
	code, stdout, stderr := setupCLI(t, "setup", "--check")
	if code != 1 || stdout != "" {
		t.Errorf("status %d, stdout %q; want 1 and nothing", code, stdout)
	}
	for _, want := range []string{"coop setup", cacheLib, "--ort-lib", ort.LibraryEnv} {
		if !strings.Contains(stderr, want) {
			t.Errorf("stderr %q does not mention %q", stderr, want)
		}
	}
}

func TestSetupWithIntactCache(t *testing.T) {
	lib := orttest.Library(t)
	cacheLib := isolateSetup(t)
	if err := os.MkdirAll(filepath.Dir(cacheLib), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(lib, cacheLib); err != nil {
		t.Fatal(err)
	}
	code, stdout, stderr := setupCLI(t, "setup")
	if code != 0 {
		// A library from elsewhere (another build) fails the hash check,
		// which makes Setup try to download: the registry stub then fails
		// the test. Say which.
		t.Fatalf("status %d, stderr %q (is %s the onnxruntime-node %s build?)", code, stderr, lib, ort.Version)
	}
	if strings.TrimSpace(stdout) != cacheLib || !strings.Contains(stderr, "already installed") {
		t.Errorf("stdout %q, stderr %q; want the cached path and 'already installed'", stdout, stderr)
	}
}

func TestSetupBadUsage(t *testing.T) {
	isolateSetup(t)
	for _, args := range [][]string{
		{"setup", "extra"},
		{"setup", "--check", "--force"},
	} {
		if code, _, stderr := setupCLI(t, args...); code != 2 {
			t.Errorf("coop %v: status %d (stderr %q), want 2", args, code, stderr)
		}
	}
}

// setup --check --cuda checks the CUDA build that --device cuda loads, not
// the CPU build it would fall back to; run --device cuda says to install
// it before any model runs.
func TestSetupCheckCUDA(t *testing.T) {
	lib := orttest.Library(t)
	if len(ort.MissingCUDAProviders(lib)) == 0 {
		t.Skip("the test library is a CUDA build")
	}
	cacheLib := isolateSetup(t)
	if err := os.MkdirAll(filepath.Dir(cacheLib), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(lib, cacheLib); err != nil {
		t.Fatal(err)
	}
	code, stdout, stderr := setupCLI(t, "setup", "--check", "--cuda")
	if code != 1 || stdout != "" || !strings.Contains(stderr, "coop setup --cuda") || !strings.Contains(stderr, "CUDA build of ONNX Runtime "+ort.CUDAVersion+" is not installed") {
		t.Errorf("--check --cuda with only the CPU build: status %d, stdout %q, stderr %q", code, stdout, stderr)
	}
	code, stdout, stderr = setupCLI(t, "--ort-lib", lib, "setup", "--check", "--cuda")
	if code != 1 || stdout != "" || !strings.Contains(stderr, "coop setup --cuda") {
		t.Errorf("--check --cuda with a CPU --ort-lib: status %d, stdout %q, stderr %q", code, stdout, stderr)
	}
	if err := initRuntime("", ort.DeviceCUDA); err == nil || !strings.Contains(err.Error(), "coop setup --cuda") {
		t.Errorf("initRuntime for cuda with only the CPU build: %v", err)
	}
	if err := initRuntime(lib, ort.DeviceCUDA); !isBadInput(err) || !strings.Contains(err.Error(), "coop setup --cuda") {
		t.Errorf("initRuntime for cuda with a CPU --ort-lib: %v", err)
	}
}

// An error from a session that cannot get the CUDA provider names the
// command that installs it.
func TestCUDAHint(t *testing.T) {
	err := cudaHint(errors.New("device cuda: the ONNX Runtime library /x/libonnxruntime.so.1 has no usable CUDA execution provider: libonnxruntime_providers_shared.so: cannot open shared object file"))
	if err == nil || !strings.Contains(err.Error(), "coop setup --cuda") {
		t.Errorf("cudaHint: %v", err)
	}
	if err := cudaHint(errors.New("other")); err.Error() != "other" {
		t.Errorf("cudaHint changed an unrelated error: %v", err)
	}
	if cudaHint(nil) != nil {
		t.Error("cudaHint(nil) is not nil")
	}
}
