//go:build !purego

#include "textflag.h"

// The elementwise kernels widen four float32 to float64 at a time
// (VCVTPS2PD), apply the same IEEE operations in the same order as the Go
// versions (never fused, each operand in the place the Go compiler puts
// it, so that even the NaN a two-NaN operation passes on is the same) and
// narrow once (VCVTPD2PS). The main loops take 16 samples, four registers
// of float64 per input; the second loops 4; the Go callers take the last 0
// to 3. AX indexes the samples throughout, BX ends the 16-sample blocks,
// CX the 4-sample ones.
//
// The kernels that report finiteness keep in Y12 the unsigned maximum of
// the float32 they wrote shifted left by one (dropping the sign): a NaN or
// an infinity, all exponent bits set, makes it 0xff000000 or more, and
// every finite value less. Two instructions per eight samples (VPADDD,
// VPMAXUD) where a mask-and-compare takes three.

// finitemax is the largest finite magnitude shifted left by one.
DATA finitemax<>+0(SB)/4, $0xfeffffff
GLOBL finitemax<>(SB), RODATA|NOPTR, $4

// expmask selects the exponent bits of a float32.
DATA expmask<>+0(SB)/4, $0x7f800000
GLOBL expmask<>(SB), RODATA|NOPTR, $4

// BLOCKS splits the CX samples into BX in blocks of 16 and CX in blocks of
// 4, and zeroes the index AX.
#define BLOCKS \
	XORQ AX, AX;  \
	MOVQ CX, BX;  \
	ANDQ $-16, BX; \
	ANDQ $-4, CX

// NONFINITE folds the lanes of v, shifted left by one, into the maximum
// in Y12, using t.
#define NONFINITE(v, t) \
	VPADDD  v, v, t; \
	VPMAXUD t, Y12, Y12

// NARROW16 rounds the float64 in Y0 to Y3 to float32 and stores them at
// dst = DI, samples AX to AX+15.
#define NARROW16 \
	VCVTPD2PSY Y0, X0;         \
	VCVTPD2PSY Y1, X1;         \
	VCVTPD2PSY Y2, X2;         \
	VCVTPD2PSY Y3, X3;         \
	VMOVUPS    X0, (DI)(AX*4);   \
	VMOVUPS    X1, 16(DI)(AX*4); \
	VMOVUPS    X2, 32(DI)(AX*4); \
	VMOVUPS    X3, 48(DI)(AX*4)

// NARROW16FINITE is NARROW16 that also folds the samples into Y12, after
// pairing them in two registers.
#define NARROW16FINITE \
	VCVTPD2PSY  Y0, X0;             \
	VCVTPD2PSY  Y1, X1;             \
	VCVTPD2PSY  Y2, X2;             \
	VCVTPD2PSY  Y3, X3;             \
	VINSERTF128 $1, X1, Y0, Y0;     \
	VINSERTF128 $1, X3, Y2, Y2;     \
	VMOVUPS     Y0, (DI)(AX*4);     \
	VMOVUPS     Y2, 32(DI)(AX*4);   \
	NONFINITE(Y0, Y8);              \
	NONFINITE(Y2, Y9)

// WIDEN16 loads samples AX to AX+15 of base as float64 into r0 to r3.
#define WIDEN16(base, r0, r1, r2, r3) \
	VCVTPS2PD (base)(AX*4), r0;   \
	VCVTPS2PD 16(base)(AX*4), r1; \
	VCVTPS2PD 32(base)(AX*4), r2; \
	VCVTPS2PD 48(base)(AX*4), r3

// NARROW4FINITE rounds Y0 to float32, stores it at sample AX of DI and
// folds it into Y12. (The VEX.128 add zeroes the upper half of Y8, which
// leaves the maximum alone.)
#define NARROW4FINITE \
	VCVTPD2PSY Y0, X0;         \
	VMOVUPS    X0, (DI)(AX*4); \
	VPADDD     X0, X0, X8;     \
	VPMAXUD    Y8, Y12, Y12

