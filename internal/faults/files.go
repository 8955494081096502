package faults

import (
	"bytes"
	"fmt"
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
