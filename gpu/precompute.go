package gpu

import (
	"encoding/binary"
	"math/bits"
)

// This file is the host half of the kernel and its pure-Go twin: what is
// computed once per (job, high nonce word) and how one nonce is then tried.
// kernels/sha256d.cu does exactly what try does, round for round, from the
// parameter block that params packs. Keep the three in step.
//
// Chunk 2 of the header is W0..W5 (fixed), W6 = bswap(nonce low word),
// W7 = bswap(nonce high word), W8 = 0x80000000, W9..W14 = 0, W15 = 1280.
// A kernel launch never crosses a multiple of 2^32 nonces, so W7 is fixed per
// launch and only W6 varies.

// Compile-time constants of chunk 2 and of the second hash's block.
const (
	w8Pad      = 0x80000000
	w15Len1    = HeaderSize * 8 // 1280
	w15Len2    = 256
	sigma0W15  = 0x014000AA // smallSigma0(1280), checked by a test
	sigma1W15  = 0x02200001 // smallSigma1(1280), checked by a test
	sigma0W8   = 0x11002000 // smallSigma0(0x80000000), checked by a test
	ivH7       = 0x5be0cd19
	paramWords = 50 // u32 words before the result pointer
	// paramsSize is the byte size of the kernel's parameter block.
	paramsSize = paramWords*4 + 8
)

// precomp is the nonce-independent part of the work for one job and one high
// nonce word. Field order is the kernel parameter layout (see params).
type precomp struct {
	ms                     [8]uint32 // midstate: chunk-2 feed-forward
	a5, b5, c5, d5, e5, f5 uint32    // state after rounds 0..5 (g5, h5 folded below)
	p6                     uint32    // h5 + Σ1(e5) + Ch(e5,f5,g5) + K6: round 6's T1 without W6
	t26                    uint32    // Σ0(a5) + Maj(a5,b5,c5): round 6's T2
	p7                     uint32    // g5 + K7 + W7
	p8                     uint32    // f5 + K8 + W8
	w18, w19, w20          uint32    // schedule words still read per nonce
	kw                     [5]uint32 // K[t] + W[t] for t = 16..20
	c21, c22, c23, c24     uint32    // fixed parts of W21..W24
	c31                    [5]uint32 // fixed parts of W31..W35
	target                 [8]uint32
	hi                     uint32 // high nonce word of this launch
}

// newPrecomp does the host-side precomputation for nonces whose high 32
// bits are hi.
func newPrecomp(j *Job, hi uint32) precomp {
	var p precomp
	p.ms = j.Midstate
	p.target = j.Target
	p.hi = hi
	w := j.Tail
	w7 := bits.ReverseBytes32(hi)

	a, b, c, d, e, f, g, h := j.Midstate[0], j.Midstate[1], j.Midstate[2], j.Midstate[3],
		j.Midstate[4], j.Midstate[5], j.Midstate[6], j.Midstate[7]
	for t := 0; t < 6; t++ {
		t1 := h + bigSigma1(e) + ch(e, f, g) + k[t] + w[t]
		t2 := bigSigma0(a) + maj(a, b, c)
		h, g, f, e, d, c, b, a = g, f, e, d+t1, c, b, a, t1+t2
	}
	p.a5, p.b5, p.c5, p.d5, p.e5, p.f5 = a, b, c, d, e, f
	p.p6 = h + bigSigma1(e) + ch(e, f, g) + k[6]
	p.t26 = bigSigma0(a) + maj(a, b, c)
	p.p7 = g + k[7] + w7
	p.p8 = f + k[8] + w8Pad

	w16 := smallSigma0(w[1]) + w[0]
	w17 := sigma1W15 + smallSigma0(w[2]) + w[1]
	w18 := smallSigma1(w16) + smallSigma0(w[3]) + w[2]
	w19 := smallSigma1(w17) + smallSigma0(w[4]) + w[3]
	w20 := smallSigma1(w18) + smallSigma0(w[5]) + w[4]
	p.w18, p.w19, p.w20 = w18, w19, w20
	p.kw = [5]uint32{k[16] + w16, k[17] + w17, k[18] + w18, k[19] + w19, k[20] + w20}
	p.c21 = smallSigma1(w19) + w[5]
	p.c22 = smallSigma1(w20) + w15Len1 + smallSigma0(w7)
	p.c23 = w16 + sigma0W8 + w7
	p.c24 = w17 + w8Pad
	p.c31 = [5]uint32{
		smallSigma0(w16) + w15Len1,
		smallSigma0(w17) + w16,
		smallSigma0(w18) + w17,
		smallSigma0(w19) + w18,
		smallSigma0(w20) + w19,
	}
	return p
}

// round is one SHA-256 round on the state (a..h) with kw = K[t] + W[t]; it
// returns the new a and e (the other six words shift).
func round(a, b, c, d, e, f, g, h, kw uint32) (na, ne uint32) {
	t1 := h + bigSigma1(e) + ch(e, f, g) + kw
	return t1 + bigSigma0(a) + maj(a, b, c), d + t1
}

