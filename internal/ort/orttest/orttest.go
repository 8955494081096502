package orttest

import (
	"testing"

	"github.com/coop-diffusion/coop/internal/ort"
)

// Library returns the path of the ONNX Runtime library that ort.Locate finds
// ($ONNXRUNTIME_SHARED_LIBRARY_PATH, the cache filled by `coop setup`, then
// system directories), failing t with the setup instructions when there is
// none.
func Library(t testing.TB) string {
	t.Helper()
	path, _, err := ort.Locate("")
	if err != nil {
		t.Fatalf("tests need ONNX Runtime: %v\n(from the repository root: go run ./cmd/coop setup)", err)
	}
	return path
}

// Init loads the library Library finds into the test process (once per
// process; later calls return at once).
func Init(t testing.TB) {
	t.Helper()
	if err := ort.Init(Library(t)); err != nil {
		t.Fatalf("tests need ONNX Runtime: %v", err)
	}
}
