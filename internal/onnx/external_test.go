package onnx

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"google.golang.org/protobuf/encoding/protowire"
)

// externalModel writes a model with two initializers of 12000 bytes in
// model.onnx_data (at offsets 0 and 12288) and one stored inline, and
// returns its path.
func externalModel(t testing.TB) string {
	t.Helper()
	b := NewBuilder("g")
	x := b.Input("x", Float32, 1, 3000)
	big := make([]float32, 3000)
	w1 := b.Constant("w1", []int64{1, 3000}, big)
	w2 := b.Constant("w2", []int64{1, 3000}, big)
	b.Output(b.Op("Mul", []string{b.Op("Add", []string{x, w1}, nil), w2}, nil), "y", Float32, 1, 3000)
	b.Output(b.Op("Mul", []string{x, b.Scalar("small", 2)}, nil), "z", Float32, 1, 3000)
	path := filepath.Join(t.TempDir(), "model.onnx")
	if err := b.WriteFileExternal(path, 1024); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestExternalTensors(t *testing.T) {
	path := externalModel(t)
	sig, err := ReadSignature(path)
	if err != nil {
		t.Fatal(err)
	}
	want := []ExternalTensor{
		{Name: "w1", Location: "model.onnx_data", Offset: 0, Length: 12000, ElemType: Float32, Dims: []int64{1, 3000}},
		{Name: "w2", Location: "model.onnx_data", Offset: 12288, Length: 12000, ElemType: Float32, Dims: []int64{1, 3000}},
	}
	if !reflect.DeepEqual(sig.External, want) {
		t.Errorf("External = %+v\nwant %+v", sig.External, want)
	}
	if err := sig.CheckExternalData(path); err != nil {
		t.Errorf("complete data file: %v", err)
	}
}

func TestCheckExternalData(t *testing.T) {
	tests := []struct {
		name  string
		spoil func(data string) error
		// want are the strings the message must hold ({model} and {data}
		// stand for the paths).
		want    []string
		notExst bool
	}{
		{"missing", os.Remove, []string{"{model}: its weights file {data} is missing", "2 initializers", "w2"}, true},
		{"a folder", func(data string) error {
			if err := os.Remove(data); err != nil {
				return err
			}
			return os.Mkdir(data, 0o755)
		}, []string{"{model}", "{data}", "cannot be read: it is a folder"}, false},
		// One byte short of w2's end.
		{"cut short", func(data string) error { return os.Truncate(data, 12288+12000-1) },
			[]string{"{model}: its weights file {data} holds 24287 bytes, but the model reads up to byte 24288 of it (initializer w2)"}, false},
		{"empty", func(data string) error { return os.Truncate(data, 0) },
			[]string{"holds 0 bytes", "up to byte 24288"}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := externalModel(t)
			data := path + "_data"
			if err := tt.spoil(data); err != nil {
				t.Fatal(err)
			}
			sig, err := ReadSignature(path)
			if err != nil {
				t.Fatal(err)
			}
			err = sig.CheckExternalData(path)
			if err == nil {
				t.Fatal("no error")
			}
			if !errors.Is(err, ErrExternalData) {
				t.Errorf("%v is not ErrExternalData", err)
			}
			if got := errors.Is(err, fs.ErrNotExist); got != tt.notExst {
				t.Errorf("errors.Is(err, fs.ErrNotExist) = %t, want %t", got, tt.notExst)
			}
			for _, w := range tt.want {
				w = strings.NewReplacer("{model}", path, "{data}", data).Replace(w)
				if !strings.Contains(err.Error(), w) {
					t.Errorf("%q does not contain %q", err, w)
				}
			}
		})
	}
}

func TestExternalTensorBytes(t *testing.T) {
	tests := []struct {
		t    ExternalTensor
		want int64
	}{
		{ExternalTensor{Length: 10, ElemType: Float32, Dims: []int64{100}}, 10},
		{ExternalTensor{Length: -1, ElemType: Float32, Dims: []int64{2, 3}}, 24},
		{ExternalTensor{Length: -1, ElemType: Float16, Dims: []int64{}}, 2},
		{ExternalTensor{Length: -1, ElemType: String, Dims: []int64{4}}, -1},
		{ExternalTensor{Length: -1, ElemType: Float64, Dims: []int64{1 << 40, 1 << 40}}, -1},
		{ExternalTensor{Length: -1, ElemType: Float32, Dims: []int64{-1}}, -1},
	}
	for _, tt := range tests {
		if got := tt.t.Bytes(); got != tt.want {
			t.Errorf("%+v.Bytes() = %d, want %d", tt.t, got, tt.want)
		}
	}
}

