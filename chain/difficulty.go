package chain

import (
	"math"
	"math/big"
	"slices"
)

// Difficulty: per-block ASERT (absolutely scheduled exponentially rising
// targets), the aserti3-2d construction of Bitcoin Cash, in integer math
// only and anchored at the genesis block.
//
// The target of the block after a parent at height h with timestamp t is
//
//	anchor · 2^((t − GenesisTimestamp − TargetSpacing·h) / ASERTHalfLife)
//
// where anchor is the genesis target (PowLimitBits). A parent exactly on
// schedule (t = GenesisTimestamp + h·TargetSpacing) leaves the target at
// the anchor; every ASERTHalfLife seconds behind schedule doubles it, every
// ASERTHalfLife ahead halves it. The result is clamped to [1, PowLimit].
//
// The exponent is a fixed-point number with 16 fractional bits, computed
// as ((t − GenesisTimestamp − TargetSpacing·h) · 65536) / ASERTHalfLife
// with the quotient truncated toward zero (exact, in arbitrary precision).
// Its integer part (floor) becomes a shift; its fractional part f ∈
// [0, 65535] becomes the factor
//
//	65536 + ((195766423245049·f + 971821376·f² + 5127·f³ + 2^47) >> 48)
//
// a cubic approximation of 65536·2^(f/65536) that is exact at f = 0 and
// stays within 0.013% elsewhere (all in uint64: the sum peaks just below
// 2^64 at f = 65535). Then target = (anchor · factor) >> 16, shifted by the
// integer part, clamped, and encoded with BigToCompact (rounding down).
//
// The required bits depend only on the parent's height and timestamp, so a
// timestamp manipulation moves one block's target by at most a factor of
// 2^(Δt/ASERTHalfLife) and does not compound (timewarp-resistant): the
// easiest target any block can claim at real time T is the on-schedule
// target for T times 2^(MaxFutureDrift/ASERTHalfLife).

// minTargetBits encodes the smallest target, 1 (the hardest possible).
const minTargetBits = 0x01010000

// asertFracBits is the number of fractional bits of the ASERT exponent.
const asertFracBits = 16

// asertMaxShift bounds the exponent's integer part. A target is below
// 2^256 and at least 1, so any shift beyond ±(256+16+1) already clamps;
// bounding it keeps the big-integer shifts small on absurd timestamps.
const asertMaxShift = 300

// NextRequiredBits returns the compact target required of the block whose
// parent has the given height and timestamp (the block's own height is
// parentHeight+1). It never returns zero bits: the target is clamped to
// [1, p.PowLimit]. Parameters that fail Validate (a non-positive half-life
// or spacing, unusable PowLimitBits) yield p.PowLimitBits, and nil params
// the bits of target 1, rather than a panic.
func NextRequiredBits(p *Params, parentHeight uint64, parentTimestamp int64) uint32 {
	if p == nil || p.PowLimit == nil || p.PowLimit.Sign() <= 0 || p.TargetSpacing <= 0 || p.ASERTHalfLife <= 0 {
		if p == nil {
			return minTargetBits
		}
		return p.PowLimitBits
	}
	anchor, neg, over := CompactToBig(p.PowLimitBits)
	if neg || over || anchor.Sign() <= 0 {
		return p.PowLimitBits
	}
	limitBits := p.PowLimitBits
	if anchor.Cmp(p.PowLimit) > 0 {
		// Validate rejects this; stay bounded by PowLimit anyway.
		anchor = new(big.Int).Set(p.PowLimit)
		limitBits = BigToCompact(p.PowLimit)
	}
	target := asertTarget(anchor, p.PowLimit, p.TargetSpacing, p.ASERTHalfLife, parentHeight, parentTimestamp, p.GenesisTimestamp)
	if target.Cmp(p.PowLimit) >= 0 {
		return limitBits
	}
	return BigToCompact(target)
}

// NextRequiredTarget is NextRequiredBits decoded: the largest hash (read as
// a little-endian integer) the next block may have.
func NextRequiredTarget(p *Params, parentHeight uint64, parentTimestamp int64) *big.Int {
	t, _, _ := CompactToBig(NextRequiredBits(p, parentHeight, parentTimestamp))
	return t
}

