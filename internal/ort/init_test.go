package ort_test

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/coop-diffusion/coop/internal/ort"
	"github.com/coop-diffusion/coop/internal/ort/orttest"
)

// initChildEnv carries the library path to TestInitInFreshProcess.
const initChildEnv = "COOP_ORT_TEST_INIT_CHILD"

// TestInit checks Init's failures and idempotence. Loading ONNX Runtime is
// process-wide and cannot be undone, and the other tests load it, so the
// checks run in a fresh copy of the test binary.
func TestInit(t *testing.T) {
	lib := orttest.Library(t)
	cmd := exec.Command(os.Args[0], "-test.run=^TestInitInFreshProcess$", "-test.v", "-test.count=1")
	cmd.Env = append(os.Environ(), initChildEnv+"="+lib)
	out, err := cmd.CombinedOutput()
	if err != nil || !strings.Contains(string(out), "--- PASS: TestInitInFreshProcess") {
		t.Fatalf("fresh process: %v\n%s", err, out)
	}
}

func TestInitInFreshProcess(t *testing.T) {
	lib := os.Getenv(initChildEnv)
	if lib == "" {
		t.Skip("TestInit runs this in a fresh process")
	}
	dir := t.TempDir()
	model := filepath.Join(dir, "model.onnx")
	if err := os.WriteFile(model, []byte("unused"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := ort.Open(model, ort.SessionOptions{}); err == nil || !strings.Contains(err.Error(), "not loaded") {
		t.Errorf("Open before Init: err = %v, want 'not loaded'", err)
	}
	if ort.Initialized() || ort.RuntimeVersion() != "" || ort.LoadedLibrary() != "" {
		t.Errorf("state before Init: initialized %v, version %q, library %q", ort.Initialized(), ort.RuntimeVersion(), ort.LoadedLibrary())
	}

	expectErr := func(path string, want ...string) {
		t.Helper()
		err := ort.Init(path)
		if err == nil {
			t.Fatalf("Init(%q) succeeded", path)
		}
		for _, w := range want {
			if !strings.Contains(err.Error(), w) {
				t.Errorf("Init(%q): error %q does not contain %q", path, err, w)
			}
		}
	}
	expectErr("", "no library path")
	missing := filepath.Join(dir, "missing", "libonnxruntime.so")
	expectErr(missing, missing, "does not exist")
	notLib := filepath.Join(dir, "libonnxruntime.so")
	if err := os.WriteFile(notLib, []byte(strings.Repeat("this is a text file, not a shared library\n", 10)), 0o644); err != nil {
		t.Fatal(err)
	}
	expectErr(notLib, notLib, "invalid ELF header")
	// A real shared library that is not ONNX Runtime.
	for _, other := range []string{"/lib/x86_64-linux-gnu/libm.so.6", "/usr/lib/x86_64-linux-gnu/libm.so.6", "/lib64/libm.so.6"} {
		if _, err := os.Stat(other); err == nil {
			expectErr(other, other, "OrtGetApiBase")
			break
		}
	}

	// After failures, the right library still loads, from many goroutines.
	var wg sync.WaitGroup
	errs := make([]error, 8)
	for i := range errs {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			errs[i] = ort.Init(lib)
		}(i)
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Fatalf("concurrent Init %d: %v", i, err)
		}
	}
	abs, _ := filepath.Abs(lib)
	if !ort.Initialized() || ort.LoadedLibrary() != abs || ort.RuntimeVersion() == "" {
		t.Errorf("after Init: initialized %v, library %q (want %q), version %q", ort.Initialized(), ort.LoadedLibrary(), abs, ort.RuntimeVersion())
	}
	// The same file under another name is the same library.
	link := filepath.Join(dir, "link.so")
	if err := os.Symlink(abs, link); err != nil {
		t.Fatal(err)
	}
	if err := ort.Init(link); err != nil {
		t.Errorf("Init through a symlink to the loaded library: %v", err)
	}
	// Another library cannot join.
	expectErr(notLib, "already loaded", abs, notLib)
}
