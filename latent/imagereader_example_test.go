package latent_test

import (
	"errors"
	"fmt"
	"image"
	"image/png"
	"os"
	"path/filepath"

	"github.com/coop-diffusion/coop/latent"
)

// An ImageReader refuses an image over its limit from the header, before
// decoding a pixel.
func ExampleImageReader() {
	dir, err := os.MkdirTemp("", "images")
	if err != nil {
		panic(err)
	}
	defer os.RemoveAll(dir)
	path := filepath.Join(dir, "photo.png")
	f, err := os.Create(path)
	if err != nil {
		panic(err)
	}
	if err := png.Encode(f, image.NewGray(image.Rect(0, 0, 640, 480))); err != nil {
		panic(err)
	}
	f.Close()

	t, err := latent.ImageReader{MaxPixels: 1 << 20}.Load(path)
	fmt.Println(t.Shape, err)
	_, err = latent.ImageReader{MaxPixels: 300_000}.Load(path)
	fmt.Println(errors.Is(err, latent.ErrImageTooLarge))
	// Output:
	// [1 3 480 640] <nil>
	// true
}
