package state

import (
	"crypto/sha256"
	"encoding/binary"
	"math"
	"unsafe"

	"github.com/gradientcoin/gradientcoin/chain/sketch"
)

// Root is the state root of the weight vector w with chunks of chunk
// floats (chunk < 1 is treated as 1):
//
//	bytes   = the little-endian IEEE 754 bytes of w
//	leaf_i  = SHA-256(0x00 ‖ bytes of w[i·chunk : min((i+1)·chunk, n)])
//	node    = SHA-256(0x01 ‖ left ‖ right)
//	level   = pairs of the level below, left to right; an odd last node is
//	          carried up unchanged (never duplicated, so no two vectors
//	          share a tree)
//	tree    = the single node left (32 zero bytes when n = 0)
//	Root    = SHA-256(0x02 ‖ "gradientcoin/state" ‖ n u64le ‖ chunk u32le ‖ tree)
//
// Leaves are hashed in parallel; the tree shape is fixed by n and chunk, so
// the result never depends on scheduling.
func Root(w []float32, chunk int) [32]byte {
	if chunk < 1 {
		chunk = 1
	}
	if chunk > MaxChunkSize {
		chunk = MaxChunkSize
	}
	n := len(w)
	nl := (n + chunk - 1) / chunk
	level := make([][32]byte, nl)
	le := littleEndian()
	sketch.ParallelFor(nl, max(1, (1<<16)/chunk), func(lo, hi int) {
		h := sha256.New()
		var buf []byte
		if !le {
			buf = make([]byte, 4*chunk)
		}
		for i := lo; i < hi; i++ {
			seg := w[i*chunk : min(i*chunk+chunk, n)]
			h.Reset()
			h.Write([]byte{0x00})
			if le {
				// The in-memory bytes are the little-endian encoding.
				h.Write(unsafe.Slice((*byte)(unsafe.Pointer(unsafe.SliceData(seg))), 4*len(seg)))
			} else {
				b := buf[:4*len(seg)]
				for k, v := range seg {
					binary.LittleEndian.PutUint32(b[4*k:], math.Float32bits(v))
				}
				h.Write(b)
			}
			h.Sum(level[i][:0])
		}
	})
	return RootFromLeaves(level, uint64(n), uint32(chunk))
}

// LeafHash is the state-root leaf of one chunk's little-endian bytes:
// SHA-256(0x00 ‖ bytes). Snapshot manifests and devices hash chunks with it.
func LeafHash(chunk []byte) [32]byte {
	h := sha256.New()
	h.Write([]byte{0x00})
	h.Write(chunk)
	var out [32]byte
	h.Sum(out[:0])
	return out
}

// RootFromLeaves finishes Root from the leaf hashes of n floats in chunks
// of chunk floats: pairs hashed level by level (an odd last node carried
// up), then the domain-separated final hash over n, chunk and the tree.
// leaves is not modified.
func RootFromLeaves(leaves [][32]byte, n uint64, chunk uint32) [32]byte {
	level := append([][32]byte(nil), leaves...)
	var buf [65]byte
	buf[0] = 0x01
	for len(level) > 1 {
		next := level[:0]
		for i := 0; i < len(level); i += 2 {
			if i+1 == len(level) {
				next = append(next, level[i])
				break
			}
			copy(buf[1:33], level[i][:])
			copy(buf[33:65], level[i+1][:])
			next = append(next, sha256.Sum256(buf[:]))
		}
		level = next
	}
	var tree [32]byte
	if len(level) == 1 {
		tree = level[0]
	}
	var fin [1 + 18 + 8 + 4 + 32]byte
	fin[0] = 0x02
	copy(fin[1:], "gradientcoin/state")
	binary.LittleEndian.PutUint64(fin[19:], n)
	binary.LittleEndian.PutUint32(fin[27:], chunk)
	copy(fin[31:], tree[:])
	return sha256.Sum256(fin[:])
}

// littleEndian reports whether float32 values are stored little-endian in
// memory, so that Root can hash them in place.
func littleEndian() bool {
	x := uint32(0x01020304)
	return *(*byte)(unsafe.Pointer(&x)) == 0x04
}
