//go:build !purego

#include "textflag.h"

// The sampler kernels work as the elementwise ones do (see
// elementwise_amd64.s): four float32 widened to float64 at a time
// (VCVTPS2PD), the Go versions' IEEE operations in their order, never
// fused, and one rounding to float32 (VCVTPD2PS) per output. The main
// loops take 8 samples (16 for AXPBYPCZ, which needs fewer registers), the
// second loops 4; the Go callers take the last 0 to 3. AX indexes the
// samples, BX ends the main blocks, CX the 4-sample ones.
//
// The clamp of X0Blend and X0EpsBlend is math.Max(-r, math.Min(r, v)) for
// r > 0: VMINPD and VMAXPD return their second source where it is NaN and
// agree with math.Min and math.Max elsewhere (r > 0 leaves no pair of
// zeros to tell apart), and a blend then puts math.NaN()'s bits, which
// math.Min and math.Max return for any NaN, where v was NaN.

// nan64 is math.NaN().
DATA nan64<>+0(SB)/8, $0x7ff8000000000001
GLOBL nan64<>(SB), RODATA|NOPTR, $8

// sign64 is the sign bit of a float64.
DATA sign64<>+0(SB)/8, $0x8000000000000000
GLOBL sign64<>(SB), RODATA|NOPTR, $8

// BLOCKS8 splits the CX samples into BX in blocks of 8 and CX in blocks
// of 4, and zeroes the index AX.
#define BLOCKS8 \
	XORQ AX, AX;  \
	MOVQ CX, BX;  \
	ANDQ $-8, BX; \
	ANDQ $-4, CX

// BLOCKS16 is BLOCKS8 with blocks of 16.
#define BLOCKS16 \
	XORQ AX, AX;   \
	MOVQ CX, BX;   \
	ANDQ $-16, BX; \
	ANDQ $-4, CX

// DPMX0 loads samples AX+off/4 to AX+off/4+3 of x (SI) into z and sets m
// to the x0 estimate (x - eps·sigma)·inv, with eps at DX.
#define DPMX0(off, z, m, sigma, inv) \
	VCVTPS2PD off(SI)(AX*4), z; \
	VCVTPS2PD off(DX)(AX*4), m; \
	VMULPD    sigma, m, m;      \
	VSUBPD    m, z, m;          \
	VMULPD    inv, m, m

// STORE rounds v to float32 through xt and stores it at byte off of
// sample AX of base.
#define STORE(v, xt, off, base) \
	VCVTPD2PSY v, xt; \
	VMOVUPS    xt, off(base)(AX*4)

// DPM1 is one group of four samples of dpmSolverFirstOrderAVX2: x0 = m,
// dst = z·cx + m·cd, with cx in Y14 and cd in Y15.
#define DPM1(off, z, m, t, xm, xz) \
	DPMX0(off, z, m, Y12, Y13); \
	VMULPD Y15, m, t;           \
	STORE(m, xm, off, R8);      \
	VMULPD Y14, z, z;           \
	VADDPD t, z, z;             \
	STORE(z, xz, off, DI)

// func dpmSolverFirstOrderAVX2(dst, x0, x, eps []float32, sigma, invAlpha, cx, cd float64)
TEXT ·dpmSolverFirstOrderAVX2(SB), NOSPLIT, $0-128
	MOVQ         dst_base+0(FP), DI
	MOVQ         dst_len+8(FP), CX
	MOVQ         x0_base+24(FP), R8
	MOVQ         x_base+48(FP), SI
	MOVQ         eps_base+72(FP), DX
	VBROADCASTSD sigma+96(FP), Y12
	VBROADCASTSD invAlpha+104(FP), Y13
	VBROADCASTSD cx+112(FP), Y14
	VBROADCASTSD cd+120(FP), Y15
	BLOCKS8

