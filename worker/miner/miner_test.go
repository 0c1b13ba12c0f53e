package miner

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"math/big"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/gradientcoin/gradientcoin/chain"
)

func randHeader(r *rand.Rand) chain.Header {
	h := chain.Header{Version: chain.HeaderVersion, Height: r.Uint64N(1 << 40), Timestamp: int64(r.Uint64N(1 << 40)), Bits: r.Uint32()}
	for _, p := range []*chain.Hash{&h.PrevBlock, &h.TxRoot, &h.GradientRoot, &h.StateRoot} {
		for i := range p {
			p[i] = byte(r.Uint32())
		}
	}
	return h
}

// targetLE returns the little-endian target of 2^bits − 1 (bits ≤ 256).
func targetLE(bits uint) [32]byte {
	t := new(big.Int).Sub(new(big.Int).Lsh(big.NewInt(1), bits), big.NewInt(1))
	return chain.TargetBytes(t)
}

// bitsFor returns compact bits of 2^k − 1 (rounded down by BigToCompact).
func bitsFor(k uint) uint32 {
	return chain.BigToCompact(new(big.Int).Sub(new(big.Int).Lsh(big.NewInt(1), k), big.NewInt(1)))
}

func TestMidHasherMatchesPowJob(t *testing.T) {
	impls := []hashImpl{implPureGo, implStdlib}
	if haveSHANI {
		impls = append(impls, implSHANI)
	} else {
		t.Log("no SHA extensions here: the sha-ni path is not tested")
	}
	for _, impl := range impls {
		r := rand.New(rand.NewPCG(1, 2))
		for i := 0; i < 100; i++ {
			h := randHeader(r)
			job := chain.NewPowJob(&h)
			m := newMidHasher(&job, impl)
			if m.impl != impl {
				t.Fatalf("%s case %d: fell back to %s", impl, i, m.impl)
			}
			for _, n := range []uint64{0, 1, 255, 1 << 32, math.MaxUint64, r.Uint64()} {
				h.Nonce = n
				want := h.BlockHash()
				// Independent of chain: two plain SHA-256 calls.
				first := sha256.Sum256(h.Bytes())
				plain := chain.Hash(sha256.Sum256(first[:]))
				if got := m.hash(n); got != want || got != plain || job.Hash(n) != want {
					t.Fatalf("%s case %d nonce %d: midstate %s, block hash %s, plain %s", impl, i, n, got, want, plain)
				}
				a, b := m.hash2(n)
				if a != want || b != job.Hash(n+1) {
					t.Fatalf("%s case %d nonces %d, %d+1: pair %s %s", impl, i, n, n, a, b)
				}
			}
		}
	}
	if got, want := NewCPU(1).Impl(), bestImpl().String(); got != want {
		t.Errorf("CPU.Impl %s, want %s", got, want)
	}
}

func TestMidHasherNoAlloc(t *testing.T) {
	if raceEnabled {
		t.Skip("allocation counts differ under the race detector")
	}
	h := randHeader(rand.New(rand.NewPCG(3, 4)))
	job := chain.NewPowJob(&h)
	for _, impl := range []hashImpl{implStdlib, bestImpl()} {
		m := newMidHasher(&job, impl)
		n := uint64(0)
		if a := testing.AllocsPerRun(1000, func() { n++; _ = m.hash(n) }); a != 0 {
			t.Fatalf("%s: %v allocations per nonce", m.impl, a)
		}
	}
}

// bruteFirst returns the first nonce in [start, start+count) meeting target.
func bruteFirst(job *chain.PowJob, target [32]byte, start, count uint64) (uint64, bool) {
	for i := uint64(0); i < count; i++ {
		if chain.HashMeetsTarget(job.Hash(start+i), &target) {
			return start + i, true
		}
	}
	return 0, false
}

