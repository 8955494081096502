package ort

// This file reaches the ONNX Runtime C API directly for what
// onnxruntime_go v1.27.0 does not expose or exposes at a cost Run cannot
// afford on small graphs: OrtApi::SetDeterministicCompute; tensors over
// memory and shapes coop chooses (rank 0 and float16 included, which its
// Shape validation and generic types cannot express); run options; and
// OrtApi::Run itself, called with argument arrays that live in C memory
// from one run to the next, so that a run makes one cgo call and no Go
// allocation (onnxruntime_go's Run allocates the arrays and a wrapper per
// value on every call).
//
// The OrtApi struct is a table of function pointers that ONNX Runtime only
// ever appends to, so an entry's index is part of its stable ABI; the
// indices below are those of onnxruntime_c_api.h at ORT_API_VERSION 24 (the
// header onnxruntime_go v1.27.0 ships), obtained as offsetof(OrtApi, Entry)
// / sizeof(void *).

/*
#cgo LDFLAGS: -ldl
#include <dlfcn.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

typedef struct OrtStatus OrtStatus;
typedef struct OrtValue OrtValue;
typedef struct OrtMemoryInfo OrtMemoryInfo;
typedef struct OrtSessionOptions OrtSessionOptions;
typedef struct OrtSession OrtSession;
typedef struct OrtRunOptions OrtRunOptions;

typedef struct {
	const void *(*GetApi)(uint32_t version);
	const char *(*GetVersionString)(void);
} coopOrtApiBase;

enum {
	coopOrtApiVersion = 24,
	coopIdxGetErrorMessage = 2,
	coopIdxRun = 9,
	coopIdxCreateRunOptions = 39,
	coopIdxRunOptionsSetTerminate = 46,
	coopIdxRunOptionsUnsetTerminate = 47,
	coopIdxCreateTensorWithDataAsOrtValue = 49,
	coopIdxReleaseStatus = 93,
	coopIdxReleaseValue = 96,
	coopIdxReleaseRunOptions = 97,
	coopIdxSetDeterministicCompute = 273,
	coopIdxCreateEnv = 3,
	coopIdxCreateSession = 7,
	coopIdxReleaseSession = 95,
	coopIdxRegisterExecutionProviderLibrary = 301,
	coopIdxGetEpDevices = 303,
	coopIdxSessionOptionsAppendExecutionProvider_V2 = 304,
	coopIdxHardwareDevice_Type = 307,
	coopIdxEpDevice_EpName = 312,
	coopIdxEpDevice_Device = 316,
	coopHardwareDeviceGPU = 1,
	coopLoggingLevelWarning = 2,
};

typedef const char *(*coopGetErrorMessageFn)(const OrtStatus *);
typedef void (*coopReleaseStatusFn)(OrtStatus *);
typedef void (*coopReleaseValueFn)(OrtValue *);
typedef OrtStatus *(*coopCreateTensorFn)(const OrtMemoryInfo *, void *, size_t,
	const int64_t *, size_t, int, OrtValue **);
typedef OrtStatus *(*coopSetDeterministicFn)(OrtSessionOptions *, bool);
typedef OrtStatus *(*coopRunFn)(OrtSession *, const OrtRunOptions *,
	const char *const *, const OrtValue *const *, size_t,
	const char *const *, size_t, OrtValue **);
typedef OrtStatus *(*coopCreateRunOptionsFn)(OrtRunOptions **);
typedef OrtStatus *(*coopRunOptionsFlagFn)(OrtRunOptions *);
typedef void (*coopReleaseRunOptionsFn)(OrtRunOptions *);

static void *const *coop_api;

static char *coop_status_message(OrtStatus *st);

typedef struct OrtEnv OrtEnv;
typedef struct OrtEpDevice OrtEpDevice;
typedef struct OrtHardwareDevice OrtHardwareDevice;
typedef OrtStatus *(*coopCreateEnvFn)(int, const char *, OrtEnv **);
typedef OrtStatus *(*coopRegisterEpLibraryFn)(OrtEnv *, const char *, const char *);
typedef OrtStatus *(*coopGetEpDevicesFn)(const OrtEnv *, const OrtEpDevice *const **, size_t *);
typedef OrtStatus *(*coopAppendEpV2Fn)(OrtSessionOptions *, OrtEnv *,
	const OrtEpDevice *const *, size_t, const char *const *, const char *const *, size_t);
typedef const char *(*coopEpDeviceEpNameFn)(const OrtEpDevice *);
typedef const OrtHardwareDevice *(*coopEpDeviceDeviceFn)(const OrtEpDevice *);
typedef int (*coopHardwareDeviceTypeFn)(const OrtHardwareDevice *);

// coop_env is the process's OrtEnv. ONNX Runtime keeps one per process
// and CreateEnv returns it (counting a reference), so this is the
// environment onnxruntime_go created, whose sessions coop opens.
static OrtEnv *coop_env;

static char *coop_get_env(void) {
	if (coop_env != NULL) {
		return NULL;
	}
	return coop_status_message(((coopCreateEnvFn)coop_api[coopIdxCreateEnv])(
		coopLoggingLevelWarning, "coop", &coop_env));
}

typedef OrtStatus *(*coopCreateSessionFn)(const OrtEnv *, const char *, const OrtSessionOptions *, OrtSession **);
typedef void (*coopReleaseSessionFn)(OrtSession *);

// coop_create_session opens the model at path in the process's
// environment.
static char *coop_create_session(const char *path, void *opts, void **out) {
	*out = NULL;
	char *msg = coop_get_env();
	if (msg != NULL) {
		return msg;
	}
	OrtSession *s = NULL;
	msg = coop_status_message(((coopCreateSessionFn)coop_api[coopIdxCreateSession])(
		coop_env, path, (const OrtSessionOptions *)opts, &s));
	*out = s;
	return msg;
}

static void coop_release_session(void *s) {
	((coopReleaseSessionFn)coop_api[coopIdxReleaseSession])((OrtSession *)s);
}

// coop_register_ep_library loads an execution provider library of the
// plugin interface (one exporting CreateEpFactories) under name.
static char *coop_register_ep_library(const char *name, const char *path) {
	char *msg = coop_get_env();
	if (msg != NULL) {
		return msg;
	}
	return coop_status_message(((coopRegisterEpLibraryFn)coop_api[coopIdxRegisterExecutionProviderLibrary])(
		coop_env, name, path));
}

// coop_append_ep_gpu appends to opts the ordinal-th GPU device that the
// execution provider epName offers, with the given options. It sets
// *found to the number of such devices.
static char *coop_append_ep_gpu(void *opts, const char *epName, size_t ordinal,
	const char *const *keys, const char *const *vals, size_t nopts, size_t *found) {
	*found = 0;
	char *msg = coop_get_env();
	if (msg != NULL) {
		return msg;
	}
	const OrtEpDevice *const *devs = NULL;
	size_t n = 0;
	msg = coop_status_message(((coopGetEpDevicesFn)coop_api[coopIdxGetEpDevices])(coop_env, &devs, &n));
	if (msg != NULL) {
		return msg;
	}
	const OrtEpDevice *pick = NULL;
	for (size_t i = 0; i < n; i++) {
		const char *name = ((coopEpDeviceEpNameFn)coop_api[coopIdxEpDevice_EpName])(devs[i]);
		const OrtHardwareDevice *hw = ((coopEpDeviceDeviceFn)coop_api[coopIdxEpDevice_Device])(devs[i]);
		if (name == NULL || strcmp(name, epName) != 0 || hw == NULL ||
			((coopHardwareDeviceTypeFn)coop_api[coopIdxHardwareDevice_Type])(hw) != coopHardwareDeviceGPU) {
			continue;
		}
		if (*found == ordinal) {
			pick = devs[i];
		}
		(*found)++;
	}
	if (pick == NULL) {
		return NULL;
	}
	return coop_status_message(((coopAppendEpV2Fn)coop_api[coopIdxSessionOptionsAppendExecutionProvider_V2])(
		(OrtSessionOptions *)opts, coop_env, &pick, 1, keys, vals, nopts));
}

// coop_bind finds the OrtApi of the already loaded library at path. It
// returns NULL on success or a static error message.
static const char *coop_bind(const char *path) {
	void *h = dlopen(path, RTLD_LAZY | RTLD_NOLOAD);
	if (h == NULL) {
		const char *msg = dlerror();
		return msg != NULL ? msg : "dlopen failed";
	}
	typedef const coopOrtApiBase *(*getBaseFn)(void);
	getBaseFn getBase = (getBaseFn)dlsym(h, "OrtGetApiBase");
	if (getBase == NULL) {
		return "no OrtGetApiBase symbol";
	}
	const void *api = getBase()->GetApi(coopOrtApiVersion);
	if (api == NULL) {
		return "library does not provide ORT API version 24";
	}
	coop_api = (void *const *)api;
	return NULL;
}

// coop_status_message converts a status into a malloc'd message (or NULL
// for success) and releases the status.
static char *coop_status_message(OrtStatus *st) {
	if (st == NULL) {
		return NULL;
	}
	const char *msg = ((coopGetErrorMessageFn)coop_api[coopIdxGetErrorMessage])(st);
	char *out = strdup(msg != NULL ? msg : "unknown ONNX Runtime error");
	((coopReleaseStatusFn)coop_api[coopIdxReleaseStatus])(st);
	return out;
}

static char *coop_set_deterministic(void *opts) {
	OrtStatus *st = ((coopSetDeterministicFn)coop_api[coopIdxSetDeterministicCompute])(
		(OrtSessionOptions *)opts, true);
	return coop_status_message(st);
}

static char *coop_create_tensor(void *mem, void *data, size_t len,
	const int64_t *shape, size_t rank, int elemType, void **out) {
	OrtValue *v = NULL;
	OrtStatus *st = ((coopCreateTensorFn)coop_api[coopIdxCreateTensorWithDataAsOrtValue])(
		(const OrtMemoryInfo *)mem, data, len, shape, rank, elemType, &v);
	*out = v;
	return coop_status_message(st);
}

static void coop_release_value(void *v) {
	((coopReleaseValueFn)coop_api[coopIdxReleaseValue])((OrtValue *)v);
}

static char *coop_create_run_options(void **out) {
	OrtRunOptions *o = NULL;
	OrtStatus *st = ((coopCreateRunOptionsFn)coop_api[coopIdxCreateRunOptions])(&o);
	*out = o;
	return coop_status_message(st);
}

static char *coop_run_options_terminate(void *o, bool terminate) {
	int idx = terminate ? coopIdxRunOptionsSetTerminate : coopIdxRunOptionsUnsetTerminate;
	return coop_status_message(((coopRunOptionsFlagFn)coop_api[idx])((OrtRunOptions *)o));
}

static void coop_release_run_options(void *o) {
	((coopReleaseRunOptionsFn)coop_api[coopIdxReleaseRunOptions])((OrtRunOptions *)o);
}

// coop_run_args holds everything one OrtApi::Run call needs. It lives in C
// memory, so passing it to C costs no pointer checks, and is reused from
// run to run.
typedef struct {
	OrtSession *session;
	OrtRunOptions *run_options;
	const char *const *in_names;
	OrtValue **in;
	size_t nin;
	const char *const *out_names;
	OrtValue **out;
	size_t nout;
	// ort_allocates[i] != 0: ONNX Runtime allocates output i, which is
	// released after the run (nobody reads it).
	unsigned char *ort_allocates;
} coop_run_args;

static char *coop_run(coop_run_args *a) {
	for (size_t i = 0; i < a->nout; i++) {
		if (a->ort_allocates[i]) {
			a->out[i] = NULL;
		}
	}
	OrtStatus *st = ((coopRunFn)coop_api[coopIdxRun])(a->session, a->run_options,
		a->in_names, (const OrtValue *const *)a->in, a->nin,
		a->out_names, a->nout, a->out);
	for (size_t i = 0; i < a->nout; i++) {
		if (a->ort_allocates[i] && a->out[i] != NULL) {
			((coopReleaseValueFn)coop_api[coopIdxReleaseValue])(a->out[i]);
			a->out[i] = NULL;
		}
	}
	return coop_status_message(st);
}
*/
import "C"

