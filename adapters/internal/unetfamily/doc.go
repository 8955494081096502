// Package unetfamily loads the folders of the SD-style families (SD 1.x,
// SD 2.x, SDXL base and refiner): a unet taking sample, timestep and
// encoder_hidden_states (plus text_embeds and time_ids for SDXL), a VAE in
// vae_encoder / vae_decoder, CLIP text encoders with their tokenizers and
// scheduler/scheduler_config.json. A Spec says what differs between the
// families; adapters/sd and adapters/sdxl hold the specs and register
// them.
package unetfamily
