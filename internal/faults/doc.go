// Package faults writes the broken, hostile and pathological inputs of
// coop's reliability tests: model graphs that keep a real signature but
// return NaN, take seconds per call or use an operator no runtime has, ONNX
// files that are cut short or damaged, images of the wrong kind and PNG
// decompression bombs. The CLI's bad-input suite and the
// engine's guard, cancellation and determinism tests share it, so a
// fault means the same thing wherever it is injected.
//
// Everything here writes files; nothing runs a model.
package faults