// FINITE sets the byte at ret to whether every lane of Y12 is at most
// finitemax (in Y13), clobbering Y12 and R8.
#define FINITE(ret) \
	VPMAXUD  Y13, Y12, Y12; \
	VPCMPEQD Y13, Y12, Y12; \
	VMOVMSKPS Y12, R8;      \
	CMPL     R8, $0xff;     \
	SETEQ    ret

// func axpbyAVX2(dst []float32, a float64, x []float32, b float64, y []float32) (finite bool)
//
// dst = x·a + y·b.
TEXT ·axpbyAVX2(SB), NOSPLIT, $0-89
	MOVQ         dst_base+0(FP), DI
	MOVQ         dst_len+8(FP), CX
	MOVQ         x_base+32(FP), SI
	MOVQ         y_base+64(FP), DX
	VBROADCASTSD a+24(FP), Y14
	VBROADCASTSD b+56(FP), Y15
	VPBROADCASTD finitemax<>(SB), Y13
	VPXOR        Y12, Y12, Y12
	BLOCKS

axpby16:
	CMPQ   AX, BX
	JEQ    axpby4
	WIDEN16(SI, Y0, Y1, Y2, Y3)
	WIDEN16(DX, Y4, Y5, Y6, Y7)
	VMULPD Y14, Y0, Y0
	VMULPD Y14, Y1, Y1
	VMULPD Y14, Y2, Y2
	VMULPD Y14, Y3, Y3
	VMULPD Y15, Y4, Y4
	VMULPD Y15, Y5, Y5
	VMULPD Y15, Y6, Y6
	VMULPD Y15, Y7, Y7
	VADDPD Y4, Y0, Y0
	VADDPD Y5, Y1, Y1
	VADDPD Y6, Y2, Y2
	VADDPD Y7, Y3, Y3
	NARROW16FINITE
	ADDQ   $16, AX
	JMP    axpby16

axpby4:
	CMPQ      AX, CX
	JEQ       axpbyDone
	VCVTPS2PD (SI)(AX*4), Y0
	VCVTPS2PD (DX)(AX*4), Y4
	VMULPD    Y14, Y0, Y0
	VMULPD    Y15, Y4, Y4
	VADDPD    Y4, Y0, Y0
	NARROW4FINITE
	ADDQ      $4, AX
	JMP       axpby4

axpbyDone:
	FINITE(finite+88(FP))
	VZEROUPPER
	RET

// func scaleAVX2(dst []float32, a float64, x []float32)
//
// dst = x·a.
TEXT ·scaleAVX2(SB), NOSPLIT, $0-56
	MOVQ         dst_base+0(FP), DI
	MOVQ         dst_len+8(FP), CX
	MOVQ         x_base+32(FP), SI
	VBROADCASTSD a+24(FP), Y14
	BLOCKS

scale16:
	CMPQ   AX, BX
	JEQ    scale4
	WIDEN16(SI, Y0, Y1, Y2, Y3)
	VMULPD Y14, Y0, Y0
	VMULPD Y14, Y1, Y1
	VMULPD Y14, Y2, Y2
	VMULPD Y14, Y3, Y3
	NARROW16
	ADDQ   $16, AX
	JMP    scale16

scale4:
	CMPQ       AX, CX
	JEQ        scaleDone
	VCVTPS2PD  (SI)(AX*4), Y0
	VMULPD     Y14, Y0, Y0
	VCVTPD2PSY Y0, X0
	VMOVUPS    X0, (DI)(AX*4)
	ADDQ       $4, AX
	JMP        scale4

scaleDone:
	VZEROUPPER
	RET

// ADDMUL4 sets r = (r + p)·q with p in Y14, q in Y15.
#define ADDMUL4(r) \
	VADDPD Y14, r, r; \
	VMULPD Y15, r, r

