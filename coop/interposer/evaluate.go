package interposer

import (
	"context"
	"fmt"
	"math"

	"github.com/coop-diffusion/coop/adapters"
	"github.com/coop-diffusion/coop/latent"
)

// Quality compares an interposer with the pixel bridge it replaces on a set
// of images. Pixel figures decode both outputs with the target decoder at
// the target pixel size and clamp them to [0, 1]; PSNRs are at peak 1.
type Quality struct {
	Images int
	// PSNR is the mean over images of the PSNR, in dB, of the
	// interposer's decoded output against the pixel bridge's; MinPSNR is
	// the worst image's.
	PSNR, MinPSNR float64
	// LatentSNR compares the two outputs in target latent space: 10
	// log10 of the pixel bridge output's variance over the mean square
	// difference, over all images, in dB.
	LatentSNR float64
	// BridgePSNR and InterposerPSNR are the mean PSNRs of each decoded
	// output against the image itself at the target size: how much of the
	// picture each way of carrying keeps.
	BridgePSNR, InterposerPSNR float64
}

// Evaluate runs the pixel bridge and the interposer on every image (encoded
// in the source space at fromPx) and compares their outputs (see Quality).
// The interposer's sides must be from's and to's spaces.
func Evaluate(ctx context.Context, ip *Interposer, from, to adapters.Autoencoder, images []*latent.Tensor, fromPx, toPx adapters.Size) (Quality, error) {
	if err := checkImages(images); err != nil {
		return Quality{}, fmt.Errorf("interposer: evaluation %w", err)
	}
	if err := ip.CheckSpaces(from.Space(), to.Space()); err != nil {
		return Quality{}, err
	}
	fromEnd, err := endpoint(from.Space(), fromPx)
	if err != nil {
		return Quality{}, fmt.Errorf("interposer: source side: %w", err)
	}
	toEnd, err := endpoint(to.Space(), toPx)
	if err != nil {
		return Quality{}, fmt.Errorf("interposer: target side: %w", err)
	}
	bridge, err := newPixelBridge(from, to, fromPx, toPx)
	if err != nil {
		return Quality{}, fmt.Errorf("interposer: %w", err)
	}
	src, ref, got := fromEnd.latent(), toEnd.latent(), toEnd.latent()
	refPix := latent.New(1, 3, toPx.Height, toPx.Width)
	gotPix := latent.New(1, 3, toPx.Height, toPx.Width)
	q := Quality{Images: len(images), MinPSNR: math.Inf(1)}
	var diff, energy float64
	var refMean float64
	var refCount int
	for i, img := range images {
		if err := ctx.Err(); err != nil {
			return Quality{}, err
		}
		pix, err := resized(img, fromPx)
		if err != nil {
			return Quality{}, fmt.Errorf("interposer: evaluation image %d: %w", i, err)
		}
		if err := from.Encode(ctx, pix, src); err != nil {
			return Quality{}, fmt.Errorf("interposer: evaluation image %d: encoding into %s: %w", i, fromEnd.Space, err)
		}
		if err := bridge.carry(ctx, src, ref); err != nil {
			return Quality{}, fmt.Errorf("interposer: evaluation image %d: %w", i, err)
		}
		if err := ip.Apply(src, got); err != nil {
			return Quality{}, err
		}
		for j, v := range ref.Data {
			d := float64(v) - float64(got.Data[j])
			diff += d * d
			refMean += float64(v)
			energy += float64(v) * float64(v)
		}
		refCount += len(ref.Data)
		for _, p := range []struct{ lat, pix *latent.Tensor }{{ref, refPix}, {got, gotPix}} {
			if err := to.Decode(ctx, p.lat, p.pix); err != nil {
				return Quality{}, fmt.Errorf("interposer: evaluation image %d: decoding from %s: %w", i, toEnd.Space, err)
			}
			clamp01(p.pix)
		}
		psnr := latent.PSNR(refPix, gotPix, 1)
		q.PSNR += psnr
		q.MinPSNR = math.Min(q.MinPSNR, psnr)
		photo, err := resized(img, toPx)
		if err != nil {
			return Quality{}, fmt.Errorf("interposer: evaluation image %d: %w", i, err)
		}
		q.BridgePSNR += latent.PSNR(photo, refPix, 1)
		q.InterposerPSNR += latent.PSNR(photo, gotPix, 1)
	}
	n := float64(len(images))
	q.PSNR /= n
	q.BridgePSNR /= n
	q.InterposerPSNR /= n
	refMean /= float64(refCount)
	variance := energy/float64(refCount) - refMean*refMean
	q.LatentSNR = 10 * math.Log10(variance/(diff/float64(refCount)))
	return q, nil
}

func clamp01(t *latent.Tensor) {
	for i, v := range t.Data {
		t.Data[i] = min(max(v, 0), 1)
	}
}
