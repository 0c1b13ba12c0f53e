package chain

import "math/big"

// Proof of work: a header is valid iff its hash, read as a little-endian
// 256-bit integer, is at most the target its bits encode. Bits use
// Bitcoin's compact form: the high byte is a base-256 exponent, the low 23
// bits the mantissa, bit 23 a sign (a negative target is invalid).

var (
	bigOne = big.NewInt(1)
	// oneLsh256 is 2^256, the numerator of Work.
	oneLsh256 = new(big.Int).Lsh(bigOne, 256)
)

// HashToBig reads h as a little-endian 256-bit unsigned integer.
func HashToBig(h Hash) *big.Int {
	var be [HashSize]byte
	for i := range h {
		be[i] = h[HashSize-1-i]
	}
	return new(big.Int).SetBytes(be[:])
}

// CompactToBig decodes compact bits. It reports negative for a set sign
// bit with a non-zero mantissa and overflow for a value of more than 256
// bits; the caller rejects both.
func CompactToBig(bits uint32) (target *big.Int, negative, overflow bool) {
	mantissa := bits & 0x007fffff
	exponent := uint(bits >> 24)
	if exponent <= 3 {
		mantissa >>= 8 * (3 - exponent)
		target = new(big.Int).SetUint64(uint64(mantissa))
	} else {
		target = new(big.Int).SetUint64(uint64(mantissa))
		target.Lsh(target, 8*(exponent-3))
	}
	// Like Bitcoin, both flags look at the mantissa after the shift: a
	// sign bit on a value that shifts to zero is a zero target, not a
	// negative one.
	negative = bits&0x00800000 != 0 && mantissa != 0
	overflow = mantissa != 0 && (exponent > 34 ||
		(mantissa > 0xff && exponent > 33) ||
		(mantissa > 0xffff && exponent > 32))
	return target, negative, overflow
}

// BigToCompact encodes a non-negative target in compact form, rounding
// down to the precision the form holds (23 bits of mantissa).
func BigToCompact(n *big.Int) uint32 {
	if n.Sign() <= 0 {
		return 0
	}
	exponent := uint((n.BitLen() + 7) / 8)
	var mantissa uint32
	if exponent <= 3 {
		mantissa = uint32(n.Uint64()) << (8 * (3 - exponent))
	} else {
		mantissa = uint32(new(big.Int).Rsh(n, 8*(exponent-3)).Uint64())
	}
	// Bit 23 is the sign: move one byte into the exponent instead.
	if mantissa&0x00800000 != 0 {
		mantissa >>= 8
		exponent++
	}
	return uint32(exponent<<24) | mantissa
}

// TargetFromBits decodes bits and checks 0 < target ≤ powLimit.
func TargetFromBits(bits uint32, powLimit *big.Int) (*big.Int, error) {
	t, neg, over := CompactToBig(bits)
	switch {
	case neg:
		return nil, ruleError(ErrBadTarget, "bits %08x: negative target", bits)
	case over:
		return nil, ruleError(ErrBadTarget, "bits %08x: target overflows 256 bits", bits)
	case t.Sign() == 0:
		return nil, ruleError(ErrBadTarget, "bits %08x: zero target", bits)
	case t.Cmp(powLimit) > 0:
		return nil, ruleError(ErrBadTarget, "bits %08x: target %064x above the proof-of-work limit %064x", bits, t, powLimit)
	}
	return t, nil
}

// CheckProofOfWork checks that the header's bits are a valid target within
// powLimit and that its hash meets it.
func CheckProofOfWork(h *Header, powLimit *big.Int) error {
	target, err := TargetFromBits(h.Bits, powLimit)
	if err != nil {
		return err
	}
	hash := h.BlockHash()
	if HashToBig(hash).Cmp(target) > 0 {
		return ruleError(ErrHighHash, "block %s: hash above target %064x", hash, target)
	}
	return nil
}

// TargetBytes returns a target as 32 little-endian bytes, the form the
// solvers compare hashes against. A target outside [0, 2^256) is clamped
// (negative or nil → 0, too large → 2^256−1) rather than panicking.
func TargetBytes(target *big.Int) [HashSize]byte {
	var be, le [HashSize]byte
	switch {
	case target == nil || target.Sign() <= 0:
		return le
	case target.BitLen() > 8*HashSize:
		for i := range le {
			le[i] = 0xff
		}
		return le
	}
	target.FillBytes(be[:])
	for i := range be {
		le[i] = be[HashSize-1-i]
	}
	return le
}

// HashMeetsTarget compares a hash with a little-endian target without
// allocating: the solvers' inner check.
func HashMeetsTarget(h Hash, targetLE *[HashSize]byte) bool {
	for i := HashSize - 1; i >= 0; i-- {
		if h[i] != targetLE[i] {
			return h[i] < targetLE[i]
		}
	}
	return true
}

// CalcWork is the expected number of hashes to meet the target bits
// encode: 2^256 / (target+1). Invalid bits have zero work.
func CalcWork(bits uint32) *big.Int {
	t, neg, over := CompactToBig(bits)
	if neg || over || t.Sign() <= 0 {
		return new(big.Int)
	}
	return new(big.Int).Div(oneLsh256, t.Add(t, bigOne))
}
