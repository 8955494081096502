package onnx

import (
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"sort"
	"strconv"

	"google.golang.org/protobuf/encoding/protowire"
)

// Attrs holds node attributes by name. Values map to ONNX attribute types:
//
//	int, int32, int64, bool      INT (bool as 0 or 1)
//	float32, float64             FLOAT
//	string, []byte               STRING
//	[]int, []int64               INTS
//	[]float32, []float64         FLOATS
//	[]string                     STRINGS
//	Tensor                       TENSOR
//
// Attributes are written sorted by name so that output bytes are
// deterministic.
type Attrs map[string]any

// Builder assembles an ONNX graph and serialises it as a ModelProto.
//
// Methods record the first problems they meet (a bad dimension, an
// unsupported attribute value) instead of returning errors, so that graphs
// read as straight-line code; Bytes and the Write methods report them all,
// together with the graph validation (every node input defined before use,
// every value defined once).
type Builder struct {
	graphName       string
	irVersion       int64
	opsets          []Opset
	producerName    string
	producerVersion string

	inputs       []valueInfo
	outputs      []valueInfo
	initializers []initializer
	nodes        []node
	errs         []error
}

// Opset is one entry of ModelProto.opset_import: the default domain is "".
type Opset struct {
	Domain  string
	Version int64
}

type valueInfo struct {
	name string
	typ  ElemType
	dims []Dim
}

type initializer struct {
	name   string
	tensor Tensor
}

type node struct {
	name    string
	opType  string
	domain  string
	inputs  []string
	outputs []string
	attrs   []byte // encoded AttributeProto fields (field 5 entries)
}

// NewBuilder returns a builder for a graph named graphName, targeting IR
// version 8 and opset 17 of the default domain, which ONNX Runtime 1.24 and
// later load.
func NewBuilder(graphName string) *Builder {
	return &Builder{
		graphName:       graphName,
		irVersion:       defaultIRVersion,
		opsets:          []Opset{{Domain: "", Version: defaultOpset}},
		producerName:    "coop",
		producerVersion: "",
	}
}

// SetOpset sets the opset version of the default ONNX domain.
func (b *Builder) SetOpset(version int64) { b.SetDomainOpset("", version) }

// SetDomainOpset imports domain at version, or changes the version of an
// already imported domain (for example "com.microsoft").
func (b *Builder) SetDomainOpset(domain string, version int64) {
	for i := range b.opsets {
		if b.opsets[i].Domain == domain {
			b.opsets[i].Version = version
			return
		}
	}
	b.opsets = append(b.opsets, Opset{Domain: domain, Version: version})
}

// SetIRVersion sets ModelProto.ir_version (default 8).
func (b *Builder) SetIRVersion(v int64) { b.irVersion = v }

// SetProducer sets ModelProto.producer_name and producer_version
// (default "coop", "").
func (b *Builder) SetProducer(name, version string) {
	b.producerName, b.producerVersion = name, version
}

// Input declares a graph input and returns its name. Each dimension is an
// int (fixed size, a negative value meaning unknown) or a string (a symbolic
// dimension, ONNX dim_param). No dimensions declares a scalar (rank 0).
func (b *Builder) Input(name string, typ ElemType, dims ...any) string {
	b.inputs = append(b.inputs, valueInfo{name: name, typ: typ, dims: b.dims("input "+strconv.Quote(name), dims)})
	return name
}

// Output declares value as a graph output named name with the given type and
// dimensions (as for Input). When name differs from value an Identity node
// renames it, so any value, including a graph input or an initializer, can
// be exposed under the name a real export uses. It returns name.
func (b *Builder) Output(value, name string, typ ElemType, dims ...any) string {
	if value != name {
		b.addNode("Identity", "", []string{value}, []string{name}, nil)
	}
	b.outputs = append(b.outputs, valueInfo{name: name, typ: typ, dims: b.dims("output "+strconv.Quote(name), dims)})
	return name
}

