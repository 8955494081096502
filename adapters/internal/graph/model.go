package graph

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"

	"github.com/coop-diffusion/coop/internal/modelfolder"
	"github.com/coop-diffusion/coop/internal/onnx"
	"github.com/coop-diffusion/coop/internal/ort"
	"github.com/coop-diffusion/coop/latent"
)

// Model is one ONNX model file in a role ("unet", "vae_decoder", ...) of a
// named model. Its session opens on the first Run and stays open until
// Close; the signature is known from the start, without loading weights.
type Model struct {
	Owner string // the model's name in the recipe
	Role  string
	Path  string
	Sig   *onnx.Signature
	// Config is the component's config.json, nil without one.
	Config map[string]any

	opts ort.SessionOptions

	mu     sync.Mutex
	sess   *ort.Session
	closed bool
}

// New describes a model file whose signature was already read.
func New(owner, role, path string, sig *onnx.Signature, config map[string]any, opts ort.SessionOptions) *Model {
	return &Model{Owner: owner, Role: role, Path: path, Sig: sig, Config: config, opts: opts}
}

// FromComponent describes the model of a scanned component.
func FromComponent(owner, role string, c *modelfolder.Component, opts ort.SessionOptions) *Model {
	return New(owner, role, c.ModelPath, c.Signature, c.Config, opts)
}

// session opens the session once.
func (m *Model) session() (*ort.Session, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed {
		return nil, m.Errorf("closed")
	}
	if m.sess == nil {
		s, err := ort.Open(m.Path, m.opts)
		if err != nil {
			return nil, fmt.Errorf("model %q %s: %w", m.Owner, m.Role, err)
		}
		m.sess = s
	}
	return m.sess, nil
}

// Run runs the graph, opening its session first if needed. outputs must be
// allocated by the caller (see ort.Session.Run).
func (m *Model) Run(ctx context.Context, inputs map[string]ort.Input, outputs map[string]*latent.Tensor) error {
	s, err := m.session()
	if err != nil {
		return err
	}
	if err := s.Run(ctx, inputs, outputs); err != nil {
		return fmt.Errorf("model %q %s: %w", m.Owner, m.Role, err)
	}
	return nil
}

// Reuse returns t when it has the given shape, else a new tensor of that
// shape: callers keep the tensors they feed a graph and the ones it
// writes, and allocate again only when a request changes their shape.
func Reuse(t *latent.Tensor, shape ...int) *latent.Tensor {
	if t != nil && slices.Equal(t.Shape, shape) {
		return t
	}
	return latent.New(shape...)
}

// Close releases the session; the model cannot run afterwards. It is safe
// to call more than once.
func (m *Model) Close() error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.closed = true
	if m.sess == nil {
		return nil
	}
	err := m.sess.Close()
	m.sess = nil
	return err
}

// Errorf formats an error about the model: `model "name" role (path): ...`.
func (m *Model) Errorf(format string, args ...any) error {
	return fmt.Errorf("model %q %s (%s): %s", m.Owner, m.Role, m.Path, fmt.Sprintf(format, args...))
}

// Input returns the declared input called name, or nil.
func (m *Model) Input(name string) *onnx.ValueInfo { return m.Sig.Input(name) }

// Output returns the declared output called name, or nil.
func (m *Model) Output(name string) *onnx.ValueInfo { return m.Sig.Output(name) }

// Require returns input name, or an error saying that the role needs it
// and listing the inputs the graph has.
func (m *Model) Require(name, need string) (*onnx.ValueInfo, error) {
	if v := m.Input(name); v != nil {
		return v, nil
	}
	return nil, m.Errorf("%s needs input %q, which the graph does not have (its inputs: %s)", need, name, List(m.Sig.Inputs))
}

// FirstInput returns the first of names that the graph declares as an
// input, "" when none.
func (m *Model) FirstInput(names ...string) string {
	for _, n := range names {
		if m.Input(n) != nil {
			return n
		}
	}
	return ""
}

// FirstOutput returns the first of names that the graph declares as an
// output; a graph with a single output returns it whatever its name. ""
// when none matches.
func (m *Model) FirstOutput(names ...string) string {
	for _, n := range names {
		if m.Output(n) != nil {
			return n
		}
	}
	if len(m.Sig.Outputs) == 1 {
		return m.Sig.Outputs[0].Name
	}
	return ""
}

// FirstOutputNamed returns the first of names that the graph declares as
// an output, "" when none.
func (m *Model) FirstOutputNamed(names ...string) string {
	for _, n := range names {
		if m.Output(n) != nil {
			return n
		}
	}
	return ""
}