import (
	"errors"
	"fmt"
	"strings"
	"sync/atomic"
	"unsafe"

	ortgo "github.com/yalue/onnxruntime_go"
)

// The unsafe view below relies on onnxruntime_go v1.27.0's SessionOptions
// being a single C pointer, SessionOptions{o *C.OrtSessionOptions}. These
// array lengths fail to compile if it ever grows.
var (
	_ [unsafe.Sizeof(ortgo.SessionOptions{}) - unsafe.Sizeof(unsafe.Pointer(nil))]struct{}
	_ [unsafe.Sizeof(unsafe.Pointer(nil)) - unsafe.Sizeof(ortgo.SessionOptions{})]struct{}
)

// bindCAPI looks up the C API table of the library onnxruntime_go loaded.
func bindCAPI(path string) error {
	cpath := C.CString(path)
	defer C.free(unsafe.Pointer(cpath))
	if msg := C.coop_bind(cpath); msg != nil {
		return errors.New(C.GoString(msg))
	}
	return nil
}

func takeMessage(msg *C.char) error {
	if msg == nil {
		return nil
	}
	defer C.free(unsafe.Pointer(msg))
	return errors.New(strings.TrimSpace(C.GoString(msg)))
}

// registerEPLibrary loads the execution provider library at path, one of
// ONNX Runtime's plugin interface, under name (OrtApi::
// RegisterExecutionProviderLibrary).
func registerEPLibrary(name, path string) error {
	cname, cpath := C.CString(name), C.CString(path)
	defer C.free(unsafe.Pointer(cname))
	defer C.free(unsafe.Pointer(cpath))
	return takeMessage(C.coop_register_ep_library(cname, cpath))
}

