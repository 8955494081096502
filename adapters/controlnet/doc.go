// Package controlnet adapts ControlNets in both conventions of ONNX
// exports.
//
// Split: a separate controlnet/model.onnx takes the unet's inputs (sample,
// timestep, encoder_hidden_states, and for SDXL text_embeds and time_ids)
// plus controlnet_cond, the control image [B, 3, H, W] in [0, 1], and
// maybe conditioning_scale; it outputs down-block residuals
// (down_block_res_samples_0..N) and a mid-block residual, which a unet
// exported for ControlNets takes as extra inputs
// (down_block_additional_residuals_0..N, mid_block_additional_residual).
// Residuals are matched by their numeric suffix, so other spellings work.
// The denoiser runs each active split ControlNet on its own batch and sums
// the residuals, scaled by the control's scale (by the graph when it takes
// conditioning_scale), into the unet's inputs; with no active control the
// inputs are zeros. A scale of 0 skips the ControlNet entirely, so the
// output is exactly the one without control.
//
// Fused: the ControlNets are part of the unet graph, which takes the
// control images [nCN, B, 3, H, W] and their scales [nCN]. Each slot is a
// Slot; unused slots get a zero image and scale 0. A recipe's controls
// naming the fused unet take its slots in order, each with its own image
// and scale (internal/job).
//
// Importing the package registers the loader of controlnet folders. A
// diffusers ControlNet pipeline folder loaded as a ControlNet (a recipe's
// family: controlnet) is its controlnet/ subfolder: Info.Dir names that
// subfolder, so the pipeline's unet takes it as a split ControlNet.
package controlnet
