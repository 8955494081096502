package interposer

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"github.com/coop-diffusion/coop/internal/atomicfile"
	"io"
	"math"
	"os"

	"gonum.org/v1/gonum/mat"

	"github.com/coop-diffusion/coop/latent"
)

// FormatName and FormatVersion identify interposer files. The version
// changes whenever a field changes meaning; Load reads exactly this one.
const (
	FormatName    = "coop-interposer"
	FormatVersion = 1
)

// fileHeader is everything in an interposer file but the weights.
type fileHeader struct {
	Format       string      `json:"format"`
	Version      int         `json:"version"`
	From         Endpoint    `json:"from"`
	To           Endpoint    `json:"to"`
	SourceFilter string      `json:"source_filter"`
	Filter       string      `json:"target_filter"`
	Window       int         `json:"window"`
	InPhases     [2]int      `json:"in_phases"`
	OutPhases    [2]int      `json:"out_phases"`
	Calibration  Calibration `json:"calibration"`
}

// file is the whole document.
type file struct {
	fileHeader
	Weights [][]float64 `json:"weights"`
}

// Save writes the interposer to path as JSON, atomically: to a temporary
// file in the same folder, renamed over path when complete, so a reader
// never sees half a file.
//
// The format (version 1) is one JSON object:
//
//	format       "coop-interposer"
//	version      1
//	from, to     the two sides: space (name), channels, factor, height and
//	             width (calibration pixel size), latent_height, latent_width
//	source_filter, target_filter
//	             "bilinear", "bicubic" or "lanczos3": how the source is
//	             resampled to the input phase grid and the output phase
//	             grid to the target (see Layout)
//	window       odd side of the neighbourhood of working pixels read
//	in_phases    [rows, columns] of source samples per working pixel
//	out_phases   [rows, columns] of target samples per working pixel
//	             (see Layout)
//	calibration  images, names, target ("bridge-output" or
//	             "encoded-image"), samples, rank, ridge, residual_rms,
//	             relative_residual, held_out_relative_residual (see
//	             Calibration)
//	weights      to.channels · out_phases[0] · out_phases[1] rows (target
//	             channel o, output phase q at row o·|out_phases| + q) of
//	             from.channels · window² · in_phases[0] · in_phases[1] + 1
//	             numbers, the bias last (the column order is New's)
//
// JSON rather than a binary layout: the matrices are small (at most a few
// thousand numbers), encoding/json writes float64 values in the shortest
// form that reads back exactly, and a person can read, diff and check the
// file. Each weight row is written on one line.
func (ip *Interposer) Save(path string) error {
	var buf bytes.Buffer
	if err := ip.encode(&buf); err != nil {
		return fmt.Errorf("interposer file %s: %w", path, err)
	}
	if err := atomicfile.WriteBytes(path, buf.Bytes(), true); err != nil {
		return fmt.Errorf("interposer file %w", err)
	}
	return nil
}

// encode writes the file's bytes: the header fields one per line, then the
// weights one row per line.
func (ip *Interposer) encode(w io.Writer) error {
	h := ip.header()
	var b bytes.Buffer
	b.WriteString("{\n")
	fields := []struct {
		name string
		v    any
	}{
		{"format", h.Format}, {"version", h.Version}, {"from", h.From}, {"to", h.To},
		{"source_filter", h.SourceFilter}, {"target_filter", h.Filter}, {"window", h.Window}, {"in_phases", h.InPhases}, {"out_phases", h.OutPhases},
		{"calibration", h.Calibration},
	}
	for _, f := range fields {
		v, err := json.Marshal(f.v)
		if err != nil {
			return fmt.Errorf("field %s: %w", f.name, err)
		}
		fmt.Fprintf(&b, "  %q: %s,\n", f.name, v)
	}
	b.WriteString("  \"weights\": [\n")
	row := ip.Features() + 1
	for o := range ip.Outputs() {
		v, err := json.Marshal(ip.weights[o*row : (o+1)*row])
		if err != nil {
			return fmt.Errorf("field weights[%d]: %w", o, err)
		}
		sep := ","
		if o == ip.Outputs()-1 {
			sep = ""
		}
		fmt.Fprintf(&b, "    %s%s\n", v, sep)
	}
	b.WriteString("  ]\n}\n")
	_, err := w.Write(b.Bytes())
	return err
}

func (ip *Interposer) header() fileHeader {
	l := ip.layout
	return fileHeader{Format: FormatName, Version: FormatVersion, From: ip.from, To: ip.to,
		SourceFilter: l.SourceFilter.String(), Filter: l.Filter.String(), Window: l.Window, InPhases: l.InPhases, OutPhases: l.OutPhases,
		Calibration: ip.Calibration()}
}

// Load reads an interposer file written by Save. Errors name the file and
// the field at fault.
func Load(path string) (*Interposer, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("interposer file: %w", err)
	}
	ip, err := decode(data)
	if err != nil {
		return nil, fmt.Errorf("interposer file %s: %w", path, err)
	}
	return ip, nil
}