// func addMulAVX2(dst, x []float32, p, q float64)
//
// dst = (x + p)·q.
TEXT ·addMulAVX2(SB), NOSPLIT, $0-64
	MOVQ         dst_base+0(FP), DI
	MOVQ         dst_len+8(FP), CX
	MOVQ         x_base+24(FP), SI
	VBROADCASTSD p+48(FP), Y14
	VBROADCASTSD q+56(FP), Y15
	BLOCKS

addMul16:
	CMPQ AX, BX
	JEQ  addMul4
	WIDEN16(SI, Y0, Y1, Y2, Y3)
	ADDMUL4(Y0)
	ADDMUL4(Y1)
	ADDMUL4(Y2)
	ADDMUL4(Y3)
	NARROW16
	ADDQ $16, AX
	JMP  addMul16

addMul4:
	CMPQ       AX, CX
	JEQ        addMulDone
	VCVTPS2PD  (SI)(AX*4), Y0
	ADDMUL4(Y0)
	VCVTPD2PSY Y0, X0
	VMOVUPS    X0, (DI)(AX*4)
	ADDQ       $4, AX
	JMP        addMul4

addMulDone:
	VZEROUPPER
	RET

// func addMulFiniteAVX2(dst, x []float32, p, q float64) (finite bool)
//
// addMulAVX2 reporting finiteness: a separate kernel, as the check costs
// a fifth of the time when there is only one input to read.
TEXT ·addMulFiniteAVX2(SB), NOSPLIT, $0-65
	MOVQ         dst_base+0(FP), DI
	MOVQ         dst_len+8(FP), CX
	MOVQ         x_base+24(FP), SI
	VBROADCASTSD p+48(FP), Y14
	VBROADCASTSD q+56(FP), Y15
	VPBROADCASTD finitemax<>(SB), Y13
	VPXOR        Y12, Y12, Y12
	BLOCKS

addMulFinite16:
	CMPQ AX, BX
	JEQ  addMulFinite4
	WIDEN16(SI, Y0, Y1, Y2, Y3)
	ADDMUL4(Y0)
	ADDMUL4(Y1)
	ADDMUL4(Y2)
	ADDMUL4(Y3)
	NARROW16FINITE
	ADDQ $16, AX
	JMP  addMulFinite16

addMulFinite4:
	CMPQ      AX, CX
	JEQ       addMulFiniteDone
	VCVTPS2PD (SI)(AX*4), Y0
	ADDMUL4(Y0)
	NARROW4FINITE
	ADDQ      $4, AX
	JMP       addMulFinite4

addMulFiniteDone:
	FINITE(finite+64(FP))
	VZEROUPPER
	RET

// func divAddAVX2(dst, x []float32, gain, c float64)
//
// dst = x/gain + c.
TEXT ·divAddAVX2(SB), NOSPLIT, $0-64
	MOVQ         dst_base+0(FP), DI
	MOVQ         dst_len+8(FP), CX
	MOVQ         x_base+24(FP), SI
	VBROADCASTSD gain+48(FP), Y14
	VBROADCASTSD c+56(FP), Y15
	BLOCKS

divAdd16:
	CMPQ   AX, BX
	JEQ    divAdd4
	WIDEN16(SI, Y0, Y1, Y2, Y3)
	VDIVPD Y14, Y0, Y0
	VDIVPD Y14, Y1, Y1
	VDIVPD Y14, Y2, Y2
	VDIVPD Y14, Y3, Y3
	VADDPD Y15, Y0, Y0
	VADDPD Y15, Y1, Y1
	VADDPD Y15, Y2, Y2
	VADDPD Y15, Y3, Y3
	NARROW16
	ADDQ   $16, AX
	JMP    divAdd16

divAdd4:
	CMPQ       AX, CX
	JEQ        divAddDone
	VCVTPS2PD  (SI)(AX*4), Y0
	VDIVPD     Y14, Y0, Y0
	VADDPD     Y15, Y0, Y0
	VCVTPD2PSY Y0, X0
	VMOVUPS    X0, (DI)(AX*4)
	ADDQ       $4, AX
	JMP        divAdd4

