package adapters_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/coop-diffusion/coop/adapters"
	_ "github.com/coop-diffusion/coop/adapters/all"
	"github.com/coop-diffusion/coop/internal/fixtures"
	"github.com/coop-diffusion/coop/internal/onnx"
)

// Every folder of the zoo is detected as its family and checked, from
// signatures alone (no ONNX Runtime).
func TestCheckDetectsEveryFixture(t *testing.T) {
	zoo := fixtures.Zoo(t)
	for _, name := range fixtures.Names() {
		fx, _ := fixtures.Lookup(name)
		info, err := adapters.Check(filepath.Join(zoo, name), adapters.LoadOptions{})
		if err != nil {
			t.Errorf("%s: %v", name, err)
			continue
		}
		if string(info.Family) != fx.Family {
			t.Errorf("%s: family %s, want %s (%s)", name, info.Family, fx.Family, info.Detected)
		}
		if info.Name != name {
			t.Errorf("%s: name %q", name, info.Name)
		}
		if info.Channels != fx.Latent[0] {
			t.Errorf("%s: %d latent channels, want %d", name, info.Channels, fx.Latent[0])
		}
		if info.Family == adapters.ControlNet {
			continue
		}
		if info.Native.Height != fx.Size || info.Native.Width != fx.Size {
			t.Errorf("%s: native size %v, want %d px", name, info.Native, fx.Size)
		}
		if info.Space.Name != fx.Space {
			t.Errorf("%s: latent space %q, want %q", name, info.Space.Name, fx.Space)
		}
		if len(info.Components) == 0 {
			t.Errorf("%s: no components listed", name)
		}
	}
}

func checkError(t *testing.T, err error, wants ...string) {
	t.Helper()
	if err == nil {
		t.Fatalf("no error; want one mentioning %q", wants)
	}
	for _, w := range wants {
		if !strings.Contains(err.Error(), w) {
			t.Errorf("error %q does not mention %q", err, w)
		}
	}
}

// A recipe naming the wrong family for a folder fails in Check, naming the
// model, the input and what the role expected.
func TestCheckFamilyMismatch(t *testing.T) {
	zoo := fixtures.Zoo(t)
	cases := []struct {
		fixture string
		as      adapters.Family
		wants   []string
	}{
		{"sd15", adapters.SDXL, []string{`model "sd15" unet`, "encoder_hidden_states", "768", "SDXL base needs 2048"}},
		{"sdxl", adapters.SD1, []string{`model "sdxl" unet`, "encoder_hidden_states", "2048", "SD 1.x needs 768"}},
		{"sd21v", adapters.SD1, []string{`model "sd21v" unet`, "1024", "SD 1.x needs 768"}},
		{"sdxl-refiner", adapters.SDXL, []string{`model "sdxl-refiner"`, "1280", "SDXL base needs 2048"}},
		{"sd15", adapters.CascadePrior, []string{`model "sd15"`, "prior/model.onnx"}},
		{"cascade-prior", adapters.CascadeDecoder, []string{`model "cascade-prior"`, "decoder/model.onnx"}},
		{"controlnet-sd15", adapters.SD1, []string{`model "controlnet-sd15"`, "unet/model.onnx"}},
		{"sd15", adapters.ControlNet, []string{`model "sd15"`, "controlnet_cond"}},
		{"sd15", adapters.Generic, []string{`model "sd15"`, "coop-model.yaml"}},
		{"sd15", "sd9", []string{`model "sd15"`, `no adapter for family "sd9"`, "sdxl"}},
	}
	for _, c := range cases {
		t.Run(c.fixture+" as "+string(c.as), func(t *testing.T) {
			_, err := adapters.Check(filepath.Join(zoo, c.fixture), adapters.LoadOptions{FamilyOverride: c.as})
			checkError(t, err, c.wants...)
		})
	}
}

// copyFixture writes a fresh copy of a fixture folder to change.
func copyFixture(t *testing.T, name string) string {
	t.Helper()
	dir := t.TempDir()
	if err := fixtures.Write(dir, name); err != nil {
		t.Fatal(err)
	}
	return filepath.Join(dir, name)
}

