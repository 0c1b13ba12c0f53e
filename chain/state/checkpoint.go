package state

import (
	"bytes"
	"encoding/binary"
	"math"
)

// Checkpoint encoding of a weight vector (little-endian):
//
//	off      size  field
//	  0         4  magic "GCWT"
//	  4         4  version (1)
//	  8         4  chunk size (floats, 1..MaxChunkSize)
//	 12         8  count n (1..MaxParams)
//	 20       4·n  weights, IEEE 754 float32
//	 20+4n     32  Root(weights, chunk)
//
// The decoder accepts exactly this form: right magic and version, the exact
// length, finite weights, and a matching root.
const (
	checkpointMagic   = "GCWT"
	checkpointVersion = 1
	checkpointHeader  = 20
)

// EncodeCheckpoint encodes w with its state root for chunk size chunk.
func EncodeCheckpoint(w []float32, chunk int) ([]byte, error) {
	if chunk < 1 || chunk > MaxChunkSize {
		return nil, errorf(ErrBadCheckpoint, "chunk size %d out of range [1, %d]", chunk, MaxChunkSize)
	}
	if len(w) < 1 || len(w) > MaxParams {
		return nil, errorf(ErrBadWeights, "%d weights, want 1..%d", len(w), MaxParams)
	}
	b := make([]byte, checkpointHeader, checkpointHeader+4*len(w)+32)
	copy(b, checkpointMagic)
	binary.LittleEndian.PutUint32(b[4:], checkpointVersion)
	binary.LittleEndian.PutUint32(b[8:], uint32(chunk))
	binary.LittleEndian.PutUint64(b[12:], uint64(len(w)))
	for i, v := range w {
		bits := math.Float32bits(v)
		if bits&0x7f800000 == 0x7f800000 {
			return nil, errorf(ErrNonFinite, "weight %d is %v", i, v)
		}
		b = binary.LittleEndian.AppendUint32(b, bits)
	}
	root := Root(w, chunk)
	return append(b, root[:]...), nil
}

// DecodeCheckpoint decodes a checkpoint, returning the weights, the chunk
// size and the verified root. The length is checked before allocating.
func DecodeCheckpoint(data []byte) (w []float32, chunk int, root [32]byte, err error) {
	if len(data) < checkpointHeader+32 {
		return nil, 0, root, errorf(ErrBadCheckpoint, "%d bytes, shorter than the %d-byte minimum", len(data), checkpointHeader+32)
	}
	if !bytes.Equal(data[:4], []byte(checkpointMagic)) {
		return nil, 0, root, errorf(ErrBadCheckpoint, "magic %q, want %q", data[:4], checkpointMagic)
	}
	if v := binary.LittleEndian.Uint32(data[4:]); v != checkpointVersion {
		return nil, 0, root, errorf(ErrBadCheckpoint, "unknown version %d (want %d)", v, checkpointVersion)
	}
	c := binary.LittleEndian.Uint32(data[8:])
	if c < 1 || c > MaxChunkSize {
		return nil, 0, root, errorf(ErrBadCheckpoint, "chunk size %d out of range [1, %d]", c, MaxChunkSize)
	}
	n := binary.LittleEndian.Uint64(data[12:])
	if n < 1 || n > MaxParams {
		return nil, 0, root, errorf(ErrBadCheckpoint, "count %d out of range [1, %d]", n, MaxParams)
	}
	if want := uint64(checkpointHeader) + 4*n + 32; uint64(len(data)) != want {
		return nil, 0, root, errorf(ErrBadCheckpoint, "%d bytes, want %d for %d weights", len(data), want, n)
	}
	w = make([]float32, n)
	body := data[checkpointHeader : checkpointHeader+4*int(n)]
	for i := range w {
		bits := binary.LittleEndian.Uint32(body[4*i:])
		if bits&0x7f800000 == 0x7f800000 {
			return nil, 0, root, errorf(ErrBadCheckpoint, "weight %d is not finite", i)
		}
		w[i] = math.Float32frombits(bits)
	}
	copy(root[:], data[len(data)-32:])
	if got := Root(w, int(c)); got != root {
		return nil, 0, root, errorf(ErrBadCheckpoint, "root %x does not match the weights (%x)", root[:8], got[:8])
	}
	return w, int(c), root, nil
}
