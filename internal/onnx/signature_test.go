package onnx

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"google.golang.org/protobuf/encoding/protowire"
)

func mustBytes(t testing.TB, b *Builder) []byte {
	t.Helper()
	data, err := b.Bytes()
	if err != nil {
		t.Fatal(err)
	}
	return data
}

// graphField wraps graph content as a ModelProto graph field. Protobuf
// merges repeated occurrences of a message field, so appending one to a
// model adds its content to the model's graph.
func graphField(content []byte) []byte {
	b := protowire.AppendTag(nil, 7, protowire.BytesType)
	return protowire.AppendBytes(b, content)
}

func TestInitializerInputsExcluded(t *testing.T) {
	b := NewBuilder("old-export")
	x := b.Input("x", Float32, 2)
	w := b.Constant("weight", []int64{2}, []float32{1, 2})
	b.Output(b.Op("Mul", []string{x, w}, nil), "y", Float32, 2)
	data := mustBytes(t, b)
	// Older exporters list every initializer among the graph inputs too.
	dup := encodeValueInfo(valueInfo{name: "weight", typ: Float32, dims: []Dim{{Value: 2}}})
	extra := protowire.AppendTag(nil, 11, protowire.BytesType)
	extra = protowire.AppendBytes(extra, dup)
	data = append(data, graphField(extra)...)
	sig, err := ReadSignatureBytes(data)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, in := range sig.Inputs {
		names = append(names, in.Name)
	}
	if !reflect.DeepEqual(names, []string{"x"}) {
		t.Errorf("inputs = %v, want [x]: initializer listed as input must be dropped", names)
	}
}

func TestUnrankedAndNonTensorValues(t *testing.T) {
	// An input whose type has no shape, and one of sequence type (TypeProto
	// field 4), as some exporters write.
	var vi []byte
	vi = appendString(vi, 1, "unranked")
	tensor := appendInt(nil, 1, int64(Float32))
	typ := protowire.AppendTag(nil, 1, protowire.BytesType)
	typ = protowire.AppendBytes(typ, tensor)
	vi = protowire.AppendTag(vi, 2, protowire.BytesType)
	vi = protowire.AppendBytes(vi, typ)
	var seq []byte
	seq = appendString(seq, 1, "seq")
	seqType := protowire.AppendTag(nil, 4, protowire.BytesType)
	seqType = protowire.AppendBytes(seqType, nil)
	seq = protowire.AppendTag(seq, 2, protowire.BytesType)
	seq = protowire.AppendBytes(seq, seqType)
	var g []byte
	for _, v := range [][]byte{vi, seq} {
		g = protowire.AppendTag(g, 11, protowire.BytesType)
		g = protowire.AppendBytes(g, v)
	}
	sig, err := ReadSignatureBytes(graphField(g))
	if err != nil {
		t.Fatal(err)
	}
	want := []ValueInfo{{Name: "unranked", ElemType: Float32}, {Name: "seq"}}
	if !reflect.DeepEqual(sig.Inputs, want) {
		t.Errorf("inputs = %+v, want %+v", sig.Inputs, want)
	}
	if got := sig.Inputs[0].ShapeString(); got != "[?...]" {
		t.Errorf("unranked shape = %q", got)
	}
}

// TestTruncated cuts a model at every byte inside its graph: each cut must
// fail with ErrTruncated, name the file and say what was being read.
func TestTruncated(t *testing.T) {
	data := mustBytes(t, unetLike())
	model := message(t, data)
	graph := model[7][0].([]byte)
	graphEnd := bytesIndex(data, graph) + len(graph)
	graphStart := bytesIndex(data, graph)
	contexts := map[string]bool{}
	for n := 1; n < graphEnd; n++ {
		_, err := ReadSignatureBytes(data[:n])
		if n <= graphStart-2 {
			// Cut before the graph: either no graph or a truncated header.
			if err == nil {
				t.Fatalf("prefix of %d bytes read without error", n)
			}
			continue
		}
		var fe *FormatError
		if !errors.As(err, &fe) || !errors.Is(err, ErrTruncated) {
			t.Fatalf("prefix of %d bytes: error %v, want ErrTruncated", n, err)
		}
		if fe.Offset != int64(n) || !strings.HasPrefix(err.Error(), fmt.Sprintf("onnx bytes: truncated at byte %d while reading ", n)) {
			t.Fatalf("prefix of %d bytes: error %q", n, err)
		}
		contexts[fe.Context] = true
	}
	for _, c := range []string{"graph", "graph node", "graph input", `graph input "sample"`, "graph output", `graph output "out_sample"`, "graph initializer", `graph initializer "abar"`} {
		if !contexts[c] {
			t.Errorf("no cut reported context %q; saw %v", c, contexts)
		}
	}

	// The same through a file, with the message the CLI shows.
	path := filepath.Join(t.TempDir(), "model.onnx")
	inInput := strings.LastIndex(string(data), "encoder_hidden_states") + 3
	if err := os.WriteFile(path, data[:inInput], 0o644); err != nil {
		t.Fatal(err)
	}
	_, err := ReadSignature(path)
	want := fmt.Sprintf("%s: truncated at byte %d while reading graph input", path, inInput)
	if err == nil || err.Error() != want {
		t.Errorf("error %v, want %q", err, want)
	}
}

