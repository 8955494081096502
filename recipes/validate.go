package recipes

import (
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"

	"github.com/coop-diffusion/coop/adapters/clip"
	"github.com/coop-diffusion/coop/coop/sampler"
	"github.com/coop-diffusion/coop/internal/modelfolder"
)

// families are the names a model's family override may take.
var families = []string{
	modelfolder.SD1, modelfolder.SD2, modelfolder.SDXL, modelfolder.SDXLRefiner,
	modelfolder.CascadePrior, modelfolder.CascadeDecoder, modelfolder.CascadeVQGAN, modelfolder.ControlNet,
}

// Defaults Load fills in.
const (
	DefaultOutputDir    = "out"
	DefaultOutputName   = "{recipe}-{seed}"
	DefaultSweepName    = "{recipe}-{variant}-{seed}" // for recipes with a sweep
	DefaultDevice       = "cpu"
	DefaultStrength     = 0.8
	DefaultControlScale = 1.0
)

// Ranges of the numbers coop multiplies predictions by. Beyond them a
// value is a typo (1e300 for 1.3) and the first step overflows to NaN or
// Inf; the recipe reader refuses it instead.
const (
	// MaxGuidance bounds classifier-free guidance: SD models are used at
	// 1 to 20, and 0 turns guidance off.
	MaxGuidance = 100
	// MaxControlScale bounds a ControlNet's residual scale, used at 0 to
	// 2.
	MaxControlScale = 10
	// MaxEta is DDIM's largest eta: above 1 the fresh noise it adds is
	// more than the step leaves room for, and the step takes the square
	// root of a negative number.
	MaxEta = 1
)

// Bounds no sensible recipe comes near.
const (
	maxThreads = 4096
	maxStages  = 64 // stages per recipe, and participants per stage
)

// Pos returns where the value at path (stages.0.participants.1.weight) is
// written: the value's position, else its key's, else the nearest
// enclosing field's, else the start of the recipe. Paths of values a
// --set argument gave point at the argument.
func (r *Recipe) Pos(path string) Position {
	for {
		if p, ok := r.pos[path]; ok {
			return p
		}
		if p, ok := r.keyPos[path]; ok {
			return p
		}
		if path == "" {
			return Position{File: r.File, Line: 1, Col: 1}
		}
		if i := strings.LastIndexByte(path, '.'); i >= 0 {
			path = path[:i]
		} else {
			path = ""
		}
	}
}

// Has reports whether the recipe (or a --set argument) gave a value at
// path, as opposed to the value being a default.
func (r *Recipe) Has(path string) bool {
	_, ok := r.pos[path]
	return ok
}

// Errorf formats an error about the field at path, positioned at it:
// "FILE:LINE:COL: path: message". The compiler uses it for the checks
// that need the models (a ControlNet on a base of another family, a size
// that is not a multiple of the latent space's factor).
func (r *Recipe) Errorf(path, format string, args ...any) *Error {
	msg := fmt.Sprintf(format, args...)
	if path != "" {
		msg = path + ": " + msg
	}
	return newError(r.Pos(path), "%s", msg)
}

// validator checks what can be checked without opening the models, and
// fills the defaults that do not depend on them.
type validator struct {
	d     *decoder
	r     *Recipe
	lim   Limits
	files bool
}

func (d *decoder) finish(r *Recipe, variant bool) {
	r.pos, r.keyPos, r.modelOrder = d.pos, d.keyPos, d.modelOrder
	v := &validator{d: d, r: r, lim: d.src.loader.Limits.withDefaults(), files: !d.src.loader.SkipFileChecks}
	v.version()
	v.models()
	v.seeds()
	v.prompt("prompt", r.Prompt)
	v.prompt("negative", r.Negative)
	v.size("", r.Width, r.Height)
	r.Sampler = v.sampler("sampler", r.Sampler)
	v.steps("steps", r.Steps)
	v.between("guidance", r.Guidance, MaxGuidance)
	v.between("eta", r.Eta, MaxEta)
	v.stages()
	v.img2img()
	v.output(variant)
	v.device()
	if r.Threads < 0 || r.Threads > maxThreads {
		v.errf("threads", "must be between 0 (automatic) and %d, got %d", maxThreads, r.Threads)
	}
}

