//go:build !amd64 || purego

package latent

// There is no noise kernel for this build: the Go code does all the work.
var useNoiseAsm = false

func (n Noise) fillPairsAsm(dst []float32, j uint64) int {
	panic("latent: no noise kernel in this build")
}
