package job_test

import (
	"context"
	"errors"
	"math"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/coop-diffusion/coop/adapters"
	"github.com/coop-diffusion/coop/coop"
	"github.com/coop-diffusion/coop/internal/faults"
	"github.com/coop-diffusion/coop/internal/fixtures"
	"github.com/coop-diffusion/coop/internal/job"
	"github.com/coop-diffusion/coop/latent"
	"github.com/coop-diffusion/coop/recipes"
)

// faultyDenoiser writes value into the middle of its prediction at its
// at-th call (from 1): a model that overflows or divides by zero on one
// step only.
type faultyDenoiser struct {
	adapters.Denoiser
	at    int
	value float32
	calls int
}

func (d *faultyDenoiser) Predict(ctx context.Context, req *adapters.Request, eps *latent.Tensor) error {
	if err := d.Denoiser.Predict(ctx, req, eps); err != nil {
		return err
	}
	d.calls++
	if d.calls == d.at {
		eps.Data[len(eps.Data)/2] = d.value
	}
	return nil
}

// faultyVAE writes value into the middle of the output of its at-th
// encode (or decode, when decode is set).
type faultyVAE struct {
	adapters.Autoencoder
	decode bool
	at     int
	value  float32
	calls  int
}

func (v *faultyVAE) spoil(dst *latent.Tensor) {
	v.calls++
	if v.calls == v.at {
		dst.Data[len(dst.Data)/2] = v.value
	}
}

func (v *faultyVAE) Encode(ctx context.Context, pixels, dst *latent.Tensor) error {
	if err := v.Autoencoder.Encode(ctx, pixels, dst); err != nil {
		return err
	}
	if !v.decode {
		v.spoil(dst)
	}
	return nil
}

func (v *faultyVAE) Decode(ctx context.Context, lat, dst *latent.Tensor) error {
	if err := v.Autoencoder.Decode(ctx, lat, dst); err != nil {
		return err
	}
	if v.decode {
		v.spoil(dst)
	}
	return nil
}

const twoSpaces = `
version: 1
models:
  sd: {path: sd15}
  xl: {path: sdxl}
prompt: a photo of a coffee
seed: 5
steps: 6
stages:
  - name: blend
    participants:
      - {model: sd, weight: 0.5}
      - {model: xl, weight: 0.5}
`

func TestNonFiniteGuard(t *testing.T) {
	nan, inf := float32(math.NaN()), float32(math.Inf(1))
	tests := []struct {
		name, recipe string
		// spoil replaces a part of a loaded model and returns the
		// function that puts it back.
		spoil func(ms map[string]*coop.Model) func()
		want  coop.NonFiniteError
	}{
		{"NaN prediction at step 3", `
version: 1
models:
  sd: {path: sd15}
prompt: a photo of a cat
seed: 1
steps: 6
stages: [{name: only, model: sd}]
`, func(ms map[string]*coop.Model) func() {
			m := ms["sd"]
			orig := m.Denoiser
			m.Denoiser = &faultyDenoiser{Denoiser: orig, at: 3, value: nan}
			return func() { m.Denoiser = orig }
		}, coop.NonFiniteError{Stage: "only", Step: 3, Model: "sd", What: "the noise prediction"}},
		{"Inf from the foreign participant at step 2", twoSpaces, func(ms map[string]*coop.Model) func() {
			m := ms["xl"]
			orig := m.Denoiser
			m.Denoiser = &faultyDenoiser{Denoiser: orig, at: 2, value: inf}
			return func() { m.Denoiser = orig }
		}, coop.NonFiniteError{Stage: "blend", Step: 2, Model: "xl", What: "the noise prediction"}},
		// A bridge's encoder and decoder are named with the bridge, not
		// blamed on the primary's fused prediction. The foreign
		// participant's prediction reaches sd's space through xl's decoder
		// and sd's encoder once per step; the fourth encode is step 4's.
		{"NaN from a bridge's encoder at step 4", twoSpaces, func(ms map[string]*coop.Model) func() {
			m := ms["sd"]
			orig := m.VAE
			m.VAE = &faultyVAE{Autoencoder: orig, at: 4, value: nan}
			return func() { m.VAE = orig }
		}, coop.NonFiniteError{Stage: "blend", Step: 4, Model: "sd", What: "the encoded latent", Bridge: "xl@512x512 -> sd@512x512"}},
		{"Inf from a bridge's decoder at step 2", twoSpaces, func(ms map[string]*coop.Model) func() {
			m := ms["xl"]
			orig := m.VAE
			m.VAE = &faultyVAE{Autoencoder: orig, decode: true, at: 2, value: inf}
			return func() { m.VAE = orig }
		}, coop.NonFiniteError{Stage: "blend", Step: 2, Model: "xl", What: "the decoded image", Bridge: "xl@512x512 -> sd@512x512"}},
		{"Inf in the decoded image", `
version: 1
models:
  sd: {path: sd15}
prompt: a photo of a cat
seed: 1
steps: 4
stages: [{name: only, model: sd}]
`, func(ms map[string]*coop.Model) func() {
			m := ms["sd"]
			orig := m.VAE
			m.VAE = &faultyVAE{Autoencoder: orig, decode: true, at: 1, value: -inf}
			return func() { m.VAE = orig }
		}, coop.NonFiniteError{Stage: "only", Step: 4, Model: "sd", What: "the decoded image"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := prepare(t, tt.recipe)
			restore := tt.spoil(p.models.ByName)
			res, err := p.job.Run(context.Background(), p.models, job.RunOptions{Seed: p.job.Plan.Seed})
			restore()
			var nf *coop.NonFiniteError
			if !errors.As(err, &nf) {
				t.Fatalf("err = %v, want a NonFiniteError", err)
			}
			if *nf != tt.want {
				t.Errorf("error %+v, want %+v", *nf, tt.want)
			}
			if res != nil {
				t.Error("a run stopped by a non-finite value returned a result")
			}
			msg := err.Error()
			for _, s := range []string{"stage " + tt.want.Stage, "step " + itoa(tt.want.Step), "model " + tt.want.Model, "NaN or Inf"} {
				if !strings.Contains(msg, s) {
					t.Errorf("message %q does not say %q", msg, s)
				}
			}
			// The models are unharmed: the same job runs clean afterwards.
			if _, err := p.job.Run(context.Background(), p.models, job.RunOptions{Seed: p.job.Plan.Seed}); err != nil {
				t.Errorf("clean run after the fault: %v", err)
			}
		})
	}
}