func decode(data []byte) (*Interposer, error) {
	// The format and version first, on their own, so that a file of another
	// version is reported as such rather than by its first unknown field.
	var head struct {
		Format  *string `json:"format"`
		Version *int    `json:"version"`
	}
	if err := json.Unmarshal(data, &head); err != nil {
		return nil, jsonError(data, err)
	}
	switch {
	case head.Format == nil:
		return nil, fmt.Errorf("field format: missing; not an interposer file (want %q)", FormatName)
	case *head.Format != FormatName:
		return nil, fmt.Errorf("field format: %q, not an interposer file (want %q)", *head.Format, FormatName)
	case head.Version == nil:
		return nil, fmt.Errorf("field version: missing")
	case *head.Version != FormatVersion:
		return nil, fmt.Errorf("field version: %d; this coop reads version %d", *head.Version, FormatVersion)
	}
	var f file
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&f); err != nil {
		return nil, jsonError(data, err)
	}
	if err := f.From.check(); err != nil {
		return nil, fmt.Errorf("field from.%w", err)
	}
	if err := f.To.check(); err != nil {
		return nil, fmt.Errorf("field to.%w", err)
	}
	sourceFilter, err := parseFilter(f.SourceFilter)
	if err != nil {
		return nil, fmt.Errorf("field source_filter: %w", err)
	}
	filter, err := parseFilter(f.Filter)
	if err != nil {
		return nil, fmt.Errorf("field target_filter: %w", err)
	}
	if f.Window < 1 || f.Window%2 == 0 {
		return nil, fmt.Errorf("field window: %d, must be a positive odd number", f.Window)
	}
	layout := Layout{SourceFilter: sourceFilter, Filter: filter, Window: f.Window, InPhases: f.InPhases, OutPhases: f.OutPhases}
	if err := layout.check(); err != nil {
		return nil, fmt.Errorf("fields in_phases, out_phases: %w", err)
	}
	rows := f.To.Channels * layout.outBlock()
	cols := f.From.Channels*f.Window*f.Window*layout.inBlock() + 1
	if len(f.Weights) != rows {
		return nil, fmt.Errorf("field weights: %d rows, want to.channels · out phases = %d", len(f.Weights), rows)
	}
	m := mat.NewDense(rows, cols, nil)
	for o, row := range f.Weights {
		if len(row) != cols {
			return nil, fmt.Errorf("field weights[%d]: %d values, want from.channels · window² · in phases + 1 = %d", o, len(row), cols)
		}
		for i, v := range row {
			if math.IsNaN(v) || math.IsInf(v, 0) {
				return nil, fmt.Errorf("field weights[%d][%d]: %v", o, i, v)
			}
		}
		m.SetRow(o, row)
	}
	c := f.Calibration
	switch {
	case c.Images < 0 || c.Samples < 0 || c.Rank < 0:
		return nil, fmt.Errorf("field calibration: negative count (images %d, samples %d, rank %d)", c.Images, c.Samples, c.Rank)
	case c.Names != nil && len(c.Names) != c.Images:
		return nil, fmt.Errorf("field calibration.names: %d names for %d images", len(c.Names), c.Images)
	case !(c.ResidualRMS >= 0) || !(c.RelativeResidual >= 0) || !(c.HeldOutRelativeResidual >= 0) || !(c.Ridge >= 0):
		return nil, fmt.Errorf("field calibration: ridge, residual_rms, relative_residual and held_out_relative_residual must be non-negative")
	}
	return New(f.From, f.To, layout, m, c)
}

func parseFilter(s string) (latent.Filter, error) {
	for _, f := range []latent.Filter{latent.Bilinear, latent.Bicubic, latent.Lanczos3} {
		if s == f.String() {
			return f, nil
		}
	}
	return 0, fmt.Errorf("%q is not bilinear, bicubic or lanczos3", s)
}

// jsonError adds the line and column to syntax errors and names the field
// of type errors.
func jsonError(data []byte, err error) error {
	var syn *json.SyntaxError
	var typ *json.UnmarshalTypeError
	switch {
	case errors.As(err, &syn):
		line, col := position(data, syn.Offset)
		msg := fmt.Sprintf("line %d, column %d: %v", line, col, syn)
		if syn.Offset >= int64(len(data)) {
			msg = "truncated: " + msg
		}
		if i := syn.Offset - 1; i >= 0 && i < int64(len(data)) && (data[i] == 'N' || data[i] == 'I' || data[i] == 'n' || data[i] == 'i') {
			msg += " (NaN and Infinity are not valid in an interposer file)"
		}
		return errors.New(msg)
	case errors.As(err, &typ):
		line, col := position(data, typ.Offset)
		return fmt.Errorf("field %s: line %d, column %d: %s cannot hold a JSON %s", typ.Field, line, col, typ.Type, typ.Value)
	case errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF):
		return fmt.Errorf("truncated: %w", err)
	}
	return err
}

// position returns the 1-based line and column of byte offset off.
func position(data []byte, off int64) (line, col int) {
	off = min(max(off, 0), int64(len(data)))
	line = 1 + bytes.Count(data[:off], []byte{'\n'})
	col = int(off) - bytes.LastIndexByte(data[:off], '\n')
	return line, col
}
