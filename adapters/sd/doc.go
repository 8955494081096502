// Package sd adapts Stable Diffusion 1.x and 2.x model folders in the
// diffusers / optimum ONNX layout: unet (epsilon or v prediction, as
// scheduler_config.json says; integer or float, rank-0 or per-sample
// timestep), vae_encoder and vae_decoder in the SD latent space (scaling
// factor 0.18215 unless vae config.json says otherwise), text_encoder
// (last_hidden_state, 768 wide for 1.x, 1024 for 2.x) and tokenizer.
// Unets exported for split ControlNets (down_block_additional_residuals_N,
// mid_block_additional_residual) and unets with ControlNets fused into the
// graph are handled as the controlnet package describes.
//
// Importing the package registers the sd1 and sd2 families.
package sd
