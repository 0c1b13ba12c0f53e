package chain

import (
	"encoding/binary"
	"math/bits"
)

// HeaderSize is the fixed size of an encoded header.
const HeaderSize = 160

// Offsets of the header fields in the encoding. The nonce is last, in the
// third SHA-256 chunk (bytes 128..191 after padding), so a miner hashes the
// first two chunks once (the midstate) and only the last chunk per nonce.
const (
	offVersion      = 0
	offHeight       = 4
	offPrevBlock    = 12
	offTxRoot       = 44
	offGradientRoot = 76
	offStateRoot    = 108
	offTimestamp    = 140
	offBits         = 148
	offNonce        = 152
)

// HeaderVersion is the only header version this software accepts.
const HeaderVersion = 1

// Header is a block header. Its encoding is fixed-size little-endian.
type Header struct {
	Version      uint32
	Height       uint64
	PrevBlock    Hash  // hash of the parent header; zero for genesis
	TxRoot       Hash  // merkle root of the block's transactions (full hashes)
	GradientRoot Hash  // merkle root of the block's contributions (content hashes)
	StateRoot    Hash  // root of the model weights after this block
	Timestamp    int64 // unix seconds
	Bits         uint32
	Nonce        uint64
}

// Bytes returns the 160-byte encoding.
func (h *Header) Bytes() []byte {
	var b [HeaderSize]byte
	h.put(&b)
	return b[:]
}

// AppendTo appends the encoding to b.
func (h *Header) AppendTo(b []byte) []byte {
	var e [HeaderSize]byte
	h.put(&e)
	return append(b, e[:]...)
}

func (h *Header) put(b *[HeaderSize]byte) {
	le := binary.LittleEndian
	le.PutUint32(b[offVersion:], h.Version)
	le.PutUint64(b[offHeight:], h.Height)
	copy(b[offPrevBlock:], h.PrevBlock[:])
	copy(b[offTxRoot:], h.TxRoot[:])
	copy(b[offGradientRoot:], h.GradientRoot[:])
	copy(b[offStateRoot:], h.StateRoot[:])
	le.PutUint64(b[offTimestamp:], uint64(h.Timestamp))
	le.PutUint32(b[offBits:], h.Bits)
	le.PutUint64(b[offNonce:], h.Nonce)
}

// DecodeHeader decodes exactly HeaderSize bytes.
func DecodeHeader(b []byte) (Header, error) {
	if len(b) < HeaderSize {
		return Header{}, ruleError(ErrTruncated, "header: %d bytes, want %d", len(b), HeaderSize)
	}
	if len(b) > HeaderSize {
		return Header{}, ruleError(ErrTrailingData, "header: %d bytes, want %d", len(b), HeaderSize)
	}
	d := decoder{b: b}
	h := d.header()
	return h, d.finish("header")
}

func (d *decoder) header() Header {
	var h Header
	h.Version = d.u32("header version")
	h.Height = d.u64("header height")
	h.PrevBlock = d.hash("header prev block")
	h.TxRoot = d.hash("header tx root")
	h.GradientRoot = d.hash("header gradient root")
	h.StateRoot = d.hash("header state root")
	h.Timestamp = int64(d.u64("header timestamp"))
	h.Bits = d.u32("header bits")
	h.Nonce = d.u64("header nonce")
	return h
}

// BlockHash returns SHA-256(SHA-256(header)), the block's identity and its
// proof-of-work hash.
func (h *Header) BlockHash() Hash {
	var b [HeaderSize]byte
	h.put(&b)
	return DoubleSHA256(b[:])
}

// Midstate is the SHA-256 state after the first two 64-byte chunks of the
// header (bytes 0..127), which do not depend on the nonce.
type Midstate [8]uint32

// PowJob is what a nonce search needs: the midstate and the 32 tail bytes
// of the header (bytes 128..159, nonce included) from which the last chunk
// is formed. It is independent of the SHA-256 implementation, so the CPU
// and GPU solvers share it.
type PowJob struct {
	Mid  Midstate
	Tail [HeaderSize - 128]byte
}

// NewPowJob prepares a nonce search over h (h.Nonce is ignored).
func NewPowJob(h *Header) PowJob {
	var b [HeaderSize]byte
	h.put(&b)
	var j PowJob
	j.Mid = Midstate(sha256IV)
	sha256Block((*[8]uint32)(&j.Mid), b[0:64])
	sha256Block((*[8]uint32)(&j.Mid), b[64:128])
	copy(j.Tail[:], b[128:])
	return j
}

// Hash returns the block hash the header would have with the given nonce.
// It costs two SHA-256 compressions (the last chunk, then the second hash).
func (j *PowJob) Hash(nonce uint64) Hash {
	var chunk [64]byte
	copy(chunk[:], j.Tail[:])
	binary.LittleEndian.PutUint64(chunk[offNonce-128:], nonce)
	chunk[32] = 0x80
	binary.BigEndian.PutUint64(chunk[56:], HeaderSize*8)
	s := j.Mid
	sha256Block((*[8]uint32)(&s), chunk[:])
	var second [64]byte
	for i, v := range s {
		binary.BigEndian.PutUint32(second[4*i:], v)
	}
	second[32] = 0x80
	binary.BigEndian.PutUint64(second[56:], 32*8)
	st := sha256IV
	sha256Block(&st, second[:])
	var out Hash
	for i, v := range st {
		binary.BigEndian.PutUint32(out[4*i:], v)
	}
	return out
}

var sha256IV = [8]uint32{
	0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a,
	0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19,
}

var sha256K = [64]uint32{
	0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4, 0xab1c5ed5,
	0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174,
	0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da,
	0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7, 0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967,
	0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85,
	0xa2bfe8a1, 0xa81a664b, 0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070,
	0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
	0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7, 0xc67178f2,
}

// sha256Block is the SHA-256 compression function on one 64-byte chunk. It
// exists because crypto/sha256 does not expose its state; PowJob needs the
// midstate as words to hand it to any solver. Tests pin it to crypto/sha256.
func sha256Block(h *[8]uint32, p []byte) {
	var w [64]uint32
	for i := 0; i < 16; i++ {
		w[i] = binary.BigEndian.Uint32(p[4*i:])
	}
	for i := 16; i < 64; i++ {
		s0 := bits.RotateLeft32(w[i-15], -7) ^ bits.RotateLeft32(w[i-15], -18) ^ (w[i-15] >> 3)
		s1 := bits.RotateLeft32(w[i-2], -17) ^ bits.RotateLeft32(w[i-2], -19) ^ (w[i-2] >> 10)
		w[i] = w[i-16] + s0 + w[i-7] + s1
	}
	a, b, c, d, e, f, g, hh := h[0], h[1], h[2], h[3], h[4], h[5], h[6], h[7]
	for i := 0; i < 64; i++ {
		S1 := bits.RotateLeft32(e, -6) ^ bits.RotateLeft32(e, -11) ^ bits.RotateLeft32(e, -25)
		ch := (e & f) ^ (^e & g)
		t1 := hh + S1 + ch + sha256K[i] + w[i]
		S0 := bits.RotateLeft32(a, -2) ^ bits.RotateLeft32(a, -13) ^ bits.RotateLeft32(a, -22)
		maj := (a & b) ^ (a & c) ^ (b & c)
		t2 := S0 + maj
		hh, g, f, e, d, c, b, a = g, f, e, d+t1, c, b, a, t1+t2
	}
	h[0] += a
	h[1] += b
	h[2] += c
	h[3] += d
	h[4] += e
	h[5] += f
	h[6] += g
	h[7] += hh
}
