package interposer

import (
	"context"
	"fmt"
	"testing"

	"github.com/coop-diffusion/coop/adapters"
	"github.com/coop-diffusion/coop/internal/fixtures"
	"github.com/coop-diffusion/coop/latent"
)

type twinAE struct{ a *fixtures.Autoencoder }

func (t twinAE) Space() latent.Space { return t.a.Space() }
func (t twinAE) Encode(_ context.Context, pix, dst *latent.Tensor) error {
	z, err := t.a.Encode(pix)
	if err != nil {
		return err
	}
	dst.CopyFrom(z)
	return nil
}
func (t twinAE) Decode(_ context.Context, lat, dst *latent.Tensor) error {
	img, err := t.a.Decode(lat)
	if err != nil {
		return err
	}
	if img.SameShape(dst) {
		dst.CopyFrom(img)
		return nil
	}
	return latent.Resize(dst, img, latent.Bilinear)
}

func TestScratchExplore(t *testing.T) {
	names := []string{"sd15", "sdxl", "cascade-prior", "cascade-decoder"}
	var imgs []*latent.Tensor
	for k := 0; k < fixtures.NumPhotos; k++ {
		imgs = append(imgs, fixtures.Photo(k))
	}
	px := adapters.Size{Height: 512, Width: 512}
	ctx := context.Background()
	for _, a := range names {
		for _, b := range names {
			if a == b {
				continue
			}
			fa, _ := fixtures.AutoencoderOf(a)
			fb, _ := fixtures.AutoencoderOf(b)
			line := fmt.Sprintf("%-16s -> %-16s", a, b)
			for _, o := range []Options{
				{Filter: latent.Bilinear, PerPixel: true}, {Filter: latent.Bicubic, PerPixel: true},
				{Filter: latent.Bilinear}, {Filter: latent.Bicubic}, {Filter: latent.Lanczos3},
				{Filter: latent.Bicubic, Target: EncodedImage},
				{Filter: latent.Bicubic, Window: 3},
			} {
				ip, err := FitWith(ctx, twinAE{fa}, twinAE{fb}, imgs[:6], px, px, o)
				if err != nil {
					t.Fatal(err)
				}
				q, err := Evaluate(ctx, ip, twinAE{fa}, twinAE{fb}, imgs[6:], px, px)
				if err != nil {
					t.Fatal(err)
				}
				line += fmt.Sprintf(" | %.1f/%.1f (%.1f) %d/%d", q.PSNR, q.LatentSNR, q.InterposerPSNR-q.BridgePSNR, ip.Features(), ip.Outputs())
			}
			t.Log(line)
		}
	}
}