func (b *Builder) dims(what string, dims []any) []Dim {
	out := make([]Dim, 0, len(dims))
	for i, d := range dims {
		switch v := d.(type) {
		case int:
			out = append(out, fixedDim(int64(v)))
		case int64:
			out = append(out, fixedDim(v))
		case int32:
			out = append(out, fixedDim(int64(v)))
		case string:
			if v == "" {
				b.errs = append(b.errs, fmt.Errorf("onnx: %s: dimension %d: empty symbolic name", what, i))
			}
			out = append(out, Dim{Value: -1, Param: v})
		case Dim:
			out = append(out, v)
		default:
			b.errs = append(b.errs, fmt.Errorf("onnx: %s: dimension %d: %T is neither an int nor a string", what, i, d))
			out = append(out, Dim{Value: -1})
		}
	}
	return out
}

func fixedDim(v int64) Dim {
	if v < 0 {
		return Dim{Value: -1}
	}
	return Dim{Value: v}
}

// ConstantTensor adds an initializer and returns its name.
func (b *Builder) ConstantTensor(name string, t Tensor) string {
	if err := t.check(); err != nil {
		b.errs = append(b.errs, fmt.Errorf("onnx: initializer %q: %w", name, err))
	}
	b.initializers = append(b.initializers, initializer{name: name, tensor: t})
	return name
}

// Constant adds a float32 initializer of the given shape.
func (b *Builder) Constant(name string, shape []int64, data []float32) string {
	return b.ConstantTensor(name, Float32Tensor(shape, data))
}

// ConstantFloat16 adds a float16 initializer, converting from float32.
func (b *Builder) ConstantFloat16(name string, shape []int64, data []float32) string {
	return b.ConstantTensor(name, Float16Tensor(shape, data))
}

// ConstantInt64 adds an int64 initializer of the given shape.
func (b *Builder) ConstantInt64(name string, shape []int64, data []int64) string {
	return b.ConstantTensor(name, Int64Tensor(shape, data))
}

// Int64s adds a 1-D int64 initializer holding values, the usual form of
// shape, axes, starts and ends inputs (Reshape, Slice, Unsqueeze, ...).
func (b *Builder) Int64s(name string, values ...int64) string {
	return b.ConstantInt64(name, []int64{int64(len(values))}, values)
}

// Scalar adds a rank-0 float32 initializer.
func (b *Builder) Scalar(name string, v float32) string {
	return b.Constant(name, nil, []float32{v})
}

// ScalarInt64 adds a rank-0 int64 initializer.
func (b *Builder) ScalarInt64(name string, v int64) string {
	return b.ConstantInt64(name, nil, []int64{v})
}

// Op adds a node with a single output and returns the output's name, which
// is generated ("<op>_<n>", unique within the graph). An empty string in
// inputs marks an omitted optional input (for example Resize's roi).
func (b *Builder) Op(opType string, inputs []string, attrs Attrs) string {
	return b.OpN(opType, inputs, 1, attrs)[0]
}

// OpN adds a node with nOutputs outputs and returns their generated names
// ("<op>_<n>_0", "<op>_<n>_1", ...).
func (b *Builder) OpN(opType string, inputs []string, nOutputs int, attrs Attrs) []string {
	return b.OpDomainN("", opType, inputs, nOutputs, attrs)
}

// OpDomainN is OpN for an operator of another domain (for example
// "com.microsoft"); import the domain with SetDomainOpset.
func (b *Builder) OpDomainN(domain, opType string, inputs []string, nOutputs int, attrs Attrs) []string {
	name := fmt.Sprintf("%s_%d", opType, len(b.nodes))
	outputs := make([]string, nOutputs)
	for i := range outputs {
		if nOutputs == 1 {
			outputs[i] = name
		} else {
			outputs[i] = fmt.Sprintf("%s_%d", name, i)
		}
	}
	b.addNode(opType, domain, inputs, outputs, attrs)
	return outputs
}

