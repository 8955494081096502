package main

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"

	"github.com/coop-diffusion/coop/internal/faults"
	"github.com/coop-diffusion/coop/internal/fixtures"
	"github.com/coop-diffusion/coop/internal/onnx"
	"github.com/coop-diffusion/coop/internal/ort"
	"github.com/coop-diffusion/coop/internal/ort/orttest"
)

// The bad-input suite: what users will feed coop (wrong recipes,
// half-downloaded or mismatched models, damaged ONNX files, images of the
// wrong kind, wrong arguments), each case run through the built coop
// binary, with the exit status and the message it must give. Every case
// also checks what must never happen: a panic, a Go stack trace, a step
// run before the input was refused, or a file left behind.
//
// Each case gets a workspace of its own (a temporary folder); the model
// folders it damages are copies of the fixture zoo's.

// workspace is one case's folder: recipe.yaml, model folders copied from
// the zoo, images, and out/ where images would go.
type workspace struct {
	t   *testing.T
	dir string
}

func newWorkspace(t *testing.T) *workspace {
	return &workspace{t: t, dir: t.TempDir()}
}

// path returns the absolute path of a file in the workspace.
func (w *workspace) path(rel string) string { return filepath.Join(w.dir, filepath.FromSlash(rel)) }

// model copies the zoo's fixture folder name into the workspace (once)
// and returns its path.
func (w *workspace) model(name string) string {
	w.t.Helper()
	return w.modelAt(name, name)
}

// modelAt copies the zoo's fixture folder name to rel in the workspace
// (once) and returns its path.
func (w *workspace) modelAt(name, rel string) string {
	w.t.Helper()
	dst := w.path(rel)
	if _, err := os.Stat(dst); err == nil {
		return dst
	}
	fixtures.CopyTree(w.t, filepath.Join(fixtures.Zoo(w.t), name), dst)
	return dst
}

// write writes a file into the workspace, creating folders.
func (w *workspace) write(rel, content string) string {
	w.t.Helper()
	p := w.path(rel)
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		w.t.Fatal(err)
	}
	if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
		w.t.Fatal(err)
	}
	return p
}

// recipe writes recipe.yaml and returns its path.
func (w *workspace) recipe(yaml string) string { return w.write("recipe.yaml", yaml) }

// image writes a PNG of the given kind and size.
func (w *workspace) image(rel string, kind faults.ImageKind, width, height int) string {
	w.t.Helper()
	p := w.path(rel)
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		w.t.Fatal(err)
	}
	if err := faults.WriteImage(p, kind, width, height); err != nil {
		w.t.Fatal(err)
	}
	return p
}

func (w *workspace) must(err error) {
	w.t.Helper()
	if err != nil {
		w.t.Fatal(err)
	}
}

// files lists the workspace's files, relative and slash-separated.
func (w *workspace) files() map[string]bool {
	w.t.Helper()
	out := map[string]bool{}
	filepath.WalkDir(w.dir, func(p string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			rel, _ := filepath.Rel(w.dir, p)
			out[filepath.ToSlash(rel)] = true
		}
		return nil
	})
	return out
}

// plainRecipe renders one sd15 image in two steps into out/.
const plainRecipe = `version: 1
models:
  sd: {path: sd15}
prompt: a photo of a cat
seed: 1
steps: 2
`

// controlRecipe attaches the split ControlNet to sd15-cn with control.png.
const controlRecipe = `version: 1
models:
  base: {path: sd15-cn}
  cn: {path: controlnet-sd15}
prompt: a photo of a cat
seed: 1
steps: 2
stages:
  - participants:
      - model: base
        controls: [{model: cn, image: control.png}]
`

// badInputCase is one bad input: build writes it into the workspace and
// returns coop's arguments; the run must exit with code and print every
// string of want on stderr ({dir} stands for the workspace folder).
type badInputCase struct {
	area, name string
	build      func(w *workspace) []string
	code       int
	want       []string
}

// unet is the path of the unet of a model folder copied into w.
func unet(w *workspace, model string) string {
	return filepath.Join(w.model(model), "unet", "model.onnx")
}

// rewriteUnet replaces sd15's unet by a stand-in with the same signature
// changed by edit.
func rewriteUnet(w *workspace, o faults.Options) {
	w.must(faults.RewriteModel(unet(w, "sd15"), o))
}