// try runs the kernel's per-nonce work for nonce (p.hi<<32 | lo): the rest
// of chunk 2's compression, the second SHA-256 up to round 60, the early
// reject on the most significant digest limb, and for survivors the last
// three rounds and the full comparison. It reports whether the nonce meets
// the target; top is the most significant digest limb, bswap(H7).
func (p *precomp) try(lo uint32) (hit bool, top uint32) {
	var w [64]uint32
	w6 := bits.ReverseBytes32(lo)

	// Chunk 2, rounds 6..8 from the precomputed state.
	t1 := p.p6 + w6
	a6, e6 := t1+p.t26, p.d5+t1
	t1 = p.p7 + bigSigma1(e6) + ch(e6, p.e5, p.f5)
	a7, e7 := t1+bigSigma0(a6)+maj(a6, p.a5, p.b5), p.c5+t1
	t1 = p.p8 + bigSigma1(e7) + ch(e7, e6, p.e5)
	a8, e8 := t1+bigSigma0(a7)+maj(a7, a6, p.a5), p.b5+t1

	// State as a rolling window: s[0]=a ... s[7]=h.
	a, b, c, d, e, f, g, h := a8, a7, a6, p.a5, e8, e7, e6, p.e5
	step := func(kw uint32) {
		na, ne := round(a, b, c, d, e, f, g, h, kw)
		h, g, f, e, d, c, b, a = g, f, e, ne, c, b, a, na
	}
	// Rounds 9..15: W9..W14 = 0, W15 = 1280.
	for t := 9; t < 15; t++ {
		step(k[t])
	}
	step(k[15] + w15Len1)
	for t := 16; t <= 20; t++ {
		step(p.kw[t-16])
	}
	w[18], w[19], w[20] = p.w18, p.w19, p.w20
	w[21] = p.c21 + smallSigma0(w6)
	w[22] = p.c22 + w6
	w[23] = smallSigma1(w[21]) + p.c23
	w[24] = smallSigma1(w[22]) + p.c24
	w[25] = smallSigma1(w[23]) + w[18]
	w[26] = smallSigma1(w[24]) + w[19]
	w[27] = smallSigma1(w[25]) + w[20]
	w[28] = smallSigma1(w[26]) + w[21]
	w[29] = smallSigma1(w[27]) + w[22]
	w[30] = smallSigma1(w[28]) + w[23] + sigma0W15
	for t := 31; t <= 35; t++ {
		w[t] = smallSigma1(w[t-2]) + w[t-7] + p.c31[t-31]
	}
	for t := 36; t < 64; t++ {
		w[t] = smallSigma1(w[t-2]) + w[t-7] + smallSigma0(w[t-15]) + w[t-16]
	}
	for t := 21; t < 64; t++ {
		step(k[t] + w[t])
	}
	// Second hash: one block, the first digest followed by padding.
	var v [64]uint32
	v[0], v[1], v[2], v[3] = p.ms[0]+a, p.ms[1]+b, p.ms[2]+c, p.ms[3]+d
	v[4], v[5], v[6], v[7] = p.ms[4]+e, p.ms[5]+f, p.ms[6]+g, p.ms[7]+h
	v[8], v[15] = w8Pad, w15Len2
	for t := 16; t < 64; t++ {
		v[t] = smallSigma1(v[t-2]) + v[t-7] + smallSigma0(v[t-15]) + v[t-16]
	}
	a, b, c, d, e, f, g, h = iv[0], iv[1], iv[2], iv[3], iv[4], iv[5], iv[6], iv[7]
	for t := 0; t <= 60; t++ {
		step(k[t] + v[t])
	}
	// After round 60 the new e is what ends in h after round 63, so the last
	// digest word H7 = IV7 + e is known here: reject on its limb.
	top = bits.ReverseBytes32(ivH7 + e)
	if top > p.target[7] {
		return false, top
	}
	for t := 61; t < 64; t++ {
		step(k[t] + v[t])
	}
	final := [8]uint32{iv[0] + a, iv[1] + b, iv[2] + c, iv[3] + d, iv[4] + e, iv[5] + f, iv[6] + g, iv[7] + h}
	return meetsTarget(final, &p.target), top
}

// params packs the kernel's parameter block (a struct passed by value, see
// struct Sha256dParams in kernels/sha256d.cu): the precomputed words, then
// the launch's first low nonce word, its nonce count, nonces per thread, the
// capacity of the hit buffer, the constant 1 (for the MAD variant) and a pad
// word, then the hit buffer's device address.
func (p *precomp) params(lo, count, iters, hitCap uint32, out uint64) (b [paramsSize]byte) {
	words := make([]uint32, 0, paramWords)
	words = append(words, p.ms[:]...)
	words = append(words, p.a5, p.b5, p.c5, p.d5, p.e5, p.f5, p.p6, p.t26, p.p7, p.p8)
	words = append(words, p.w18, p.w19, p.w20)
	words = append(words, p.kw[:]...)
	words = append(words, p.c21, p.c22, p.c23, p.c24)
	words = append(words, p.c31[:]...)
	words = append(words, p.target[:]...)
	words = append(words, p.hi, lo, count, iters, hitCap, 1, 0)
	if len(words) != paramWords {
		panic("gpu: parameter block layout out of step")
	}
	for i, v := range words {
		binary.LittleEndian.PutUint32(b[4*i:], v)
	}
	binary.LittleEndian.PutUint64(b[4*paramWords:], out)
	return b
}
