package onnx

import (
	"bytes"
	"encoding/binary"
	"math"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"google.golang.org/protobuf/encoding/protowire"
)

// unetLike builds a small graph with the signature of an SD unet export:
// symbolic batch and spatial dims, a rank-0 timestep and a fixed context
// width, exercising the operators fixture models need.
func unetLike() *Builder {
	b := NewBuilder("unet")
	x := b.Input("sample", Float32, "batch", 4, "height", "width")
	t := b.Input("timestep", Int64)
	ctx := b.Input("encoder_hidden_states", Float32, "batch", 77, 768)
	table := b.Constant("abar", []int64{1000}, make([]float32, 1000))
	abar := b.Op("Gather", []string{table, t}, Attrs{"axis": 0})
	// ReduceMean takes axes as an attribute up to opset 17.
	pooled := b.Op("ReduceMean", []string{ctx}, Attrs{"axes": []int64{1, 2}, "keepdims": true})
	scale := b.Op("Unsqueeze", []string{pooled, b.Int64s("axes", 3)}, nil)
	y := b.Op("Mul", []string{x, abar}, nil)
	y = b.Op("Add", []string{y, scale}, nil)
	b.Output(y, "out_sample", Float32, "batch", 4, "height", "width")
	return b
}

func TestRoundTrip(t *testing.T) {
	b := unetLike()
	data, err := b.Bytes()
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "model.onnx")
	if err := os.WriteFile(path, data, 0o644); err != nil {
		t.Fatal(err)
	}
	fromFile, err := ReadSignature(path)
	if err != nil {
		t.Fatal(err)
	}
	fromBytes, err := ReadSignatureBytes(data)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(fromFile, fromBytes) {
		t.Errorf("ReadSignature and ReadSignatureBytes disagree:\n%+v\n%+v", fromFile, fromBytes)
	}
	want := &Signature{
		IRVersion:    8,
		Opsets:       []Opset{{Domain: "", Version: 17}},
		ProducerName: "coop",
		GraphName:    "unet",
		Inputs: []ValueInfo{
			{Name: "sample", ElemType: Float32, HasShape: true, Dims: []Dim{{-1, "batch"}, {4, ""}, {-1, "height"}, {-1, "width"}}},
			{Name: "timestep", ElemType: Int64, HasShape: true, Dims: []Dim{}},
			{Name: "encoder_hidden_states", ElemType: Float32, HasShape: true, Dims: []Dim{{-1, "batch"}, {77, ""}, {768, ""}}},
		},
		Outputs: []ValueInfo{
			{Name: "out_sample", ElemType: Float32, HasShape: true, Dims: []Dim{{-1, "batch"}, {4, ""}, {-1, "height"}, {-1, "width"}}},
		},
		Initializers: 2,
	}
	if !reflect.DeepEqual(fromFile, want) {
		t.Errorf("signature:\n got %+v\nwant %+v", fromFile, want)
	}
	if got := fromFile.Input("sample").ShapeString(); got != "[batch, 4, height, width]" {
		t.Errorf("sample shape = %s", got)
	}
	if got := fromFile.Input("timestep").ShapeString(); got != "[]" {
		t.Errorf("timestep shape = %s, want [] (rank 0)", got)
	}
	if fromFile.Opset("ai.onnx") != 17 || fromFile.Opset("") != 17 || fromFile.Opset("com.microsoft") != 0 {
		t.Errorf("Opset lookups wrong: %+v", fromFile.Opsets)
	}
}

func TestBuilderSettings(t *testing.T) {
	b := NewBuilder("g")
	b.SetIRVersion(9)
	b.SetOpset(18)
	b.SetDomainOpset("com.microsoft", 1)
	b.SetProducer("pytorch", "2.1.0")
	x := b.Input("x", Float16, -1, int64(3), int32(2))
	b.Output(x, "y", Float16, Dim{Value: -1}, 3, 2)
	data, err := b.Bytes()
	if err != nil {
		t.Fatal(err)
	}
	sig, err := ReadSignatureBytes(data)
	if err != nil {
		t.Fatal(err)
	}
	if sig.IRVersion != 9 || sig.ProducerName != "pytorch" || sig.ProducerVersion != "2.1.0" {
		t.Errorf("model header = %d %q %q", sig.IRVersion, sig.ProducerName, sig.ProducerVersion)
	}
	if want := []Opset{{"", 18}, {"com.microsoft", 1}}; !reflect.DeepEqual(sig.Opsets, want) {
		t.Errorf("opsets = %+v, want %+v", sig.Opsets, want)
	}
	if got := sig.Inputs[0].ShapeString(); got != "[?, 3, 2]" {
		t.Errorf("x shape = %s, want [?, 3, 2]", got)
	}
	if got := sig.Outputs[0]; got.Name != "y" || got.ElemType != Float16 {
		t.Errorf("output = %+v", got)
	}
}

