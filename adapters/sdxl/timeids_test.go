package sdxl_test

import (
	"context"
	"path/filepath"
	"testing"

	"github.com/coop-diffusion/coop/adapters"
	"github.com/coop-diffusion/coop/adapters/adapterstest"
	"github.com/coop-diffusion/coop/internal/fixtures"
	"github.com/coop-diffusion/coop/internal/onnx"
	"github.com/coop-diffusion/coop/internal/ort/orttest"
	"github.com/coop-diffusion/coop/latent"
)

// writeProbeUnet replaces a fixture's unet with a graph that outputs, in
// latent channel c, time_ids[:, first+c]: what the adapter fed as time_ids
// comes back as the prediction.
func writeProbeUnet(t *testing.T, dir string, context, width, first int) {
	t.Helper()
	b := onnx.NewBuilder("unet")
	x := b.Input("sample", onnx.Float32, "batch", 4, 64, 64)
	b.Input("timestep", onnx.Int64, "batch")
	b.Input("encoder_hidden_states", onnx.Float32, "batch", "sequence_length", context)
	b.Input("text_embeds", onnx.Float32, "batch", 1280)
	ids := b.Input("time_ids", onnx.Float32, "batch", width)
	cols := b.Op("Slice", []string{ids, b.Int64s("starts", int64(first)), b.Int64s("ends", int64(first+4)), b.Int64s("axes", 1)}, nil)
	cols = b.Op("Reshape", []string{cols, b.Int64s("shape", -1, 4, 1, 1)}, nil)
	out := b.Op("Add", []string{b.Op("Mul", []string{x, b.Scalar("zero", 0)}, nil), cols}, nil)
	b.Output(out, "out_sample", onnx.Float32, "batch", 4, 64, 64)
	if err := b.WriteFile(filepath.Join(dir, "unet", "model.onnx")); err != nil {
		t.Fatal(err)
	}
}

// The base feeds (original h, w, crop top, left, target h, w) for both
// guidance rows; the refiner (h, w, top, left, aesthetic score) with 6.0
// for the prompt and 2.5 for the negative prompt.
func TestTimeIDs(t *testing.T) {
	orttest.Init(t)
	ctx := context.Background()
	const h, w, guidance = 768, 1024, 3.0
	cases := []struct {
		name           string
		context, width int
		first          int
		want           [4]float32 // channels of the guided prediction
	}{
		// time_ids[2:6] = (0, 0, h, w), equal in both rows.
		{"sdxl", 2048, 6, 2, [4]float32{0, 0, h, w}},
		// time_ids[1:5] = (w, 0, 0, score): 2.5 + 3 (6 - 2.5) = 13.
		{"sdxl-refiner", 1280, 5, 1, [4]float32{w, 0, 0, 2.5 + guidance*(6-2.5)}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			dir := t.TempDir()
			if err := fixtures.Write(dir, c.name); err != nil {
				t.Fatal(err)
			}
			folder := filepath.Join(dir, c.name)
			writeProbeUnet(t, folder, c.context, c.width, c.first)
			m, err := adapters.Load(ctx, folder, adapters.LoadOptions{Session: adapterstest.TestSession})
			if err != nil {
				t.Fatal(err)
			}
			defer m.Close()
			cond, err := m.Text.Encode(ctx, adapters.Prompt{Positive: "a cat"})
			if err != nil {
				t.Fatal(err)
			}
			cond.Guidance = guidance
			eps := latent.New(1, 4, 64, 64)
			req := &adapters.Request{Latent: latent.New(1, 4, 64, 64), Abar: 0.5, Cond: cond, Height: h, Width: w}
			if err := m.Denoiser.Predict(ctx, req, eps); err != nil {
				t.Fatal(err)
			}
			for ch, want := range c.want {
				if got := eps.At(0, ch, 0, 0); got != want {
					t.Errorf("channel %d: %v, want %v", ch, got, want)
				}
			}
		})
	}
}
