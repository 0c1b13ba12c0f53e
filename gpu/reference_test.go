package gpu

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"math/rand/v2"
	"slices"
	"testing"
)

// stdDigest is SHA-256d of the header with the nonce written in, by
// crypto/sha256: the independent oracle for everything in this package.
func stdDigest(h *[HeaderSize]byte, nonce uint64) [32]byte {
	var b [HeaderSize]byte
	copy(b[:], h[:])
	binary.LittleEndian.PutUint64(b[NonceOffset:], nonce)
	d1 := sha256.Sum256(b[:])
	return sha256.Sum256(d1[:])
}

// leLessEq compares two 32-byte little-endian integers: a <= b.
func leLessEq(a, b [32]byte) bool {
	for i := 31; i >= 0; i-- {
		if a[i] != b[i] {
			return a[i] < b[i]
		}
	}
	return true
}

func stdValid(h *[HeaderSize]byte, target [32]byte, nonce uint64) bool {
	return leLessEq(stdDigest(h, nonce), target)
}

// stdSearch is the oracle search: crypto/sha256 over the range, in order.
func stdSearch(h *[HeaderSize]byte, target [32]byte, start, count uint64) []uint64 {
	var hits []uint64
	for i := uint64(0); i < count; i++ {
		if stdValid(h, target, start+i) {
			hits = append(hits, start+i)
		}
	}
	return hits
}

func randHeader(r *rand.Rand) *[HeaderSize]byte {
	var h [HeaderSize]byte
	for i := range h {
		h[i] = byte(r.Uint32())
	}
	return &h
}

// randTarget returns a target with about `zeros` leading zero bits and
// random low bits (so that limbs below the top one matter too).
func randTarget(r *rand.Rand, zeros int) [32]byte {
	var t [32]byte
	for i := range t {
		t[i] = byte(r.Uint32())
	}
	for z := 0; z < zeros; z++ {
		bit := 255 - z
		t[bit/8] &^= 1 << (bit % 8)
	}
	return t
}

func TestConstants(t *testing.T) {
	if got := smallSigma0(w15Len1); got != sigma0W15 {
		t.Errorf("sigma0W15 = %#x, want %#x", sigma0W15, got)
	}
	if got := smallSigma1(w15Len1); got != sigma1W15 {
		t.Errorf("sigma1W15 = %#x, want %#x", sigma1W15, got)
	}
	if got := smallSigma0(w8Pad); got != sigma0W8 {
		t.Errorf("sigma0W8 = %#x, want %#x", sigma0W8, got)
	}
	if ivH7 != iv[7] {
		t.Error("ivH7")
	}
}

func TestCompressMatchesStdlib(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	for n := 0; n < 200; n++ {
		h := randHeader(r)
		nonce := r.Uint64()
		j := NewJob(h, [32]byte{})
		if got, want := j.Digest(nonce), stdDigest(h, nonce); got != want {
			t.Fatalf("header %d: Digest = %x, want %x", n, got, want)
		}
	}
}

func TestMidstateMatchesStdlibState(t *testing.T) {
	// crypto/sha256 exposes its chaining value through MarshalBinary:
	// "sha\x03" + 8 big-endian words + buffered block + length.
	r := rand.New(rand.NewPCG(3, 4))
	h := randHeader(r)
	d := sha256.New()
	d.Write(h[:128])
	st, err := d.(interface{ MarshalBinary() ([]byte, error) }).MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	ms := Midstate(h)
	for i := range ms {
		if got := binary.BigEndian.Uint32(st[4+4*i:]); got != ms[i] {
			t.Fatalf("midstate word %d = %#x, stdlib %#x", i, ms[i], got)
		}
	}
}

// TestTryMatchesStdlib checks the kernel's decomposition (precompute + try)
// against crypto/sha256 on many random headers, nonces and targets, including
// the high-word edges, and checks the early-reject limb.
func TestTryMatchesStdlib(t *testing.T) {
	r := rand.New(rand.NewPCG(5, 6))
	edges := []uint64{0, 1, 1<<32 - 1, 1 << 32, 1<<32 + 1, 1<<63 - 1, 1 << 63, 1<<64 - 2, 1<<64 - 1}
	n := 2000
	if testing.Short() {
		n = 300
	}
	for i := 0; i < n; i++ {
		h := randHeader(r)
		// Targets from trivially easy to impossible, with equal top limbs.
		var target [32]byte
		switch i % 4 {
		case 0:
			target = randTarget(r, r.IntN(12))
		case 1:
			target = randTarget(r, 32+r.IntN(8))
		case 2:
			// Top limb equal to the digest's so the lower limbs decide.
			d := stdDigest(h, uint64(i))
			target = randTarget(r, 0)
			copy(target[28:], d[28:])
		default:
			for k := range target {
				target[k] = 0xff
			}
		}
		j := NewJob(h, target)
		nonces := []uint64{r.Uint64(), uint64(i), edges[i%len(edges)]}
		for _, nonce := range nonces {
			p := newPrecomp(&j, uint32(nonce>>32))
			hit, top := p.try(uint32(nonce))
			d := stdDigest(h, nonce)
			want := leLessEq(d, target)
			if hit != want {
				t.Fatalf("header %d nonce %#x: try = %v, crypto/sha256 = %v", i, nonce, hit, want)
			}
			if wantTop := binary.LittleEndian.Uint32(d[28:]); top != wantTop {
				t.Fatalf("header %d nonce %#x: top limb %#x, want %#x", i, nonce, top, wantTop)
			}
			if j.Check(nonce) != want {
				t.Fatalf("header %d nonce %#x: Check disagrees", i, nonce)
			}
		}
	}
}

