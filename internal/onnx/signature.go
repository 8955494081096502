package onnx

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"strconv"

	"google.golang.org/protobuf/encoding/protowire"
)

// Signature is what a model declares about itself, read without loading
// its weights.
type Signature struct {
	IRVersion       int64
	Opsets          []Opset
	ProducerName    string
	ProducerVersion string
	GraphName       string
	// Inputs are the graph inputs a caller feeds: inputs that name an
	// initializer (older exports list every weight as an input too) are
	// left out, since the model supplies them itself.
	Inputs  []ValueInfo
	Outputs []ValueInfo
	// Initializers counts the graph's initializers (weights).
	Initializers int
	// ExternalData is true when some initializer stores its bytes outside
	// the model file; ExternalFiles lists the locations they name, relative
	// to the model's folder, each once, in order of first use.
	ExternalData  bool
	ExternalFiles []string
	// External lists every initializer that stores its bytes outside the
	// model file, in file order, with where its bytes lie: what
	// CheckExternalData compares with the data files' sizes.
	External []ExternalTensor
}

// ExternalTensor is an initializer whose bytes lie in an external data
// file: the TensorProto's external_data entries "location", "offset" and
// "length", with its declared type and dims.
type ExternalTensor struct {
	Name string
	// Location is the data file, relative to the model's folder.
	Location string
	// Offset is where the bytes start in the file (0 when not given).
	Offset int64
	// Length is the number of bytes; -1 when the entry does not give it,
	// and the tensor's type and dims then tell it (see Bytes).
	Length   int64
	ElemType ElemType
	Dims     []int64
}

// Bytes is the number of bytes the tensor takes in its data file: Length
// when given, else the product of its dims times its element size; -1
// when neither tells (a string tensor without a length).
func (t ExternalTensor) Bytes() int64 {
	if t.Length >= 0 {
		return t.Length
	}
	size := int64(t.ElemType.Size())
	if size == 0 {
		return -1
	}
	n := size
	for _, d := range t.Dims {
		if d < 0 || (d > 0 && n > math.MaxInt64/d) {
			return -1
		}
		n *= d
	}
	return n
}

// Input returns the graph input called name, or nil.
func (s *Signature) Input(name string) *ValueInfo { return findValue(s.Inputs, name) }

// Output returns the graph output called name, or nil.
func (s *Signature) Output(name string) *ValueInfo { return findValue(s.Outputs, name) }

func findValue(vs []ValueInfo, name string) *ValueInfo {
	for i := range vs {
		if vs[i].Name == name {
			return &vs[i]
		}
	}
	return nil
}

// Opset returns the imported version of domain ("" or "ai.onnx" for the
// default domain), or 0 when the model does not import it.
func (s *Signature) Opset(domain string) int64 {
	if domain == "ai.onnx" {
		domain = ""
	}
	for _, o := range s.Opsets {
		d := o.Domain
		if d == "ai.onnx" {
			d = ""
		}
		if d == domain {
			return o.Version
		}
	}
	return 0
}

// ErrTruncated and ErrCorrupt classify the FormatError of a file that ends
// too early or does not follow the protobuf encoding; ErrNoGraph marks a
// well-formed protobuf without a graph (most likely not an ONNX model).
var (
	ErrTruncated = errors.New("truncated")
	ErrCorrupt   = errors.New("corrupt")
	ErrNoGraph   = errors.New("no graph")
)

// FormatError reports a model file that cannot be read as an ONNX model.
// Its message names the file, the byte offset and what was being read, as
// in "model.onnx: truncated at byte 1234 while reading graph input".
type FormatError struct {
	Path    string
	Offset  int64
	Context string // what was being read: "graph input", "model", ...
	Kind    error  // ErrTruncated, ErrCorrupt or ErrNoGraph
	Detail  string // the cause; for truncated files the field cut, if known
}

func (e *FormatError) Error() string {
	switch e.Kind {
	case ErrTruncated:
		if e.Detail != "" {
			return fmt.Sprintf("%s: truncated at byte %d while reading %s: %s", e.Path, e.Offset, e.Context, e.Detail)
		}
		return fmt.Sprintf("%s: truncated at byte %d while reading %s", e.Path, e.Offset, e.Context)
	case ErrNoGraph:
		return fmt.Sprintf("%s: not an ONNX model: %s", e.Path, e.Detail)
	}
	return fmt.Sprintf("%s: corrupt at byte %d while reading %s: %s", e.Path, e.Offset, e.Context, e.Detail)
}

func (e *FormatError) Unwrap() error { return e.Kind }

