// Package onnx writes and inspects ONNX model files without cgo and without
// generated protobuf code.
//
// The writer side is a small graph Builder: declare graph inputs, add
// initializers (constants) and operator nodes, name the graph outputs, and
// serialise a ModelProto with the ONNX field numbers. It exists so that the
// project can produce its own test models with exactly the signatures of real
// diffusion exports (see SPEC section 5); ONNX Runtime loads what it writes.
//
// The reader side, ReadSignature, extracts what the engine needs to know about
// a model before loading it: graph inputs and outputs with element types and
// (possibly symbolic) shapes, IR and opset versions, producer and whether the
// weights live in external data files. It walks the protobuf wire format
// directly and skips every field it does not need by offset, so the cost does
// not depend on the size of the weights.
//
// Field numbers follow onnx/onnx.proto (IR version 8 era); only the subset the
// project uses is written, and the reader skips everything it does not know.
package onnx
