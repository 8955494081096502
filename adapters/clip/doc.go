// Package clip turns prompts into the token ids and per-token weights that
// the CLIP text encoders of Stable Diffusion 1.x, 2.x, SDXL and Stable
// Cascade take.
//
// # Tokenizer
//
// Load reads the files every diffusers model folder ships in tokenizer/
// (and SDXL in tokenizer_2/): vocab.json, merges.txt, and optionally
// special_tokens_map.json and tokenizer_config.json, which name the start,
// end and padding tokens. Encode reproduces the original CLIP tokenizer
// (openai/CLIP simple_tokenizer.py) id for id:
//
//   - clean-up: ftfy.fix_text (HTML entities, C1 controls, Latin
//     ligatures, full- and halfwidth forms, curly quotes, line breaks,
//     terminal escapes, control characters, NFC), html.unescape twice,
//     whitespace runs collapsed to one space, lower case with Python's
//     rules (final sigma, dotted capital I). ftfy's mojibake repair is not
//     done: it guesses at text decoded with the wrong code page, which a
//     typed prompt is not;
//   - split with CLIP's pattern: the special tokens <|startoftext|> and
//     <|endoftext|>, the contractions 's 't 're 've 'm 'll 'd, runs of
//     letters, single digits, runs of other non-space characters;
//   - each piece's UTF-8 bytes written in GPT-2's byte-to-unicode alphabet,
//     the last byte marked with </w>, then merged by the ranks of
//     merges.txt.
//
// Split words are kept in a bounded cache, so encoding text made of words
// seen before allocates nothing per token (AppendEncode with a reused
// buffer allocates nothing at all). Merging uses a heap when merges.txt is
// well ordered, as real files are, so even very long words cost
// O(n log n).
//
// One behaviour differs from Hugging Face's CLIPTokenizer, which treats
// every declared special token as unsplittable, SD 2.x's padding token "!"
// included: "wow!" gets the padding id 0 for its "!" there, but the
// word-final "!</w>" (256) here, in the original tokenizer and in
// open_clip, which SD 2.x was trained with.
//
// # Sequences and long prompts
//
// A CLIP encoder reads 77 ids: the start token 49406, up to 75 text tokens,
// the end token 49407, then the padding token the tokenizer declares — the
// end token again for SD 1.x, "!" (id 0) for SD 2.x and SDXL's second
// encoder. Sequence gives the full sequence before truncation or padding.
//
// EncodePrompt returns an Encoded: windows of 77 ids and their weights. A
// prompt of more than 75 tokens is split into windows of 75 text tokens,
// each wrapped in start, end and padding; the caller encodes each window
// separately and concatenates the outputs along the sequence axis
// (JoinWindows), so the denoiser's cross-attention sees all of them. This
// is the convention of AUTOMATIC1111 and ComfyUI, and it is on by default.
// Options.Truncate gives diffusers' behaviour instead: one window, text
// tokens past the 75th dropped, the end token kept. Options.CommaBacktrack
// moves a window's tail to the next window when a comma lies close to its
// end, as AUTOMATIC1111 does with its default of 20; by default windows
// are cut every 75 tokens. Conditional and unconditional prompts must
// have the same number of windows for classifier-free guidance: PadTo
// appends empty ones.
//
// # Prompt weighting
//
// Unless Options.Literal is set, prompts use AUTOMATIC1111's syntax
// (ParseWeights):
//
//	(text)        weight × 1.1; nested brackets multiply: ((text)) is × 1.21
//	[text]        weight ÷ 1.1
//	(text:1.3)    weight × 1.3; any decimal number, 0 and negative included
//	\( \) \[ \] \\   a literal bracket or backslash
//	BREAK         upper case, as a word of its own: start a new window
//
// A colon that does not introduce such a number is text, and so is a
// backslash before any other character. Brackets must balance: where
// AUTOMATIC1111 quietly reads a stray bracket as text or leaves one open
// to the end, ParseWeights reports the line and column of the bracket at
// fault, for example
//
//	prompt:1:14: unbalanced "(" opened here
//
// Weights travel with the ids: Encoded.Weights has one weight per id (1
// for start, end and padding). After the encoder has run, ApplyWeights
// multiplies each token's embedding by its weight and rescales the window
// so that its mean is what it was before weighting, AUTOMATIC1111's
// "original" emphasis.
package clip
