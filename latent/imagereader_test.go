package latent

import (
	"bytes"
	"encoding/binary"
	"errors"
	"hash/crc32"
	"image/jpeg"
	"image/png"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// pngHeader is the start of a PNG declaring width x height pixels in
// 8-bit RGB, without any pixel data: enough for a reader that trusts the
// header to allocate for the whole image.
func pngHeader(width, height uint32) []byte {
	var b bytes.Buffer
	b.WriteString("\x89PNG\r\n\x1a\n")
	ihdr := make([]byte, 13)
	binary.BigEndian.PutUint32(ihdr[0:], width)
	binary.BigEndian.PutUint32(ihdr[4:], height)
	ihdr[8], ihdr[9] = 8, 2
	binary.Write(&b, binary.BigEndian, uint32(len(ihdr)))
	b.WriteString("IHDR")
	b.Write(ihdr)
	binary.Write(&b, binary.BigEndian, crc32.ChecksumIEEE(append([]byte("IHDR"), ihdr...)))
	return b.Bytes()
}

func TestImageReaderLimit(t *testing.T) {
	dir := t.TempDir()
	write := func(name string, data []byte) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, data, 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	bomb := write("bomb.png", pngHeader(20000, 20000))
	var pngBuf, jpegBuf bytes.Buffer
	if err := png.Encode(&pngBuf, testPhoto(96, 64)); err != nil {
		t.Fatal(err)
	}
	if err := jpeg.Encode(&jpegBuf, testPhoto(96, 64), nil); err != nil {
		t.Fatal(err)
	}
	photo := write("photo.png", pngBuf.Bytes())
	photoJPEG := write("photo.jpg", jpegBuf.Bytes())

	for name, read := range map[string]func(ImageReader, string) error{
		"Config": func(r ImageReader, p string) error { _, err := r.Config(p); return err },
		"Read":   func(r ImageReader, p string) error { _, err := r.Read(p); return err },
		"Load":   func(r ImageReader, p string) error { _, err := r.Load(p); return err },
	} {
		// The default limit: the 400-megapixel header is refused before
		// any pixel is read (the file has none).
		err := read(ImageReader{}, bomb)
		var tl *ImageTooLargeError
		if !errors.As(err, &tl) || !errors.Is(err, ErrImageTooLarge) || tl.Width != 20000 || tl.Height != 20000 || tl.MaxPixels != DefaultMaxImagePixels {
			t.Errorf("%s(bomb): %v, want an ImageTooLargeError of 20000x20000 px", name, err)
		}
		for _, w := range []string{bomb, "is 20000x20000 px (400 megapixels), larger than the limit of 67.11 megapixels"} {
			if err == nil || !strings.Contains(err.Error(), w) {
				t.Errorf("%s(bomb): %v does not mention %q", name, err, w)
			}
		}
		// 96 x 64 = 6144 pixels: at the limit passes, one under fails.
		for _, p := range []string{photo, photoJPEG} {
			if err := read(ImageReader{MaxPixels: 96 * 64}, p); err != nil {
				t.Errorf("%s(%s) at the limit: %v", name, p, err)
			}
			if err := read(ImageReader{MaxPixels: 96*64 - 1}, p); !errors.Is(err, ErrImageTooLarge) {
				t.Errorf("%s(%s) one pixel over the limit: %v", name, p, err)
			}
		}
	}
	// The package functions apply the default limit.
	if _, err := LoadImage(bomb); !errors.Is(err, ErrImageTooLarge) {
		t.Errorf("LoadImage(bomb): %v", err)
	}
	if _, err := ReadImage(bomb); !errors.Is(err, ErrImageTooLarge) {
		t.Errorf("ReadImage(bomb): %v", err)
	}
}
