package modelfolder

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/coop-diffusion/coop/internal/onnx"
)

// Folder is what Scan found at a path.
type Folder struct {
	// Path is the path as given to Scan.
	Path string
	// SingleFile is true when Path is a model file rather than a folder.
	SingleFile bool
	// ClassName is model_index.json's _class_name ("" without one).
	ClassName string
	// Index is model_index.json parsed, nil when the folder has none.
	Index map[string]any
	// Scheduler is scheduler/scheduler_config.json parsed, or nil.
	Scheduler map[string]any
	// Components are the models and the model_index.json entries, sorted
	// by name.
	Components []*Component
}

// Component is one part of a pipeline: a subfolder with a model, or an
// entry of model_index.json (tokenizers and schedulers have no model).
type Component struct {
	// Name is the subfolder name ("unet"), the file name without .onnx for
	// loose model files, or for a single model file the name of the folder
	// holding it.
	Name string
	// Dir is the component's folder.
	Dir string
	// Library and Class are the model_index.json entry
	// (["diffusers", "UNet2DConditionModel"]); empty when not listed.
	Library, Class string
	// ModelPath is the ONNX file, "" for components without a model.
	ModelPath string
	// Size is the size of ModelPath in bytes.
	Size int64
	// Signature is the model's signature, nil without a model.
	Signature *onnx.Signature
	// DataFiles are the external data files the model references, and
	// model.onnx_data when it lies beside the model unreferenced.
	DataFiles []DataFile
	// Config is the component's config.json parsed, or nil.
	Config map[string]any
}

// DataFile is an external weights file beside a model.
type DataFile struct {
	Name       string // as the model names it, relative to Dir
	Path       string
	Size       int64
	Exists     bool
	Referenced bool // named by one of the model's initializers
}

// HasModel reports whether the component holds an ONNX model.
func (c *Component) HasModel() bool { return c.ModelPath != "" }

// TotalSize is the size of the model file and its existing data files.
func (c *Component) TotalSize() int64 {
	n := c.Size
	for _, d := range c.DataFiles {
		n += d.Size
	}
	return n
}

// Component returns the component called name, or nil.
func (f *Folder) Component(name string) *Component {
	for _, c := range f.Components {
		if c.Name == name {
			return c
		}
	}
	return nil
}

// Models returns the components that hold a model.
func (f *Folder) Models() []*Component {
	var out []*Component
	for _, c := range f.Components {
		if c.HasModel() {
			out = append(out, c)
		}
	}
	return out
}

// PredictionType is the scheduler's prediction_type ("epsilon",
// "v_prediction", "sample"), or "" when the folder does not say.
func (f *Folder) PredictionType() string {
	s, _ := f.Scheduler["prediction_type"].(string)
	return s
}

const modelFile = "model.onnx"

// ErrNoModel and ErrBadJSON classify Scan errors for a folder without any
// ONNX model and for a model_index.json, config.json or
// scheduler_config.json that is not a JSON object. Errors reading a model
// wrap onnx.ErrTruncated, onnx.ErrCorrupt or onnx.ErrNoGraph; a missing
// path wraps fs.ErrNotExist.
var (
	ErrNoModel = errors.New("no ONNX model found")
	ErrBadJSON = errors.New("not a JSON object")
)

// Scan reads the model file or model folder at path. It fails when the
// path does not exist, holds no model, or a model or JSON file in it cannot
// be read; the error names the file at fault.
func Scan(path string) (*Folder, error) {
	st, err := os.Stat(path)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil, notExistError(path)
		}
		return nil, err
	}
	f := &Folder{Path: path}
	if !st.IsDir() {
		f.SingleFile = true
		abs, err := filepath.Abs(path)
		if err != nil {
			return nil, err
		}
		name := filepath.Base(filepath.Dir(abs))
		if base := filepath.Base(path); base != modelFile {
			name = strings.TrimSuffix(base, filepath.Ext(base))
		}
		c, err := scanModel(name, filepath.Dir(path), path)
		if err != nil {
			return nil, err
		}
		f.Components = []*Component{c}
		return f, nil
	}
	if err := f.scanFolder(); err != nil {
		return nil, err
	}
	return f, nil
}

