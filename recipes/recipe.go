package recipes

import (
	"fmt"
	"path/filepath"
	"sort"
	"strings"
)

// Version is the recipe schema version this package reads and writes.
const Version = 1

// Recipe is a decoded, validated recipe. Its fields mirror the YAML
// schema (see the package documentation); Load fills the defaults that do
// not depend on the models (Device, Output, Seed, control scales, ...) and
// leaves zero or nil what the model folders decide (Width, Height,
// Sampler, Steps, Guidance), for the compiler to fill once it has
// inspected them.
type Recipe struct {
	Version int `yaml:"version"`
	// Models maps the names stages refer to to model folders.
	Models   map[string]*Model `yaml:"models"`
	Prompt   string            `yaml:"prompt,omitempty"`
	Negative string            `yaml:"negative,omitempty"`
	// Seed and Seeds: exactly one is set after Load (Seed 0 when the
	// recipe gives neither). SeedList returns either as a list.
	Seed  *uint64  `yaml:"seed,omitempty"`
	Seeds []uint64 `yaml:"seeds,omitempty"`
	// Width and Height in pixels; 0: the stages' primary models' native size.
	Width  int `yaml:"width,omitempty"`
	Height int `yaml:"height,omitempty"`
	// Sampler is a canonical coop/sampler name; "": the primary model's
	// scheduler_config.json.
	Sampler string `yaml:"sampler,omitempty"`
	// Steps: 0 means the family default.
	Steps int `yaml:"steps,omitempty"`
	// Guidance is the default classifier-free guidance of every
	// participant that gives none; nil: each model's family default.
	Guidance *float64 `yaml:"guidance,omitempty"`
	// Eta is DDIM's stochasticity; nil: 0.
	Eta *float64 `yaml:"eta,omitempty"`
	// Stages has at least one stage after Load: a recipe without stages
	// and with a single model gets one stage with that model.
	Stages  []*Stage `yaml:"stages,omitempty"`
	Img2Img *Img2Img `yaml:"img2img,omitempty"`
	Output  Output   `yaml:"output"`
	// Device is "cpu" or "cuda".
	Device string `yaml:"device"`
	// Threads is the number of intra-op threads; 0: automatic.
	Threads int `yaml:"threads,omitempty"`
	// Sweep lists the fields rendered with several values; Expand turns
	// the recipe into one recipe per combination.
	Sweep Sweep `yaml:"sweep,omitempty"`

	// File is the recipe's file name as given to Load (or LoadBytes).
	File string `yaml:"-"`
	// Dir is the directory relative paths resolve against.
	Dir string `yaml:"-"`
	// PNG is the coop PNG the recipe was read from, as given to Load; ""
	// for a recipe file. MadeBy is the coop version that recipe names ("":
	// none; always "" for a recipe file).
	PNG    string `yaml:"-"`
	MadeBy string `yaml:"-"`

	src        *source             // the YAML tree, for Set and Expand
	pos        map[string]Position // value positions by field path
	keyPos     map[string]Position // key positions by field path
	modelOrder []string            // model names in file order
}

// Model is one model folder (or .onnx file) a recipe uses.
type Model struct {
	// Path is relative to the recipe's directory unless absolute.
	Path string `yaml:"path"`
	// Family overrides detection: sd1, sd2, sdxl, sdxl-refiner,
	// cascade-prior, cascade-decoder, cascade-vqgan or controlnet.
	Family string `yaml:"family,omitempty"`
	// SHA256 is a digest the caller records in resolved recipes (hex);
	// when a recipe gives one, the compiler may verify it.
	SHA256 string `yaml:"sha256,omitempty"`
	// Decoder names the recipe model (a Stable Cascade decoder) whose
	// stage B and stage A decode this model's latents wherever they are
	// carried into pixels, instead of the folder's previewer; only on a
	// Stable Cascade prior. DecoderSteps is stage B's step count per
	// decode, 0 for the default (adapters/cascade.DefaultBridgeSteps).
	Decoder      string `yaml:"decoder,omitempty"`
	DecoderSteps int    `yaml:"decoder_steps,omitempty"`
}

// Stage is a part of the generation in which one model's latent space (its
// primary participant's) owns the trajectory.
type Stage struct {
	Name string `yaml:"name,omitempty"`
	// Model is the shorthand "participants: [{model: NAME}]"; Load moves it
	// into Participants, so it is always "" afterwards.
	Model string `yaml:"model,omitempty"`
	// Until is where the stage hands over to the next one, as a fraction of
	// the denoising trajectory (diffusers' denoising_end). nil for the last
	// stage and for a stage whose Transition is "condition".
	Until *float64 `yaml:"until,omitempty"`
	// Width and Height override the recipe's size for this stage.
	Width  int `yaml:"width,omitempty"`
	Height int `yaml:"height,omitempty"`
	// Sampler and Steps override the recipe's for this stage's plan.
	Sampler string `yaml:"sampler,omitempty"`
	Steps   int    `yaml:"steps,omitempty"`
	// Participants: the first is the primary.
	Participants []*Participant `yaml:"participants,omitempty"`
	// Transition is how the next stage receives the trajectory: "" (auto:
	// continue in the same space and size, renoise otherwise), "renoise",
	// "naive" or "condition".
	Transition string `yaml:"transition,omitempty"`
}

// Transitions a stage may name.
const (
	TransitionRenoise   = "renoise"
	TransitionNaive     = "naive"
	TransitionCondition = "condition"
)

var transitions = []string{TransitionRenoise, TransitionNaive, TransitionCondition}

