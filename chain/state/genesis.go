package state

import (
	"crypto/sha256"
	"encoding/binary"
	"fmt"

	"github.com/gradientcoin/gradientcoin/chain/sketch"
)

// GenesisKey is the generator key of the initial weights:
// the first 16 bytes of SHA-256("gradientcoin/genesis" ‖ 0x00 ‖ seed) as two
// little-endian uint64 (A, B).
func GenesisKey(seed [32]byte) sketch.Key {
	h := sha256.New()
	h.Write([]byte("gradientcoin/genesis\x00"))
	h.Write(seed[:])
	var k [32]byte
	h.Sum(k[:0])
	return sketch.Key{A: binary.LittleEndian.Uint64(k[0:8]), B: binary.LittleEndian.Uint64(k[8:16])}
}

// Genesis returns the initial weights of rules r, laid out by
// r.Model.Layout(): InitZeros → +0, InitOnes → 1, InitNormal → element i
// of the flat vector is float32(key.Normal(i)·Std) with key =
// GenesisKey(r.InitSeed) and i the flat index (so every tensor draws from
// its own counters). key.Normal is the pinned Irwin–Hall generator of
// chain/sketch: integer hashing and one float64 multiply, the same on every
// platform.
func Genesis(r Rules) ([]float32, error) {
	if err := r.Validate(); err != nil {
		return nil, err
	}
	ts, n, err := r.Model.Layout()
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrBadRules, err)
	}
	w := make([]float32, n)
	key := GenesisKey(r.InitSeed)
	for _, t := range ts {
		seg := w[t.Offset : t.Offset+t.Size()]
		switch t.Init {
		case InitZeros:
		case InitOnes:
			for i := range seg {
				seg[i] = 1
			}
		case InitNormal:
			std, off := t.Std, uint64(t.Offset)
			sketch.ParallelFor(len(seg), 1<<14, func(lo, hi int) {
				for i := lo; i < hi; i++ {
					seg[i] = float32(key.Normal(off+uint64(i)) * std)
				}
			})
		default:
			return nil, errorf(ErrBadRules, "tensor %s has unknown init kind %d", t.Name, t.Init)
		}
	}
	return w, nil
}