func (f *Folder) scanFolder() error {
	var err error
	if f.Index, err = readJSON(filepath.Join(f.Path, "model_index.json")); err != nil {
		return err
	}
	f.ClassName, _ = f.Index["_class_name"].(string)
	if f.Scheduler, err = readJSON(filepath.Join(f.Path, "scheduler", "scheduler_config.json")); err != nil {
		return err
	}

	// A component's own folder (unet/ with model.onnx) given directly.
	if top := filepath.Join(f.Path, modelFile); isFile(top) {
		abs, err := filepath.Abs(f.Path)
		if err != nil {
			return err
		}
		c, err := scanModel(filepath.Base(abs), f.Path, top)
		if err != nil {
			return err
		}
		f.Components = append(f.Components, c)
	}

	entries, err := os.ReadDir(f.Path)
	if err != nil {
		return err
	}
	byName := make(map[string]*Component)
	for _, c := range f.Components {
		byName[c.Name] = c
	}
	for _, e := range entries {
		full := filepath.Join(f.Path, e.Name())
		switch {
		case e.IsDir():
			if model := filepath.Join(full, modelFile); isFile(model) {
				c, err := scanModel(e.Name(), full, model)
				if err != nil {
					return err
				}
				f.Components = append(f.Components, c)
				byName[c.Name] = c
			}
		case strings.EqualFold(filepath.Ext(e.Name()), ".onnx") && e.Name() != modelFile:
			name := strings.TrimSuffix(e.Name(), filepath.Ext(e.Name()))
			if byName[name] != nil {
				continue
			}
			c, err := scanModel(name, f.Path, full)
			if err != nil {
				return err
			}
			f.Components = append(f.Components, c)
			byName[c.Name] = c
		}
	}

	// model_index.json entries: {"unet": ["diffusers", "UNet2DConditionModel"]}.
	for key, v := range f.Index {
		if strings.HasPrefix(key, "_") {
			continue
		}
		pair, ok := v.([]any)
		if !ok || len(pair) != 2 {
			continue // a setting such as "requires_safety_checker": true
		}
		lib, _ := pair[0].(string)
		class, _ := pair[1].(string)
		c := byName[key]
		if c == nil {
			if lib == "" && class == "" {
				continue // [null, null]: a component the pipeline does without
			}
			c = &Component{Name: key, Dir: filepath.Join(f.Path, key)}
			if c.Config, err = readJSON(filepath.Join(c.Dir, "config.json")); err != nil {
				return err
			}
			f.Components = append(f.Components, c)
			byName[key] = c
		}
		c.Library, c.Class = lib, class
	}
	sort.Slice(f.Components, func(i, j int) bool { return f.Components[i].Name < f.Components[j].Name })

	if len(f.Models()) == 0 {
		return fmt.Errorf("%s: %w: looked for %s in the folder and in its subfolders (unet, prior, decoder, vae_encoder, vae_decoder, text_encoder, ...) and for *.onnx files in the folder", f.Path, ErrNoModel, modelFile)
	}
	return nil
}

// scanModel reads one model's signature, its config.json and the sizes of
// its files.
func scanModel(name, dir, path string) (*Component, error) {
	st, err := os.Stat(path)
	if err != nil {
		return nil, err
	}
	sig, err := onnx.ReadSignature(path)
	if err != nil {
		return nil, err
	}
	c := &Component{Name: name, Dir: dir, ModelPath: path, Size: st.Size(), Signature: sig}
	if filepath.Base(path) == modelFile {
		if c.Config, err = readJSON(filepath.Join(dir, "config.json")); err != nil {
			return nil, err
		}
	}
	seen := make(map[string]bool)
	addData := func(name string, referenced bool) {
		if seen[name] {
			return
		}
		seen[name] = true
		d := DataFile{Name: name, Path: filepath.Join(dir, name), Referenced: referenced}
		if st, err := os.Stat(d.Path); err == nil && !st.IsDir() {
			d.Exists, d.Size = true, st.Size()
		}
		if d.Exists || referenced {
			c.DataFiles = append(c.DataFiles, d)
		}
	}
	for _, loc := range sig.ExternalFiles {
		addData(loc, true)
	}
	addData(filepath.Base(path)+"_data", false)
	return c, nil
}

// notExistError reports a path that does not exist; it matches
// fs.ErrNotExist.
type notExistError string

func (e notExistError) Error() string        { return string(e) + ": no such file or folder" }
func (e notExistError) Is(target error) bool { return target == fs.ErrNotExist }

func isFile(path string) bool {
	st, err := os.Stat(path)
	return err == nil && !st.IsDir()
}

// readJSON parses a JSON object file; a missing file gives nil, nil.
func readJSON(path string) (map[string]any, error) {
	data, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var m map[string]any
	if err := json.Unmarshal(data, &m); err != nil {
		return nil, fmt.Errorf("%s: %w: %v", path, ErrBadJSON, err)
	}
	return m, nil
}
