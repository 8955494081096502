package coop_test

import (
	"context"
	"errors"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/coop-diffusion/coop/adapters"
	"github.com/coop-diffusion/coop/coop"
	"github.com/coop-diffusion/coop/graphs"
	"github.com/coop-diffusion/coop/latent"
)

// countedSessions counts the engine's requests to open a model's
// sessions.
type countedSessions struct{ opened int }

func (s *countedSessions) OpenSessions() (time.Duration, error) { s.opened++; return 0, nil }
func (s *countedSessions) RuntimeStats() []adapters.GraphStats  { return nil }
func (s *countedSessions) Close() error                         { return nil }

// A cancelled context opens no model: opening a large one takes seconds
// ONNX Runtime cannot interrupt. A cancellation during a stage opens none
// of the later stages' models.
func TestCancelledRunOpensNothing(t *testing.T) {
	lo := fakeModel(t, "lo", 1, 4, 64)
	hi := fakeModel(t, "hi", 2, 4, 128)
	loS, hiS := &countedSessions{}, &countedSessions{}
	lo.Sessions, hi.Sessions = loS, hiS
	plan := func() *graphs.Plan {
		return &graphs.Plan{Seed: 1, Stages: []*graphs.Stage{
			stage("lo", 64, 6, 0, 3, graphs.Fresh, participant("lo", "cat", 1)),
			stage("hi", 128, 6, 3, 6, graphs.Renoise, participant("hi", "cat", 1)),
		}}
	}
	e := &coop.Engine{Models: map[string]*coop.Model{"lo": lo, "hi": hi}}

	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := e.Run(ctx, plan()); !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled before the run: %v, want context.Canceled", err)
	}
	if loS.opened+hiS.opened != 0 {
		t.Errorf("cancelled before the run: sessions opened %d times", loS.opened+hiS.opened)
	}

	ctx, cancel = context.WithCancel(context.Background())
	defer cancel()
	e.Progress = func(ev coop.Event) {
		if ev.Stage == "lo" && ev.Step == ev.Steps {
			cancel()
		}
	}
	if _, err := e.Run(ctx, plan()); !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled in the first stage: %v, want context.Canceled", err)
	}
	if loS.opened != 1 || hiS.opened != 0 {
		t.Errorf("cancelled in the first stage: lo opened %d times, hi %d; want 1 and 0", loS.opened, hiS.opened)
	}
}

// spoiledVAE puts value into the output of its at-th encode (decode when
// decode is set).
type spoiledVAE struct {
	adapters.Autoencoder
	decode bool
	at     int
	value  float32
	calls  int
}

func (v *spoiledVAE) spoil(dst *latent.Tensor) {
	if v.calls++; v.calls == v.at {
		dst.Data[len(dst.Data)/3] = v.value
	}
}

func (v *spoiledVAE) Encode(ctx context.Context, pix, dst *latent.Tensor) error {
	if err := v.Autoencoder.Encode(ctx, pix, dst); err != nil {
		return err
	}
	if !v.decode {
		v.spoil(dst)
	}
	return nil
}

func (v *spoiledVAE) Decode(ctx context.Context, lat, dst *latent.Tensor) error {
	if err := v.Autoencoder.Decode(ctx, lat, dst); err != nil {
		return err
	}
	if v.decode {
		v.spoil(dst)
	}
	return nil
}

// A NaN or Inf that a bridge's decoder or encoder gives is reported with
// the model whose autoencoder gave it and the bridge, at the stage's entry
// or at the step that carried it.
func TestBridgeNonFiniteNamesItsModel(t *testing.T) {
	nan, inf := float32(math.NaN()), float32(math.Inf(-1))
	tests := []struct {
		name  string
		spoil func(lo, hi *coop.Model)
		plan  *graphs.Plan
		want  coop.NonFiniteError
		msg   string
	}{
		{"encoder at the entry of a renoise stage", func(lo, hi *coop.Model) {
			hi.VAE = &spoiledVAE{Autoencoder: hi.VAE, at: 1, value: nan}
		}, &graphs.Plan{Seed: 1, Stages: []*graphs.Stage{
			stage("lo", 64, 6, 0, 3, graphs.Fresh, participant("lo", "cat", 1)),
			stage("hi", 128, 6, 3, 6, graphs.Renoise, participant("hi", "cat", 1)),
		}}, coop.NonFiniteError{Stage: "hi", Step: 0, Model: "hi", What: "the encoded latent", Bridge: "lo@64x64 -> hi@128x128"},
			"stage hi, on entering it: the encoded latent of model hi in the bridge lo@64x64 -> hi@128x128 contains NaN or Inf"},
		{"a foreign participant's decoder at step 2", func(lo, hi *coop.Model) {
			hi.VAE = &spoiledVAE{Autoencoder: hi.VAE, decode: true, at: 2, value: inf}
		}, &graphs.Plan{Seed: 1, Stages: []*graphs.Stage{
			stage("blend", 64, 6, 0, 6, graphs.Fresh, participant("lo", "cat", 0.5), withSize(participant("hi", "cat", 0.5), 128)),
		}}, coop.NonFiniteError{Stage: "blend", Step: 2, Model: "hi", What: "the decoded image", Bridge: "hi@128x128 -> lo@64x64"},
			"stage blend, step 2: the decoded image of model hi in the bridge hi@128x128 -> lo@64x64 contains NaN or Inf"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			lo := fakeModel(t, "lo", 1, 4, 64)
			hi := fakeModel(t, "hi", 2, 4, 128)
			tt.spoil(lo, hi)
			e := &coop.Engine{Models: map[string]*coop.Model{"lo": lo, "hi": hi}}
			res, err := e.Run(context.Background(), tt.plan)
			var nf *coop.NonFiniteError
			if !errors.As(err, &nf) {
				t.Fatalf("err = %v, want a NonFiniteError", err)
			}
			if *nf != tt.want {
				t.Errorf("error %+v, want %+v", *nf, tt.want)
			}
			if !strings.HasPrefix(err.Error(), tt.msg) {
				t.Errorf("message %q, want it to start %q", err, tt.msg)
			}
			if res != nil {
				t.Error("a run stopped by a non-finite value returned a result")
			}
		})
	}
}

func withSize(p *graphs.Participant, size int) *graphs.Participant {
	p.Width, p.Height = size, size
	return p
}
