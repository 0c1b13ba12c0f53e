//go:build amd64 && !purego

#include "textflag.h"

// SHA-256d of a 160-byte header from its midstate with the SHA extensions
// (SHA-NI). Register use: X1 = state ABEF, X2 = state CDGH (the lane order
// SHA256RNDS2 works on), X3..X6 = the message schedule, four words each,
// X0 = message + round constants (the implicit operand of SHA256RNDS2),
// X7 = scratch, X8 = the byte-swap mask, X9/X10 = the state to add back,
// DX = the round-constant table.

// Four rounds on message words m: X0 = m + K[k/4..k/4+3], two rounds on
// lanes 0-1, then two on lanes 2-3. The register that held CDGH gets the
// new ABEF; the old ABEF is the new CDGH, so X1/X2 swap twice and end in
// place.
#define RND4(m, k) \
	MOVOU k(DX), X0; \
	PADDD m, X0; \
	SHA256RNDS2 X0, X1, X2; \
	PSHUFD $0x0e, X0, X0; \
	SHA256RNDS2 X0, X2, X1

// The next four schedule words, written over the oldest (w4 = W[t-16..t-13]):
// W[t..t+3] = MSG2(MSG1(W[t-16..], W[t-12..]) + W[t-7..t-4], W[t-4..t-1]).
#define SCHED(w4, w3, w2, w1) \
	SHA256MSG1 w3, w4; \
	MOVOU w1, X7; \
	PALIGNR $4, w2, X7; \
	PADDD X7, w4; \
	SHA256MSG2 w1, w4

// 64 rounds over the block in X3..X6.
#define COMPRESS \
	RND4(X3, 0); \
	RND4(X4, 16); \
	RND4(X5, 32); \
	RND4(X6, 48); \
	SCHED(X3, X4, X5, X6); \
	RND4(X3, 64); \
	SCHED(X4, X5, X6, X3); \
	RND4(X4, 80); \
	SCHED(X5, X6, X3, X4); \
	RND4(X5, 96); \
	SCHED(X6, X3, X4, X5); \
	RND4(X6, 112); \
	SCHED(X3, X4, X5, X6); \
	RND4(X3, 128); \
	SCHED(X4, X5, X6, X3); \
	RND4(X4, 144); \
	SCHED(X5, X6, X3, X4); \
	RND4(X5, 160); \
	SCHED(X6, X3, X4, X5); \
	RND4(X6, 176); \
	SCHED(X3, X4, X5, X6); \
	RND4(X3, 192); \
	SCHED(X4, X5, X6, X3); \
	RND4(X4, 208); \
	SCHED(X5, X6, X3, X4); \
	RND4(X5, 224); \
	SCHED(X6, X3, X4, X5); \
	RND4(X6, 240)

// From words lo = [a b c d], hi = [e f g h] (lane 0 first) to lo = ABEF
// = [f e b a], hi = CDGH = [h g d c].
#define STATE_IN(lo, hi) \
	PSHUFD $0xb1, lo, lo; \
	PSHUFD $0x1b, hi, hi; \
	MOVOU lo, X7; \
	PALIGNR $8, hi, lo; \
	PBLENDW $0xf0, X7, hi

// The inverse of STATE_IN.
#define STATE_OUT(lo, hi) \
	PSHUFD $0x1b, lo, lo; \
	PSHUFD $0xb1, hi, hi; \
	MOVOU lo, X7; \
	PBLENDW $0xf0, hi, lo; \
	PALIGNR $8, X7, hi