// message decodes one protobuf message into its fields, by number, with
// literal field numbers from onnx.proto so that the test does not share the
// writer's constants.
func message(t testing.TB, b []byte) map[protowire.Number][]any {
	t.Helper()
	m := make(map[protowire.Number][]any)
	for len(b) > 0 {
		num, typ, n := protowire.ConsumeTag(b)
		if n < 0 {
			t.Fatalf("bad tag: %v", protowire.ParseError(n))
		}
		b = b[n:]
		var v any
		switch typ {
		case protowire.VarintType:
			v, n = protowire.ConsumeVarint(b)
		case protowire.Fixed32Type:
			var u uint32
			u, n = protowire.ConsumeFixed32(b)
			v = math.Float32frombits(u)
		case protowire.BytesType:
			v, n = protowire.ConsumeBytes(b)
		default:
			t.Fatalf("unexpected wire type %d", typ)
		}
		if n < 0 {
			t.Fatalf("bad field %d: %v", num, protowire.ParseError(n))
		}
		b = b[n:]
		m[num] = append(m[num], v)
	}
	return m
}

func TestAttributeEncoding(t *testing.T) {
	b := NewBuilder("g")
	x := b.Input("x", Float32, 1, 3, 8, 8)
	y := b.Op("Resize", []string{x, "", b.Constant("scales", []int64{4}, []float32{1, 1, 2, 2})}, Attrs{
		"mode":            "cubic",
		"cubic_coeff_a":   -0.75,
		"exclude_outside": false,
		"axes":            []int{0, 1, 2, 3},
		"weights":         []float32{0.5, 2},
		"names":           []string{"a", "b"},
		"value":           Float32Tensor([]int64{1}, []float32{3}),
		"alpha":           float32(1.5),
		"count":           int64(-2),
		"blob":            []byte{0xff},
	})
	b.Output(y, "y", Float32, 1, 3, 16, 16)
	data, err := b.Bytes()
	if err != nil {
		t.Fatal(err)
	}
	graph := message(t, message(t, data)[7][0].([]byte))
	nodes := graph[1]
	if len(nodes) != 2 {
		t.Fatalf("%d nodes, want Resize and Identity", len(nodes))
	}
	resize := message(t, nodes[0].([]byte))
	if got := string(resize[4][0].([]byte)); got != "Resize" {
		t.Fatalf("op_type = %q", got)
	}
	if got := string(resize[1][1].([]byte)); got != "" {
		t.Errorf("omitted optional input encoded as %q, want empty name", got)
	}
	type attr struct {
		typ uint64
		val any
	}
	got := make(map[string]attr)
	var order []string
	for _, a := range resize[5] {
		f := message(t, a.([]byte))
		name := string(f[1][0].([]byte))
		order = append(order, name)
		typ := f[20][0].(uint64)
		var val any
		switch typ {
		case 1:
			val = f[2][0]
		case 2:
			val = int64(f[3][0].(uint64))
		case 3:
			val = string(f[4][0].([]byte))
		case 4:
			tf := message(t, f[5][0].([]byte))
			val = []any{tf[1][0], tf[2][0], tf[9][0]}
		case 6:
			val = f[7]
		case 7:
			var ints []int64
			for _, i := range f[8] {
				ints = append(ints, int64(i.(uint64)))
			}
			val = ints
		case 8:
			var ss []string
			for _, s := range f[9] {
				ss = append(ss, string(s.([]byte)))
			}
			val = ss
		}
		got[name] = attr{typ, val}
	}
	raw3 := make([]byte, 4)
	binary.LittleEndian.PutUint32(raw3, math.Float32bits(3))
	want := map[string]attr{
		"mode":            {3, "cubic"},
		"cubic_coeff_a":   {1, float32(-0.75)},
		"exclude_outside": {2, int64(0)},
		"axes":            {7, []int64{0, 1, 2, 3}},
		"weights":         {6, []any{float32(0.5), float32(2)}},
		"names":           {8, []string{"a", "b"}},
		"value":           {4, []any{uint64(1), uint64(1), raw3}},
		"alpha":           {1, float32(1.5)},
		"count":           {2, int64(-2)},
		"blob":            {3, "\xff"},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("attributes:\n got %v\nwant %v", got, want)
	}
	if !sortedStrings(order) {
		t.Errorf("attributes not sorted by name: %v", order)
	}
	// Identical graphs serialise to identical bytes.
	again, _ := b.Bytes()
	if !bytes.Equal(data, again) {
		t.Error("Bytes is not deterministic")
	}
}

