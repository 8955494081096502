package ort

import (
	"context"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
	"unsafe"

	ortgo "github.com/yalue/onnxruntime_go"

	"github.com/coop-diffusion/coop/internal/onnx"
	"github.com/coop-diffusion/coop/latent"
)

// OptimizationLevel is ONNX Runtime's graph optimization level. The zero
// value leaves ONNX Runtime's default, which is OptimizeAll.
type OptimizationLevel int

const (
	OptimizeDefault  OptimizationLevel = iota // ONNX Runtime's default (all)
	OptimizeDisable                           // no graph rewriting
	OptimizeBasic                             // constant folding, redundant node removal
	OptimizeExtended                          // plus node fusions
	OptimizeAll                               // plus layout optimizations
)

func (l OptimizationLevel) String() string {
	switch l {
	case OptimizeDefault:
		return "default"
	case OptimizeDisable:
		return "disable"
	case OptimizeBasic:
		return "basic"
	case OptimizeExtended:
		return "extended"
	case OptimizeAll:
		return "all"
	}
	return fmt.Sprintf("OptimizationLevel(%d)", int(l))
}

// ParseOptimizationLevel reads "disable", "basic", "extended", "all" or ""
// (default).
func ParseOptimizationLevel(s string) (OptimizationLevel, error) {
	for l := OptimizeDefault; l <= OptimizeAll; l++ {
		if s == l.String() || (s == "" && l == OptimizeDefault) {
			return l, nil
		}
	}
	return 0, fmt.Errorf("optimization level %q: want disable, basic, extended or all", s)
}

// Devices that SessionOptions.Device accepts.
const (
	DeviceCPU  = "cpu"
	DeviceCUDA = "cuda"
)

// SessionOptions configures Open.
type SessionOptions struct {
	// IntraOpThreads and InterOpThreads size ONNX Runtime's thread pools;
	// 0 leaves ONNX Runtime's default (one intra-op thread per core).
	IntraOpThreads int
	InterOpThreads int
	// OptimizationLevel chooses how much ONNX Runtime rewrites the graph.
	OptimizationLevel OptimizationLevel
	// Device is "cpu" (or "") or "cuda". CUDA needs an ONNX Runtime build
	// with the CUDA execution provider; nodes it cannot run fall back to the
	// CPU.
	Device string
	// DeviceID is the CUDA device ordinal.
	DeviceID int
	// Deterministic asks for run-to-run identical results: sequential
	// execution, ONNX Runtime's deterministic compute mode (which makes GPU
	// kernels avoid non-deterministic algorithms) and cuDNN's default
	// convolution algorithm instead of per-run benchmarking.
	Deterministic bool
	// Spin lets the threads of ONNX Runtime's pools spin while they wait
	// for work, ONNX Runtime's own default. Off (the zero value), coop sets
	// session.intra_op.allow_spinning and session.inter_op.allow_spinning
	// to 0: idle threads sleep. A spinning thread keeps a core busy between
	// the graph's parallel sections and between runs, which is the core
	// the engine's Go code and the other participants' sessions need; on
	// two cores the fixture demo ran up to 3 times slower with two
	// spinning intra-op threads per session than with sleeping ones
	// (docs/PERFORMANCE.md). With one intra-op thread there is no pool and
	// the setting changes nothing.
	Spin bool
}

// Session configuration keys of ONNX Runtime
// (onnxruntime_session_options_config_keys.h).
const (
	configIntraOpSpinning = "session.intra_op.allow_spinning"
	configInterOpSpinning = "session.inter_op.allow_spinning"
)

