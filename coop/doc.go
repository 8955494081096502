// Package coop is the fusion engine: it runs a compiled plan
// (graphs.Plan) on loaded models and turns models that were never trained
// together into one denoising trajectory (Coop-Diffusion, PanGu-Draw).
//
// Each stage has a primary participant whose latent space owns the
// trajectory. Every step, each active participant predicts noise in its own
// space: participants in the primary's space and size predict on the
// primary's latent directly; a foreign participant keeps its own trajectory,
// and its clean-latent estimate x0 reaches the primary space through the
// latent bridge (decode, resize in pixels, encode), where it becomes an
// epsilon at the same noise level. Predictions are fused with normalised
// weights (constants or curves over the noise level), the primary steps, and
// the fused estimate goes back through the bridge to step each foreign
// trajectory.
//
// Between stages the trajectory continues unchanged when space and size
// agree (SDXL base to refiner), or crosses the resolution bridge: decode the
// x0 estimate, resize in pixel space, encode in the new space and re-noise
// with fresh seeded noise, which keeps the noise white (IID-preserving).
//
// Everything random comes from latent.NewStream(seed, name) with a name per
// use, so a plan and a seed always give the same image.
//
// The independent work of a step, each participant's prediction and its
// bridges, runs concurrently on one goroutine per participant; each writes
// its own buffers and the fusion adds them up in participant order, so the
// result is the same bit for bit as running them one after the other
// (Engine.Sequential). Once a stage has started, a step allocates nothing.
// A model's sessions open before the first stage that uses it and, with
// Engine.Release, close after the last. The Report says where the time
// went: inside ONNX Runtime per model and graph, in the bridges, and the
// engine's own overhead; docs/PERFORMANCE.md has the figures.
package coop
