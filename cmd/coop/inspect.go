package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"strings"

	"github.com/urfave/cli/v3"

	"github.com/coop-diffusion/coop/internal/modelfolder"
	"github.com/coop-diffusion/coop/internal/onnx"
)

func init() {
	register(&cli.Command{
		Name:      "inspect",
		Usage:     "show the models in an ONNX model file or diffusers/optimum folder: components, inputs, outputs, family",
		ArgsUsage: "PATH",
		Description: "coop inspect reads the signatures of the ONNX models at PATH without loading their weights and prints, " +
			"for each component, its file and sizes (with external data such as model.onnx_data), its graph inputs and " +
			"outputs with element types and shapes (symbolic dimensions by name, e.g. [batch, 4, height, width]), " +
			"and the model family coop detects (sd1, sd2, sdxl, sdxl-refiner, cascade-prior, cascade-decoder, " +
			"cascade-vqgan, controlnet) with the reason it was chosen.\n\n" +
			"PATH is a model file or a folder with model_index.json and one subfolder per component.\n\n" +
			"With --json it prints one JSON object:\n" +
			"  path             PATH as given\n" +
			"  single_file      true when PATH is a model file\n" +
			"  class_name       model_index.json _class_name, \"\" without one\n" +
			"  family           detected family, \"\" when unknown\n" +
			"  family_reason    why (or why no family could be told)\n" +
			"  prediction_type  scheduler_config.json prediction_type, \"\" without one\n" +
			"  components       array, sorted by name, of:\n" +
			"    name, dir            component name (subfolder) and folder\n" +
			"    library, class       its model_index.json entry, \"\" when not listed\n" +
			"    model                model file path, \"\" for components without a model (tokenizer, scheduler)\n" +
			"    size, total_size     model file bytes; with existing external data files\n" +
			"    ir_version, opsets   ONNX IR version; [{domain, version}] (domain \"\" is the default ONNX domain)\n" +
			"    producer, producer_version, graph_name, initializers (count)\n" +
			"    inputs, outputs      [{name, dtype, shape}]: dtype as float32, float16, int64, ...; shape an array of\n" +
			"                         numbers (fixed), strings (symbolic) and null (unknown), [] for a scalar,\n" +
			"                         null when the rank is unknown\n" +
			"    external_data        [{name, path, size, exists, referenced}]: weight files beside the model\n" +
			"    config               the component's config.json, or null",
		Flags: []cli.Flag{
			&cli.BoolFlag{Name: "json", Usage: "print one JSON object (fields in the description) instead of text"},
		},
		Action: inspectAction,
	})
}

func inspectAction(ctx context.Context, cmd *cli.Command) error {
	if cmd.NArg() != 1 {
		return badInputf("inspect takes one PATH (a model file or model folder), got %d arguments", cmd.NArg())
	}
	path := cmd.Args().First()
	folder, err := modelfolder.Scan(path)
	if err != nil {
		if isBadModelInput(err) {
			return badInput(err)
		}
		return err
	}
	report := newInspectReport(folder)
	out := cmd.Root().Writer
	if cmd.Bool("json") {
		enc := json.NewEncoder(out)
		enc.SetIndent("", "  ")
		return enc.Encode(report)
	}
	return report.writeText(out)
}

// isBadModelInput tells errors caused by what the user pointed at (missing,
// not a model, corrupt) from failures of the machine (permissions, I/O).
func isBadModelInput(err error) bool {
	for _, target := range []error{fs.ErrNotExist, modelfolder.ErrNoModel, modelfolder.ErrBadJSON,
		onnx.ErrTruncated, onnx.ErrCorrupt, onnx.ErrNoGraph} {
		if errors.Is(err, target) {
			return true
		}
	}
	return false
}

// inspectReport is the --json output; its fields are documented in the
// command's Description.
type inspectReport struct {
	Path           string             `json:"path"`
	SingleFile     bool               `json:"single_file"`
	ClassName      string             `json:"class_name"`
	Family         string             `json:"family"`
	FamilyReason   string             `json:"family_reason"`
	PredictionType string             `json:"prediction_type"`
	Components     []inspectComponent `json:"components"`
}

type inspectComponent struct {
	Name            string            `json:"name"`
	Dir             string            `json:"dir"`
	Library         string            `json:"library"`
	Class           string            `json:"class"`
	Model           string            `json:"model"`
	Size            int64             `json:"size"`
	TotalSize       int64             `json:"total_size"`
	IRVersion       int64             `json:"ir_version,omitempty"`
	Opsets          []inspectOpset    `json:"opsets,omitempty"`
	Producer        string            `json:"producer,omitempty"`
	ProducerVersion string            `json:"producer_version,omitempty"`
	GraphName       string            `json:"graph_name,omitempty"`
	Initializers    int               `json:"initializers"`
	Inputs          []inspectValue    `json:"inputs"`
	Outputs         []inspectValue    `json:"outputs"`
	ExternalData    []inspectDataFile `json:"external_data"`
	Config          map[string]any    `json:"config"`
}

type inspectOpset struct {
	Domain  string `json:"domain"`
	Version int64  `json:"version"`
}

type inspectValue struct {
	Name  string `json:"name"`
	DType string `json:"dtype"`
	Shape []any  `json:"shape"` // int64 fixed, string symbolic, nil unknown; nil slice: unknown rank
}

type inspectDataFile struct {
	Name       string `json:"name"`
	Path       string `json:"path"`
	Size       int64  `json:"size"`
	Exists     bool   `json:"exists"`
	Referenced bool   `json:"referenced"`
}