dpm1Loop8:
	CMPQ AX, BX
	JEQ  dpm1Loop4
	DPM1(0, Y0, Y1, Y2, X1, X0)
	DPM1(16, Y3, Y4, Y5, X4, X3)
	ADDQ $8, AX
	JMP  dpm1Loop8

dpm1Loop4:
	CMPQ AX, CX
	JEQ  dpm1Done
	DPM1(0, Y0, Y1, Y2, X1, X0)
	ADDQ $4, AX
	JMP  dpm1Loop4

dpm1Done:
	VZEROUPPER
	RET

// DPM2 is one group of four samples of dpmSolverSecondOrderAVX2: with the
// previous x0 in p, d = m + (m - p)·k, x0 = m, dst = z·cx + d·cd, with k
// in Y13, cx in Y14 and cd in Y15.
#define DPM2(off, z, m, p, xm, xz) \
	DPMX0(off, z, m, Y11, Y12);  \
	VCVTPS2PD off(R8)(AX*4), p;  \
	VSUBPD    p, m, p;           \
	VMULPD    Y13, p, p;         \
	VADDPD    p, m, p;           \
	STORE(m, xm, off, R8);       \
	VMULPD    Y14, z, z;         \
	VMULPD    Y15, p, p;         \
	VADDPD    p, z, z;           \
	STORE(z, xz, off, DI)

// func dpmSolverSecondOrderAVX2(dst, x0, x, eps []float32, sigma, invAlpha, k, cx, cd float64)
TEXT ·dpmSolverSecondOrderAVX2(SB), NOSPLIT, $0-136
	MOVQ         dst_base+0(FP), DI
	MOVQ         dst_len+8(FP), CX
	MOVQ         x0_base+24(FP), R8
	MOVQ         x_base+48(FP), SI
	MOVQ         eps_base+72(FP), DX
	VBROADCASTSD sigma+96(FP), Y11
	VBROADCASTSD invAlpha+104(FP), Y12
	VBROADCASTSD k+112(FP), Y13
	VBROADCASTSD cx+120(FP), Y14
	VBROADCASTSD cd+128(FP), Y15
	BLOCKS8

dpm2Loop8:
	CMPQ AX, BX
	JEQ  dpm2Loop4
	DPM2(0, Y0, Y1, Y2, X1, X0)
	DPM2(16, Y3, Y4, Y5, X4, X3)
	ADDQ $8, AX
	JMP  dpm2Loop8

dpm2Loop4:
	CMPQ AX, CX
	JEQ  dpm2Done
	DPM2(0, Y0, Y1, Y2, X1, X0)
	ADDQ $4, AX
	JMP  dpm2Loop4

dpm2Done:
	VZEROUPPER
	RET

// AXPBYPCZ4 is one group of four samples of axpbypczAVX2: dst = (x·a +
// y·b) + z·c, with x, y, z at SI, DX, R9 and a, b, c in Y13, Y14, Y15.
#define AXPBYPCZ4(off, u, v, xu) \
	VCVTPS2PD off(SI)(AX*4), u; \
	VCVTPS2PD off(DX)(AX*4), v; \
	VMULPD    Y13, u, u;        \
	VMULPD    Y14, v, v;        \
	VADDPD    v, u, u;          \
	VCVTPS2PD off(R9)(AX*4), v; \
	VMULPD    Y15, v, v;        \
	VADDPD    v, u, u;          \
	STORE(u, xu, off, DI)

// func axpbypczAVX2(dst []float32, a float64, x []float32, b float64, y []float32, c float64, z []float32)
TEXT ·axpbypczAVX2(SB), NOSPLIT, $0-120
	MOVQ         dst_base+0(FP), DI
	MOVQ         dst_len+8(FP), CX
	MOVQ         x_base+32(FP), SI
	MOVQ         y_base+64(FP), DX
	MOVQ         z_base+96(FP), R9
	VBROADCASTSD a+24(FP), Y13
	VBROADCASTSD b+56(FP), Y14
	VBROADCASTSD c+88(FP), Y15
	BLOCKS16

