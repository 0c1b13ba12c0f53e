package chain

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
)

// HashSize is the size of every hash in the protocol.
const HashSize = 32

// Hash is a SHA-256d digest in the byte order the hash function produced it.
// As a number (proof of work, Work) it is read little-endian, like Bitcoin,
// so String prints the bytes reversed: the most significant byte first, and
// a block hash that meets a hard target starts with zeros.
type Hash [HashSize]byte

// ZeroHash is the all-zero hash (the genesis block's parent).
var ZeroHash Hash

// DoubleSHA256 returns SHA-256(SHA-256(b)).
func DoubleSHA256(b []byte) Hash {
	first := sha256.Sum256(b)
	return Hash(sha256.Sum256(first[:]))
}

// TaggedHash returns SHA-256d(tag ‖ parts...), the protocol's
// domain-separated hash.
func TaggedHash(tag string, parts ...[]byte) Hash {
	h := sha256.New()
	h.Write([]byte(tag))
	for _, p := range parts {
		h.Write(p)
	}
	var first [32]byte
	h.Sum(first[:0])
	return Hash(sha256.Sum256(first[:]))
}

// String returns the hash as hex, most significant byte first.
func (h Hash) String() string {
	var r Hash
	for i := range h {
		r[i] = h[HashSize-1-i]
	}
	return hex.EncodeToString(r[:])
}

// IsZero reports whether h is the all-zero hash.
func (h Hash) IsZero() bool { return h == ZeroHash }

// MarshalText implements encoding.TextMarshaler with String's format.
func (h Hash) MarshalText() ([]byte, error) { return []byte(h.String()), nil }

// UnmarshalText implements encoding.TextUnmarshaler (String's format).
func (h *Hash) UnmarshalText(b []byte) error {
	v, err := ParseHash(string(b))
	if err != nil {
		return err
	}
	*h = v
	return nil
}

// ParseHash parses String's format: 64 hex digits, most significant byte first.
func ParseHash(s string) (Hash, error) {
	var h Hash
	if len(s) != 2*HashSize {
		return h, fmt.Errorf("hash %q: want %d hex digits, got %d", s, 2*HashSize, len(s))
	}
	var r Hash
	if _, err := hex.Decode(r[:], []byte(s)); err != nil {
		return h, fmt.Errorf("hash %q: %v", s, err)
	}
	for i := range r {
		h[i] = r[HashSize-1-i]
	}
	return h, nil
}
