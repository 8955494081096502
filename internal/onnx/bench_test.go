package onnx

import (
	"bufio"
	"os"
	"path/filepath"
	"testing"
)

// BenchmarkReadSignatureHugeInitializer reads the signature of a real file
// holding a 1 GiB float initializer inline (raw_data inside model.onnx),
// placed before the graph inputs. The file is written once, streaming, and
// the read must not depend on its size.
func BenchmarkReadSignatureHugeInitializer(b *testing.B) {
	const size = 1 << 30
	path := filepath.Join(b.TempDir(), "model.onnx")
	head, tail := hugeModel(b, size)
	f, err := os.Create(path)
	if err != nil {
		b.Fatal(err)
	}
	w := bufio.NewWriterSize(f, 1<<20)
	w.Write(head)
	chunk := make([]byte, 1<<20)
	for i := range chunk {
		chunk[i] = byte(i) // not a sparse hole: genuine bytes on disk
	}
	for written := 0; written < size; written += len(chunk) {
		w.Write(chunk)
	}
	w.Write(tail)
	if err := w.Flush(); err != nil {
		b.Fatal(err)
	}
	if err := f.Close(); err != nil {
		b.Fatal(err)
	}
	b.Run("ReadSignature", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			sig, err := ReadSignature(path)
			if err != nil {
				b.Fatal(err)
			}
			if len(sig.Inputs) != 1 {
				b.Fatalf("inputs %+v", sig.Inputs)
			}
		}
	})
}

// BenchmarkReadSignatureSmall reads a small model from bytes: the fixed
// cost of a signature read.
func BenchmarkReadSignatureSmall(b *testing.B) {
	data := mustBytes(b, unetLike())
	b.ReportAllocs()
	for b.Loop() {
		if _, err := ReadSignatureBytes(data); err != nil {
			b.Fatal(err)
		}
	}
}
