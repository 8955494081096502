// Package adapters is the boundary between the engine and model files. The
// engine sees a model only through Denoiser, Autoencoder and TextEncoder:
// one package per model family (adapters/sd, adapters/sdxl,
// adapters/cascade, ...) implements them for that family's ONNX
// signatures and registers itself, as ollama's model packages do, so a new
// family plugs in without touching the engine.
package adapters
