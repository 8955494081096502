package clip

import (
	"fmt"

	"github.com/coop-diffusion/coop/latent"
)

// ApplyWeights applies per-token weights to text-encoder output the way
// AUTOMATIC1111 does ("original" emphasis). z holds one encoded window per
// batch item, shape [K, T, W] with K = len(weights) and T = len(weights[k]);
// for each window
//
//	m0 = mean(z_k)
//	z_k[i, :] *= w_k[i]
//	z_k *= m0 / mean(z_k)
//
// so that emphasis changes the balance between tokens without changing the
// overall magnitude the denoiser was trained on. Windows whose weights are
// all 1 are left untouched, and the mean is not restored when the weighted
// mean is zero (there is no factor that would). The means are accumulated in
// float64.
func ApplyWeights(z *latent.Tensor, weights [][]float32) error {
	if len(z.Shape) != 3 {
		return fmt.Errorf("clip.ApplyWeights: embedding %v, want rank 3 [windows, tokens, width]", z)
	}
	k, tokens, width := z.Shape[0], z.Shape[1], z.Shape[2]
	if k != len(weights) {
		return fmt.Errorf("clip.ApplyWeights: embedding %v has %d windows, weights %d", z, k, len(weights))
	}
	for b, ws := range weights {
		if len(ws) != tokens {
			return fmt.Errorf("clip.ApplyWeights: embedding %v has %d tokens per window, weights of window %d have %d", z, tokens, b, len(ws))
		}
		if allOnes(ws) {
			continue
		}
		win := z.Data[b*tokens*width : (b+1)*tokens*width]
		before := sum(win)
		for i, w := range ws {
			row := win[i*width : (i+1)*width]
			for j := range row {
				row[j] *= w
			}
		}
		after := sum(win)
		if after == 0 {
			continue
		}
		// The element count cancels in the ratio of the means.
		f := float32(before / after)
		for j := range win {
			win[j] *= f
		}
	}
	return nil
}

func allOnes(ws []float32) bool {
	for _, w := range ws {
		if w != 1 {
			return false
		}
	}
	return true
}

func sum(x []float32) float64 {
	var s float64
	for _, v := range x {
		s += float64(v)
	}
	return s
}

// JoinWindows turns encoder output for K windows, [K, T, W], into the one
// long sequence [1, K*T, W] the denoiser takes, by concatenating along the
// sequence axis. The result shares z's data.
func JoinWindows(z *latent.Tensor) (*latent.Tensor, error) {
	if len(z.Shape) != 3 {
		return nil, fmt.Errorf("clip.JoinWindows: embedding %v, want rank 3 [windows, tokens, width]", z)
	}
	return latent.FromData(z.Data, 1, z.Shape[0]*z.Shape[1], z.Shape[2]), nil
}
