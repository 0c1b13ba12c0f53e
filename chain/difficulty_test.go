package chain

import (
	"errors"
	"fmt"
	"math"
	"math/big"
	"math/rand/v2"
	"slices"
	"testing"
)

// bitsTarget decodes bits that must be valid.
func bitsTarget(t *testing.T, name string, bits uint32) *big.Int {
	t.Helper()
	tg, neg, over := CompactToBig(bits)
	if neg || over || tg.Sign() <= 0 {
		t.Fatalf("%s: bits %08x do not decode to a positive target", name, bits)
	}
	return tg
}

func hexBig(t *testing.T, name, s string) *big.Int {
	t.Helper()
	n, ok := new(big.Int).SetString(s, 16)
	if !ok {
		t.Fatalf("%s: bad hex %q", name, s)
	}
	return n
}

// TestASERTFactor checks the fixed-point 2^x polynomial over its whole
// domain: computed in uint64 it equals the exact big-integer value (no
// overflow), it is exact at 0, non-decreasing, and within 0.013% of
// 65536·2^(f/65536).
func TestASERTFactor(t *testing.T) {
	c1, c2, c3 := big.NewInt(195766423245049), big.NewInt(971821376), big.NewInt(5127)
	prev := uint64(0)
	for f := uint64(0); f < 1<<16; f++ {
		bf := new(big.Int).SetUint64(f)
		sum := new(big.Int).Mul(c1, bf)
		sum.Add(sum, new(big.Int).Mul(c2, new(big.Int).Mul(bf, bf)))
		sum.Add(sum, new(big.Int).Mul(c3, new(big.Int).Exp(bf, big.NewInt(3), nil)))
		sum.Add(sum, new(big.Int).Lsh(bigOne, 47))
		if sum.BitLen() > 64 {
			t.Fatalf("f=%d: polynomial needs %d bits", f, sum.BitLen())
		}
		want := 65536 + new(big.Int).Rsh(sum, 48).Uint64()
		got := asertFactor(f)
		if got != want {
			t.Fatalf("f=%d: factor %d, exact %d", f, got, want)
		}
		if got < prev {
			t.Fatalf("f=%d: factor %d below %d", f, got, prev)
		}
		prev = got
		ideal := 65536 * math.Exp2(float64(f)/65536)
		if rel := math.Abs(float64(got)-ideal) / ideal; rel > 1.3e-4 {
			t.Fatalf("f=%d: factor %d vs 2^x %f: relative error %g", f, got, ideal, rel)
		}
	}
	if asertFactor(0) != 65536 {
		t.Fatalf("factor(0) = %d, want 65536", asertFactor(0))
	}
}

