package gpu

import "encoding/hex"

// knownAnswer is a known-answer nonce search: a fixed header and target, a
// nonce range, and exactly the valid nonces in it. The answers were computed
// with crypto/sha256 and TestSelfTestVectors checks them against it; every
// device must reproduce them exactly (SelfTest) before it is used.
type knownAnswer struct {
	name         string
	job          Job
	start, count uint64
	hits         []uint64
}

// knownAnswers returns the self-test vectors. They cover the low word
// carrying into the high word (2^32), the 64-bit wrap, nonce 0, and a
// target equal to a digest (the full 256-bit comparison, not just the top
// limb).
func knownAnswers() []knownAnswer {
	return []knownAnswer{
		{
			name: "carry-2^32", job: NewJob(katHeader(1), katTarget(10)),
			start: 1<<32 - 1<<13, count: 1 << 14,
			hits: []uint64{0xffffebd7, 0xfffff109, 0xfffff3d6, 0xfffff8cf, 0x1000000a6, 0x100000221,
				0x1000002ce, 0x1000002fb, 0x100000bf2, 0x100000cbd, 0x100000d21, 0x100001291,
				0x100001721, 0x100001836, 0x100001f26},
		},
		{
			name: "wrap-2^64", job: NewJob(katHeader(2), katTarget(9)),
			start: 1<<64 - 1<<12, count: 1 << 13,
			hits: []uint64{0xfffffffffffff64f, 0xfffffffffffff8b9, 0xfffffffffffffa78, 0x10f, 0x217,
				0x242, 0x41b, 0x42e, 0x564, 0x56d, 0x622, 0x851, 0x8d7, 0xabf, 0xdce, 0xdfa, 0xe47,
				0xe99, 0xf77},
		},
		{
			name: "from-0", job: NewJob(katHeader(3), katTarget(8)),
			start: 0, count: 1 << 12,
			hits: []uint64{0x10d, 0x20b, 0x232, 0x2c9, 0x2cf, 0x3ae, 0x42a, 0x46b, 0x979, 0xbe1,
				0xc27, 0xc6a, 0xcae, 0xde4},
		},
		{
			// The target is the smallest digest in the range: exactly one
			// nonce meets it, with equality.
			name:  "target-equals-digest",
			job:   NewJob(katHeader(4), hexTarget("16b16b4e35fde66279aaa5be7a62600b59539ea9e97f852b387f14015d7f2700")),
			start: 1<<40 - 2048, count: 4096,
			hits: []uint64{0xfffffff885},
		},
	}
}

// katHeader is a fixed header: byte i is (7i + 3) xor seed.
func katHeader(seed byte) *[HeaderSize]byte {
	var h [HeaderSize]byte
	for i := range h {
		h[i] = byte(7*i+3) ^ seed
	}
	return &h
}

// katTarget is 2^(256-zeros) - 1 as 32 little-endian bytes.
func katTarget(zeros int) (t [32]byte) {
	for i := range t {
		t[i] = 0xff
	}
	for z := 0; z < zeros; z++ {
		bit := 255 - z
		t[bit/8] &^= 1 << (bit % 8)
	}
	return t
}

func hexTarget(s string) (t [32]byte) {
	b, err := hex.DecodeString(s)
	if err != nil || len(b) != 32 {
		panic("gpu: bad known-answer target")
	}
	copy(t[:], b)
	return t
}
