//go:build !purego

#include "textflag.h"
#include "go_asm.h"

// The AVX2 noise kernel. Every pair is the computation of Noise.pair in
// four 64-bit lanes: the same IEEE-754 double operations in the same order
// (separate multiplies and adds, no FMA, so every product is rounded as in
// the Go code; VDIVPD and VSQRTPD are correctly rounded like / and
// math.Sqrt), and exact integer and bit manipulation where the Go code
// converts between integers and floats. R8 points at the noiseVectors,
// SI at the noiseKernelKeys.

// Philox4x32-10 on four counters at once, one per 64-bit lane. Each 32-bit
// word lives in the low half of its lane; VPMULUDQ multiplies exactly those
// halves into the full 64-bit product. The high halves of the lanes are
// never cleaned: VPMULUDQ ignores them and WORDS53 drops them.

// The first round, with the pair index j in c0: the products of c2 are the
// same for every pair and were folded into the keys. Leaves c1 unset: it is
// lo(M1*c2), folded into the second round's key.
#define PHILOX_FIRST(c0, c1, c2, c3) \
	VPMULUDQ noiseVectors_philoxM0(R8), c0, c3; \
	VPSRLQ   $32, c0, c1; \
	VPXOR    0(SI), c1, c0; \
	VPSRLQ   $32, c3, c2; \
	VPXOR    32(SI), c2, c2

// The second round, whose c1 is in the key.
#define PHILOX_SECOND(c0, c2, c3, p0, p1) \
	VPMULUDQ noiseVectors_philoxM0(R8), c0, p0; \
	VPMULUDQ noiseVectors_philoxM1(R8), c2, p1; \
	VPSRLQ   $32, p1, c0; \
	VPXOR    64(SI), c0, c0; \
	VPSRLQ   $32, p0, c2; \
	VPXOR    c3, c2, c2; \
	VPXOR    96(SI), c2, c2

// A round with the keys at k(SI): the counter (c0, c1, c2, c3) becomes
// (c0, p1, c2, p0); c1 and c3 are free afterwards. The keys go into c1 and
// c3 first, off the chain through the products.
#define PHILOX_ROUND(c0, c1, c2, c3, p0, p1, k) \
	VPMULUDQ noiseVectors_philoxM0(R8), c0, p0; \
	VPMULUDQ noiseVectors_philoxM1(R8), c2, p1; \
	VPXOR    k(SI), c1, c1; \
	VPXOR    k+32(SI), c3, c3; \
	VPSRLQ   $32, p1, c0; \
	VPXOR    c1, c0, c0; \
	VPSRLQ   $32, p0, c2; \
	VPXOR    c3, c2, c2

// hi = (hi<<32 | lo&0xffffffff) >> 11, the 53-bit integer of two words.
#define WORDS53(lo, hi) \
	VPSLLQ   $32, hi, hi; \
	VPBLENDD $0x55, lo, hi, hi; \
	VPSRLQ   $11, hi, hi

// Radius, part one: from m1 to f and float64(e)*ln2 of detLog(u1) with
// u1 = (m1+1) * 2^-53. v = m1+1 <= 2^53 becomes a float64 exactly as
// 2^52 + lo + (2^84 + 2^32*hi - 2^84 - 2^52) for its 32-bit halves (the
// sum is exact because v is representable). u1 = v * 2^-53 exactly, so
// frexp(u1) is (f, e-53) for frexp(v) = (f, e): f is v's mantissa under
// the exponent of [0.5, 1) and e its biased exponent minus 1022. When
// f >= sqrt(1/2) (its mantissa field is above sqrtHalfM) f keeps that
// exponent, else it takes the exponent of [1, 2) and e drops by one, as in
// detLog. With ns = -1 for f >= sqrt(1/2), else 0, the final e is
// biased - 1076 - ns, made a float64 exactly as (2^52 + biased - ns) -
// (2^52 + 1076). m1 becomes f; e*ln2 goes to the stack slot eln2, which
// keeps registers free for the angle; e and t are scratch.
#define LOG_REDUCE(m1, e, t, eln2) \
	VPADDQ   noiseVectors_one(R8), m1, m1; \
	VPBLENDD $0xaa, noiseVectors_exp52(R8), m1, t; \
	VPSRLQ   $32, m1, m1; \
	VPOR     noiseVectors_exp84(R8), m1, m1; \
	VSUBPD   noiseVectors_exp84p52(R8), m1, m1; \
	VADDPD   t, m1, m1; \
	VPSRLQ   $52, m1, e; \
	VPAND    noiseVectors_mantissa(R8), m1, m1; \
	VPCMPGTQ noiseVectors_sqrtHalfM(R8), m1, t; \
	VPOR     noiseVectors_oneBits(R8), m1, m1; \
	VPSUBQ   t, e, e; \
	VPSLLQ   $52, t, t; \
	VPADDQ   t, m1, m1; \
	VPOR     noiseVectors_exp52(R8), e, e; \
	VSUBPD   noiseVectors_expBias(R8), e, e; \
	VMULPD   noiseVectors_ln2(R8), e, e; \
	VMOVUPD  e, eln2