// appendEPDevice appends to opts the ordinal-th GPU device that execution
// provider ep offers (OrtApi::SessionOptionsAppendExecutionProvider_V2),
// with the provider options given. It returns how many GPU devices ep
// offers; when ordinal is not below that, it appends nothing.
func appendEPDevice(opts *ortgo.SessionOptions, ep string, ordinal int, options map[string]string) (int, error) {
	raw := *(*unsafe.Pointer)(unsafe.Pointer(opts))
	cep := C.CString(ep)
	defer C.free(unsafe.Pointer(cep))
	keys := make([]*C.char, 0, len(options))
	vals := make([]*C.char, 0, len(options))
	for k, v := range options {
		keys, vals = append(keys, C.CString(k)), append(vals, C.CString(v))
	}
	defer func() {
		for i := range keys {
			C.free(unsafe.Pointer(keys[i]))
			C.free(unsafe.Pointer(vals[i]))
		}
	}()
	// The arrays of pointers go to C in C memory: cgo forbids passing Go
	// memory that holds pointers.
	ckeys := (**C.char)(C.malloc(C.size_t(len(keys)+1) * C.size_t(unsafe.Sizeof(uintptr(0)))))
	cvals := (**C.char)(C.malloc(C.size_t(len(vals)+1) * C.size_t(unsafe.Sizeof(uintptr(0)))))
	defer C.free(unsafe.Pointer(ckeys))
	defer C.free(unsafe.Pointer(cvals))
	copy(unsafe.Slice(ckeys, len(keys)), keys)
	copy(unsafe.Slice(cvals, len(vals)), vals)
	var found C.size_t
	msg := C.coop_append_ep_gpu(raw, cep, C.size_t(ordinal), ckeys, cvals, C.size_t(len(keys)), &found)
	return int(found), takeMessage(msg)
}