func (v *validator) errf(path, format string, args ...any) {
	v.d.errorAt(v.r.Pos(path), path, format, args...)
}

// keyErrf reports at the key of path, for problems with a field as a
// whole (given twice, not allowed here).
func (v *validator) keyErrf(path, format string, args ...any) {
	p, ok := v.r.keyPos[path]
	if !ok {
		p = v.r.Pos(path)
	}
	v.d.errorAt(p, path, format, args...)
}

func (v *validator) version() {
	if !v.r.Has("version") {
		v.errf("", "version is missing; a recipe starts with version: %d", Version)
		return
	}
	if v.r.Version != Version {
		v.errf("version", "unknown recipe version %d; this coop reads version %d", v.r.Version, Version)
	}
}

func (v *validator) models() {
	r := v.r
	if len(r.Models) == 0 {
		if v.d.modelKeys > 0 {
			return // each entry was refused with a reason
		}
		if _, given := r.keyPos["models"]; given {
			v.keyErrf("models", "no models; name at least one model folder, as in models: {base: {path: FOLDER}}")
		} else {
			v.errf("", "models is missing; name at least one model folder, as in models: {base: {path: FOLDER}}")
		}
		return
	}
	for _, name := range r.ModelNames() {
		m := r.Models[name]
		if m == nil {
			continue
		}
		path := "models." + name
		if m.Path == "" {
			v.errf(path, "path is missing; give the model's folder (or .onnx file), relative to the recipe")
		} else if v.files {
			v.exists(path+".path", m.Path, "model folder")
		}
		if m.Family != "" && !contains(families, m.Family) {
			v.errf(path+".family", "unknown family %q%s; known: %s", m.Family, suggest(m.Family, families), strings.Join(families, ", "))
		}
		if m.SHA256 != "" {
			if b, err := hex.DecodeString(m.SHA256); err != nil || len(b) != 32 {
				v.errf(path+".sha256", "expected 64 hexadecimal digits, got %q", m.SHA256)
			}
		}
		v.decoder(path, name, m)
	}
}

// isDecoder reports whether another model of the recipe names model name
// as its decoder.
func (r *Recipe) isDecoder(name string) bool {
	for other, m := range r.Models {
		if m != nil && other != name && m.Decoder == name {
			return true
		}
	}
	return false
}

// decoder checks a model's decoder and decoder_steps; that the decoder
// is a Stable Cascade decoder and the model a prior needs the models, and
// is the compiler's check.
func (v *validator) decoder(path, name string, m *Model) {
	if v.r.Has(path+".decoder") || m.Decoder != "" {
		switch _, ok := v.r.Models[m.Decoder]; {
		case m.Decoder == "":
			v.errf(path+".decoder", "empty; name the recipe model (a Stable Cascade decoder) that decodes this model's latents")
		case m.Decoder == name:
			v.errf(path+".decoder", "model %s cannot be its own decoder; name a Stable Cascade decoder among the recipe's models (%s)", name, strings.Join(v.r.ModelNames(), ", "))
		case !ok:
			v.errf(path+".decoder", "unknown model %q%s; the recipe's models are %s", m.Decoder,
				suggest(m.Decoder, v.r.ModelNames()), strings.Join(v.r.ModelNames(), ", "))
		}
	}
	sp := path + ".decoder_steps"
	if !v.r.Has(sp) {
		return
	}
	if m.Decoder == "" {
		v.keyErrf(sp, "decoder_steps without decoder; it sets the stage B steps of each decode through a decoder")
		return
	}
	v.steps(sp, m.DecoderSteps)
}

