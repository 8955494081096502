//go:build !purego

#include "textflag.h"

// The float32 kernels below run eight samples per instruction with the
// operations of their Go versions, unfused and in the same operand order
// (the first source of each add is the operand the Go compiler puts
// first), so that they agree bit for bit. They take whole blocks of 8;
// the Go callers do the rest.

// func addScaled32AVX2(dst []float32, a float32, x []float32)
//
// dst = dst + x·a, for the first len(dst) &^ 7 samples.
TEXT ·addScaled32AVX2(SB), NOSPLIT, $0-56
	MOVQ         dst_base+0(FP), DI
	MOVQ         dst_len+8(FP), CX
	VBROADCASTSS a+24(FP), Y15
	MOVQ         x_base+32(FP), SI
	XORQ         AX, AX
	ANDQ         $-8, CX

addScaledLoop:
	CMPQ    AX, CX
	JGE     addScaledDone
	VMOVUPS (SI)(AX*4), Y0
	VMULPS  Y15, Y0, Y0
	VMOVUPS (DI)(AX*4), Y1
	VADDPS  Y0, Y1, Y1
	VMOVUPS Y1, (DI)(AX*4)
	ADDQ    $8, AX
	JMP     addScaledLoop

addScaledDone:
	VZEROUPPER
	RET

// func scaleOntoZero32AVX2(dst []float32, a float32)
//
// dst = +0 + dst·a, for the first len(dst) &^ 7 samples.
TEXT ·scaleOntoZero32AVX2(SB), NOSPLIT, $0-28
	MOVQ         dst_base+0(FP), DI
	MOVQ         dst_len+8(FP), CX
	VBROADCASTSS a+24(FP), Y15
	VXORPS       Y14, Y14, Y14
	XORQ         AX, AX
	ANDQ         $-8, CX

scaleOntoZeroLoop:
	CMPQ    AX, CX
	JGE     scaleOntoZeroDone
	VMOVUPS (DI)(AX*4), Y0
	VMULPS  Y15, Y0, Y0
	VADDPS  Y0, Y14, Y0
	VMOVUPS Y0, (DI)(AX*4)
	ADDQ    $8, AX
	JMP     scaleOntoZeroLoop

scaleOntoZeroDone:
	VZEROUPPER
	RET