func TestCPUSearch(t *testing.T) {
	r := rand.New(rand.NewPCG(5, 6))
	cases := []struct {
		name    string
		threads int
		bits    uint // target 2^bits − 1
		start   uint64
		count   uint64
	}{
		{"one thread easy", 1, 252, 0, 1000},
		{"one thread harder", 1, 246, 0, 20000},
		{"one thread no solution", 1, 200, 0, 5000},
		{"one thread wraps mod 2^64", 1, 250, math.MaxUint64 - 40, 200},
		{"four threads", 4, 248, 1000, 20000},
		{"four threads no solution", 4, 180, 7, 9000},
		{"threads above count", 8, 256, 5, 3},
		{"everything meets the max target", 3, 256, 0, 10},
		{"one nonce", 2, 256, 42, 1},
		{"empty range", 2, 256, 0, 0},
	}
	for _, c := range cases {
		h := randHeader(r)
		job := chain.NewPowJob(&h)
		tgt := targetLE(c.bits)
		cpu := NewCPU(c.threads)
		nonce, found, hashes, err := cpu.Search(context.Background(), job, tgt, c.start, c.count)
		if err != nil {
			t.Errorf("%s: error %v", c.name, err)
			continue
		}
		want, wantFound := bruteFirst(&job, tgt, c.start, c.count)
		if found != wantFound {
			t.Errorf("%s: found %v, brute force %v", c.name, found, wantFound)
			continue
		}
		if !found {
			if hashes != c.count {
				t.Errorf("%s: %d hashes for a %d-nonce range", c.name, hashes, c.count)
			}
			continue
		}
		if !chain.HashMeetsTarget(job.Hash(nonce), &tgt) || nonce-c.start >= c.count {
			t.Errorf("%s: nonce %d does not solve the range", c.name, nonce)
		}
		if c.threads == 1 && (nonce != want || hashes != nonce-c.start+1) {
			t.Errorf("%s: nonce %d after %d hashes, want the first, %d", c.name, nonce, hashes, want)
		}
		if hashes == 0 || hashes > c.count || cpu.Hashes() != hashes {
			t.Errorf("%s: hashes %d, counter %d, range %d", c.name, hashes, cpu.Hashes(), c.count)
		}
	}
}

func TestCPUSearchCancel(t *testing.T) {
	h := randHeader(rand.New(rand.NewPCG(7, 8)))
	job := chain.NewPowJob(&h)
	impossible := [32]byte{} // only the zero hash meets it
	cpu := NewCPU(2)

	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, found, hashes, err := cpu.Search(ctx, job, impossible, 0, 1<<40); found || hashes != 0 || !errors.Is(err, context.Canceled) {
		t.Fatalf("pre-cancelled: found %v hashes %d err %v", found, hashes, err)
	}

	ctx, cancel = context.WithCancel(context.Background())
	time.AfterFunc(50*time.Millisecond, cancel)
	t0 := time.Now()
	_, found, hashes, err := cpu.Search(ctx, job, impossible, 0, 1<<40)
	if d := time.Since(t0); d > 2*time.Second {
		t.Fatalf("cancel took %v", d)
	}
	if found || hashes == 0 || !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled mid-search: found %v hashes %d err %v", found, hashes, err)
	}
}

func TestMinerMine(t *testing.T) {
	// A fixed template (not the devnet genesis, which changes with the
	// training rules), so which cases bump the timestamp is fixed too.
	devnetLimit := uint32(0x2000ffff)
	base := chain.Header{Version: chain.HeaderVersion, Height: 1, PrevBlock: chain.Hash{0xde, 0xad, 0xbe, 0xef},
		Timestamp: 1767225605, Bits: devnetLimit}
	cases := []struct {
		name     string
		threads  int
		bits     uint32
		maxNonce uint64
		batch    uint64
		bumped   bool // the timestamp must have moved
	}{
		{"devnet limit, adaptive batch", 2, devnetLimit, 0, 0, false},
		{"harder target, one thread", 1, bitsFor(244), 0, 1 << 10, false},
		// 2^-12 odds per nonce with 16 nonces per timestamp: many bumps.
		{"tiny nonce space moves the timestamp", 1, bitsFor(244), 15, 4, true},
		{"tiny nonce space, big batch", 3, bitsFor(246), 7, 1 << 20, true},
	}
	for _, c := range cases {
		m, err := New(Config{Solver: NewCPU(c.threads), MaxNonce: c.maxNonce, Batch: c.batch})
		if err != nil {
			t.Fatal(err)
		}
		tmpl := base
		tmpl.Bits = c.bits
		got, err := m.Mine(context.Background(), tmpl)
		if err != nil {
			t.Errorf("%s: %v", c.name, err)
			continue
		}
		if err := chain.CheckProofOfWork(&got, new(big.Int).Lsh(big.NewInt(1), 256)); err != nil {
			t.Errorf("%s: solved header fails PoW: %v", c.name, err)
		}
		if c.maxNonce != 0 && got.Nonce > c.maxNonce {
			t.Errorf("%s: nonce %d above MaxNonce %d", c.name, got.Nonce, c.maxNonce)
		}
		if moved := got.Timestamp != tmpl.Timestamp; moved != c.bumped || got.Timestamp < tmpl.Timestamp {
			t.Errorf("%s: timestamp %d → %d", c.name, tmpl.Timestamp, got.Timestamp)
		}
		rest, tmplRest := got, tmpl
		rest.Nonce, rest.Timestamp, tmplRest.Nonce, tmplRest.Timestamp = 0, 0, 0, 0
		if rest != tmplRest {
			t.Errorf("%s: fields other than nonce and timestamp changed", c.name)
		}
		st := m.Stats()
		if st.Hashes == 0 || st.Blocks != 1 || st.Busy <= 0 {
			t.Errorf("%s: stats %+v", c.name, st)
		}
	}
}

