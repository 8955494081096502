// Package f32 holds the float32 kernels that the engine spends its time in
// outside the models.
//
// Latent resizing and latent interposers use weighted sums of rows (the
// vertical pass of a separable resize, and a matrix of plane-sized outputs
// times plane-sized inputs) and short dot products over sliding windows
// (the horizontal pass of a resize).
//
// Samplers, fusion, classifier-free guidance and the conversions into and
// out of latent spaces and pixel ranges use the elementwise kernels:
// AXPBY, Scale, AddMul, DivAdd, MulAdd, Guide and Fuse2, which compute each
// output from float32 inputs in float64 and round once to float32, and
// Finite, which looks for NaN and infinity (AXPBYFinite, AddMulFinite and
// Fuse2Finite report it for what they write, in the same pass). The
// samplers' own steps have kernels of their own in the same style
// (DPMSolverFirstOrder and SecondOrder, AXPBYPCZ for the noisy steps,
// X0Blend, X0EpsBlend and their Renoise forms for clipped and consistency
// steps).
//
// ControlNet residuals, tens of megabytes a prediction, are summed and
// scaled in float32 (AddScaled32, ScaleOntoZero32), one rounding per
// operation as the scalar loops they replace.
//
// Each kernel has a portable Go implementation and, on amd64 processors with
// AVX2 and FMA, an assembly one that is several times faster: gonum's
// float32 kernels are SSE only and leave the windowed dot products scalar.
// The elementwise kernels give the same bits both ways, for every input
// including NaN, infinities and denormals: the assembly performs the same
// float64 operations in the same order, never fused. (Which of two NaNs
// meeting in an operation passes on its payload is up to the Go compiler's
// choice of operand order; the assembly makes the choice it makes today.)
// The sums of products
// agree only to within float32 rounding: they differ in summation order
// and in whether multiply-adds are fused. Build with the purego tag to use
// the Go implementations everywhere.
package f32