// TestASERTHandDerived pins cases worked out by hand from the formula,
// on an anchor below the limit so that both directions are visible:
// anchor 0x1d00ffff (Bitcoin's genesis target), limit 2^256−1, half-life
// 65536 s and spacing 1 s, so the exponent in 1/65536 units equals the
// schedule deviation in seconds.
func TestASERTHandDerived(t *testing.T) {
	anchor := bitsTarget(t, "anchor", 0x1d00ffff)
	limit := powLimit(256)
	cases := []struct {
		name   string
		height uint64
		dt     int64 // parent time − anchor time
		want   string
	}{
		// exponent 0: factor 65536, target = anchor exactly.
		{"on schedule at anchor", 0, 0, "ffff" + zeros(52)},
		{"on schedule later", 1000, 1000, "ffff" + zeros(52)},
		// exponent +65536: one shift, factor 65536: anchor·2.
		{"one half-life behind", 0, 65536, "1fffe" + zeros(52)},
		{"one half-life behind, later", 7, 7 + 65536, "1fffe" + zeros(52)},
		// exponent −65536: anchor/2 (0xffff…/2 = 0x7fff8…).
		{"one half-life ahead", 0, -65536, "7fff8" + zeros(51)},
		{"one half-life ahead, later", 5, 5 - 65536, "7fff8" + zeros(51)},
		{"three half-lives behind", 0, 3 * 65536, "7fff8" + zeros(52)},
		{"two half-lives ahead", 0, -2 * 65536, "3fffc" + zeros(51)},
		// exponent +1: factor 65537 (the cubic rounds 195766423245049+2^47+… >> 48 to 1):
		// (0xffff·2^208·65537) >> 16 = 0xffffffff·2^192.
		{"one second behind", 0, 1, "ffffffff" + zeros(48)},
		// exponent −1: shift −1, frac 65535, factor 131071:
		// 0xffff·131071·2^208 >> 17 = 0xfffe8000800…
		{"one second ahead", 0, -1, "fffe80008" + zeros(47)},
		// half a half-life: frac 32768, factor 92674 (65536·√2 = 92681.9;
		// the cubic is 0.008% low here): 0xffff·92674 = 0x16a0095fe.
		{"half a half-life behind", 0, 32768, "16a0095fe" + zeros(48)},
	}
	for _, c := range cases {
		got := asertTarget(anchor, limit, 1, 65536, c.height, c.dt, 0)
		if want := hexBig(t, c.name, c.want); got.Cmp(want) != 0 {
			t.Errorf("%s: target %x, want %x", c.name, got, want)
		}
	}
	// Exactly ×2 / ÷2 per half-life also through NextRequiredBits on a
	// real network: ahead of schedule halves the devnet target.
	p := DevnetParams()
	g, s, hl := p.GenesisTimestamp, p.TargetSpacing, p.ASERTHalfLife
	bitsCases := []struct {
		name   string
		height uint64
		ts     int64
		want   uint32
	}{
		{"devnet on schedule", 10, g + 10*s, 0x2000ffff},
		{"devnet one half-life ahead", 10, g + 10*s - hl, 0x1f7fff80},
		{"devnet two half-lives ahead", 10, g + 10*s - 2*hl, 0x1f3fffc0},
		{"devnet behind clamps at the limit", 10, g + 10*s + hl, 0x2000ffff},
		{"devnet far behind clamps at the limit", 10, math.MaxInt64, 0x2000ffff},
		{"devnet far ahead clamps at target 1", 10, math.MinInt64, 0x01010000},
		{"devnet huge height clamps at target 1", math.MaxUint64, g, 0x01010000},
		{"devnet 300 half-lives ahead", 1 << 20, g + (1<<20)*s - 300*hl, 0x01010000},
	}
	for _, c := range bitsCases {
		if got := NextRequiredBits(p, c.height, c.ts); got != c.want {
			t.Errorf("%s: bits %08x, want %08x", c.name, got, c.want)
		}
	}
}

// TestASERTGolden pins NextRequiredBits on a table of (parent height,
// parent time − genesis time) for devnet and mainnet. Any change here is a
// consensus change.
func TestASERTGolden(t *testing.T) {
	type row struct {
		height uint64
		dt     int64
		bits   uint32
	}
	tables := []struct {
		params func() *Params
		rows   []row
	}{
		{DevnetParams, []row{
			{0, 0, 0x2000ffff}, {1, 5, 0x2000ffff}, {1, 0, 0x2000fe86},
			{10, -550, 0x1f7fff80}, {10, -1150, 0x1f3fffc0}, {100, 200, 0x2000b500},
			{100, -400, 0x1f5a8025}, {1000, 0, 0x1f00cb2f}, {1000, -1000, 0x1e3fffc0},
			{5000, 14677, 0x1d6f0e10}, {12345, 43732, 0x1c040853},
			{1048576, 5204480, 0x1800ffff}, {1048576, 5122880, 0x0700ffff},
			{2, 610, 0x2000ffff}, {3, -1, 0x2000fb52},
		}},
		{MainnetParams, []row{
			{0, 0, 0x1e00ffff}, {1, 60, 0x1e00ffff}, {1, 0, 0x1e00fe86},
			{10, -6600, 0x1d7fff80}, {10, -13800, 0x1d3fffc0}, {100, 2400, 0x1e00b500},
			{100, -4800, 0x1d5a8025}, {1000, 0, 0x1d00cb2f}, {1000, -12000, 0x1c3fffc0},
			{5000, 177477, 0x1b7e7f01}, {12345, 524707, 0x1a0400af},
			{1048576, 62453760, 0x1600ffff}, {1048576, 61474560, 0x0500ffff},
			{2, 7320, 0x1e00ffff}, {3, -1, 0x1e00fb96},
		}},
	}
	for _, tb := range tables {
		p := tb.params()
		for _, r := range tb.rows {
			if got := NextRequiredBits(p, r.height, p.GenesisTimestamp+r.dt); got != r.bits {
				t.Errorf("%s height %d dt %d: bits %08x, want %08x", p.Name, r.height, r.dt, got, r.bits)
			}
		}
	}
}

