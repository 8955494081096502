package ort

// This file reaches the ONNX Runtime C API directly for the few things
// onnxruntime_go v1.27.0 does not expose: OrtApi::SetDeterministicCompute,
// and tensors of rank 0 whose element type has no Go counterpart (float16),
// which its Shape validation and generic Scalar type cannot express.
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

typedef struct {
	const void *(*GetApi)(uint32_t version);
	const char *(*GetVersionString)(void);
} coopOrtApiBase;

enum {
	coopOrtApiVersion = 24,
	coopIdxGetErrorMessage = 2,
	coopIdxCreateTensorWithDataAsOrtValue = 49,
	coopIdxReleaseStatus = 93,
	coopIdxReleaseValue = 96,
	coopIdxSetDeterministicCompute = 273,
};

typedef const char *(*coopGetErrorMessageFn)(const OrtStatus *);
typedef void (*coopReleaseStatusFn)(OrtStatus *);
typedef void (*coopReleaseValueFn)(OrtValue *);
typedef OrtStatus *(*coopCreateTensorFn)(const OrtMemoryInfo *, void *, size_t,
	const int64_t *, size_t, int, OrtValue **);
typedef OrtStatus *(*coopSetDeterministicFn)(OrtSessionOptions *, bool);

static void *const *coop_api;

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
*/
import "C"

import (
	"errors"
	"fmt"
	"unsafe"

	ortgo "github.com/yalue/onnxruntime_go"
)

// The unsafe views below rely on two onnxruntime_go v1.27.0 types being a
// single C pointer: SessionOptions{o *C.OrtSessionOptions} and
// ValueInternalData{ortValue *C.OrtValue}. These array lengths fail to
// compile if either ever grows.
var (
	_ [unsafe.Sizeof(ortgo.SessionOptions{}) - unsafe.Sizeof(unsafe.Pointer(nil))]struct{}
	_ [unsafe.Sizeof(unsafe.Pointer(nil)) - unsafe.Sizeof(ortgo.SessionOptions{})]struct{}
	_ [unsafe.Sizeof(ortgo.ValueInternalData{}) - unsafe.Sizeof(unsafe.Pointer(nil))]struct{}
	_ [unsafe.Sizeof(unsafe.Pointer(nil)) - unsafe.Sizeof(ortgo.ValueInternalData{})]struct{}
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
	return errors.New(C.GoString(msg))
}

// setDeterministicCompute calls OrtApi::SetDeterministicCompute(opts, true).
func setDeterministicCompute(opts *ortgo.SessionOptions) error {
	raw := *(*unsafe.Pointer)(unsafe.Pointer(opts))
	return takeMessage(C.coop_set_deterministic(raw))
}

// cValue is a tensor whose data lives in C memory, created through the C
// API. It satisfies ortgo.Value only as far as DynamicAdvancedSession.Run
// uses it (GetInternals); the embedded interface is nil, so any other method
// would panic, and nothing outside this package ever sees a cValue.
type cValue struct {
	ortgo.Value
	internals *ortgo.ValueInternalData
	data      unsafe.Pointer
	size      int
}

// newCValue creates a tensor of ONNX element type elem and the given shape
// (nil or empty for rank 0) over size zeroed bytes of C memory.
func newCValue(elem ortgo.TensorElementDataType, shape []int64, size int) (*cValue, error) {
	mem, err := ortgo.GetMemoryInfo()
	if err != nil {
		return nil, err
	}
	alloc := size
	if alloc == 0 {
		alloc = 1 // malloc(0) may return NULL
	}
	data := C.calloc(1, C.size_t(alloc))
	if data == nil {
		return nil, fmt.Errorf("allocating %d bytes for a tensor", size)
	}
	var cshape *C.int64_t
	if len(shape) > 0 {
		cshape = (*C.int64_t)(C.malloc(C.size_t(8 * len(shape))))
		defer C.free(unsafe.Pointer(cshape))
		copy(unsafe.Slice((*int64)(unsafe.Pointer(cshape)), len(shape)), shape)
	}
	var value unsafe.Pointer
	msg := C.coop_create_tensor(unsafe.Pointer(mem), data, C.size_t(size), cshape, C.size_t(len(shape)), C.int(elem), &value)
	if err := takeMessage(msg); err != nil {
		C.free(data)
		return nil, err
	}
	holder := &struct{ p unsafe.Pointer }{value}
	return &cValue{
		internals: (*ortgo.ValueInternalData)(unsafe.Pointer(holder)),
		data:      data,
		size:      size,
	}, nil
}

// Bytes returns the tensor's data.
func (v *cValue) Bytes() []byte { return unsafe.Slice((*byte)(v.data), v.size) }

func (v *cValue) GetInternals() *ortgo.ValueInternalData { return v.internals }

// Destroy releases the OrtValue and its data.
func (v *cValue) Destroy() error {
	if v.internals != nil {
		C.coop_release_value(*(*unsafe.Pointer)(unsafe.Pointer(v.internals)))
		v.internals = nil
	}
	if v.data != nil {
		C.free(v.data)
		v.data = nil
	}
	return nil
}
