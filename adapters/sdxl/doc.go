// Package sdxl adapts SDXL base and refiner model folders in the diffusers
// / optimum ONNX layout.
//
// Base: the unet takes encoder_hidden_states [B, 77k, 2048] (hidden_states[-2]
// of text_encoder and text_encoder_2 concatenated), text_embeds [B, 1280]
// (text_encoder_2's pooled projection) and time_ids [B, 6]: original size
// (h, w), crop top-left (0, 0) and target size (h, w), all the request's
// image size, for the positive and the negative row alike.
//
// Refiner: encoder_hidden_states [B, 77k, 1280] from text_encoder_2 alone,
// the same text_embeds, and time_ids [B, 5] with an aesthetic score in
// place of the target size: AestheticScore for the positive row,
// NegativeAestheticScore for the negative one.
//
// Both use the SDXL latent space (scaling factor 0.13025, or what vae
// config.json says) and make an empty negative prompt all zeros unless
// model_index.json sets force_zeros_for_empty_prompt to false.
//
// Importing the package registers the sdxl and sdxl-refiner families.
package sdxl