func TestSearchReferenceRanges(t *testing.T) {
	r := rand.New(rand.NewPCG(7, 8))
	h := randHeader(r)
	target := randTarget(r, 5) // about 1 in 32 nonces valid
	j := NewJob(h, target)
	cases := []struct {
		name         string
		start, count uint64
	}{
		{"zero", 0, 3000},
		{"low-word-carry", 1<<32 - 1500, 3000},
		{"u64-wrap", 1<<64 - 1500, 3000},
		{"single", 1<<32 - 1, 1},
		{"empty", 12345, 0},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got := SearchReference(j, c.start, c.count, 0)
			want := stdSearch(h, target, c.start, c.count)
			if !slices.Equal(got, want) {
				t.Fatalf("got %d hits %v\nwant %d hits %v", len(got), got, len(want), want)
			}
			if c.count >= 3000 && len(want) == 0 {
				t.Fatal("test range has no hits: target too hard")
			}
			if len(want) > 2 {
				if got := SearchReference(j, c.start, c.count, 2); !slices.Equal(got, want[:2]) {
					t.Fatalf("maxHits=2: got %v, want %v", got, want[:2])
				}
			}
		})
	}
}

func TestParamsLayout(t *testing.T) {
	r := rand.New(rand.NewPCG(9, 10))
	j := NewJob(randHeader(r), randTarget(r, 20))
	p := newPrecomp(&j, 0xdeadbeef)
	b := p.params(0x01020304, 0x05060708, 0x090a0b0c, 0x0d0e0f10, 0x1122334455667788)
	le := binary.LittleEndian
	// Offsets asserted in kernels/sha256d.cu (static_assert).
	if le.Uint32(b[0:]) != j.Midstate[0] || le.Uint32(b[28:]) != j.Midstate[7] {
		t.Error("midstate offset")
	}
	if le.Uint32(b[140:]) != j.Target[0] || le.Uint32(b[168:]) != j.Target[7] {
		t.Error("target offset 140")
	}
	want := []uint32{0xdeadbeef, 0x01020304, 0x05060708, 0x090a0b0c, 0x0d0e0f10}
	for i, w := range want {
		if le.Uint32(b[172+4*i:]) != w {
			t.Errorf("word at %d = %#x, want %#x", 172+4*i, le.Uint32(b[172+4*i:]), w)
		}
	}
	if le.Uint32(b[192:]) != 1 || le.Uint32(b[196:]) != 0 {
		t.Error("one at 192, pad at 196")
	}
	if le.Uint64(b[200:]) != 0x1122334455667788 || len(b) != 208 {
		t.Error("out pointer at 200, size 208")
	}
	if bytes.Equal(b[32:140], make([]byte, 108)) {
		t.Error("precomputed words missing")
	}
}

func TestNextSpan(t *testing.T) {
	cases := []struct {
		start, left uint64
		max         uint32
		want        span
	}{
		{0, 10, 100, span{0, 0, 10}},
		{0, 1000, 100, span{0, 0, 100}},
		{1<<32 - 5, 100, 100, span{0, 1<<32 - 5, 5}},
		{1 << 32, 100, 100, span{1, 0, 100}},
		{1<<64 - 3, 100, 100, span{1<<32 - 1, 1<<32 - 3, 3}},
		{7<<32 | 12, 1 << 40, MaxBatch, span{7, 12, MaxBatch}},
		{1<<32 - 1, 1 << 40, MaxBatch, span{0, 1<<32 - 1, 1}},
	}
	for _, c := range cases {
		if got := nextSpan(c.start, c.left, c.max); got != c.want {
			t.Errorf("nextSpan(%#x, %d, %d) = %+v, want %+v", c.start, c.left, c.max, got, c.want)
		}
	}
	// Walking a range visits every nonce once, in order, never crossing 2^32.
	start, left := uint64(1<<64-70_000), uint64(200_000)
	next, total := start, uint64(0)
	for left > 0 {
		s := nextSpan(start, left, 1<<14)
		if s.first() != next || s.n == 0 || uint64(s.lo)+uint64(s.n) > 1<<32 {
			t.Fatalf("bad span %+v at %#x", s, next)
		}
		next += uint64(s.n)
		start += uint64(s.n)
		left -= uint64(s.n)
		total += uint64(s.n)
	}
	if total != 200_000 {
		t.Fatal(total)
	}
}

