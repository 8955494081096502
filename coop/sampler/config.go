package sampler

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"

	"github.com/coop-diffusion/coop/latent"
)

// Config configures a sampler. DefaultConfig returns Stable Diffusion's
// values; ReadSchedulerConfig fills one from a model folder's
// scheduler/scheduler_config.json. Field comments name the diffusers key.
type Config struct {
	// Steps is the number of inference steps of the full schedule, before
	// any split (num_inference_steps).
	Steps int

	// TrainSteps is the number of training timesteps T (num_train_timesteps).
	TrainSteps int
	// BetaSchedule, BetaStart and BetaEnd define the discrete schedule
	// (beta_schedule, beta_start, beta_end); BetaStart and BetaEnd are not
	// used by squaredcos_cap_v2.
	BetaSchedule BetaSchedule
	BetaStart    float64
	BetaEnd      float64
	// RescaleZeroSNR rescales the schedule to zero terminal SNR
	// (rescale_betas_zero_snr); the last abar is floored at 2^-24 so that
	// epsilon still determines x0 there.
	RescaleZeroSNR bool

	// Prediction is what the model outputs (prediction_type). Samplers step
	// with epsilon; the engine converts with ToEpsilon before Step.
	Prediction Prediction

	// Spacing and StepsOffset pick the inference timesteps
	// (timestep_spacing, steps_offset). LCM and DDPMWuerstchen have their own
	// timestep rules and ignore both.
	Spacing     Spacing
	StepsOffset int
	// Karras replaces the sigmas by the Karras et al. ramp
	// (use_karras_sigmas); euler, euler_a and dpmpp_2m only.
	Karras bool

	// SetAlphaToOne makes the last DDIM/LCM step land on abar = 1 (clean
	// data); when false it lands on abar_0 of the table (set_alpha_to_one).
	SetAlphaToOne bool
	// ClipSample clamps the predicted x0 to [-ClipSampleRange,
	// ClipSampleRange] in DDIM, DDPM and LCM (clip_sample,
	// clip_sample_range).
	ClipSample      bool
	ClipSampleRange float64
	// Eta scales DDIM's fresh noise: 0 is deterministic DDIM, 1 matches
	// DDPM's posterior variance.
	Eta float64

	// OriginalSteps is LCM's distillation schedule length
	// (original_inference_steps); Steps may not exceed it.
	OriginalSteps int
	// TimestepScaling multiplies t in LCM's boundary-condition scalings
	// (timestep_scaling).
	TimestepScaling float64

	// Cosine is the schedule of ddpm_wuerstchen (s and scaler in
	// DDPMWuerstchenScheduler's config).
	Cosine Cosine

	// Noise supplies the fresh Gaussian noise of stochastic samplers
	// (ddpm, euler_a, lcm, ddpm_wuerstchen, ddim with Eta > 0). Give each
	// trajectory its own stream so a recipe and a seed always reproduce.
	Noise NoiseSource

	// Scratch, when set, supplies the sampler's scratch tensors (zeroed,
	// of the given shape) in place of new ones, so that a caller running
	// trajectory after trajectory can recycle them.
	Scratch func(shape ...int) *latent.Tensor

	// Class is the diffusers scheduler class the values were read from,
	// when they were read from a file; New ignores it.
	Class string
}

// DefaultConfig returns the scheduler configuration shared by SD 1.x, SD 2.x
// and SDXL with 50 steps: scaled_linear betas 0.00085..0.012 over 1000
// steps, epsilon prediction, leading spacing with steps_offset 1, the final
// DDIM step landing on clean data, LCM's 50 original steps, and Stable
// Cascade's cosine for ddpm_wuerstchen.
func DefaultConfig() Config {
	return Config{
		Steps:           50,
		TrainSteps:      1000,
		BetaSchedule:    ScaledLinear,
		BetaStart:       0.00085,
		BetaEnd:         0.012,
		Prediction:      Epsilon,
		Spacing:         Leading,
		StepsOffset:     1,
		SetAlphaToOne:   true,
		ClipSampleRange: 1,
		OriginalSteps:   50,
		TimestepScaling: 10,
		Cosine:          CascadeCosine(),
	}
}

