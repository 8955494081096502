package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"strings"
	"testing"

	"github.com/coop-diffusion/coop/internal/onnx"
)

// writeInspectFixture writes an SDXL-refiner-like folder: a float16 unet
// with its weights in model.onnx_data, a text encoder, a tokenizer and a
// scheduler.
func writeInspectFixture(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	write := func(name, content string) {
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("model_index.json", `{"_class_name": "StableDiffusionXLImg2ImgPipeline",
		"unet": ["diffusers", "UNet2DConditionModel"], "tokenizer_2": ["transformers", "CLIPTokenizer"],
		"text_encoder": [null, null], "requires_aesthetics_score": true}`)
	write("scheduler/scheduler_config.json", `{"prediction_type": "epsilon"}`)
	write("tokenizer_2/vocab.json", `{}`)
	write("unet/config.json", `{"cross_attention_dim": 1280}`)

	b := onnx.NewBuilder("unet")
	b.SetProducer("pytorch", "2.1.0")
	x := b.Input("sample", onnx.Float16, "batch", 4, "height", "width")
	b.Input("timestep", onnx.Float16)
	b.Input("encoder_hidden_states", onnx.Float16, "batch", 77, 1280)
	b.Input("text_embeds", onnx.Float16, "batch", 1280)
	b.Input("time_ids", onnx.Float16, "batch", 5)
	w := b.ConstantFloat16("weight", []int64{4, 4, 1, 1}, make([]float32, 16))
	b.Output(b.Op("Conv", []string{x, w}, nil), "out_sample", onnx.Float16, "batch", 4, "height", "width")
	if err := os.MkdirAll(filepath.Join(dir, "unet"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := b.WriteFileExternal(filepath.Join(dir, "unet", "model.onnx"), 16); err != nil {
		t.Fatal(err)
	}

	te := onnx.NewBuilder("text_encoder_2")
	ids := te.Input("input_ids", onnx.Int64, "batch", 77)
	te.Output(te.Op("Cast", []string{ids}, onnx.Attrs{"to": int(onnx.Float32)}), "text_embeds", onnx.Float32, "batch", 1280)
	if err := os.MkdirAll(filepath.Join(dir, "text_encoder_2"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := te.WriteFile(filepath.Join(dir, "text_encoder_2", "model.onnx")); err != nil {
		t.Fatal(err)
	}
	return dir
}

// runCoop runs the CLI as main does and returns its output and error.
func runCoop(t *testing.T, args ...string) (string, error) {
	t.Helper()
	var out, errOut bytes.Buffer
	root := rootCommand()
	root.Writer = &out
	root.ErrWriter = &errOut
	err := root.Run(context.Background(), append([]string{"coop"}, args...))
	return out.String(), err
}

func TestInspectText(t *testing.T) {
	dir := writeInspectFixture(t)
	out, err := runCoop(t, "inspect", dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, pattern := range []string{
		`(?m)^path: +` + regexp.QuoteMeta(dir) + `$`,
		`(?m)^pipeline: StableDiffusionXLImg2ImgPipeline$`,
		`(?m)^family: +sdxl-refiner \(model_index.json _class_name StableDiffusionXLImg2ImgPipeline and unet time_ids width is 5 \(aesthetic score instead of target size\)\)$`,
		`(?m)^scheduler prediction_type: epsilon$`,
		`(?m)^unet  \(UNet2DConditionModel\)$`,
		`(?m)^  external: .*unet/model.onnx_data  32 bytes$`,
		`(?m)^  onnx: +IR 8, opset ai.onnx 17, producer pytorch 2.1.0, initializers 1$`,
		`(?m)^    sample +float16 +\[batch, 4, height, width\]$`,
		`(?m)^    timestep +float16 +\[\]$`,
		`(?m)^    encoder_hidden_states +float16 +\[batch, 77, 1280\]$`,
		`(?m)^    time_ids +float16 +\[batch, 5\]$`,
		`(?m)^    out_sample +float16 +\[batch, 4, height, width\]$`,
		`(?m)^    input_ids +int64 +\[batch, 77\]$`,
		`(?m)^tokenizer_2  \(CLIPTokenizer\)\n  no model$`,
	} {
		if !regexp.MustCompile(pattern).MatchString(out) {
			t.Errorf("output does not match %s:\n%s", pattern, out)
		}
	}
	// Columns line up across inputs and outputs: names padded to the
	// longest name plus two.
	if !strings.Contains(out, "    sample                 float16  [batch, 4, height, width]\n") ||
		!strings.Contains(out, "    out_sample             float16  [batch, 4, height, width]\n") {
		t.Errorf("inputs not aligned in columns:\n%s", out)
	}
	if strings.Contains(out, "text_encoder\n") {
		t.Errorf("[null, null] entry shown as a component:\n%s", out)
	}
}

func TestInspectJSON(t *testing.T) {
	dir := writeInspectFixture(t)
	// The flag may follow the path.
	out, err := runCoop(t, "inspect", dir, "--json")
	if err != nil {
		t.Fatal(err)
	}
	var r struct {
		Path           string `json:"path"`
		SingleFile     bool   `json:"single_file"`
		ClassName      string `json:"class_name"`
		Family         string `json:"family"`
		FamilyReason   string `json:"family_reason"`
		PredictionType string `json:"prediction_type"`
		Components     []struct {
			Name      string `json:"name"`
			Dir       string `json:"dir"`
			Library   string `json:"library"`
			Class     string `json:"class"`
			Model     string `json:"model"`
			Size      int64  `json:"size"`
			TotalSize int64  `json:"total_size"`
			IRVersion int64  `json:"ir_version"`
			Opsets    []struct {
				Domain  string `json:"domain"`
				Version int64  `json:"version"`
			} `json:"opsets"`
			Producer        string `json:"producer"`
			ProducerVersion string `json:"producer_version"`
			GraphName       string `json:"graph_name"`
			Initializers    int    `json:"initializers"`
			Inputs          []struct {
				Name  string `json:"name"`
				DType string `json:"dtype"`
				Shape []any  `json:"shape"`
			} `json:"inputs"`
			Outputs      []json.RawMessage `json:"outputs"`
			ExternalData []struct {
				Name       string `json:"name"`
				Path       string `json:"path"`
				Size       int64  `json:"size"`
				Exists     bool   `json:"exists"`
				Referenced bool   `json:"referenced"`
			} `json:"external_data"`
			Config map[string]any `json:"config"`
		} `json:"components"`
	}
	// Every field the output has is one the description documents (the
	// struct above mirrors that list).
	dec := json.NewDecoder(strings.NewReader(out))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&r); err != nil {
		t.Fatalf("%v in\n%s", err, out)
	}
	if r.Path != dir || r.SingleFile || r.ClassName != "StableDiffusionXLImg2ImgPipeline" || r.Family != "sdxl-refiner" ||
		!strings.Contains(r.FamilyReason, "time_ids width is 5") || r.PredictionType != "epsilon" {
		t.Errorf("header: %+v", r)
	}
	var names []string
	for _, c := range r.Components {
		names = append(names, c.Name)
	}
	if want := []string{"text_encoder_2", "tokenizer_2", "unet"}; !reflect.DeepEqual(names, want) {
		t.Fatalf("components %v, want %v", names, want)
	}
	unet := r.Components[2]
	if unet.Model != filepath.Join(dir, "unet", "model.onnx") || unet.TotalSize != unet.Size+32 || unet.IRVersion != 8 ||
		len(unet.Opsets) != 1 || unet.Opsets[0].Version != 17 || unet.Producer != "pytorch" || unet.Initializers != 1 {
		t.Errorf("unet: %+v", unet)
	}
	var inputs []string
	for _, in := range unet.Inputs {
		shape, _ := json.Marshal(in.Shape)
		inputs = append(inputs, in.Name+" "+in.DType+" "+string(shape))
	}
	want := []string{
		`sample float16 ["batch",4,"height","width"]`,
		`timestep float16 []`,
		`encoder_hidden_states float16 ["batch",77,1280]`,
		`text_embeds float16 ["batch",1280]`,
		`time_ids float16 ["batch",5]`,
	}
	if !reflect.DeepEqual(inputs, want) {
		t.Errorf("unet inputs\n got %q\nwant %q", inputs, want)
	}
	if len(unet.ExternalData) != 1 || unet.ExternalData[0].Name != "model.onnx_data" || unet.ExternalData[0].Size != 32 ||
		!unet.ExternalData[0].Exists || !unet.ExternalData[0].Referenced {
		t.Errorf("unet external data %+v", unet.ExternalData)
	}
	if unet.Config["cross_attention_dim"] != 1280.0 {
		t.Errorf("unet config %v", unet.Config)
	}
	if tok := r.Components[1]; tok.Model != "" || tok.Class != "CLIPTokenizer" || len(tok.Inputs) != 0 {
		t.Errorf("tokenizer_2 %+v", tok)
	}

	// A single file, --json first.
	out, err = runCoop(t, "inspect", "--json", filepath.Join(dir, "text_encoder_2", "model.onnx"))
	if err != nil {
		t.Fatal(err)
	}
	var single map[string]any
	if err := json.Unmarshal([]byte(out), &single); err != nil {
		t.Fatal(err)
	}
	if single["single_file"] != true || single["family"] != "" || single["family_reason"] == "" {
		t.Errorf("single file report %v", single)
	}
}

func TestInspectErrors(t *testing.T) {
	dir := writeInspectFixture(t)
	unet := filepath.Join(dir, "unet", "model.onnx")
	data, err := os.ReadFile(unet)
	if err != nil {
		t.Fatal(err)
	}
	truncated := filepath.Join(t.TempDir(), "truncated.onnx")
	os.WriteFile(truncated, data[:len(data)-20], 0o644)
	corrupt := filepath.Join(t.TempDir(), "corrupt.onnx")
	bad := append([]byte(nil), data...)
	bad[0] = 0xff // a varint that never ends at the first field
	for i := 1; i < 11; i++ {
		bad[i] = 0xff
	}
	os.WriteFile(corrupt, bad, 0o644)
	empty := t.TempDir()
	os.WriteFile(filepath.Join(empty, "notes.txt"), []byte("no models here"), 0o644)
	missing := filepath.Join(empty, "does-not-exist")

	tests := []struct {
		name string
		args []string
		want string
	}{
		{"missing path", []string{"inspect", missing}, missing + ": no such file or folder"},
		{"truncated model", []string{"inspect", truncated}, truncated + ": truncated at byte"},
		{"corrupt model", []string{"inspect", corrupt}, corrupt + ": corrupt at byte 0 while reading model: bad varint"},
		{"folder without models", []string{"inspect", empty}, empty + ": no ONNX model found: looked for model.onnx"},
		{"no path", []string{"inspect"}, "inspect takes one PATH"},
		{"two paths", []string{"inspect", dir, dir}, "inspect takes one PATH"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out, err := runCoop(t, tt.args...)
			if err == nil {
				t.Fatalf("succeeded with output\n%s", out)
			}
			if !strings.HasPrefix(err.Error(), tt.want) {
				t.Errorf("error %q, want prefix %q", err, tt.want)
			}
			var ee *exitError
			if !errors.As(err, &ee) || ee.code != 2 {
				t.Errorf("error %v does not exit with status 2", err)
			}
		})
	}
}