func bytesIndex(b, sub []byte) int { return strings.Index(string(b), string(sub)) }

func TestCorrupt(t *testing.T) {
	good := mustBytes(t, unetLike())
	graph := message(t, good)[7][0].([]byte)
	graphTag := bytesIndex(good, graph) - 1 - protowire.SizeVarint(uint64(len(graph)))

	withByte := func(i int, v byte) []byte {
		b := append([]byte(nil), good...)
		b[i] = v
		return b
	}
	badVarint := append([]byte{0x08}, []byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01}...)
	// A graph whose first field declares more bytes than the graph holds.
	inner := protowire.AppendTag(nil, 2, protowire.BytesType)
	inner = protowire.AppendVarint(inner, 50)
	inner = append(inner, "abc"...)
	tests := []struct {
		name string
		data []byte
		kind error
		want string
	}{
		{"bad varint", badVarint, ErrCorrupt, "onnx bytes: corrupt at byte 1 while reading model: bad varint"},
		{"wire type 7", []byte{0x0f}, ErrCorrupt, "corrupt at byte 0 while reading model: field 1 has wire type 7, which ONNX does not use"},
		{"start group", []byte("{\"_class_name\": 1}"), ErrCorrupt, "field 15 has wire type 3"},
		{"field number 0", []byte{0x00, 0x01}, ErrCorrupt, "invalid field number 0"},
		{"graph as varint", []byte{0x38, 0x01}, ErrCorrupt, "field 7 (graph) has wire type 0, want 2"},
		{"length past message", graphField(inner), ErrCorrupt, "corrupt at byte 3 while reading graph: field 2 declares 50 bytes, past the end of its message at byte 7"},
		{"varint past message", append(graphField([]byte{0x10, 0x80}), 0x08, 0x08), ErrCorrupt, "varint runs past the end of its message"},
		{"skipped field past end of file", []byte{0x72, 0x80, 0x80, 0x04}, ErrTruncated, "truncated at byte 4 while reading model: field 14 at byte 0 declares 65536 bytes"},
		{"graph tag damaged", withByte(graphTag, 0x3f), ErrCorrupt, "wire type 7"},
		{"not a model", []byte("\x89PNG\r\n\x1a\n"), ErrCorrupt, "onnx bytes: corrupt at byte 0 while reading model: field 1281 is not a ModelProto field; not an ONNX model"},
		{"no graph", appendInt(nil, 1, 8), ErrNoGraph, "onnx bytes: not an ONNX model: no graph (ModelProto field 7)"},
		{"empty", nil, ErrNoGraph, "onnx bytes: not an ONNX model: empty file"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := ReadSignatureBytes(tt.data)
			if !errors.Is(err, tt.kind) {
				t.Fatalf("error %v, want kind %v", err, tt.kind)
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error %q does not contain %q", err, tt.want)
			}
		})
	}
}

func TestReadSignaturePathErrors(t *testing.T) {
	dir := t.TempDir()
	missing := filepath.Join(dir, "missing.onnx")
	if _, err := ReadSignature(missing); !errors.Is(err, fs.ErrNotExist) || !strings.Contains(err.Error(), missing) {
		t.Errorf("missing file: %v", err)
	}
	if _, err := ReadSignature(dir); err == nil || err.Error() != dir+": is a directory, not an ONNX model file" {
		t.Errorf("directory: %v", err)
	}
}

// countingReaderAt serves a virtual file and counts the bytes read from it.
type countingReaderAt struct {
	r    io.ReaderAt
	read int64
}

func (c *countingReaderAt) ReadAt(p []byte, off int64) (int, error) {
	n, err := c.r.ReadAt(p, off)
	c.read += int64(n)
	return n, err
}

// virtualModel is a model file whose one initializer holds size bytes of
// zeros that are never materialised: head, then the zeros, then tail.
type virtualModel struct {
	head, tail []byte
	size       int64
}

func (v *virtualModel) total() int64 { return int64(len(v.head)) + v.size + int64(len(v.tail)) }

func (v *virtualModel) ReadAt(p []byte, off int64) (int, error) {
	n := 0
	for n < len(p) {
		o := off + int64(n)
		switch {
		case o < int64(len(v.head)):
			n += copy(p[n:], v.head[o:])
		case o < int64(len(v.head))+v.size:
			k := min(int64(len(p)-n), int64(len(v.head))+v.size-o)
			clear(p[n : n+int(k)])
			n += int(k)
		case o < v.total():
			n += copy(p[n:], v.tail[o-int64(len(v.head))-v.size:])
		default:
			return n, io.EOF
		}
	}
	return n, nil
}