// ReadSignature reads the signature of the model file at path. It reads
// only the fields it reports (and initializer names, to drop initializers
// from the inputs) and seeks over everything else, so its cost is that of
// the graph's structure, not of its weights.
func ReadSignature(path string) (*Signature, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, err
	}
	if st.IsDir() {
		return nil, fmt.Errorf("%s: is a directory, not an ONNX model file", path)
	}
	return readSignature(f, st.Size(), path)
}

// ReadSignatureBytes reads the signature of a serialised model held in
// memory; errors name the model "onnx bytes".
func ReadSignatureBytes(data []byte) (*Signature, error) {
	return readSignature(bytes.NewReader(data), int64(len(data)), "onnx bytes")
}

// unbounded is the end of the top-level message, which runs to end of file.
const unbounded = math.MaxInt64

// maxStringLen bounds names and other strings the reader keeps; no real
// model has a name this long, and the bound keeps a corrupt length from
// turning into a huge allocation.
const maxStringLen = 1 << 20

// maxModelField bounds the ModelProto field numbers the reader accepts.
// onnx.proto uses 1 to 25; the margin leaves room for later versions, and
// the bound turns most files that are not models (an image, a text file)
// into an immediate error instead of a skip that ends in "truncated".
const maxModelField = 100

// windowSize is how much of the file the reader keeps in memory at once.
const windowSize = 64 << 10

func readSignature(r io.ReaderAt, size int64, path string) (*Signature, error) {
	p := &parser{r: r, size: size, path: path}
	if size == 0 {
		return nil, &FormatError{Path: path, Kind: ErrNoGraph, Detail: "empty file"}
	}
	sig, err := p.model()
	if err != nil {
		return nil, err
	}
	return sig, nil
}

// parser walks protobuf messages in a file through a window of its bytes.
type parser struct {
	r      io.ReaderAt
	size   int64
	path   string
	win    []byte // file bytes [winOff, winOff+len(win))
	winOff int64
}

// field is one decoded protobuf field. For length-delimited fields start
// and end bound the value; for the others v holds it.
type field struct {
	num        protowire.Number
	typ        protowire.Type
	at         int64 // offset of the tag
	start, end int64
	v          uint64
}

func (p *parser) truncated(what string) error {
	return &FormatError{Path: p.path, Offset: p.size, Context: what, Kind: ErrTruncated}
}

func (p *parser) corrupt(at int64, what, format string, args ...any) error {
	return &FormatError{Path: p.path, Offset: at, Context: what, Kind: ErrCorrupt, Detail: fmt.Sprintf(format, args...)}
}

// bytesAt returns up to n file bytes starting at off (fewer at end of
// file), from the window when it holds them.
func (p *parser) bytesAt(off int64, n int) ([]byte, error) {
	if off >= p.size {
		return nil, nil
	}
	if rem := p.size - off; int64(n) > rem {
		n = int(rem)
	}
	if off >= p.winOff && off+int64(n) <= p.winOff+int64(len(p.win)) {
		i := off - p.winOff
		return p.win[i : i+int64(n)], nil
	}
	if n > windowSize {
		buf := make([]byte, n)
		if err := p.readFull(buf, off); err != nil {
			return nil, err
		}
		return buf, nil
	}
	w := int64(windowSize)
	if rem := p.size - off; w > rem {
		w = rem
	}
	if int64(cap(p.win)) < w {
		// Small files get a window of their size, large ones windowSize.
		p.win = make([]byte, min(windowSize, p.size))
	}
	p.win = p.win[:w]
	p.winOff = off
	if err := p.readFull(p.win, off); err != nil {
		p.win = p.win[:0]
		return nil, err
	}
	return p.win[:n], nil
}

func (p *parser) readFull(buf []byte, off int64) error {
	n, err := p.r.ReadAt(buf, off)
	if n == len(buf) {
		return nil
	}
	if err == nil || err == io.EOF {
		// The file shrank between Stat and ReadAt.
		return p.truncated(fmt.Sprintf("file (%d bytes readable at byte %d)", n, off))
	}
	return fmt.Errorf("%s: reading at byte %d: %w", p.path, off, err)
}

// varint decodes a varint at off that must end before end.
func (p *parser) varint(off, end int64, what string) (uint64, int64, error) {
	limit := min(end, p.size)
	b, err := p.bytesAt(off, int(min(limit-off, binary.MaxVarintLen64)))
	if err != nil {
		return 0, 0, err
	}
	v, n := protowire.ConsumeVarint(b)
	if n < 0 {
		if protowire.ParseError(n) == io.ErrUnexpectedEOF && len(b) < binary.MaxVarintLen64 {
			if limit == p.size {
				return 0, 0, p.truncated(what)
			}
			return 0, 0, p.corrupt(off, what, "varint runs past the end of its message at byte %d", end)
		}
		return 0, 0, p.corrupt(off, what, "bad varint")
	}
	return v, off + int64(n), nil
}

