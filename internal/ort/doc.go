// Package ort runs ONNX models with ONNX Runtime. It is the only package of
// coop that talks to ONNX Runtime (through cgo and
// github.com/yalue/onnxruntime_go); every other package sees float32
// latent.Tensor values and plain Go errors.
//
// It has two halves.
//
// The bootstrap half is pure Go. Setup downloads the ONNX Runtime shared
// library for linux-x64 from the npm package onnxruntime-node into a per-user
// cache and checks its SHA-256; Locate finds the library to use from, in order,
// the --ort-lib flag, $ONNXRUNTIME_SHARED_LIBRARY_PATH, that cache and the
// system library directories, and says how to get it when it finds none.
//
// The runtime half loads the library once per process (Init, through
// onnxruntime_go, which also builds the session options), opens a model
// file as a Session (Open, OrtApi::CreateSession) and runs it (Session.Run,
// OrtApi::Run). A Session reads the
// model's declared signature first, without loading its weights, and uses it
// to cast every input to the element type and rank the graph declares, so
// the same calling code drives float32 and float16 exports, integer or float
// timesteps, rank-0 or per-batch timesteps. Outputs are always written into
// float32 tensors the caller allocated, which lets the engine reuse its
// buffers from step to step; a session in turn keeps its ONNX Runtime values
// bound to those buffers between runs, so that a run with the buffers of the
// last one makes a single cgo call and no allocation besides ONNX Runtime's
// own work.
package ort
