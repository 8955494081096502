// Package cascade adapts Stable Cascade model folders.
//
// The prior folder (stage C, family cascade-prior) holds prior/, taking
// sample [B, 16, h, w], timestep_ratio, clip_text_pooled [B, 1, 1280],
// clip_text [B, 77, 1280] and clip_img [B, 1, 768] (zeros: no image
// prompt); text_encoder/ (CLIP ViT-bigG with projection: last_hidden_state
// becomes clip_text, text_embeds clip_text_pooled); and optionally effnet/
// (pixels to stage C latents) and previewer/ (stage C latents to pixels),
// which make up the model's autoencoder. Its latents are
// ceil(H/42.67) x ceil(W/42.67) with no scaling.
//
// The decoder folder (stage B, family cascade-decoder) holds decoder/,
// taking sample [B, 4, H/4, W/4], timestep_ratio, clip_text_pooled and
// effnet (the stage C latent; zeros in the unconditional row, as diffusers
// does); text_encoder/; and vqgan/ (stage A's decoder) with optionally
// vqgan_encoder/, the autoencoder of the stage A space: latents are
// multiplied by 0.3764 (vqgan config.json scale_factor) before decoding and
// images are in [0, 1].
//
// Both take the noise level as timestep_ratio of the cosine schedule of
// scheduler_config.json (Cosine.AbarToRatio) and predict epsilon.
// Classifier-free guidance runs only for a scale above 1 (the prior's
// default is 4, the decoder's 0).
//
// A folder with only a VQGAN (family cascade-vqgan) loads as a model with an
// autoencoder and no denoiser.
//
// The prior's own autoencoder decodes with the previewer, a coarse preview.
// Bridge is the alternative at full quality: an autoencoder of the prior's
// space whose Decode runs a loaded decoder's stage B for a few steps
// (ddpm_wuerstchen, no guidance, the empty prompt, fixed noise),
// conditioned on the latent, then its stage A; internal/job gives it to a
// prior whose recipe entry names a decoder.
//
// Importing the package registers the three families.
package cascade