func sortedStrings(s []string) bool {
	for i := 1; i < len(s); i++ {
		if s[i-1] > s[i] {
			return false
		}
	}
	return true
}

func TestConstantEncoding(t *testing.T) {
	b := NewBuilder("g")
	b.Output(b.ConstantFloat16("h", []int64{2}, []float32{1, -2.5}), "h_out", Float16, 2)
	b.Output(b.ScalarInt64("i", -3), "i_out", Int64)
	b.Output(b.Scalar("f", 0.25), "f_out", Float32)
	b.Output(b.ConstantTensor("m", BoolTensor([]int64{3}, []bool{true, false, true})), "m_out", Bool, 3)
	b.Output(b.ConstantTensor("k", Int32Tensor([]int64{1, 2}, []int32{7, -1})), "k_out", Int32, 1, 2)
	data, err := b.Bytes()
	if err != nil {
		t.Fatal(err)
	}
	graph := message(t, message(t, data)[7][0].([]byte))
	type tensor struct {
		dims []any
		typ  uint64
		raw  []byte
	}
	got := make(map[string]tensor)
	for _, init := range graph[5] {
		f := message(t, init.([]byte))
		got[string(f[8][0].([]byte))] = tensor{f[1], f[2][0].(uint64), f[9][0].([]byte)}
	}
	want := map[string]tensor{
		"h": {[]any{uint64(2)}, 10, []byte{0x00, 0x3c, 0x00, 0xc1}}, // 1.0 = 0x3c00, -2.5 = 0xc100
		"i": {nil, 7, []byte{0xfd, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff}},
		"f": {nil, 1, []byte{0, 0, 0x80, 0x3e}},
		"m": {[]any{uint64(3)}, 9, []byte{1, 0, 1}},
		"k": {[]any{uint64(1), uint64(2)}, 6, []byte{7, 0, 0, 0, 0xff, 0xff, 0xff, 0xff}},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("initializers:\n got %v\nwant %v", got, want)
	}
}

func TestOpNNames(t *testing.T) {
	b := NewBuilder("g")
	x := b.Input("x", Float32, 4, 6)
	parts := b.OpN("Split", []string{x, b.Int64s("split", 2, 4)}, 2, Attrs{"axis": 1})
	if len(parts) != 2 || parts[0] == parts[1] {
		t.Fatalf("OpN outputs %v", parts)
	}
	s := b.Op("Shape", []string{x}, nil)
	b.Output(parts[0], "a", Float32, 4, 2)
	b.Output(parts[1], "b", Float32, 4, 4)
	b.Output(s, "s", Int64, 2)
	if _, err := b.Bytes(); err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	for _, n := range b.nodes {
		if seen[n.name] {
			t.Errorf("node name %q used twice", n.name)
		}
		seen[n.name] = true
	}
}

