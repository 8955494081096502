//go:build !purego

#include "textflag.h"

// func cpuid(leaf, subleaf uint32) (eax, ebx, ecx, edx uint32)
TEXT ·cpuid(SB), NOSPLIT, $0-24
	MOVL leaf+0(FP), AX
	MOVL subleaf+4(FP), CX
	CPUID
	MOVL AX, eax+8(FP)
	MOVL BX, ebx+12(FP)
	MOVL CX, ecx+16(FP)
	MOVL DX, edx+20(FP)
	RET

// func xgetbv() (eax, edx uint32)
TEXT ·xgetbv(SB), NOSPLIT, $0-8
	MOVL $0, CX
	XGETBV
	MOVL AX, eax+0(FP)
	MOVL DX, edx+4(FP)
	RET

// func weightedRowsAVX2(dst []float32, bias float32, weights, src []float32, stride int)
//
// dst[i] = bias + Σ_k weights[k]·src[k·stride+i]. The inner loops run over
// the taps, so every output is written once, and keep eight independent
// sums in flight (two FMA units of four cycles' latency): 64 outputs at a
// time in eight registers; then 32 in four registers for the even taps and
// four for the odd ones; then 8 in four registers for the taps modulo 4;
// then one at a time.
TEXT ·weightedRowsAVX2(SB), NOSPLIT, $0-88
	MOVQ         dst_base+0(FP), DI
	MOVQ         dst_len+8(FP), CX
	MOVQ         weights_base+32(FP), R8
	MOVQ         weights_len+40(FP), R9
	MOVQ         src_base+56(FP), SI
	MOVQ         stride+80(FP), R10
	SHLQ         $2, R10
	VBROADCASTSS bias+24(FP), Y15

rows64:
	CMPQ    CX, $64
	JLT     rows32
	VMOVAPS Y15, Y0
	VMOVAPS Y15, Y1
	VMOVAPS Y15, Y2
	VMOVAPS Y15, Y3
	VMOVAPS Y15, Y4
	VMOVAPS Y15, Y5
	VMOVAPS Y15, Y6
	VMOVAPS Y15, Y7
	MOVQ    SI, AX
	MOVQ    R8, BX
	MOVQ    R9, DX

taps64:
	VBROADCASTSS (BX), Y8
	VFMADD231PS  (AX), Y8, Y0
	VFMADD231PS  32(AX), Y8, Y1
	VFMADD231PS  64(AX), Y8, Y2
	VFMADD231PS  96(AX), Y8, Y3
	VFMADD231PS  128(AX), Y8, Y4
	VFMADD231PS  160(AX), Y8, Y5
	VFMADD231PS  192(AX), Y8, Y6
	VFMADD231PS  224(AX), Y8, Y7
	ADDQ         $4, BX
	ADDQ         R10, AX
	DECQ         DX
	JNZ          taps64
	VMOVUPS      Y0, (DI)
	VMOVUPS      Y1, 32(DI)
	VMOVUPS      Y2, 64(DI)
	VMOVUPS      Y3, 96(DI)
	VMOVUPS      Y4, 128(DI)
	VMOVUPS      Y5, 160(DI)
	VMOVUPS      Y6, 192(DI)
	VMOVUPS      Y7, 224(DI)
	ADDQ         $256, DI
	ADDQ         $256, SI
	SUBQ         $64, CX
	JMP          rows64

rows32:
	CMPQ    CX, $32
	JLT     rows8
	VMOVAPS Y15, Y0
	VMOVAPS Y15, Y1
	VMOVAPS Y15, Y2
	VMOVAPS Y15, Y3
	VXORPS  Y4, Y4, Y4
	VXORPS  Y5, Y5, Y5
	VXORPS  Y6, Y6, Y6
	VXORPS  Y7, Y7, Y7
	MOVQ    SI, AX
	MOVQ    R8, BX
	MOVQ    R9, DX

taps32pairs:
	CMPQ         DX, $2
	JLT          taps32last
	VBROADCASTSS (BX), Y8
	VBROADCASTSS 4(BX), Y9
	VFMADD231PS  (AX), Y8, Y0
	VFMADD231PS  32(AX), Y8, Y1
	VFMADD231PS  64(AX), Y8, Y2
	VFMADD231PS  96(AX), Y8, Y3
	VFMADD231PS  (AX)(R10*1), Y9, Y4
	VFMADD231PS  32(AX)(R10*1), Y9, Y5
	VFMADD231PS  64(AX)(R10*1), Y9, Y6
	VFMADD231PS  96(AX)(R10*1), Y9, Y7
	ADDQ         $8, BX
	LEAQ         (AX)(R10*2), AX
	SUBQ         $2, DX
	JMP          taps32pairs