func (b *Builder) addNode(opType, domain string, inputs, outputs []string, attrs Attrs) {
	n := node{
		name:    fmt.Sprintf("%s_%d", opType, len(b.nodes)),
		opType:  opType,
		domain:  domain,
		inputs:  append([]string(nil), inputs...),
		outputs: outputs,
	}
	keys := make([]string, 0, len(attrs))
	for k := range attrs {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		a, err := encodeAttribute(k, attrs[k])
		if err != nil {
			b.errs = append(b.errs, fmt.Errorf("onnx: node %s: attribute %q: %w", n.name, k, err))
			continue
		}
		n.attrs = protowire.AppendTag(n.attrs, nodeAttribute, protowire.BytesType)
		n.attrs = protowire.AppendBytes(n.attrs, a)
	}
	b.nodes = append(b.nodes, n)
}

func encodeAttribute(name string, v any) ([]byte, error) {
	var a []byte
	a = appendString(a, attrName, name)
	var typ uint64
	switch x := v.(type) {
	case int:
		typ, a = attrTypeInt, appendInt(a, attrI, int64(x))
	case int32:
		typ, a = attrTypeInt, appendInt(a, attrI, int64(x))
	case int64:
		typ, a = attrTypeInt, appendInt(a, attrI, x)
	case bool:
		i := int64(0)
		if x {
			i = 1
		}
		typ, a = attrTypeInt, appendInt(a, attrI, i)
	case float32:
		typ, a = attrTypeFloat, appendFloat(a, attrF, x)
	case float64:
		typ, a = attrTypeFloat, appendFloat(a, attrF, float32(x))
	case string:
		typ, a = attrTypeString, appendString(a, attrS, x)
	case []byte:
		typ = attrTypeString
		a = protowire.AppendTag(a, attrS, protowire.BytesType)
		a = protowire.AppendBytes(a, x)
	case []int:
		typ = attrTypeInts
		for _, i := range x {
			a = appendInt(a, attrInts, int64(i))
		}
	case []int64:
		typ = attrTypeInts
		for _, i := range x {
			a = appendInt(a, attrInts, i)
		}
	case []float32:
		typ = attrTypeFloats
		for _, f := range x {
			a = appendFloat(a, attrFloats, f)
		}
	case []float64:
		typ = attrTypeFloats
		for _, f := range x {
			a = appendFloat(a, attrFloats, float32(f))
		}
	case []string:
		typ = attrTypeStrings
		for _, s := range x {
			a = appendString(a, attrStrings, s)
		}
	case Tensor:
		if err := x.check(); err != nil {
			return nil, err
		}
		typ = attrTypeTensor
		a = protowire.AppendTag(a, attrT, protowire.BytesType)
		a = protowire.AppendBytes(a, encodeTensor(nil, "", x, nil))
	default:
		return nil, fmt.Errorf("unsupported value type %T", v)
	}
	a = protowire.AppendTag(a, attrType, protowire.VarintType)
	return protowire.AppendVarint(a, typ), nil
}

// validate checks that every node input is a graph input, an initializer or
// the output of an earlier node, that every value is defined once and that
// every graph output is defined.
func (b *Builder) validate() error {
	errs := append([]error(nil), b.errs...)
	defined := make(map[string]string)
	define := func(name, by string) {
		if name == "" {
			errs = append(errs, fmt.Errorf("onnx: %s has an empty name", by))
			return
		}
		if prev, ok := defined[name]; ok {
			errs = append(errs, fmt.Errorf("onnx: value %q defined twice: by %s and by %s", name, prev, by))
			return
		}
		defined[name] = by
	}
	for _, in := range b.inputs {
		define(in.name, "graph input")
	}
	for _, init := range b.initializers {
		define(init.name, "initializer")
	}
	for _, n := range b.nodes {
		for i, in := range n.inputs {
			if in == "" {
				continue // omitted optional input
			}
			if _, ok := defined[in]; !ok {
				errs = append(errs, fmt.Errorf("onnx: node %s (%s) input %d: value %q is not a graph input, initializer or output of an earlier node", n.name, n.opType, i, in))
			}
		}
		for _, out := range n.outputs {
			define(out, "node "+n.name)
		}
	}
	for _, out := range b.outputs {
		if _, ok := defined[out.name]; !ok {
			errs = append(errs, fmt.Errorf("onnx: graph output %q is not defined", out.name))
		}
	}
	return errors.Join(errs...)
}