// build creates the ONNX Runtime session options; the caller destroys them.
func (o SessionOptions) build() (*ortgo.SessionOptions, error) {
	if o.IntraOpThreads < 0 || o.InterOpThreads < 0 {
		return nil, fmt.Errorf("thread counts must not be negative (intra-op %d, inter-op %d)", o.IntraOpThreads, o.InterOpThreads)
	}
	var level ortgo.GraphOptimizationLevel
	switch o.OptimizationLevel {
	case OptimizeDefault, OptimizeAll:
		level = ortgo.GraphOptimizationLevelEnableAll
	case OptimizeDisable:
		level = ortgo.GraphOptimizationLevelDisableAll
	case OptimizeBasic:
		level = ortgo.GraphOptimizationLevelEnableBasic
	case OptimizeExtended:
		level = ortgo.GraphOptimizationLevelEnableExtended
	default:
		return nil, fmt.Errorf("unknown optimization level %d", int(o.OptimizationLevel))
	}
	device := strings.ToLower(o.Device)
	if device != "" && device != DeviceCPU && device != DeviceCUDA {
		return nil, fmt.Errorf("device %q: want %q or %q", o.Device, DeviceCPU, DeviceCUDA)
	}
	so, err := ortgo.NewSessionOptions()
	if err != nil {
		return nil, err
	}
	ok := false
	defer func() {
		if !ok {
			so.Destroy()
		}
	}()
	if err := so.SetIntraOpNumThreads(o.IntraOpThreads); err != nil {
		return nil, fmt.Errorf("intra-op threads: %w", err)
	}
	if err := so.SetInterOpNumThreads(o.InterOpThreads); err != nil {
		return nil, fmt.Errorf("inter-op threads: %w", err)
	}
	if err := so.SetGraphOptimizationLevel(level); err != nil {
		return nil, fmt.Errorf("optimization level %v: %w", o.OptimizationLevel, err)
	}
	if !o.Spin {
		for _, key := range []string{configIntraOpSpinning, configInterOpSpinning} {
			if err := so.AddSessionConfigEntry(key, "0"); err != nil {
				return nil, fmt.Errorf("%s: %w", key, err)
			}
		}
	}
	if o.Deterministic {
		if err := so.SetExecutionMode(ortgo.ExecutionModeSequential); err != nil {
			return nil, fmt.Errorf("sequential execution: %w", err)
		}
		if err := setDeterministicCompute(so); err != nil {
			return nil, fmt.Errorf("deterministic compute: %w", err)
		}
	}
	if device == DeviceCUDA {
		if err := appendCUDA(so, o.DeviceID); err != nil {
			return nil, fmt.Errorf("device cuda: the ONNX Runtime library %s has no usable CUDA execution provider: %w", LoadedLibrary(), err)
		}
	}
	ok = true
	return so, nil
}

// cudaOptions are the CUDA execution provider's options besides the
// device. DEFAULT picks cuDNN's default convolution algorithm: the same
// one on every run, and no benchmarking pass on the first run of each
// shape.
var cudaOptions = map[string]string{"cudnn_conv_algo_search": "DEFAULT"}

// The CUDA execution provider as a plugin (ONNX Runtime's execution
// provider library interface): builds whose core has no CUDA, such as the
// 1.29.0 build of the com.github.asus4.onnxruntime npm packages, load it
// from this library beside libonnxruntime.
const (
	cudaProviderLibrary = "libonnxruntime_providers_cuda.so"
	cudaProviderName    = "CUDAExecutionProvider"
)

// cudaPlugin registers the plugin library once per process.
var cudaPlugin struct {
	once sync.Once
	err  error
}

// appendCUDA appends the CUDA execution provider on device deviceID: the
// one built into the library when it has one, else the plugin library
// beside it.
func appendCUDA(so *ortgo.SessionOptions, deviceID int) error {
	builtIn := appendBuiltInCUDA(so, deviceID)
	if builtIn == nil || !strings.Contains(builtIn.Error(), "not enabled in this build") {
		return builtIn
	}
	path := filepath.Join(filepath.Dir(LoadedLibrary()), cudaProviderLibrary)
	if _, err := os.Stat(path); err != nil {
		return fmt.Errorf("%w; nor is there a %s beside it to load as a plugin", builtIn, cudaProviderLibrary)
	}
	cudaPlugin.once.Do(func() { cudaPlugin.err = registerEPLibrary("coop-cuda", path) })
	if cudaPlugin.err != nil {
		return fmt.Errorf("loading the CUDA execution provider %s: %w (its CUDA and cuDNN libraries must be on LD_LIBRARY_PATH)", path, cudaPlugin.err)
	}
	n, err := appendEPDevice(so, cudaProviderName, deviceID, cudaOptions)
	if err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	if deviceID >= n {
		return fmt.Errorf("%s sees %d CUDA devices; device %d was asked for", path, n, deviceID)
	}
	return nil
}

// appendBuiltInCUDA appends the CUDA execution provider of the library's
// core.
func appendBuiltInCUDA(so *ortgo.SessionOptions, deviceID int) error {
	cuda, err := ortgo.NewCUDAProviderOptions()
	if err != nil {
		return err
	}
	defer cuda.Destroy()
	options := map[string]string{"device_id": strconv.Itoa(deviceID)}
	maps.Copy(options, cudaOptions)
	err = cuda.Update(options)
	if err != nil {
		return err
	}
	return so.AppendExecutionProviderCUDA(cuda)
}