// validateCommon checks the fields every sampler uses.
func (c *Config) validateCommon() error {
	if c.Steps <= 0 {
		return fmt.Errorf("%d steps: need at least 1", c.Steps)
	}
	if !c.Prediction.valid() {
		return fmt.Errorf("unknown prediction_type %q (known: epsilon, v_prediction, sample)", c.Prediction)
	}
	if c.ClipSample && !(c.ClipSampleRange > 0) {
		return fmt.Errorf("clip_sample_range %g must be positive", c.ClipSampleRange)
	}
	return nil
}

// discrete builds the discrete schedule a config describes.
func (c *Config) discrete() (*Discrete, error) {
	k := discreteKey{c.BetaSchedule, c.TrainSteps, c.BetaStart, c.BetaEnd, c.RescaleZeroSNR}
	discreteMemo.mu.Lock()
	d := discreteMemo.m[k]
	discreteMemo.mu.Unlock()
	if d != nil {
		return d, nil
	}
	d, err := newDiscrete(k.schedule, k.trainSteps, k.betaStart, k.betaEnd, k.rescaleZeroSNR)
	if err != nil {
		return nil, err
	}
	discreteMemo.mu.Lock()
	defer discreteMemo.mu.Unlock()
	if discreteMemo.m == nil || len(discreteMemo.m) >= maxMemoSchedules {
		discreteMemo.m = map[discreteKey]*Discrete{}
	}
	discreteMemo.m[k] = d
	return d, nil
}

// discreteKey is what a Discrete schedule is built from.
type discreteKey struct {
	schedule           BetaSchedule
	trainSteps         int
	betaStart, betaEnd float64
	rescaleZeroSNR     bool
}

// discreteMemo keeps the schedules samplers were built on: a Discrete is
// immutable, and building one (a thousand logarithms and two tables)
// cost about 30 us, which every sampler of every stage paid again on
// every run of a batch, a tenth of the engine's own time on a fixture
// demo.
var discreteMemo struct {
	mu sync.Mutex
	m  map[discreteKey]*Discrete
}

// maxMemoSchedules bounds discreteMemo: a process meets a handful of
// scheduler configurations; past the bound the memo starts afresh.
const maxMemoSchedules = 32

// schedulerJSON holds the scheduler_config.json keys coop reads; pointers
// tell a missing key from a zero value.
type schedulerJSON struct {
	ClassName         *string          `json:"_class_name"`
	TrainSteps        *int             `json:"num_train_timesteps"`
	BetaStart         *float64         `json:"beta_start"`
	BetaEnd           *float64         `json:"beta_end"`
	BetaSchedule      *string          `json:"beta_schedule"`
	TrainedBetas      *json.RawMessage `json:"trained_betas"`
	Prediction        *string          `json:"prediction_type"`
	Spacing           *string          `json:"timestep_spacing"`
	StepsOffset       *int             `json:"steps_offset"`
	ClipSample        *bool            `json:"clip_sample"`
	ClipSampleRange   *float64         `json:"clip_sample_range"`
	SetAlphaToOne     *bool            `json:"set_alpha_to_one"`
	Karras            *bool            `json:"use_karras_sigmas"`
	RescaleZeroSNR    *bool            `json:"rescale_betas_zero_snr"`
	Thresholding      *bool            `json:"thresholding"`
	OriginalSteps     *int             `json:"original_inference_steps"`
	TimestepScaling   *float64         `json:"timestep_scaling"`
	VarianceType      *string          `json:"variance_type"`
	AlgorithmType     *string          `json:"algorithm_type"`
	SolverOrder       *int             `json:"solver_order"`
	SolverType        *string          `json:"solver_type"`
	FinalSigmasType   *string          `json:"final_sigmas_type"`
	InterpolationType *string          `json:"interpolation_type"`
	TimestepType      *string          `json:"timestep_type"`
	UseExpSigmas      *bool            `json:"use_exponential_sigmas"`
	UseBetaSigmas     *bool            `json:"use_beta_sigmas"`
	S                 *float64         `json:"s"`
	Scaler            *float64         `json:"scaler"`
}

