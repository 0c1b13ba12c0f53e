package gpu

import (
	"encoding/binary"
	"math/bits"
)

// This file is the pure-Go SHA-256 used as the reference for the kernel: the
// compression function, the initial hash value and the round constants. It is
// deliberately plain (no assembly) so that it reads like the kernel source.

// HeaderSize is the size of an encoded block header: the nonce is its last
// eight bytes (little-endian), so that it lies in the third SHA-256 chunk.
const HeaderSize = 160

// NonceOffset is the byte offset of the little-endian u64 nonce in a header.
const NonceOffset = 152

// iv is SHA-256's initial hash value.
var iv = [8]uint32{
	0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a,
	0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19,
}

// k is SHA-256's table of round constants.
var k = [64]uint32{
	0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4, 0xab1c5ed5,
	0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174,
	0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da,
	0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7, 0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967,
	0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85,
	0xa2bfe8a1, 0xa81a664b, 0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070,
	0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
	0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7, 0xc67178f2,
}

func rotr(x uint32, n int) uint32 { return bits.RotateLeft32(x, -n) }

func bigSigma0(x uint32) uint32 { return rotr(x, 2) ^ rotr(x, 13) ^ rotr(x, 22) }
func bigSigma1(x uint32) uint32 { return rotr(x, 6) ^ rotr(x, 11) ^ rotr(x, 25) }
func smallSigma0(x uint32) uint32 {
	return rotr(x, 7) ^ rotr(x, 18) ^ (x >> 3)
}
func smallSigma1(x uint32) uint32 {
	return rotr(x, 17) ^ rotr(x, 19) ^ (x >> 10)
}
func ch(e, f, g uint32) uint32  { return (e & f) ^ (^e & g) }
func maj(a, b, c uint32) uint32 { return (a & b) ^ (a & c) ^ (b & c) }

// expand returns the 64-word message schedule of one 16-word block.
func expand(w16 [16]uint32) (w [64]uint32) {
	copy(w[:16], w16[:])
	for t := 16; t < 64; t++ {
		w[t] = smallSigma1(w[t-2]) + w[t-7] + smallSigma0(w[t-15]) + w[t-16]
	}
	return w
}

// compress runs the SHA-256 compression function on one block (as 16
// big-endian words) and returns the new chaining value.
func compress(h [8]uint32, block [16]uint32) [8]uint32 {
	w := expand(block)
	a, b, c, d, e, f, g, hh := h[0], h[1], h[2], h[3], h[4], h[5], h[6], h[7]
	for t := 0; t < 64; t++ {
		t1 := hh + bigSigma1(e) + ch(e, f, g) + k[t] + w[t]
		t2 := bigSigma0(a) + maj(a, b, c)
		hh, g, f, e, d, c, b, a = g, f, e, d+t1, c, b, a, t1+t2
	}
	return [8]uint32{h[0] + a, h[1] + b, h[2] + c, h[3] + d, h[4] + e, h[5] + f, h[6] + g, h[7] + hh}
}

// blockWords reads 64 bytes as 16 big-endian words.
func blockWords(p []byte) (w [16]uint32) {
	_ = p[63]
	for i := range w {
		w[i] = binary.BigEndian.Uint32(p[4*i:])
	}
	return w
}

// Midstate returns the SHA-256 chaining value after the first two 64-byte
// chunks (bytes 0..127) of a 160-byte header. It does not depend on the nonce.
func Midstate(header *[HeaderSize]byte) [8]uint32 {
	h := compress(iv, blockWords(header[0:64]))
	return compress(h, blockWords(header[64:128]))
}

// TailWords returns words W0..W5 of the third chunk of a header (bytes
// 128..151, big-endian), the part of that chunk that precedes the nonce.
func TailWords(header *[HeaderSize]byte) (w [6]uint32) {
	for i := range w {
		w[i] = binary.BigEndian.Uint32(header[128+4*i:])
	}
	return w
}

// digestBytes writes a chaining value as the 32-byte SHA-256 digest.
func digestBytes(h [8]uint32) (d [32]byte) {
	for i, v := range h {
		binary.BigEndian.PutUint32(d[4*i:], v)
	}
	return d
}