// setDeterministicCompute calls OrtApi::SetDeterministicCompute(opts, true).
func setDeterministicCompute(opts *ortgo.SessionOptions) error {
	raw := *(*unsafe.Pointer)(unsafe.Pointer(opts))
	return takeMessage(C.coop_set_deterministic(raw))
}

// createSession opens the ONNX model at path with opts through OrtApi::
// CreateSession in the process's environment (the one onnxruntime_go
// created: ONNX Runtime keeps one per process). coop runs sessions through
// the C API itself (coop_run), so it holds the OrtSession directly.
func createSession(path string, opts *ortgo.SessionOptions) (unsafe.Pointer, error) {
	raw := *(*unsafe.Pointer)(unsafe.Pointer(opts))
	cpath := C.CString(path)
	defer C.free(unsafe.Pointer(cpath))
	var s unsafe.Pointer
	if err := takeMessage(C.coop_create_session(cpath, raw, &s)); err != nil {
		return nil, err
	}
	return s, nil
}

// releaseSession releases an OrtSession of createSession.
func releaseSession(s unsafe.Pointer) { C.coop_release_session(s) }

// liveValues counts the OrtValues this package created and has not
// released yet; tests check that closing sessions brings it back.
var liveValues atomic.Int64

// newTensorValue creates an OrtValue of ONNX Runtime element type elem and
// the given shape (empty for rank 0) over size bytes at data, which must
// stay valid, and in place, until the value is released. data may be C
// memory or Go heap memory: Go's collector does not move heap objects, and
// the caller keeps the Go memory reachable for the value's lifetime.
func newTensorValue(mem unsafe.Pointer, elem ortgo.TensorElementDataType, shape []int64, data unsafe.Pointer, size int) (unsafe.Pointer, error) {
	var cshape *C.int64_t
	if len(shape) > 0 {
		cshape = (*C.int64_t)(unsafe.Pointer(unsafe.SliceData(shape)))
	}
	var value unsafe.Pointer
	msg := C.coop_create_tensor(mem, data, C.size_t(size), cshape, C.size_t(len(shape)), C.int(elem), &value)
	if err := takeMessage(msg); err != nil {
		return nil, err
	}
	liveValues.Add(1)
	return value, nil
}

