// Package denoise is the Denoiser shared by every unet-style family: a
// graph that takes a latent (sample), a time input and conditioning, and
// outputs a prediction of the latent's shape. Families differ only in
// which inputs the graph has (Inputs), how the engine's noise level becomes
// the graph's time (Config.Time), what the output means (epsilon, v or
// sample) and how SDXL's time_ids are filled; the batching of
// classifier-free guidance, ControlNet residuals, buffer reuse and
// argument checks live here once.
package denoise