func itoa(n int) string { return sprintf("%d", n) }

// slowModel writes a copy of sd15 whose unet takes about half a second per
// call on one thread (about 70 µs a node): a long chain of small MatMuls, between which ONNX
// Runtime checks for termination.
func slowModel(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	fixtures.CopyTree(t, filepath.Join(zoo(t), "sd15"), filepath.Join(dir, "sd15"))
	if err := faults.RewriteModel(filepath.Join(dir, "sd15", "unet", "model.onnx"), faults.Options{Body: faults.Slow, Depth: 16}); err != nil {
		t.Fatal(err)
	}
	return dir
}

// slowJob prepares a recipe of the given steps on the slow model in dir.
func slowJob(t *testing.T, dir string, steps int) *prepared {
	t.Helper()
	r, err := recipes.LoadBytes(filepath.Join(dir, "slow.yaml"), []byte(sprintf(`
version: 1
models:
  sd: {path: sd15}
prompt: a photo of a cat
seed: 1
steps: %d
threads: 1
`, steps)), dir)
	if err != nil {
		t.Fatal(err)
	}
	j, err := job.Prepare(r)
	if err != nil {
		t.Fatal(err)
	}
	ms, err := j.Load(context.Background(), adaptersOptions(j))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ms.Close() })
	return &prepared{job: j, models: ms}
}

// timedDenoiser reports when each Predict starts and how long it took.
type timedDenoiser struct {
	adapters.Denoiser
	started chan struct{}
	took    time.Duration
}

func (d *timedDenoiser) Predict(ctx context.Context, req *adapters.Request, eps *latent.Tensor) error {
	select {
	case d.started <- struct{}{}:
	default:
	}
	start := time.Now()
	err := d.Denoiser.Predict(ctx, req, eps)
	d.took = time.Since(start)
	return err
}