func releaseValue(v unsafe.Pointer) {
	C.coop_release_value(v)
	liveValues.Add(-1)
}

// cAlloc returns size zeroed bytes of C memory (at least one, since
// malloc(0) may return NULL); cFree releases them.
func cAlloc(size int) (unsafe.Pointer, error) {
	p := C.calloc(1, C.size_t(max(size, 1)))
	if p == nil {
		return nil, fmt.Errorf("allocating %d bytes", size)
	}
	return p, nil
}

func cFree(p unsafe.Pointer) { C.free(p) }

// cStrings copies names into a C array of C strings; freeCStrings
// releases it.
func cStrings(names []string) unsafe.Pointer {
	arr := C.calloc(C.size_t(max(len(names), 1)), C.size_t(unsafe.Sizeof(uintptr(0))))
	ptrs := unsafe.Slice((**C.char)(arr), len(names))
	for i, n := range names {
		ptrs[i] = C.CString(n)
	}
	return arr
}

func freeCStrings(arr unsafe.Pointer, n int) {
	for _, p := range unsafe.Slice((**C.char)(arr), n) {
		C.free(unsafe.Pointer(p))
	}
	C.free(arr)
}

func newRunOptions() (unsafe.Pointer, error) {
	var o unsafe.Pointer
	if err := takeMessage(C.coop_create_run_options(&o)); err != nil {
		return nil, err
	}
	return o, nil
}

// setTerminate sets or clears the flag that makes ONNX Runtime stop a run
// using the options between two nodes; it is safe during the run.
func setTerminate(o unsafe.Pointer, terminate bool) error {
	return takeMessage(C.coop_run_options_terminate(o, C.bool(terminate)))
}

func releaseRunOptions(o unsafe.Pointer) { C.coop_release_run_options(o) }

// runArgs is the C block of one binding set's OrtApi::Run arguments; the
// in and out arrays follow it in the same allocation.
type runArgs struct {
	c   *C.coop_run_args
	in  []uintptr // OrtValue pointers, by input position
	out []uintptr // OrtValue pointers, by output position; 0 for outputs ONNX Runtime allocates
	// ortAllocates[i] != 0 makes ONNX Runtime allocate output i, which is
	// released after the run.
	ortAllocates []byte
}

// newRunArgs allocates the argument block for a session with the given
// C name arrays.
func newRunArgs(session, runOptions, inNames unsafe.Pointer, nin int, outNames unsafe.Pointer, nout int) (*runArgs, error) {
	const ptr = int(unsafe.Sizeof(uintptr(0)))
	head := (int(unsafe.Sizeof(C.coop_run_args{})) + ptr - 1) / ptr * ptr
	block, err := cAlloc(head + ptr*(nin+nout) + nout)
	if err != nil {
		return nil, err
	}
	c := (*C.coop_run_args)(block)
	inArr := unsafe.Add(block, head)
	outArr := unsafe.Add(inArr, ptr*nin)
	flags := unsafe.Add(outArr, ptr*nout)
	c.session = (*C.OrtSession)(session)
	c.run_options = (*C.OrtRunOptions)(runOptions)
	c.in_names = (**C.char)(inNames)
	c.in = (**C.OrtValue)(inArr)
	c.nin = C.size_t(nin)
	c.out_names = (**C.char)(outNames)
	c.out = (**C.OrtValue)(outArr)
	c.nout = C.size_t(nout)
	c.ort_allocates = (*C.uchar)(flags)
	return &runArgs{
		c:            c,
		in:           unsafe.Slice((*uintptr)(inArr), nin),
		out:          unsafe.Slice((*uintptr)(outArr), nout),
		ortAllocates: unsafe.Slice((*byte)(flags), nout),
	}, nil
}

// run calls OrtApi::Run with the arguments as they stand.
func (a *runArgs) run() error { return takeMessage(C.coop_run(a.c)) }

func (a *runArgs) free() {
	C.free(unsafe.Pointer(a.c))
	a.c = nil
}
