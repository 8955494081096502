// Package f32 holds the float32 kernels that latent resizing and latent
// interposers spend their time in: weighted sums of rows (the vertical pass
// of a separable resize, and a matrix of plane-sized outputs times
// plane-sized inputs) and short dot products over sliding windows (the
// horizontal pass of a resize).
//
// Each kernel has a portable Go implementation and, on amd64 processors with
// AVX2 and FMA, an assembly one that is several times faster: gonum's
// float32 kernels are SSE only and leave the windowed dot products scalar.
// The two agree to within float32 rounding; they differ in summation order
// and in whether multiply-adds are fused. Build with the purego tag to use
// the Go implementations everywhere.
package f32
