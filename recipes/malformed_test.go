package recipes

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// recipeDir makes a directory with the files the test recipes refer to:
// model folders models/sd15, models/sdxl and models/canny, control.png and
// input.png.
func recipeDir(t testing.TB) string {
	t.Helper()
	dir := t.TempDir()
	for _, d := range []string{"models/sd15", "models/sdxl", "models/canny"} {
		if err := os.MkdirAll(filepath.Join(dir, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	for _, f := range []string{"control.png", "input.png"} {
		if err := os.WriteFile(filepath.Join(dir, f), []byte("not read"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

// header is the valid start of most test recipes (lines 1 to 5).
const header = `version: 1
models:
  base: {path: models/sd15}
  xl: {path: models/sdxl}
  canny: {path: models/canny}
`

// malformed lists recipes Load must refuse, with the position and a part
// of the message of the first error.
var malformed = []struct {
	name string
	yaml string
	at   string // "LINE:COL"
	msg  string // a part of the message
}{
	{"unknown field", "version: 1\nmodels: {base: {path: models/sd15}}\nstpes: 20\n",
		"3:1", `unknown field "stpes" (did you mean "steps"?)`},
	{"unknown nested field", header + "stages:\n  - participants:\n      - model: base\n        wieght: 0.5\n",
		"9:9", `unknown field "wieght" in stages.0.participants.0 (did you mean "weight"?)`},
	{"unknown field without suggestion", "version: 1\nmodels: {base: {path: models/sd15}}\nflavour: mild\n",
		"3:1", `unknown field "flavour"; known fields: version, models,`},
	{"integer expected", "version: 1\nmodels: {base: {path: models/sd15}}\nsteps: many\n",
		"3:8", `steps: expected an integer, got "many"`},
	{"integer expected, got a float", "version: 1\nmodels: {base: {path: models/sd15}}\nwidth: 512.5\n",
		"3:8", `width: expected an integer, got "512.5"`},
	{"mapping expected", "version: 1\nmodels: {base: {path: models/sd15}}\noutput: out\n",
		"3:9", `output: expected a mapping of fields, got "out"`},
	{"missing model folder", "version: 1\nmodels:\n  base: {path: models/sd14}\n",
		"3:16", `models.base.path: model folder models/sd14 (`},
	{"unknown model in stage", header + "stages:\n  - model: bsae\n",
		"7:12", `unknown model "bsae" (did you mean "base"?)`},
	{"unknown control model", header + "stages:\n  - participants:\n      - model: base\n        controls:\n          - {model: cany, image: control.png}\n",
		"10:21", `unknown model "cany" (did you mean "canny"?)`},
	{"missing control image", header + "stages:\n  - participants:\n      - model: base\n        controls:\n          - model: canny\n            image: edges.png\n",
		"11:20", `control image edges.png (`},
	{"missing img2img image", "version: 1\nmodels: {base: {path: models/sd15}}\nimg2img:\n  image: photo.png\n",
		"4:10", `img2img.image: input image photo.png (`},
	{"img2img without image", "version: 1\nmodels: {base: {path: models/sd15}}\nimg2img:\n  strength: 0.5\n",
		"4:3", `img2img: image is missing`},
	{"zero steps", "version: 1\nmodels: {base: {path: models/sd15}}\nsteps: 0\n",
		"3:8", `steps: must be between 1 and 1000, got 0`},
	{"too many steps", "version: 1\nmodels: {base: {path: models/sd15}}\nsteps: 5000\n",
		"3:8", `steps: must be between 1 and 1000, got 5000`},
	{"negative guidance", "version: 1\nmodels: {base: {path: models/sd15}}\nguidance: -1\n",
		"3:11", `guidance: must be between 0 and 100, got -1`},
	{"guidance overflowing", "version: 1\nmodels: {base: {path: models/sd15}}\nguidance: 1e300\n",
		"3:11", `guidance: must be between 0 and 100, got 1e+300`},
	{"participant guidance over the range", header + "stages:\n  - participants: [{model: base, guidance: 150}]\n",
		"7:44", `stages.0.participants.0.guidance: must be between 0 and 100, got 150`},
	{"strength above 1", "version: 1\nmodels: {base: {path: models/sd15}}\nimg2img: {image: input.png, strength: 1.5}\n",
		"3:39", `img2img.strength: must be between 0 and 1, got 1.5`},
	{"until above 1", header + "stages:\n  - {model: base, until: 1.2}\n  - model: xl\n",
		"7:26", `stages.0.until: must be between 0 and 1 (exclusive), got 1.2`},
	{"until not increasing", header + "stages:\n  - {model: base, until: 0.6}\n  - {model: xl, until: 0.4}\n  - model: base\n",
		"8:24", `stages.1.until: 0.4 must be greater than stages.0.until (0.6)`},
	{"last stage with until", header + "stages:\n  - {model: base, until: 0.6}\n  - {model: xl, until: 0.9}\n",
		"8:17", `stages.1.until: the last stage runs to the end`},
	{"handover without until", header + "stages:\n  - model: base\n  - model: xl\n",
		"7:5", `stages.0: until is missing`},
	{"until with condition", header + "stages:\n  - {model: base, until: 0.5, transition: condition}\n  - model: xl\n",
		"7:19", `stages.0.until: a stage with transition: condition runs its whole trajectory`},
	{"unknown transition", header + "stages:\n  - {model: base, until: 0.5, transition: renoize}\n  - model: xl\n",
		"7:43", `unknown transition "renoize" (did you mean "renoise"?)`},
	{"weight above 1", header + "stages:\n  - participants:\n      - model: base\n      - {model: xl, weight: 1.5}\n",
		"9:29", `weight must be between 0 and 1, got 1.5`},
	{"curve noise level outside [0,1]", header + "stages:\n  - participants:\n      - model: base\n      - model: xl\n        weight: [[1.5, 0.2], [0, 0.8]]\n",
		"10:19", `noise level t must be between 0 and 1, got 1.5`},
	{"curve not sorted", header + "stages:\n  - participants:\n      - model: base\n      - model: xl\n        weight: [[0, 0.2], [1, 0.8], [0.5, 0.5]]\n",
		"10:39", `must all increase or all decrease; 0.5 follows 1`},
	{"curve point not a pair", header + "stages:\n  - participants:\n      - model: base\n      - model: xl\n        weight: [[0, 0.2], 0.8]\n",
		"10:28", `each point of a weight curve is [t, w]`},
	{"window reversed", header + "stages:\n  - participants:\n      - {model: base, window: [0.8, 0.2]}\n",
		"8:31", `window start 0.8 must be less than its end 0.2`},
	{"window not a pair", header + "stages:\n  - participants:\n      - {model: base, window: 0.5}\n",
		"8:31", `expected a window [start, end]`},
	{"seed and seeds", "version: 1\nmodels: {base: {path: models/sd15}}\nseed: 1\nseeds: [2, 3]\n",
		"4:1", `seeds: give seed or seeds, not both`},
	{"seed listed twice", "version: 1\nmodels: {base: {path: models/sd15}}\nseeds: [2, 3, 2]\noutput: {name: \"x-{seed}\"}\n",
		"3:15", `seeds.2: seed 2 is listed twice`},
	{"negative seed", "version: 1\nmodels: {base: {path: models/sd15}}\nseed: -4\n",
		"3:7", `seed: must not be negative, got -4`},
	{"size too large", "version: 1\nmodels: {base: {path: models/sd15}}\nwidth: 10000\n",
		"3:8", `width: 10000 px is larger than the limit of 4096 px`},
	{"size not positive", header + "stages:\n  - {model: base, height: 0}\n",
		"7:27", `stages.0.height: must be positive, got 0`},
	{"output name escapes", "version: 1\nmodels: {base: {path: models/sd15}}\noutput:\n  name: ../escape\n",
		"4:9", `output.name: "../escape" contains a path separator`},
	{"output name is ..", "version: 1\nmodels: {base: {path: models/sd15}}\noutput:\n  name: ..\n",
		"4:9", `output.name: ".." is not a file name`},
	{"output name placeholder", "version: 1\nmodels: {base: {path: models/sd15}}\noutput: {name: \"{recipe}-{sed}\"}\n",
		"3:16", `unknown placeholder {sed} (did you mean "seed"?)`},
	{"output name collides", "version: 1\nmodels: {base: {path: models/sd15}}\nseeds: [1, 2]\noutput: {name: fixed}\n",
		"4:16", `output.name: "fixed" gives every seed the same file name`},
	{"unknown device", "version: 1\nmodels: {base: {path: models/sd15}}\ndevice: cdua\n",
		"3:9", `unknown device "cdua" (did you mean "cuda"?)`},
	{"unknown sampler", "version: 1\nmodels: {base: {path: models/sd15}}\nsampler: eulr\n",
		"3:10", `unknown sampler "eulr" (did you mean "euler"?)`},
	{"unknown sweep path", header + "stages:\n  - participants:\n      - model: base\n      - model: xl\nsweep:\n  stages.0.participants.1.wieght: [0, 1]\noutput: {name: \"{variant}\"}\n",
		"11:3", `unknown field "wieght" in stages.0.participants.1 (did you mean "weight"?)`},
	{"sweep index past the end", header + "stages:\n  - participants:\n      - model: base\n      - model: xl\nsweep:\n  stages.0.participants.3.weight: [0, 1]\noutput: {name: \"{variant}\"}\n",
		"11:3", `stages.0.participants has 2 entries; index 3 is past the end`},
	{"sweep value of the wrong type", "version: 1\nmodels: {base: {path: models/sd15}}\nsweep:\n  steps: [10, many]\n",
		"4:15", `steps: expected an integer, got "many" (in sweep combination steps=many)`},
	{"sweep of one value", "version: 1\nmodels: {base: {path: models/sd15}}\nsweep:\n  steps: 20\n",
		"4:10", `sweep.steps: expected a non-empty list of values`},
	{"unknown version", "version: 2\nmodels: {base: {path: models/sd15}}\n",
		"1:10", `version: unknown recipe version 2; this coop reads version 1`},
	{"missing version", "models: {base: {path: models/sd15}}\nprompt: a cat\n",
		"1:1", `version is missing`},
	{"missing models", "version: 1\nprompt: a cat\n",
		"1:1", `models is missing`},
	{"model without path", "version: 1\nmodels:\n  base: {family: sd1}\n",
		"3:9", `models.base: path is missing`},
	{"unknown family", "version: 1\nmodels:\n  base: {path: models/sd15, family: sd3}\n",
		"3:37", `unknown family "sd3"`},
	{"two models and no stages", header,
		"2:1", `models: the recipe names 3 models (base, xl, canny); add stages`},
	{"model and participants", header + "stages:\n  - model: base\n    participants: [{model: xl}]\n",
		"7:5", `stages.0.model: give model (the shorthand for one participant) or participants, not both`},
	{"stage without participants", header + "stages:\n  - name: empty\n",
		"7:5", `stages.0: the stage has no participants`},
	{"duplicate field", "version: 1\nmodels: {base: {path: models/sd15}}\nsteps: 20\nsteps: 30\n",
		"4:1", `steps: given twice (first at bad.yaml:3:1)`},
	{"duplicate model", "version: 1\nmodels:\n  base: {path: models/sd15}\n  base: {path: models/sdxl}\n",
		"4:3", `models.base: given twice`},
	{"bad model name", "version: 1\nmodels:\n  sd1.5: {path: models/sd15}\n",
		"3:3", `model name "sd1.5" must start with a letter`},
	{"bridge every 0", header + "stages:\n  - participants:\n      - model: base\n      - {model: xl, bridge: {every: 0}}\n",
		"9:37", `bridge.every: must be between 1 and 1000, got 0`},
	{"unknown bridge", header + "stages:\n  - participants:\n      - model: base\n      - {model: xl, bridge: latent}\n",
		"9:29", `unknown bridge "latent"`},
	{"unknown decoder", "version: 1\nmodels:\n  prior: {path: models/sd15, decoder: dex}\n  dec: {path: models/sdxl}\nstages: [{model: prior}]\n",
		"3:39", `models.prior.decoder: unknown model "dex" (did you mean "dec"?)`},
	{"decoder names itself", "version: 1\nmodels:\n  prior: {path: models/sd15, decoder: prior}\n  dec: {path: models/sdxl}\nstages: [{model: prior}]\n",
		"3:39", `models.prior.decoder: model prior cannot be its own decoder`},
	{"decoder_steps without decoder", "version: 1\nmodels:\n  prior: {path: models/sd15, decoder_steps: 4}\n",
		"3:30", `models.prior.decoder_steps: decoder_steps without decoder`},
	{"decoder_steps zero", "version: 1\nmodels:\n  prior: {path: models/sd15, decoder: dec, decoder_steps: 0}\n  dec: {path: models/sdxl}\n",
		"3:59", `models.prior.decoder_steps: must be between 1 and 1000, got 0`},
	{"alias", "version: 1\nmodels: {base: {path: models/sd15}}\nprompt: &p a cat\nnegative: *p\n",
		"4:11", `negative: aliases (*p) are not supported`},
	{"syntax error", "version: 1\nmodels:\n  base: {path: models/sd15}\n   prompt: a cat\n",
		"4:4", `YAML syntax error:`},
	{"tab indentation", "version: 1\nmodels:\n\tbase: {path: models/sd15}\n",
		"3:2", `YAML syntax error: found character that cannot start any token`},
	{"second document", "version: 1\nmodels: {base: {path: models/sd15}}\n---\nversion: 1\n",
		"3:1", `a second YAML document`},
	{"not a mapping", "- version: 1\n",
		"1:1", `a recipe is a mapping of fields`},
	{"empty", "# nothing here\n",
		"1:1", `the recipe is empty`},
	{"threads negative", "version: 1\nmodels: {base: {path: models/sd15}}\nthreads: -2\n",
		"3:10", `threads: must be between 0 (automatic) and 4096, got -2`},
	{"eta negative", "version: 1\nmodels: {base: {path: models/sd15}}\neta: -0.5\n",
		"3:6", `eta: must be between 0 and 1, got -0.5`},
	{"eta above 1", "version: 1\nmodels: {base: {path: models/sd15}}\neta: 1e300\n",
		"3:6", `eta: must be between 0 and 1, got 1e+300`},
	{"not finite", "version: 1\nmodels: {base: {path: models/sd15}}\nguidance: .nan\n",
		"3:11", `guidance: expected a finite number, got .nan`},
	{"control scale negative", header + "stages:\n  - participants:\n      - model: base\n        controls: [{model: canny, image: control.png, scale: -1}]\n",
		"9:62", `scale: must be between 0 and 10, got -1`},
	{"prompt with an unbalanced bracket", "version: 1\nmodels: {base: {path: models/sd15}}\nprompt: a (cat:1.2) (asleep\n",
		"3:9", `prompt: character 13: unbalanced "(" opened here`},
	{"negative closing a bracket never opened", "version: 1\nmodels: {base: {path: models/sd15}}\nnegative: blur]\n",
		"3:11", `negative: character 5: unbalanced "]": no "[" is open`},
	{"participant prompt over two lines", header + "stages:\n  - participants:\n      - model: base\n        prompt: \"a cat\\n(asleep\"\n",
		"9:17", `stages.0.participants.0.prompt: line 2, character 1: unbalanced "("`},
}

// malformedSeeds are the malformed recipes' texts, for the fuzz corpus.
var malformedSeeds = func() []string {
	out := make([]string, len(malformed))
	for i, m := range malformed {
		out[i] = m.yaml
	}
	return out
}()

// TestMalformed checks that each malformed recipe is refused with an error
// at the exact line and column of the culprit.
func TestMalformed(t *testing.T) {
	dir := recipeDir(t)
	for _, tc := range malformed {
		t.Run(tc.name, func(t *testing.T) {
			r, err := LoadBytes("bad.yaml", []byte(tc.yaml), dir)
			if err == nil {
				t.Fatalf("Load accepted the recipe: %+v", r)
			}
			var e *Error
			if !errors.As(err, &e) {
				t.Fatalf("error %T is not a *recipes.Error: %v", err, err)
			}
			want := "bad.yaml:" + tc.at + ": "
			if !strings.HasPrefix(err.Error(), want) {
				t.Fatalf("error does not start with %q:\n%v", want, err)
			}
			first := strings.SplitN(err.Error(), "\n", 2)[0]
			if !strings.Contains(first, tc.msg) {
				t.Fatalf("error does not say %q:\n%v", tc.msg, err)
			}
		})
	}
}