// Session is one loaded model. It is created once per model file and reused;
// Run is safe for concurrent use.
type Session struct {
	path string
	sig  *onnx.Signature
	opts SessionOptions

	inputIndex  map[string]int // position in sig.Inputs
	outputIndex map[string]int // position in sig.Outputs
	dims        dimTable
	// outputShapeErrs[j] holds OutputShape's errors for output j (see
	// outputShapeErrors).
	outputShapeErrs [][]error
	resolvers       sync.Pool // *resolver for OutputShape

	mu       sync.RWMutex   // Run holds it shared, Close exclusively
	raw      unsafe.Pointer // the OrtSession (createSession); nil once closed
	mem      unsafe.Pointer // the OrtMemoryInfo of tensors over CPU memory
	inNames  unsafe.Pointer // C array of the input names, in signature order
	outNames unsafe.Pointer // C array of the output names

	idleMu sync.Mutex
	idle   []*bindings // binding sets between runs

	runs atomic.Int64
	busy atomic.Int64 // nanoseconds inside ONNX Runtime
}

// Open loads the model file at modelPath. It reads the model's signature
// first, without loading weights, so a file that is not an ONNX model fails
// fast with an error naming the file; then it creates one ONNX Runtime
// session for all the graph's inputs and outputs from the file path, so that
// ONNX Runtime finds external weight files (model.onnx_data) beside it.
func Open(modelPath string, opts SessionOptions) (*Session, error) {
	if !Initialized() {
		return nil, errNotInitialized("opening model " + modelPath)
	}
	sig, err := onnx.ReadSignature(modelPath)
	if err != nil {
		return nil, fmt.Errorf("opening model: %w", err)
	}
	if len(sig.Inputs) == 0 || len(sig.Outputs) == 0 {
		return nil, fmt.Errorf("opening model %s: it declares %d inputs and %d outputs; coop runs graphs with at least one of each",
			modelPath, len(sig.Inputs), len(sig.Outputs))
	}
	s := &Session{
		path:        modelPath,
		sig:         sig,
		opts:        opts,
		inputIndex:  make(map[string]int, len(sig.Inputs)),
		outputIndex: make(map[string]int, len(sig.Outputs)),
		dims:        newDimTable(sig),
	}
	s.outputShapeErrs = s.outputShapeErrors()
	inNames := make([]string, len(sig.Inputs))
	for i, v := range sig.Inputs {
		if _, err := ortElemType(v.ElemType); err != nil {
			return nil, fmt.Errorf("opening model %s: input %q: %w", modelPath, v.Name, err)
		}
		inNames[i] = v.Name
		s.inputIndex[v.Name] = i
	}
	outNames := make([]string, len(sig.Outputs))
	for i, v := range sig.Outputs {
		outNames[i] = v.Name
		s.outputIndex[v.Name] = i
	}
	mem, err := ortgo.GetMemoryInfo()
	if err != nil {
		return nil, fmt.Errorf("opening model %s: %w", modelPath, err)
	}
	s.mem = unsafe.Pointer(mem)
	so, err := opts.build()
	if err != nil {
		return nil, fmt.Errorf("opening model %s: %w", modelPath, err)
	}
	defer so.Destroy()
	if s.raw, err = createSession(modelPath, so); err != nil {
		return nil, sessionError(modelPath, err)
	}
	s.inNames = cStrings(inNames)
	s.outNames = cStrings(outNames)
	return s, nil
}

// Path returns the model file the session was opened from.
func (s *Session) Path() string { return s.path }

// Signature returns the model's declared inputs and outputs. The caller must
// not modify it.
func (s *Session) Signature() *onnx.Signature { return s.sig }

// Options returns the options the session was opened with.
func (s *Session) Options() SessionOptions { return s.opts }

// Close releases the ONNX Runtime session and the values bound to the
// callers' buffers, waiting for runs in progress. It is safe to call more
// than once.
func (s *Session) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.raw == nil {
		return nil
	}
	s.releaseBindings()
	releaseSession(s.raw)
	s.raw = nil
	freeCStrings(s.inNames, len(s.sig.Inputs))
	freeCStrings(s.outNames, len(s.sig.Outputs))
	s.inNames, s.outNames = nil, nil
	return nil
}