// asertTarget computes the ASERT target for a parent at parentHeight blocks
// and parentTime after an anchor with the given target at anchorTime, on a
// schedule of spacing seconds per block with the given half-life (both
// > 0). The result is in [1, powLimit]; it is a fresh big.Int.
func asertTarget(anchor, powLimit *big.Int, spacing, halfLife int64, parentHeight uint64, parentTime, anchorTime int64) *big.Int {
	// deviation = (parentTime − anchorTime) − spacing·parentHeight, exact.
	dev := new(big.Int).Sub(big.NewInt(parentTime), big.NewInt(anchorTime))
	sched := new(big.Int).SetUint64(parentHeight)
	sched.Mul(sched, big.NewInt(spacing))
	dev.Sub(dev, sched)
	dev.Lsh(dev, asertFracBits)
	dev.Quo(dev, big.NewInt(halfLife)) // truncates toward zero

	const maxExp = asertMaxShift << asertFracBits
	var exp int64
	switch {
	case !dev.IsInt64() || dev.Int64() > maxExp:
		if dev.Sign() > 0 {
			exp = maxExp
		} else {
			exp = -maxExp
		}
	case dev.Int64() < -maxExp:
		exp = -maxExp
	default:
		exp = dev.Int64()
	}

	shifts := exp >> asertFracBits // floor
	frac := uint64(exp - shifts<<asertFracBits)
	factor := asertFactor(frac)

	t := new(big.Int).Mul(anchor, new(big.Int).SetUint64(factor))
	shifts -= asertFracBits
	if shifts < 0 {
		t.Rsh(t, uint(-shifts))
	} else {
		t.Lsh(t, uint(shifts))
	}
	if t.Sign() == 0 {
		t.SetInt64(1)
	}
	if t.Cmp(powLimit) > 0 {
		t.Set(powLimit)
	}
	return t
}

// asertFactor returns ≈ 65536·2^(frac/65536) for frac in [0, 65535]: the
// aserti3-2d cubic, whose terms sum below 2^64 over the whole range.
func asertFactor(frac uint64) uint64 {
	const (
		c1   = 195766423245049
		c2   = 971821376
		c3   = 5127
		half = 1 << 47
	)
	return 1<<asertFracBits + (c1*frac+c2*frac*frac+c3*frac*frac*frac+half)>>48
}

// MedianTimeSpan is the number of most recent block timestamps whose median
// is the median time past (Bitcoin's 11). Params.MedianTimeBlocks equals it.
const MedianTimeSpan = 11

// MedianTimePast returns the median of the last MedianTimeSpan timestamps
// (or all of them if fewer), given oldest → newest: the value a new
// block's timestamp must exceed. For an even count it is the upper median
// (sorted[n/2]), as in Bitcoin. An empty list returns math.MinInt64 (no
// constraint); only the genesis block has no ancestors, and it is trusted.
// The input is not modified.
func MedianTimePast(timestamps []int64) int64 {
	if len(timestamps) == 0 {
		return math.MinInt64
	}
	if len(timestamps) > MedianTimeSpan {
		timestamps = timestamps[len(timestamps)-MedianTimeSpan:]
	}
	var buf [MedianTimeSpan]int64
	s := buf[:len(timestamps)]
	copy(s, timestamps)
	slices.Sort(s)
	return s[len(s)/2]
}

// CheckTimestamp applies the two timestamp rules to a block with timestamp
// ts: it must be after the median time past of its ancestors (else
// ErrTimeTooOld, a permanent failure) and at most now + p.MaxFutureDrift
// by the local clock (else ErrTimeTooNew, which may pass later: callers
// must not mark such a block invalid forever).
func CheckTimestamp(p *Params, ts, medianTimePast, now int64) error {
	if ts <= medianTimePast {
		return ruleError(ErrTimeTooOld, "timestamp %d not after the median time past %d", ts, medianTimePast)
	}
	var drift int64
	if p != nil && p.MaxFutureDrift > 0 {
		drift = p.MaxFutureDrift
	}
	// ts > now + drift, without overflowing now + drift.
	if now <= math.MaxInt64-drift && ts > now+drift {
		return ruleError(ErrTimeTooNew, "timestamp %d more than %d s after the local time %d", ts, drift, now)
	}
	return nil
}