// TestASERTAgainstFloat compares with the real-valued schedule for
// moderate exponents: within polynomial error plus compact rounding.
func TestASERTAgainstFloat(t *testing.T) {
	p := MainnetParams()
	anchor := bitsTarget(t, "anchor", p.PowLimitBits)
	r := rand.New(rand.NewPCG(7, 8))
	for i := 0; i < 2000; i++ {
		h := r.Uint64N(10_000_000)
		dev := r.Int64N(40*p.ASERTHalfLife) - 39*p.ASERTHalfLife // at most 1 half-life behind
		ts := p.GenesisTimestamp + int64(h)*p.TargetSpacing + dev
		name := fmt.Sprintf("case %d (height %d dev %d)", i, h, dev)
		got := bitsTarget(t, name, NextRequiredBits(p, h, ts))
		x := float64(dev*65536/p.ASERTHalfLife) / 65536
		want := new(big.Float).SetInt(anchor)
		want.Mul(want, big.NewFloat(math.Exp2(x)))
		if lim := new(big.Float).SetInt(p.PowLimit); want.Cmp(lim) > 0 {
			want = lim
		}
		ratio, _ := new(big.Float).Quo(new(big.Float).SetInt(got), want).Float64()
		if ratio > 1+1.4e-4 || ratio < 1-1.4e-4-1.0/(1<<15) {
			t.Fatalf("%s: target/ideal = %v", name, ratio)
		}
	}
}

// TestASERTMonotonic: later parent timestamps never make the target
// harder; higher parents at the same time never make it easier.
func TestASERTMonotonic(t *testing.T) {
	for _, p := range []*Params{DevnetParams(), MainnetParams()} {
		r := rand.New(rand.NewPCG(9, 10))
		for i := 0; i < 300; i++ {
			h := r.Uint64N(1 << 22)
			ts := p.GenesisTimestamp + int64(h)*p.TargetSpacing + r.Int64N(200*p.ASERTHalfLife) - 150*p.ASERTHalfLife
			name := fmt.Sprintf("%s case %d (height %d ts %d)", p.Name, i, h, ts)
			prev := bitsTarget(t, name, NextRequiredBits(p, h, ts))
			cur := ts
			for _, step := range []int64{1, 7, p.TargetSpacing, p.ASERTHalfLife / 3, p.ASERTHalfLife} {
				cur += step
				next := bitsTarget(t, name, NextRequiredBits(p, h, cur))
				if next.Cmp(prev) < 0 {
					t.Fatalf("%s: +%d s made the target harder: %x → %x", name, step, prev, next)
				}
				prev = next
			}
			a := bitsTarget(t, name, NextRequiredBits(p, h, ts))
			b := bitsTarget(t, name, NextRequiredBits(p, h+1, ts))
			if b.Cmp(a) > 0 {
				t.Fatalf("%s: one block higher made the target easier: %x → %x", name, a, b)
			}
		}
		// A sweep across the whole range, including the clamps.
		prev := big.NewInt(0)
		for dt := int64(-400); dt <= 400; dt++ {
			ts := p.GenesisTimestamp + 1000*p.TargetSpacing + dt*p.ASERTHalfLife/2
			cur := bitsTarget(t, p.Name, NextRequiredBits(p, 1000, ts))
			if cur.Cmp(prev) < 0 {
				t.Fatalf("%s sweep dt %d: target decreased", p.Name, dt)
			}
			if cur.Cmp(p.PowLimit) > 0 || cur.Sign() <= 0 {
				t.Fatalf("%s sweep dt %d: target %x outside [1, limit]", p.Name, dt, cur)
			}
			prev = cur
		}
	}
}

