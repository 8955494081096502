package ort

// The F16C instructions of x86-64 processors convert eight values at a
// time between float32 and binary16, about ten times faster than the Go
// loops. A package that uses cgo cannot hold Go assembly, so they are
// reached through C intrinsics; a cgo call costs tens of nanoseconds, and
// only conversions of at least f16cMin values take this way.

/*
#include <stddef.h>
#include <stdint.h>

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#include <cpuid.h>
#include <immintrin.h>

// coop_has_f16c reports whether the processor has F16C and AVX and the
// operating system saves the YMM registers (XCR0 bits 1 and 2).
static int coop_has_f16c(void) {
	unsigned a, b, c, d;
	if (!__get_cpuid(1, &a, &b, &c, &d)) {
		return 0;
	}
	const unsigned osxsave = 1u << 27, avx = 1u << 28, f16c = 1u << 29;
	if ((c & (osxsave | avx | f16c)) != (osxsave | avx | f16c)) {
		return 0;
	}
	unsigned lo, hi;
	__asm__ volatile("xgetbv" : "=a"(lo), "=d"(hi) : "c"(0));
	return (lo & 6) == 6;
}

// coop_to_half and coop_from_half convert the first n values, n a
// multiple of 8. VCVTPS2PH with _MM_FROUND_TO_NEAREST_INT rounds to
// nearest even whatever MXCSR says and keeps NaN payloads with the quiet
// bit set; neither instruction flushes subnormals (MXCSR's FTZ does not
// apply to them and Go leaves DAZ off). Those are float16's conversions,
// which half_test.go checks bit for bit.
__attribute__((target("avx,f16c")))
static void coop_to_half(uint16_t *dst, const float *src, size_t n) {
	for (size_t i = 0; i < n; i += 8) {
		__m128i h = _mm256_cvtps_ph(_mm256_loadu_ps(src + i), _MM_FROUND_TO_NEAREST_INT);
		_mm_storeu_si128((__m128i *)(dst + i), h);
	}
}

__attribute__((target("avx,f16c")))
static void coop_from_half(float *dst, const uint16_t *src, size_t n) {
	for (size_t i = 0; i < n; i += 8) {
		__m128i h = _mm_loadu_si128((const __m128i *)(src + i));
		_mm256_storeu_ps(dst + i, _mm256_cvtph_ps(h));
	}
}
#else
static int coop_has_f16c(void) { return 0; }
static void coop_to_half(uint16_t *dst, const float *src, size_t n) {}
static void coop_from_half(float *dst, const uint16_t *src, size_t n) {}
#endif
*/
import "C"

// hasF16C reports whether this machine converts with F16C.
var hasF16C = C.coop_has_f16c() != 0

// useF16C selects the F16C conversions; tests turn it off to check the Go
// ones.
var useF16C = hasF16C

// f16cMin is the least number of values converted with F16C, below which
// the cgo call would cost more than it saves.
const f16cMin = 64

// toHalfF16C converts the first len(src) rounded down to a multiple of 8
// values of src into dst and returns how many, or 0 when src is too short
// to be worth it.
func toHalfF16C(dst []uint16, src []float32) int {
	n := len(src) &^ 7
	if n < f16cMin {
		return 0
	}
	_ = dst[n-1]
	C.coop_to_half((*C.uint16_t)(&dst[0]), (*C.float)(&src[0]), C.size_t(n))
	return n
}

// fromHalfF16C is toHalfF16C's converse.
func fromHalfF16C(dst []float32, src []uint16) int {
	n := len(src) &^ 7
	if n < f16cMin {
		return 0
	}
	_ = dst[n-1]
	C.coop_from_half((*C.float)(&dst[0]), (*C.uint16_t)(&src[0]), C.size_t(n))
	return n
}
