package wire

import (
	"encoding/binary"
	"errors"
	"io"
)

// Stream framing. A message on a stream is a u32 little-endian length
// followed by that many bytes of one zstd frame. A blob (block body,
// contribution, snapshot chunk) is a head message — a status byte and,
// when found, the raw size as u64 — followed by ceil(size/MaxFrame)
// messages holding MaxFrame raw bytes each (the last holds the rest).
// Readers check every length against its cap before allocating, and grow
// a blob's buffer only as verified frames arrive, so a peer that lies
// about a size costs at most one frame of memory.

// Blob status codes.
const (
	BlobFound    = 0
	BlobNotFound = 1
	BlobBusy     = 2 // the responder is rate-limiting or overloaded
)

// ErrNotFound is returned by ReadBlob when the responder does not have
// the object; ErrBusy when it declines for load.
var (
	ErrNotFound = errors.New("wire: object not found")
	ErrBusy     = errors.New("wire: responder busy")
)

// WriteMsg writes raw (at most MaxFrame bytes) as one framed message.
func (c *Codec) WriteMsg(w io.Writer, raw []byte) error {
	if len(raw) > MaxFrame {
		return errorf(ErrTooLarge, "message of %d bytes exceeds the frame limit %d", len(raw), MaxFrame)
	}
	buf := make([]byte, 4, 4+len(raw)/2+64)
	buf = c.Compress(buf, raw)
	binary.LittleEndian.PutUint32(buf, uint32(len(buf)-4))
	_, err := w.Write(buf)
	return err
}

// ReadMsg reads one framed message of at most limit raw bytes.
func (c *Codec) ReadMsg(r io.Reader, limit int) ([]byte, error) {
	if limit > MaxFrame || limit <= 0 {
		limit = MaxFrame
	}
	var lb [4]byte
	if _, err := io.ReadFull(r, lb[:]); err != nil {
		return nil, err
	}
	n := binary.LittleEndian.Uint32(lb[:])
	if uint64(n) > uint64(CompressBound(limit)) {
		return nil, errorf(ErrTooLarge, "frame of %d compressed bytes exceeds the bound %d", n, CompressBound(limit))
	}
	buf := make([]byte, n)
	if _, err := io.ReadFull(r, buf); err != nil {
		if errors.Is(err, io.EOF) {
			err = io.ErrUnexpectedEOF
		}
		return nil, err
	}
	return c.Decompress(buf, limit)
}

// WriteBlob writes a found object.
func (c *Codec) WriteBlob(w io.Writer, data []byte) error {
	head := make([]byte, 0, 9)
	head = append(head, BlobFound)
	head = appendU64(head, uint64(len(data)))
	if err := c.WriteMsg(w, head); err != nil {
		return err
	}
	for off := 0; off < len(data); off += MaxFrame {
		if err := c.WriteMsg(w, data[off:min(off+MaxFrame, len(data))]); err != nil {
			return err
		}
	}
	return nil
}

// WriteBlobStatus writes a head without data (BlobNotFound, BlobBusy).
func (c *Codec) WriteBlobStatus(w io.Writer, status byte) error {
	return c.WriteMsg(w, []byte{status})
}

// ReadBlob reads an object of at most maxSize bytes. It returns
// ErrNotFound or ErrBusy for those statuses, ErrTooLarge for a declared
// size above maxSize, ErrMalformed for frames that do not add up to the
// declared size.
func (c *Codec) ReadBlob(r io.Reader, maxSize int) ([]byte, error) {
	return c.ReadBlobFunc(r, maxSize, nil)
}

// ReadBlobFunc is ReadBlob that, for a found object whose declared size
// is within maxSize, calls admit(size) before reading any of its frames:
// an error from admit is returned as is (the caller can stop there, and
// bound the memory it gives to objects by their declared sizes).
func (c *Codec) ReadBlobFunc(r io.Reader, maxSize int, admit func(size int) error) ([]byte, error) {
	head, err := c.ReadMsg(r, 9)
	if err != nil {
		return nil, err
	}
	if len(head) == 0 {
		return nil, errorf(ErrMalformed, "blob head: empty")
	}
	switch head[0] {
	case BlobNotFound, BlobBusy:
		if len(head) != 1 {
			return nil, errorf(ErrMalformed, "blob head: %d bytes after status %d", len(head)-1, head[0])
		}
		if head[0] == BlobBusy {
			return nil, ErrBusy
		}
		return nil, ErrNotFound
	case BlobFound:
	default:
		return nil, errorf(ErrMalformed, "blob head: unknown status %d", head[0])
	}
	if len(head) != 9 {
		return nil, errorf(ErrMalformed, "blob head: %d bytes, want 9", len(head))
	}
	size := binary.LittleEndian.Uint64(head[1:])
	if size > uint64(maxSize) {
		return nil, errorf(ErrTooLarge, "blob of %d bytes exceeds the limit %d", size, maxSize)
	}
	if admit != nil {
		if err := admit(int(size)); err != nil {
			return nil, err
		}
	}
	var out []byte
	for uint64(len(out)) < size {
		want := int(min(uint64(MaxFrame), size-uint64(len(out))))
		chunk, err := c.ReadMsg(r, want)
		if err != nil {
			if err == io.EOF {
				err = io.ErrUnexpectedEOF // the head promised more
			}
			return nil, err
		}
		if len(chunk) != want {
			return nil, errorf(ErrMalformed, "blob frame at offset %d: %d bytes, want %d", len(out), len(chunk), want)
		}
		if out == nil {
			out = make([]byte, 0, min(size, 4*MaxFrame))
		}
		out = append(out, chunk...)
	}
	if out == nil {
		out = []byte{}
	}
	return out, nil
}
