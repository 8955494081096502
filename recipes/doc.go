// Package recipes reads, checks and writes coop recipes: YAML files that
// say which models take part in which part of a generation.
//
// # Reading
//
// Load (or a Loader, for --set overrides, skipped file checks and other
// limits) parses a recipe into a YAML node tree, applies the overrides to
// the tree, then decodes it field by field, so that every value, whether
// from the file or the command line, is checked the same way and every
// problem is reported where it is:
//
//	recipe.yaml:12:17: stages.0.participants.1.weight: weight must be between 0 and 1, got 1.5
//	--set steps=many: steps: expected an integer, got "many"
//
// Load returns all problems it finds (an ErrorList, up to 20) in file
// order. It checks everything that does not need the models: field names
// (with a suggestion for typos), types, required fields, ranges, model
// names that stages refer to, that files exist, the stage sequence and
// output names. Checks that need the models (a ControlNet on a base of
// another family, a refiner first, a size that is not a multiple of the
// latent space's factor, a decoder that is no Stable Cascade decoder)
// belong to the compiler, which reports them at the
// field's position with Recipe.Errorf.
//
// # Schema, version 1
//
// Paths (models, images, interposers, output.dir) are relative to the
// recipe file's directory unless absolute. Fields with an empty value
// (steps: with nothing after it) count as not given.
//
//	version: 1                 required; other versions are refused
//	models:                    required: name -> model
//	  NAME:                    a letter, then letters, digits, _ and -
//	    path: FOLDER           a model folder (diffusers / optimum ONNX layout) or .onnx file
//	    family: FAMILY         optional override of detection: sd1, sd2, sdxl, sdxl-refiner,
//	                           cascade-prior, cascade-decoder, cascade-vqgan, controlnet
//	    sha256: HEX            optional; resolved recipes record the model's digest
//	    decoder: NAME          on a Stable Cascade prior only: the recipe model (a Stable
//	                           Cascade decoder) whose stage B and stage A decode the prior's
//	                           latents instead of its previewer; a model named so takes part
//	                           in no stage of its own unless one names it
//	    decoder_steps: N       stage B steps per decode through decoder; default 10
//	prompt: TEXT
//	negative: TEXT             the negative prompt
//	seed: N                    or seeds: [N, ...] (one image each); default seed 0
//	width: PX                  the final size; default: the primary models' native size
//	height: PX
//	sampler: NAME              ddim, ddpm, euler, euler_a, dpmpp_2m, dpmpp_2m_karras, lcm,
//	                           ddpm_wuerstchen, or a diffusers class name; default: the
//	                           primary model's scheduler_config.json
//	steps: N                   default: the family's (SD 50, Cascade prior 20, decoder 10)
//	guidance: W                classifier-free guidance of every participant that gives
//	                           none, 0 to 100; default: the family's (SD 7.5, SDXL 5,
//	                           Cascade 4 and 0)
//	eta: E                     DDIM's stochasticity in [0, 1], default 0
//	stages:                    optional with a single model besides decoders (one stage with it)
//	  - name: LABEL            optional, unique
//	    model: NAME            shorthand for participants: [{model: NAME}]
//	    participants:          the first is the primary: its latent space owns the trajectory
//	      - model: NAME
//	        weight: D          a constant in [0, 1], or a curve [[t, w], ...] over the noise
//	                           level t (1 = pure noise), linear between points, constant
//	                           beyond them; graphs.Stage.Weights combines them
//	        window: [A, B]     active part of the stage, fractions of its steps; default [0, 1]
//	        prompt: TEXT       per-participant overrides
//	        negative: TEXT
//	        guidance: W
//	        bridge: pixel      how a foreign participant's prediction reaches the primary's
//	                           space: pixel (decode, resize, encode), or
//	                           {interposer: FILE, back: FILE, every: K} (fitted linear
//	                           maps into the primary's space and back instead,
//	                           and/or bridging every K steps, reusing it in between)
//	        controls:          ControlNets attached to this participant
//	          - model: NAME
//	            image: FILE    the control image
//	            scale: S       conditioning scale, 0 to 10, default 1
//	            window: [A, B] default [0, 1]
//	    until: F               where the stage hands over, as a fraction of the
//	                           trajectory in (0, 1) (diffusers' denoising_end; SDXL's
//	                           refiner split is 0.8); required on every stage but the
//	                           last, increasing from stage to stage
//	    width: PX              stage size; default: the recipe's, else the primary's native size
//	    height: PX
//	    sampler: NAME          per-stage overrides of the plan
//	    steps: N
//	    transition: KIND       how the next stage receives the trajectory: omitted = continue
//	                           in the same space and size, renoise otherwise; renoise (decode
//	                           x0, resize in pixels, encode, re-noise with fresh noise); naive
//	                           (upsample the noisy latent; for comparison only); condition
//	                           (the stage runs its whole trajectory and conditions the next
//	                           stage's, as Stable Cascade's prior does its decoder; no until)
//	img2img:
//	  image: FILE              start from this image
//	  strength: S              the part of the trajectory that is run, in [0, 1]; default 0.8
//	output:
//	  dir: DIR                 default "out"
//	  name: TEMPLATE           file name without extension; {recipe} {seed} {index}
//	                           {variant}; default {recipe}-{seed}, {recipe}-{variant}-{seed}
//	                           with a sweep; must not leave dir (no separators, no ..)
//	device: cpu                cpu or cuda
//	threads: N                 intra-op threads, 0 = automatic
//	sweep:                     field path -> values; every combination is rendered
//	  stages.0.participants.1.weight: [0, 0.25, 0.5, 0.75, 1]
//	  seed: [1, 2]
//
// # Field paths, --set and sweeps
//
// A field path names a field by its keys and list indices joined by dots:
// steps, models.base.path, stages.0.participants.1.weight. stages.N.model
// means stages.N.participants.0.model. Loader.Sets and Recipe.Set apply
// "path=value" overrides to the YAML tree before decoding; the value is
// YAML (weight=[[1, 0.2], [0, 0.8]]), except for text fields, which take
// it literally unless it starts with a quote. A path may end one past a
// list's last entry to append; it reaches the fields of a bridge
// (stages.0.participants.1.bridge.every). Setting seed removes seeds and
// the other way round. An override of a field the sweep varies, or of one
// holding it, takes that axis out of the sweep, so that the value given is
// rendered. Loader.Overrides are overrides made by other command-line
// flags (--seed, --device), whose errors name the flag.
//
// A sweep maps field paths to lists of values. Expand turns a recipe with
// a sweep into one Variant per combination, the first axis varying
// slowest, labelled "weight=0.25 seed=2", each decoded and checked like a
// loaded recipe; Load checks every combination up front, so a recipe that
// loads expands without errors.
//
// # Writing
//
// Recipe.Marshal writes a recipe back in the same schema with all defaults
// explicit; the compiler fills the model-dependent defaults and the models'
// SHA256 first, and MakePathsAbsolute makes the result independent of
// where it is stored. EmbedInPNG stores it in an iTXt chunk under PNGKey
// and ExtractFromPNG reads it back, so every image says how it was made;
// Load given such a PNG loads the recipe it holds (LoadEmbedded).
//
// # Safety
//
// Recipes may come from anyone. Load refuses files over Limits.MaxBytes,
// YAML aliases, sizes, step counts and image counts over the Limits before
// anything is allocated, guidance, scales and eta out of their ranges
// (MaxGuidance, MaxControlScale, MaxEta), and output names that could
// leave the output folder. Limits.MaxImagePixels is for the readers of the
// recipe's images (Recipe.Limits). The PNG reader checks every chunk's length and CRC and bounds
// decompressed text. Both are fuzzed (FuzzLoad, FuzzExtractFromPNG).
package recipes