// fixed decodes n little-endian bytes at off.
func (p *parser) fixed(off, end int64, n int, what string) (uint64, error) {
	if off+int64(n) > end {
		return 0, p.corrupt(off, what, "%d-byte value runs past the end of its message at byte %d", n, end)
	}
	if off+int64(n) > p.size {
		return 0, p.truncated(what)
	}
	b, err := p.bytesAt(off, n)
	if err != nil {
		return 0, err
	}
	if n == 4 {
		return uint64(binary.LittleEndian.Uint32(b)), nil
	}
	return binary.LittleEndian.Uint64(b), nil
}

// walk calls fn for each field of the message [start, end). A nested
// message whose declared end lies past end of file is walked up to end of
// file and then reported truncated, so truncation errors say which part of
// the model was cut. Length-delimited values fn does not descend into are
// skipped without being read.
func (p *parser) walk(start, end int64, what string, fn func(f field) error) error {
	pos := start
	for pos < end {
		if pos >= p.size {
			if end == unbounded {
				return nil
			}
			return p.truncated(what)
		}
		tag, next, err := p.varint(pos, end, what)
		if err != nil {
			return err
		}
		num, typ := protowire.DecodeTag(tag)
		if num < protowire.MinValidNumber || num > protowire.MaxValidNumber {
			return p.corrupt(pos, what, "invalid field number %d", num)
		}
		if end == unbounded && num > maxModelField {
			return p.corrupt(pos, what, "field %d is not a ModelProto field; not an ONNX model", num)
		}
		f := field{num: num, typ: typ, at: pos}
		pos = next
		switch typ {
		case protowire.VarintType:
			if f.v, pos, err = p.varint(pos, end, what); err != nil {
				return err
			}
		case protowire.Fixed32Type:
			if f.v, err = p.fixed(pos, end, 4, what); err != nil {
				return err
			}
			pos += 4
		case protowire.Fixed64Type:
			if f.v, err = p.fixed(pos, end, 8, what); err != nil {
				return err
			}
			pos += 8
		case protowire.BytesType:
			n, next, err := p.varint(pos, end, what)
			if err != nil {
				return err
			}
			if n > uint64(end-next) {
				if end == unbounded {
					return p.corrupt(pos, what, "field %d declares %d bytes, more than any file holds", num, n)
				}
				return p.corrupt(pos, what, "field %d declares %d bytes, past the end of its message at byte %d", num, n, end)
			}
			f.start, f.end = next, next+int64(n)
			pos = f.end
		default:
			return p.corrupt(f.at, what, "field %d has wire type %d, which ONNX does not use", num, typ)
		}
		if err := fn(f); err != nil {
			return err
		}
		if f.typ == protowire.BytesType && f.end > p.size {
			// fn skipped a value that the file does not hold in full.
			err := p.truncated(what)
			err.(*FormatError).Detail = fmt.Sprintf("field %d at byte %d declares %d bytes", f.num, f.at, f.end-f.start)
			return err
		}
	}
	return nil
}

// skip checks that a value the parser does not read lies within the file,
// so that a cut in it is reported with what it was.
func (p *parser) skip(f field, what string) error {
	if f.typ == protowire.BytesType && f.end > p.size {
		return p.truncated(what)
	}
	return nil
}

func (p *parser) want(f field, typ protowire.Type, what, name string) error {
	if f.typ != typ {
		return p.corrupt(f.at, what, "field %d (%s) has wire type %d, want %d", f.num, name, f.typ, typ)
	}
	return nil
}

func (p *parser) str(f field, what, name string) (string, error) {
	if err := p.want(f, protowire.BytesType, what, name); err != nil {
		return "", err
	}
	n := f.end - f.start
	if n > maxStringLen {
		return "", p.corrupt(f.at, what, "%s of %d bytes", name, n)
	}
	if f.end > p.size {
		return "", p.truncated(what)
	}
	b, err := p.bytesAt(f.start, int(n))
	if err != nil {
		return "", err
	}
	return string(b), nil
}

func (p *parser) int(f field, what, name string) (int64, error) {
	if err := p.want(f, protowire.VarintType, what, name); err != nil {
		return 0, err
	}
	return int64(f.v), nil
}

