package latent

import (
	"bytes"
	"image"
	"image/color"
	"image/draw"
	"image/jpeg"
	"image/png"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// testPhoto is a smooth 8-bit image, different in each channel.
func testPhoto(w, h int) *image.NRGBA {
	img := image.NewNRGBA(image.Rect(0, 0, w, h))
	for y := range h {
		for x := range w {
			fx, fy := float64(x)/float64(w), float64(y)/float64(h)
			img.SetNRGBA(x, y, color.NRGBA{
				R: uint8(127.5 + 120*math.Sin(2*math.Pi*fx)),
				G: uint8(127.5 + 120*math.Cos(3*fy+fx)),
				B: uint8(255 * fx * fy),
				A: 255,
			})
		}
	}
	return img
}

func TestFromImageTypes(t *testing.T) {
	const w, h = 5, 3
	photo := testPhoto(w, h)
	want := func(x, y int) [3]float32 {
		c := photo.NRGBAAt(x, y)
		return [3]float32{float32(c.R) / 255, float32(c.G) / 255, float32(c.B) / 255}
	}
	rgba := image.NewRGBA(photo.Bounds())
	gray := image.NewGray(photo.Bounds())
	for y := range h {
		for x := range w {
			c := photo.NRGBAAt(x, y)
			rgba.SetRGBA(x, y, color.RGBA{c.R, c.G, c.B, 255})
		}
	}
	for i := range gray.Pix {
		gray.Pix[i] = uint8(40 * i)
	}
	// A sub-image whose bounds do not start at the origin.
	big := testPhoto(2*w, 2*h)
	sub := big.SubImage(image.Rect(2, 1, 2+w, 1+h)).(*image.NRGBA)

	check := func(name string, img image.Image, conv ColorConversion, want func(x, y int) [3]float32) {
		t.Helper()
		tensor := FromImage(img)
		if got := tensor.Shape; len(got) != 4 || got[0] != 1 || got[1] != 3 || got[2] != h || got[3] != w {
			t.Fatalf("%s: shape %v", name, got)
		}
		for y := range h {
			for x := range w {
				for c, v := range want(x, y) {
					if got := tensor.At(0, c, y, x); got != v {
						t.Errorf("%s: pixel (%d, %d) channel %d = %v, want %v", name, x, y, c, got, v)
					}
				}
			}
		}
		if got := ImageConversion(img); got != conv {
			t.Errorf("%s: ImageConversion = %v, want %v", name, got, conv)
		}
	}
	check("NRGBA", photo, 0, want)
	check("RGBA", rgba, 0, want)
	check("sub-image", sub, 0, func(x, y int) [3]float32 {
		c := big.NRGBAAt(x+2, y+1)
		return [3]float32{float32(c.R) / 255, float32(c.G) / 255, float32(c.B) / 255}
	})
	check("Gray", gray, FromGray, func(x, y int) [3]float32 {
		v := float32(gray.GrayAt(x, y).Y) / 255
		return [3]float32{v, v, v}
	})
	// The generic path at 16 bits.
	gray16 := image.NewGray16(photo.Bounds())
	for i := range w * h {
		gray16.SetGray16(i%w, i/w, color.Gray16{Y: uint16(4000 * i)})
	}
	check("Gray16", gray16, FromGray, func(x, y int) [3]float32 {
		v := float32(gray16.Gray16At(x, y).Y) / 65535
		return [3]float32{v, v, v}
	})
	// Alpha is dropped and the unpremultiplied colour kept, as PIL does.
	translucent := image.NewNRGBA(photo.Bounds())
	copy(translucent.Pix, photo.Pix)
	translucent.Pix[3] = 10 // pixel (0, 0)
	check("translucent NRGBA", translucent, DroppedAlpha, want)
	pal := image.NewPaletted(image.Rect(0, 0, w, h), color.Palette{color.NRGBA{200, 100, 50, 128}, color.Gray{30}})
	pal.Pix[1] = 1
	check("translucent Paletted", pal, DroppedAlpha, func(x, y int) [3]float32 {
		if x == 1 && y == 0 {
			return [3]float32{30. / 255, 30. / 255, 30. / 255}
		}
		// 8-bit NRGBA via premultiplied RGBA64 and back loses a little:
		// compare with the standard library's conversion.
		c := color.NRGBA64Model.Convert(color.NRGBA{200, 100, 50, 128}).(color.NRGBA64)
		return [3]float32{float32(c.R) / 65535, float32(c.G) / 65535, float32(c.B) / 65535}
	})
}

func TestFromImageYCbCr(t *testing.T) {
	img := image.NewYCbCr(image.Rect(0, 0, 4, 2), image.YCbCrSubsampleRatio420)
	for i := range img.Y {
		img.Y[i] = uint8(30 * i)
	}
	img.Cb[0], img.Cr[0] = 90, 200
	img.Cb[1], img.Cr[1] = 160, 60
	tensor := FromImage(img)
	for y := range 2 {
		for x := range 4 {
			yi, ci := img.YOffset(x, y), img.COffset(x, y)
			r, g, b := color.YCbCrToRGB(img.Y[yi], img.Cb[ci], img.Cr[ci])
			for c, v := range []uint8{r, g, b} {
				if got := tensor.At(0, c, y, x); got != float32(v)/255 {
					t.Errorf("pixel (%d, %d) channel %d = %v, want %v", x, y, c, got, float32(v)/255)
				}
			}
		}
	}
	if c := ImageConversion(img); c != 0 {
		t.Errorf("ImageConversion(YCbCr) = %v", c)
	}
}

func TestToImageQuantisation(t *testing.T) {
	in := []float32{-0.1, 0, 0.2, 0.5, 127.49 / 255, 127.5 / 255, 1, 1.2, float32(math.NaN()), float32(math.Inf(1)), float32(math.Inf(-1)), 0.999}
	want := []uint8{0, 0, 51, 128, 127, 128, 255, 255, 0, 255, 0, 255}
	tensor := New(1, 3, 1, len(in))
	copy(tensor.Data, in)
	img := ToImage(tensor)
	for i, w := range want {
		if got := img.Pix[4*i]; got != w {
			t.Errorf("value %v quantised to %d, want %d", in[i], got, w)
		}
		if a := img.Pix[4*i+3]; a != 255 {
			t.Errorf("alpha %d", a)
		}
	}
}

// Every 8-bit level survives FromImage then ToImage exactly.
func TestImageRoundTripExact(t *testing.T) {
	img := image.NewNRGBA(image.Rect(0, 0, 256, 3))
	for x := range 256 {
		for y := range 3 {
			img.SetNRGBA(x, y, color.NRGBA{uint8(x), uint8(255 - x), uint8(x * 7), 255})
		}
	}
	back := ToImage(FromImage(img))
	if !bytes.Equal(back.Pix, img.Pix) {
		t.Error("8-bit levels changed in a FromImage/ToImage round trip")
	}
}

func TestToImagePanicsOnShape(t *testing.T) {
	defer func() {
		if r := recover(); r == nil || !strings.Contains(r.(string), "[1, 3, H, W]") {
			t.Errorf("recovered %v", r)
		}
	}()
	ToImage(New(1, 4, 2, 2))
}

func TestRangeConversions(t *testing.T) {
	x := FromData([]float32{0, 0.5, 1, -0.25}, 4)
	ToSignedRange(x)
	for i, want := range []float32{-1, 0, 1, -1.5} {
		if x.Data[i] != want {
			t.Errorf("ToSignedRange element %d = %v, want %v", i, x.Data[i], want)
		}
	}
	ToUnitRange(x)
	for i, want := range []float32{0, 0.5, 1, -0.25} {
		if x.Data[i] != want {
			t.Errorf("ToUnitRange element %d = %v, want %v", i, x.Data[i], want)
		}
	}
}

func TestLoadImage(t *testing.T) {
	dir := t.TempDir()
	photo := testPhoto(96, 64)
	write := func(name string, data []byte) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, data, 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	var pngBuf, jpegBuf bytes.Buffer
	if err := png.Encode(&pngBuf, photo); err != nil {
		t.Fatal(err)
	}
	if err := jpeg.Encode(&jpegBuf, photo, &jpeg.Options{Quality: 95}); err != nil {
		t.Fatal(err)
	}
	pngPath := write("photo.png", pngBuf.Bytes())
	jpegPath := write("photo.jpg", jpegBuf.Bytes())

	got, err := LoadImage(pngPath)
	if err != nil {
		t.Fatal(err)
	}
	if want := FromImage(photo); !equalBits(got, want) {
		t.Error("PNG: LoadImage differs from FromImage of the original")
	}
	got, err = LoadImage(jpegPath)
	if err != nil {
		t.Fatal(err)
	}
	// JPEG is lossy: at quality 95 this smooth image stays above 40 dB
	// (46.6 measured).
	if p := PSNR(got, FromImage(photo), 1); p < 40 {
		t.Errorf("JPEG: PSNR %.1f dB against the original", p)
	}
	// The YCbCr conversion is the standard library's 8-bit one.
	decoded, err := jpeg.Decode(bytes.NewReader(jpegBuf.Bytes()))
	if err != nil {
		t.Fatal(err)
	}
	viaDraw := image.NewNRGBA(decoded.Bounds())
	draw.Draw(viaDraw, viaDraw.Bounds(), decoded, image.Point{}, draw.Src)
	if !equalBits(got, FromImage(viaDraw)) {
		t.Error("JPEG: LoadImage differs from the decoded image drawn onto NRGBA")
	}

	errCases := []struct {
		path string
		want string
	}{
		{filepath.Join(dir, "missing.png"), "no such file"},
		{write("notes.txt", []byte("hello, not an image")), "not a PNG or JPEG image"},
		{write("truncated.png", pngBuf.Bytes()[:pngBuf.Len()/2]), "unreadable image"},
	}
	for _, c := range errCases {
		_, err := LoadImage(c.path)
		if err == nil || !strings.Contains(err.Error(), c.path) || !strings.Contains(err.Error(), c.want) {
			t.Errorf("LoadImage(%s) = %v, want an error naming the file and %q", c.path, err, c.want)
		}
	}
}

func equalBits(a, b *Tensor) bool {
	if !a.SameShape(b) {
		return false
	}
	for i := range a.Data {
		if math.Float32bits(a.Data[i]) != math.Float32bits(b.Data[i]) {
			return false
		}
	}
	return true
}

func TestSavePNG(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "out.png")
	first := FromImage(testPhoto(8, 6))
	if err := SavePNG(path, first, NoOverwrite); err != nil {
		t.Fatal(err)
	}
	back, err := LoadImage(path)
	if err != nil {
		t.Fatal(err)
	}
	if !equalBits(back, first) {
		t.Error("saved PNG reads back different")
	}
	if info, err := os.Stat(path); err != nil || info.Mode().Perm() != 0o644 {
		t.Errorf("saved file mode %v, %v", info.Mode(), err)
	}

	second := New(1, 3, 6, 8)
	err = SavePNG(path, second, NoOverwrite)
	if err == nil || !strings.Contains(err.Error(), path) || !strings.Contains(err.Error(), "exists") {
		t.Errorf("second save without overwrite: %v", err)
	}
	if back, _ := LoadImage(path); !equalBits(back, first) {
		t.Error("refused save changed the file")
	}
	if err := SavePNG(path, second, Overwrite); err != nil {
		t.Fatal(err)
	}
	if back, _ := LoadImage(path); !equalBits(back, second) {
		t.Error("overwrite did not replace the file")
	}

	if err := SavePNG(filepath.Join(dir, "no", "such", "dir.png"), second, NoOverwrite); err == nil || !strings.Contains(err.Error(), "dir.png") {
		t.Errorf("save into a missing directory: %v", err)
	}
	if err := SavePNG(filepath.Join(dir, "bad.png"), New(1, 1, 2, 2), NoOverwrite); err == nil || !strings.Contains(err.Error(), "bad.png") {
		t.Errorf("save of a one-channel tensor: %v", err)
	}
	// Nothing but the one output is left in the directory: no temporary
	// files from the refused or failed saves.
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(entries) != 1 || entries[0].Name() != "out.png" {
		var names []string
		for _, e := range entries {
			names = append(names, e.Name())
		}
		t.Errorf("directory holds %v, want only out.png", names)
	}
}

// Encoding failure (here an empty image, which PNG cannot hold) leaves
// neither the target nor a temporary file behind.
func TestWritePNGFailureLeavesNothing(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "empty.png")
	err := WritePNG(path, image.NewNRGBA(image.Rect(0, 0, 0, 0)), Overwrite)
	if err == nil || !strings.Contains(err.Error(), path) {
		t.Fatalf("WritePNG of an empty image: %v", err)
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 0 {
		t.Errorf("left %d files behind", len(entries))
	}
}