// Radius, part two: s = (f-1)/(f+1), z = s*s, p = ln[11]*z + ln[10]; f is
// clobbered.
#define LOG_START(f, s, z, p) \
	VSUBPD noiseVectors_oneBits(R8), f, s; \
	VADDPD noiseVectors_oneBits(R8), f, f; \
	VDIVPD f, s, s; \
	VMULPD s, s, z; \
	VMULPD noiseVectors_ln+11*32(R8), z, p; \
	VADDPD noiseVectors_ln+10*32(R8), p, p

// acc = acc*x + c for the constant vector at offset c from R8: one step of
// the Horner schemes.
#define HORNER(c, x, acc) \
	VMULPD x, acc, acc; \
	VADDPD c(R8), acc, acc

// Radius, last part: r = sqrt(-2 * (e*ln2 + (2*s)*p)) into s.
#define LOG_FINISH(s, p, eln2) \
	VADDPD  s, s, s; \
	VMULPD  p, s, s; \
	VADDPD  eln2, s, s; \
	VMULPD  noiseVectors_minusTwo(R8), s, s; \
	VSQRTPD s, s

// Angle: q = (m2 + 2^50) >> 51 replaces m2; a = t * (pi/2) with
// t = (m2 - q*2^51) * 2^-51, the integer difference being the low 51 bits
// of m2 + 2^50, minus 2^50, made a float64 exactly through 2^52 + it.
// a goes to the stack slot aslot; w = a*a, S = sin[7]*w + sin[6] and
// C = cos[8]*w + cos[7] (into the register that held a).
#define ANGLE(m2, C, w, S, aslot) \
	VPADDQ  noiseVectors_half50(R8), m2, m2; \
	VPAND   noiseVectors_low51(R8), m2, C; \
	VPSRLQ  $51, m2, m2; \
	VPOR    noiseVectors_exp52(R8), C, C; \
	VSUBPD  noiseVectors_exp52p50(R8), C, C; \
	VMULPD  noiseVectors_twoM51(R8), C, C; \
	VMULPD  noiseVectors_halfPi(R8), C, C; \
	VMULPD  C, C, w; \
	VMOVUPD C, aslot; \
	VMULPD  noiseVectors_sin+7*32(R8), w, S; \
	VADDPD  noiseVectors_sin+6*32(R8), S, S; \
	VMULPD  noiseVectors_cos+8*32(R8), w, C; \
	VADDPD  noiseVectors_cos+7*32(R8), C, C

// sin a = a + a*(w*S), cos a = 1 + w*C; then the quadrant q: (cos, sin)
// becomes (cos, sin), (-sin, cos), (-cos, -sin) or (sin, -cos) for q mod 4
// = 0 to 3, that is: swap when q is odd, negate the sine when q&2 and the
// cosine when (q+1)&2. Then x = r*cos into x and y = r*sin into y. q, S
// and C are clobbered.
#define SINCOS_FINISH(q, r, w, S, C, aslot, x, y) \
	VMULPD    w, S, S; \
	VMULPD    aslot, S, S; \
	VADDPD    aslot, S, S; \
	VMULPD    w, C, C; \
	VADDPD    noiseVectors_oneBits(R8), C, C; \
	VPSLLQ    $63, q, x; \
	VBLENDVPD x, C, S, y; \
	VBLENDVPD x, S, C, x; \
	VPSLLQ    $62, q, S; \
	VPAND     noiseVectors_sign(R8), S, S; \
	VXORPD    S, y, y; \
	VPADDQ    noiseVectors_one(R8), q, q; \
	VPSLLQ    $62, q, q; \
	VPAND     noiseVectors_sign(R8), q, q; \
	VXORPD    q, x, x; \
	VMULPD    r, x, x; \
	VMULPD    r, y, y