divAddDone:
	VZEROUPPER
	RET

// func mulAddAVX2(dst, x []float32, q, p float64)
//
// dst = x·q + p, the product rounded on its own.
TEXT ·mulAddAVX2(SB), NOSPLIT, $0-64
	MOVQ         dst_base+0(FP), DI
	MOVQ         dst_len+8(FP), CX
	MOVQ         x_base+24(FP), SI
	VBROADCASTSD q+48(FP), Y14
	VBROADCASTSD p+56(FP), Y15
	BLOCKS

mulAdd16:
	CMPQ   AX, BX
	JEQ    mulAdd4
	WIDEN16(SI, Y0, Y1, Y2, Y3)
	VMULPD Y14, Y0, Y0
	VMULPD Y14, Y1, Y1
	VMULPD Y14, Y2, Y2
	VMULPD Y14, Y3, Y3
	VADDPD Y15, Y0, Y0
	VADDPD Y15, Y1, Y1
	VADDPD Y15, Y2, Y2
	VADDPD Y15, Y3, Y3
	NARROW16
	ADDQ   $16, AX
	JMP    mulAdd16

mulAdd4:
	CMPQ       AX, CX
	JEQ        mulAddDone
	VCVTPS2PD  (SI)(AX*4), Y0
	VMULPD     Y14, Y0, Y0
	VADDPD     Y15, Y0, Y0
	VCVTPD2PSY Y0, X0
	VMOVUPS    X0, (DI)(AX*4)
	ADDQ       $4, AX
	JMP        mulAdd4

mulAddDone:
	VZEROUPPER
	RET

// func guideAVX2(dst, u, c []float32, w float64)
//
// dst = u + (c - u)·w.
TEXT ·guideAVX2(SB), NOSPLIT, $0-80
	MOVQ         dst_base+0(FP), DI
	MOVQ         dst_len+8(FP), CX
	MOVQ         u_base+24(FP), SI
	MOVQ         c_base+48(FP), DX
	VBROADCASTSD w+72(FP), Y15
	BLOCKS

guide16:
	CMPQ   AX, BX
	JEQ    guide4
	WIDEN16(SI, Y0, Y1, Y2, Y3)
	WIDEN16(DX, Y4, Y5, Y6, Y7)
	VSUBPD Y0, Y4, Y4
	VSUBPD Y1, Y5, Y5
	VSUBPD Y2, Y6, Y6
	VSUBPD Y3, Y7, Y7
	VMULPD Y15, Y4, Y4
	VMULPD Y15, Y5, Y5
	VMULPD Y15, Y6, Y6
	VMULPD Y15, Y7, Y7
	VADDPD Y4, Y0, Y0
	VADDPD Y5, Y1, Y1
	VADDPD Y6, Y2, Y2
	VADDPD Y7, Y3, Y3
	NARROW16
	ADDQ   $16, AX
	JMP    guide16

guide4:
	CMPQ       AX, CX
	JEQ        guideDone
	VCVTPS2PD  (SI)(AX*4), Y0
	VCVTPS2PD  (DX)(AX*4), Y4
	VSUBPD     Y0, Y4, Y4
	VMULPD     Y15, Y4, Y4
	VADDPD     Y4, Y0, Y0
	VCVTPD2PSY Y0, X0
	VMOVUPS    X0, (DI)(AX*4)
	ADDQ       $4, AX
	JMP        guide4

guideDone:
	VZEROUPPER
	RET

// func fuse2AVX2(dst []float32, w0 float64, c0 []float32, w1 float64, c1 []float32) (finite bool)
//
// dst = float32(c0·w0) + c1·w1.
TEXT ·fuse2AVX2(SB), NOSPLIT, $0-89
	MOVQ         dst_base+0(FP), DI
	MOVQ         dst_len+8(FP), CX
	MOVQ         c0_base+32(FP), SI
	MOVQ         c1_base+64(FP), DX
	VBROADCASTSD w0+24(FP), Y14
	VBROADCASTSD w1+56(FP), Y15
	VPBROADCASTD finitemax<>(SB), Y13
	VPXOR        Y12, Y12, Y12
	BLOCKS

