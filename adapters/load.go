package adapters

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/coop-diffusion/coop/coop/sampler"
	"github.com/coop-diffusion/coop/internal/modelfolder"
	"github.com/coop-diffusion/coop/internal/onnx"
	"github.com/coop-diffusion/coop/internal/ort"
	"github.com/coop-diffusion/coop/latent"
)

// CascadeVQGAN is a folder holding only Stable Cascade's stage A VQGAN: an
// autoencoder without a denoiser.
const CascadeVQGAN Family = "cascade-vqgan"

// ManifestFiles are the names of the generic adapter's manifest, in the
// order Check looks for them. A folder holding one is a Generic model
// unless the recipe names another family; adapters/generic documents the
// format.
var ManifestFiles = []string{"coop-model.yaml", "coop-model.yml", "coop-model.json"}

// LoadOptions configures Check and Load.
type LoadOptions struct {
	// Name is the model's name in the recipe, used in every message; the
	// folder's base name when empty.
	Name string
	// FamilyOverride replaces the detected family (a recipe's "family:").
	FamilyOverride Family
	// Session configures the ONNX Runtime sessions of every model file.
	Session ort.SessionOptions
}

// Size is an image size in pixels.
type Size struct{ Height, Width int }

// Component is one model file that a family uses, by role.
type Component struct {
	Role string // "unet", "vae_decoder", "text_encoder_2", "controlnet", ...
	Path string
}

// Residual is one ControlNet residual: an output of a split ControlNet or
// the unet input it feeds.
type Residual struct {
	Name string
	// Index is the numeric suffix of Name (down-block residuals); -1 for
	// the mid-block residual.
	Index int
	// Channels is the declared channel count, 0 when the graph leaves it
	// symbolic.
	Channels int
}

// ControlPorts describes how a model exchanges ControlNet residuals: the
// residual outputs of a split ControlNet, the residual inputs of a unet
// built for split ControlNets, or the slots of a unet with fused
// ControlNets.
type ControlPorts struct {
	// Down holds the down-block residuals in index order.
	Down []Residual
	// Mid is the mid-block residual, nil when there is none.
	Mid *Residual
	// Fused is the number of ControlNets fused into the unet graph.
	Fused int
}

// Split reports whether the ports are residuals of the split convention.
func (p ControlPorts) Split() bool { return len(p.Down) > 0 || p.Mid != nil }

// Info is what Check learns about a model folder from its signatures and
// configuration files alone.
type Info struct {
	// Name is the model's name in the recipe, Dir the folder (or file).
	Name, Dir string
	Family    Family
	// Detected says why Family was chosen: the detection evidence, or
	// that the recipe named it.
	Detected string
	// Space is the latent space the denoiser works in (zero for a split
	// ControlNet).
	Space latent.Space
	// Channels is the latent channel count the denoiser takes.
	Channels int
	// Native is the image size the model was trained at.
	Native Size
	// FixedLatent is the latent height and width (in latent cells, not
	// pixels) that the denoiser's sample input declares, or a split
	// ControlNet's; zero where the graph takes any size. The model runs
	// only at the image sizes that give this latent size.
	FixedLatent Size
	// Scheduler is scheduler/scheduler_config.json (Stable Diffusion's
	// defaults without one); Scheduler.Prediction is what the denoiser
	// outputs.
	Scheduler sampler.Config
	// ContextWidth is the width of the text conditioning the denoiser (or
	// ControlNet) takes, 0 when it takes none; ContextTokens is its
	// sequence length when the graph fixes it, 0 when any multiple of 77
	// is accepted.
	ContextWidth, ContextTokens int
	// Control describes the model's ControlNet residuals or slots.
	Control ControlPorts
	// Components lists the model files checked.
	Components []Component
	// Parts says which parts the folder (or file) provides, and so what
	// a recipe can use the model for: a single unet file has a denoiser
	// and nothing else.
	Parts Parts
}

// Parts are the parts a model provides. A participant in a stage needs a
// denoiser, a text encoder and an autoencoder; the autoencoder's encoder
// turns pixels into latents (an img2img image, the far end of a pixel
// bridge) and its decoder latents into pixels (the final image, the near
// end of a bridge).
type Parts struct {
	Denoiser, Text   bool
	Encoder, Decoder bool
	// ControlNet is set for a split ControlNet and for a unet with
	// ControlNets fused into its graph.
	ControlNet bool
}

// OneWay is implemented by autoencoders that may have one direction only
// (adapters/vae, of a folder with vae_decoder but no vae_encoder): the
// other direction fails when it runs.
type OneWay interface {
	CanEncode() bool
	CanDecode() bool
}

// Provides says which parts m has. An autoencoder that does not say
// otherwise (OneWay) works both ways.
func (m *Model) Provides() Parts {
	p := Parts{Denoiser: m.Denoiser != nil, Text: m.Text != nil, ControlNet: len(m.Controls) > 0}
	if m.VAE != nil {
		p.Encoder, p.Decoder = true, true
		if ow, ok := m.VAE.(OneWay); ok {
			p.Encoder, p.Decoder = ow.CanEncode(), ow.CanDecode()
		}
	}
	return p
}