// func sha256dSHANI(mid *[8]uint32, block *[64]byte, out *[32]byte)
TEXT ·sha256dSHANI(SB), NOSPLIT, $0-24
	MOVQ mid+0(FP), AX
	MOVQ block+8(FP), BX
	MOVQ out+16(FP), CX
	LEAQ shaniK<>(SB), DX
	MOVOU shaniBswap<>(SB), X8

	// First SHA-256: the last (padded) header block from the midstate.
	MOVOU 0(AX), X1
	MOVOU 16(AX), X2
	STATE_IN(X1, X2)
	MOVOU X1, X9
	MOVOU X2, X10
	MOVOU 0(BX), X3
	PSHUFB X8, X3
	MOVOU 16(BX), X4
	PSHUFB X8, X4
	MOVOU 32(BX), X5
	PSHUFB X8, X5
	MOVOU 48(BX), X6
	PSHUFB X8, X6
	COMPRESS
	PADDD X9, X1
	PADDD X10, X2
	STATE_OUT(X1, X2)

	// Second SHA-256: its digest words are the message words of one
	// padded block (length 256 bits), hashed from the IV.
	MOVOU X1, X3
	MOVOU X2, X4
	MOVOU shaniPad<>+0(SB), X5
	MOVOU shaniPad<>+16(SB), X6
	MOVOU shaniIV<>+0(SB), X1
	MOVOU shaniIV<>+16(SB), X2
	COMPRESS
	MOVOU shaniIV<>+0(SB), X9
	MOVOU shaniIV<>+16(SB), X10
	PADDD X9, X1
	PADDD X10, X2
	STATE_OUT(X1, X2)
	PSHUFB X8, X1
	PSHUFB X8, X2
	MOVOU X1, 0(CX)
	MOVOU X2, 16(CX)
	RET

// Two independent nonces at once: the rounds are latency-bound, so a
// second, interleaved chain of SHA256RNDS2 nearly doubles throughput.
// Stream A: X1/X2 state, X3..X6 schedule, X7 scratch; stream B: X9/X10
// state, X11..X14 schedule, X15 scratch. X0 serves both in turn.
#define RND4S(m, k, abef, cdgh) \
	MOVOU k(DX), X0; \
	PADDD m, X0; \
	SHA256RNDS2 X0, abef, cdgh; \
	PSHUFD $0x0e, X0, X0; \
	SHA256RNDS2 X0, cdgh, abef

#define SCHEDS(w4, w3, w2, w1, tmp) \
	SHA256MSG1 w3, w4; \
	MOVOU w1, tmp; \
	PALIGNR $4, w2, tmp; \
	PADDD tmp, w4; \
	SHA256MSG2 w1, w4

#define STATE_OUTS(lo, hi, tmp) \
	PSHUFD $0x1b, lo, lo; \
	PSHUFD $0xb1, hi, hi; \
	MOVOU lo, tmp; \
	PBLENDW $0xf0, hi, lo; \
	PALIGNR $8, tmp, hi