var badInputs = []badInputCase{
	// Recipes.
	{"recipe", "yaml syntax", func(w *workspace) []string {
		return []string{"validate", w.recipe("version: 1\nmodels: {sd: {path: sd15}\nsteps: 2\n")}
	}, 2, []string{"{dir}/recipe.yaml:2:1: YAML syntax error"}},
	{"recipe", "misspelt field", func(w *workspace) []string {
		w.model("sd15")
		return []string{"validate", w.recipe(plainRecipe + "stpes: 3\n")}
	}, 2, []string{"{dir}/recipe.yaml:7:1:", `unknown field "stpes" (did you mean "steps"?)`}},
	{"recipe", "unknown version", func(w *workspace) []string {
		w.model("sd15")
		return []string{"validate", w.recipe(strings.Replace(plainRecipe, "version: 1", "version: 2", 1))}
	}, 2, []string{"{dir}/recipe.yaml:1:10:", "unknown recipe version 2"}},
	{"recipe", "no models", func(w *workspace) []string {
		return []string{"validate", w.recipe("version: 1\nprompt: a cat\n")}
	}, 2, []string{"{dir}/recipe.yaml:1:1:", "models is missing"}},
	{"recipe", "model folder missing", func(w *workspace) []string {
		return []string{"validate", w.recipe(plainRecipe)}
	}, 2, []string{"{dir}/recipe.yaml:3:14:", "model folder sd15 ({dir}/sd15) does not exist"}},
	{"recipe", "stage names an unknown model", func(w *workspace) []string {
		w.model("sd15")
		return []string{"validate", w.recipe(plainRecipe + "stages:\n  - model: sdxl\n")}
	}, 2, []string{"{dir}/recipe.yaml:8:12:", `unknown model "sdxl"`}},
	{"recipe", "weight out of range", func(w *workspace) []string {
		w.model("sd15")
		return []string{"validate", w.recipe(plainRecipe + "stages:\n  - participants: [{model: sd, weight: 1.5}]\n")}
	}, 2, []string{"{dir}/recipe.yaml:8:", "weight", "1.5"}},
	{"recipe", "steps over the limit", func(w *workspace) []string {
		w.model("sd15")
		return []string{"run", w.recipe(strings.Replace(plainRecipe, "steps: 2", "steps: 1000000", 1))}
	}, 2, []string{"{dir}/recipe.yaml:6:8:", "must be between 1 and 1000"}},
	{"recipe", "size over the limit", func(w *workspace) []string {
		w.model("sd15")
		return []string{"run", w.recipe(plainRecipe + "width: 1000000000\nheight: 1000000000\n")}
	}, 2, []string{"{dir}/recipe.yaml:7:8:", "{dir}/recipe.yaml:8:9:", "larger than the limit of 4096 px"}},
	{"recipe", "size not a multiple of the latent factor", func(w *workspace) []string {
		w.model("sd15")
		return []string{"validate", w.recipe(plainRecipe + "width: 500\nheight: 512\n")}
	}, 2, []string{"{dir}/recipe.yaml:7:8:", "image width 500 is not a multiple of 8"}},
	{"recipe", "stages out of order", func(w *workspace) []string {
		w.model("sd15")
		w.model("sdxl")
		return []string{"validate", w.recipe(`version: 1
models:
  a: {path: sd15}
  b: {path: sdxl}
stages:
  - {model: a, until: 0.6}
  - {model: b, until: 0.4}
  - {model: a}
`)}
	}, 2, []string{"{dir}/recipe.yaml:7:23:", "0.4 must be greater than stages.0.until (0.6)"}},
	{"recipe", "alias bomb", func(w *workspace) []string {
		w.model("sd15")
		return []string{"validate", w.recipe(plainRecipe + "negative: &a [[x, x, x, x], [x, x, x, x]]\nsweep: {prompt: [*a, *a, *a, *a, *a, *a, *a, *a]}\n")}
	}, 2, []string{"{dir}/recipe.yaml:8:", "aliases (*a) are not supported"}},
	{"recipe", "larger than a recipe can be", func(w *workspace) []string {
		return []string{"validate", w.recipe(plainRecipe + "# " + strings.Repeat("x", 2<<20) + "\n")}
	}, 2, []string{"{dir}/recipe.yaml", "larger than"}},
	{"recipe", "not text", func(w *workspace) []string {
		return []string{"validate", w.write("recipe.yaml", "\x00\x01\x02\xff\xfe binary")}
	}, 2, []string{"{dir}/recipe.yaml:1:1: YAML syntax error"}},
	{"recipe", "bad --set value", func(w *workspace) []string {
		w.model("sd15")
		return []string{"run", "--set", "steps=many", w.recipe(plainRecipe)}
	}, 2, []string{"--set steps=many", "integer"}},
	{"recipe", "--set of a part of a swept field", func(w *workspace) []string {
		w.model("sd15")
		return []string{"run", "--set", "stages.0.participants.0.bridge.every=2", w.recipe(plainRecipe + "sweep:\n  stages.0.participants.0.bridge: [pixel, {every: 3}]\n")}
	}, 2, []string{"--set stages.0.participants.0.bridge.every=2: the sweep varies stages.0.participants.0.bridge ({dir}/recipe.yaml:8:3)"}},
	{"recipe", "seeds over the image limit", func(w *workspace) []string {
		w.model("sd15")
		seeds := make([]string, 2000)
		for i := range seeds {
			seeds[i] = strconv.Itoa(i)
		}
		return []string{"run", w.recipe(strings.Replace(plainRecipe, "seed: 1", "seeds: ["+strings.Join(seeds, ", ")+"]", 1))}
	}, 2, []string{"{dir}/recipe.yaml:5:", "limit is 1024 images"}},
	{"recipe", "guidance not a number", func(w *workspace) []string {
		w.model("sd15")
		return []string{"run", w.recipe(plainRecipe + "guidance: .nan\n")}
	}, 2, []string{"{dir}/recipe.yaml:7:11:", "expected a finite number, got .nan"}},
	{"recipe", "field given twice", func(w *workspace) []string {
		w.model("sd15")
		return []string{"run", w.recipe(plainRecipe + "steps: 3\n")}
	}, 2, []string{"{dir}/recipe.yaml:7:1:", "given twice (first at {dir}/recipe.yaml:6:1)"}},
	{"recipe", "guidance that overflows", func(w *workspace) []string {
		w.model("sd15")
		return []string{"run", w.recipe(plainRecipe + "guidance: 1e300\n")}
	}, 2, []string{"{dir}/recipe.yaml:7:11:", "guidance: must be between 0 and 100, got 1e+300"}},
	{"recipe", "ControlNet scale that overflows", func(w *workspace) []string {
		w.model("sd15-cn")
		w.model("controlnet-sd15")
		w.image("control.png", faults.RGB, 512, 512)
		return []string{"run", w.recipe(strings.Replace(controlRecipe, "image: control.png", "image: control.png, scale: 1e300", 1))}
	}, 2, []string{"{dir}/recipe.yaml:11:", "scale: must be between 0 and 10, got 1e+300"}},
	{"recipe", "more fused controls than the unet has slots", func(w *workspace) []string {
		w.model("sd15-fusedcn")
		w.image("control.png", faults.RGB, 512, 512)
		return []string{"run", w.recipe(strings.Replace(plainRecipe, "{path: sd15}", "{path: sd15-fusedcn}", 1) +
			"stages:\n  - participants:\n      - model: sd\n        controls:\n" + strings.Repeat("          - {model: sd, image: control.png}\n", 3))}
	}, 2, []string{"{dir}/recipe.yaml:13:21:", "controls.2.model: model sd has 2 ControlNet slots fused into its unet and this is its control 3"}},
	{"recipe", "eta above 1", func(w *workspace) []string {
		w.model("sd15")
		return []string{"run", w.recipe(plainRecipe + "sampler: ddim\neta: 50\n")}
	}, 2, []string{"{dir}/recipe.yaml:8:6:", "eta: must be between 0 and 1, got 50"}},

	// Model folders.
	{"model folder", "no model in it", func(w *workspace) []string {
		w.write("sd15/notes.txt", "weights coming soon")
		return []string{"run", w.recipe(plainRecipe)}
	}, 2, []string{"{dir}/recipe.yaml:3:", "no ONNX model found"}},
	{"model folder", "family cannot be told", func(w *workspace) []string {
		b := onnx.NewBuilder("mystery")
		b.Output(b.Input("x", onnx.Float32, 1, 4), "y", onnx.Float32, 1, 4)
		w.must(os.MkdirAll(w.path("sd15"), 0o755))
		w.must(b.WriteFile(w.path("sd15/model.onnx")))
		return []string{"run", w.recipe(plainRecipe)}
	}, 2, []string{"{dir}/recipe.yaml:3:", "cannot tell its family", "name the family in the recipe"}},
	{"model folder", "model_index.json broken", func(w *workspace) []string {
		w.model("sd15")
		w.write("sd15/model_index.json", `{"_class_name": "StableDiffusionPipeline",`)
		return []string{"run", w.recipe(plainRecipe)}
	}, 2, []string{"{dir}/recipe.yaml:3:", "{dir}/sd15/model_index.json"}},
	{"model folder", "unknown scheduler setting", func(w *workspace) []string {
		w.model("sd15")
		w.write("sd15/scheduler/scheduler_config.json", `{"beta_schedule": "cubic"}`)
		return []string{"run", w.recipe(plainRecipe)}
	}, 2, []string{"{dir}/sd15/scheduler/scheduler_config.json", `unknown beta_schedule "cubic"`}},
	{"model folder", "text encoder of another width", func(w *workspace) []string {
		w.model("sd15")
		w.must(faults.RewriteModel(unet(w, "sd15"), faults.Options{Edit: func(s *onnx.Signature) { s.Inputs[2].Dims[2].Value = 1024 }}))
		return []string{"run", w.recipe(plainRecipe)}
	}, 2, []string{"{dir}/recipe.yaml:3:", "embeddings of width 768", "takes 1024"}},
	{"model folder", "family override that does not fit", func(w *workspace) []string {
		w.model("sd15")
		return []string{"run", w.recipe(strings.Replace(plainRecipe, "{path: sd15}", "{path: sd15, family: sdxl}", 1))}
	}, 2, []string{"{dir}/recipe.yaml:3:", "SDXL base needs 2048"}},
	{"model folder", "vocab.json malformed", func(w *workspace) []string {
		w.model("sd15")
		w.write("sd15/tokenizer/vocab.json", `{"a</w>": 320, "b</w>": `)
		return []string{"validate", w.recipe(plainRecipe)}
	}, 2, []string{"{dir}/recipe.yaml:3:", `model "sd" text_encoder`, "{dir}/sd15/tokenizer/vocab.json"}},
	{"model folder", "a size the unet does not take", func(w *workspace) []string {
		w.model("sd15")
		return []string{"run", w.recipe(plainRecipe + "width: 8\n")}
	}, 2, []string{"{dir}/recipe.yaml:7:8: width:", "renders model sd at 8x512 px", "{dir}/sd15/unet/model.onnx fixes its sample input to 64x64 latents", "takes only 512x512 px images"}},
	{"model folder", "a participant of another fixed size", func(w *workspace) []string {
		w.model("sd15")
		w.model("sd15-small")
		return []string{"validate", w.recipe(`version: 1
models:
  sd: {path: sd15}
  small: {path: sd15-small}
stages:
  - participants: [{model: sd, weight: 0.5}, {model: small, weight: 0.5}]
`)}
	}, 2, []string{"{dir}/recipe.yaml:6:54: stages.0.participants.1.model:", "renders model small at 512x512 px", "takes only 256x256 px images"}},
	{"model folder", "ControlNet on a base of another family", func(w *workspace) []string {
		w.model("sd15-cn")
		w.model("controlnet-sdxl")
		w.image("control.png", faults.RGB, 512, 512)
		return []string{"run", w.recipe(strings.Replace(controlRecipe, "controlnet-sd15", "controlnet-sdxl", 1))}
	}, 2, []string{"{dir}/recipe.yaml:11:28:", "belongs to another base family"}},
	{"model folder", "a unet file alone as the model", func(w *workspace) []string {
		w.model("sd15")
		return []string{"validate", w.recipe(strings.Replace(plainRecipe, "{path: sd15}", "{path: sd15/unet/model.onnx}", 1))}
	}, 2, []string{"{dir}/recipe.yaml:3:14: models.sd.path: model sd ({dir}/sd15/unet/model.onnx) cannot be the primary participant of stage 1-sd",
		"no text encoder or autoencoder (VAE)", "is a single model file", "point models.sd.path at the model's folder"}},
	{"model folder", "a unet file alone as the model, planned", func(w *workspace) []string {
		w.model("sd15")
		return []string{"plan", w.recipe(strings.Replace(plainRecipe, "{path: sd15}", "{path: sd15/unet/model.onnx}", 1))}
	}, 2, []string{"{dir}/recipe.yaml:3:14: models.sd.path: model sd", "cannot be the primary participant"}},
	{"model folder", "a unet file as a second participant", func(w *workspace) []string {
		w.model("sd15")
		w.model("sdxl")
		return []string{"run", w.recipe(`version: 1
models:
  sd: {path: sd15}
  u: {path: sdxl/unet/model.onnx}
prompt: a photo of a cat
seed: 1
steps: 2
stages:
  - participants: [{model: sd}, {model: u, weight: 0.5}]
`)}
	}, 2, []string{"{dir}/recipe.yaml:9:41: stages.0.participants.1.model: model u", "cannot be a participant of stage 1-sd", "is a single model file"}},
	{"model folder", "no VAE decoder for the final image", func(w *workspace) []string {
		w.model("sd15")
		w.must(os.RemoveAll(w.path("sd15/vae_decoder")))
		return []string{"run", w.recipe(plainRecipe)}
	}, 2, []string{"{dir}/recipe.yaml:3:14: models.sd.path: model sd ({dir}/sd15) has no decoder (vae_decoder/model.onnx)", "decoded into the image"}},
	{"model folder", "no VAE encoder for a bridge back into a participant", func(w *workspace) []string {
		w.model("sd15")
		w.model("sdxl")
		w.must(os.RemoveAll(w.path("sd15/vae_encoder")))
		return []string{"run", w.recipe(`version: 1
models:
  xl: {path: sdxl}
  sd: {path: sd15}
prompt: a photo of a cat
seed: 1
steps: 2
stages:
  - participants: [{model: xl}, {model: sd, weight: 0.5}]
`)}
	}, 2, []string{"{dir}/recipe.yaml:9:41: stages.0.participants.1.model: model sd ({dir}/sd15) has no encoder (vae_encoder/model.onnx)", "bridge.back"}},

	// ONNX files.
	{"onnx", "truncated", func(w *workspace) []string {
		w.must(faults.Truncate(unet(w, "sd15"), -100))
		return []string{"run", w.recipe(plainRecipe)}
	}, 2, []string{"{dir}/sd15/unet/model.onnx: truncated at byte"}},
	{"onnx", "empty", func(w *workspace) []string {
		w.must(faults.Truncate(unet(w, "sd15"), 0))
		return []string{"run", w.recipe(plainRecipe)}
	}, 2, []string{"{dir}/recipe.yaml:3:14:", "{dir}/sd15/unet/model.onnx: not an ONNX model: empty file"}},
	{"onnx", "corrupt", func(w *workspace) []string {
		w.must(faults.Overwrite(unet(w, "sd15"), 0, []byte("\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff")))
		return []string{"run", w.recipe(plainRecipe)}
	}, 2, []string{"{dir}/sd15/unet/model.onnx: corrupt at byte 0"}},
	{"onnx", "not ONNX at all", func(w *workspace) []string {
		w.model("sd15")
		w.write("sd15/unet/model.onnx", "<html>404 Not Found</html>\n")
		return []string{"run", w.recipe(plainRecipe)}
	}, 2, []string{"{dir}/sd15/unet/model.onnx: corrupt at byte 0"}},
	{"onnx", "input renamed", func(w *workspace) []string {
		rewriteUnet(w, faults.Options{Edit: func(s *onnx.Signature) { s.Inputs[0].Name = "latents" }})
		return []string{"run", w.recipe(plainRecipe)}
	}, 2, []string{"{dir}/recipe.yaml:3:", `needs input "sample"`, "latents float32 [batch, 4, 64, 64]"}},
	{"onnx", "timestep of a type coop cannot feed", func(w *workspace) []string {
		rewriteUnet(w, faults.Options{Edit: func(s *onnx.Signature) { s.Inputs[1].ElemType = onnx.String }})
		return []string{"run", w.recipe(plainRecipe)}
	}, 2, []string{"{dir}/sd15/unet/model.onnx", "timestep is string"}},
	{"onnx", "unknown extra input", func(w *workspace) []string {
		rewriteUnet(w, faults.Options{Edit: func(s *onnx.Signature) {
			s.Inputs = append(s.Inputs, onnx.ValueInfo{Name: "mask", ElemType: onnx.Float32, HasShape: true, Dims: []onnx.Dim{{Value: 1}}})
		}})
		return []string{"run", w.recipe(plainRecipe)}
	}, 2, []string{"{dir}/sd15/unet/model.onnx", "input mask", "not one coop knows how to feed"}},
	{"onnx", "opset newer than the runtime", func(w *workspace) []string {
		w.must(faults.StampOpset(unet(w, "sd15"), 99))
		return []string{"run", w.recipe(plainRecipe)}
	}, 2, []string{"{dir}/recipe.yaml:3:14:", `model "sd" unet: {dir}/sd15/unet/model.onnx: the model uses opset 99`, "loads opsets 7 to 25"}},
	{"onnx", "opset older than the runtime", func(w *workspace) []string {
		w.model("sd15")
		w.must(faults.StampOpset(w.path("sd15/vae_decoder/model.onnx"), 5))
		return []string{"validate", w.recipe(plainRecipe)}
	}, 2, []string{`model "sd" vae_decoder: {dir}/sd15/vae_decoder/model.onnx: the model uses opset 5`}},
	{"onnx", "second stage's model of an opset the runtime does not load", func(w *workspace) []string {
		w.model("sd15")
		w.modelAt("sd15", "other")
		w.must(faults.StampOpset(w.path("other/text_encoder/model.onnx"), 26))
		return []string{"run", w.recipe(`version: 1
models:
  a: {path: sd15}
  b: {path: other}
prompt: a photo of a cat
seed: 1
steps: 4
stages:
  - {model: a, until: 0.5}
  - {model: b}
`)}
	}, 2, []string{"{dir}/recipe.yaml:4:", `model "b" text_encoder: {dir}/other/text_encoder/model.onnx: the model uses opset 26`}},
	{"onnx", "external weights missing", func(w *workspace) []string {
		rewriteUnet(w, faults.Options{External: true})
		w.must(os.Remove(unet(w, "sd15") + "_data"))
		return []string{"run", w.recipe(plainRecipe)}
	}, 2, []string{"{dir}/recipe.yaml:3:14:", "{dir}/sd15/unet/model.onnx: its weights file {dir}/sd15/unet/model.onnx_data is missing"}},
	{"onnx", "external weights half downloaded", func(w *workspace) []string {
		rewriteUnet(w, faults.Options{External: true})
		w.must(faults.Truncate(unet(w, "sd15")+"_data", 100))
		return []string{"validate", w.recipe(plainRecipe)}
	}, 2, []string{"{dir}/sd15/unet/model.onnx: its weights file {dir}/sd15/unet/model.onnx_data holds 100 bytes", "cut short"}},
	{"onnx", "external weights outside the model's folder", func(w *workspace) []string {
		rewriteUnet(w, faults.Options{External: true, ExternalLocation: "../../weights.bin"})
		return []string{"validate", w.recipe(plainRecipe)}
	}, 2, []string{"{dir}/sd15/unet/model.onnx: its weights file \"../../weights.bin\" lies outside the model's folder", "relative path"}},
	{"onnx", "latents declared int32", func(w *workspace) []string {
		rewriteUnet(w, faults.Options{Edit: func(s *onnx.Signature) { s.Inputs[0].ElemType = onnx.Int32 }})
		return []string{"validate", w.recipe(plainRecipe)}
	}, 2, []string{"{dir}/recipe.yaml:3:", `model "sd" unet ({dir}/sd15/unet/model.onnx): input sample is int32 [batch, 4, 64, 64]`}},
	{"onnx", "an operator ONNX Runtime does not have", func(w *workspace) []string {
		rewriteUnet(w, faults.Options{Body: faults.UnknownOp})
		return []string{"run", w.recipe(plainRecipe)}
	}, 2, []string{"{dir}/sd15/unet/model.onnx: ONNX Runtime cannot load the model", "CoopNoSuchOperator"}},
	{"onnx", "unet returns NaN", func(w *workspace) []string {
		rewriteUnet(w, faults.Options{Body: faults.NaN})
		return []string{"run", w.recipe(plainRecipe)}
	}, 1, []string{"stage 1-sd, step 1", "model sd", "NaN or Inf", "no image written"}},

	// Images.
	{"image", "control image missing", func(w *workspace) []string {
		w.model("sd15-cn")
		w.model("controlnet-sd15")
		return []string{"run", w.recipe(controlRecipe)}
	}, 2, []string{"{dir}/recipe.yaml:11:", "control.png"}},
	{"image", "control image is not an image", func(w *workspace) []string {
		w.model("sd15-cn")
		w.model("controlnet-sd15")
		w.write("control.png", "GIF89a but not really")
		return []string{"run", w.recipe(controlRecipe)}
	}, 2, []string{"{dir}/recipe.yaml:11:", "control.png is not a PNG or JPEG image"}},
	{"image", "control image cut short", func(w *workspace) []string {
		w.model("sd15-cn")
		w.model("controlnet-sd15")
		w.must(faults.Truncate(w.image("control.png", faults.RGB, 512, 512), 200))
		return []string{"run", w.recipe(controlRecipe)}
	}, 2, []string{"{dir}/recipe.yaml:11:", "control.png"}},
	{"image", "img2img image of zeros", func(w *workspace) []string {
		w.model("sd15")
		w.write("input.png", string(make([]byte, 4096)))
		return []string{"run", w.recipe(plainRecipe + "img2img: {image: input.png}\n")}
	}, 2, []string{"{dir}/recipe.yaml:7:18:", "input.png is not a PNG or JPEG image"}},
	{"image", "img2img image is a folder", func(w *workspace) []string {
		w.model("sd15")
		w.must(os.MkdirAll(w.path("input.png"), 0o755))
		return []string{"run", w.recipe(plainRecipe + "img2img: {image: input.png}\n")}
	}, 2, []string{"{dir}/recipe.yaml:7:", "input.png"}},
	{"image", "control image decompression bomb", func(w *workspace) []string {
		w.model("sd15-cn")
		w.model("controlnet-sd15")
		w.must(faults.WritePNGBomb(w.path("control.png"), 20000, 20000))
		return []string{"run", w.recipe(controlRecipe)}
	}, 2, []string{"{dir}/recipe.yaml:11:39:", "control image {dir}/control.png is 20000x20000 px (400 megapixels), larger than the limit of 67.11 megapixels"}},
	{"image", "img2img image over --max-image-pixels", func(w *workspace) []string {
		w.model("sd15")
		w.image("input.png", faults.RGB, 512, 512)
		return []string{"run", "--max-image-pixels", "100000", w.recipe(plainRecipe + "img2img: {image: input.png}\n")}
	}, 2, []string{"{dir}/recipe.yaml:7:18:", "input image {dir}/input.png is 512x512 px (262144 pixels), larger than the limit of 100000 pixels"}},
	{"image", "grayscale control image (a warning)", func(w *workspace) []string {
		w.model("sd15-cn")
		w.model("controlnet-sd15")
		w.image("control.png", faults.Gray, 512, 512)
		return []string{"validate", w.recipe(controlRecipe)}
	}, 0, []string{"coop: warning: {dir}/recipe.yaml:11:39:", "control image {dir}/control.png is grayscale"}},
	{"image", "translucent img2img image (a warning)", func(w *workspace) []string {
		w.model("sd15")
		w.image("input.png", faults.Alpha, 512, 512)
		return []string{"validate", w.recipe(plainRecipe + "img2img: {image: input.png}\n")}
	}, 0, []string{"coop: warning: {dir}/recipe.yaml:7:18:", "input image {dir}/input.png has translucent pixels"}},
	{"image", "control image of another aspect ratio (a warning)", func(w *workspace) []string {
		w.model("sd15-cn")
		w.model("controlnet-sd15")
		w.image("control.png", faults.RGB, 800, 450)
		return []string{"validate", w.recipe(controlRecipe)}
	}, 0, []string{"coop: warning: {dir}/recipe.yaml:11:39:", "control image {dir}/control.png is 800x450 px and is stretched to 512x512 px for ControlNet cn on model base in stage 1-base"}},

	// Command-line arguments.
	{"cli", "unknown flag", func(w *workspace) []string {
		return []string{"run", "--steps", "3", w.recipe(plainRecipe)}
	}, 2, []string{"steps"}},
	{"cli", "run without a recipe", func(w *workspace) []string { return []string{"run"} }, 2, []string{"give one recipe"}},
	{"cli", "run with two recipes", func(w *workspace) []string {
		return []string{"run", w.recipe(plainRecipe), w.recipe(plainRecipe)}
	}, 2, []string{"got 2 arguments"}},
	{"cli", "recipe does not exist", func(w *workspace) []string {
		return []string{"run", w.path("nope.yaml")}
	}, 2, []string{"{dir}/nope.yaml", "no such file"}},
	{"cli", "negative thread count", func(w *workspace) []string {
		w.model("sd15")
		return []string{"run", "--threads", "-1", w.recipe(plainRecipe)}
	}, 2, []string{"threads"}},
	{"cli", "unknown device", func(w *workspace) []string {
		w.model("sd15")
		return []string{"run", "--device", "tpu", w.recipe(plainRecipe)}
	}, 2, []string{`--device tpu: device: unknown device "tpu"`}},
	{"cli", "--ort-lib names a missing file", func(w *workspace) []string {
		w.model("sd15")
		return []string{"--ort-lib", w.path("libonnxruntime.so"), "run", w.recipe(plainRecipe)}
	}, 2, []string{"--ort-lib", "{dir}/libonnxruntime.so does not exist"}},
	{"cli", "--ort-lib names a file that is not ONNX Runtime", func(w *workspace) []string {
		w.model("sd15")
		w.write("libonnxruntime.so", "not a shared library")
		return []string{"--ort-lib", w.path("libonnxruntime.so"), "run", w.recipe(plainRecipe)}
	}, 2, []string{"{dir}/libonnxruntime.so"}},
	{"cli", "output exists", func(w *workspace) []string {
		w.model("sd15")
		w.write("out/recipe-1.png", "an image the user cares about")
		return []string{"run", w.recipe(plainRecipe)}
	}, 2, []string{"{dir}/out/recipe-1.png exists", "--force"}},
	{"cli", "--out names a file", func(w *workspace) []string {
		w.model("sd15")
		w.write("afile", "x")
		return []string{"run", "--out", w.path("afile"), w.recipe(plainRecipe)}
	}, 2, []string{"output folder {dir}/afile is a file, not a folder"}},
	{"cli", "output.dir under a file", func(w *workspace) []string {
		w.model("sd15")
		w.write("afile", "x")
		return []string{"run", w.recipe(plainRecipe + "output: {dir: afile/out}\n")}
	}, 2, []string{"output folder {dir}/afile/out cannot be created: {dir}/afile is a file"}},
	{"cli", "output folder that cannot be created", func(w *workspace) []string {
		w.model("sd15")
		return []string{"run", "--out", "/proc/coop-bad-input", w.recipe(plainRecipe)}
	}, 2, []string{"output folder /proc/coop-bad-input cannot be created: /proc is not writable"}},
	{"cli", "output file name too long", func(w *workspace) []string {
		w.model("sd15")
		return []string{"run", "--set", "output.name=" + strings.Repeat("n", 252), w.recipe(plainRecipe)}
	}, 2, []string{"256 bytes long, longer than the 255 bytes", "output.name"}},
	{"cli", "--force onto a folder", func(w *workspace) []string {
		w.model("sd15")
		w.write("out/recipe-1.png/keep.txt", "a folder where the image goes")
		return []string{"run", "--force", w.recipe(plainRecipe)}
	}, 2, []string{"{dir}/out/recipe-1.png is a folder", "--force replaces files, not folders"}},
	{"cli", "fixtures with an empty --only", func(w *workspace) []string {
		return []string{"fixtures", "--out", w.path("zoo"), "--only", ""}
	}, 2, []string{"--only names no fixture"}},
	{"cli", "interposer fit from a model without an encoder", func(w *workspace) []string {
		w.must(os.RemoveAll(filepath.Join(w.modelAt("sd15", "noenc"), "vae_encoder")))
		return []string{"interposer", "fit", "--from", w.path("noenc"), "--to", w.model("sd15"), "--out", w.path("ip.json")}
	}, 2, []string{"--from {dir}/noenc", "has no VAE encoder (vae_encoder)"}},
	{"cli", "interposer fit to a model without a decoder", func(w *workspace) []string {
		w.must(os.RemoveAll(filepath.Join(w.modelAt("sd15", "nodec"), "vae_decoder")))
		return []string{"interposer", "fit", "--from", w.model("sd15"), "--to", w.path("nodec"), "--out", w.path("ip.json")}
	}, 2, []string{"--to {dir}/nodec", "has no VAE decoder (vae_decoder)", "--holdout 0"}},
	{"cli", "PNG without a recipe", func(w *workspace) []string {
		return []string{"run", w.image("photo.png", faults.RGB, 8, 8)}
	}, 2, []string{"{dir}/photo.png: the PNG holds no coop recipe"}},
	{"cli", "validate of a PNG without a recipe", func(w *workspace) []string {
		return []string{"validate", w.image("photo.png", faults.RGB, 8, 8)}
	}, 2, []string{"{dir}/photo.png: the PNG holds no coop recipe"}},
	{"cli", "validate without recipes", func(w *workspace) []string { return []string{"validate"} }, 2, []string{"recipe"}},
	{"cli", "inspect of a missing folder", func(w *workspace) []string {
		return []string{"inspect", w.path("nowhere")}
	}, 2, []string{"{dir}/nowhere: no such file or folder"}},
	{"cli", "schedule with zero steps", func(w *workspace) []string {
		return []string{"schedule", "--scheduler", "ddim", "--steps", "0"}
	}, 2, []string{"steps"}},
	{"cli", "--max-steps lowers the step limit", func(w *workspace) []string {
		w.model("sd15")
		return []string{"run", "--max-steps", "1", w.recipe(plainRecipe)}
	}, 2, []string{"{dir}/recipe.yaml:6:8:", "steps: must be between 1 and 1, got 2"}},
	{"cli", "--max-size lowers the size limit for plan", func(w *workspace) []string {
		w.model("sd15")
		return []string{"plan", "--max-size", "256", w.recipe(plainRecipe + "width: 512\n")}
	}, 2, []string{"{dir}/recipe.yaml:7:8:", "512 px is larger than the limit of 256 px"}},
	{"cli", "--max-images lowers the image limit for bench", func(w *workspace) []string {
		w.model("sd15")
		return []string{"bench", "--max-images", "1", w.recipe(strings.Replace(plainRecipe, "seed: 1", "seeds: [1, 2]", 1))}
	}, 2, []string{"{dir}/recipe.yaml:5:", "the limit is 1 images"}},
	{"cli", "--max-size raises the size limit", func(w *workspace) []string {
		return []string{"validate", "--schema-only", "--max-size", "8192", w.recipe(plainRecipe + "width: 6144\nheight: 6144\n")}
	}, 0, nil},
	{"cli", "a limit of zero", func(w *workspace) []string {
		w.model("sd15")
		return []string{"validate", "--max-size", "0", w.recipe(plainRecipe)}
	}, 2, []string{"--max-size 0: give a positive number"}},
	{"cli", "tokenize without text", func(w *workspace) []string {
		return []string{"tokenize", "--tokenizer", w.model("sd15")}
	}, 2, []string{"no text"}},
}

