// Package generic adapts any ONNX denoiser that a small manifest describes:
// which graph input is the latent, which the time, which the text
// conditioning, and which family's conventions the model otherwise
// follows (text encoders, latent space, scheduler defaults).
//
// # The manifest
//
// A folder holding coop-model.yaml (or coop-model.yml, or coop-model.json
// with the same fields) loads as a generic model unless the recipe names
// another family. Paths are relative to the manifest's folder. Only like
// and denoiser.model are required:
//
//	like: sd1                        # sd1, sd2, sdxl, sdxl-refiner, cascade-prior or cascade-decoder
//	denoiser:
//	  model: unet/model.onnx
//	  inputs:                        # role: graph input name; defaults are the like family's names
//	    sample: x                    # the latent [B, C, h, w]
//	    timestep: t                  # the time, rank 0 or [B]
//	    context: ctx                 # text hidden states [B, T, W]
//	    pooled: y                    # pooled text embedding [B, P] or [B, 1, P]
//	    time_ids: micro              # SDXL micro-conditioning
//	    clip_img: img                # Stable Cascade image embedding (fed zeros)
//	    effnet: stage_c              # Stable Cascade stage B's stage C latent
//	  output: eps                    # default: out_sample, noise_pred, latent, sample or the only output
//	  prediction: epsilon            # epsilon, v_prediction or sample; default: the scheduler's
//	  time: timestep                 # timestep, ratio, abar, sigma or log_snr; default: the like family's
//	space:                           # latent space fields to change from the like family's
//	  channels: 4
//	  factor: 8
//	  scaling_factor: 0.18215
//	  shift_factor: 0
//	  pixel_range: "[-1, 1]"         # or "[0, 1]"
//	vae:                             # default: vae_encoder/ and vae_decoder/ (vqgan/ for cascade-decoder, effnet/ and previewer/ for cascade-prior)
//	  encoder: vae_encoder/model.onnx
//	  decoder: vae_decoder/model.onnx
//	scheduler: scheduler/scheduler_config.json   # the default
//	native: [512, 512]               # training size (height, width); default from the graph or the like family
//
// The time conventions: timestep is a discrete timestep of the scheduler's
// beta schedule (fractional for a float input, rounded for an integer
// one), ratio Stable Cascade's timestep_ratio of the cosine schedule, abar
// the noise level itself, sigma sqrt((1-abar)/abar) and log_snr
// log(abar/(1-abar)).
//
// The text encoders are the like family's (text_encoder/ and tokenizer/,
// plus text_encoder_2/ and tokenizer_2/ for SDXL), with its layer choice and
// pooled embedding.
//
// Importing the package registers the generic family.
package generic
