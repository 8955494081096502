package latent

import (
	"bufio"
	"errors"
	"fmt"
	"github.com/coop-diffusion/coop/internal/atomicfile"
	"image"
	"image/color"
	_ "image/jpeg" // LoadImage reads JPEG
	"image/png"
	"io"
	"io/fs"
	"os"
	"strings"
)

// ColorConversion records what turning an image into an RGB tensor changed,
// so that callers can warn about or refuse such images.
type ColorConversion uint8

const (
	// FromGray: the image was grayscale; its one channel was copied to R, G
	// and B.
	FromGray ColorConversion = 1 << iota
	// DroppedAlpha: the image had pixels that were not fully opaque; the
	// alpha channel was dropped and the unpremultiplied colours kept, as
	// PIL's convert("RGB") does.
	DroppedAlpha
)

func (c ColorConversion) String() string {
	if c == 0 {
		return "none"
	}
	var parts []string
	if c&FromGray != 0 {
		parts = append(parts, "grayscale converted to RGB")
	}
	if c&DroppedAlpha != 0 {
		parts = append(parts, "alpha channel dropped")
	}
	if rest := c &^ (FromGray | DroppedAlpha); rest != 0 {
		parts = append(parts, fmt.Sprintf("ColorConversion(%#x)", uint8(rest)))
	}
	return strings.Join(parts, ", ")
}

// ImageConversion reports what FromImage will change when it turns img into
// an RGB tensor.
func ImageConversion(img image.Image) ColorConversion {
	var c ColorConversion
	switch m := img.ColorModel(); m {
	case color.GrayModel, color.Gray16Model:
		c |= FromGray
	}
	if o, ok := img.(interface{ Opaque() bool }); ok {
		if !o.Opaque() {
			c |= DroppedAlpha
		}
		return c
	}
	b := img.Bounds()
	for y := b.Min.Y; y < b.Max.Y; y++ {
		for x := b.Min.X; x < b.Max.X; x++ {
			if _, _, _, a := img.At(x, y).RGBA(); a != 0xffff {
				return c | DroppedAlpha
			}
		}
	}
	return c
}

// DefaultMaxImagePixels bounds the images ReadImage and LoadImage decode:
// 8192 x 8192 pixels. Decoding holds 4 bytes a pixel and the tensor 12
// more, so an image at the limit takes about 1 GiB; a PNG of a few
// megabytes can declare 20000 x 20000 pixels and ask for 6 GiB.
const DefaultMaxImagePixels = 8192 * 8192

// ImageReader reads PNG and JPEG images, refusing images larger than
// MaxPixels from their header, before any pixel is decoded: a
// decompression bomb (a small file declaring a huge image) costs a few
// kilobytes of reading, not gigabytes. The zero ImageReader applies
// DefaultMaxImagePixels.
type ImageReader struct {
	// MaxPixels is the largest width times height accepted;
	// DefaultMaxImagePixels when 0 or negative.
	MaxPixels int64
}

// ErrImageTooLarge is wrapped by the errors of images over the limit.
var ErrImageTooLarge = errors.New("image too large")

// ImageTooLargeError reports an image whose header declares more pixels
// than the limit.
type ImageTooLargeError struct {
	Path          string
	Width, Height int
	MaxPixels     int64
}

func (e *ImageTooLargeError) Error() string {
	return fmt.Sprintf("%s is %dx%d px (%s), larger than the limit of %s; scale it down first", e.Path, e.Width, e.Height,
		megapixels(int64(e.Width)*int64(e.Height)), megapixels(e.MaxPixels))
}

func (e *ImageTooLargeError) Unwrap() error { return ErrImageTooLarge }

// megapixels formats a pixel count as "400 megapixels" or "12345 pixels".
func megapixels(n int64) string {
	if n >= 1_000_000 {
		return fmt.Sprintf("%.4g megapixels", float64(n)/1e6)
	}
	return fmt.Sprintf("%d pixels", n)
}

func (r ImageReader) maxPixels() int64 {
	if r.MaxPixels <= 0 {
		return DefaultMaxImagePixels
	}
	return r.MaxPixels
}