func TestLaunchGeometry(t *testing.T) {
	resident := 132 * 6 * 256 // an H100 at 6 blocks of 256 per SM
	for _, n := range []uint32{1, 255, 256, 257, 4096, uint32(resident) - 1, uint32(resident), uint32(resident) + 1, 1 << 22, 1 << 28, MaxBatch} {
		g := launchGeometry(n, 256, resident)
		if g.block != 256 || g.grid == 0 || g.iters == 0 {
			t.Fatalf("n=%d: %+v", n, g)
		}
		if g.threads() > uint64(resident) {
			t.Errorf("n=%d: %d threads, more than one wave", n, g.threads())
		}
		// Covers 0..n-1 and no thread runs an iteration that is wholly
		// past the end.
		cov := g.threads() * uint64(g.iters)
		if cov < uint64(n) || cov-uint64(n) >= g.threads() {
			t.Errorf("n=%d: %+v covers %d", n, g, cov)
		}
		// The kernel's u32 offsets (off = tid + it*threads) never overflow.
		if cov+g.threads() > 1<<32 {
			t.Errorf("n=%d: offsets overflow u32", n)
		}
	}
	if g := launchGeometry(10, 0, 0); g.grid != 1 || g.block != DefaultBlockSize {
		t.Errorf("degenerate: %+v", g)
	}
}

func TestNextBatchSize(t *testing.T) {
	if got := nextBatchSize(0, 0.01); got != firstBatch/8 {
		t.Errorf("rate 0: %d", got)
	}
	if got := nextBatchSize(8e9, 0.01); got != 1<<26 {
		t.Errorf("8 GH/s, 10ms: %d, want 2^26", got)
	}
	if got := nextBatchSize(1e18, 1); got != MaxBatch {
		t.Errorf("huge: %d", got)
	}
}

func TestOptions(t *testing.T) {
	o, err := SearchOptions{}.withDefaults()
	if err != nil || o.MaxHits != DefaultMaxHits || o.BatchTime != DefaultBatchTime || o.BlockSize != DefaultBlockSize {
		t.Fatalf("%+v %v", o, err)
	}
	for _, bad := range []SearchOptions{{MaxHits: -1}, {MaxHits: MaxMaxHits + 1}, {BatchTime: 1}, {BlockSize: 33}, {BlockSize: 512}, {Variant: 7}} {
		if _, err := bad.withDefaults(); err == nil {
			t.Errorf("%+v accepted", bad)
		}
	}
}

// TestSelfTestVectors anchors the device self-test in crypto/sha256 and
// checks the reference search reproduces it.
func TestSelfTestVectors(t *testing.T) {
	for _, ka := range knownAnswers() {
		t.Run(ka.name, func(t *testing.T) {
			var h *[HeaderSize]byte
			var target [32]byte
			switch ka.name {
			case "carry-2^32":
				h, target = katHeader(1), katTarget(10)
			case "wrap-2^64":
				h, target = katHeader(2), katTarget(9)
			case "from-0":
				h, target = katHeader(3), katTarget(8)
			case "target-equals-digest":
				h = katHeader(4)
				target = hexTarget("16b16b4e35fde66279aaa5be7a62600b59539ea9e97f852b387f14015d7f2700")
			default:
				t.Fatalf("unknown vector %q", ka.name)
			}
			if NewJob(h, target) != ka.job {
				t.Fatal("job differs from header/target")
			}
			if want := stdSearch(h, target, ka.start, ka.count); !slices.Equal(ka.hits, want) {
				t.Fatalf("vector hits %#x, crypto/sha256 %#x", ka.hits, want)
			}
			if got := SearchReference(ka.job, ka.start, ka.count, 0); !slices.Equal(got, ka.hits) {
				t.Fatalf("reference %#x, want %#x", got, ka.hits)
			}
		})
	}
}

func TestJobFromMidstate(t *testing.T) {
	r := rand.New(rand.NewPCG(15, 16))
	h := randHeader(r)
	target := randTarget(r, 3)
	var tail [32]byte
	copy(tail[:], h[128:])
	if got, want := JobFromMidstate(Midstate(h), tail, target), NewJob(h, target); got != want {
		t.Fatalf("JobFromMidstate %+v != NewJob %+v", got, want)
	}
}
