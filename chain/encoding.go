package chain

import "encoding/binary"

// The wire format uses fixed-width little-endian integers only; variable
// parts are prefixed by a u32 count or byte length. Fixed widths make every
// value's encoding unique, so "canonical" means: no trailing bytes, every
// count within its cap, every enumerated field within its range.

// decoder reads fixed-width little-endian values from a byte slice. The
// first failure sticks: later reads return zero values, and err names it.
type decoder struct {
	b   []byte
	off int
	err error
}

func (d *decoder) fail(kind ErrorKind, format string, a ...any) {
	if d.err == nil {
		d.err = ruleError(kind, format, a...)
	}
}

func (d *decoder) remaining() int { return len(d.b) - d.off }

func (d *decoder) take(n int, what string) []byte {
	if d.err != nil {
		return nil
	}
	if n < 0 || d.remaining() < n {
		d.fail(ErrTruncated, "%s: need %d bytes at offset %d, have %d", what, n, d.off, d.remaining())
		return nil
	}
	p := d.b[d.off : d.off+n : d.off+n]
	d.off += n
	return p
}

func (d *decoder) u32(what string) uint32 {
	p := d.take(4, what)
	if p == nil {
		return 0
	}
	return binary.LittleEndian.Uint32(p)
}

func (d *decoder) u64(what string) uint64 {
	p := d.take(8, what)
	if p == nil {
		return 0
	}
	return binary.LittleEndian.Uint64(p)
}

func (d *decoder) hash(what string) (h Hash) {
	copy(h[:], d.take(HashSize, what))
	return h
}

// count reads a u32 element count and checks it against max and against
// the bytes left (each element takes at least minSize bytes) before the
// caller allocates anything.
func (d *decoder) count(what string, max, minSize int) int {
	n := d.u32(what)
	if d.err != nil {
		return 0
	}
	if uint64(n) > uint64(max) {
		d.fail(ErrTooLarge, "%s: %d exceeds the limit %d", what, n, max)
		return 0
	}
	if minSize > 0 && uint64(n)*uint64(minSize) > uint64(d.remaining()) {
		d.fail(ErrTruncated, "%s: %d elements of at least %d bytes need more than the %d bytes left", what, n, minSize, d.remaining())
		return 0
	}
	return int(n)
}

// bytes reads a u32 length-prefixed byte string of at most max bytes. The
// result is a copy: decoded values never alias the input buffer.
func (d *decoder) bytes(what string, max int) []byte {
	n := d.count(what+" length", max, 1)
	p := d.take(n, what)
	if p == nil {
		return nil
	}
	return append([]byte(nil), p...)
}

// finish fails with ErrTrailingData if input is left over.
func (d *decoder) finish(what string) error {
	if d.err == nil && d.remaining() != 0 {
		d.fail(ErrTrailingData, "%s: %d trailing bytes after offset %d", what, d.remaining(), d.off)
	}
	return d.err
}

func appendU32(b []byte, v uint32) []byte { return binary.LittleEndian.AppendUint32(b, v) }
func appendU64(b []byte, v uint64) []byte { return binary.LittleEndian.AppendUint64(b, v) }

func appendBytes(b, p []byte) []byte {
	b = appendU32(b, uint32(len(p)))
	return append(b, p...)
}
