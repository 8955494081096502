//go:build !purego

#include "textflag.h"

// iota holds the lane numbers, for masks of the first m lanes.
DATA iota<>+0(SB)/4, $0
DATA iota<>+4(SB)/4, $1
DATA iota<>+8(SB)/4, $2
DATA iota<>+12(SB)/4, $3
DATA iota<>+16(SB)/4, $4
DATA iota<>+20(SB)/4, $5
DATA iota<>+24(SB)/4, $6
DATA iota<>+28(SB)/4, $7
GLOBL iota<>(SB), RODATA|NOPTR, $32

// TRANSPOSE8 transposes the 8 x 8 matrix whose rows are Y0 .. Y7 into
// Y8 .. Y15 (Y8 is column 0), clobbering Y0 .. Y7.
#define TRANSPOSE8 \
	VUNPCKLPS  Y1, Y0, Y8   \
	VUNPCKHPS  Y1, Y0, Y9   \
	VUNPCKLPS  Y3, Y2, Y10  \
	VUNPCKHPS  Y3, Y2, Y11  \
	VUNPCKLPS  Y5, Y4, Y12  \
	VUNPCKHPS  Y5, Y4, Y13  \
	VUNPCKLPS  Y7, Y6, Y14  \
	VUNPCKHPS  Y7, Y6, Y15  \
	VSHUFPS    $0x44, Y10, Y8, Y0 \
	VSHUFPS    $0xEE, Y10, Y8, Y1 \
	VSHUFPS    $0x44, Y11, Y9, Y2 \
	VSHUFPS    $0xEE, Y11, Y9, Y3 \
	VSHUFPS    $0x44, Y14, Y12, Y4 \
	VSHUFPS    $0xEE, Y14, Y12, Y5 \
	VSHUFPS    $0x44, Y15, Y13, Y6 \
	VSHUFPS    $0xEE, Y15, Y13, Y7 \
	VPERM2F128 $0x20, Y4, Y0, Y8 \
	VPERM2F128 $0x20, Y5, Y1, Y9 \
	VPERM2F128 $0x20, Y6, Y2, Y10 \
	VPERM2F128 $0x20, Y7, Y3, Y11 \
	VPERM2F128 $0x31, Y4, Y0, Y12 \
	VPERM2F128 $0x31, Y5, Y1, Y13 \
	VPERM2F128 $0x31, Y6, Y2, Y14 \
	VPERM2F128 $0x31, Y7, Y3, Y15

// MASK sets Y (whose low half is X) to the mask of the first m lanes, m
// in register R (1 to 7).
#define MASK(R, X, Y) \
	VMOVQ        R, X \
	VPBROADCASTD X, Y \
	VPCMPGTD     iota<>(SB), Y, Y

// func interleave2AVX2(dst []float32, dstRow int, src []float32, srcRow, stride, n, rows int)
//
// Two runs a and b become a0 b0 a1 b1 ...: eight samples of each per
// block, unpacked and put in order across the lane halves. A last block
// that would pass the end of the row is moved back to end there, so it
// redoes a few samples rather than writing past the row.
TEXT ·interleave2AVX2(SB), NOSPLIT, $0-88
	MOVQ dst_base+0(FP), DI
	MOVQ src_base+32(FP), SI
	MOVQ stride+64(FP), R8
	SHLQ $2, R8
	MOVQ n+72(FP), R12
	SUBQ $8, R12              // the last block's start
	MOVQ rows+80(FP), CX

row2:
	LEAQ (SI)(R8*1), AX
	XORQ R11, R11

block2:
	CMPQ       R11, R12
	JLE        inside2
	MOVQ       R12, R11

inside2:
	VMOVUPS    (SI)(R11*4), Y0
	VMOVUPS    (AX)(R11*4), Y1
	VUNPCKLPS  Y1, Y0, Y2
	VUNPCKHPS  Y1, Y0, Y3
	VPERM2F128 $0x20, Y3, Y2, Y4
	VPERM2F128 $0x31, Y3, Y2, Y5
	VMOVUPS    Y4, (DI)(R11*8)
	VMOVUPS    Y5, 32(DI)(R11*8)
	CMPQ       R11, R12
	JEQ        next2
	ADDQ       $8, R11
	JMP        block2

next2:
	MOVQ dstRow+24(FP), BX
	LEAQ (DI)(BX*4), DI
	MOVQ srcRow+56(FP), BX
	LEAQ (SI)(BX*4), SI
	DECQ CX
	JNZ  row2
	VZEROUPPER
	RET

