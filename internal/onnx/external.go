package onnx

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
)

// ErrExternalData classifies the errors of CheckExternalData: a data file
// that is missing, is not a file, lies outside the model's folder, or is
// shorter than the initializers stored in it need.
var ErrExternalData = errors.New("external data")

// ExternalDataError reports an external data file that cannot give an
// initializer its bytes. Its message names the model file, the data file
// and the initializer.
type ExternalDataError struct {
	Model, Data string // the model file and the data file, as paths
	Tensor      string // the initializer whose bytes are missing
	// Need is the end of the bytes the model reads from the file (the
	// largest offset plus length), Size the file's size; Size is -1 when
	// the file does not exist.
	Need, Size int64
	// Tensors is the number of initializers stored in the file.
	Tensors int
	Err     error // the error of stat, when the file cannot be read
}

// errOutsideFolder is the Err of an ExternalDataError whose location is
// absolute or climbs out of the model's folder.
var errOutsideFolder = errors.New("outside the model's folder")

func (e *ExternalDataError) Error() string {
	switch {
	case errors.Is(e.Err, errOutsideFolder):
		return fmt.Sprintf("%s: its weights file %q lies outside the model's folder (%d initializers, %s among them, name it); external data must lie in the folder, under a relative path", e.Model, e.Data, e.Tensors, e.Tensor)
	case e.Err != nil && errors.Is(e.Err, fs.ErrNotExist):
		return fmt.Sprintf("%s: its weights file %s is missing (%d initializers, %s among them, store their bytes there); copy it beside the model", e.Model, e.Data, e.Tensors, e.Tensor)
	case e.Err != nil:
		return fmt.Sprintf("%s: its weights file %s cannot be read: %v", e.Model, e.Data, e.Err)
	}
	return fmt.Sprintf("%s: its weights file %s holds %d bytes, but the model reads up to byte %d of it (initializer %s); the file is cut short, a download interrupted?", e.Model, e.Data, e.Size, e.Need, e.Tensor)
}

func (e *ExternalDataError) Unwrap() []error {
	if e.Err != nil {
		return []error{ErrExternalData, e.Err}
	}
	return []error{ErrExternalData}
}

// CheckExternalData checks, for the model file at modelPath whose
// signature s is, that every external data file its initializers name
// lies in its folder (a relative path that does not climb out of it),
// exists there and is long enough for the bytes they read (offset plus
// length). It reads only the files' sizes, so it costs the same for a
// kilobyte of weights as for ten gigabytes. A data file cut short is the
// usual trace of an interrupted download; ONNX Runtime would find it only
// when it loads the model.
func (s *Signature) CheckExternalData(modelPath string) error {
	type file struct {
		need    int64
		tensor  string // the initializer reading furthest
		tensors int
	}
	files := map[string]*file{}
	var order []string
	for _, t := range s.External {
		f := files[t.Location]
		if f == nil {
			f = &file{need: -1}
			files[t.Location] = f
			order = append(order, t.Location)
		}
		f.tensors++
		end := t.Offset
		if n := t.Bytes(); n > 0 {
			end += n
		}
		if end > f.need || f.tensor == "" {
			f.need, f.tensor = end, t.Name
		}
	}
	dir := filepath.Dir(modelPath)
	for _, loc := range order {
		f := files[loc]
		e := &ExternalDataError{Model: modelPath, Data: filepath.Join(dir, loc), Tensor: f.tensor, Need: f.need, Size: -1, Tensors: f.tensors}
		if loc == "" {
			e.Data = "(no location)"
			e.Err = fmt.Errorf("initializer %s stores its bytes externally without naming a file", f.tensor)
			return e
		}
		if !filepath.IsLocal(loc) {
			// The ONNX specification makes a location relative to the
			// model's folder, and ONNX Runtime refuses one that is
			// absolute or leads out of it (which would let a model read
			// any file on the machine into its weights).
			e.Data, e.Err = loc, errOutsideFolder
			return e
		}
		st, err := os.Stat(e.Data)
		switch {
		case err != nil:
			e.Err = err
			var pe *fs.PathError
			if errors.As(err, &pe) {
				e.Err = pe.Err
			}
			return e
		case st.IsDir():
			e.Err = errors.New("it is a folder")
			return e
		}
		e.Size = st.Size()
		if f.need > e.Size {
			return e
		}
	}
	return nil
}