// Config reads the header of the PNG or JPEG file at path and checks its
// size against the limit, decoding no pixels.
func (r ImageReader) Config(path string) (image.Config, error) {
	f, err := openImage(path)
	if err != nil {
		return image.Config{}, err
	}
	defer f.Close()
	return r.config(f, path)
}

// openImage opens an image file; errors name it once.
func openImage(path string) (*os.File, error) {
	f, err := os.Open(path)
	if err != nil {
		var pe *fs.PathError
		if errors.As(err, &pe) {
			err = pe.Err
		}
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return f, nil
}

func (r ImageReader) config(f *os.File, path string) (image.Config, error) {
	cfg, _, err := image.DecodeConfig(bufio.NewReader(f))
	switch {
	case errors.Is(err, image.ErrFormat):
		return cfg, fmt.Errorf("%s is not a PNG or JPEG image", path)
	case err != nil:
		return cfg, fmt.Errorf("%s: unreadable image: %w", path, err)
	case cfg.Width <= 0 || cfg.Height <= 0:
		return cfg, fmt.Errorf("%s: the image declares %dx%d px", path, cfg.Width, cfg.Height)
	}
	if int64(cfg.Width)*int64(cfg.Height) > r.maxPixels() {
		return cfg, &ImageTooLargeError{Path: path, Width: cfg.Width, Height: cfg.Height, MaxPixels: r.maxPixels()}
	}
	return cfg, nil
}

// Read decodes the PNG or JPEG file at path once its header has passed
// the size limit. Errors name the file and say whether it could not be
// read, is not an image, or is too large.
func (r ImageReader) Read(path string) (image.Image, error) {
	f, err := openImage(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	if _, err := r.config(f, path); err != nil {
		return nil, err
	}
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	img, _, err := image.Decode(bufio.NewReader(f))
	switch {
	case errors.Is(err, image.ErrFormat):
		return nil, fmt.Errorf("%s is not a PNG or JPEG image", path)
	case err != nil:
		return nil, fmt.Errorf("%s: unreadable image: %w", path, err)
	}
	return img, nil
}

// Load reads the PNG or JPEG file at path (see Read) into a [1, 3, H, W]
// tensor with values in [0, 1]. Grayscale and translucent images are
// converted to RGB; use Read, ImageConversion and FromImage to find out
// and warn or refuse.
func (r ImageReader) Load(path string) (*Tensor, error) {
	img, err := r.Read(path)
	if err != nil {
		return nil, err
	}
	return FromImage(img), nil
}

// ReadImage decodes the PNG or JPEG file at path with the zero
// ImageReader: images over DefaultMaxImagePixels are refused.
func ReadImage(path string) (image.Image, error) { return ImageReader{}.Read(path) }

// LoadImage reads the PNG or JPEG file at path into a [1, 3, H, W] tensor
// with the zero ImageReader (see ImageReader.Load).
func LoadImage(path string) (*Tensor, error) { return ImageReader{}.Load(path) }

// FromImage returns img as a [1, 3, H, W] tensor with values in [0, 1]:
// 8-bit samples v become v/255 and 16-bit samples v/65535, exactly rounded.
// Grayscale is copied to the three channels; alpha is dropped, keeping the
// unpremultiplied colour (see ImageConversion). JPEG's YCbCr is converted
// to 8-bit RGB with the JFIF equations (color.YCbCrToRGB), as libjpeg and
// PIL do.
func FromImage(img image.Image) *Tensor {
	b := img.Bounds()
	h, w := b.Dy(), b.Dx()
	t := New(1, 3, h, w)
	plane := h * w
	r, g, bl := t.Data[:plane], t.Data[plane:2*plane], t.Data[2*plane:]
	set8 := func(i int, cr, cg, cb uint8) {
		r[i], g[i], bl[i] = float32(cr)/255, float32(cg)/255, float32(cb)/255
	}
	setColor := func(i int, c color.Color) {
		n := color.NRGBA64Model.Convert(c).(color.NRGBA64)
		r[i], g[i], bl[i] = float32(n.R)/65535, float32(n.G)/65535, float32(n.B)/65535
	}
	switch m := img.(type) {
	case *image.NRGBA:
		for y := range h {
			for x := range w {
				o := m.PixOffset(b.Min.X+x, b.Min.Y+y)
				set8(y*w+x, m.Pix[o], m.Pix[o+1], m.Pix[o+2])
			}
		}
	case *image.RGBA:
		for y := range h {
			for x := range w {
				o := m.PixOffset(b.Min.X+x, b.Min.Y+y)
				if p := m.Pix[o : o+4 : o+4]; p[3] == 0xff {
					set8(y*w+x, p[0], p[1], p[2])
				} else {
					setColor(y*w+x, color.RGBA{p[0], p[1], p[2], p[3]})
				}
			}
		}
	case *image.Gray:
		for y := range h {
			for x := range w {
				v := m.Pix[m.PixOffset(b.Min.X+x, b.Min.Y+y)]
				set8(y*w+x, v, v, v)
			}
		}
	case *image.YCbCr:
		for y := range h {
			for x := range w {
				px, py := b.Min.X+x, b.Min.Y+y
				yi, ci := m.YOffset(px, py), m.COffset(px, py)
				cr, cg, cb := color.YCbCrToRGB(m.Y[yi], m.Cb[ci], m.Cr[ci])
				set8(y*w+x, cr, cg, cb)
			}
		}
	default:
		for y := range h {
			for x := range w {
				setColor(y*w+x, img.At(b.Min.X+x, b.Min.Y+y))
			}
		}
	}
	return t
}

// ToImage converts a [1, 3, H, W] tensor with values in [0, 1] to an opaque
// 8-bit image: values are clamped to [0, 1] (NaN becomes 0) and v*255 is
// rounded to nearest, halves up, the same on every machine. It panics on any
// other shape.
func ToImage(t *Tensor) *image.NRGBA {
	if err := checkImageTensor(t); err != nil {
		panic("latent.ToImage: " + err.Error())
	}
	h, w := t.H(), t.W()
	plane := h * w
	img := image.NewNRGBA(image.Rect(0, 0, w, h))
	r, g, b := t.Data[:plane], t.Data[plane:2*plane], t.Data[2*plane:3*plane]
	for i := range plane {
		p := img.Pix[4*i : 4*i+4 : 4*i+4]
		p[0], p[1], p[2], p[3] = quantize8(r[i]), quantize8(g[i]), quantize8(b[i]), 0xff
	}
	return img
}

func checkImageTensor(t *Tensor) error {
	if len(t.Shape) != 4 || t.N() != 1 || t.C() != 3 {
		return fmt.Errorf("image tensor %v is not [1, 3, H, W]", t)
	}
	return nil
}

// quantize8 maps [0, 1] to 0..255, rounding to nearest with halves up. The
// arithmetic is exact in float64 up to the final truncation, so the result
// does not depend on the machine.
func quantize8(v float32) uint8 {
	if !(v > 0) {
		return 0
	}
	if v >= 1 {
		return 255
	}
	return uint8(float64(v)*255 + 0.5)
}

// WriteMode says whether a write may replace an existing file.
type WriteMode int

const (
	// NoOverwrite refuses to replace an existing file.
	NoOverwrite WriteMode = iota
	// Overwrite replaces an existing file.
	Overwrite
)

// SavePNG writes a [1, 3, H, W] tensor with values in [0, 1] to path as an
// 8-bit RGB PNG (see ToImage), atomically (see WritePNG).
func SavePNG(path string, t *Tensor, mode WriteMode) error {
	if err := checkImageTensor(t); err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	return WritePNG(path, ToImage(t), mode)
}

// WritePNG encodes img to path atomically: it writes a temporary file in the
// same directory and moves it into place only once it is complete, so a
// reader never sees half a file and a failure leaves nothing behind. With
// NoOverwrite an existing file at path is an error and is left untouched.
func WritePNG(path string, img image.Image, mode WriteMode) error {
	err := atomicfile.Write(path, mode == Overwrite, func(w io.Writer) error {
		if err := png.Encode(w, img); err != nil {
			return fmt.Errorf("encoding PNG: %w", err)
		}
		return nil
	})
	if errors.Is(err, atomicfile.ErrExists) {
		return fmt.Errorf("%s: file exists; refusing to overwrite it", path)
	}
	return err
}