#define COMPRESS2 \
	RND4S(X3, 0, X1, X2); \
	RND4S(X11, 0, X9, X10); \
	RND4S(X4, 16, X1, X2); \
	RND4S(X12, 16, X9, X10); \
	RND4S(X5, 32, X1, X2); \
	RND4S(X13, 32, X9, X10); \
	RND4S(X6, 48, X1, X2); \
	RND4S(X14, 48, X9, X10); \
	SCHEDS(X3, X4, X5, X6, X7); \
	SCHEDS(X11, X12, X13, X14, X15); \
	RND4S(X3, 64, X1, X2); \
	RND4S(X11, 64, X9, X10); \
	SCHEDS(X4, X5, X6, X3, X7); \
	SCHEDS(X12, X13, X14, X11, X15); \
	RND4S(X4, 80, X1, X2); \
	RND4S(X12, 80, X9, X10); \
	SCHEDS(X5, X6, X3, X4, X7); \
	SCHEDS(X13, X14, X11, X12, X15); \
	RND4S(X5, 96, X1, X2); \
	RND4S(X13, 96, X9, X10); \
	SCHEDS(X6, X3, X4, X5, X7); \
	SCHEDS(X14, X11, X12, X13, X15); \
	RND4S(X6, 112, X1, X2); \
	RND4S(X14, 112, X9, X10); \
	SCHEDS(X3, X4, X5, X6, X7); \
	SCHEDS(X11, X12, X13, X14, X15); \
	RND4S(X3, 128, X1, X2); \
	RND4S(X11, 128, X9, X10); \
	SCHEDS(X4, X5, X6, X3, X7); \
	SCHEDS(X12, X13, X14, X11, X15); \
	RND4S(X4, 144, X1, X2); \
	RND4S(X12, 144, X9, X10); \
	SCHEDS(X5, X6, X3, X4, X7); \
	SCHEDS(X13, X14, X11, X12, X15); \
	RND4S(X5, 160, X1, X2); \
	RND4S(X13, 160, X9, X10); \
	SCHEDS(X6, X3, X4, X5, X7); \
	SCHEDS(X14, X11, X12, X13, X15); \
	RND4S(X6, 176, X1, X2); \
	RND4S(X14, 176, X9, X10); \
	SCHEDS(X3, X4, X5, X6, X7); \
	SCHEDS(X11, X12, X13, X14, X15); \
	RND4S(X3, 192, X1, X2); \
	RND4S(X11, 192, X9, X10); \
	SCHEDS(X4, X5, X6, X3, X7); \
	SCHEDS(X12, X13, X14, X11, X15); \
	RND4S(X4, 208, X1, X2); \
	RND4S(X12, 208, X9, X10); \
	SCHEDS(X5, X6, X3, X4, X7); \
	SCHEDS(X13, X14, X11, X12, X15); \
	RND4S(X5, 224, X1, X2); \
	RND4S(X13, 224, X9, X10); \
	SCHEDS(X6, X3, X4, X5, X7); \
	SCHEDS(X14, X11, X12, X13, X15); \
	RND4S(X6, 240, X1, X2); \
	RND4S(X14, 240, X9, X10)

// func sha256dSHANIx2(mid *[8]uint32, blocks *[128]byte, out *[64]byte)
// mid is the midstate in SHA256RNDS2 order: ABEF = [f e b a], then
// CDGH = [h g d c] (lane 0 first); blocks are two padded last blocks.
TEXT ·sha256dSHANIx2(SB), NOSPLIT, $0-24
	MOVQ mid+0(FP), AX
	MOVQ blocks+8(FP), BX
	MOVQ out+16(FP), CX
	LEAQ shaniK<>(SB), DX
	MOVOU shaniBswap<>(SB), X8
	MOVOU 0(AX), X1
	MOVOU 16(AX), X2
	MOVOU X1, X9
	MOVOU X2, X10
	MOVOU 0(BX), X3
	PSHUFB X8, X3
	MOVOU 64(BX), X11
	PSHUFB X8, X11
	MOVOU 16(BX), X4
	PSHUFB X8, X4
	MOVOU 80(BX), X12
	PSHUFB X8, X12
	MOVOU 32(BX), X5
	PSHUFB X8, X5
	MOVOU 96(BX), X13
	PSHUFB X8, X13
	MOVOU 48(BX), X6
	PSHUFB X8, X6
	MOVOU 112(BX), X14
	PSHUFB X8, X14
	COMPRESS2
	MOVOU 0(AX), X7
	MOVOU 16(AX), X15
	PADDD X7, X1
	PADDD X15, X2
	PADDD X7, X9
	PADDD X15, X10
	STATE_OUTS(X1, X2, X7)
	STATE_OUTS(X9, X10, X15)
	MOVOU X1, X3
	MOVOU X2, X4
	MOVOU X9, X11
	MOVOU X10, X12
	MOVOU shaniPad<>+0(SB), X5
	MOVOU shaniPad<>+16(SB), X6
	MOVOU X5, X13
	MOVOU X6, X14
	MOVOU shaniIV<>+0(SB), X1
	MOVOU shaniIV<>+16(SB), X2
	MOVOU X1, X9
	MOVOU X2, X10
	COMPRESS2
	MOVOU shaniIV<>+0(SB), X7
	MOVOU shaniIV<>+16(SB), X15
	PADDD X7, X1
	PADDD X15, X2
	PADDD X7, X9
	PADDD X15, X10
	STATE_OUTS(X1, X2, X7)
	STATE_OUTS(X9, X10, X15)
	PSHUFB X8, X1
	PSHUFB X8, X2
	PSHUFB X8, X9
	PSHUFB X8, X10
	MOVOU X1, 0(CX)
	MOVOU X2, 16(CX)
	MOVOU X9, 32(CX)
	MOVOU X10, 48(CX)
	RET