// classDefaults are the diffusers defaults that differ between scheduler
// classes, applied when a key is missing from the file.
type classDefaults struct {
	spacing       Spacing
	stepsOffset   int
	clipSample    bool
	setAlphaToOne bool
}

func defaultsFor(class string) classDefaults {
	switch class {
	case "DDIMScheduler", "LCMScheduler":
		d := classDefaults{spacing: Leading, clipSample: true, setAlphaToOne: true}
		if class == "LCMScheduler" {
			d.clipSample = false
		}
		return d
	case "DDPMScheduler":
		return classDefaults{spacing: Leading, clipSample: true, setAlphaToOne: true}
	case "PNDMScheduler":
		return classDefaults{spacing: Leading, setAlphaToOne: false}
	default: // Euler, Euler ancestral, DPM-Solver and classes coop does not know
		return classDefaults{spacing: Linspace, setAlphaToOne: true}
	}
}

// ReadSchedulerConfig reads a diffusers scheduler_config.json, given as the
// file or as a model folder holding scheduler/scheduler_config.json. Keys
// the file leaves out take diffusers' defaults for the class it names (for
// example timestep_spacing is "leading" for DDIMScheduler and "linspace"
// for EulerDiscreteScheduler). Options coop cannot honour for the named class
// (trained_betas, thresholding, DPM-Solver other than 2nd-order midpoint
// dpmsolver++, ...) are errors rather than silently different numbers.
// Config.Steps is left at DefaultConfig's 50.
func ReadSchedulerConfig(path string) (Config, error) {
	if fi, err := os.Stat(path); err == nil && fi.IsDir() {
		path = filepath.Join(path, "scheduler", "scheduler_config.json")
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return Config{}, err
	}
	cfg, err := ParseSchedulerConfig(data)
	if err != nil {
		return Config{}, fmt.Errorf("%s: %w", path, err)
	}
	return cfg, nil
}

