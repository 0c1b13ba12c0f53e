package chain

import (
	"encoding/hex"
	"strings"
)

// An address string is <network prefix>1<40 hex digits of the address><8 hex
// digits of checksum>, the checksum being the first 4 bytes of
// TaggedHash("gradientcoin/address-checksum", prefix, address). The prefix
// makes an address for one network unusable on another.

// EncodeAddress formats a for the network with the given prefix.
func EncodeAddress(prefix string, a Address) string {
	sum := TaggedHash("gradientcoin/address-checksum", []byte(prefix), a[:])
	return prefix + "1" + hex.EncodeToString(a[:]) + hex.EncodeToString(sum[:4])
}

// DecodeAddress parses an address string for the network with the prefix.
func DecodeAddress(prefix, s string) (Address, error) {
	var a Address
	want := len(prefix) + 1 + 2*AddressSize + 8
	if !strings.HasPrefix(s, prefix+"1") {
		return a, ruleError(ErrBadAddress, "address %q: does not start with %q (wrong network?)", s, prefix+"1")
	}
	if len(s) != want {
		return a, ruleError(ErrBadAddress, "address %q: %d characters, want %d", s, len(s), want)
	}
	body := s[len(prefix)+1:]
	raw, err := hex.DecodeString(body)
	if err != nil || strings.ToLower(body) != body {
		return a, ruleError(ErrBadAddress, "address %q: not lowercase hex", s)
	}
	copy(a[:], raw[:AddressSize])
	sum := TaggedHash("gradientcoin/address-checksum", []byte(prefix), a[:])
	if string(sum[:4]) != string(raw[AddressSize:]) {
		return a, ruleError(ErrBadAddress, "address %q: bad checksum (mistyped?)", s)
	}
	return a, nil
}
