package gpu

import (
	"encoding/binary"
	"math/bits"
)

// Job is one nonce-search problem: everything about a header that the search
// needs, in the raw words the kernel consumes. It is plain data, cheap to copy,
// and identical in the cuda and the default build.
type Job struct {
	// Midstate is the SHA-256 chaining value after header bytes 0..127.
	Midstate [8]uint32
	// Tail holds words W0..W5 of the third chunk: header bytes 128..151 read
	// as big-endian words (the end of the state root, timestamp and bits).
	Tail [6]uint32
	// Target is the proof-of-work target as a little-endian 256-bit integer
	// split in 32-bit limbs: Target[0] = bytes 0..3, Target[7] = bytes 28..31
	// (the most significant limb). A nonce is valid iff the SHA-256d digest,
	// read the same way, is <= Target.
	Target [8]uint32
}

// NewJob builds a Job from an encoded 160-byte header (its nonce bytes are
// ignored) and a target given as 32 little-endian bytes.
func NewJob(header *[HeaderSize]byte, target [32]byte) Job {
	return Job{Midstate: Midstate(header), Tail: TailWords(header), Target: TargetLimbs(target)}
}

// JobFromMidstate builds a Job from a midstate (the SHA-256 chaining value
// after header bytes 0..127), the header's last 32 bytes (128..159; the
// nonce bytes 152..159 are ignored) and a 32-byte little-endian target.
func JobFromMidstate(midstate [8]uint32, tail [32]byte, target [32]byte) Job {
	j := Job{Midstate: midstate, Target: TargetLimbs(target)}
	for i := range j.Tail {
		j.Tail[i] = binary.BigEndian.Uint32(tail[4*i:])
	}
	return j
}

// TargetLimbs splits a 32-byte little-endian target into the 8 limbs of
// Job.Target.
func TargetLimbs(target [32]byte) (t [8]uint32) {
	for i := range t {
		t[i] = binary.LittleEndian.Uint32(target[4*i:])
	}
	return t
}

// chunk2 returns the third SHA-256 chunk of a header with the given nonce:
// the 32 tail bytes followed by padding for a 1280-bit message.
func (j *Job) chunk2(nonce uint64) (w [16]uint32) {
	copy(w[:6], j.Tail[:])
	w[6] = bits.ReverseBytes32(uint32(nonce))
	w[7] = bits.ReverseBytes32(uint32(nonce >> 32))
	w[8] = 0x80000000
	w[15] = HeaderSize * 8
	return w
}

// Digest returns SHA-256d of the header with the given nonce, computed the
// plain way (two full compressions from the midstate, then the second hash).
func (j *Job) Digest(nonce uint64) [32]byte {
	h1 := compress(j.Midstate, j.chunk2(nonce))
	return digestBytes(compress(iv, secondBlock(h1)))
}

// Check reports whether nonce satisfies the job's target, computed the plain
// way. It is the reference the kernel's shortcut path is tested against.
func (j *Job) Check(nonce uint64) bool {
	h1 := compress(j.Midstate, j.chunk2(nonce))
	return meetsTarget(compress(iv, secondBlock(h1)), &j.Target)
}

// secondBlock pads a 32-byte first digest into the single block of the
// second SHA-256.
func secondBlock(h1 [8]uint32) (w [16]uint32) {
	copy(w[:8], h1[:])
	w[8] = 0x80000000
	w[15] = 256
	return w
}

// meetsTarget compares a digest, given as its SHA-256 state words, with a
// target as little-endian limbs. Limb i of the digest integer is the
// little-endian reading of digest bytes 4i..4i+3, i.e. bswap(h[i]).
func meetsTarget(h [8]uint32, target *[8]uint32) bool {
	for i := 7; i >= 0; i-- {
		d := bits.ReverseBytes32(h[i])
		if d != target[i] {
			return d < target[i]
		}
	}
	return true
}