// coopBinary builds the coop command once per test process. The suite
// runs the real binary, one process per case, as users do: exit statuses
// are the process's, and nothing one case sets (a flag, a signal handler)
// can reach the next. The binary lives in $TMPDIR/coop-cli-tests/PID;
// each test process removes the folders of processes that have ended.
func coopBinary(t *testing.T) string {
	t.Helper()
	binaryOnce.Do(func() {
		base := filepath.Join(os.TempDir(), "coop-cli-tests")
		if entries, err := os.ReadDir(base); err == nil {
			for _, e := range entries {
				pid, err := strconv.Atoi(e.Name())
				if err == nil && pid != os.Getpid() && syscall.Kill(pid, 0) == syscall.ESRCH {
					os.RemoveAll(filepath.Join(base, e.Name()))
				}
			}
		}
		dir := filepath.Join(base, strconv.Itoa(os.Getpid()))
		if binaryErr = os.MkdirAll(dir, 0o755); binaryErr != nil {
			return
		}
		binaryPath = filepath.Join(dir, "coop")
		out, err := exec.Command("go", "build", "-o", binaryPath, ".").CombinedOutput()
		if err != nil {
			binaryErr = fmt.Errorf("go build: %v\n%s", err, out)
		}
	})
	if binaryErr != nil {
		t.Fatal(binaryErr)
	}
	return binaryPath
}