func newInspectReport(f *modelfolder.Folder) *inspectReport {
	family, reason := modelfolder.DetectFamily(f)
	r := &inspectReport{
		Path:           f.Path,
		SingleFile:     f.SingleFile,
		ClassName:      f.ClassName,
		Family:         family,
		FamilyReason:   reason,
		PredictionType: f.PredictionType(),
		Components:     []inspectComponent{},
	}
	for _, c := range f.Components {
		ic := inspectComponent{
			Name: c.Name, Dir: c.Dir, Library: c.Library, Class: c.Class,
			Model: c.ModelPath, Size: c.Size, TotalSize: c.TotalSize(),
			Inputs: []inspectValue{}, Outputs: []inspectValue{}, ExternalData: []inspectDataFile{},
			Config: c.Config,
		}
		if s := c.Signature; s != nil {
			ic.IRVersion, ic.Producer, ic.ProducerVersion, ic.GraphName = s.IRVersion, s.ProducerName, s.ProducerVersion, s.GraphName
			ic.Initializers = s.Initializers
			for _, o := range s.Opsets {
				ic.Opsets = append(ic.Opsets, inspectOpset{o.Domain, o.Version})
			}
			for _, v := range s.Inputs {
				ic.Inputs = append(ic.Inputs, newInspectValue(v))
			}
			for _, v := range s.Outputs {
				ic.Outputs = append(ic.Outputs, newInspectValue(v))
			}
		}
		for _, d := range c.DataFiles {
			ic.ExternalData = append(ic.ExternalData, inspectDataFile(d))
		}
		r.Components = append(r.Components, ic)
	}
	return r
}

func newInspectValue(v onnx.ValueInfo) inspectValue {
	iv := inspectValue{Name: v.Name, DType: v.ElemType.String()}
	if !v.HasShape {
		return iv
	}
	iv.Shape = make([]any, len(v.Dims))
	for i, d := range v.Dims {
		switch {
		case d.Symbolic():
			iv.Shape[i] = d.Param
		case d.Fixed():
			iv.Shape[i] = d.Value
		}
	}
	return iv
}

func (r *inspectReport) writeText(w io.Writer) error {
	ew := &errWriter{w: w}
	ew.printf("path:     %s\n", r.Path)
	if r.ClassName != "" {
		ew.printf("pipeline: %s\n", r.ClassName)
	}
	if r.Family != "" {
		ew.printf("family:   %s (%s)\n", r.Family, r.FamilyReason)
	} else {
		ew.printf("family:   unknown (%s)\n", r.FamilyReason)
	}
	if r.PredictionType != "" {
		ew.printf("scheduler prediction_type: %s\n", r.PredictionType)
	}
	for _, c := range r.Components {
		ew.printf("\n%s", c.Name)
		if c.Class != "" {
			ew.printf("  (%s)", c.Class)
		}
		ew.printf("\n")
		if c.Model == "" {
			ew.printf("  no model\n")
			continue
		}
		ew.printf("  file:     %s  %s\n", c.Model, humanBytes(c.Size))
		for _, d := range c.ExternalData {
			state := humanBytes(d.Size)
			switch {
			case !d.Exists:
				state = "MISSING"
			case !d.Referenced:
				state += ", not referenced by the model"
			}
			ew.printf("  external: %s  %s\n", d.Path, state)
		}
		if len(c.ExternalData) > 0 {
			ew.printf("  total:    %s\n", humanBytes(c.TotalSize))
		}
		var opsets []string
		for _, o := range c.Opsets {
			d := o.Domain
			if d == "" {
				d = "ai.onnx"
			}
			opsets = append(opsets, fmt.Sprintf("%s %d", d, o.Version))
		}
		ew.printf("  onnx:     IR %d, opset %s", c.IRVersion, strings.Join(opsets, ", "))
		if c.Producer != "" {
			ew.printf(", producer %s", strings.TrimSpace(c.Producer+" "+c.ProducerVersion))
		}
		ew.printf(", initializers %d\n", c.Initializers)
		// One set of columns for inputs and outputs together.
		nameW, typeW := 0, 0
		for _, v := range append(append([]inspectValue(nil), c.Inputs...), c.Outputs...) {
			nameW, typeW = max(nameW, len(v.Name)), max(typeW, len(v.DType))
		}
		for _, part := range []struct {
			title  string
			values []inspectValue
		}{{"inputs", c.Inputs}, {"outputs", c.Outputs}} {
			ew.printf("  %s:\n", part.title)
			for _, v := range part.values {
				ew.printf("    %-*s  %-*s  %s\n", nameW, v.Name, typeW, v.DType, shapeText(v.Shape))
			}
		}
	}
	return ew.err
}

func shapeText(shape []any) string {
	if shape == nil {
		return "[?...] (rank unknown)"
	}
	parts := make([]string, len(shape))
	for i, d := range shape {
		if d == nil {
			parts[i] = "?"
		} else {
			parts[i] = fmt.Sprint(d)
		}
	}
	return "[" + strings.Join(parts, ", ") + "]"
}

// humanBytes formats a size as "3.4 GiB (3651145728 bytes)".
func humanBytes(n int64) string {
	const unit = 1024
	if n < unit {
		return fmt.Sprintf("%d bytes", n)
	}
	div, exp := int64(unit), 0
	for m := n / unit; m >= unit; m /= unit {
		div *= unit
		exp++
	}
	return fmt.Sprintf("%.1f %ciB (%d bytes)", float64(n)/float64(div), "KMGTPE"[exp], n)
}

// errWriter keeps the first write error so that text output code can
// print without checking each call.
type errWriter struct {
	w   io.Writer
	err error
}

func (e *errWriter) Write(p []byte) (int, error) {
	if e.err != nil {
		return 0, e.err
	}
	n, err := e.w.Write(p)
	e.err = err
	return n, err
}

func (e *errWriter) printf(format string, args ...any) { fmt.Fprintf(e, format, args...) }