taps32last:
	TESTQ        DX, DX
	JZ           sum32
	VBROADCASTSS (BX), Y8
	VFMADD231PS  (AX), Y8, Y0
	VFMADD231PS  32(AX), Y8, Y1
	VFMADD231PS  64(AX), Y8, Y2
	VFMADD231PS  96(AX), Y8, Y3

sum32:
	VADDPS  Y4, Y0, Y0
	VADDPS  Y5, Y1, Y1
	VADDPS  Y6, Y2, Y2
	VADDPS  Y7, Y3, Y3
	VMOVUPS Y0, (DI)
	VMOVUPS Y1, 32(DI)
	VMOVUPS Y2, 64(DI)
	VMOVUPS Y3, 96(DI)
	ADDQ    $128, DI
	ADDQ    $128, SI
	SUBQ    $32, CX

rows8:
	CMPQ    CX, $8
	JLT     rows1
	VMOVAPS Y15, Y0
	VXORPS  Y1, Y1, Y1
	VXORPS  Y2, Y2, Y2
	VXORPS  Y3, Y3, Y3
	MOVQ    SI, AX
	MOVQ    R8, BX
	MOVQ    R9, DX

taps8quads:
	CMPQ         DX, $4
	JLT          taps8rest
	VBROADCASTSS (BX), Y8
	VBROADCASTSS 4(BX), Y9
	VBROADCASTSS 8(BX), Y10
	VBROADCASTSS 12(BX), Y11
	LEAQ         (AX)(R10*2), R11
	VFMADD231PS  (AX), Y8, Y0
	VFMADD231PS  (AX)(R10*1), Y9, Y1
	VFMADD231PS  (R11), Y10, Y2
	VFMADD231PS  (R11)(R10*1), Y11, Y3
	ADDQ         $16, BX
	LEAQ         (AX)(R10*4), AX
	SUBQ         $4, DX
	JMP          taps8quads

taps8rest:
	TESTQ        DX, DX
	JZ           sum8
	VBROADCASTSS (BX), Y8
	VFMADD231PS  (AX), Y8, Y0
	ADDQ         $4, BX
	ADDQ         R10, AX
	DECQ         DX
	JMP          taps8rest

sum8:
	VADDPS  Y1, Y0, Y0
	VADDPS  Y3, Y2, Y2
	VADDPS  Y2, Y0, Y0
	VMOVUPS Y0, (DI)
	ADDQ    $32, DI
	ADDQ    $32, SI
	SUBQ    $8, CX
	JMP     rows8

rows1:
	TESTQ  CX, CX
	JZ     done
	VMOVSS bias+24(FP), X0
	MOVQ   SI, AX
	MOVQ   R8, BX
	MOVQ   R9, DX

taps1:
	VMOVSS      (BX), X4
	VFMADD231SS (AX), X4, X0
	ADDQ        $4, BX
	ADDQ        R10, AX
	DECQ        DX
	JNZ         taps1
	VMOVSS      X0, (DI)
	ADDQ        $4, DI
	ADDQ        $4, SI
	DECQ        CX
	JMP         rows1

done:
	VZEROUPPER
	RET

// interleave puts the sums of the pairs of windows [0|1] ... back in order
// after two rounds of horizontal adds: see windowDots4AVX2.
DATA interleave<>+0(SB)/4, $0
DATA interleave<>+4(SB)/4, $4
DATA interleave<>+8(SB)/4, $1
DATA interleave<>+12(SB)/4, $5
DATA interleave<>+16(SB)/4, $2
DATA interleave<>+20(SB)/4, $6
DATA interleave<>+24(SB)/4, $3
DATA interleave<>+28(SB)/4, $7
GLOBL interleave<>(SB), RODATA|NOPTR, $32

// func windowDots4AVX2(dst, src []float32, starts []int32, weights []float32, srcLen, rows int)
//
// For each of rows rows of srcLen samples (dst rows of len(starts)), the
// first len(starts) rounded down to a multiple of 8 windows of four taps,
// eight at a time: two windows per register (window j in the low half, j+1
// in the high half), multiplied by their eight contiguous weights, then
// three rounds of horizontal adds leave the eight sums in the order
// 0 2 4 6 1 3 5 7, which one permutation sorts.
TEXT ·windowDots4AVX2(SB), NOSPLIT, $0-112
	MOVQ    dst_base+0(FP), DI
	MOVQ    src_base+24(FP), SI
	VMOVUPS interleave<>(SB), Y15

row4:
	MOVQ DI, R10
	MOVQ starts_len+56(FP), CX
	SHRQ $3, CX
	JZ   next4
	MOVQ starts_base+48(FP), R8
	MOVQ weights_base+72(FP), R9