// func interleaveAVX2(dst []float32, dstRow int, src []float32, srcRow, stride, k, n, rows int)
//
// k runs (3 to 8) become groups of k: eight samples of each run per block,
// transposed, and the eight groups stored 8 lanes wide in increasing order,
// each store's lanes beyond k overwritten by the next. Stores that would
// pass the end of the row are masked to it. As in interleave2AVX2, a last
// partial block is moved back to end at the row's end.
TEXT ·interleaveAVX2(SB), NOSPLIT, $0-96
	MOVQ dst_base+0(FP), DI
	MOVQ src_base+32(FP), SI
	MOVQ stride+64(FP), R8
	SHLQ $2, R8
	MOVQ k+72(FP), R10
	LEAQ (R10*4), R9
	MOVQ n+80(FP), R12
	MOVQ R12, R13
	IMULQ R10, R13            // samples in a row of dst
	SUBQ $8, R12
	MOVQ rows+88(FP), CX

rowk:
	XORQ R11, R11

blockk:
	CMPQ R11, R12
	JLE  insidek
	MOVQ R12, R11

insidek:
	MOVQ    SI, AX
	VMOVUPS (AX)(R11*4), Y0
	ADDQ    R8, AX
	VMOVUPS (AX)(R11*4), Y1
	ADDQ    R8, AX
	VMOVUPS (AX)(R11*4), Y2
	CMPQ    R10, $4
	JLT     loadedk
	ADDQ    R8, AX
	VMOVUPS (AX)(R11*4), Y3
	CMPQ    R10, $5
	JLT     loadedk
	ADDQ    R8, AX
	VMOVUPS (AX)(R11*4), Y4
	CMPQ    R10, $6
	JLT     loadedk
	ADDQ    R8, AX
	VMOVUPS (AX)(R11*4), Y5
	CMPQ    R10, $7
	JLT     loadedk
	ADDQ    R8, AX
	VMOVUPS (AX)(R11*4), Y6
	CMPQ    R10, $8
	JLT     loadedk
	ADDQ    R8, AX
	VMOVUPS (AX)(R11*4), Y7

loadedk:
	TRANSPOSE8

	// AX: where group x0 goes; DX: samples from there to the row's end.
	MOVQ  R11, BX
	IMULQ R9, BX
	LEAQ  (DI)(BX*1), AX
	MOVQ  R11, DX
	IMULQ R10, DX
	NEGQ  DX
	ADDQ  R13, DX

#define STOREGROUP(Y, L) \
	CMPQ       DX, $8 \
	JLT        L \
	VMOVUPS    Y, (AX) \
	ADDQ       R9, AX \
	SUBQ       R10, DX

#define STOREMASKED(Y) \
	MASK(DX, X0, Y0) \
	VMASKMOVPS Y, Y0, (AX) \
	ADDQ       R9, AX \
	SUBQ       R10, DX

	STOREGROUP(Y8, m0)
	STOREGROUP(Y9, m1)
	STOREGROUP(Y10, m2)
	STOREGROUP(Y11, m3)
	STOREGROUP(Y12, m4)
	STOREGROUP(Y13, m5)
	STOREGROUP(Y14, m6)
	STOREGROUP(Y15, m7)
	JMP stored

	// Once one group reaches the row's end, every later one does.
m0:
	STOREMASKED(Y8)
m1:
	STOREMASKED(Y9)
m2:
	STOREMASKED(Y10)
m3:
	STOREMASKED(Y11)
m4:
	STOREMASKED(Y12)
m5:
	STOREMASKED(Y13)
m6:
	STOREMASKED(Y14)
m7:
	STOREMASKED(Y15)

stored:
	CMPQ R11, R12
	JEQ  nextk
	ADDQ $8, R11
	JMP  blockk

nextk:
	MOVQ dstRow+24(FP), BX
	LEAQ (DI)(BX*4), DI
	MOVQ srcRow+56(FP), BX
	LEAQ (SI)(BX*4), SI
	DECQ CX
	JNZ  rowk
	VZEROUPPER
	RET

// func deinterleave2AVX2(dst []float32, dstRow, stride int, src []float32, srcRow, n, rows int)
//
// a0 b0 a1 b1 ... become the runs a and b: sixteen samples per block,
// shuffled to a0 a1 a4 a5 | a2 a3 a6 a7 and put in order by 64-bit lanes.
TEXT ·deinterleave2AVX2(SB), NOSPLIT, $0-88
	MOVQ dst_base+0(FP), DI
	MOVQ stride+32(FP), R8
	SHLQ $2, R8
	MOVQ src_base+40(FP), SI
	MOVQ n+72(FP), R12
	SUBQ $8, R12
	MOVQ rows+80(FP), CX

rowd2:
	LEAQ (DI)(R8*1), AX
	XORQ R11, R11

blockd2:
	CMPQ R11, R12
	JLE  insided2
	MOVQ R12, R11

