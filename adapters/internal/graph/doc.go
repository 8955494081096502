// Package graph holds what every adapter does with an ONNX model file:
// open its ONNX Runtime session on first use and keep it, read the
// declared signature to tell which inputs exist and how they are shaped,
// and word the errors that name the model, its role and the input at
// fault. It also reads the component config.json files that adapters
// consult.
package graph
