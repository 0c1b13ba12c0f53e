package nettest

import "encoding/binary"

// RLEBomb returns a valid zstd frame that decodes to n zero bytes using
// RLE blocks (4 bytes per 128 KiB of output), built by hand so that a
// test needs neither the time nor the memory to encode n bytes. With
// declareSize the frame is single-segment and states n as its content
// size; without, it omits the size and uses an 8 MiB window.
func RLEBomb(n uint64, declareSize bool) []byte {
	b := []byte{0x28, 0xb5, 0x2f, 0xfd} // magic
	if declareSize {
		b = append(b, 3<<6|1<<5) // 8-byte FCS, single segment
		b = binary.LittleEndian.AppendUint64(b, n)
	} else {
		b = append(b, 0)          // no FCS, no single segment, no checksum
		b = append(b, (23-10)<<3) // window 2^23
	}
	const maxBlock = 128 << 10
	if n == 0 {
		return append(b, 1, 0, 0) // last raw block of size 0
	}
	for left := n; left > 0; {
		size := min(left, maxBlock)
		left -= size
		hdr := uint32(size)<<3 | 1<<1 // RLE block
		if left == 0 {
			hdr |= 1 // last block
		}
		b = append(b, byte(hdr), byte(hdr>>8), byte(hdr>>16), 0x00)
	}
	return b
}
