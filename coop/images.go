package coop

import (
	"fmt"
	"sync"

	"github.com/coop-diffusion/coop/latent"
)

// ImageCache keeps control and img2img images, as loaded and as resized
// to each size a participant asks for, for every run that shares it: a
// batch of seeds or a sweep decodes each file once instead of once a run
// (a 512 px PNG takes about 7 ms to decode, a 2 % of a fixture
// multi-control run), and a ControlNet that finds the same image again
// does not copy it into its batch again. The images are never modified
// once cached; callers must treat them as read-only. It is safe for
// concurrent use.
type ImageCache struct {
	// Load reads an image as [1, 3, H, W] in [0, 1]; latent.LoadImage
	// when nil.
	Load func(path string) (*latent.Tensor, error)

	mu sync.Mutex
	m  map[imageKey]*latent.Tensor
}

// imageKey is an image at a pixel size; size 0 x 0 is the image as
// loaded.
type imageKey struct {
	path          string
	height, width int
}

// Add records t as the image at path, as loaded, so that runs do not read
// the file again (a caller that has decoded it to check it hands it
// over).
func (c *ImageCache) Add(path string, t *latent.Tensor) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.put(imageKey{path: path}, t)
}

func (c *ImageCache) put(k imageKey, t *latent.Tensor) {
	if c.m == nil {
		c.m = map[imageKey]*latent.Tensor{}
	}
	c.m[k] = t
}

// image returns the image at path resized to height x width with
// Lanczos3, loading and resizing it on first use.
func (c *ImageCache) image(path string, height, width int) (*latent.Tensor, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	key := imageKey{path, height, width}
	if t := c.m[key]; t != nil {
		return t, nil
	}
	src := c.m[imageKey{path: path}]
	if src == nil {
		load := c.Load
		if load == nil {
			load = latent.LoadImage
		}
		var err error
		if src, err = load(path); err != nil {
			return nil, err
		}
		c.put(imageKey{path: path}, src)
	}
	t := src
	if src.H() != height || src.W() != width {
		t = latent.New(1, 3, height, width)
		if err := latent.Resize(t, src, latent.Lanczos3); err != nil {
			return nil, fmt.Errorf("%s: %w", path, err)
		}
	}
	c.put(key, t)
	return t, nil
}