// CheckRank fails unless v's declared rank is one of ranks (a graph that
// declares no shape passes).
func (m *Model) CheckRank(v *onnx.ValueInfo, kind string, ranks ...int) error {
	if !v.HasShape {
		return nil
	}
	for _, r := range ranks {
		if len(v.Dims) == r {
			return nil
		}
	}
	want := make([]string, len(ranks))
	for i, r := range ranks {
		want[i] = fmt.Sprint(r)
	}
	return m.Errorf("%s %s is %s, expected rank %s", kind, v.Name, Describe(v), strings.Join(want, " or "))
}

// CheckDim fails when axis of v is declared with a fixed size other than
// want; what says what the size means ("latent channels").
func (m *Model) CheckDim(v *onnx.ValueInfo, kind string, axis, want int, what string) error {
	if got, ok := Dim(v, axis); ok && got != want {
		return m.Errorf("%s %s is %s: %s is %d, expected %d", kind, v.Name, Describe(v), what, got, want)
	}
	return nil
}

// CheckNumeric fails unless v is a float or integer tensor.
func (m *Model) CheckNumeric(v *onnx.ValueInfo, kind string) error {
	switch v.ElemType {
	case onnx.Float32, onnx.Float16, onnx.Float64, onnx.Int64, onnx.Int32:
		return nil
	}
	return m.Errorf("%s %s is %s; coop feeds float32, float16, float64, int64 and int32", kind, v.Name, Describe(v))
}

// CheckFloat fails unless v is a float tensor: a latent or a prediction
// fed to or read from an integer input would be rounded to whole numbers
// without a word.
func (m *Model) CheckFloat(v *onnx.ValueInfo, kind string) error {
	switch v.ElemType {
	case onnx.Float32, onnx.Float16, onnx.Float64:
		return nil
	}
	return m.Errorf("%s %s is %s; it carries latents, and coop feeds them as float32, float16 or float64", kind, v.Name, Describe(v))
}

// Dim returns the fixed size of axis of v; ok is false when the axis is
// symbolic, unknown or beyond the declared rank.
func Dim(v *onnx.ValueInfo, axis int) (int, bool) {
	if v == nil || !v.HasShape || axis < 0 || axis >= len(v.Dims) || !v.Dims[axis].Fixed() {
		return 0, false
	}
	return int(v.Dims[axis].Value), true
}

// LastDim returns the fixed size of v's last axis.
func LastDim(v *onnx.ValueInfo) (int, bool) {
	if v == nil || !v.HasShape || len(v.Dims) == 0 {
		return 0, false
	}
	return Dim(v, len(v.Dims)-1)
}

// BatchDynamic reports whether v's first axis takes any batch size: it is
// symbolic or unknown. A graph that declares no shape counts as dynamic.
func BatchDynamic(v *onnx.ValueInfo) bool {
	if v == nil || !v.HasShape || len(v.Dims) == 0 {
		return true
	}
	return !v.Dims[0].Fixed()
}

// IsInteger reports whether t is an integer element type.
func IsInteger(t onnx.ElemType) bool {
	switch t {
	case onnx.Int64, onnx.Int32, onnx.Int16, onnx.Int8, onnx.Uint8, onnx.Uint16, onnx.Uint32, onnx.Uint64:
		return true
	}
	return false
}

// Describe formats a value as "float32 [batch, 4, height, width]".
func Describe(v *onnx.ValueInfo) string { return v.ElemType.String() + " " + v.ShapeString() }

// List formats values as "name float32 [..], name int64 [..]".
func List(vs []onnx.ValueInfo) string {
	parts := make([]string, len(vs))
	for i := range vs {
		parts[i] = vs[i].Name + " " + Describe(&vs[i])
	}
	return strings.Join(parts, ", ")
}

// Suffix returns the number at the end of name ("down_block_res_samples_11"
// gives 11, "down_block_additional_residuals.3" gives 3); ok is false when
// name does not end in a digit.
func Suffix(name string) (n int, ok bool) {
	i := len(name)
	for i > 0 && name[i-1] >= '0' && name[i-1] <= '9' {
		i--
	}
	if i == len(name) || len(name)-i > 6 {
		return 0, false
	}
	for _, c := range name[i:] {
		n = n*10 + int(c-'0')
	}
	return n, true
}

// OutputShape works out the shape output name will have for inputs from
// the declared dimensions (see ort.Session.OutputShape); it opens the
// session.
func (m *Model) OutputShape(name string, inputs map[string]ort.Input) ([]int, error) {
	s, err := m.session()
	if err != nil {
		return nil, err
	}
	return s.OutputShape(name, inputs)
}