// TestCancelStopsWithinAModelCall cancels a run while the unet is inside
// ONNX Runtime (in its second call) and checks that Run returns context.Canceled well before
// that one call would have finished, leaving no goroutine behind.
func TestCancelStopsWithinAModelCall(t *testing.T) {
	p := slowJob(t, slowModel(t), 50)
	sd := p.models.ByName["sd"]
	timed := &timedDenoiser{Denoiser: sd.Denoiser, started: make(chan struct{})}
	sd.Denoiser = timed
	goroutines := runtime.NumGoroutine()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	type result struct {
		res *coop.Result
		err error
		at  time.Time
	}
	done := make(chan result, 1)
	go func() {
		res, err := p.job.Run(ctx, p.models, job.RunOptions{Seed: 1})
		done <- result{res, err, time.Now()}
	}()
	// The first call says what a call costs; cancel a third of the way
	// into the second.
	for range 2 {
		select {
		case <-timed.started:
		case r := <-done:
			t.Fatalf("the run ended before its second unet call: %v", r.err)
		}
	}
	call := timed.took
	time.Sleep(call / 3)
	cancelled := time.Now()
	cancel()
	var r result
	select {
	case r = <-done:
	case <-time.After(30 * time.Second):
		t.Fatal("Run did not return within 30 s of the cancellation")
	}
	latency := r.at.Sub(cancelled)
	t.Logf("one unet call takes %v; Run returned %v after the cancellation", call, latency)
	if !errors.Is(r.err, context.Canceled) {
		t.Errorf("err = %v, want context.Canceled", r.err)
	}
	if r.res != nil {
		t.Error("a cancelled run returned a result")
	}
	// Loose bounds, the machine may be busy: well within the call that
	// was running, and under 2 s whatever a call costs.
	if latency > call/2 || latency > 2*time.Second {
		t.Errorf("Run returned %v after the cancellation; one call takes %v", latency, call)
	}
	// Goroutines started for the run (the terminate watcher) are gone.
	deadline := time.Now().Add(2 * time.Second)
	for runtime.NumGoroutine() > goroutines && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if n := runtime.NumGoroutine(); n > goroutines {
		t.Errorf("%d goroutines after the cancelled run, %d before", n, goroutines)
	}
}

// TestCancelledBeforeRun checks that a context cancelled before Run
// starts no model at all.
func TestCancelledBeforeRun(t *testing.T) {
	p := prepare(t, `
version: 1
models:
  sd: {path: sd15}
prompt: a photo of a cat
seed: 1
steps: 4
`)
	before := p.models.ByName["sd"].Denoiser.Calls()
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	start := time.Now()
	_, err := p.job.Run(ctx, p.models, job.RunOptions{Seed: 1})
	if !errors.Is(err, context.Canceled) {
		t.Errorf("err = %v, want context.Canceled", err)
	}
	if n := p.models.ByName["sd"].Denoiser.Calls() - before; n != 0 {
		t.Errorf("%d unet calls after a cancelled start", n)
	}
	t.Logf("returned after %v", time.Since(start))
}

// TestLimitsRefuseBeforeAllocation loads recipes asking for absurd sizes
// and step counts: each must be refused by the recipe reader, naming the
// field, with next to nothing allocated (a latent for 1e9 x 1e9 pixels
// would be exabytes), and the limits must be the Loader's to change.
func TestLimitsRefuseBeforeAllocation(t *testing.T) {
	dir := zoo(t)
	const base = "version: 1\nmodels:\n  sd: {path: sd15}\nprompt: a photo of a cat\n"
	tests := []struct {
		name, yaml string
		limits     recipes.Limits
		want       string
	}{
		{"width", base + "width: 1000000000\nheight: 512\n", recipes.Limits{}, "test.yaml:5:8: width: 1000000000 px is larger than the limit of 4096 px"},
		{"stage height", base + "stages: [{model: sd, height: 99999999}]\n", recipes.Limits{}, "height: 99999999 px is larger than the limit of 4096 px"},
		{"steps", base + "steps: 4000000000\n", recipes.Limits{}, "test.yaml:5:8: steps: must be between 1 and 1000"},
		{"lower size limit", base + "width: 512\nheight: 512\n", recipes.Limits{MaxSize: 256}, "512 px is larger than the limit of 256 px"},
		{"lower step limit", base + "steps: 30\n", recipes.Limits{MaxSteps: 25}, "steps: must be between 1 and 25, got 30"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var before, after runtime.MemStats
			runtime.ReadMemStats(&before)
			_, err := recipes.Loader{Limits: tt.limits}.LoadBytes(filepath.Join(dir, "test.yaml"), []byte(tt.yaml), dir)
			runtime.ReadMemStats(&after)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("err = %v, want one saying %q", err, tt.want)
			}
			if n := after.TotalAlloc - before.TotalAlloc; n > 1<<20 {
				t.Errorf("refusing the recipe allocated %d bytes", n)
			}
		})
	}
	// The same recipes within raised limits load: the limits are the
	// Loader's, not constants.
	r, err := recipes.Loader{Limits: recipes.Limits{MaxSize: 8192}}.LoadBytes(filepath.Join(dir, "test.yaml"), []byte(base+"width: 6144\nheight: 512\n"), dir)
	if err != nil {
		t.Fatalf("6144 px under a limit of 8192: %v", err)
	}
	// Past the recipe reader the models decide: the zoo's sd15 unet fixes
	// its latent at 64 x 64, so Prepare refuses 6144 px at the width
	// field, before any model runs.
	if _, err := job.Prepare(r); err == nil || !strings.Contains(err.Error(), "test.yaml:5:8: width:") || !strings.Contains(err.Error(), "takes only 512x512 px images") {
		t.Errorf("preparing 6144 x 512 px on a unet of 64 x 64 latents: %v", err)
	}
}
