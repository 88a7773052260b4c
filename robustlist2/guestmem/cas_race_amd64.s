//go:build race

#include "textflag.h"

// func cas32(p unsafe.Pointer, old, new uint32) uint32
TEXT ·cas32(SB), NOSPLIT, $0-20
	MOVQ	p+0(FP), BX
	MOVL	old+8(FP), AX
	MOVL	new+12(FP), CX
	LOCK
	CMPXCHGL	CX, 0(BX)
	// AX holds the previous value whether or not the swap happened.
	MOVL	AX, ret+16(FP)
	RET