// Bytes validates the graph and returns the serialised ModelProto with every
// initializer stored inline.
func (b *Builder) Bytes() ([]byte, error) {
	if err := b.validate(); err != nil {
		return nil, err
	}
	return b.encodeModel(nil), nil
}

// WriteFile writes the model to path with every initializer inline.
func (b *Builder) WriteFile(path string) error {
	data, err := b.Bytes()
	if err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	return os.WriteFile(path, data, 0o644)
}

// externalRef says where an initializer's bytes live in the external file.
type externalRef struct {
	location       string
	offset, length int64
}

// externalAlign aligns tensors in external data files, so ONNX Runtime can
// memory-map them (its mapping needs page-aligned offsets).
const externalAlign = 4096

// WriteFileExternal writes the model to path and the bytes of every
// initializer of at least minBytes bytes to path+"_data" (for model.onnx,
// model.onnx_data beside it, as the ONNX external data convention and
// diffusers exports have it). Tensors in the data file start at 4096-byte
// aligned offsets. When no initializer is that large, no data file is
// written and any stale one is left alone.
func (b *Builder) WriteFileExternal(path string, minBytes int) error {
	return b.WriteFileExternalTo(path, filepath.Base(path)+"_data", minBytes)
}

// WriteFileExternalTo is WriteFileExternal with the data file at location,
// a path relative to the model's folder that the model records as it is:
// tests use it to write models whose location is not the convention's,
// or leads out of the folder.
func (b *Builder) WriteFileExternalTo(path, location string, minBytes int) error {
	if err := b.validate(); err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	dataPath := filepath.Join(filepath.Dir(path), location)
	refs := make(map[int]externalRef)
	var offset int64
	for i, init := range b.initializers {
		if len(init.tensor.Raw) < minBytes {
			continue
		}
		offset = (offset + externalAlign - 1) / externalAlign * externalAlign
		refs[i] = externalRef{location: location, offset: offset, length: int64(len(init.tensor.Raw))}
		offset += int64(len(init.tensor.Raw))
	}
	if len(refs) > 0 {
		f, err := os.Create(dataPath)
		if err != nil {
			return err
		}
		for i, init := range b.initializers {
			ref, ok := refs[i]
			if !ok {
				continue
			}
			if _, err := f.WriteAt(init.tensor.Raw, ref.offset); err != nil {
				f.Close()
				return err
			}
		}
		if err := f.Close(); err != nil {
			return err
		}
	}
	return os.WriteFile(path, b.encodeModel(refs), 0o644)
}

func (b *Builder) encodeModel(refs map[int]externalRef) []byte {
	var g []byte
	for _, n := range b.nodes {
		g = protowire.AppendTag(g, graphNode, protowire.BytesType)
		g = protowire.AppendBytes(g, encodeNode(n))
	}
	g = appendString(g, graphName, b.graphName)
	for i, init := range b.initializers {
		var ref *externalRef
		if r, ok := refs[i]; ok {
			ref = &r
		}
		g = protowire.AppendTag(g, graphInitializer, protowire.BytesType)
		g = protowire.AppendBytes(g, encodeTensor(nil, init.name, init.tensor, ref))
	}
	for _, in := range b.inputs {
		g = protowire.AppendTag(g, graphInput, protowire.BytesType)
		g = protowire.AppendBytes(g, encodeValueInfo(in))
	}
	for _, out := range b.outputs {
		g = protowire.AppendTag(g, graphOutput, protowire.BytesType)
		g = protowire.AppendBytes(g, encodeValueInfo(out))
	}

	var m []byte
	m = appendInt(m, modelIRVersion, b.irVersion)
	m = appendString(m, modelProducerName, b.producerName)
	if b.producerVersion != "" {
		m = appendString(m, modelProducerVersion, b.producerVersion)
	}
	m = protowire.AppendTag(m, modelGraph, protowire.BytesType)
	m = protowire.AppendBytes(m, g)
	for _, o := range b.opsets {
		var e []byte
		if o.Domain != "" {
			e = appendString(e, opsetDomain, o.Domain)
		}
		e = appendInt(e, opsetVersion, o.Version)
		m = protowire.AppendTag(m, modelOpsetImport, protowire.BytesType)
		m = protowire.AppendBytes(m, e)
	}
	return m
}

