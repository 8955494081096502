package sd_test

import (
	"context"
	"testing"

	"github.com/coop-diffusion/coop/adapters"
	"github.com/coop-diffusion/coop/adapters/adapterstest"
	"github.com/coop-diffusion/coop/latent"
)

// BenchmarkPredict measures one guided prediction of the sd15 fixture: the
// adapter's own cost around ONNX Runtime. Buffers are reused from step to
// step, so the bytes per operation stay far below the size of the latent
// batch (2 x 4 x 64 x 64 float32 = 128 KiB).
func BenchmarkPredict(b *testing.B) {
	ctx := context.Background()
	m := adapterstest.LoadFixture(b, "sd15")
	cond, err := m.Text.Encode(ctx, adapters.Prompt{Positive: adapterstest.Prompt(1)})
	if err != nil {
		b.Fatal(err)
	}
	cond.Guidance = guidance
	z := latent.New(1, 4, 64, 64)
	latent.NewStream(1, "bench").Fill(z)
	eps := latent.New(1, 4, 64, 64)
	req := &adapters.Request{Latent: z, Abar: 0.5, Cond: cond}
	if err := m.Denoiser.Predict(ctx, req, eps); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		if err := m.Denoiser.Predict(ctx, req, eps); err != nil {
			b.Fatal(err)
		}
	}
}