// ParseSchedulerConfig is ReadSchedulerConfig on the file's contents; its
// errors do not name a file.
func ParseSchedulerConfig(data []byte) (Config, error) {
	var j schedulerJSON
	dec := json.NewDecoder(bytes.NewReader(data))
	if err := dec.Decode(&j); err != nil {
		var syn *json.SyntaxError
		var typ *json.UnmarshalTypeError
		switch {
		case errors.As(err, &syn):
			return Config{}, fmt.Errorf("malformed JSON at byte %d: %v", syn.Offset, err)
		case errors.As(err, &typ) && typ.Field == "":
			return Config{}, fmt.Errorf("expected a JSON object, found %s", typ.Value)
		case errors.As(err, &typ):
			return Config{}, fmt.Errorf("field %q: %v", typ.Field, err)
		}
		return Config{}, fmt.Errorf("malformed JSON: %v", err)
	}
	cfg := DefaultConfig()
	// diffusers' SchedulerMixin defaults, before class-specific ones.
	cfg.TrainSteps, cfg.BetaSchedule, cfg.BetaStart, cfg.BetaEnd = 1000, Linear, 0.0001, 0.02
	if j.ClassName != nil {
		cfg.Class = *j.ClassName
	}
	def := defaultsFor(cfg.Class)
	cfg.Spacing, cfg.StepsOffset, cfg.ClipSample, cfg.SetAlphaToOne = def.spacing, def.stepsOffset, def.clipSample, def.setAlphaToOne

	setInt(&cfg.TrainSteps, j.TrainSteps)
	setFloat(&cfg.BetaStart, j.BetaStart)
	setFloat(&cfg.BetaEnd, j.BetaEnd)
	if j.BetaSchedule != nil {
		cfg.BetaSchedule = BetaSchedule(*j.BetaSchedule)
	}
	if j.Prediction != nil {
		cfg.Prediction = Prediction(*j.Prediction)
	}
	if j.Spacing != nil {
		cfg.Spacing = Spacing(*j.Spacing)
	}
	setInt(&cfg.StepsOffset, j.StepsOffset)
	setBool(&cfg.ClipSample, j.ClipSample)
	setFloat(&cfg.ClipSampleRange, j.ClipSampleRange)
	setBool(&cfg.SetAlphaToOne, j.SetAlphaToOne)
	setBool(&cfg.Karras, j.Karras)
	setBool(&cfg.RescaleZeroSNR, j.RescaleZeroSNR)
	setInt(&cfg.OriginalSteps, j.OriginalSteps)
	setFloat(&cfg.TimestepScaling, j.TimestepScaling)
	setFloat(&cfg.Cosine.S, j.S)
	setFloat(&cfg.Cosine.Scaler, j.Scaler)

	// Values every sampler would misread.
	if j.TrainedBetas != nil && !bytes.Equal(bytes.TrimSpace(*j.TrainedBetas), []byte("null")) {
		return Config{}, errors.New("field \"trained_betas\": explicit beta tables are not supported; use beta_schedule")
	}
	if j.Thresholding != nil && *j.Thresholding {
		return Config{}, errors.New("field \"thresholding\": dynamic thresholding is not supported")
	}
	if cfg.TrainSteps < 2 {
		return Config{}, fmt.Errorf("field \"num_train_timesteps\": %d: need at least 2", cfg.TrainSteps)
	}
	if cfg.Class != "DDPMWuerstchenScheduler" {
		if _, err := cfg.discrete(); err != nil {
			return Config{}, fmt.Errorf("field \"beta_schedule\": %w", err)
		}
	} else if err := cfg.Cosine.validate(); err != nil {
		return Config{}, fmt.Errorf("fields \"s\", \"scaler\": %w", err)
	}
	if !cfg.Prediction.valid() {
		return Config{}, fmt.Errorf("field \"prediction_type\": unknown value %q (known: epsilon, v_prediction, sample)", cfg.Prediction)
	}
	if !cfg.Spacing.valid() {
		return Config{}, fmt.Errorf("field \"timestep_spacing\": unknown value %q (known: leading, trailing, linspace)", cfg.Spacing)
	}
	if cfg.StepsOffset < 0 {
		return Config{}, fmt.Errorf("field \"steps_offset\": %d is negative", cfg.StepsOffset)
	}

	// Options of the named class that change its numbers.
	unsupported := func(key, got, want string) error {
		return fmt.Errorf("field %q: %s %q is not supported (coop implements %s)", key, cfg.Class, got, want)
	}
	switch cfg.Class {
	case "DDPMScheduler":
		if v := j.VarianceType; v != nil && *v != "fixed_small" {
			return Config{}, unsupported("variance_type", *v, "fixed_small")
		}
	case "DPMSolverMultistepScheduler":
		if v := j.AlgorithmType; v != nil && *v != "dpmsolver++" {
			return Config{}, unsupported("algorithm_type", *v, "dpmsolver++")
		}
		if v := j.SolverOrder; v != nil && *v != 2 {
			return Config{}, unsupported("solver_order", fmt.Sprint(*v), "2")
		}
		if v := j.SolverType; v != nil && *v != "midpoint" {
			return Config{}, unsupported("solver_type", *v, "midpoint")
		}
		if v := j.FinalSigmasType; v != nil && *v != "zero" {
			return Config{}, unsupported("final_sigmas_type", *v, "zero")
		}
	case "EulerDiscreteScheduler":
		if v := j.InterpolationType; v != nil && *v != "linear" {
			return Config{}, unsupported("interpolation_type", *v, "linear")
		}
		if v := j.TimestepType; v != nil && *v != "discrete" {
			return Config{}, unsupported("timestep_type", *v, "discrete")
		}
	}
	for _, o := range []struct {
		key string
		on  *bool
	}{{"use_exponential_sigmas", j.UseExpSigmas}, {"use_beta_sigmas", j.UseBetaSigmas}} {
		if o.on != nil && *o.on {
			return Config{}, fmt.Errorf("field %q: not supported (Karras sigmas are)", o.key)
		}
	}
	return cfg, nil
}