func encodeNode(n node) []byte {
	var e []byte
	for _, in := range n.inputs {
		e = appendString(e, nodeInput, in)
	}
	for _, out := range n.outputs {
		e = appendString(e, nodeOutput, out)
	}
	e = appendString(e, nodeName, n.name)
	e = appendString(e, nodeOpType, n.opType)
	e = append(e, n.attrs...)
	if n.domain != "" {
		e = appendString(e, nodeDomain, n.domain)
	}
	return e
}

// encodeTensor appends a TensorProto; with ref the data is described as
// external instead of stored in raw_data.
func encodeTensor(e []byte, name string, t Tensor, ref *externalRef) []byte {
	for _, d := range t.Shape {
		e = appendInt(e, tensorDims, d)
	}
	e = appendInt(e, tensorDataType, int64(t.Type))
	if name != "" {
		e = appendString(e, tensorName, name)
	}
	if ref == nil {
		e = protowire.AppendTag(e, tensorRawData, protowire.BytesType)
		return protowire.AppendBytes(e, t.Raw)
	}
	for _, kv := range [][2]string{
		{"location", ref.location},
		{"offset", strconv.FormatInt(ref.offset, 10)},
		{"length", strconv.FormatInt(ref.length, 10)},
	} {
		var entry []byte
		entry = appendString(entry, entryKey, kv[0])
		entry = appendString(entry, entryValue, kv[1])
		e = protowire.AppendTag(e, tensorExternalData, protowire.BytesType)
		e = protowire.AppendBytes(e, entry)
	}
	return appendInt(e, tensorDataLocation, tensorLocationExternal)
}

func encodeValueInfo(v valueInfo) []byte {
	var shape []byte
	for _, d := range v.dims {
		var dim []byte
		switch {
		case d.Param != "":
			dim = appendString(dim, dimParam, d.Param)
		case d.Value >= 0:
			dim = appendInt(dim, dimValue, d.Value)
		}
		shape = protowire.AppendTag(shape, shapeDim, protowire.BytesType)
		shape = protowire.AppendBytes(shape, dim)
	}
	var tensor []byte
	tensor = appendInt(tensor, typeTensorElemType, int64(v.typ))
	tensor = protowire.AppendTag(tensor, typeTensorShape, protowire.BytesType)
	tensor = protowire.AppendBytes(tensor, shape)
	var typ []byte
	typ = protowire.AppendTag(typ, typeTensorType, protowire.BytesType)
	typ = protowire.AppendBytes(typ, tensor)
	var e []byte
	e = appendString(e, valueInfoName, v.name)
	e = protowire.AppendTag(e, valueInfoType, protowire.BytesType)
	return protowire.AppendBytes(e, typ)
}

func appendString(b []byte, num protowire.Number, s string) []byte {
	b = protowire.AppendTag(b, num, protowire.BytesType)
	return protowire.AppendString(b, s)
}

func appendInt(b []byte, num protowire.Number, v int64) []byte {
	b = protowire.AppendTag(b, num, protowire.VarintType)
	return protowire.AppendVarint(b, uint64(v))
}

func appendFloat(b []byte, num protowire.Number, f float32) []byte {
	b = protowire.AppendTag(b, num, protowire.Fixed32Type)
	return protowire.AppendFixed32(b, math.Float32bits(f))
}
