package ort

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"

	ortgo "github.com/yalue/onnxruntime_go"
)

// loaded records the library this process loaded. ONNX Runtime lives in
// process-wide state (one dlopen'd library, one OrtEnv), so Init is guarded
// by a mutex rather than a sync.Once: a failed attempt must leave the way
// open for another path.
var loaded struct {
	sync.Mutex
	path string // absolute path of the loaded library; "" before Init
}

// Init loads the ONNX Runtime shared library at libPath and creates the
// process's ONNX Runtime environment. It is idempotent and safe for
// concurrent use: later calls with the same library return nil at once. A
// process can load only one library; calling Init with a different file
// after a successful Init is an error naming both.
func Init(libPath string) error {
	if libPath == "" {
		return fmt.Errorf("loading ONNX Runtime: no library path given")
	}
	abs, err := filepath.Abs(libPath)
	if err != nil {
		return fmt.Errorf("loading ONNX Runtime from %s: %w", libPath, err)
	}
	if err := checkLibraryFile(abs); err != nil {
		return fmt.Errorf("loading ONNX Runtime: %w", err)
	}
	loaded.Lock()
	defer loaded.Unlock()
	if loaded.path != "" {
		if sameFile(loaded.path, abs) {
			return nil
		}
		return fmt.Errorf("loading ONNX Runtime from %s: this process already loaded %s, and a process can use only one ONNX Runtime library", abs, loaded.path)
	}
	// The absolute path makes dlopen load exactly this file instead of
	// searching the library path for a bare name.
	ortgo.SetSharedLibraryPath(abs)
	if err := ortgo.InitializeEnvironment(ortgo.WithLogLevelError()); err != nil {
		msg := err.Error()
		if strings.Contains(msg, "ORT API base") {
			msg += fmt.Sprintf(" (the library does not serve ONNX Runtime C API version 24: coop needs ONNX Runtime 1.24 or later; `coop setup` installs %s)", Version)
		}
		return fmt.Errorf("loading ONNX Runtime from %s: %s", abs, msg)
	}
	if err := bindCAPI(abs); err != nil {
		return fmt.Errorf("loading ONNX Runtime from %s: %w", abs, err)
	}
	loaded.path = abs
	return nil
}

// Initialized reports whether Init succeeded in this process.
func Initialized() bool {
	loaded.Lock()
	defer loaded.Unlock()
	return loaded.path != ""
}

// LoadedLibrary returns the absolute path of the library Init loaded, or ""
// before Init.
func LoadedLibrary() string {
	loaded.Lock()
	defer loaded.Unlock()
	return loaded.path
}

// RuntimeVersion returns the version string of the loaded ONNX Runtime
// ("1.24.3"), or "" before Init.
func RuntimeVersion() string {
	if !Initialized() {
		return ""
	}
	return ortgo.GetVersion()
}

func sameFile(a, b string) bool {
	if a == b {
		return true
	}
	sa, err1 := os.Stat(a)
	sb, err2 := os.Stat(b)
	return err1 == nil && err2 == nil && os.SameFile(sa, sb)
}

// errNotInitialized is returned by Open before Init.
func errNotInitialized(what string) error {
	return fmt.Errorf("%s: ONNX Runtime is not loaded (call ort.Init with the path from ort.Locate first)", what)
}