// hugeModel lays out a model with a float initializer of size bytes placed
// before the graph inputs, so that reading the inputs means getting past it.
// It returns the bytes before the raw data and after it.
func hugeModel(tb testing.TB, size int64) (head, tail []byte) {
	var init []byte
	init = appendInt(init, 1, size/4)
	init = appendInt(init, 2, int64(Float32))
	init = appendString(init, 8, "huge_weight")
	init = protowire.AppendTag(init, 9, protowire.BytesType)
	init = protowire.AppendVarint(init, uint64(size))
	initLen := int64(len(init)) + size

	b := NewBuilder("huge")
	x := b.Input("sample", Float32, "batch", 4, "height", "width")
	b.Output(x, "out_sample", Float32, "batch", 4, "height", "width")
	rest := message(tb, mustBytes(tb, b))
	var graphRest []byte
	for _, num := range []protowire.Number{1, 2, 11, 12} {
		for _, v := range rest[7] {
			for _, f := range message(tb, v.([]byte))[num] {
				graphRest = protowire.AppendTag(graphRest, num, protowire.BytesType)
				graphRest = protowire.AppendBytes(graphRest, f.([]byte))
			}
		}
	}
	graphLen := int64(protowire.SizeTag(5)+protowire.SizeVarint(uint64(initLen))) + initLen + int64(len(graphRest))

	head = appendInt(head, 1, 8)
	head = appendString(head, 2, "coop-bench")
	head = protowire.AppendTag(head, 7, protowire.BytesType)
	head = protowire.AppendVarint(head, uint64(graphLen))
	head = protowire.AppendTag(head, 5, protowire.BytesType)
	head = protowire.AppendVarint(head, uint64(initLen))
	head = append(head, init...)
	tail = append(tail, graphRest...)
	opset := appendInt(nil, 2, 17)
	tail = protowire.AppendTag(tail, 8, protowire.BytesType)
	tail = protowire.AppendBytes(tail, opset)
	return head, tail
}

func TestReadSignatureSkipsWeights(t *testing.T) {
	const size = 64 << 30 // 64 GiB, never materialised
	head, tail := hugeModel(t, size)
	v := &virtualModel{head: head, tail: tail, size: size}
	r := &countingReaderAt{r: v}
	sig, err := readSignature(r, v.total(), "virtual.onnx")
	if err != nil {
		t.Fatal(err)
	}
	if len(sig.Inputs) != 1 || sig.Inputs[0].ShapeString() != "[batch, 4, height, width]" || sig.Initializers != 1 {
		t.Errorf("signature = %+v", sig)
	}
	// Two windows at most: one at the start, one after the weights.
	if r.read > 2*windowSize {
		t.Errorf("read %d bytes of a model with a %d-byte initializer, want at most %d", r.read, int64(size), 2*windowSize)
	}
}

func FuzzReadSignature(f *testing.F) {
	seeds := [][]byte{mustBytes(f, unetLike())}
	ext := t0Builder()
	seeds = append(seeds, mustBytes(f, ext))
	head, tail := hugeModel(f, 16)
	seeds = append(seeds, append(append(head, make([]byte, 16)...), tail...))
	// External data entries with packed dims, the fields CheckExternalData
	// reads.
	seeds = append(seeds, append(mustBytes(f, unetLike()), graphField(externalInitializer("w", []int64{2, 5},
		[2]string{"location", "model.onnx_data"}, [2]string{"offset", "4096"}, [2]string{"length", "40"}))...))
	for _, s := range seeds[:2] {
		for _, n := range []int{1, 7, len(s) / 3, len(s) / 2, len(s) - 1} {
			seeds = append(seeds, s[:n])
		}
	}
	for _, s := range seeds {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		sig, err := ReadSignatureBytes(data)
		if err != nil {
			var fe *FormatError
			if !errors.As(err, &fe) || fe.Path != "onnx bytes" {
				t.Fatalf("error %v is not a FormatError naming the input", err)
			}
			if fe.Offset < 0 || fe.Offset > int64(len(data)) {
				t.Fatalf("error offset %d outside the %d-byte input", fe.Offset, len(data))
			}
			return
		}
		for _, v := range append(sig.Inputs, sig.Outputs...) {
			if !v.HasShape && len(v.Dims) > 0 {
				t.Fatalf("value %q has dims but no shape", v.Name)
			}
		}
	})
}

// t0Builder builds a model with external-data initializer references and a
// second opset domain, so the fuzzer starts from those fields too.
func t0Builder() *Builder {
	b := NewBuilder("ext")
	b.SetDomainOpset("com.microsoft", 1)
	x := b.Input("x", Float16, "n")
	b.Output(b.Op("Add", []string{x, b.ConstantFloat16("w", []int64{1}, []float32{1})}, nil), "y", Float16, "n")
	return b
}
