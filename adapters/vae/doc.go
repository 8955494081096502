// Package vae adapts autoencoder graphs to adapters.Autoencoder: the SD and
// SDXL vae_encoder / vae_decoder pair, and any other pair that maps images
// to latents with one input and one output each (Stable Cascade's stage A
// VQGAN, its EfficientNet encoder and previewer).
//
// The graphs see pixels in the range their space declares ([-1, 1] for the
// SD family, [0, 1] for Stable Cascade) and raw latents; the adapter
// converts pixels from and to [0, 1] and applies the space's scaling
// outside the graphs (latent = (raw - shift) * scaling_factor, or the
// per-channel latents_mean / latents_std form), as diffusers' pipelines do.
// EncodeRaw and DecodeRaw (adapters.RawPixels) skip the pixel conversion,
// for pixel bridges between autoencoders: EncodeRaw reads the caller's
// pixels in place.
//
// An encoder that returns latent_parameters (mean and log-variance, 2C
// channels) is read at its mean unless SetEncodeNoise gives it a noise
// stream, in which case it samples mean + exp(logvar / 2) n, log-variance
// clamped to [-30, 20] as diffusers' DiagonalGaussianDistribution does.
// An encoder that returns latent_sample did its sampling inside the graph.
package vae