loop4:
	MOVLQSX     0(R8), AX
	MOVLQSX     4(R8), BX
	VMOVUPS     (SI)(AX*4), X0
	VINSERTF128 $1, (SI)(BX*4), Y0, Y0
	VMULPS      0(R9), Y0, Y0
	MOVLQSX     8(R8), AX
	MOVLQSX     12(R8), BX
	VMOVUPS     (SI)(AX*4), X1
	VINSERTF128 $1, (SI)(BX*4), Y1, Y1
	VMULPS      32(R9), Y1, Y1
	MOVLQSX     16(R8), AX
	MOVLQSX     20(R8), BX
	VMOVUPS     (SI)(AX*4), X2
	VINSERTF128 $1, (SI)(BX*4), Y2, Y2
	VMULPS      64(R9), Y2, Y2
	MOVLQSX     24(R8), AX
	MOVLQSX     28(R8), BX
	VMOVUPS     (SI)(AX*4), X3
	VINSERTF128 $1, (SI)(BX*4), Y3, Y3
	VMULPS      96(R9), Y3, Y3

	// Y0 = [w0 | w1], Y1 = [w2 | w3], ...: after the first round, lane
	// halves hold pair sums of windows 0 2 | 1 3 and 4 6 | 5 7, after
	// the second the sums 0 2 4 6 | 1 3 5 7.
	VHADDPS Y1, Y0, Y0
	VHADDPS Y3, Y2, Y2
	VHADDPS Y2, Y0, Y0
	VPERMPS Y0, Y15, Y0
	VMOVUPS Y0, (DI)

	ADDQ $32, DI
	ADDQ $32, R8
	ADDQ $128, R9
	DECQ CX
	JNZ  loop4

next4:
	MOVQ starts_len+56(FP), BX
	LEAQ (R10)(BX*4), DI
	MOVQ srcLen+96(FP), BX
	LEAQ (SI)(BX*4), SI
	DECQ rows+104(FP)
	JNZ  row4
	VZEROUPPER
	RET

// func windowDots8AVX2(dst, src []float32, starts []int32, weights []float32, srcLen, rows int)
//
// As windowDots4AVX2 for windows of eight taps, one per register,
// multiplied by their weights and reduced by three rounds of horizontal
// adds; the last round adds the two lane halves.
TEXT ·windowDots8AVX2(SB), NOSPLIT, $0-112
	MOVQ dst_base+0(FP), DI
	MOVQ src_base+24(FP), SI

row8:
	MOVQ DI, R10
	MOVQ starts_len+56(FP), CX
	SHRQ $3, CX
	JZ   next8
	MOVQ starts_base+48(FP), R8
	MOVQ weights_base+72(FP), R9

loop8:
	MOVLQSX 0(R8), AX
	VMOVUPS (SI)(AX*4), Y0
	VMULPS  0(R9), Y0, Y0
	MOVLQSX 4(R8), AX
	VMOVUPS (SI)(AX*4), Y1
	VMULPS  32(R9), Y1, Y1
	MOVLQSX 8(R8), AX
	VMOVUPS (SI)(AX*4), Y2
	VMULPS  64(R9), Y2, Y2
	MOVLQSX 12(R8), AX
	VMOVUPS (SI)(AX*4), Y3
	VMULPS  96(R9), Y3, Y3
	MOVLQSX 16(R8), AX
	VMOVUPS (SI)(AX*4), Y4
	VMULPS  128(R9), Y4, Y4
	MOVLQSX 20(R8), AX
	VMOVUPS (SI)(AX*4), Y5
	VMULPS  160(R9), Y5, Y5
	MOVLQSX 24(R8), AX
	VMOVUPS (SI)(AX*4), Y6
	VMULPS  192(R9), Y6, Y6
	MOVLQSX 28(R8), AX
	VMOVUPS (SI)(AX*4), Y7
	VMULPS  224(R9), Y7, Y7

	// Lane halves after each round: pairs 0 1 | 0 1, 2 3 | 2 3, ...;
	// quarter sums 0 1 2 3 | 0 1 2 3 and 4 5 6 7 | 4 5 6 7; then the
	// halves of the two are added across lanes.
	VHADDPS    Y1, Y0, Y0
	VHADDPS    Y3, Y2, Y2
	VHADDPS    Y5, Y4, Y4
	VHADDPS    Y7, Y6, Y6
	VHADDPS    Y2, Y0, Y0
	VHADDPS    Y6, Y4, Y4
	VPERM2F128 $0x20, Y4, Y0, Y1
	VPERM2F128 $0x31, Y4, Y0, Y2
	VADDPS     Y2, Y1, Y1
	VMOVUPS    Y1, (DI)

	ADDQ $32, DI
	ADDQ $32, R8
	ADDQ $256, R9
	DECQ CX
	JNZ  loop8