// writeUnet replaces a folder's unet with a graph of the given sample
// channels and context width (its computation is irrelevant to Check).
func writeUnet(t *testing.T, dir string, channels, context int) {
	t.Helper()
	b := onnx.NewBuilder("unet")
	x := b.Input("sample", onnx.Float32, "batch", channels, 64, 64)
	b.Input("timestep", onnx.Int64, "batch")
	b.Input("encoder_hidden_states", onnx.Float32, "batch", "sequence_length", context)
	out := b.Op("Slice", []string{x, b.Int64s("starts", 0), b.Int64s("ends", 4), b.Int64s("axes", 1)}, nil)
	b.Output(out, "out_sample", onnx.Float32, "batch", 4, 64, 64)
	if err := b.WriteFile(filepath.Join(dir, "unet", "model.onnx")); err != nil {
		t.Fatal(err)
	}
}

// A unet whose latent channels differ from its VAE's (an inpainting unet
// of 9 channels) fails before anything runs.
func TestCheckLatentChannels(t *testing.T) {
	dir := copyFixture(t, "sd15")
	writeUnet(t, dir, 9, 768)
	_, err := adapters.Check(dir, adapters.LoadOptions{Name: "inpaint"})
	checkError(t, err, `model "inpaint" unet`, "sample", "[batch, 9, 64, 64]", "is 9, expected 4")
}

func TestCheckMissingPieces(t *testing.T) {
	dir := copyFixture(t, "sdxl")
	if err := os.RemoveAll(filepath.Join(dir, "text_encoder_2")); err != nil {
		t.Fatal(err)
	}
	_, err := adapters.Check(dir, adapters.LoadOptions{})
	checkError(t, err, `model "sdxl"`, "text_encoder_2/model.onnx")

	dir = copyFixture(t, "sd15")
	if err := os.Remove(filepath.Join(dir, "tokenizer", "merges.txt")); err != nil {
		t.Fatal(err)
	}
	_, err = adapters.Check(dir, adapters.LoadOptions{})
	checkError(t, err, `model "sd15" text_encoder`, "merges.txt")

	_, err = adapters.Check(filepath.Join(t.TempDir(), "nothing"), adapters.LoadOptions{})
	checkError(t, err, "nothing", "no such file")
}

// A folder whose family nothing tells is refused with the evidence.
func TestCheckUndetectable(t *testing.T) {
	dir := t.TempDir()
	b := onnx.NewBuilder("mystery")
	x := b.Input("x", onnx.Float32, "batch", 4, 8, 8)
	b.Output(x, "y", onnx.Float32, "batch", 4, 8, 8)
	if err := b.WriteFile(filepath.Join(dir, "model.onnx")); err != nil {
		t.Fatal(err)
	}
	_, err := adapters.Check(dir, adapters.LoadOptions{Name: "mystery"})
	checkError(t, err, `model "mystery"`, "cannot tell its family", "name the family in the recipe")
}

func TestRegistry(t *testing.T) {
	fams := adapters.Families()
	for _, want := range []adapters.Family{adapters.SD1, adapters.SD2, adapters.SDXL, adapters.SDXLRefiner,
		adapters.CascadePrior, adapters.CascadeDecoder, adapters.CascadeVQGAN, adapters.ControlNet, adapters.Generic} {
		found := false
		for _, f := range fams {
			found = found || f == want
		}
		if !found {
			t.Errorf("family %s is not registered (registered: %v)", want, fams)
		}
	}
	defer func() {
		if recover() == nil {
			t.Error("registering sd1 twice did not panic")
		}
	}()
	adapters.Register(adapters.SD1, nil)
}

// Without model_index.json the family comes from the graphs: text_embeds
// and time_ids of width 6 or 5, the cross-attention width, Cascade's
// timestep_ratio.
func TestDetectWithoutModelIndex(t *testing.T) {
	for _, name := range []string{"sd15", "sd21v", "sdxl", "sdxl-refiner", "cascade-prior", "cascade-decoder"} {
		dir := copyFixture(t, name)
		if err := os.Remove(filepath.Join(dir, "model_index.json")); err != nil {
			t.Fatal(err)
		}
		fx, _ := fixtures.Lookup(name)
		info, err := adapters.Check(dir, adapters.LoadOptions{})
		if err != nil {
			t.Errorf("%s: %v", name, err)
			continue
		}
		if string(info.Family) != fx.Family {
			t.Errorf("%s: family %s, want %s (%s)", name, info.Family, fx.Family, info.Detected)
		}
	}
}
