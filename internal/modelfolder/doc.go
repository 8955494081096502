// Package modelfolder finds the ONNX models in what a user points coop at
// and tells what they are.
//
// A path is either a single model file (model.onnx or any *.onnx) or a
// folder in the diffusers / optimum ONNX layout: model_index.json naming
// the pipeline class and its components, one subfolder per component
// (unet/, prior/, decoder/, vae_encoder/, vae_decoder/, text_encoder/, ...)
// each holding model.onnx, possibly model.onnx_data and config.json, and
// scheduler/scheduler_config.json. Scan reads every component's signature
// (without loading weights) and configuration; DetectFamily names the
// model family (sd1, sd2, sdxl, ...) from the pipeline class and, where
// that is missing or not enough, from the graphs' inputs, and says why.
package modelfolder
