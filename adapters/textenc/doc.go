// Package textenc adapts CLIP text encoder graphs to adapters.TextEncoder,
// returning exactly the conditioning each family's denoiser takes:
//
//	sd1, sd2         last_hidden_state of text_encoder                    [1, 77k, 768 / 1024]
//	sdxl             hidden_states[-2] of text_encoder and text_encoder_2,
//	                 concatenated                                         [1, 77k, 2048]
//	                 pooled: text_embeds of text_encoder_2                [1, 1280]
//	sdxl-refiner     hidden_states[-2] of text_encoder_2                  [1, 77k, 1280]
//	                 pooled: text_embeds of text_encoder_2                [1, 1280]
//	cascade          last_hidden_state of the bigG encoder                [1, 77, 1280]
//	                 pooled: text_embeds, as clip_text_pooled             [1, 1, 1280]
//
// Each Part is one encoder graph with its tokenizer folder and the layer it
// contributes (Depth). A clip skip of s takes hidden_states[-(Depth+s)]
// instead (hidden_states[-(1+s)] for a part that reads last_hidden_state),
// as diffusers' clip_skip does. The final layer norm that some UIs apply
// after skipping is inside the graph and cannot be applied to an
// intermediate output, so skipped layers are used as the export gives
// them.
//
// Prompts go through adapters/clip: (words:1.3) weighting, and long
// prompts in windows of 75 tokens, each encoded on its own and the results
// concatenated along the sequence axis (unless Prompt.Truncate). Weights
// are applied to the concatenated hidden states with AUTOMATIC1111's mean
// restoration, window by window. The pooled output comes from the first
// window. The positive and negative prompts are padded to the same number
// of windows, so the denoiser can batch them.
//
// An empty negative prompt is encoded as "" (diffusers), or is all zeros
// when Prompt.ZeroNegative is set or the model folder's model_index.json
// sets force_zeros_for_empty_prompt (SDXL base).
//
// input_ids are fed in whatever integer type the graph declares; an
// attention_mask input, where a graph has one, is all ones as diffusers
// passes for CLIP.
package textenc
