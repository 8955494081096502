package main

import (
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/coop-diffusion/coop/coop/interposer"
	"github.com/coop-diffusion/coop/internal/fixtures"
)

// heldOutPSNR reads the PSNR against the pixel bridge from fit's output.
func heldOutPSNR(t *testing.T, stdout string) float64 {
	t.Helper()
	m := regexp.MustCompile(`against the pixel bridge: PSNR ([0-9.]+) dB`).FindStringSubmatch(stdout)
	if m == nil {
		t.Fatalf("no held-out PSNR in the output:\n%s", stdout)
	}
	v, err := strconv.ParseFloat(m[1], 64)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// Fit SD to stage A on the default photographs, then check the file.
func TestInterposerFitAndCheck(t *testing.T) {
	zoo := fixtures.Zoo(t)
	out := filepath.Join(t.TempDir(), "sd-to-cascade-a.json")
	res := coopCLI(t, "interposer", "fit", "--from", filepath.Join(zoo, "sd15"), "--to", filepath.Join(zoo, "cascade-decoder"), "--out", out)
	if res.code != 0 {
		t.Fatalf("exit %d: %s", res.code, res.stderr)
	}
	for _, want := range []string{
		"from:         sd, 4 channels at 64x64 (512x512 px, factor 8)",
		"to:           cascade-a, 4 channels at 128x128 (512x512 px, factor 4)",
		"output phases 2x2",
		"calibration:  6 images (astronaut, chelsea, coffee, rocket, hubble_deep_field, brick)",
		"fit residual: RMS",
		"held out:     2 images (grass, gravel)",
		"wrote " + out,
	} {
		if !strings.Contains(res.stdout, want) {
			t.Errorf("output lacks %q:\n%s", want, res.stdout)
		}
	}
	// SD's f8 and stage A's f4 fixture spaces are linear in whole patches:
	// the map is exact up to float32 rounding.
	if p := heldOutPSNR(t, res.stdout); p < 100 {
		t.Errorf("held-out PSNR %.1f dB, want above 100 dB", p)
	}
	ip, err := interposer.Load(out)
	if err != nil {
		t.Fatal(err)
	}
	if ip.From().Space != "sd" || ip.To().Space != "cascade-a" || ip.Calibration().Images != 6 {
		t.Errorf("file maps %s -> %s from %d images, want sd -> cascade-a from 6", ip.From().Space, ip.To().Space, ip.Calibration().Images)
	}

	res = coopCLI(t, "interposer", "check", out)
	if res.code != 0 {
		t.Fatalf("check: exit %d: %s", res.code, res.stderr)
	}
	if !strings.Contains(res.stdout, "to:           cascade-a, 4 channels at 128x128") || !strings.Contains(res.stdout, "ridge") {
		t.Errorf("check output:\n%s", res.stdout)
	}

	// Without --force an existing file stays.
	res = coopCLI(t, "interposer", "fit", "--from", filepath.Join(zoo, "sd15"), "--to", filepath.Join(zoo, "cascade-decoder"), "--out", out)
	if res.code != 2 || !strings.Contains(res.stderr, "refusing to overwrite") {
		t.Errorf("fit over an existing file: exit %d, %s", res.code, res.stderr)
	}
}

// Images from files, pixel sizes other than the native ones, and no
// held-out images.
func TestInterposerFitImagesAndSizes(t *testing.T) {
	zoo := fixtures.Zoo(t)
	images := filepath.Join(zoo, fixtures.ImagesFolder)
	out := filepath.Join(t.TempDir(), "x.json")
	res := coopCLI(t, "interposer", "fit", "--from", filepath.Join(zoo, "sdxl"), "--to", filepath.Join(zoo, "sd15"),
		"--images", filepath.Join(images, "coffee.png"), "--images", filepath.Join(images, "rocket.png"),
		"--from-size", "256x128", "--to-size", "256x128", "--holdout", "0", "--out", out)
	if res.code != 0 {
		t.Fatalf("exit %d: %s", res.code, res.stderr)
	}
	for _, want := range []string{"from:         sdxl, 4 channels at 32x16 (256x128 px", "calibration:  2 images (coffee.png, rocket.png)"} {
		if !strings.Contains(res.stdout, want) {
			t.Errorf("output lacks %q:\n%s", want, res.stdout)
		}
	}
	if strings.Contains(res.stdout, "held out:") {
		t.Errorf("--holdout 0 printed a held-out comparison:\n%s", res.stdout)
	}
}

func TestInterposerBadInput(t *testing.T) {
	zoo := fixtures.Zoo(t)
	dir := t.TempDir()
	sd, xl := filepath.Join(zoo, "sd15"), filepath.Join(zoo, "sdxl")
	out := filepath.Join(dir, "out.json")
	existing := filepath.Join(dir, "existing.json")
	corrupt := filepath.Join(dir, "corrupt.json")
	empty := filepath.Join(dir, "empty")
	for path, content := range map[string]string{existing: "{}", corrupt: `{"format": "coop-interposer", "version": 7}`} {
		if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Mkdir(empty, 0o755); err != nil {
		t.Fatal(err)
	}
	fit := func(args ...string) []string { return append([]string{"interposer", "fit"}, args...) }
	for _, tc := range []struct {
		name string
		args []string
		want string
	}{
		{"no from", fit("--to", xl, "--out", out), "--from MODEL_DIR is required"},
		{"no out", fit("--from", sd, "--to", xl), "--out FILE is required"},
		{"argument", fit("--from", sd, "--to", xl, "--out", out, "extra"), "takes no arguments"},
		{"missing folder", fit("--from", filepath.Join(dir, "nowhere"), "--to", xl, "--out", out), "nowhere"},
		{"no latent space", fit("--from", sd, "--to", filepath.Join(zoo, "controlnet-sd15"), "--out", out), "without a latent space"},
		{"size syntax", fit("--from", sd, "--to", xl, "--from-size", "wide", "--out", out), `--from-size "wide": want WIDTHxHEIGHT`},
		{"size multiple", fit("--from", sd, "--to", xl, "--to-size", "500x512", "--out", out), "not a multiple of 8"},
		{"holdout", fit("--from", sd, "--to", xl, "--holdout", "8", "--out", out), "--holdout 8 must leave at least one of the 8 images"},
		{"window", fit("--from", sd, "--to", xl, "--window", "2", "--out", out), "--window 2"},
		{"existing", fit("--from", sd, "--to", xl, "--out", existing), "refusing to overwrite"},
		{"out folder", fit("--from", sd, "--to", xl, "--out", filepath.Join(dir, "missing", "x.json")), "does not exist"},
		{"missing image", fit("--from", sd, "--to", xl, "--images", filepath.Join(dir, "no.png"), "--out", out), "no.png"},
		{"empty image folder", fit("--from", sd, "--to", xl, "--images", empty, "--out", out), "holds no PNG or JPEG file"},
		{"check without file", []string{"interposer", "check"}, "takes one interposer FILE"},
		{"check corrupt", []string{"interposer", "check", corrupt}, "corrupt.json: field version: 7"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			res := coopCLI(t, tc.args...)
			if res.code != 2 || !strings.Contains(res.stderr, tc.want) {
				t.Errorf("exit %d, stderr %q; want exit 2 and %q", res.code, res.stderr, tc.want)
			}
		})
	}
	if _, err := os.Stat(out); err == nil {
		t.Errorf("a failed fit wrote %s", out)
	}
}
