// Package atomicfile writes files so that readers never see a partial one:
// the content goes to a temporary file in the same folder, is synced, and
// only then takes the final name. Every file coop writes (images, contact
// sheets, interposers, fixture models, caches) goes through it, so an
// interrupted run leaves either the old file, the new file, or nothing.
package atomicfile

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"unicode/utf8"
)

// ErrExists is wrapped by the error Write returns when overwrite is false
// and path exists.
var ErrExists = errors.New("file exists")

// Write creates path with the bytes fill writes. Without overwrite an
// existing path is an error wrapping ErrExists and is left untouched; the
// check is atomic where the file system has hard links (the new file is
// linked to path, which fails if path exists). The file gets mode 0644. On
// any error no temporary file is left behind.
func Write(path string, overwrite bool, fill func(w io.Writer) error) (err error) {
	exists := func() error { return fmt.Errorf("%s: %w; refusing to overwrite it", path, ErrExists) }
	if !overwrite {
		if _, err := os.Lstat(path); err == nil {
			return exists()
		}
	}
	dir, base := filepath.Split(path)
	if dir == "" {
		dir = "."
	}
	tmp, err := os.CreateTemp(dir, "."+tempStem(base)+".*.tmp")
	if err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	name := tmp.Name()
	committed := false
	defer func() {
		if !committed {
			tmp.Close()
			os.Remove(name)
		}
	}()
	buf := bufio.NewWriter(tmp)
	if err := fill(buf); err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	if err := buf.Flush(); err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	if err := tmp.Sync(); err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	// CreateTemp makes the file private; coop's outputs are not.
	if err := os.Chmod(name, 0o644); err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	if overwrite {
		if err := os.Rename(name, path); err != nil {
			return fmt.Errorf("%s: %w", path, err)
		}
		committed = true
		return nil
	}
	switch lerr := os.Link(name, path); {
	case lerr == nil:
		os.Remove(name)
		committed = true
		return nil
	case errors.Is(lerr, fs.ErrExist):
		return exists()
	}
	// No hard links on this file system: check, then rename.
	if _, err := os.Lstat(path); err == nil {
		return exists()
	}
	if err := os.Rename(name, path); err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	committed = true
	return nil
}

// maxTempStem bounds the part of the final name the temporary name
// repeats, so that the temporary name (the stem, a dot, up to 20 random
// digits and ".tmp") stays within the 255 bytes file systems take
// whatever the final name's length.
const maxTempStem = 200

// tempStem is base cut to maxTempStem bytes, at a UTF-8 boundary.
func tempStem(base string) string {
	if len(base) <= maxTempStem {
		return base
	}
	n := maxTempStem
	for n > 0 && !utf8.RuneStart(base[n]) {
		n--
	}
	return base[:n]
}

// WriteBytes is Write for data already in memory.
func WriteBytes(path string, data []byte, overwrite bool) error {
	return Write(path, overwrite, func(w io.Writer) error {
		_, err := w.Write(data)
		return err
	})
}