// Model is a loaded model folder: the family's adapters for its parts.
// Sessions open on first use; Close releases them.
type Model struct {
	Info
	// Denoiser is nil for folders without one (a split ControlNet, a
	// VQGAN alone).
	Denoiser Denoiser
	// Text is nil for folders without a text encoder.
	Text TextEncoder
	// VAE maps between pixels and the denoiser's latent space: the VAE of
	// SD and SDXL, EfficientNet and the previewer for Stable Cascade's
	// prior, the stage A VQGAN for its decoder. Nil when the folder has
	// none.
	VAE Autoencoder
	// Controls are the ControlNets the folder provides: the split
	// ControlNet of a controlnet folder, or one slot per ControlNet fused
	// into a unet graph.
	Controls []ControlNetModel

	closers []io.Closer
}

// Own makes Close release c. Loaders call it for every part holding
// sessions.
func (m *Model) Own(c io.Closer) { m.closers = append(m.closers, c) }

// Close releases every session the model opened. It is safe to call more
// than once.
func (m *Model) Close() error {
	var errs []error
	for _, c := range m.closers {
		if err := c.Close(); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// Check reads the model folder (or model file) at dir and checks every
// model's signature against what its role in the family needs, each model
// file's opset against what ONNX Runtime loads, its external weight files
// against the bytes its initializers read (sizes only), and the
// tokenizers, without loading weights: `coop validate` and the engine call
// it before any step runs.
func Check(dir string, opts LoadOptions) (*Info, error) {
	f, err := modelfolder.Scan(dir)
	if err != nil {
		return nil, err
	}
	info, _, err := check(f, opts)
	return info, err
}

// Load checks the folder at dir as Check does and prepares its models.
func Load(ctx context.Context, dir string, opts LoadOptions) (*Model, error) {
	f, err := modelfolder.Scan(dir)
	if err != nil {
		return nil, err
	}
	info, l, err := check(f, opts)
	if err != nil {
		return nil, err
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	fresh := &Info{Name: info.Name, Dir: info.Dir, Family: info.Family, Detected: info.Detected}
	return l.Load(ctx, f, fresh, opts)
}

func check(f *modelfolder.Folder, opts LoadOptions) (*Info, Loader, error) {
	info := &Info{Name: opts.Name, Dir: f.Path}
	if info.Name == "" {
		abs, err := filepath.Abs(f.Path)
		if err != nil {
			return nil, nil, err
		}
		info.Name = filepath.Base(abs)
		if f.SingleFile {
			info.Name = filepath.Base(filepath.Dir(abs))
		}
	}
	switch {
	case opts.FamilyOverride != "":
		info.Family, info.Detected = opts.FamilyOverride, "named by the recipe"
	case manifestIn(f) != "":
		info.Family, info.Detected = Generic, "manifest "+manifestIn(f)
	default:
		fam, why := modelfolder.DetectFamily(f)
		if fam == "" {
			return nil, nil, fmt.Errorf("model %q (%s): cannot tell its family: %s; name the family in the recipe", info.Name, f.Path, why)
		}
		info.Family, info.Detected = Family(fam), why
	}
	l, err := loaderFor(info.Family)
	if err != nil {
		return nil, nil, fmt.Errorf("model %q (%s): %w", info.Name, f.Path, err)
	}
	if err := l.Check(f, info, opts); err != nil {
		return nil, nil, err
	}
	if err := checkFiles(f, info); err != nil {
		return nil, nil, err
	}
	return info, l, nil
}

// checkFiles checks what ONNX Runtime would refuse about each model file
// the family uses, from its signature and the sizes of its data files
// alone: an opset the runtime does not load, external weights that are
// missing or cut short. Without it such a file fails when the first stage
// that uses it opens it, after the stages before it have run.
func checkFiles(f *modelfolder.Folder, info *Info) error {
	for _, c := range info.Components {
		sig, err := signatureOf(f, c.Path)
		if err != nil {
			return fmt.Errorf("model %q %s: %w", info.Name, c.Role, err)
		}
		if err := ort.CheckOpset(c.Path, sig); err != nil {
			return fmt.Errorf("model %q %s: %w", info.Name, c.Role, err)
		}
		if err := sig.CheckExternalData(c.Path); err != nil {
			return fmt.Errorf("model %q %s: %w", info.Name, c.Role, err)
		}
	}
	return nil
}

// signatureOf returns the signature of the model file at path: the one
// Scan read when the file is one of the folder's, else read now.
func signatureOf(f *modelfolder.Folder, path string) (*onnx.Signature, error) {
	for _, c := range f.Components {
		if c.ModelPath == path && c.Signature != nil {
			return c.Signature, nil
		}
	}
	return onnx.ReadSignature(path)
}

// manifestIn returns the path of the folder's generic-adapter manifest, ""
// when it has none.
func manifestIn(f *modelfolder.Folder) string {
	if f.SingleFile {
		return ""
	}
	for _, name := range ManifestFiles {
		p := filepath.Join(f.Path, name)
		if st, err := os.Stat(p); err == nil && !st.IsDir() {
			return p
		}
	}
	return ""
}