fuse16:
	CMPQ       AX, BX
	JEQ        fuse4
	WIDEN16(SI, Y0, Y1, Y2, Y3)
	WIDEN16(DX, Y4, Y5, Y6, Y7)
	VMULPD     Y14, Y0, Y0
	VMULPD     Y14, Y1, Y1
	VMULPD     Y14, Y2, Y2
	VMULPD     Y14, Y3, Y3
	VCVTPD2PSY Y0, X0
	VCVTPD2PSY Y1, X1
	VCVTPD2PSY Y2, X2
	VCVTPD2PSY Y3, X3
	VCVTPS2PD  X0, Y0
	VCVTPS2PD  X1, Y1
	VCVTPS2PD  X2, Y2
	VCVTPS2PD  X3, Y3
	VMULPD     Y15, Y4, Y4
	VMULPD     Y15, Y5, Y5
	VMULPD     Y15, Y6, Y6
	VMULPD     Y15, Y7, Y7
	VADDPD     Y4, Y0, Y0
	VADDPD     Y5, Y1, Y1
	VADDPD     Y6, Y2, Y2
	VADDPD     Y7, Y3, Y3
	NARROW16FINITE
	ADDQ       $16, AX
	JMP        fuse16

fuse4:
	CMPQ       AX, CX
	JEQ        fuseDone
	VCVTPS2PD  (SI)(AX*4), Y0
	VCVTPS2PD  (DX)(AX*4), Y4
	VMULPD     Y14, Y0, Y0
	VCVTPD2PSY Y0, X0
	VCVTPS2PD  X0, Y0
	VMULPD     Y15, Y4, Y4
	VADDPD     Y4, Y0, Y0
	NARROW4FINITE
	ADDQ       $4, AX
	JMP        fuse4

fuseDone:
	FINITE(finite+88(FP))
	VZEROUPPER
	RET

// func finiteAVX2(xs []float32) bool
//
// 32 samples at a time, then 8, stopping at the first block with a sample
// whose exponent bits are all set.
TEXT ·finiteAVX2(SB), NOSPLIT, $0-25
	MOVQ         xs_base+0(FP), SI
	MOVQ         xs_len+8(FP), CX
	VPBROADCASTD expmask<>(SB), Y13
	XORQ         AX, AX
	MOVQ         CX, BX
	ANDQ         $-32, BX
	ANDQ         $-8, CX

finite32:
	CMPQ     AX, BX
	JEQ      finite8
	VPAND    (SI)(AX*4), Y13, Y0
	VPAND    32(SI)(AX*4), Y13, Y1
	VPAND    64(SI)(AX*4), Y13, Y2
	VPAND    96(SI)(AX*4), Y13, Y3
	VPCMPEQD Y13, Y0, Y0
	VPCMPEQD Y13, Y1, Y1
	VPCMPEQD Y13, Y2, Y2
	VPCMPEQD Y13, Y3, Y3
	VPOR     Y1, Y0, Y0
	VPOR     Y3, Y2, Y2
	VPOR     Y2, Y0, Y0
	VPTEST   Y0, Y0
	JNZ      notFinite
	ADDQ     $32, AX
	JMP      finite32

finite8:
	CMPQ     AX, CX
	JEQ      allFinite
	VPAND    (SI)(AX*4), Y13, Y0
	VPCMPEQD Y13, Y0, Y0
	VPTEST   Y0, Y0
	JNZ      notFinite
	ADDQ     $8, AX
	JMP      finite8

allFinite:
	MOVB       $1, ret+24(FP)
	VZEROUPPER
	RET

notFinite:
	MOVB       $0, ret+24(FP)
	VZEROUPPER
	RET