var (
	binaryOnce sync.Once
	binaryPath string
	binaryErr  error
)

// coopCommand prepares the binary's process in dir.
func coopCommand(t *testing.T, bin, dir string, args ...string) *exec.Cmd {
	cmd := exec.Command(bin, args...)
	cmd.Dir = dir
	// The library the tests use, and a cache folder of the test's own for
	// model digests.
	cmd.Env = append(os.Environ(), ort.LibraryEnv+"="+orttest.Library(t), ort.CacheEnv+"="+t.TempDir())
	return cmd
}

// runBinary runs the binary to the end and returns its exit status and
// output.
func runBinary(t *testing.T, bin, dir string, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	cmd := coopCommand(t, bin, dir, args...)
	var o, e bytes.Buffer
	cmd.Stdout, cmd.Stderr = &o, &e
	err := cmd.Run()
	var ee *exec.ExitError
	switch {
	case errors.As(err, &ee):
		code = ee.ExitCode()
	case err != nil:
		t.Fatal(err)
	}
	return code, o.String(), e.String()
}

// progressStep matches coop run's progress lines.
var progressStep = regexp.MustCompile(`step \d+/\d+`)

// TestBadInput runs the bad-input suite.
func TestBadInput(t *testing.T) {
	bin := coopBinary(t)
	fixtures.Zoo(t)
	areas := map[string]int{}
	for _, c := range badInputs {
		areas[c.area]++
		t.Run(c.area+"/"+c.name, func(t *testing.T) {
			w := newWorkspace(t)
			args := c.build(w)
			before := w.files()
			code, stdout, stderr := runBinary(t, bin, w.dir, args...)
			for _, s := range []string{"panic:", "goroutine ", "runtime error"} {
				if strings.Contains(stderr, s) {
					t.Fatalf("coop %s crashed:\n%s", strings.Join(args, " "), stderr)
				}
			}
			if code != c.code {
				t.Errorf("exit status %d, want %d; stderr:\n%s", code, c.code, stderr)
			}
			for _, want := range c.want {
				want = strings.ReplaceAll(want, "{dir}", w.dir)
				if !strings.Contains(stderr, want) {
					t.Errorf("stderr does not mention %q:\n%s", want, stderr)
				}
			}
			// Bad input is refused before the first step; only a model
			// that misbehaves while running (the NaN case) is caught
			// during it.
			if steps := progressStep.FindString(stderr); steps != "" && !strings.Contains(stderr, "NaN or Inf") {
				t.Errorf("coop ran %q before refusing the input", steps)
			}
			var added []string
			for f := range w.files() {
				if !before[f] {
					added = append(added, f)
				}
			}
			sort.Strings(added)
			if len(added) > 0 {
				t.Errorf("coop left files behind: %v", added)
			}
			if t.Failed() {
				t.Logf("stdout:\n%s", stdout)
			}
		})
	}
	var summary []string
	for a, n := range areas {
		summary = append(summary, a+": "+strconv.Itoa(n))
	}
	sort.Strings(summary)
	t.Logf("%d bad inputs (%s)", len(badInputs), strings.Join(summary, ", "))
	if len(badInputs) < 30 {
		t.Errorf("the suite has %d cases; it promises at least 30", len(badInputs))
	}
}