axpbypczLoop16:
	CMPQ AX, BX
	JEQ  axpbypczLoop4
	AXPBYPCZ4(0, Y0, Y1, X0)
	AXPBYPCZ4(16, Y2, Y3, X2)
	AXPBYPCZ4(32, Y4, Y5, X4)
	AXPBYPCZ4(48, Y6, Y7, X6)
	ADDQ $16, AX
	JMP  axpbypczLoop16

axpbypczLoop4:
	CMPQ AX, CX
	JEQ  axpbypczDone
	AXPBYPCZ4(0, Y0, Y1, X0)
	ADDQ $4, AX
	JMP  axpbypczLoop4

axpbypczDone:
	VZEROUPPER
	RET

// The x0 kernels keep alpha, sigma, r, -r, math.NaN(), a, b, p and q in
// Y7 to Y15 and their flags in R10 (1: clamp, 2: re-noise), with x, eps,
// noise and dst at SI, DX, R8 and DI.

// X0 loads samples of x into z and sets x0 = (x - eps·sigma)/alpha.
#define X0(off, z, x0) \
	VCVTPS2PD off(SI)(AX*4), z; \
	VCVTPS2PD off(DX)(AX*4), x0; \
	VMULPD    Y8, x0, x0;        \
	VSUBPD    x0, z, x0;         \
	VDIVPD    Y7, x0, x0

// CLAMP sets x0 = max(-r, min(r, x0)), math.NaN() where x0 is NaN, using
// t. (VCMPPD predicate 3 is unordered: true for NaN.)
#define CLAMP(x0, t) \
	VCMPPD    $3, x0, x0, t;   \
	VMINPD    x0, Y9, x0;      \
	VMAXPD    x0, Y10, x0;     \
	VBLENDVPD t, Y11, x0, x0

// RENOISE sets v = v·p + noise·q, using t.
#define RENOISE(off, v, t) \
	VMULPD    Y14, v, v;         \
	VCVTPS2PD off(R8)(AX*4), t;  \
	VMULPD    Y15, t, t;         \
	VADDPD    t, v, v

// BLEND sets x0 = x0·a + z·b.
#define BLEND(z, x0) \
	VMULPD Y12, x0, x0; \
	VMULPD Y13, z, z;   \
	VADDPD z, x0, x0

// func x0BlendAVX2(dst, x, eps, noise []float32, alpha, sigma, r, a, b, p, q float64, flags int)
//
// dst = x0·a + x·b, re-noised to (x0·a + x·b)·p + noise·q.
TEXT ·x0BlendAVX2(SB), NOSPLIT, $0-160
	MOVQ         dst_base+0(FP), DI
	MOVQ         dst_len+8(FP), CX
	MOVQ         x_base+24(FP), SI
	MOVQ         eps_base+48(FP), DX
	MOVQ         noise_base+72(FP), R8
	VBROADCASTSD alpha+96(FP), Y7
	VBROADCASTSD sigma+104(FP), Y8
	VBROADCASTSD r+112(FP), Y9
	VBROADCASTSD sign64<>(SB), Y10
	VXORPD       Y9, Y10, Y10
	VBROADCASTSD nan64<>(SB), Y11
	VBROADCASTSD a+120(FP), Y12
	VBROADCASTSD b+128(FP), Y13
	VBROADCASTSD p+136(FP), Y14
	VBROADCASTSD q+144(FP), Y15
	MOVQ         flags+152(FP), R10
	BLOCKS8

x0BlendLoop8:
	CMPQ  AX, BX
	JEQ   x0BlendLoop4
	X0(0, Y0, Y1)
	X0(16, Y3, Y4)
	TESTQ $1, R10
	JZ    x0BlendBlend8
	CLAMP(Y1, Y2)
	CLAMP(Y4, Y5)

x0BlendBlend8:
	BLEND(Y0, Y1)
	BLEND(Y3, Y4)
	TESTQ $2, R10
	JZ    x0BlendStore8
	RENOISE(0, Y1, Y2)
	RENOISE(16, Y4, Y5)