next8:
	MOVQ starts_len+56(FP), BX
	LEAQ (R10)(BX*4), DI
	MOVQ srcLen+96(FP), BX
	LEAQ (SI)(BX*4), SI
	DECQ rows+104(FP)
	JNZ  row8
	VZEROUPPER
	RET

// func windowDotsWideAVX2(dst, src []float32, starts []int32, weights []float32, taps, srcLen, rows int)
//
// As windowDots8AVX2 for any multiple of 8 taps: each window's products
// are summed eight taps at a time in its own register before the eight
// registers are reduced.
TEXT ·windowDotsWideAVX2(SB), NOSPLIT, $0-120
	MOVQ dst_base+0(FP), DI
	MOVQ src_base+24(FP), SI
	MOVQ taps+96(FP), R11
	SHLQ $2, R11             // bytes of weights per window
	MOVQ R11, R12
	SHRQ $5, R12             // chunks of 8 taps per window

rowW:
	MOVQ DI, R10
	MOVQ starts_len+56(FP), CX
	SHRQ $3, CX
	JZ   nextW
	MOVQ starts_base+48(FP), R8
	MOVQ weights_base+72(FP), R9

loopW:
	VXORPS Y0, Y0, Y0
	VXORPS Y1, Y1, Y1
	VXORPS Y2, Y2, Y2
	VXORPS Y3, Y3, Y3
	VXORPS Y4, Y4, Y4
	VXORPS Y5, Y5, Y5
	VXORPS Y6, Y6, Y6
	VXORPS Y7, Y7, Y7
	XORQ   R13, R13          // byte offset of the chunk in a window
	MOVQ   R12, DX

chunkW:
	LEAQ        (R9)(R13*1), BX
	MOVLQSX     0(R8), AX
	LEAQ        (SI)(AX*4), AX
	VMOVUPS     (AX)(R13*1), Y8
	VFMADD231PS (BX), Y8, Y0
	ADDQ        R11, BX
	MOVLQSX     4(R8), AX
	LEAQ        (SI)(AX*4), AX
	VMOVUPS     (AX)(R13*1), Y8
	VFMADD231PS (BX), Y8, Y1
	ADDQ        R11, BX
	MOVLQSX     8(R8), AX
	LEAQ        (SI)(AX*4), AX
	VMOVUPS     (AX)(R13*1), Y8
	VFMADD231PS (BX), Y8, Y2
	ADDQ        R11, BX
	MOVLQSX     12(R8), AX
	LEAQ        (SI)(AX*4), AX
	VMOVUPS     (AX)(R13*1), Y8
	VFMADD231PS (BX), Y8, Y3
	ADDQ        R11, BX
	MOVLQSX     16(R8), AX
	LEAQ        (SI)(AX*4), AX
	VMOVUPS     (AX)(R13*1), Y8
	VFMADD231PS (BX), Y8, Y4
	ADDQ        R11, BX
	MOVLQSX     20(R8), AX
	LEAQ        (SI)(AX*4), AX
	VMOVUPS     (AX)(R13*1), Y8
	VFMADD231PS (BX), Y8, Y5
	ADDQ        R11, BX
	MOVLQSX     24(R8), AX
	LEAQ        (SI)(AX*4), AX
	VMOVUPS     (AX)(R13*1), Y8
	VFMADD231PS (BX), Y8, Y6
	ADDQ        R11, BX
	MOVLQSX     28(R8), AX
	LEAQ        (SI)(AX*4), AX
	VMOVUPS     (AX)(R13*1), Y8
	VFMADD231PS (BX), Y8, Y7
	ADDQ        $32, R13
	DECQ        DX
	JNZ         chunkW

	VHADDPS    Y1, Y0, Y0
	VHADDPS    Y3, Y2, Y2
	VHADDPS    Y5, Y4, Y4
	VHADDPS    Y7, Y6, Y6
	VHADDPS    Y2, Y0, Y0
	VHADDPS    Y6, Y4, Y4
	VPERM2F128 $0x20, Y4, Y0, Y1
	VPERM2F128 $0x31, Y4, Y0, Y2
	VADDPS     Y2, Y1, Y1
	VMOVUPS    Y1, (DI)

	ADDQ $32, DI
	ADDQ $32, R8
	LEAQ (R9)(R11*8), R9
	DECQ CX
	JNZ  loopW

nextW:
	MOVQ starts_len+56(FP), BX
	LEAQ (R10)(BX*4), DI
	MOVQ srcLen+104(FP), BX
	LEAQ (SI)(BX*4), SI
	DECQ rows+112(FP)
	JNZ  rowW
	VZEROUPPER
	RET