// exists checks that a file the recipe names is there.
func (v *validator) exists(path, file, what string) {
	full := v.r.Path(file)
	if _, err := os.Stat(full); err != nil {
		if full != file {
			v.errf(path, "%s %s (%s) does not exist", what, file, full)
		} else {
			v.errf(path, "%s %s does not exist", what, file)
		}
	}
}

// existsFile checks that a file (not a folder) the recipe names is there.
func (v *validator) existsFile(path, file, what string) {
	full := v.r.Path(file)
	st, err := os.Stat(full)
	switch {
	case err != nil && full != file:
		v.errf(path, "%s %s (%s) does not exist", what, file, full)
	case err != nil:
		v.errf(path, "%s %s does not exist", what, file)
	case st.IsDir():
		v.errf(path, "%s %s is a folder, not a file", what, file)
	}
}

func (v *validator) seeds() {
	r := v.r
	if r.Seed != nil && r.Seeds != nil {
		v.keyErrf("seeds", "give seed or seeds, not both")
		return
	}
	if r.Seeds != nil {
		if len(r.Seeds) == 0 {
			v.errf("seeds", "the list is empty; give at least one seed")
			return
		}
		if len(r.Seeds) > v.lim.MaxImages {
			v.errf("seeds", "%d seeds; the limit is %d images", len(r.Seeds), v.lim.MaxImages)
			return
		}
		first := make(map[uint64]int, len(r.Seeds))
		for i, s := range r.Seeds {
			if j, dup := first[s]; dup {
				v.errf("seeds."+strconv.Itoa(i), "seed %d is listed twice (also seeds.%d); it would render the same image", s, j)
				continue
			}
			first[s] = i
		}
		return
	}
	if r.Seed == nil {
		r.Seed = new(uint64)
	}
}

func (v *validator) size(prefix string, w, h int) {
	for _, f := range []struct {
		name string
		val  int
	}{{"width", w}, {"height", h}} {
		path := joinPath(prefix, f.name)
		if !v.r.Has(path) {
			continue
		}
		if f.val <= 0 {
			v.errf(path, "must be positive, got %d", f.val)
		} else if f.val > v.lim.MaxSize {
			v.errf(path, "%d px is larger than the limit of %d px", f.val, v.lim.MaxSize)
		}
	}
}

// sampler returns the canonical name of a sampler the recipe gives.
func (v *validator) sampler(path, name string) string {
	if name == "" {
		return ""
	}
	canon, err := sampler.Canonical(name)
	if err != nil {
		v.errf(path, "unknown sampler %q%s; known: %s", name, suggest(name, sampler.Names()), strings.Join(sampler.Names(), ", "))
		return name
	}
	return canon
}

func (v *validator) steps(path string, n int) {
	if !v.r.Has(path) {
		return
	}
	if n < 1 || n > v.lim.MaxSteps {
		v.errf(path, "must be between 1 and %d, got %d", v.lim.MaxSteps, n)
	}
}

// between checks that a number the recipe gives lies in [0, hi].
func (v *validator) between(path string, f *float64, hi float64) {
	if f != nil && !(*f >= 0 && *f <= hi) {
		v.errf(path, "must be between 0 and %g, got %g", hi, *f)
	}
}

// model checks a reference to a model name.
func (v *validator) model(path, name string) {
	if name == "" {
		v.errf(path, "model is missing; name one of the recipe's models (%s)", strings.Join(v.r.ModelNames(), ", "))
		return
	}
	if _, ok := v.r.Models[name]; !ok && len(v.r.Models) > 0 {
		v.errf(joinPath(path, "model"), "unknown model %q%s; the recipe's models are %s", name,
			suggest(name, v.r.ModelNames()), strings.Join(v.r.ModelNames(), ", "))
	}
}