insided2:
	VMOVUPS (SI)(R11*8), Y0
	VMOVUPS 32(SI)(R11*8), Y1
	VSHUFPS $0x88, Y1, Y0, Y2
	VSHUFPS $0xDD, Y1, Y0, Y3
	VPERMPD $0xD8, Y2, Y2
	VPERMPD $0xD8, Y3, Y3
	VMOVUPS Y2, (DI)(R11*4)
	VMOVUPS Y3, (AX)(R11*4)
	CMPQ    R11, R12
	JEQ     nextd2
	ADDQ    $8, R11
	JMP     blockd2

nextd2:
	MOVQ dstRow+24(FP), BX
	LEAQ (DI)(BX*4), DI
	MOVQ srcRow+64(FP), BX
	LEAQ (SI)(BX*4), SI
	DECQ CX
	JNZ  rowd2
	VZEROUPPER
	RET

// func deinterleaveAVX2(dst []float32, dstRow, stride int, src []float32, srcRow, k, n, rows int)
//
// Groups of k (3 to 8) become k runs: eight groups per block, each loaded
// 8 lanes wide (lanes beyond k hold the next groups and are dropped), the
// loads that would pass the end of the row masked to it; transposed, and
// the first k rows stored.
TEXT ·deinterleaveAVX2(SB), NOSPLIT, $0-96
	MOVQ dst_base+0(FP), DI
	MOVQ stride+32(FP), R8
	SHLQ $2, R8
	MOVQ src_base+40(FP), SI
	MOVQ k+72(FP), R10
	LEAQ (R10*4), R9
	MOVQ n+80(FP), R12
	MOVQ R12, R13
	IMULQ R10, R13
	SUBQ $8, R12
	MOVQ rows+88(FP), CX

rowdk:
	XORQ R11, R11

blockdk:
	CMPQ R11, R12
	JLE  insidedk
	MOVQ R12, R11

insidedk:
	MOVQ  R11, BX
	IMULQ R9, BX
	LEAQ  (SI)(BX*1), AX
	MOVQ  R11, DX
	IMULQ R10, DX
	NEGQ  DX
	ADDQ  R13, DX

#define LOADGROUP(Y, L) \
	CMPQ    DX, $8 \
	JLT     L \
	VMOVUPS (AX), Y \
	ADDQ    R9, AX \
	SUBQ    R10, DX

#define LOADMASKED(Y) \
	MASK(DX, X15, Y15) \
	VMASKMOVPS (AX), Y15, Y \
	ADDQ       R9, AX \
	SUBQ       R10, DX

	LOADGROUP(Y0, l0)
	LOADGROUP(Y1, l1)
	LOADGROUP(Y2, l2)
	LOADGROUP(Y3, l3)
	LOADGROUP(Y4, l4)
	LOADGROUP(Y5, l5)
	LOADGROUP(Y6, l6)
	LOADGROUP(Y7, l7)
	JMP loadeddk

l0:
	LOADMASKED(Y0)
l1:
	LOADMASKED(Y1)
l2:
	LOADMASKED(Y2)
l3:
	LOADMASKED(Y3)
l4:
	LOADMASKED(Y4)
l5:
	LOADMASKED(Y5)
l6:
	LOADMASKED(Y6)
l7:
	LOADMASKED(Y7)

loadeddk:
	TRANSPOSE8
	LEAQ    (DI)(R11*4), AX
	VMOVUPS Y8, (AX)
	ADDQ    R8, AX
	VMOVUPS Y9, (AX)
	ADDQ    R8, AX
	VMOVUPS Y10, (AX)
	CMPQ    R10, $4
	JLT     storeddk
	ADDQ    R8, AX
	VMOVUPS Y11, (AX)
	CMPQ    R10, $5
	JLT     storeddk
	ADDQ    R8, AX
	VMOVUPS Y12, (AX)
	CMPQ    R10, $6
	JLT     storeddk
	ADDQ    R8, AX
	VMOVUPS Y13, (AX)
	CMPQ    R10, $7
	JLT     storeddk
	ADDQ    R8, AX
	VMOVUPS Y14, (AX)
	CMPQ    R10, $8
	JLT     storeddk
	ADDQ    R8, AX
	VMOVUPS Y15, (AX)

storeddk:
	CMPQ R11, R12
	JEQ  nextdk
	ADDQ $8, R11
	JMP  blockdk

nextdk:
	MOVQ dstRow+24(FP), BX
	LEAQ (DI)(BX*4), DI
	MOVQ srcRow+64(FP), BX
	LEAQ (SI)(BX*4), SI
	DECQ CX
	JNZ  rowdk
	VZEROUPPER
	RET