// externalInitializer is a graph field holding one external initializer
// with packed dims and the given external_data entries.
func externalInitializer(name string, dims []int64, entries ...[2]string) []byte {
	var packed []byte
	for _, d := range dims {
		packed = protowire.AppendVarint(packed, uint64(d))
	}
	var e []byte
	e = protowire.AppendTag(e, tensorDims, protowire.BytesType)
	e = protowire.AppendBytes(e, packed)
	e = appendInt(e, tensorDataType, int64(Float32))
	e = appendString(e, tensorName, name)
	for _, kv := range entries {
		var entry []byte
		entry = appendString(entry, entryKey, kv[0])
		entry = appendString(entry, entryValue, kv[1])
		e = protowire.AppendTag(e, tensorExternalData, protowire.BytesType)
		e = protowire.AppendBytes(e, entry)
	}
	e = appendInt(e, tensorDataLocation, tensorLocationExternal)
	g := protowire.AppendTag(nil, graphInitializer, protowire.BytesType)
	return protowire.AppendBytes(g, e)
}

func TestExternalDataEntries(t *testing.T) {
	b := NewBuilder("g")
	b.Output(b.Input("x", Float32, 2), "y", Float32, 2)
	base := mustBytes(t, b)

	// Packed dims and no length: the length comes from the dims.
	data := append(append([]byte(nil), base...), graphField(externalInitializer("w", []int64{2, 5}, [2]string{"location", "w.bin"}, [2]string{"offset", "64"}))...)
	sig, err := ReadSignatureBytes(data)
	if err != nil {
		t.Fatal(err)
	}
	want := []ExternalTensor{{Name: "w", Location: "w.bin", Offset: 64, Length: -1, ElemType: Float32, Dims: []int64{2, 5}}}
	if !reflect.DeepEqual(sig.External, want) {
		t.Fatalf("External = %+v, want %+v", sig.External, want)
	}
	dir := t.TempDir()
	model := filepath.Join(dir, "model.onnx")
	if err := os.WriteFile(filepath.Join(dir, "w.bin"), make([]byte, 64+40), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := sig.CheckExternalData(model); err != nil {
		t.Errorf("w.bin of 104 bytes: %v", err)
	}
	if err := os.Truncate(filepath.Join(dir, "w.bin"), 103); err != nil {
		t.Fatal(err)
	}
	if err := sig.CheckExternalData(model); err == nil || !strings.Contains(err.Error(), "up to byte 104") {
		t.Errorf("w.bin of 103 bytes: %v", err)
	}

	// A location outside the model's folder is refused before anything
	// reads it, whether or not the file exists.
	if err := os.WriteFile(filepath.Join(filepath.Dir(dir), "w.bin"), make([]byte, 104), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, loc := range []string{"../w.bin", "/etc/passwd", filepath.Join(filepath.Dir(dir), "w.bin"), "sub/../../w.bin"} {
		data := append(append([]byte(nil), base...), graphField(externalInitializer("w", []int64{2}, [2]string{"location", loc}))...)
		sig, err := ReadSignatureBytes(data)
		if err != nil {
			t.Fatal(err)
		}
		err = sig.CheckExternalData(model)
		if err == nil || !errors.Is(err, ErrExternalData) || !strings.Contains(err.Error(), "outside the model's folder") || !strings.Contains(err.Error(), loc) {
			t.Errorf("location %q: %v", loc, err)
		}
	}
	// Inside the folder through a detour is fine.
	data = append(append([]byte(nil), base...), graphField(externalInitializer("w", []int64{2, 5}, [2]string{"location", "sub/../w.bin"}, [2]string{"offset", "64"}))...)
	if sig, err = ReadSignatureBytes(data); err != nil {
		t.Fatal(err)
	}
	if err := sig.CheckExternalData(model); err == nil || !strings.Contains(err.Error(), "up to byte 104") {
		t.Errorf("location sub/../w.bin (103 bytes): %v", err)
	}

	// An offset that is not a number is a corrupt model, positioned in it.
	for _, bad := range [][2]string{{"offset", "-1"}, {"length", "12 bytes"}} {
		data := append(append([]byte(nil), base...), graphField(externalInitializer("w", []int64{2}, [2]string{"location", "w.bin"}, bad))...)
		_, err := ReadSignatureBytes(data)
		var fe *FormatError
		if !errors.As(err, &fe) || fe.Kind != ErrCorrupt || fe.Offset <= int64(len(base)) || fe.Offset >= int64(len(data)) {
			t.Errorf("%s %q: %v, want a corrupt error inside the initializer", bad[0], bad[1], err)
		}
	}
}