func (v *validator) stages() {
	r := v.r
	if len(r.Stages) == 0 {
		if _, given := r.keyPos["stages"]; given {
			v.keyErrf("stages", "the list is empty; give at least one stage, or leave stages out to use the single model")
			return
		}
		// A model that only decodes another's latents (decoder:) takes
		// part in no stage of its own.
		var names []string
		for _, n := range r.ModelNames() {
			if !r.isDecoder(n) {
				names = append(names, n)
			}
		}
		switch len(names) {
		case 0:
			return // reported by models
		case 1:
			// One model and no stages: one stage with that model. The
			// synthesised fields point at the model's name.
			p := r.keyPos["models."+names[0]]
			r.pos["stages"] = p
			r.Stages = []*Stage{{Participants: []*Participant{{Model: names[0], Window: FullWindow}}}}
			return
		}
		v.keyErrf("models", "the recipe names %d models (%s); add stages to say which takes part where", len(r.Models), strings.Join(r.ModelNames(), ", "))
		return
	}
	if len(r.Stages) > maxStages {
		v.errf("stages", "%d stages; the limit is %d", len(r.Stages), maxStages)
		return
	}
	names := make(map[string]int)
	prevUntil, prevPath := 0.0, ""
	for i, st := range r.Stages {
		if st == nil {
			continue
		}
		path := "stages." + strconv.Itoa(i)
		last := i == len(r.Stages)-1
		if st.Name != "" {
			if j, dup := names[st.Name]; dup {
				v.errf(path+".name", "stage name %q is also stages.%d's", st.Name, j)
			}
			names[st.Name] = i
		}
		switch {
		case st.Model != "" && st.Participants != nil:
			v.keyErrf(path+".model", "give model (the shorthand for one participant) or participants, not both")
		case st.Model != "":
			st.Participants = []*Participant{{Model: st.Model}}
			st.Model = ""
		case len(st.Participants) == 0:
			v.errf(path, "the stage has no participants; give model: NAME or participants: [{model: NAME}, ...]")
		case len(st.Participants) > maxStages:
			v.errf(path+".participants", "%d participants; the limit is %d", len(st.Participants), maxStages)
		}
		for j, p := range st.Participants {
			if p != nil {
				v.participant(path+".participants."+strconv.Itoa(j), p)
			}
		}
		v.size(path, st.Width, st.Height)
		st.Sampler = v.sampler(path+".sampler", st.Sampler)
		v.steps(path+".steps", st.Steps)
		if st.Transition != "" && !contains(transitions, st.Transition) {
			v.errf(path+".transition", "unknown transition %q%s; known: %s", st.Transition,
				suggest(st.Transition, transitions), strings.Join(transitions, ", "))
		}
		switch {
		case last && st.Until != nil:
			v.keyErrf(path+".until", "the last stage runs to the end of the trajectory; remove until")
		case last && st.Transition != "":
			v.keyErrf(path+".transition", "the last stage hands over to no other stage; remove transition")
		case st.Transition == TransitionCondition && st.Until != nil:
			v.keyErrf(path+".until", "a stage with transition: condition runs its whole trajectory and conditions the next stage's; remove until")
		case st.Transition == TransitionCondition:
			prevUntil, prevPath = 0, "" // the next stage starts a trajectory of its own
		case !last && st.Until == nil:
			v.errf(path, "until is missing; every stage but the last says where it hands over (a fraction of the trajectory, 0.8 for SDXL's refiner), unless its transition is condition")
		case st.Until == nil: // the last stage
		case *st.Until <= 0 || *st.Until >= 1:
			v.errf(path+".until", "must be between 0 and 1 (exclusive), got %g", *st.Until)
		case *st.Until <= prevUntil:
			v.errf(path+".until", "%g must be greater than %s.until (%g); stages follow the trajectory from noise to image", *st.Until, prevPath, prevUntil)
		default:
			prevUntil, prevPath = *st.Until, path
		}
	}
}

