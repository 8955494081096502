package recipes

import (
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

// fullRecipe uses every field of the schema; recipeDir provides its files.
const fullRecipe = `version: 1
models:
  base: {path: models/sd15}
  xl: {path: models/sdxl, family: sdxl}
  canny: {path: models/canny}
prompt: "a photo of a cat"
negative: "blurry"
seeds: [3, 1, 2]
width: 512
height: 768
sampler: DDIMScheduler
steps: 30
guidance: 7.5
eta: 0.5
stages:
  - name: structure
    until: 0.8
    width: 256
    height: 384
    steps: 25
    sampler: euler
    participants:
      - model: base
        window: [0.1, 0.9]
      - model: xl
        weight: [[1.0, 0.2], [0.0, 0.8]]
        prompt: "a cat, photograph"
        negative: ""
        guidance: 5
        bridge: {every: 2}
        controls:
          - model: canny
            image: control.png
            window: [0, 0.5]
    transition: renoise
  - name: detail
    model: xl
img2img:
  image: input.png
output:
  dir: renders
  name: "{recipe}-{index}"
device: cuda
threads: 4
`

func TestLoadFull(t *testing.T) {
	dir := recipeDir(t)
	r, err := LoadBytes("full.yaml", []byte(fullRecipe), dir)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := r.SeedList(), []uint64{3, 1, 2}; !reflect.DeepEqual(got, want) {
		t.Errorf("SeedList = %v, want %v", got, want)
	}
	if r.Seed != nil {
		t.Errorf("Seed = %v, want nil with seeds", *r.Seed)
	}
	if r.Sampler != "ddim" || r.Stages[0].Sampler != "euler" {
		t.Errorf("samplers %q, %q; want the canonical ddim, euler", r.Sampler, r.Stages[0].Sampler)
	}
	if got, want := r.ModelNames(), []string{"base", "xl", "canny"}; !reflect.DeepEqual(got, want) {
		t.Errorf("ModelNames = %v, want file order %v", got, want)
	}
	if r.Models["xl"].Family != "sdxl" || r.Models["base"].Path != "models/sd15" {
		t.Errorf("models = %+v %+v", *r.Models["xl"], *r.Models["base"])
	}
	if r.Path(r.Models["base"].Path) != filepath.Join(dir, "models/sd15") {
		t.Errorf("Path(models/sd15) = %s", r.Path(r.Models["base"].Path))
	}
	s0, s1 := r.Stages[0], r.Stages[1]
	if *s0.Until != 0.8 || s0.Width != 256 || s0.Height != 384 || s0.Steps != 25 || s0.Transition != TransitionRenoise {
		t.Errorf("stage 0 = %+v", *s0)
	}
	if s1.Model != "" || len(s1.Participants) != 1 || s1.Participants[0].Model != "xl" || s1.Until != nil {
		t.Errorf("stage 1 shorthand not expanded: %+v", *s1)
	}
	base, xl := s0.Participants[0], s0.Participants[1]
	if base.Weight != nil || base.Window != (Window{0.1, 0.9}) {
		t.Errorf("base participant = %+v", *base)
	}
	wantCurve := []WeightPoint{{0, 0.8}, {1, 0.2}}
	if xl.Weight.Constant || !reflect.DeepEqual(xl.Weight.Points, wantCurve) {
		t.Errorf("curve = %+v, want points %v in increasing t", *xl.Weight, wantCurve)
	}
	if *xl.Prompt != "a cat, photograph" || *xl.Negative != "" || *xl.Guidance != 5 || xl.Window != FullWindow {
		t.Errorf("xl participant = %+v", *xl)
	}
	if xl.Bridge.Kind() != BridgePixel || xl.Bridge.Every != 2 {
		t.Errorf("bridge = %+v", *xl.Bridge)
	}
	c := xl.Controls[0]
	if c.Model != "canny" || c.Image != "control.png" || c.Scale != DefaultControlScale || c.Window != (Window{0, 0.5}) {
		t.Errorf("control = %+v", *c)
	}
	if r.Img2Img.Image != "input.png" || r.Img2Img.Strength != DefaultStrength {
		t.Errorf("img2img = %+v", *r.Img2Img)
	}
	if r.Output.Dir != "renders" || r.Output.Name != "{recipe}-{index}" || r.Device != "cuda" || r.Threads != 4 {
		t.Errorf("output %+v device %s threads %d", r.Output, r.Device, r.Threads)
	}
	if *r.Guidance != 7.5 || *r.Eta != 0.5 || r.Width != 512 || r.Height != 768 || r.Steps != 30 {
		t.Errorf("top level: guidance %v eta %v size %dx%d steps %d", *r.Guidance, *r.Eta, r.Width, r.Height, r.Steps)
	}

	// Positions: values, keys of unset-but-present fields, fallbacks.
	for path, want := range map[string]string{
		"stages.0.participants.1.weight":           "full.yaml:26:17",
		"stages.0.participants.1.controls.0.image": "full.yaml:33:20",
		"stages.0.participants.1.controls.0.scale": "full.yaml:32:13", // default: the control's position
		"stages.1.participants.0.model":            "full.yaml:37:12", // the shorthand's value
		"models.xl.family":                         "full.yaml:4:35",
		"steps":                                    "full.yaml:12:8",
		"no.such.field":                            "full.yaml:1:1",
		"stages.0.participants.0.weight":           "full.yaml:23:9",
		"stages.0.participants.1.weight.1":         "full.yaml:26:30",
		"stages.0.participants.1.bridge.every":     "full.yaml:30:25",
	} {
		if got := r.Pos(path).String(); got != want {
			t.Errorf("Pos(%s) = %s, want %s", path, got, want)
		}
	}
	if !r.Has("steps") || r.Has("stages.0.participants.1.controls.0.scale") || r.Has("seed") {
		t.Errorf("Has: steps %v, scale %v, seed %v; want true, false, false",
			r.Has("steps"), r.Has("stages.0.participants.1.controls.0.scale"), r.Has("seed"))
	}
	e := r.Errorf("stages.0.participants.1.controls.0.model", "ControlNet %s is for %s, not %s", "canny", "sd1", "sdxl")
	if got, want := e.Error(), "full.yaml:32:20: stages.0.participants.1.controls.0.model: ControlNet canny is for sd1, not sdxl"; got != want {
		t.Errorf("Errorf = %q, want %q", got, want)
	}
}

func TestDefaults(t *testing.T) {
	dir := recipeDir(t)
	r, err := LoadBytes("min.yaml", []byte("version: 1\nmodels:\n  only: {path: models/sd15}\nnegative:\n"), dir)
	if err != nil {
		t.Fatal(err)
	}
	if r.Seed == nil || *r.Seed != 0 || r.Seeds != nil {
		t.Errorf("seed = %v, %v; want 0 and no list", r.Seed, r.Seeds)
	}
	if len(r.Stages) != 1 || len(r.Stages[0].Participants) != 1 {
		t.Fatalf("stages = %+v, want one stage with the single model", r.Stages)
	}
	p := r.Stages[0].Participants[0]
	if p.Model != "only" || p.Window != FullWindow || p.Weight != nil {
		t.Errorf("implicit participant = %+v", *p)
	}
	if got := r.Pos("stages.0.participants.0.model").String(); got != "min.yaml:3:3" {
		t.Errorf("the implicit stage points at %s, want the model's name at min.yaml:3:3", got)
	}
	if r.Output.Dir != DefaultOutputDir || r.Output.Name != DefaultOutputName || r.Device != DefaultDevice {
		t.Errorf("defaults: output %+v device %q", r.Output, r.Device)
	}
	if r.Sampler != "" || r.Steps != 0 || r.Guidance != nil || r.Width != 0 {
		t.Errorf("model-dependent fields were filled: sampler %q steps %d guidance %v width %d", r.Sampler, r.Steps, r.Guidance, r.Width)
	}
	if r.Has("negative") {
		t.Errorf("an empty value counts as given")
	}
	if r.Name() != "min" {
		t.Errorf("Name = %q, want min", r.Name())
	}
}

func TestLoadFile(t *testing.T) {
	dir := recipeDir(t)
	path := filepath.Join(dir, "cat.yaml")
	if err := os.WriteFile(path, []byte("version: 1\nmodels: {m: {path: models/sd15}}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	r, err := Load(path)
	if err != nil {
		t.Fatal(err)
	}
	if r.File != path || r.Dir != dir || r.Name() != "cat" {
		t.Errorf("File %q Dir %q Name %q", r.File, r.Dir, r.Name())
	}
	_, err = Load(filepath.Join(dir, "missing.yaml"))
	if err == nil || !strings.HasPrefix(err.Error(), filepath.Join(dir, "missing.yaml")+": cannot read recipe") {
		t.Errorf("missing file: %v", err)
	}
}

// TestMultipleErrors checks that one pass reports every problem, in order.
func TestMultipleErrors(t *testing.T) {
	dir := recipeDir(t)
	_, err := LoadBytes("r.yaml", []byte("version: 1\nmodels: {base: {path: models/sd15}}\nsteps: 0\nguidance: -1\ndevice: tpu\n"), dir)
	var list ErrorList
	if !errors.As(err, &list) {
		t.Fatalf("error %T, want ErrorList", err)
	}
	want := []string{"r.yaml:3:8: steps:", "r.yaml:4:11: guidance:", "r.yaml:5:9: device:"}
	if len(list) != len(want) {
		t.Fatalf("%d errors, want %d:\n%v", len(list), len(want), err)
	}
	for i, w := range want {
		if !strings.HasPrefix(list[i].Error(), w) {
			t.Errorf("error %d = %q, want it to start with %q", i, list[i], w)
		}
	}
}

func TestSkipFileChecks(t *testing.T) {
	src := "version: 1\nmodels: {m: {path: nowhere}}\nimg2img: {image: none.png}\n"
	if _, err := LoadBytes("r.yaml", []byte(src), t.TempDir()); err == nil {
		t.Fatal("missing files accepted")
	}
	if _, err := (Loader{SkipFileChecks: true}).LoadBytes("r.yaml", []byte(src), t.TempDir()); err != nil {
		t.Fatalf("SkipFileChecks: %v", err)
	}
}

func TestLimits(t *testing.T) {
	dir := recipeDir(t)
	l := Loader{Limits: Limits{MaxSize: 1024, MaxSteps: 50, MaxImages: 4, MaxBytes: 200}}
	for _, tc := range []struct{ yaml, want string }{
		{"width: 2048", "r.yaml:3:8: width: 2048 px is larger than the limit of 1024 px"},
		{"steps: 51", "r.yaml:3:8: steps: must be between 1 and 50, got 51"},
		{"seeds: [1, 2, 3, 4, 5]\noutput: {name: \"{seed}\"}", "r.yaml:3:8: seeds: 5 seeds; the limit is 4 images"},
		{"seeds: [1, 2, 3]\nsweep: {steps: [10, 20]}", "r.yaml:4:1: sweep: 2 combinations of 3 seeds make 6 images; the limit is 4"},
		{"prompt: " + strings.Repeat("x", 200), "r.yaml:1:1: the recipe is larger than 200 bytes"},
	} {
		_, err := l.LoadBytes("r.yaml", []byte("version: 1\nmodels: {m: {path: models/sd15}}\n"+tc.yaml+"\n"), dir)
		if err == nil || !strings.HasPrefix(err.Error(), tc.want) {
			t.Errorf("%s: got %v, want %q", tc.yaml, err, tc.want)
		}
	}
}

// A recipe reports the limits it was read with, so that what reads its
// images later applies the same ones; variants of a sweep keep them.
func TestRecipeLimits(t *testing.T) {
	dir := recipeDir(t)
	l := Loader{Limits: Limits{MaxSteps: 50, MaxImagePixels: 1000}}
	r, err := l.LoadBytes("r.yaml", []byte("version: 1\nmodels: {m: {path: models/sd15}}\nsweep: {steps: [10, 20]}\n"), dir)
	if err != nil {
		t.Fatal(err)
	}
	want := DefaultLimits
	want.MaxSteps, want.MaxImagePixels = 50, 1000
	if got := r.Limits(); got != want {
		t.Errorf("Limits() = %+v, want %+v", got, want)
	}
	variants, err := Expand(r)
	if err != nil {
		t.Fatal(err)
	}
	if got := variants[1].Recipe.Limits(); got != want {
		t.Errorf("variant: Limits() = %+v, want %+v", got, want)
	}
	if got := (&Recipe{}).Limits(); got != DefaultLimits {
		t.Errorf("a recipe made in Go: Limits() = %+v, want DefaultLimits", got)
	}
}

func TestFileName(t *testing.T) {
	o := Output{Name: "{recipe}-{variant}-{index}-{seed}"}
	got, err := o.FileName(NameVars{Recipe: "cat", Seed: 42, Index: 1, Variant: 3})
	if err != nil || got != "cat-3-1-42.png" {
		t.Errorf("FileName = %q, %v", got, err)
	}
	for _, bad := range []string{"", "..", "a/b", `a\b`, "/abs", "{unclosed", "x}", "{nope}", "\x00"} {
		if _, err := (&Output{Name: bad}).FileName(NameVars{Recipe: "r"}); err == nil {
			t.Errorf("name %q accepted", bad)
		}
	}
}

// stripped is a copy of r without what Load keeps for positions, so that
// two loads of equal recipes compare equal.
func stripped(r *Recipe) *Recipe {
	c := r.Clone()
	c.src, c.pos, c.keyPos, c.modelOrder, c.File, c.Dir = nil, nil, nil, nil, "", ""
	for i := range c.Sweep {
		c.Sweep[i].keyPos, c.Sweep[i].nodes = Position{}, nil
	}
	return c
}

func TestRoundTrip(t *testing.T) {
	dir := recipeDir(t)
	sweep := "version: 1\nmodels: {a: {path: models/sd15}, b: {path: models/sdxl}}\nstages:\n  - participants: [{model: a}, {model: b, weight: 0.5}]\n" +
		"sweep:\n  stages.0.participants.1.weight: [0, [[1, 0.2], [0, 0.8]]]\n  seed: [1, 2]\n"
	decoder := "version: 1\nmodels: {prior: {path: models/sd15, decoder: dec, decoder_steps: 4}, dec: {path: models/sdxl}}\n"
	for name, src := range map[string]string{"full": fullRecipe, "sweep": sweep, "minimal": "version: 1\nmodels: {m: {path: models/sd15}}\n", "decoder": decoder} {
		r, err := LoadBytes(name+".yaml", []byte(src), dir)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		out, err := r.Marshal()
		if err != nil {
			t.Fatalf("%s: Marshal: %v", name, err)
		}
		r2, err := LoadBytes(name+".yaml", out, dir)
		if err != nil {
			t.Fatalf("%s: reloading the marshalled recipe: %v\n%s", name, err, out)
		}
		if a, b := stripped(r), stripped(r2); !reflect.DeepEqual(a, b) {
			t.Errorf("%s: the round trip changed the recipe:\n%+v\n%+v\n%s", name, a, b, out)
		}
		out2, err := r2.Marshal()
		if err != nil || string(out2) != string(out) {
			t.Errorf("%s: Marshal is not stable:\n%s\n---\n%s", name, out, out2)
		}
	}
}

func TestCloneAndAbsolutePaths(t *testing.T) {
	dir := recipeDir(t)
	r, err := LoadBytes("full.yaml", []byte(fullRecipe), dir)
	if err != nil {
		t.Fatal(err)
	}
	before, _ := r.Marshal()
	c := r.Clone()
	c.MakePathsAbsolute()
	*c.Stages[0].Participants[1].Guidance = 1
	c.Stages[0].Participants[1].Weight.Points[0].W = 0
	c.Seeds[0] = 99
	after, _ := r.Marshal()
	if string(before) != string(after) {
		t.Errorf("changing a clone changed the original:\n%s\n---\n%s", before, after)
	}
	for _, p := range []string{c.Models["base"].Path, c.Stages[0].Participants[1].Controls[0].Image, c.Img2Img.Image, c.Output.Dir} {
		if !filepath.IsAbs(p) || !strings.HasPrefix(p, dir) {
			t.Errorf("path %q is not absolute under %s", p, dir)
		}
	}
	if _, err := os.Stat(c.Models["base"].Path); err != nil {
		t.Errorf("absolute model path: %v", err)
	}
}

// A model named as another's decoder takes part in no stage of its own: a
// recipe with a prior and its decoder needs no stages, and the resolved
// recipe keeps both fields.
func TestDecoderModel(t *testing.T) {
	dir := recipeDir(t)
	src := "version: 1\nmodels:\n  prior: {path: models/sd15, decoder: dec, decoder_steps: 4}\n  dec: {path: models/sdxl}\n"
	r, err := LoadBytes("cascade.yaml", []byte(src), dir)
	if err != nil {
		t.Fatal(err)
	}
	if m := r.Models["prior"]; m.Decoder != "dec" || m.DecoderSteps != 4 {
		t.Errorf("prior %+v, want decoder dec with 4 steps", m)
	}
	if len(r.Stages) != 1 || len(r.Stages[0].Participants) != 1 || r.Stages[0].Participants[0].Model != "prior" {
		t.Fatalf("stages %+v, want one stage with the prior", r.Stages)
	}
	if p := r.Pos("models.prior.decoder"); p.Line != 3 || p.Col != 39 {
		t.Errorf("decoder at %v, want 3:39", p)
	}
	out, err := r.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(out), "decoder: dec") || !strings.Contains(string(out), "decoder_steps: 4") {
		t.Errorf("the marshalled recipe lost the decoder:\n%s", out)
	}
}