// The Horner steps of one group after LOG_START and ANGLE: p (with z) has
// ten to go, S (with w) six and C (with w) seven. Interleaved, so that the
// three chains overlap.
#define HORNER_ONE(z, p, w, S, C) \
	HORNER(noiseVectors_ln+9*32, z, p); HORNER(noiseVectors_sin+5*32, w, S); HORNER(noiseVectors_cos+6*32, w, C); \
	HORNER(noiseVectors_ln+8*32, z, p); HORNER(noiseVectors_sin+4*32, w, S); HORNER(noiseVectors_cos+5*32, w, C); \
	HORNER(noiseVectors_ln+7*32, z, p); HORNER(noiseVectors_sin+3*32, w, S); HORNER(noiseVectors_cos+4*32, w, C); \
	HORNER(noiseVectors_ln+6*32, z, p); HORNER(noiseVectors_sin+2*32, w, S); HORNER(noiseVectors_cos+3*32, w, C); \
	HORNER(noiseVectors_ln+5*32, z, p); HORNER(noiseVectors_sin+1*32, w, S); HORNER(noiseVectors_cos+2*32, w, C); \
	HORNER(noiseVectors_ln+4*32, z, p); HORNER(noiseVectors_sin+0*32, w, S); HORNER(noiseVectors_cos+1*32, w, C); \
	HORNER(noiseVectors_ln+3*32, z, p); HORNER(noiseVectors_cos+0*32, w, C); \
	HORNER(noiseVectors_ln+2*32, z, p); \
	HORNER(noiseVectors_ln+1*32, z, p); \
	HORNER(noiseVectors_ln+0*32, z, p)

// The same for two groups, step by step.
#define HORNER_TWO(z, p, w, S, C, z2, p2, w2, S2, C2) \
	HORNER(noiseVectors_ln+9*32, z, p); HORNER(noiseVectors_ln+9*32, z2, p2); \
	HORNER(noiseVectors_sin+5*32, w, S); HORNER(noiseVectors_sin+5*32, w2, S2); \
	HORNER(noiseVectors_cos+6*32, w, C); HORNER(noiseVectors_cos+6*32, w2, C2); \
	HORNER(noiseVectors_ln+8*32, z, p); HORNER(noiseVectors_ln+8*32, z2, p2); \
	HORNER(noiseVectors_sin+4*32, w, S); HORNER(noiseVectors_sin+4*32, w2, S2); \
	HORNER(noiseVectors_cos+5*32, w, C); HORNER(noiseVectors_cos+5*32, w2, C2); \
	HORNER(noiseVectors_ln+7*32, z, p); HORNER(noiseVectors_ln+7*32, z2, p2); \
	HORNER(noiseVectors_sin+3*32, w, S); HORNER(noiseVectors_sin+3*32, w2, S2); \
	HORNER(noiseVectors_cos+4*32, w, C); HORNER(noiseVectors_cos+4*32, w2, C2); \
	HORNER(noiseVectors_ln+6*32, z, p); HORNER(noiseVectors_ln+6*32, z2, p2); \
	HORNER(noiseVectors_sin+2*32, w, S); HORNER(noiseVectors_sin+2*32, w2, S2); \
	HORNER(noiseVectors_cos+3*32, w, C); HORNER(noiseVectors_cos+3*32, w2, C2); \
	HORNER(noiseVectors_ln+5*32, z, p); HORNER(noiseVectors_ln+5*32, z2, p2); \
	HORNER(noiseVectors_sin+1*32, w, S); HORNER(noiseVectors_sin+1*32, w2, S2); \
	HORNER(noiseVectors_cos+2*32, w, C); HORNER(noiseVectors_cos+2*32, w2, C2); \
	HORNER(noiseVectors_ln+4*32, z, p); HORNER(noiseVectors_ln+4*32, z2, p2); \
	HORNER(noiseVectors_sin+0*32, w, S); HORNER(noiseVectors_sin+0*32, w2, S2); \
	HORNER(noiseVectors_cos+1*32, w, C); HORNER(noiseVectors_cos+1*32, w2, C2); \
	HORNER(noiseVectors_ln+3*32, z, p); HORNER(noiseVectors_ln+3*32, z2, p2); \
	HORNER(noiseVectors_cos+0*32, w, C); HORNER(noiseVectors_cos+0*32, w2, C2); \
	HORNER(noiseVectors_ln+2*32, z, p); HORNER(noiseVectors_ln+2*32, z2, p2); \
	HORNER(noiseVectors_ln+1*32, z, p); HORNER(noiseVectors_ln+1*32, z2, p2); \
	HORNER(noiseVectors_ln+0*32, z, p); HORNER(noiseVectors_ln+0*32, z2, p2)

