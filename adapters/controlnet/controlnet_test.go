package controlnet_test

import (
	"context"
	"strings"
	"testing"

	"github.com/coop-diffusion/coop/adapters"
	"github.com/coop-diffusion/coop/adapters/adapterstest"
	"github.com/coop-diffusion/coop/adapters/controlnet"
	_ "github.com/coop-diffusion/coop/adapters/sd"
	_ "github.com/coop-diffusion/coop/adapters/sdxl"
	"github.com/coop-diffusion/coop/internal/fixtures"
	"github.com/coop-diffusion/coop/latent"
)

// A neutral prompt names no photo; the control image decides.
const neutral = "a photo"

const (
	steps    = 10
	guidance = 7.5
)

func generate(t *testing.T, m *adapters.Model, controls ...adapters.Control) *latent.Tensor {
	t.Helper()
	pix, err := adapterstest.Generate(context.Background(), m, adapterstest.Options{
		Prompt: adapters.Prompt{Positive: neutral}, Seed: 4, Steps: steps, Guidance: guidance, Controls: controls})
	if err != nil {
		t.Fatal(err)
	}
	return pix
}

func identical(a, b *latent.Tensor) bool {
	for i := range a.Data {
		if a.Data[i] != b.Data[i] {
			return false
		}
	}
	return true
}

// Split convention: a controlnet folder whose residuals feed the extra
// inputs of a unet exported for ControlNets.
func TestSplitControlNet(t *testing.T) {
	for _, c := range []struct {
		base, net string
		k         int
	}{{"sd15-cn", "controlnet-sd15", 0}, {"sdxl-cn", "controlnet-sdxl", 4}} {
		t.Run(c.net, func(t *testing.T) {
			base := adapterstest.LoadFixture(t, c.base)
			cn := adapterstest.LoadFixture(t, c.net)
			if cn.Family != adapters.ControlNet || len(cn.Controls) != 1 || cn.Controls[0].Fused() {
				t.Fatalf("%s: family %s, controls %v", c.net, cn.Family, cn.Controls)
			}
			if err := adapters.CheckControl(&base.Info, &cn.Info); err != nil {
				t.Fatal(err)
			}
			net := cn.Controls[0].(*controlnet.Split)
			pix := generate(t, base, adapters.Control{Net: net, Image: fixtures.ControlImage(c.k), Scale: 1})
			t.Logf("%s with control photo %d: %.2f dB", c.base, c.k, adapterstest.CheckLanding(t, c.base, c.k, pix))
			if runs := net.Runs(); runs != steps {
				t.Errorf("the ControlNet ran %d times in %d batched steps", runs, steps)
			}

			if c.base != "sd15-cn" {
				return
			}
			// Scale 0 leaves the output exactly as without control, and the
			// ControlNet does not even run.
			plain := generate(t, base)
			zero := generate(t, base, adapters.Control{Net: net, Image: fixtures.ControlImage(c.k), Scale: 0})
			if !identical(plain, zero) {
				t.Errorf("scale 0 changes the output")
			}
			if runs := net.Runs(); runs != steps {
				t.Errorf("the ControlNet ran at scale 0")
			}
		})
	}
}

// Fused convention: the unet graph takes the control images and scales of
// its ControlNets; each slot steers on its own, unused slots are zero.
func TestFusedControlNets(t *testing.T) {
	const name = "sd15-fusedcn"
	m := adapterstest.LoadFixture(t, name)
	if len(m.Controls) != 2 {
		t.Fatalf("%d fused ControlNet slots, want 2", len(m.Controls))
	}
	for slot, k := range []int{6, 2} {
		c := adapters.Control{Net: m.Controls[slot], Image: fixtures.ControlImage(k), Scale: 1}
		pix := generate(t, m, c)
		t.Logf("%s slot %d with control photo %d: %.2f dB", name, slot, k, adapterstest.CheckLanding(t, name, k, pix))
	}
	plain := generate(t, m)
	zero := generate(t, m, adapters.Control{Net: m.Controls[1], Image: fixtures.ControlImage(2), Scale: 0})
	if !identical(plain, zero) {
		t.Errorf("scale 0 changes the output")
	}
	// The slots hold zeros again once no control uses them: the same
	// image as a model that never had one.
	if fresh := generate(t, adapterstest.LoadFixture(t, name)); !identical(plain, fresh) {
		t.Errorf("without controls after controlled runs the output differs from a fresh model's")
	}
	// A slot of another model's unet is refused.
	other := adapterstest.LoadFixture(t, "sd15-cn")
	if err := other.Denoiser.(adapters.ControlChecker).CheckControl(m.Controls[0]); err == nil {
		t.Errorf("a fused slot of %s accepted by sd15-cn", name)
	}
}

