package generic

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	yaml "go.yaml.in/yaml/v3"

	"github.com/coop-diffusion/coop/adapters"
)

// Manifest is the parsed manifest file; see the package documentation.
type Manifest struct {
	Like      adapters.Family `yaml:"like"`
	Denoiser  Denoiser        `yaml:"denoiser"`
	Space     *Space          `yaml:"space"`
	VAE       *VAE            `yaml:"vae"`
	Scheduler string          `yaml:"scheduler"`
	Native    []int           `yaml:"native"`

	// Path is the manifest file, Dir its folder.
	Path, Dir string `yaml:"-"`
}

// Denoiser names the denoiser graph and its inputs.
type Denoiser struct {
	Model      string `yaml:"model"`
	Inputs     Inputs `yaml:"inputs"`
	Output     string `yaml:"output"`
	Prediction string `yaml:"prediction"`
	Time       string `yaml:"time"`
}

// Inputs maps roles to graph input names.
type Inputs struct {
	Sample   string `yaml:"sample"`
	Timestep string `yaml:"timestep"`
	Context  string `yaml:"context"`
	Pooled   string `yaml:"pooled"`
	TimeIDs  string `yaml:"time_ids"`
	ClipImg  string `yaml:"clip_img"`
	Effnet   string `yaml:"effnet"`
}

// Space changes fields of the like family's latent space.
type Space struct {
	Channels      *int     `yaml:"channels"`
	Factor        *float64 `yaml:"factor"`
	ScalingFactor *float64 `yaml:"scaling_factor"`
	ShiftFactor   *float64 `yaml:"shift_factor"`
	PixelRange    string   `yaml:"pixel_range"`
}

// VAE names the autoencoder graphs.
type VAE struct {
	Encoder string `yaml:"encoder"`
	Decoder string `yaml:"decoder"`
}

// Time conventions of Denoiser.Time.
const (
	TimeTimestep = "timestep"
	TimeRatio    = "ratio"
	TimeAbar     = "abar"
	TimeSigma    = "sigma"
	TimeLogSNR   = "log_snr"
)

var likes = []adapters.Family{adapters.SD1, adapters.SD2, adapters.SDXL, adapters.SDXLRefiner, adapters.CascadePrior, adapters.CascadeDecoder}

// ReadManifest reads and checks a manifest file. Unknown fields, an
// unknown like family, prediction type or time convention are errors
// naming the file and the field.
func ReadManifest(path string) (*Manifest, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	var m Manifest
	if err := dec.Decode(&m); err != nil {
		if errors.Is(err, io.EOF) {
			return nil, fmt.Errorf("%s: empty manifest", path)
		}
		return nil, fmt.Errorf("%s: %v", path, err)
	}
	m.Path, m.Dir = path, filepath.Dir(path)
	if err := m.validate(); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return &m, nil
}

func (m *Manifest) validate() error {
	known := false
	for _, f := range likes {
		known = known || f == m.Like
	}
	switch {
	case m.Like == "":
		return fmt.Errorf("field \"like\" is missing: name the family the model behaves like (%s)", familyList())
	case !known:
		return fmt.Errorf("field \"like\": unknown family %q (known: %s)", m.Like, familyList())
	case m.Denoiser.Model == "":
		return fmt.Errorf("field \"denoiser.model\" is missing: the path of the denoiser's ONNX file")
	}
	switch m.Denoiser.Prediction {
	case "", "epsilon", "v_prediction", "sample":
	default:
		return fmt.Errorf("field \"denoiser.prediction\": unknown value %q (known: epsilon, v_prediction, sample)", m.Denoiser.Prediction)
	}
	switch m.Denoiser.Time {
	case "", TimeTimestep, TimeRatio, TimeAbar, TimeSigma, TimeLogSNR:
	default:
		return fmt.Errorf("field \"denoiser.time\": unknown value %q (known: timestep, ratio, abar, sigma, log_snr)", m.Denoiser.Time)
	}
	if m.Native != nil && (len(m.Native) != 2 || m.Native[0] <= 0 || m.Native[1] <= 0) {
		return fmt.Errorf("field \"native\": %v: want [height, width] in pixels", m.Native)
	}
	if s := m.Space; s != nil {
		switch strings.ReplaceAll(s.PixelRange, " ", "") {
		case "", "[-1,1]", "[0,1]":
		default:
			return fmt.Errorf("field \"space.pixel_range\": unknown value %q (known: \"[-1, 1]\", \"[0, 1]\")", s.PixelRange)
		}
	}
	return nil
}

func familyList() string {
	s := make([]string, len(likes))
	for i, f := range likes {
		s[i] = string(f)
	}
	return strings.Join(s, ", ")
}

// path resolves a manifest path against its folder.
func (m *Manifest) path(p string) string {
	if p == "" || filepath.IsAbs(p) {
		return p
	}
	return filepath.Join(m.Dir, p)
}