func (p *parser) model() (*Signature, error) {
	const what = "model"
	sig := &Signature{}
	var g graphInfo
	haveGraph := false
	err := p.walk(0, unbounded, what, func(f field) error {
		var err error
		switch f.num {
		case modelIRVersion:
			sig.IRVersion, err = p.int(f, what, "ir_version")
		case modelProducerName:
			sig.ProducerName, err = p.str(f, what, "producer_name")
		case modelProducerVersion:
			sig.ProducerVersion, err = p.str(f, what, "producer_version")
		case modelOpsetImport:
			var o Opset
			o, err = p.opset(f)
			sig.Opsets = append(sig.Opsets, o)
		case modelGraph:
			if err = p.want(f, protowire.BytesType, what, "graph"); err == nil {
				haveGraph = true
				err = p.graph(f, &g)
			}
		}
		return err
	})
	if err != nil {
		return nil, err
	}
	if !haveGraph {
		return nil, &FormatError{Path: p.path, Kind: ErrNoGraph, Detail: "no graph (ModelProto field 7)"}
	}
	sig.GraphName = g.name
	sig.Outputs = g.outputs
	sig.Initializers = len(g.initializers)
	sig.ExternalFiles = g.externalFiles
	sig.ExternalData = g.external
	sig.External = g.externalTensors
	for _, in := range g.inputs {
		if _, ok := g.initializers[in.Name]; !ok {
			sig.Inputs = append(sig.Inputs, in)
		}
	}
	return sig, nil
}

func (p *parser) opset(f field) (Opset, error) {
	const what = "opset import"
	var o Opset
	if err := p.want(f, protowire.BytesType, "model", "opset_import"); err != nil {
		return o, err
	}
	err := p.walk(f.start, f.end, what, func(f field) error {
		var err error
		switch f.num {
		case opsetDomain:
			o.Domain, err = p.str(f, what, "domain")
		case opsetVersion:
			o.Version, err = p.int(f, what, "version")
		}
		return err
	})
	return o, err
}

type graphInfo struct {
	name            string
	inputs          []ValueInfo
	outputs         []ValueInfo
	initializers    map[string]struct{}
	external        bool
	externalFiles   []string
	externalTensors []ExternalTensor
}

func (p *parser) graph(f field, g *graphInfo) error {
	const what = "graph"
	if g.initializers == nil {
		g.initializers = make(map[string]struct{})
	}
	return p.walk(f.start, f.end, what, func(f field) error {
		var err error
		switch f.num {
		case graphName:
			g.name, err = p.str(f, what, "name")
		case graphInput, graphOutput:
			ctx := "graph input"
			if f.num == graphOutput {
				ctx = "graph output"
			}
			if err = p.want(f, protowire.BytesType, what, ctx); err != nil {
				return err
			}
			var v ValueInfo
			if v, err = p.valueInfo(f, ctx); err != nil {
				return err
			}
			if f.num == graphInput {
				g.inputs = append(g.inputs, v)
			} else {
				g.outputs = append(g.outputs, v)
			}
		case graphInitializer:
			if err = p.want(f, protowire.BytesType, what, "initializer"); err == nil {
				err = p.initializer(f, g, "graph initializer")
			}
		case graphNode:
			err = p.skip(f, "graph node")
		case graphValueInfo:
			err = p.skip(f, "graph value_info")
		case graphSparseInitializer:
			if err = p.want(f, protowire.BytesType, what, "sparse_initializer"); err != nil {
				return err
			}
			err = p.walk(f.start, f.end, "graph sparse initializer", func(f field) error {
				if f.num != sparseTensorValues {
					return nil
				}
				if err := p.want(f, protowire.BytesType, "graph sparse initializer", "values"); err != nil {
					return err
				}
				return p.initializer(f, g, "graph sparse initializer")
			})
		}
		return err
	})
}