x0BlendStore8:
	STORE(Y1, X1, 0, DI)
	STORE(Y4, X4, 16, DI)
	ADDQ  $8, AX
	JMP   x0BlendLoop8

x0BlendLoop4:
	CMPQ  AX, CX
	JEQ   x0BlendDone
	X0(0, Y0, Y1)
	TESTQ $1, R10
	JZ    x0BlendBlend4
	CLAMP(Y1, Y2)

x0BlendBlend4:
	BLEND(Y0, Y1)
	TESTQ $2, R10
	JZ    x0BlendStore4
	RENOISE(0, Y1, Y2)

x0BlendStore4:
	STORE(Y1, X1, 0, DI)
	ADDQ  $4, AX
	JMP   x0BlendLoop4

x0BlendDone:
	VZEROUPPER
	RET

// EPSBLEND sets z = (z - x0·alpha)/sigma, the noise prediction re-derived
// from x0, and x0 = x0·a + z·b, using t.
#define EPSBLEND(z, x0, t) \
	VMULPD Y7, x0, t;   \
	VSUBPD t, z, z;     \
	VDIVPD Y8, z, z;    \
	BLEND(z, x0)

// func x0EpsBlendAVX2(dst, x, eps, noise []float32, alpha, sigma, r, a, b, p, q float64, flags int)
//
// dst = x0·a + e·b with e = (x - x0·alpha)/sigma, re-noised to
// (x0·a + e·b)·p + noise·q.
TEXT ·x0EpsBlendAVX2(SB), NOSPLIT, $0-160
	MOVQ         dst_base+0(FP), DI
	MOVQ         dst_len+8(FP), CX
	MOVQ         x_base+24(FP), SI
	MOVQ         eps_base+48(FP), DX
	MOVQ         noise_base+72(FP), R8
	VBROADCASTSD alpha+96(FP), Y7
	VBROADCASTSD sigma+104(FP), Y8
	VBROADCASTSD r+112(FP), Y9
	VBROADCASTSD sign64<>(SB), Y10
	VXORPD       Y9, Y10, Y10
	VBROADCASTSD nan64<>(SB), Y11
	VBROADCASTSD a+120(FP), Y12
	VBROADCASTSD b+128(FP), Y13
	VBROADCASTSD p+136(FP), Y14
	VBROADCASTSD q+144(FP), Y15
	MOVQ         flags+152(FP), R10
	BLOCKS8

x0EpsLoop8:
	CMPQ  AX, BX
	JEQ   x0EpsLoop4
	X0(0, Y0, Y1)
	X0(16, Y3, Y4)
	TESTQ $1, R10
	JZ    x0EpsBlend8
	CLAMP(Y1, Y2)
	CLAMP(Y4, Y5)

x0EpsBlend8:
	EPSBLEND(Y0, Y1, Y2)
	EPSBLEND(Y3, Y4, Y5)
	TESTQ $2, R10
	JZ    x0EpsStore8
	RENOISE(0, Y1, Y2)
	RENOISE(16, Y4, Y5)

x0EpsStore8:
	STORE(Y1, X1, 0, DI)
	STORE(Y4, X4, 16, DI)
	ADDQ  $8, AX
	JMP   x0EpsLoop8

x0EpsLoop4:
	CMPQ  AX, CX
	JEQ   x0EpsDone
	X0(0, Y0, Y1)
	TESTQ $1, R10
	JZ    x0EpsBlend4
	CLAMP(Y1, Y2)

x0EpsBlend4:
	EPSBLEND(Y0, Y1, Y2)
	TESTQ $2, R10
	JZ    x0EpsStore4
	RENOISE(0, Y1, Y2)

x0EpsStore4:
	STORE(Y1, X1, 0, DI)
	ADDQ  $4, AX
	JMP   x0EpsLoop4

x0EpsDone:
	VZEROUPPER
	RET
