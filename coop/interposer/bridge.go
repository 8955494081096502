package interposer

import (
	"context"
	"fmt"

	"github.com/coop-diffusion/coop/adapters"
	"github.com/coop-diffusion/coop/latent"
)

// pixelFilter resamples pixels between the two sides' sizes, as the
// engine's pixel bridge does (coop/bridge.go): bicubic, antialiased when
// shrinking.
const pixelFilter = latent.Bicubic

// pixelBridge is the reference an interposer replaces, step for step the
// fusion engine's bridge: decode with the source autoencoder at its pixel
// size, resize the pixels, encode with the target autoencoder. Fit uses it
// for its targets, Evaluate as the reference and the benchmarks for the cost
// to beat.
type pixelBridge struct {
	from, to       adapters.Autoencoder
	fromPx, toPx   adapters.Size
	pixFrom, pixTo *latent.Tensor // pixTo is nil when the sizes agree
	resizer        *latent.Resizer
}

func newPixelBridge(from, to adapters.Autoencoder, fromPx, toPx adapters.Size) (*pixelBridge, error) {
	b := &pixelBridge{from: from, to: to, fromPx: fromPx, toPx: toPx,
		pixFrom: latent.New(1, 3, fromPx.Height, fromPx.Width)}
	if fromPx != toPx {
		r, err := latent.NewResizer(fromPx.Height, fromPx.Width, toPx.Height, toPx.Width, pixelFilter)
		if err != nil {
			return nil, err
		}
		b.resizer = r
		b.pixTo = latent.New(1, 3, toPx.Height, toPx.Width)
	}
	return b, nil
}

// carry writes E_to(resize(D_from(x0))) into dst.
func (b *pixelBridge) carry(ctx context.Context, x0, dst *latent.Tensor) error {
	if err := b.from.Decode(ctx, x0, b.pixFrom); err != nil {
		return fmt.Errorf("pixel bridge: decoding from %s: %w", b.from.Space().Name, err)
	}
	pix := b.pixFrom
	if b.resizer != nil {
		if err := b.resizer.Resize(b.pixTo, b.pixFrom); err != nil {
			return fmt.Errorf("pixel bridge: %w", err)
		}
		pix = b.pixTo
	}
	if err := b.to.Encode(ctx, pix, dst); err != nil {
		return fmt.Errorf("pixel bridge: encoding into %s: %w", b.to.Space().Name, err)
	}
	return nil
}

// resized returns img ([1, 3, H, W]) at size px: img itself when it has
// that size, else a new tensor resized with the bridge's filter.
func resized(img *latent.Tensor, px adapters.Size) (*latent.Tensor, error) {
	if img.H() == px.Height && img.W() == px.Width {
		return img, nil
	}
	out := latent.New(1, 3, px.Height, px.Width)
	if err := latent.Resize(out, img, pixelFilter); err != nil {
		return nil, err
	}
	return out, nil
}

// endpoint describes space at pixel size px.
func endpoint(sp latent.Space, px adapters.Size) (Endpoint, error) {
	h, w, err := sp.LatentSize(px.Height, px.Width)
	if err != nil {
		return Endpoint{}, err
	}
	return Endpoint{Space: sp.Name, Channels: sp.Channels, Factor: sp.Factor,
		Height: px.Height, Width: px.Width, LatentHeight: h, LatentWidth: w}, nil
}

func (e Endpoint) latent() *latent.Tensor {
	return latent.New(1, e.Channels, e.LatentHeight, e.LatentWidth)
}

// checkImages reports the first image that is not [1, 3, H, W].
func checkImages(images []*latent.Tensor) error {
	if len(images) == 0 {
		return fmt.Errorf("no images")
	}
	for i, img := range images {
		if img == nil || len(img.Shape) != 4 || img.N() != 1 || img.C() != 3 || img.H() <= 0 || img.W() <= 0 {
			return fmt.Errorf("image %d is %v, want [1, 3, H, W]", i, img)
		}
	}
	return nil
}