// func gaussianPairsAVX2(dst *float32, blocks int, j uint64, keys *noiseKernelKeys, vec *noiseVectors)
//
// blocks must be at least one. Chunks of up to CHUNK_BLOCKS blocks of
// eight pairs go through two passes: Philox writes the chunk's m1 and m2 to
// the stack, then Box-Muller reads them. The shorter loop of the second
// pass lets the processor overlap more of the long dependency chains (a
// division, twelve multiply-adds and a square root) of consecutive
// iterations than one loop doing both (about 6% faster on Zen 4). Each
// iteration does two groups of four pairs, each stage of group A next to
// the same stage of group B. Philox: A in Y0-Y5, B in Y6-Y11. Box-Muller:
// A in Y0-Y5 and Y12, B in Y6-Y11 and Y13, each with two stack slots
// (e*ln2 and a) below the chunk's buffer.
#define CHUNK_BLOCKS 8
#define SLOTS 128
TEXT ·gaussianPairsAVX2(SB), $1152-40
	MOVQ dst+0(FP), DI
	MOVQ blocks+8(FP), CX
	MOVQ j+16(FP), AX
	MOVQ keys+24(FP), SI
	MOVQ vec+32(FP), R8

chunk:
	// R10 = min(CX, CHUNK_BLOCKS) blocks in this chunk, R11 counts them.
	MOVQ    $CHUNK_BLOCKS, R10
	CMPQ    CX, R10
	CMOVQLT CX, R10
	SUBQ    R10, CX
	MOVQ    R10, R11
	LEAQ    SLOTS(SP), R9

philox:
	VMOVQ        AX, X12
	VPBROADCASTQ X12, Y12
	VPADDQ       noiseVectors_lanes(R8), Y12, Y0
	VPADDQ       noiseVectors_lanes+32(R8), Y12, Y6

	PHILOX_FIRST(Y0, Y1, Y2, Y3)
	PHILOX_FIRST(Y6, Y7, Y8, Y9)
	PHILOX_SECOND(Y0, Y2, Y3, Y4, Y5)
	PHILOX_SECOND(Y6, Y8, Y9, Y10, Y11)
	PHILOX_ROUND(Y0, Y5, Y2, Y4, Y1, Y3, 128)
	PHILOX_ROUND(Y6, Y11, Y8, Y10, Y7, Y9, 128)
	PHILOX_ROUND(Y0, Y3, Y2, Y1, Y4, Y5, 192)
	PHILOX_ROUND(Y6, Y9, Y8, Y7, Y10, Y11, 192)
	PHILOX_ROUND(Y0, Y5, Y2, Y4, Y1, Y3, 256)
	PHILOX_ROUND(Y6, Y11, Y8, Y10, Y7, Y9, 256)
	PHILOX_ROUND(Y0, Y3, Y2, Y1, Y4, Y5, 320)
	PHILOX_ROUND(Y6, Y9, Y8, Y7, Y10, Y11, 320)
	PHILOX_ROUND(Y0, Y5, Y2, Y4, Y1, Y3, 384)
	PHILOX_ROUND(Y6, Y11, Y8, Y10, Y7, Y9, 384)
	PHILOX_ROUND(Y0, Y3, Y2, Y1, Y4, Y5, 448)
	PHILOX_ROUND(Y6, Y9, Y8, Y7, Y10, Y11, 448)
	PHILOX_ROUND(Y0, Y5, Y2, Y4, Y1, Y3, 512)
	PHILOX_ROUND(Y6, Y11, Y8, Y10, Y7, Y9, 512)
	PHILOX_ROUND(Y0, Y3, Y2, Y1, Y4, Y5, 576)
	PHILOX_ROUND(Y6, Y9, Y8, Y7, Y10, Y11, 576)

	// (x0, x1, x2, x3) is (Y0, Y5, Y2, Y4) in A, (Y6, Y11, Y8, Y10) in B.
	WORDS53(Y0, Y5)
	WORDS53(Y2, Y4)
	WORDS53(Y6, Y11)
	WORDS53(Y8, Y10)
	VMOVDQU Y5, 0(R9)
	VMOVDQU Y4, 32(R9)
	VMOVDQU Y11, 64(R9)
	VMOVDQU Y10, 96(R9)

	ADDQ $128, R9
	ADDQ $8, AX
	DECQ R11
	JNZ  philox

	LEAQ SLOTS(SP), R9