// TestASERTTimewarpBounded shows that timestamp manipulation has a bounded,
// non-compounding effect. (1) Moving a parent's timestamp by Δt changes the
// required target by at most 2^(Δt/half-life) (up to polynomial and compact
// rounding). (2) A timewarp attacker who keeps timestamps as low as the
// median-time-past rule allows for many blocks and then jumps to the
// future-drift limit gains only 2^(MaxFutureDrift/half-life) over an honest
// on-schedule block: the target depends on the parent's height and
// timestamp alone, not on the history (contrast Bitcoin's period retarget,
// BIP94).
func TestASERTTimewarpBounded(t *testing.T) {
	const slack = 1 + 4e-4
	for _, p := range []*Params{DevnetParams(), TestnetParams(), MainnetParams()} {
		r := rand.New(rand.NewPCG(11, 12))
		for i := 0; i < 500; i++ {
			h := r.Uint64N(1 << 20)
			base := p.GenesisTimestamp + int64(h)*p.TargetSpacing - r.Int64N(50*p.ASERTHalfLife)
			dt := r.Int64N(3*p.ASERTHalfLife) + 1
			name := fmt.Sprintf("%s case %d (height %d, Δt %d)", p.Name, i, h, dt)
			a := bitsTarget(t, name, NextRequiredBits(p, h, base))
			b := bitsTarget(t, name, NextRequiredBits(p, h, base+dt))
			ratio, _ := new(big.Float).Quo(new(big.Float).SetInt(b), new(big.Float).SetInt(a)).Float64()
			if bound := math.Exp2(float64(dt)/float64(p.ASERTHalfLife)) * slack; ratio > bound || ratio < 1 {
				t.Fatalf("%s: target ratio %v outside [1, %v]", name, ratio, bound)
			}
		}

		// (2) The attack: start on schedule at height 1000; the attacker
		// mines 2000 blocks with the lowest timestamps the MTP rule allows,
		// then one block stamped at the drift limit of real time `now`.
		const start, n = 1000, 2000
		ts := make([]int64, 0, start+n)
		for h := int64(0); h <= start; h++ {
			ts = append(ts, p.GenesisTimestamp+h*p.TargetSpacing)
		}
		for k := 0; k < n; k++ {
			parent := uint64(len(ts) - 1)
			mtp := MedianTimePast(ts[max(0, len(ts)-MedianTimeSpan):])
			lowest := mtp + 1
			// Backdated blocks only get harder than on-schedule ones.
			onSched := bitsTarget(t, p.Name, NextRequiredBits(p, parent, p.GenesisTimestamp+int64(parent)*p.TargetSpacing))
			got := bitsTarget(t, p.Name, NextRequiredBits(p, parent, ts[parent]))
			if got.Cmp(onSched) > 0 {
				t.Fatalf("%s timewarp block %d: backdated parent eased the target", p.Name, k)
			}
			ts = append(ts, lowest)
		}
		tip := uint64(len(ts) - 1)
		now := p.GenesisTimestamp + int64(tip)*p.TargetSpacing // real time, honest schedule
		if err := CheckTimestamp(p, now+p.MaxFutureDrift, MedianTimePast(ts), now); err != nil {
			t.Fatalf("%s: jump timestamp rejected: %v", p.Name, err)
		}
		honest := bitsTarget(t, p.Name, NextRequiredBits(p, tip, now))
		warped := bitsTarget(t, p.Name, NextRequiredBits(p, tip, now+p.MaxFutureDrift))
		ratio, _ := new(big.Float).Quo(new(big.Float).SetInt(warped), new(big.Float).SetInt(honest)).Float64()
		if bound := math.Exp2(float64(p.MaxFutureDrift)/float64(p.ASERTHalfLife)) * slack; ratio > bound {
			t.Fatalf("%s: timewarp gained ×%v, bound ×%v", p.Name, ratio, bound)
		}
		if err := CheckTimestamp(p, now+p.MaxFutureDrift+1, MedianTimePast(ts), now); !errors.Is(err, ErrTimeTooNew) {
			t.Fatalf("%s: timestamp beyond the drift accepted: %v", p.Name, err)
		}
	}
}