// Stats counts a session's runs and the time spent inside ONNX Runtime.
type Stats struct {
	Runs int64         // Run calls that reached ONNX Runtime, failed and cancelled ones included
	Time time.Duration // total time inside ONNX Runtime's Run
}

// Mean returns the average time per run.
func (st Stats) Mean() time.Duration {
	if st.Runs == 0 {
		return 0
	}
	return st.Time / time.Duration(st.Runs)
}

// Stats returns the session's counters; it is safe to call during runs.
func (s *Session) Stats() Stats {
	return Stats{Runs: s.runs.Load(), Time: time.Duration(s.busy.Load())}
}

// Run executes the model. inputs holds a value for every graph input (by
// name); outputs holds, for every output the caller wants, a float32 tensor
// of the output's shape, allocated by the caller and overwritten by Run.
// Outputs the caller does not list are computed (ONNX Runtime runs the whole
// graph) and discarded.
//
// Inputs are cast to the declared element types and checked against the
// declared ranks and fixed dimensions before anything runs; errors name the
// model file, the input and what was expected. When ctx is cancelled during
// the run, Run asks ONNX Runtime to stop (it checks between nodes) and
// returns an error wrapping ctx.Err().
//
// ONNX Runtime reads float32 and int64 inputs of the declared type, and
// writes float32 outputs, in the caller's memory, and the session keeps the
// values bound to that memory for its next runs: a run with the same
// buffers and shapes as an earlier one binds nothing anew. The session
// therefore keeps the buffers of its latest runs reachable until other
// buffers replace them or Close.
func (s *Session) Run(ctx context.Context, inputs map[string]Input, outputs map[string]*latent.Tensor) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("model %s: not run: %w", s.path, err)
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	if s.raw == nil {
		return fmt.Errorf("model %s: session is closed", s.path)
	}
	b, err := s.takeBindings()
	if err != nil {
		return fmt.Errorf("model %s: %w", s.path, err)
	}
	defer s.putBindings(b)
	if err := s.resolveInputs(inputs, b.res); err != nil {
		return err
	}
	if err := s.gatherOutputs(outputs, b); err != nil {
		return err
	}
	if err := s.bindInputs(b); err != nil {
		return err
	}
	if err := s.bindOutputs(b); err != nil {
		return err
	}
	if err := s.runORT(ctx, b); err != nil {
		return err
	}
	s.copyOutputs(b)
	return nil
}

// gatherOutputs checks the caller's output tensors and puts them in
// b.outT by position.
func (s *Session) gatherOutputs(outputs map[string]*latent.Tensor, b *bindings) error {
	if len(outputs) == 0 {
		return nil
	}
	if len(s.sig.Outputs) > 2*len(outputs)+2 {
		// Few of many outputs (a text encoder's hidden states): look the
		// caller's names up.
		for name, t := range outputs {
			j, ok := s.outputIndex[name]
			if !ok {
				return s.unknownOutputError(name)
			}
			if err := s.checkOutput(j, t, b.res); err != nil {
				return err
			}
			b.outT[j] = t
		}
		return nil
	}
	found := 0
	for j := range s.sig.Outputs {
		t, ok := outputs[s.sig.Outputs[j].Name]
		if !ok {
			continue
		}
		found++
		if err := s.checkOutput(j, t, b.res); err != nil {
			return err
		}
		b.outT[j] = t
	}
	if found < len(outputs) {
		return s.unknownOutput(outputs)
	}
	return nil
}

// runORT runs the session with the binding set's run options, which a
// cancelled ctx terminates.
func (s *Session) runORT(ctx context.Context, b *bindings) error {
	if !b.cancel.start(ctx) {
		b.cancel.finish()
		return fmt.Errorf("model %s: not run: %w", s.path, ctx.Err())
	}
	start := time.Now()
	err := b.args.run()
	elapsed := time.Since(start)
	b.cancel.finish()

	s.runs.Add(1)
	s.busy.Add(int64(elapsed))
	if err != nil {
		if ctxErr := ctx.Err(); ctxErr != nil {
			return fmt.Errorf("model %s: run stopped after %v: %w", s.path, elapsed.Round(time.Millisecond), ctxErr)
		}
		return fmt.Errorf("model %s: Error running network: %w", s.path, err)
	}
	return nil
}
