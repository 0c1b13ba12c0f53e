package wire

import (
	"encoding/binary"

	"github.com/gradientcoin/gradientcoin/chain"
)

// reader decodes fixed-width little-endian values from a byte slice. The
// first failure sticks; later reads return zero values.
type reader struct {
	b   []byte
	off int
	err error
}

func (r *reader) fail(kind ErrorKind, format string, a ...any) {
	if r.err == nil {
		r.err = errorf(kind, format, a...)
	}
}

func (r *reader) remaining() int { return len(r.b) - r.off }

func (r *reader) take(n int, what string) []byte {
	if r.err != nil {
		return nil
	}
	if n < 0 || r.remaining() < n {
		r.fail(ErrMalformed, "%s: need %d bytes at offset %d, have %d", what, n, r.off, r.remaining())
		return nil
	}
	p := r.b[r.off : r.off+n : r.off+n]
	r.off += n
	return p
}

func (r *reader) u8(what string) uint8 {
	if p := r.take(1, what); p != nil {
		return p[0]
	}
	return 0
}

func (r *reader) u32(what string) uint32 {
	if p := r.take(4, what); p != nil {
		return binary.LittleEndian.Uint32(p)
	}
	return 0
}

func (r *reader) u64(what string) uint64 {
	if p := r.take(8, what); p != nil {
		return binary.LittleEndian.Uint64(p)
	}
	return 0
}

func (r *reader) hash(what string) (h chain.Hash) {
	copy(h[:], r.take(chain.HashSize, what))
	return h
}

// count reads a u32 count, checks it against [min, max] and against the
// bytes left (each element is at least elemSize bytes) before the caller
// allocates.
func (r *reader) count(what string, min, max, elemSize int) int {
	n := r.u32(what)
	if r.err != nil {
		return 0
	}
	if uint64(n) > uint64(max) {
		r.fail(ErrTooLarge, "%s: %d exceeds the limit %d", what, n, max)
		return 0
	}
	if int(n) < min {
		r.fail(ErrMalformed, "%s: %d below the minimum %d", what, n, min)
		return 0
	}
	if uint64(n)*uint64(elemSize) > uint64(r.remaining()) {
		r.fail(ErrMalformed, "%s: %d elements of %d bytes need more than the %d bytes left", what, n, elemSize, r.remaining())
		return 0
	}
	return int(n)
}

func (r *reader) hashes(what string, min, max int) []chain.Hash {
	n := r.count(what+" count", min, max, chain.HashSize)
	if n == 0 {
		return nil
	}
	hs := make([]chain.Hash, n)
	for i := range hs {
		hs[i] = r.hash(what)
	}
	return hs
}

func (r *reader) version(what string) {
	if v := r.u8(what + " version"); r.err == nil && v != MessageVersion {
		r.fail(ErrMalformed, "%s: version %d, want %d", what, v, MessageVersion)
	}
}

func (r *reader) finish(what string) error {
	if r.err == nil && r.remaining() != 0 {
		r.fail(ErrMalformed, "%s: %d trailing bytes after offset %d", what, r.remaining(), r.off)
	}
	return r.err
}

func appendU32(b []byte, v uint32) []byte { return binary.LittleEndian.AppendUint32(b, v) }
func appendU64(b []byte, v uint64) []byte { return binary.LittleEndian.AppendUint64(b, v) }

func appendHashes(b []byte, hs []chain.Hash) []byte {
	b = appendU32(b, uint32(len(hs)))
	for i := range hs {
		b = append(b, hs[i][:]...)
	}
	return b
}