// func cpuid(eaxArg, ecxArg uint32) (eax, ebx, ecx, edx uint32)
TEXT ·cpuid(SB), NOSPLIT, $0-24
	MOVL eaxArg+0(FP), AX
	MOVL ecxArg+4(FP), CX
	CPUID
	MOVL AX, eax+8(FP)
	MOVL BX, ebx+12(FP)
	MOVL CX, ecx+16(FP)
	MOVL DX, edx+20(FP)
	RET

// SHA-256 round constants.
DATA shaniK<>+0x00(SB)/4, $0x428a2f98
DATA shaniK<>+0x04(SB)/4, $0x71374491
DATA shaniK<>+0x08(SB)/4, $0xb5c0fbcf
DATA shaniK<>+0x0c(SB)/4, $0xe9b5dba5
DATA shaniK<>+0x10(SB)/4, $0x3956c25b
DATA shaniK<>+0x14(SB)/4, $0x59f111f1
DATA shaniK<>+0x18(SB)/4, $0x923f82a4
DATA shaniK<>+0x1c(SB)/4, $0xab1c5ed5
DATA shaniK<>+0x20(SB)/4, $0xd807aa98
DATA shaniK<>+0x24(SB)/4, $0x12835b01
DATA shaniK<>+0x28(SB)/4, $0x243185be
DATA shaniK<>+0x2c(SB)/4, $0x550c7dc3
DATA shaniK<>+0x30(SB)/4, $0x72be5d74
DATA shaniK<>+0x34(SB)/4, $0x80deb1fe
DATA shaniK<>+0x38(SB)/4, $0x9bdc06a7
DATA shaniK<>+0x3c(SB)/4, $0xc19bf174
DATA shaniK<>+0x40(SB)/4, $0xe49b69c1
DATA shaniK<>+0x44(SB)/4, $0xefbe4786
DATA shaniK<>+0x48(SB)/4, $0x0fc19dc6
DATA shaniK<>+0x4c(SB)/4, $0x240ca1cc
DATA shaniK<>+0x50(SB)/4, $0x2de92c6f
DATA shaniK<>+0x54(SB)/4, $0x4a7484aa
DATA shaniK<>+0x58(SB)/4, $0x5cb0a9dc
DATA shaniK<>+0x5c(SB)/4, $0x76f988da
DATA shaniK<>+0x60(SB)/4, $0x983e5152
DATA shaniK<>+0x64(SB)/4, $0xa831c66d
DATA shaniK<>+0x68(SB)/4, $0xb00327c8
DATA shaniK<>+0x6c(SB)/4, $0xbf597fc7
DATA shaniK<>+0x70(SB)/4, $0xc6e00bf3
DATA shaniK<>+0x74(SB)/4, $0xd5a79147
DATA shaniK<>+0x78(SB)/4, $0x06ca6351
DATA shaniK<>+0x7c(SB)/4, $0x14292967
DATA shaniK<>+0x80(SB)/4, $0x27b70a85
DATA shaniK<>+0x84(SB)/4, $0x2e1b2138
DATA shaniK<>+0x88(SB)/4, $0x4d2c6dfc
DATA shaniK<>+0x8c(SB)/4, $0x53380d13
DATA shaniK<>+0x90(SB)/4, $0x650a7354
DATA shaniK<>+0x94(SB)/4, $0x766a0abb
DATA shaniK<>+0x98(SB)/4, $0x81c2c92e
DATA shaniK<>+0x9c(SB)/4, $0x92722c85
DATA shaniK<>+0xa0(SB)/4, $0xa2bfe8a1
DATA shaniK<>+0xa4(SB)/4, $0xa81a664b
DATA shaniK<>+0xa8(SB)/4, $0xc24b8b70
DATA shaniK<>+0xac(SB)/4, $0xc76c51a3
DATA shaniK<>+0xb0(SB)/4, $0xd192e819
DATA shaniK<>+0xb4(SB)/4, $0xd6990624
DATA shaniK<>+0xb8(SB)/4, $0xf40e3585
DATA shaniK<>+0xbc(SB)/4, $0x106aa070
DATA shaniK<>+0xc0(SB)/4, $0x19a4c116
DATA shaniK<>+0xc4(SB)/4, $0x1e376c08
DATA shaniK<>+0xc8(SB)/4, $0x2748774c
DATA shaniK<>+0xcc(SB)/4, $0x34b0bcb5
DATA shaniK<>+0xd0(SB)/4, $0x391c0cb3
DATA shaniK<>+0xd4(SB)/4, $0x4ed8aa4a
DATA shaniK<>+0xd8(SB)/4, $0x5b9cca4f
DATA shaniK<>+0xdc(SB)/4, $0x682e6ff3
DATA shaniK<>+0xe0(SB)/4, $0x748f82ee
DATA shaniK<>+0xe4(SB)/4, $0x78a5636f
DATA shaniK<>+0xe8(SB)/4, $0x84c87814
DATA shaniK<>+0xec(SB)/4, $0x8cc70208
DATA shaniK<>+0xf0(SB)/4, $0x90befffa
DATA shaniK<>+0xf4(SB)/4, $0xa4506ceb
DATA shaniK<>+0xf8(SB)/4, $0xbef9a3f7
DATA shaniK<>+0xfc(SB)/4, $0xc67178f2
GLOBL shaniK<>(SB), RODATA|NOPTR, $256

