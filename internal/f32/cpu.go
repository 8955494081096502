package f32

// HasAVX2FMA reports whether this build on this processor uses the AVX2
// and FMA assembly kernels: other packages with kernels of their own (the
// noise generator in latent) follow the same choice.
func HasAVX2FMA() bool { return hasAVX2FMA }