boxmuller:
	VMOVDQU 0(R9), Y5
	VMOVDQU 32(R9), Y4
	VMOVDQU 64(R9), Y11
	VMOVDQU 96(R9), Y10

	LOG_REDUCE(Y5, Y0, Y1, 0(SP))
	LOG_REDUCE(Y11, Y6, Y7, 64(SP))
	LOG_START(Y5, Y0, Y1, Y2)
	LOG_START(Y11, Y6, Y7, Y8)
	ANGLE(Y4, Y5, Y3, Y12, 32(SP))
	ANGLE(Y10, Y11, Y9, Y13, 96(SP))
	HORNER_TWO(Y1, Y2, Y3, Y12, Y5, Y7, Y8, Y9, Y13, Y11)
	LOG_FINISH(Y0, Y2, 0(SP))
	LOG_FINISH(Y6, Y8, 64(SP))
	SINCOS_FINISH(Y4, Y0, Y3, Y12, Y5, 32(SP), Y1, Y2)
	SINCOS_FINISH(Y10, Y6, Y9, Y13, Y11, 96(SP), Y7, Y8)

	// x and y to float32, interleaved: x0 y0 x1 y1 ...
	VCVTPD2PSY Y1, X1
	VCVTPD2PSY Y2, X2
	VUNPCKLPS  X2, X1, X0
	VUNPCKHPS  X2, X1, X3
	VMOVUPS    X0, 0(DI)
	VMOVUPS    X3, 16(DI)
	VCVTPD2PSY Y7, X7
	VCVTPD2PSY Y8, X8
	VUNPCKLPS  X8, X7, X6
	VUNPCKHPS  X8, X7, X9
	VMOVUPS    X6, 32(DI)
	VMOVUPS    X9, 48(DI)

	ADDQ $64, DI
	ADDQ $128, R9
	DECQ R10
	JNZ  boxmuller

	TESTQ CX, CX
	JNZ   chunk
	VZEROUPPER
	RET

// func gaussianPairs64AVX2(m1, m2 *[4]uint64, x, y *[4]float64, vec *noiseVectors)
TEXT ·gaussianPairs64AVX2(SB), NOSPLIT, $64-40
	MOVQ    m1+0(FP), AX
	VMOVDQU (AX), Y5
	MOVQ    m2+8(FP), AX
	VMOVDQU (AX), Y4
	MOVQ    vec+32(FP), R8

	LOG_REDUCE(Y5, Y0, Y1, 0(SP))
	LOG_START(Y5, Y0, Y1, Y2)
	ANGLE(Y4, Y5, Y3, Y12, 32(SP))
	HORNER_ONE(Y1, Y2, Y3, Y12, Y5)
	LOG_FINISH(Y0, Y2, 0(SP))
	SINCOS_FINISH(Y4, Y0, Y3, Y12, Y5, 32(SP), Y1, Y2)

	MOVQ    x+16(FP), AX
	VMOVUPD Y1, (AX)
	MOVQ    y+24(FP), AX
	VMOVUPD Y2, (AX)
	VZEROUPPER
	RET