func TestValidation(t *testing.T) {
	tests := []struct {
		name  string
		build func(b *Builder)
		want  []string
	}{
		{"undefined input", func(b *Builder) {
			x := b.Input("x", Float32, 2)
			y := b.Op("Add", []string{x, "bias"}, nil)
			b.Output(y, "y", Float32, 2)
		}, []string{`node Add_0 (Add) input 1: value "bias" is not`}},
		{"later node output", func(b *Builder) {
			x := b.Input("x", Float32, 2)
			b.Op("Neg", []string{x, "Exp_1"}, nil)
			b.Op("Exp", []string{x}, nil)
		}, []string{`node Neg_0 (Neg) input 1: value "Exp_1"`}},
		{"defined twice", func(b *Builder) {
			b.Input("x", Float32, 2)
			b.Constant("x", []int64{1}, []float32{1})
		}, []string{`value "x" defined twice: by graph input and by initializer`}},
		{"undefined output", func(b *Builder) {
			b.Input("x", Float32, 2)
			b.Output("x", "x", Float32, 2)
			b.Output("nothing", "nothing", Float32, 2)
		}, []string{`graph output "nothing" is not defined`}},
		{"bad attribute", func(b *Builder) {
			x := b.Input("x", Float32, 2)
			b.Op("Softmax", []string{x}, Attrs{"axis": uint8(1)})
		}, []string{`node Softmax_0: attribute "axis": unsupported value type uint8`}},
		{"bad dimension", func(b *Builder) {
			b.Input("x", Float32, 2.5)
			b.Input("z", Float32, "")
		}, []string{`input "x": dimension 0: float64 is neither`, `input "z": dimension 0: empty symbolic name`}},
		{"bad tensor", func(b *Builder) {
			b.Constant("w", []int64{2, 3}, []float32{1, 2})
			b.ConstantTensor("s", Tensor{Type: String, Shape: []int64{1}})
		}, []string{`initializer "w": 8 bytes of float32 data for shape [2 3], want 24`, `initializer "s": element type string has no fixed size`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := NewBuilder("g")
			tt.build(b)
			_, err := b.Bytes()
			if err == nil {
				t.Fatal("Bytes succeeded")
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not contain %q", err, w)
				}
			}
			if err := b.WriteFile(filepath.Join(t.TempDir(), "m.onnx")); err == nil || !strings.Contains(err.Error(), "m.onnx") {
				t.Errorf("WriteFile error %v does not name the file", err)
			}
		})
	}
}

func TestWriteFileExternal(t *testing.T) {
	b := NewBuilder("g")
	x := b.Input("x", Float32, 1, 3000)
	big := make([]float32, 3000)
	for i := range big {
		big[i] = float32(i)
	}
	w1 := b.Constant("w1", []int64{1, 3000}, big)
	w2 := b.Constant("w2", []int64{1, 3000}, big[:3000])
	small := b.Scalar("small", 2)
	y := b.Op("Mul", []string{b.Op("Add", []string{b.Op("Add", []string{x, w1}, nil), w2}, nil), small}, nil)
	b.Output(y, "y", Float32, 1, 3000)
	dir := t.TempDir()
	path := filepath.Join(dir, "model.onnx")
	if err := b.WriteFileExternal(path, 1024); err != nil {
		t.Fatal(err)
	}
	sig, err := ReadSignature(path)
	if err != nil {
		t.Fatal(err)
	}
	if !sig.ExternalData || !reflect.DeepEqual(sig.ExternalFiles, []string{"model.onnx_data"}) {
		t.Errorf("external = %v %v, want true [model.onnx_data]", sig.ExternalData, sig.ExternalFiles)
	}
	if len(sig.Inputs) != 1 || sig.Inputs[0].Name != "x" || sig.Initializers != 3 {
		t.Errorf("inputs %v, %d initializers", sig.Inputs, sig.Initializers)
	}
	ext, err := os.ReadFile(path + "_data")
	if err != nil {
		t.Fatal(err)
	}
	// w1 at 0, w2 at the next 4096-byte boundary.
	if want := 12288 + 12000; len(ext) != want {
		t.Fatalf("data file is %d bytes, want %d", len(ext), want)
	}
	for i, off := range []int{0, 12288} {
		for _, k := range []int{0, 1, 2999} {
			v := math.Float32frombits(binary.LittleEndian.Uint32(ext[off+4*k:]))
			if v != float32(k) {
				t.Errorf("tensor %d element %d = %v, want %d", i, k, v, k)
			}
		}
	}
	// The model file holds the external references and no weights.
	model, _ := os.ReadFile(path)
	if len(model) > 2000 {
		t.Errorf("model file is %d bytes; weights were stored inline", len(model))
	}
	for _, s := range []string{"location", "model.onnx_data", "offset", "12288", "length", "12000"} {
		if !bytes.Contains(model, []byte(s)) {
			t.Errorf("model file lacks external data entry text %q", s)
		}
	}
	// No large initializer: no data file.
	b2 := NewBuilder("g")
	b2.Output(b2.Scalar("c", 1), "c_out", Float32)
	path2 := filepath.Join(dir, "small.onnx")
	if err := b2.WriteFileExternal(path2, 1024); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(path2 + "_data"); !os.IsNotExist(err) {
		t.Errorf("data file written for a model without large initializers: %v", err)
	}
	if sig, err := ReadSignature(path2); err != nil || sig.ExternalData {
		t.Errorf("small model: %v, external %v", err, sig != nil && sig.ExternalData)
	}
}