// initializer reads a TensorProto's name, type, dims and where its data
// lives, and skips its data.
func (p *parser) initializer(f field, g *graphInfo, what string) error {
	var name string
	var locations []string
	ext := ExternalTensor{Length: -1}
	external := false
	err := p.walk(f.start, f.end, what, func(f field) error {
		var err error
		ctx := what
		if name != "" {
			ctx = fmt.Sprintf("%s %q", what, name)
		}
		switch f.num {
		case tensorName:
			name, err = p.str(f, what, "name")
		case tensorDataType:
			var t int64
			t, err = p.int(f, ctx, "data_type")
			ext.ElemType = ElemType(t)
		case tensorDims:
			err = p.dims(f, ctx, &ext.Dims)
		case tensorDataLocation:
			var loc int64
			loc, err = p.int(f, ctx, "data_location")
			external = loc == tensorLocationExternal
		case tensorExternalData:
			if err = p.want(f, protowire.BytesType, ctx, "external_data"); err != nil {
				return err
			}
			var key, value string
			at := f.at
			err = p.walk(f.start, f.end, ctx, func(f field) error {
				var err error
				switch f.num {
				case entryKey:
					key, err = p.str(f, ctx, "external_data key")
				case entryValue:
					value, err = p.str(f, ctx, "external_data value")
				}
				return err
			})
			if err != nil {
				return err
			}
			switch key {
			case "location":
				locations = append(locations, value)
				ext.Location = value
			case "offset", "length":
				n, perr := strconv.ParseInt(value, 10, 64)
				if perr != nil || n < 0 {
					return p.corrupt(at, ctx, "external_data %s %q is not a byte count", key, value)
				}
				if key == "offset" {
					ext.Offset = n
				} else {
					ext.Length = n
				}
			}
		default:
			err = p.skip(f, ctx)
		}
		return err
	})
	if err != nil {
		return err
	}
	g.initializers[name] = struct{}{}
	if external {
		g.external = true
		for _, loc := range locations {
			seen := false
			for _, l := range g.externalFiles {
				seen = seen || l == loc
			}
			if !seen {
				g.externalFiles = append(g.externalFiles, loc)
			}
		}
		ext.Name = name
		g.externalTensors = append(g.externalTensors, ext)
	}
	return nil
}

// maxDims bounds the dims the reader keeps of one initializer; no tensor
// has more than a handful, and the bound keeps a corrupt packed field from
// turning into a huge allocation.
const maxDims = 64

// dims appends a TensorProto's dims, packed or not.
func (p *parser) dims(f field, what string, dst *[]int64) error {
	add := func(v uint64) error {
		if len(*dst) >= maxDims {
			return p.corrupt(f.at, what, "more than %d dims", maxDims)
		}
		*dst = append(*dst, int64(v))
		return nil
	}
	switch f.typ {
	case protowire.VarintType:
		return add(f.v)
	case protowire.BytesType:
		if f.end > p.size {
			return p.truncated(what)
		}
		for pos := f.start; pos < f.end; {
			v, next, err := p.varint(pos, f.end, what)
			if err != nil {
				return err
			}
			if err := add(v); err != nil {
				return err
			}
			pos = next
		}
		return nil
	}
	return p.corrupt(f.at, what, "field %d (dims) has wire type %d", f.num, f.typ)
}

func (p *parser) valueInfo(f field, what string) (ValueInfo, error) {
	var v ValueInfo
	err := p.walk(f.start, f.end, what, func(f field) error {
		// Once the name is known, errors in the type say whose it is.
		ctx := what
		if v.Name != "" {
			ctx = fmt.Sprintf("%s %q", what, v.Name)
		}
		switch f.num {
		case valueInfoName:
			var err error
			v.Name, err = p.str(f, ctx, "name")
			return err
		case valueInfoType:
			if err := p.want(f, protowire.BytesType, ctx, "type"); err != nil {
				return err
			}
			return p.walk(f.start, f.end, ctx, func(f field) error {
				if f.num != typeTensorType {
					return nil // sequence, map, optional: not a tensor
				}
				if err := p.want(f, protowire.BytesType, ctx, "tensor_type"); err != nil {
					return err
				}
				return p.tensorType(f, &v, ctx)
			})
		}
		return nil
	})
	return v, err
}

func (p *parser) tensorType(f field, v *ValueInfo, what string) error {
	return p.walk(f.start, f.end, what, func(f field) error {
		switch f.num {
		case typeTensorElemType:
			t, err := p.int(f, what, "elem_type")
			v.ElemType = ElemType(t)
			return err
		case typeTensorShape:
			if err := p.want(f, protowire.BytesType, what, "shape"); err != nil {
				return err
			}
			v.HasShape = true
			v.Dims = []Dim{} // a scalar has a shape with no dims
			return p.walk(f.start, f.end, what, func(f field) error {
				if f.num != shapeDim {
					return nil
				}
				if err := p.want(f, protowire.BytesType, what, "dim"); err != nil {
					return err
				}
				d := Dim{Value: -1}
				err := p.walk(f.start, f.end, what, func(f field) error {
					var err error
					switch f.num {
					case dimValue:
						d.Param = ""
						d.Value, err = p.int(f, what, "dim_value")
					case dimParam:
						d.Value = -1
						d.Param, err = p.str(f, what, "dim_param")
					}
					return err
				})
				v.Dims = append(v.Dims, d)
				return err
			})
		}
		return nil
	})
}