// PSHUFB mask: reverse the bytes of each 32-bit lane.
DATA shaniBswap<>+0x00(SB)/8, $0x0405060700010203
DATA shaniBswap<>+0x08(SB)/8, $0x0c0d0e0f08090a0b
GLOBL shaniBswap<>(SB), RODATA|NOPTR, $16

// Message words 8..15 of the second hash: 0x80000000, zeros, length 256.
DATA shaniPad<>+0x00(SB)/4, $0x80000000
DATA shaniPad<>+0x04(SB)/4, $0
DATA shaniPad<>+0x08(SB)/8, $0
DATA shaniPad<>+0x10(SB)/8, $0
DATA shaniPad<>+0x18(SB)/4, $0
DATA shaniPad<>+0x1c(SB)/4, $256
GLOBL shaniPad<>(SB), RODATA|NOPTR, $32

// The SHA-256 IV as ABEF = [f e b a], CDGH = [h g d c] (lane 0 first).
DATA shaniIV<>+0x00(SB)/4, $0x9b05688c
DATA shaniIV<>+0x04(SB)/4, $0x510e527f
DATA shaniIV<>+0x08(SB)/4, $0xbb67ae85
DATA shaniIV<>+0x0c(SB)/4, $0x6a09e667
DATA shaniIV<>+0x10(SB)/4, $0x5be0cd19
DATA shaniIV<>+0x14(SB)/4, $0x1f83d9ab
DATA shaniIV<>+0x18(SB)/4, $0xa54ff53a
DATA shaniIV<>+0x1c(SB)/4, $0x3c6ef372
GLOBL shaniIV<>(SB), RODATA|NOPTR, $32