func TestNextRequiredBitsBadParams(t *testing.T) {
	cases := []struct {
		name string
		mut  func(p *Params) *Params
		want uint32
	}{
		{"nil params", func(*Params) *Params { return nil }, minTargetBits},
		{"zero half-life", func(p *Params) *Params { p.ASERTHalfLife = 0; return p }, 0x2000ffff},
		{"negative spacing", func(p *Params) *Params { p.TargetSpacing = -5; return p }, 0x2000ffff},
		{"nil limit", func(p *Params) *Params { p.PowLimit = nil; return p }, 0x2000ffff},
		{"negative limit bits", func(p *Params) *Params { p.PowLimitBits = 0x04923456; return p }, 0x04923456},
		{"limit bits above limit", func(p *Params) *Params { p.PowLimitBits = 0x2100ffff; return p }, 0x2000ffff},
	}
	for _, c := range cases {
		p := c.mut(DevnetParams())
		if got := NextRequiredBits(p, 5, 1767225600+25); got != c.want {
			t.Errorf("%s: bits %08x, want %08x", c.name, got, c.want)
		}
	}
}

func TestMedianTimePast(t *testing.T) {
	cases := []struct {
		name string
		in   []int64
		want int64
	}{
		{"empty", nil, math.MinInt64},
		{"one", []int64{42}, 42},
		{"two: upper median", []int64{1, 2}, 2},
		{"three unsorted", []int64{3, 1, 2}, 2},
		{"eleven increasing", []int64{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11}, 6},
		{"eleven with outliers", []int64{100, 1, 2, 3, 4, 5, 999, 998, 997, 996, -5}, 5},
		{"only the last eleven count", []int64{1000, 1000, 1000, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11}, 6},
		{"ten: upper median", []int64{10, 9, 8, 7, 6, 5, 4, 3, 2, 1}, 6},
		{"duplicates", []int64{5, 5, 5, 1, 9}, 5},
		{"extremes", []int64{math.MinInt64, math.MaxInt64, 0}, 0},
	}
	for _, c := range cases {
		in := slices.Clone(c.in)
		if got := MedianTimePast(in); got != c.want {
			t.Errorf("%s: median %d, want %d", c.name, got, c.want)
		}
		if !slices.Equal(in, c.in) {
			t.Errorf("%s: input modified", c.name)
		}
	}
}

func TestCheckTimestamp(t *testing.T) {
	p := DevnetParams()
	d := p.MaxFutureDrift
	cases := []struct {
		name         string
		ts, mtp, now int64
		want         error
	}{
		{"equal to MTP", 100, 100, 100, ErrTimeTooOld},
		{"MTP + 1", 101, 100, 100, nil},
		{"below MTP", 50, 100, 1000, ErrTimeTooOld},
		{"at the drift limit", 1000 + d, 100, 1000, nil},
		{"one past the drift limit", 1000 + d + 1, 100, 1000, ErrTimeTooNew},
		{"far future", math.MaxInt64, 100, 1000, ErrTimeTooNew},
		{"clock near the end of time", math.MaxInt64, 100, math.MaxInt64 - 1, nil},
		{"MTP of no ancestors", math.MinInt64 + 1, math.MinInt64, 0, nil},
		{"minimum timestamp, no ancestors", math.MinInt64, math.MinInt64, 0, ErrTimeTooOld},
	}
	for _, c := range cases {
		err := CheckTimestamp(p, c.ts, c.mtp, c.now)
		if c.want == nil && err != nil || c.want != nil && !errors.Is(err, c.want) {
			t.Errorf("%s: got %v, want %v", c.name, err, c.want)
		}
		var re RuleError
		if err != nil && !errors.As(err, &re) {
			t.Errorf("%s: %T is not a RuleError", c.name, err)
		}
	}
	// nil params: no drift allowance, no panic.
	if err := CheckTimestamp(nil, 11, 10, 10); !errors.Is(err, ErrTimeTooNew) {
		t.Errorf("nil params: %v", err)
	}
}
