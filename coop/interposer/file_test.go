package interposer

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"gonum.org/v1/gonum/mat"

	"github.com/coop-diffusion/coop/coop/cooptest"
	"github.com/coop-diffusion/coop/latent"
)

// fittedForFile fits a small interposer with phases and a window, so that
// every field of the file format is exercised.
func fittedForFile(t *testing.T) *Interposer {
	t.Helper()
	opts := DefaultOptions()
	opts.Window = 3
	opts.Names = []string{"one.png", "two.png", "three.png"}
	ip, err := FitWith(context.Background(), cooptest.NewLinearVAE("fine", 4, 4, 0.5, 1), cooptest.NewLinearVAE("coarse", 3, 8, 0.2, 2),
		noiseImages(3, 32, 7), px(32), px(32), opts)
	if err != nil {
		t.Fatal(err)
	}
	return ip
}

func TestSaveLoadRoundTrip(t *testing.T) {
	ip := fittedForFile(t)
	path := filepath.Join(t.TempDir(), "fine-to-coarse.json")
	if err := ip.Save(path); err != nil {
		t.Fatal(err)
	}
	got, err := Load(path)
	if err != nil {
		t.Fatal(err)
	}
	if got.From() != ip.From() || got.To() != ip.To() || got.Layout() != ip.Layout() {
		t.Errorf("loaded %+v -> %+v %+v, want %+v -> %+v %+v", got.From(), got.To(), got.Layout(), ip.From(), ip.To(), ip.Layout())
	}
	if !reflect.DeepEqual(got.Calibration(), ip.Calibration()) {
		t.Errorf("loaded calibration %+v, want %+v", got.Calibration(), ip.Calibration())
	}
	// float64 values must come back bit for bit.
	if !mat.Equal(got.Matrix(), ip.Matrix()) {
		t.Errorf("loaded weights differ from the saved ones")
	}
	src := randomLatent(3, 1, 4, 8, 8)
	want, out := latent.New(1, 3, 4, 4), latent.New(1, 3, 4, 4)
	if err := ip.Apply(src, want); err != nil {
		t.Fatal(err)
	}
	if err := got.Apply(src, out); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(want.Data, out.Data) {
		t.Errorf("the loaded interposer computes other values")
	}
	// Saving over an existing file replaces it and leaves no temporary
	// file behind.
	if err := got.Save(path); err != nil {
		t.Fatal(err)
	}
	entries, err := os.ReadDir(filepath.Dir(path))
	if err != nil {
		t.Fatal(err)
	}
	if len(entries) != 1 {
		t.Errorf("folder holds %d entries after saving twice, want 1", len(entries))
	}
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	for _, field := range []string{`"format": "coop-interposer"`, `"version": 1`, `"source_filter": "bilinear"`, `"target_filter": "bicubic"`, `"window": 3`, `"in_phases": [2,2]`, `"target":"bridge-output"`} {
		if !strings.Contains(string(data), field) {
			t.Errorf("file lacks %s:\n%s", field, data)
		}
	}
}

func TestSaveErrors(t *testing.T) {
	ip := fittedForFile(t)
	path := filepath.Join(t.TempDir(), "missing", "x.json")
	if err := ip.Save(path); err == nil || !strings.Contains(err.Error(), path) {
		t.Errorf("saving into a missing folder: error %v, want one naming %s", err, path)
	}
}

// Every way a file can be wrong gives an error naming the file and the
// field at fault.
func TestLoadErrors(t *testing.T) {
	ip := fittedForFile(t)
	dir := t.TempDir()
	good := filepath.Join(dir, "good.json")
	if err := ip.Save(good); err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(good)
	if err != nil {
		t.Fatal(err)
	}
	text := string(data)
	negativeRidge := ip.Calibration()
	negativeRidge.Ridge = -1
	// firstWeightRow is the first row of weights as written.
	lines := strings.Split(text, "\n")
	var firstWeightRow string
	for i, l := range lines {
		if strings.Contains(l, `"weights"`) {
			firstWeightRow = strings.TrimSuffix(strings.TrimSpace(lines[i+1]), ",")
			break
		}
	}
	replace := func(old, new string) string {
		if !strings.Contains(text, old) {
			t.Fatalf("the saved file has no %q", old)
		}
		return strings.Replace(text, old, new, 1)
	}
	for _, tc := range []struct {
		name, content, want string
	}{
		{"not JSON", "{", "truncated"},
		{"other format", `{"format": "png", "version": 1}`, `field format: "png", not an interposer file`},
		{"no format", `{"version": 1}`, "field format: missing"},
		{"newer version", replace(`"version": 1`, `"version": 2`), "field version: 2; this coop reads version 1"},
		{"version type", replace(`"version": 1`, `"version": "1"`), "field version: line 3, column"},
		{"unknown field", replace(`"window": 3`, `"window": 3, "colour": 1`), `unknown field "colour"`},
		{"channels", replace(`"channels":4`, `"channels":0`), "field from.channels: 0"},
		{"latent size", replace(`"latent_height":4`, `"latent_height":-4`), "field to.latent_height: -4"},
		{"filter", replace(`"target_filter": "bicubic"`, `"target_filter": "nearest"`), `field target_filter: "nearest" is not bilinear, bicubic or lanczos3`},
		{"source filter", replace(`"source_filter": "bilinear"`, `"source_filter": ""`), `field source_filter: "" is not`},
		{"window", replace(`"window": 3`, `"window": 2`), "field window: 2"},
		{"phases", replace(`"out_phases": [1,1]`, `"out_phases": [2,1]`), "fields in_phases, out_phases: phases of the rows: in 2 and out 2"},
		{"rows", replace(firstWeightRow+",", ""), "field weights: 2 rows, want to.channels · out phases = 3"},
		{"row length", replace(firstWeightRow, "[1, 2]"), "field weights[0]: 2 values, want from.channels · window² · in phases + 1 = 145"},
		{"NaN", replace(firstWeightRow, "[NaN"+firstWeightRow[strings.Index(firstWeightRow, ","):]), "NaN and Infinity are not valid"},
		{"overflow", replace(firstWeightRow, "[1e999"+firstWeightRow[strings.Index(firstWeightRow, ","):]), "field weights: line"},
		{"names", replace(`"names":["one.png","two.png","three.png"]`, `"names":["one.png"]`), "field calibration.names: 1 names for 3 images"},
		{"ridge", replace(string(mustJSON(t, ip.Calibration())), string(mustJSON(t, negativeRidge))), "field calibration: ridge, residual_rms"},
		{"target", replace(`"target":"bridge-output"`, `"target":"photo"`), `unknown target "photo"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(dir, strings.ReplaceAll(tc.name, " ", "-")+".json")
			if err := os.WriteFile(path, []byte(tc.content), 0o644); err != nil {
				t.Fatal(err)
			}
			_, err := Load(path)
			if err == nil || !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), path) {
				t.Errorf("error %v, want one naming %s and containing %q", err, path, tc.want)
			}
		})
	}
	if _, err := Load(filepath.Join(dir, "absent.json")); err == nil || !strings.Contains(err.Error(), "absent.json") {
		t.Errorf("absent file: error %v, want one naming it", err)
	}
}

func mustJSON(t *testing.T, v any) []byte {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}