func TestMinerClock(t *testing.T) {
	tmpl := chain.Header{Version: chain.HeaderVersion, Height: 9, Timestamp: 1000, Bits: bitsFor(250)}
	m, _ := New(Config{Solver: NewCPU(1), Clock: func() int64 { return 5000 }})
	got, err := m.Mine(context.Background(), tmpl)
	if err != nil || got.Timestamp != 5000 {
		t.Fatalf("clock ahead: timestamp %d, %v", got.Timestamp, err)
	}
	m, _ = New(Config{Solver: NewCPU(1), Clock: func() int64 { return 10 }})
	got, err = m.Mine(context.Background(), tmpl)
	if err != nil || got.Timestamp != 1000 {
		t.Fatalf("clock behind must not move the timestamp back: %d, %v", got.Timestamp, err)
	}
}

type fakeSolver struct {
	nonce uint64
	found bool
	err   error
}

func (f fakeSolver) Search(ctx context.Context, _ chain.PowJob, _ [32]byte, _, count uint64) (uint64, bool, uint64, error) {
	return f.nonce, f.found, count, f.err
}

func TestMinerErrors(t *testing.T) {
	if _, err := New(Config{}); !errors.Is(err, ErrNoSolver) {
		t.Errorf("no solver: %v", err)
	}
	good := chain.Header{Version: 1, Bits: bitsFor(200)} // hard: a random nonce fails
	boom := errors.New("device lost")
	cases := []struct {
		name   string
		solver Solver
		bits   uint32
		want   error
	}{
		{"zero bits", NewCPU(1), 0, chain.ErrBadTarget},
		{"negative bits", NewCPU(1), 0x04923456, chain.ErrBadTarget},
		{"overflowing bits", NewCPU(1), 0xff123456, chain.ErrBadTarget},
		{"solver lies", fakeSolver{nonce: 12345, found: true}, good.Bits, ErrBadSolution},
		{"solver fails", fakeSolver{err: boom}, good.Bits, boom},
	}
	for _, c := range cases {
		m, err := New(Config{Solver: c.solver})
		if err != nil {
			t.Fatal(err)
		}
		tmpl := good
		tmpl.Bits = c.bits
		if _, err := m.Mine(context.Background(), tmpl); !errors.Is(err, c.want) {
			t.Errorf("%s: got %v, want %v", c.name, err, c.want)
		}
	}
}

func TestMinerCancel(t *testing.T) {
	m, _ := New(Config{Solver: NewCPU(2)})
	tmpl := chain.Header{Version: 1, Bits: 0x01010000} // target 1: never found
	ctx, cancel := context.WithCancel(context.Background())
	time.AfterFunc(100*time.Millisecond, cancel)
	t0 := time.Now()
	_, err := m.Mine(ctx, tmpl)
	if !errors.Is(err, context.Canceled) || time.Since(t0) > 3*time.Second {
		t.Fatalf("cancel: %v after %v", err, time.Since(t0))
	}
	if st := m.Stats(); st.Hashes == 0 || st.Rate <= 0 || st.AvgRate() <= 0 {
		t.Fatalf("stats after cancel: %+v", st)
	}
}

// Example-style check that the nonce sits where the header says.
func TestNonceOffset(t *testing.T) {
	h := chain.Header{Nonce: 0x1122334455667788}
	b := h.Bytes()
	if got := binary.LittleEndian.Uint64(b[chain.HeaderSize-8:]); got != h.Nonce {
		t.Fatalf("nonce at the end: %x", got)
	}
	if stateNonceOff != 4+32+24 || marshaledSize != 108 {
		t.Fatal(fmt.Sprint("state nonce offset ", stateNonceOff))
	}
}