func (v *validator) participant(path string, p *Participant) {
	v.model(path, p.Model)
	if !v.r.Has(path + ".window") {
		p.Window = FullWindow
	}
	v.between(path+".guidance", p.Guidance, MaxGuidance)
	if p.Prompt != nil {
		v.prompt(path+".prompt", *p.Prompt)
	}
	if p.Negative != nil {
		v.prompt(path+".negative", *p.Negative)
	}
	if p.Bridge != nil && p.Bridge.Interposer != "" && v.files {
		v.existsFile(path+".bridge.interposer", p.Bridge.Interposer, "interposer")
	}
	if p.Bridge != nil && p.Bridge.Back != "" && v.files {
		v.existsFile(path+".bridge.back", p.Bridge.Back, "interposer")
	}
	for k, c := range p.Controls {
		if c == nil {
			continue
		}
		cpath := path + ".controls." + strconv.Itoa(k)
		v.model(cpath, c.Model)
		if c.Image == "" {
			v.errf(cpath, "image is missing; give the control image, relative to the recipe")
		} else if v.files {
			v.existsFile(cpath+".image", c.Image, "control image")
		}
		if !v.r.Has(cpath + ".scale") {
			c.Scale = DefaultControlScale
		} else {
			v.between(cpath+".scale", &c.Scale, MaxControlScale)
		}
		if !v.r.Has(cpath + ".window") {
			c.Window = FullWindow
		}
	}
}

// prompt checks a prompt's weighting syntax (clip.ParseWeights), which
// the text encoders read when the run starts: an unbalanced bracket is an
// error at the field, not a failure after the models are open.
func (v *validator) prompt(path, text string) {
	_, err := clip.ParseWeights(text)
	var syn *clip.SyntaxError
	switch {
	case err == nil:
	case errors.As(err, &syn) && !strings.Contains(text, "\n"):
		v.errf(path, "character %d: %s (write \\( \\) \\[ \\] for literal brackets)", syn.Column, syn.Msg)
	case errors.As(err, &syn):
		v.errf(path, "line %d, character %d: %s (write \\( \\) \\[ \\] for literal brackets)", syn.Line, syn.Column, syn.Msg)
	default:
		v.errf(path, "%v", err)
	}
}

func (v *validator) img2img() {
	im := v.r.Img2Img
	if im == nil {
		return
	}
	if im.Image == "" {
		v.errf("img2img", "image is missing; give the input image, relative to the recipe")
	} else if v.files {
		v.existsFile("img2img.image", im.Image, "input image")
	}
	if !v.r.Has("img2img.strength") {
		im.Strength = DefaultStrength
	} else if im.Strength < 0 || im.Strength > 1 {
		v.errf("img2img.strength", "must be between 0 and 1, got %g", im.Strength)
	}
}

func (v *validator) output(variant bool) {
	r := v.r
	o := &r.Output
	if !v.r.Has("output.dir") {
		o.Dir = DefaultOutputDir
	} else if o.Dir == "" {
		v.errf("output.dir", "is empty; leave it out for %q", DefaultOutputDir)
	}
	sweep := len(r.Sweep) > 0 || variant
	if !v.r.Has("output.name") {
		o.Name = DefaultOutputName
		if sweep {
			o.Name = DefaultSweepName
		}
		return
	}
	if _, err := expandName(o.Name, NameVars{Recipe: r.Name()}); err != nil {
		v.errf("output.name", "%v", err)
		return
	}
	if len(r.SeedList()) > 1 && !strings.Contains(o.Name, "{seed}") && !strings.Contains(o.Name, "{index}") {
		v.errf("output.name", "%q gives every seed the same file name; add {seed} or {index}", o.Name)
	}
	if len(r.Sweep) > 0 && !strings.Contains(o.Name, "{variant}") {
		v.errf("output.name", "%q gives every sweep combination the same file name; add {variant}", o.Name)
	}
}

func (v *validator) device() {
	r := v.r
	if !r.Has("device") {
		r.Device = DefaultDevice
		return
	}
	if !contains(devices, r.Device) {
		v.errf("device", "unknown device %q%s; known: %s", r.Device, suggest(r.Device, devices), strings.Join(devices, ", "))
	}
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}