func setInt(dst *int, v *int) {
	if v != nil {
		*dst = *v
	}
}

func setFloat(dst *float64, v *float64) {
	if v != nil {
		*dst = *v
	}
}

func setBool(dst *bool, v *bool) {
	if v != nil {
		*dst = *v
	}
}

// lowerName normalises a sampler name for lookup.
func lowerName(s string) string { return strings.ToLower(strings.TrimSpace(s)) }

// classFallback is the sampler coop runs for a diffusers scheduler class it
// does not implement, by the family of method: deterministic multistep
// solvers get DPM-Solver++ 2M, k-diffusion ODE solvers on the sigma axis
// (Heun, LMS, DPM2) get euler, their ancestral and SDE variants euler_a.
// Any other class gets ddim, as PNDMScheduler does.
var classFallback = map[string]string{
	"unipcmultistepscheduler":         "dpmpp_2m",
	"deismultistepscheduler":          "dpmpp_2m",
	"dpmsolversinglestepscheduler":    "dpmpp_2m",
	"heundiscretescheduler":           "euler",
	"lmsdiscretescheduler":            "euler",
	"kdpm2discretescheduler":          "euler",
	"kdpm2ancestraldiscretescheduler": "euler_a",
	"dpmsolversdescheduler":           "euler_a",
}

// karrasSampler is the sampler name that runs a sampler on Karras sigmas;
// a recipe gets Karras sigmas only by naming it.
var karrasSampler = map[string]string{"dpmpp_2m": "dpmpp_2m_karras"}

// ClassChoice is the sampler coop runs for a model whose recipe names none,
// from its scheduler_config.json's _class_name and use_karras_sigmas.
type ClassChoice struct {
	// Sampler is a canonical sampler name.
	Sampler string
	// Note is empty when Sampler is what the class asks for; else it says
	// how Sampler differs (a class coop does not implement, Karras sigmas
	// it cannot apply), for a warning.
	Note string
}

// ForClass returns the sampler for a scheduler class ("" for a model
// without scheduler_config.json: ddim) and its use_karras_sigmas. A class
// coop implements gets its sampler (PNDMScheduler gets ddim, silently: the
// original SD 1.x release offered both); DPMSolverMultistepScheduler with
// Karras sigmas gets dpmpp_2m_karras. A class coop does not implement gets
// the closest sampler coop has (classFallback), with a Note; so does
// use_karras_sigmas where coop has no Karras variant of the sampler (Karras
// sigmas are part of a sampler's name, so that a recipe records them).
func ForClass(class string, karras bool) ClassChoice {
	if class == "" {
		return ClassChoice{Sampler: "ddim"}
	}
	var c ClassChoice
	if name, err := Canonical(class); err == nil {
		c.Sampler = name
	} else if name, ok := classFallback[lowerName(class)]; ok {
		c.Sampler = name
		c.Note = fmt.Sprintf("coop has no sampler for %s and runs %s, the closest it has", class, name)
	} else {
		c.Sampler = "ddim"
		c.Note = fmt.Sprintf("coop has no sampler for %s and runs ddim", class)
	}
	if karras && c.Sampler != "dpmpp_2m_karras" {
		if k, ok := karrasSampler[c.Sampler]; ok {
			c.Sampler = k
		} else {
			note := fmt.Sprintf("use_karras_sigmas is not applied: coop has Karras sigmas only as dpmpp_2m_karras, and runs %s on its own sigmas", c.Sampler)
			if c.Note != "" {
				note = c.Note + "; " + note
			}
			c.Note = note
		}
	}
	return c
}

// SamplerForClass returns the canonical coop sampler name for a diffusers
// scheduler class name, with Karras sigmas folded in for
// DPMSolverMultistepScheduler (dpmpp_2m_karras); see New for the aliases.
// Unlike ForClass it refuses a class coop does not implement.
func SamplerForClass(class string, karras bool) (string, error) {
	if _, err := Canonical(class); err != nil {
		return "", err
	}
	return ForClass(class, karras).Sampler, nil
}