// Participant is a model taking part in a stage.
type Participant struct {
	Model string `yaml:"model"`
	// Weight nil: the participant shares what the given weights leave (see
	// Stage.Weights).
	Weight *Weight `yaml:"weight,omitempty"`
	// Window: the part of the stage, as fractions of its steps, in which
	// the participant is active; [0, 1] after Load when not given.
	Window Window `yaml:"window"`
	// Prompt, Negative and Guidance override the recipe's.
	Prompt   *string    `yaml:"prompt,omitempty"`
	Negative *string    `yaml:"negative,omitempty"`
	Guidance *float64   `yaml:"guidance,omitempty"`
	Bridge   *Bridge    `yaml:"bridge,omitempty"`
	Controls []*Control `yaml:"controls,omitempty"`
}

// Control is a ControlNet attached to a participant.
type Control struct {
	Model string `yaml:"model"`
	// Image is relative to the recipe's directory unless absolute.
	Image string `yaml:"image"`
	// Scale is the ControlNet conditioning scale; 1 after Load when not given.
	Scale  float64 `yaml:"scale"`
	Window Window  `yaml:"window"`
}

// Img2Img starts the trajectory from an image instead of pure noise.
type Img2Img struct {
	Image string `yaml:"image"`
	// Strength is the fraction of the trajectory that is run: 1 ignores
	// the image, 0 returns it. 0.8 after Load when not given.
	Strength float64 `yaml:"strength"`
}

// Output says where images go.
type Output struct {
	// Dir is relative to the recipe's directory unless absolute; "out"
	// after Load when not given.
	Dir string `yaml:"dir"`
	// Name is the file name template without extension, with the
	// placeholders {recipe}, {seed}, {index} and {variant}.
	Name string `yaml:"name"`
}

// Devices a recipe may name.
var devices = []string{"cpu", "cuda"}

// SeedList returns the recipe's seeds: Seeds, or Seed alone.
func (r *Recipe) SeedList() []uint64 {
	if len(r.Seeds) > 0 {
		return r.Seeds
	}
	if r.Seed != nil {
		return []uint64{*r.Seed}
	}
	return []uint64{0}
}

// Name is the recipe's name: its file name without directory and
// extension. Output names use it for {recipe}.
func (r *Recipe) Name() string {
	base := filepath.Base(r.File)
	if ext := filepath.Ext(base); ext != "" && ext != base {
		base = strings.TrimSuffix(base, ext)
	}
	if base == "." || base == ".." || base == "" || base == string(filepath.Separator) {
		return "recipe"
	}
	return base
}

// ModelNames lists the model names in the order the recipe gives them.
func (r *Recipe) ModelNames() []string {
	if len(r.modelOrder) == len(r.Models) {
		return append([]string(nil), r.modelOrder...)
	}
	names := make([]string, 0, len(r.Models))
	for n := range r.Models {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// Path resolves a path from the recipe (a model folder, a control image,
// the output folder) against the recipe's directory.
func (r *Recipe) Path(p string) string {
	if p == "" || filepath.IsAbs(p) {
		return p
	}
	return filepath.Join(r.Dir, p)
}

// Primary is the participant whose latent space owns the stage's trajectory.
func (s *Stage) Primary() *Participant {
	if len(s.Participants) == 0 {
		return nil
	}
	return s.Participants[0]
}

// NameVars are the values of an output name template's placeholders.
type NameVars struct {
	Recipe  string // {recipe}
	Seed    uint64 // {seed}
	Index   int    // {index}: the seed's position in the recipe's seeds
	Variant int    // {variant}: the sweep combination's number (Variant.Number)
}

// placeholders lists the names a template may use.
var placeholders = []string{"recipe", "seed", "index", "variant"}

// FileName expands the name template with v and adds ".png". It fails when
// the result would not be a plain file name inside the output folder.
func (o *Output) FileName(v NameVars) (string, error) {
	name, err := expandName(o.Name, v)
	if err != nil {
		return "", err
	}
	return name + ".png", nil
}

// expandName fills a template; used both to validate and to name files.
func expandName(tmpl string, v NameVars) (string, error) {
	var b strings.Builder
	for i := 0; i < len(tmpl); {
		c := tmpl[i]
		switch c {
		case '{':
			end := strings.IndexByte(tmpl[i:], '}')
			if end < 0 {
				return "", fmt.Errorf("unclosed { at byte %d", i)
			}
			key := tmpl[i+1 : i+end]
			switch key {
			case "recipe":
				b.WriteString(v.Recipe)
			case "seed":
				fmt.Fprint(&b, v.Seed)
			case "index":
				fmt.Fprint(&b, v.Index)
			case "variant":
				fmt.Fprint(&b, v.Variant)
			default:
				return "", fmt.Errorf("unknown placeholder {%s}%s; known: {recipe}, {seed}, {index}, {variant}", key, suggest(key, placeholders))
			}
			i += end + 1
		case '}':
			return "", fmt.Errorf("} without { at byte %d", i)
		default:
			b.WriteByte(c)
			i++
		}
	}
	name := b.String()
	switch {
	case name == "":
		return "", fmt.Errorf("the name is empty")
	case name == "." || name == "..":
		return "", fmt.Errorf("%q is not a file name", name)
	case strings.ContainsAny(name, `/\`):
		return "", fmt.Errorf("%q contains a path separator; names stay inside output.dir (use output.dir for folders)", name)
	case strings.ContainsRune(name, 0):
		return "", fmt.Errorf("the name contains a NUL byte")
	case filepath.IsAbs(name) || filepath.VolumeName(name) != "":
		return "", fmt.Errorf("%q is an absolute path; names stay inside output.dir", name)
	}
	return name, nil
}
