package faults

import (
	"bytes"
	"compress/zlib"
	"encoding/binary"
	"fmt"
	"hash/crc32"
	"image"
	"image/color"
	"image/png"
	"os"
)

// Truncate cuts the file at path to its first keep bytes, as an
// interrupted download leaves it; a negative keep drops that many bytes
// from the end.
func Truncate(path string, keep int64) error {
	st, err := os.Stat(path)
	if err != nil {
		return err
	}
	if keep < 0 {
		keep += st.Size()
	}
	if keep < 0 || keep > st.Size() {
		return fmt.Errorf("%s: cannot keep %d of %d bytes", path, keep, st.Size())
	}
	return os.Truncate(path, keep)
}

// Overwrite writes data over the file at path from byte offset at, as a
// damaged disk or a bad copy might.
func Overwrite(path string, at int64, data []byte) error {
	f, err := os.OpenFile(path, os.O_WRONLY, 0)
	if err != nil {
		return err
	}
	if _, err := f.WriteAt(data, at); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// Image kinds that WriteImage writes.
type ImageKind int

const (
	// RGB is an opaque 8-bit colour image: the kind coop wants.
	RGB ImageKind = iota
	// Gray is an 8-bit grayscale image.
	Gray
	// Alpha is an 8-bit colour image with translucent pixels.
	Alpha
)

// WriteImage writes a width x height PNG of the given kind to path, with a
// gradient so that resizing it is not trivial.
func WriteImage(path string, kind ImageKind, width, height int) error {
	r := image.Rect(0, 0, width, height)
	var img image.Image
	switch kind {
	case RGB, Alpha:
		m := image.NewNRGBA(r)
		for y := 0; y < height; y++ {
			for x := 0; x < width; x++ {
				a := uint8(255)
				if kind == Alpha {
					a = uint8(64 + 128*x/max(width, 1))
				}
				m.SetNRGBA(x, y, color.NRGBA{uint8(255 * x / max(width, 1)), uint8(255 * y / max(height, 1)), 128, a})
			}
		}
		img = m
	case Gray:
		m := image.NewGray(r)
		for y := 0; y < height; y++ {
			for x := 0; x < width; x++ {
				m.SetGray(x, y, color.Gray{uint8(255 * (x + y) / max(width+height, 1))})
			}
		}
		img = m
	default:
		return fmt.Errorf("unknown image kind %d", kind)
	}
	var buf bytes.Buffer
	if err := png.Encode(&buf, img); err != nil {
		return err
	}
	return os.WriteFile(path, buf.Bytes(), 0o644)
}

// WritePNGBomb writes a complete, valid PNG of width x height black
// pixels in 1-bit grayscale: its rows compress about a thousandfold, so a
// 20000 x 20000 image is a 50 KB file that decodes into 400 MB of
// image.Gray and 4.8 GB of float32 tensor. Readers must refuse it from its
// header.
func WritePNGBomb(path string, width, height int) error {
	if width <= 0 || height <= 0 || width > 1<<31-1 || height > 1<<31-1 {
		return fmt.Errorf("png bomb of %dx%d px: sizes must be positive and fit 31 bits", width, height)
	}
	var out bytes.Buffer
	out.WriteString("\x89PNG\r\n\x1a\n")
	ihdr := make([]byte, 13)
	binary.BigEndian.PutUint32(ihdr[0:], uint32(width))
	binary.BigEndian.PutUint32(ihdr[4:], uint32(height))
	ihdr[8], ihdr[9] = 1, 0 // bit depth 1, grayscale; compression, filter, interlace 0
	writeChunk(&out, "IHDR", ihdr)
	// Each row is a filter byte (0, none) and width/8 bytes of zeros.
	var idat bytes.Buffer
	zw, err := zlib.NewWriterLevel(&idat, zlib.BestCompression)
	if err != nil {
		return err
	}
	row := make([]byte, 1+(width+7)/8)
	for range height {
		if _, err := zw.Write(row); err != nil {
			return err
		}
	}
	if err := zw.Close(); err != nil {
		return err
	}
	writeChunk(&out, "IDAT", idat.Bytes())
	writeChunk(&out, "IEND", nil)
	return os.WriteFile(path, out.Bytes(), 0o644)
}

// writeChunk appends a PNG chunk: length, type, data and CRC-32 of type
// and data.
func writeChunk(w *bytes.Buffer, typ string, data []byte) {
	var n [4]byte
	binary.BigEndian.PutUint32(n[:], uint32(len(data)))
	w.Write(n[:])
	crc := crc32.NewIEEE()
	crc.Write([]byte(typ))
	crc.Write(data)
	w.WriteString(typ)
	w.Write(data)
	binary.BigEndian.PutUint32(n[:], crc.Sum32())
	w.Write(n[:])
}
