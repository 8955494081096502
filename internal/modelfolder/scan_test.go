package modelfolder

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/coop-diffusion/coop/internal/onnx"
)

// io describes a graph input or output: name, type and dims as for
// onnx.Builder.Input.
type io struct {
	name string
	typ  onnx.ElemType
	dims []any
}

func in(name string, typ onnx.ElemType, dims ...any) io { return io{name, typ, dims} }

// writeModel writes a model with the given signature. The graph only has
// to be well formed: every output is a constant.
func writeModel(t *testing.T, path string, inputs, outputs []io) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	b := onnx.NewBuilder(filepath.Base(filepath.Dir(path)))
	for _, i := range inputs {
		b.Input(i.name, i.typ, i.dims...)
	}
	for k, o := range outputs {
		c := b.Constant("c"+string(rune('0'+k)), []int64{1}, []float32{0})
		b.Output(c, o.name, o.typ, o.dims...)
	}
	if err := b.WriteFile(path); err != nil {
		t.Fatal(err)
	}
}

func writeFile(t *testing.T, path, content string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

var (
	outSample = []io{in("out_sample", onnx.Float32, "batch", 4, "height", "width")}
	sample    = in("sample", onnx.Float32, "batch", 4, "height", "width")
	timestep  = in("timestep", onnx.Int64, "batch")
)

func sdUnet(width any) []io {
	return []io{sample, timestep, in("encoder_hidden_states", onnx.Float32, "batch", 77, width)}
}

func sdxlUnet(timeIDs int) []io {
	return []io{sample, timestep, in("encoder_hidden_states", onnx.Float32, "batch", 77, 2048),
		in("text_embeds", onnx.Float32, "batch", 1280), in("time_ids", onnx.Float32, "batch", timeIDs)}
}

var (
	cascadePrior = []io{in("sample", onnx.Float32, "batch", 16, "h", "w"), in("timestep_ratio", onnx.Float32, "batch"),
		in("clip_text_pooled", onnx.Float32, "batch", 1, 1280), in("clip_text", onnx.Float32, "batch", 77, 1280),
		in("clip_img", onnx.Float32, "batch", 1, 768)}
	cascadeDecoder = []io{in("sample", onnx.Float32, "batch", 4, "h", "w"), in("timestep_ratio", onnx.Float32, "batch"),
		in("clip_text_pooled", onnx.Float32, "batch", 1, 1280), in("effnet", onnx.Float32, "batch", 16, "eh", "ew")}
	controlnet = append(sdUnet(768), in("controlnet_cond", onnx.Float32, "batch", 3, "H", "W"))
)

// writeSD1 writes an optimum-style SD 1.5 export: unet with external data
// and config, VAE, text encoder, tokenizer and scheduler.
func writeSD1(t *testing.T, dir string) {
	writeFile(t, filepath.Join(dir, "model_index.json"), `{
		"_class_name": "ORTStableDiffusionPipeline",
		"_diffusers_version": "0.21.0",
		"requires_safety_checker": true,
		"safety_checker": [null, null],
		"feature_extractor": [null, null],
		"scheduler": ["diffusers", "PNDMScheduler"],
		"text_encoder": ["optimum", "ORTModelTextEncoder"],
		"tokenizer": ["transformers", "CLIPTokenizer"],
		"unet": ["optimum", "ORTModelUnet"],
		"vae_decoder": ["optimum", "ORTModelVaeDecoder"],
		"vae_encoder": ["optimum", "ORTModelVaeEncoder"]
	}`)
	b := onnx.NewBuilder("unet")
	for _, i := range sdUnet(768) {
		b.Input(i.name, i.typ, i.dims...)
	}
	w := b.Constant("conv.weight", []int64{4, 4, 1, 1}, make([]float32, 16))
	b.Output(b.Op("Conv", []string{"sample", w}, nil), "out_sample", onnx.Float32, "batch", 4, "height", "width")
	if err := os.MkdirAll(filepath.Join(dir, "unet"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := b.WriteFileExternal(filepath.Join(dir, "unet", "model.onnx"), 32); err != nil {
		t.Fatal(err)
	}
	writeFile(t, filepath.Join(dir, "unet", "config.json"), `{"_class_name": "UNet2DConditionModel", "cross_attention_dim": 768, "sample_size": 64}`)
	writeModel(t, filepath.Join(dir, "vae_decoder", "model.onnx"),
		[]io{in("latent_sample", onnx.Float32, "batch", 4, "height", "width")},
		[]io{in("sample", onnx.Float32, "batch", 3, "H", "W")})
	writeFile(t, filepath.Join(dir, "vae_decoder", "config.json"), `{"scaling_factor": 0.18215}`)
	writeModel(t, filepath.Join(dir, "vae_encoder", "model.onnx"),
		[]io{in("sample", onnx.Float32, "batch", 3, "H", "W")},
		[]io{in("latent_sample", onnx.Float32, "batch", 4, "height", "width")})
	writeModel(t, filepath.Join(dir, "text_encoder", "model.onnx"),
		[]io{in("input_ids", onnx.Int32, "batch", 77)},
		[]io{in("last_hidden_state", onnx.Float32, "batch", 77, 768), in("pooler_output", onnx.Float32, "batch", 768)})
	writeFile(t, filepath.Join(dir, "tokenizer", "vocab.json"), `{}`)
	writeFile(t, filepath.Join(dir, "scheduler", "scheduler_config.json"), `{"prediction_type": "epsilon", "beta_schedule": "scaled_linear"}`)
}

func TestScanFolder(t *testing.T) {
	dir := t.TempDir()
	writeSD1(t, dir)
	f, err := Scan(dir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, c := range f.Components {
		names = append(names, c.Name)
	}
	want := []string{"scheduler", "text_encoder", "tokenizer", "unet", "vae_decoder", "vae_encoder"}
	if !reflect.DeepEqual(names, want) {
		t.Errorf("components %v, want %v", names, want)
	}
	if f.ClassName != "ORTStableDiffusionPipeline" || f.SingleFile || f.PredictionType() != "epsilon" {
		t.Errorf("folder: class %q single %v prediction %q", f.ClassName, f.SingleFile, f.PredictionType())
	}
	if len(f.Models()) != 4 {
		t.Errorf("%d models, want 4", len(f.Models()))
	}

	unet := f.Component("unet")
	if unet.Library != "optimum" || unet.Class != "ORTModelUnet" {
		t.Errorf("unet entry %q %q", unet.Library, unet.Class)
	}
	if got := unet.Signature.Input("encoder_hidden_states").ShapeString(); got != "[batch, 77, 768]" {
		t.Errorf("encoder_hidden_states %s", got)
	}
	if unet.Config["cross_attention_dim"] != 768.0 {
		t.Errorf("unet config %v", unet.Config)
	}
	st, _ := os.Stat(filepath.Join(dir, "unet", "model.onnx"))
	if unet.Size != st.Size() {
		t.Errorf("unet size %d, file is %d", unet.Size, st.Size())
	}
	if len(unet.DataFiles) != 1 {
		t.Fatalf("unet data files %+v", unet.DataFiles)
	}
	d := unet.DataFiles[0]
	if d.Name != "model.onnx_data" || !d.Exists || !d.Referenced || d.Size != 64 {
		t.Errorf("unet data file %+v, want referenced model.onnx_data of 64 bytes", d)
	}
	if unet.TotalSize() != unet.Size+64 {
		t.Errorf("TotalSize %d", unet.TotalSize())
	}
	if c := f.Component("vae_decoder"); c.DataFiles != nil || c.Config["scaling_factor"] != 0.18215 {
		t.Errorf("vae_decoder data %v config %v", c.DataFiles, c.Config)
	}
	if tok := f.Component("tokenizer"); tok.HasModel() || tok.Class != "CLIPTokenizer" {
		t.Errorf("tokenizer %+v", tok)
	}
	if f.Component("safety_checker") != nil {
		t.Error("[null, null] entry listed as a component")
	}
	fam, why := DetectFamily(f)
	if fam != SD1 || why != "model_index.json _class_name ORTStableDiffusionPipeline and unet encoder_hidden_states width is 768 (SD 1.x)" {
		t.Errorf("family %q (%s)", fam, why)
	}
}

func TestScanSingleFile(t *testing.T) {
	dir := t.TempDir()
	writeSD1(t, dir)
	f, err := Scan(filepath.Join(dir, "unet", "model.onnx"))
	if err != nil {
		t.Fatal(err)
	}
	if !f.SingleFile || len(f.Components) != 1 || f.Components[0].Name != "unet" {
		t.Fatalf("single file scan: %+v", f)
	}
	if c := f.Components[0]; c.Config == nil || len(c.DataFiles) != 1 {
		t.Errorf("config %v, data files %v", c.Config, c.DataFiles)
	}
	if fam, why := DetectFamily(f); fam != SD1 || why != "unet encoder_hidden_states width is 768 (SD 1.x)" {
		t.Errorf("family %q (%s)", fam, why)
	}
	// A component folder given directly.
	f, err = Scan(filepath.Join(dir, "vae_decoder"))
	if err != nil || len(f.Components) != 1 || f.Components[0].Name != "vae_decoder" {
		t.Fatalf("component folder: %v %+v", err, f)
	}
	// A loose .onnx file with another name.
	loose := filepath.Join(dir, "loose", "my_controlnet.onnx")
	writeModel(t, loose, controlnet, outSample)
	f, err = Scan(loose)
	if err != nil || f.Components[0].Name != "my_controlnet" || f.Components[0].Config != nil {
		t.Fatalf("loose file: %v %+v", err, f)
	}
	if fam, why := DetectFamily(f); fam != ControlNet || why != "my_controlnet has input controlnet_cond" {
		t.Errorf("family %q (%s)", fam, why)
	}
	// The same file found in a folder scan.
	f, err = Scan(filepath.Dir(loose))
	if err != nil || len(f.Components) != 1 || f.Components[0].Name != "my_controlnet" {
		t.Fatalf("folder of loose files: %v %+v", err, f)
	}
}

func TestDetectFamily(t *testing.T) {
	tests := []struct {
		name    string
		index   string            // model_index.json, "" for none
		models  map[string][]io   // component -> inputs
		files   map[string]string // extra files
		family  string
		reasons []string // substrings of the reason
	}{
		{"sd2 by class", `{"_class_name": "OnnxStableDiffusionPipeline"}`,
			map[string][]io{"unet": sdUnet(1024)},
			map[string]string{"scheduler/scheduler_config.json": `{"prediction_type": "v_prediction"}`},
			SD2, []string{"OnnxStableDiffusionPipeline", "width is 1024 (SD 2.x)", "v_prediction"}},
		{"sd1 by symbolic width and config", `{"_class_name": "StableDiffusionPipeline"}`,
			map[string][]io{"unet": sdUnet("ctx")},
			map[string]string{"unet/config.json": `{"cross_attention_dim": 768}`},
			SD1, []string{"unet/config.json cross_attention_dim is 768"}},
		{"sd unknown width", `{"_class_name": "StableDiffusionPipeline"}`,
			map[string][]io{"unet": sdUnet("ctx")}, nil,
			"", []string{"cross-attention width is unknown"}},
		{"sd odd width", "", map[string][]io{"unet": sdUnet(512)}, nil,
			"", []string{"unet encoder_hidden_states width is 512, neither 768"}},
		{"sd controlnet pipeline", `{"_class_name": "StableDiffusionControlNetPipeline"}`,
			map[string][]io{"unet": sdUnet(768), "controlnet": controlnet}, nil,
			SD1, []string{"StableDiffusionControlNetPipeline", "with a controlnet"}},
		{"sdxl by class", `{"_class_name": "ORTStableDiffusionXLPipeline"}`,
			map[string][]io{"unet": sdxlUnet(6)}, nil,
			SDXL, []string{"time_ids width is 6"}},
		{"sdxl refiner by class and time_ids", `{"_class_name": "StableDiffusionXLImg2ImgPipeline"}`,
			map[string][]io{"unet": sdxlUnet(5)}, nil,
			SDXLRefiner, []string{"StableDiffusionXLImg2ImgPipeline and unet time_ids width is 5"}},
		{"sdxl img2img with base unet", `{"_class_name": "StableDiffusionXLImg2ImgPipeline"}`,
			map[string][]io{"unet": sdxlUnet(6)}, nil,
			SDXL, nil},
		{"sdxl by signature", "", map[string][]io{"unet": sdxlUnet(6)}, nil,
			SDXL, []string{"unet has inputs text_embeds and time_ids, time_ids width 6"}},
		{"sdxl refiner by signature", "", map[string][]io{"unet": sdxlUnet(5)}, nil,
			SDXLRefiner, []string{"time_ids width 5"}},
		{"cascade prior by class", `{"_class_name": "StableCascadePriorPipeline"}`,
			map[string][]io{"prior": cascadePrior}, nil,
			CascadePrior, []string{"StableCascadePriorPipeline"}},
		{"cascade decoder by class", `{"_class_name": "StableCascadeDecoderPipeline"}`,
			map[string][]io{"decoder": cascadeDecoder, "vqgan": {in("latent", onnx.Float32, "b", 4, "h", "w")}}, nil,
			CascadeDecoder, []string{"StableCascadeDecoderPipeline"}},
		{"cascade prior by signature", "", map[string][]io{"prior": cascadePrior}, nil,
			CascadePrior, []string{"prior has inputs timestep_ratio and clip_text"}},
		{"cascade decoder by signature", "", map[string][]io{"decoder": cascadeDecoder}, nil,
			CascadeDecoder, []string{"timestep_ratio and effnet"}},
		{"cascade vqgan alone", "", map[string][]io{"vqgan": {in("latent", onnx.Float32, "b", 4, "h", "w")}}, nil,
			CascadeVQGAN, []string{"component vqgan"}},
		{"vqgan by config", "", map[string][]io{"stage_a": {in("latent", onnx.Float32, "b", 4, "h", "w")}},
			map[string]string{"stage_a/config.json": `{"_class_name": "PaellaVQModel"}`},
			CascadeVQGAN, []string{"stage_a/config.json _class_name PaellaVQModel"}},
		{"controlnet alone", "", map[string][]io{"controlnet": controlnet}, nil,
			ControlNet, []string{"controlnet has input controlnet_cond"}},
		{"unet decides over controlnet", "", map[string][]io{"unet": sdUnet(1024), "controlnet": controlnet}, nil,
			SD2, []string{"unet encoder_hidden_states width is 1024"}},
		{"unknown class falls back to signatures", `{"_class_name": "MyPipeline"}`,
			map[string][]io{"unet": sdUnet(768)}, nil,
			SD1, []string{"unet encoder_hidden_states width is 768"}},
		{"nothing to go on", `{"_class_name": "MyPipeline"}`,
			map[string][]io{"vae_decoder": {in("latent_sample", onnx.Float32, "b", 4, "h", "w")}}, nil,
			"", []string{"MyPipeline is not a pipeline coop knows"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			if tt.index != "" {
				writeFile(t, filepath.Join(dir, "model_index.json"), tt.index)
			}
			for name, inputs := range tt.models {
				writeModel(t, filepath.Join(dir, name, "model.onnx"), inputs, outSample)
			}
			for name, content := range tt.files {
				writeFile(t, filepath.Join(dir, name), content)
			}
			f, err := Scan(dir)
			if err != nil {
				t.Fatal(err)
			}
			fam, why := DetectFamily(f)
			if fam != tt.family {
				t.Errorf("family %q (%s), want %q", fam, why, tt.family)
			}
			if why == "" {
				t.Error("empty reason")
			}
			for _, r := range tt.reasons {
				if !strings.Contains(why, r) {
					t.Errorf("reason %q does not contain %q", why, r)
				}
			}
		})
	}
}

func TestScanErrors(t *testing.T) {
	dir := t.TempDir()
	missing := filepath.Join(dir, "nope")
	if _, err := Scan(missing); !errors.Is(err, fs.ErrNotExist) || !strings.HasPrefix(err.Error(), missing+": no such file or folder") {
		t.Errorf("missing path: %v", err)
	}

	empty := filepath.Join(dir, "empty")
	writeFile(t, filepath.Join(empty, "tokenizer", "vocab.json"), "{}")
	writeFile(t, filepath.Join(empty, "README.md"), "not a model")
	_, err := Scan(empty)
	if !errors.Is(err, ErrNoModel) || !strings.HasPrefix(err.Error(), empty+": no ONNX model found: looked for model.onnx") {
		t.Errorf("folder without models: %v", err)
	}

	corrupt := filepath.Join(dir, "corrupt")
	writeSD1(t, corrupt)
	vae := filepath.Join(corrupt, "vae_decoder", "model.onnx")
	data, _ := os.ReadFile(vae)
	if err := os.WriteFile(vae, data[:len(data)/2], 0o644); err != nil {
		t.Fatal(err)
	}
	_, err = Scan(corrupt)
	if !errors.Is(err, onnx.ErrTruncated) || !strings.HasPrefix(err.Error(), vae+": truncated at byte") {
		t.Errorf("truncated component: %v", err)
	}

	badJSON := filepath.Join(dir, "badjson")
	writeSD1(t, badJSON)
	cfg := filepath.Join(badJSON, "unet", "config.json")
	writeFile(t, cfg, "{not json")
	if _, err := Scan(badJSON); !errors.Is(err, ErrBadJSON) || !strings.HasPrefix(err.Error(), cfg+": not a JSON object") {
		t.Errorf("bad config.json: %v", err)
	}

	notModel := filepath.Join(dir, "photo.png")
	writeFile(t, notModel, "\x89PNG\r\n\x1a\n")
	if _, err := Scan(notModel); !errors.Is(err, onnx.ErrCorrupt) || !strings.HasPrefix(err.Error(), notModel+": corrupt at byte 0") {
		t.Errorf("not a model: %v", err)
	}
}