// A ControlNet whose residuals do not match its unet fails before the
// first step, with a message naming both models and the mismatch.
func TestResidualMismatch(t *testing.T) {
	base := adapterstest.LoadFixture(t, "sd15-cn")
	cn := adapterstest.LoadFixture(t, "controlnet-sdxl")
	err := adapters.CheckControl(&base.Info, &cn.Info)
	if err == nil {
		t.Fatal("an SDXL ControlNet accepted on an SD 1.5 unet")
	}
	for _, want := range []string{`"controlnet-sdxl"`, `"sd15-cn"`, "9 down-block residuals", "takes 12"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not mention %s", err, want)
		}
	}
	before := base.Denoiser.Calls()
	_, err = adapterstest.Sample(context.Background(), base, adapterstest.Options{
		Prompt: adapters.Prompt{Positive: neutral}, Steps: steps, Guidance: guidance,
		Controls: []adapters.Control{{Net: cn.Controls[0], Image: fixtures.ControlImage(0), Scale: 1}}})
	if err == nil || !strings.Contains(err.Error(), "9 down-block residuals") {
		t.Errorf("sampling with the mismatched ControlNet: %v", err)
	}
	if base.Denoiser.Calls() != before {
		t.Errorf("the unet ran %d times before the mismatch was found", base.Denoiser.Calls()-before)
	}

	// A unet without residual inputs takes no split ControlNet.
	plain := adapterstest.LoadFixture(t, "sd15")
	if err := adapters.CheckControl(&plain.Info, &adapterstest.LoadFixture(t, "controlnet-sd15").Info); err == nil {
		t.Error("a split ControlNet accepted on a unet without residual inputs")
	} else {
		t.Log(err)
	}
}

func TestConformance(t *testing.T) {
	for _, name := range []string{"sd15-cn", "sd15-fusedcn"} {
		m := adapterstest.LoadFixture(t, name)
		req := adapterstest.ConformanceRequest(t, m, guidance)
		net := m.Controls
		if name == "sd15-cn" {
			net = adapterstest.LoadFixture(t, "controlnet-sd15").Controls
		}
		// The fixture ControlNets outweigh any prompt from a scale of
		// about 0.1 on; a small scale keeps both in play.
		req.Abar = 0.01
		req.Controls = []adapters.Control{{Net: net[0], Image: fixtures.ControlImage(5), Scale: 0.01}}
		adapterstest.TestDenoiser(t, m.Denoiser, adapterstest.DenoiserCase{Request: req, Tolerance: 1e-5})
	}
}

// One split ControlNet writes its residuals straight into the unet's
// inputs (WriteResiduals); several add theirs into zeroed ones
// (AddResiduals). Both give the same image: the net at scale 1 alone
// equals two copies of it at 0.5 (halves add up exactly; residuals may
// differ only in the sign of an exact zero). Predictions without a
// control after those with one see zero residuals again.
func TestSplitResidualPaths(t *testing.T) {
	fresh := adapterstest.LoadFixture(t, "sd15-cn")
	before := generate(t, fresh)
	base := adapterstest.LoadFixture(t, "sd15-cn")
	a := adapterstest.LoadFixture(t, "controlnet-sd15").Controls[0]
	b := adapterstest.LoadFixture(t, "controlnet-sd15").Controls[0]
	img := fixtures.ControlImage(2)
	one := generate(t, base, adapters.Control{Net: a, Image: img, Scale: 1})
	two := generate(t, base, adapters.Control{Net: a, Image: img, Scale: 0.5}, adapters.Control{Net: b, Image: img, Scale: 0.5})
	if !identical(one, two) {
		t.Error("one ControlNet at scale 1 and two halves give different images")
	}
	if identical(one, before) {
		t.Fatal("the control changes nothing: the test cannot tell the paths apart")
	}
	if after := generate(t, base); !identical(after, before) {
		t.Error("a prediction without control after controlled ones differs from one on a fresh model")
	}
}
