package generic_test

import (
	"context"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/coop-diffusion/coop/adapters"
	"github.com/coop-diffusion/coop/adapters/adapterstest"
	"github.com/coop-diffusion/coop/adapters/generic"
	"github.com/coop-diffusion/coop/coop/sampler"
	"github.com/coop-diffusion/coop/internal/fixtures"
	"github.com/coop-diffusion/coop/internal/onnx"
	"github.com/coop-diffusion/coop/internal/ort/orttest"
	"github.com/coop-diffusion/coop/latent"
)

func writeFile(t *testing.T, path, content string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

// An SD 1.5 folder described by a manifest generates as the sd1 adapter
// does.
func TestManifestOverSD15(t *testing.T) {
	orttest.Init(t)
	dir := t.TempDir()
	if err := fixtures.Write(dir, "sd15"); err != nil {
		t.Fatal(err)
	}
	folder := filepath.Join(dir, "sd15")
	writeFile(t, filepath.Join(folder, "coop-model.yaml"), `# the sd15 fixture, described by hand
like: sd1
denoiser:
  model: unet/model.onnx
  inputs:
    sample: sample
    timestep: timestep
    context: encoder_hidden_states
  output: out_sample
`)
	ctx := context.Background()
	m, err := adapters.Load(ctx, folder, adapters.LoadOptions{Name: "custom", Session: adapterstest.TestSession})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	if m.Family != adapters.Generic || !strings.Contains(m.Detected, "coop-model.yaml") {
		t.Errorf("family %s (%s), want generic from the manifest", m.Family, m.Detected)
	}
	if m.Text == nil || m.VAE == nil || m.Native.Height != 512 {
		t.Fatalf("text encoder %v, autoencoder %v, native %v", m.Text, m.VAE, m.Native)
	}
	const k = 3
	pix, err := adapterstest.Generate(ctx, m, adapterstest.Options{Prompt: adapters.Prompt{Positive: adapterstest.Prompt(k)}, Seed: 1, Steps: 20, Guidance: 7.5})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("generic sd1: %.2f dB", adapterstest.CheckLanding(t, "sd15", k, pix))

	// The recipe may still name the family the folder really is.
	info, err := adapters.Check(folder, adapters.LoadOptions{FamilyOverride: adapters.SD1})
	if err != nil || info.Family != adapters.SD1 {
		t.Errorf("override to sd1: %v, %v", info, err)
	}
}

// writeTimeProbe writes a folder whose denoiser outputs its time input in
// every element, described by a manifest with the given time convention.
func writeTimeProbe(t *testing.T, timeKind string) string {
	t.Helper()
	dir := t.TempDir()
	b := onnx.NewBuilder("probe")
	x := b.Input("x", onnx.Float32, "n", 4, 8, 8)
	tt := b.Input("noise_level", onnx.Float32, "n")
	y := b.Op("Add", []string{
		b.Op("Mul", []string{x, b.Scalar("zero", 0)}, nil),
		b.Op("Reshape", []string{tt, b.Int64s("shape", -1, 1, 1, 1)}, nil)}, nil)
	b.Output(y, "eps", onnx.Float32, "n", 4, 8, 8)
	if err := b.WriteFile(filepath.Join(dir, "probe.onnx")); err != nil {
		t.Fatal(err)
	}
	writeFile(t, filepath.Join(dir, "coop-model.json"), `{
  "like": "sd1",
  "denoiser": {"model": "probe.onnx", "inputs": {"sample": "x", "timestep": "noise_level"}, "output": "eps", "time": "`+timeKind+`"},
  "native": [64, 64]
}`)
	return dir
}

// Each time convention feeds the graph its own view of the noise level.
func TestTimeConventions(t *testing.T) {
	orttest.Init(t)
	ctx := context.Background()
	const abar = 0.2
	disc, err := sampler.NewDiscrete(sampler.ScaledLinear, 1000, 0.00085, 0.012, false)
	if err != nil {
		t.Fatal(err)
	}
	for kind, want := range map[string]float64{
		generic.TimeAbar:     abar,
		generic.TimeSigma:    2, // sqrt(0.8 / 0.2)
		generic.TimeLogSNR:   math.Log(0.25),
		generic.TimeTimestep: disc.AbarToTimestep(abar),
		generic.TimeRatio:    sampler.CascadeCosine().AbarToRatio(abar),
	} {
		m, err := adapters.Load(ctx, writeTimeProbe(t, kind), adapters.LoadOptions{Session: adapterstest.TestSession})
		if err != nil {
			t.Fatal(kind, err)
		}
		if m.Text != nil || m.VAE != nil || m.Native.Height != 64 {
			t.Errorf("%s: text %v, autoencoder %v, native %v", kind, m.Text, m.VAE, m.Native)
		}
		eps := latent.New(1, 4, 8, 8)
		if err := m.Denoiser.Predict(ctx, &adapters.Request{Latent: latent.New(1, 4, 8, 8), Abar: abar}, eps); err != nil {
			t.Fatal(kind, err)
		}
		if got := float64(eps.Data[17]); math.Abs(got-want) > 1e-5*math.Max(1, math.Abs(want)) {
			t.Errorf("time %s: the graph saw %v, want %v", kind, got, want)
		}
		m.Close()
	}
}

func TestManifestErrors(t *testing.T) {
	cases := []struct {
		manifest string
		wants    []string
	}{
		{"like: sd1\ndenoiser: {model: m.onnx}\nsampler: ddim\n", []string{"field sampler not found"}},
		{"denoiser: {model: m.onnx}\n", []string{`field "like" is missing`, "sd1"}},
		{"like: sd7\ndenoiser: {model: m.onnx}\n", []string{`unknown family "sd7"`}},
		{"like: sd1\n", []string{`"denoiser.model" is missing`}},
		{"like: sd1\ndenoiser: {model: m.onnx, time: seconds}\n", []string{`"denoiser.time"`, "seconds"}},
		{"like: sd1\ndenoiser: {model: m.onnx, prediction: noise}\n", []string{`"denoiser.prediction"`}},
		{"like: sd1\ndenoiser: {model: m.onnx}\nnative: [512]\n", []string{`"native"`}},
		{"like: sd1\ndenoiser: {model: m.onnx}\nspace: {pixel_range: '[0, 255]'}\n", []string{`"space.pixel_range"`}},
		{"", []string{"empty manifest"}},
	}
	for _, c := range cases {
		path := filepath.Join(t.TempDir(), "coop-model.yaml")
		writeFile(t, path, c.manifest)
		_, err := generic.ReadManifest(path)
		if err == nil {
			t.Errorf("%q: no error", c.manifest)
			continue
		}
		for _, w := range append(c.wants, path) {
			if !strings.Contains(err.Error(), w) {
				t.Errorf("%q: error %q does not mention %q", c.manifest, err, w)
			}
		}
	}
}

// A manifest that leaves a graph input without a role fails in Check.
func TestUnfedInput(t *testing.T) {
	dir := writeTimeProbe(t, generic.TimeAbar)
	writeFile(t, filepath.Join(dir, "coop-model.yaml"), "like: sd1\ndenoiser: {model: probe.onnx, inputs: {sample: x}, output: eps}\n")
	_, err := adapters.Check(dir, adapters.LoadOptions{Name: "probe"})
	if err == nil || !strings.Contains(err.Error(), "noise_level") {
		t.Errorf("error %v, want one naming input noise_level", err)
	}
}
