package atomicfile_test

import (
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/coop-diffusion/coop/internal/atomicfile"
)

func TestWrite(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "a.txt")
	if err := atomicfile.WriteBytes(path, []byte("one"), false); err != nil {
		t.Fatal(err)
	}
	err := atomicfile.WriteBytes(path, []byte("two"), false)
	if !errors.Is(err, atomicfile.ErrExists) {
		t.Fatalf("second write without overwrite: %v, want ErrExists", err)
	}
	if b, _ := os.ReadFile(path); string(b) != "one" {
		t.Fatalf("refused write changed the file to %q", b)
	}
	if err := atomicfile.WriteBytes(path, []byte("three"), true); err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(path); string(b) != "three" {
		t.Fatalf("overwrite left %q", b)
	}
	st, err := os.Stat(path)
	if err != nil || st.Mode().Perm() != 0o644 {
		t.Fatalf("mode %v, %v; want 0644", st.Mode(), err)
	}
	// A failing writer leaves nothing behind, not even a temporary file.
	bad := filepath.Join(dir, "b.txt")
	err = atomicfile.Write(bad, false, func(w io.Writer) error {
		w.Write([]byte("partial"))
		return errors.New("disk on fire")
	})
	if err == nil {
		t.Fatal("a failing writer reported success")
	}
	entries, _ := os.ReadDir(dir)
	if len(entries) != 1 {
		var names []string
		for _, e := range entries {
			names = append(names, e.Name())
		}
		t.Fatalf("folder holds %v after a failed write, want only a.txt", names)
	}
}

// A final name near the file system's 255-byte limit still gets a
// temporary name it takes.
func TestWriteLongName(t *testing.T) {
	dir := t.TempDir()
	for _, n := range []int{200, 240, 251, 255} {
		path := filepath.Join(dir, strings.Repeat("é", n/2)+strings.Repeat("a", n%2))
		if err := atomicfile.WriteBytes(path, []byte("x"), false); err != nil {
			t.Fatalf("%d-byte name: %v", n, err)
		}
		if err := atomicfile.WriteBytes(path, []byte("y"), true); err != nil {
			t.Fatalf("%d-byte name, overwriting: %v", n, err)
		}
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 4 {
		t.Errorf("folder holds %d entries, want the 4 files", len(entries))
	}
}
