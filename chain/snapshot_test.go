package chain_test

import (
	"errors"
	"fmt"
	"math"
	"path/filepath"
	"slices"
	"sync/atomic"
	"testing"

	"github.com/gradientcoin/gradientcoin/chain"
	"github.com/gradientcoin/gradientcoin/chain/chaintest"
	"github.com/gradientcoin/gradientcoin/chain/sketch"
	"github.com/gradientcoin/gradientcoin/chain/store"
)

// countingBackend is the CPU de-sketch, counted: one call per block whose
// contributions the chain applies.
type countingBackend struct{ n atomic.Int64 }

func (c *countingBackend) Desketch(s *sketch.Sketch, dst, y []float32) error {
	c.n.Add(1)
	return s.Desketch(dst, y)
}

// snapEnv is a chain on a bbolt store with a checkpoint directory, that
// can be closed and opened again.
type snapEnv struct {
	t    *testing.T
	g    *chaintest.Generator
	dir  string
	be   *countingBackend
	st   *store.Store
	bc   *chain.BlockChain
	conf func(*chain.Config)
}

func newSnapEnv(t *testing.T, g *chaintest.Generator) *snapEnv {
	e := &snapEnv{t: t, g: g, dir: t.TempDir(), be: &countingBackend{}}
	e.open()
	t.Cleanup(e.close)
	return e
}

func (e *snapEnv) open() {
	e.t.Helper()
	st, err := store.Open(filepath.Join(e.dir, "chain.db"), &store.Options{NoSync: true})
	if err != nil {
		e.t.Fatal(err)
	}
	cfg := chain.Config{Params: e.g.Params, Store: st, CheckpointDir: filepath.Join(e.dir, "weights"), CheckpointInterval: 10, Backend: e.be}
	if e.conf != nil {
		e.conf(&cfg)
	}
	bc, err := chain.New(cfg)
	if err != nil {
		st.Close()
		e.t.Fatal(err)
	}
	e.st, e.bc = st, bc
}

func (e *snapEnv) close() {
	if e.bc != nil {
		e.bc.Close()
		e.st.Close()
		e.bc, e.st = nil, nil
	}
}

func (e *snapEnv) reopen() { e.close(); e.open() }

func headersOf(blocks []*chain.Block) []chain.Header {
	out := make([]chain.Header, len(blocks))
	for i, b := range blocks {
		out[i] = b.Header
	}
	return out
}

func (e *snapEnv) headers(blocks []*chain.Block) {
	e.t.Helper()
	if _, err := e.bc.ProcessHeaders(headersOf(blocks), blocks[len(blocks)-1].Header.Timestamp); err != nil {
		e.t.Fatalf("headers %d..%d: %v", blocks[0].Header.Height, blocks[len(blocks)-1].Header.Height, err)
	}
}

// applies counts the blocks with contributions among blocks.
func applies(blocks []*chain.Block) int64 {
	n := int64(0)
	for _, b := range blocks {
		if len(b.Contributions) > 0 {
			n++
		}
	}
	return n
}

// checkAgainstFullReplay compares the chain's tip, UTXO set, supply and
// weights with a chain that replayed the same blocks from genesis.
func checkAgainstFullReplay(t *testing.T, what string, bc *chain.BlockChain, p *chain.Params, blocks []*chain.Block) {
	t.Helper()
	full, err := chain.New(chain.Config{Params: p, Store: chain.NewMemStore()})
	if err != nil {
		t.Fatal(err)
	}
	defer full.Close()
	process(t, full, blocks...)
	if a, b := bc.Tip(), full.Tip(); a.Hash != b.Hash || a.Supply != b.Supply {
		t.Fatalf("%s: tip %s supply %d, full replay %s supply %d", what, a.Hash, a.Supply, b.Hash, b.Supply)
	}
	ua, _, err := chaintest.UtxoSetHash(bc)
	if err != nil {
		t.Fatal(err)
	}
	ub, _, err := chaintest.UtxoSetHash(full)
	if err != nil {
		t.Fatal(err)
	}
	if ua != ub {
		t.Fatalf("%s: UTXO set %s, full replay %s", what, ua, ub)
	}
	sameWeights(t, what+": tip weights vs full replay", bc.Weights(), full.Weights())
}

const (
	snapN = 60 // blocks on the main branch
	snapH = 40 // the snapshot's height
)

// snapChain builds the main branch: transactions in every block from
// maturity on, contributions in every third block.
func snapChain(t *testing.T) (*chaintest.Generator, []*chain.Block) {
	g, err := chaintest.NewGenerator(chaintest.Params())
	if err != nil {
		t.Fatal(err)
	}
	return g, g.Branch("m", snapN, 10, 3)
}

// TestImportSnapshot: with the snapshot of block H imported (its headers
// indexed first), blocks 1..H connect without applying a contribution;
// after H every block is replayed and its state root checked; the tip,
// UTXO set, supply and weights equal a full replay, and the weights below
// H are still available (a replay from genesis).
func TestImportSnapshot(t *testing.T) {
	g, blocks := snapChain(t)
	e := newSnapEnv(t, g)
	e.headers(blocks)
	if e.bc.HaveBlock(blocks[0].Hash()) || !e.bc.HaveHeader(blocks[0].Hash()) {
		t.Fatal("a header-only entry counts as a block, or is missing")
	}
	sh := blocks[snapH-1].Header
	if err := e.bc.ImportSnapshot(sh, slices.Clone(g.Weights(fmt.Sprintf("m%d", snapH)))); err != nil {
		t.Fatal(err)
	}
	if h, ht, ok := e.bc.PendingSnapshot(); !ok || h != sh.BlockHash() || ht != snapH {
		t.Fatalf("pending snapshot %s at %d (%v), want %s at %d", h, ht, ok, sh.BlockHash(), snapH)
	}
	process(t, e.bc, blocks[:snapH]...)
	if n := e.be.n.Load(); n != 0 {
		t.Fatalf("%d blocks replayed up to the snapshot, want none", n)
	}
	if _, _, ok := e.bc.PendingSnapshot(); ok {
		t.Fatal("snapshot still pending after its block connected")
	}
	sameWeights(t, "weights after the snapshot block", e.bc.Weights(), g.Weights(fmt.Sprintf("m%d", snapH)))

	// After H: replayed, and a wrong state root is refused.
	process(t, e.bc, blocks[snapH:]...)
	if n, want := e.be.n.Load(), applies(blocks[snapH:]); n != want {
		t.Fatalf("%d blocks replayed after the snapshot, want %d", n, want)
	}
	g.SetTip(fmt.Sprintf("m%d", snapN))
	bad := g.NextBlock("badroot", nil, chaintest.Contributions(1), chaintest.MungeHeader(func(h *chain.Header) { h.StateRoot[0] ^= 1 }))
	if _, err := e.bc.ProcessBlock(bad, bad.Header.Timestamp); !errors.Is(err, chain.ErrBadStateRoot) {
		t.Fatalf("block after the snapshot with a wrong state root: %v, want ErrBadStateRoot", err)
	}
	checkAgainstFullReplay(t, "after snap sync", e.bc, g.Params, blocks)

	// Below H: a replay from genesis with every root checked.
	w, err := e.bc.WeightsAt(blocks[snapH/2].Hash())
	if err != nil {
		t.Fatal(err)
	}
	sameWeights(t, "WeightsAt below the snapshot", w, g.Weights(fmt.Sprintf("m%d", snapH/2+1)))

	// A restart keeps working (the tip checkpoint, then replay).
	e.reopen()
	checkAgainstFullReplay(t, "after a restart", e.bc, g.Params, blocks)
}

// TestImportSnapshotRefused: snapshots the chain must not take, each with
// the error kind that says whose fault it is.
func TestImportSnapshotRefused(t *testing.T) {
	g, blocks := snapChain(t)
	wH := g.Weights(fmt.Sprintf("m%d", snapH))
	sh := blocks[snapH-1].Header
	// A side branch from m5 (fast blocks, so more work per block) and an
	// invalid block on m2 (contributions, but the parent's state root).
	g.SetTip("m2")
	inv := g.NextBlock("inv", nil, chaintest.Contributions(1), chaintest.MungeHeader(func(h *chain.Header) { h.StateRoot = g.Block("m2").Header.StateRoot }))
	g.SetTip("m5")
	side := make([]*chain.Block, 0, 10)
	for i := range 10 {
		side = append(side, g.NextBlock(fmt.Sprintf("s%d", i+6), nil, chaintest.TimestampDelta(1)))
	}
	nan := slices.Clone(wH)
	nan[3] = float32(math.NaN())

	cases := []struct {
		name    string
		setup   func(e *snapEnv)
		header  chain.Header
		weights []float32
		want    chain.ErrorKind // "" = accepted without effect
	}{
		{"weights of another block", func(e *snapEnv) { e.headers(blocks) }, sh, g.Weights("m38"), chain.ErrBadSnapshot},
		{"one weight short", func(e *snapEnv) { e.headers(blocks) }, sh, wH[:len(wH)-1], chain.ErrBadSnapshot},
		{"a NaN weight", func(e *snapEnv) { e.headers(blocks) }, sh, nan, chain.ErrBadSnapshot},
		{"header not indexed", func(e *snapEnv) {}, sh, wH, chain.ErrSnapshotUnusable},
		{"main chain already past it, on another branch", func(e *snapEnv) {
			process(t, e.bc, blocks...)
			e.headers(side)
		}, side[4].Header, g.Weights("s10"), chain.ErrSnapshotUnusable},
		{"its branch has less work than the tip", func(e *snapEnv) {
			process(t, e.bc, blocks[:5]...)
			process(t, e.bc, side...)
			e.headers(blocks[:16])
		}, blocks[15].Header, g.Weights("m16"), chain.ErrSnapshotUnusable},
		{"its block is known invalid", func(e *snapEnv) {
			process(t, e.bc, blocks[:2]...)
			if _, err := e.bc.ProcessBlock(inv, inv.Header.Timestamp); !errors.Is(err, chain.ErrBadStateRoot) {
				t.Fatalf("invalid block: %v", err)
			}
		}, inv.Header, g.Weights("m2"), chain.ErrKnownInvalid},
		{"already on the main chain", func(e *snapEnv) { process(t, e.bc, blocks[:snapH]...) }, sh, wH, ""},
	}
	for _, c := range cases {
		e := newSnapEnv(t, g)
		c.setup(e)
		before := e.bc.Tip()
		err := e.bc.ImportSnapshot(c.header, c.weights)
		switch {
		case c.want == "" && err != nil:
			t.Errorf("%s: %v, want no error", c.name, err)
		case c.want != "" && !errors.Is(err, c.want):
			t.Errorf("%s: %v, want %s", c.name, err, c.want)
		}
		if _, _, ok := e.bc.PendingSnapshot(); ok {
			t.Errorf("%s: a snapshot is pending", c.name)
		}
		if after := e.bc.Tip(); after.Hash != before.Hash {
			t.Errorf("%s: tip moved", c.name)
		}
		e.close()
	}
}

// TestSnapshotRestart: a restart while the snapshot is pending keeps it
// (checkpoint and marker); once its header is indexed again the skip
// resumes, and if only bodies arrive the blocks in between are replayed
// (with every root checked) until the snapshot block, which binds by
// itself. Either way the result equals a full replay.
func TestSnapshotRestart(t *testing.T) {
	g, blocks := snapChain(t)
	const k = 20 // connected before the restart
	for _, c := range []struct {
		name       string
		headers    bool  // index the headers again after the restart
		wantBefore int64 // contributions applied up to the snapshot block
	}{
		{"headers indexed again", true, 0},
		{"bodies only", false, applies(blocks[:snapH-1])},
	} {
		e := newSnapEnv(t, g)
		e.headers(blocks)
		if err := e.bc.ImportSnapshot(blocks[snapH-1].Header, slices.Clone(g.Weights(fmt.Sprintf("m%d", snapH)))); err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		process(t, e.bc, blocks[:k]...)
		e.reopen()
		if h, _, ok := e.bc.PendingSnapshot(); !ok || h != blocks[snapH-1].Hash() {
			t.Fatalf("%s: snapshot not pending after the restart", c.name)
		}
		if e.bc.Tip().Height != k {
			t.Fatalf("%s: tip at %d after the restart, want %d", c.name, e.bc.Tip().Height, k)
		}
		if c.headers {
			e.headers(blocks[k:])
		}
		process(t, e.bc, blocks[k:snapH]...)
		if n := e.be.n.Load(); n != c.wantBefore {
			t.Fatalf("%s: %d blocks replayed up to the snapshot, want %d", c.name, n, c.wantBefore)
		}
		if _, _, ok := e.bc.PendingSnapshot(); ok {
			t.Fatalf("%s: snapshot still pending after its block connected", c.name)
		}
		process(t, e.bc, blocks[snapH:]...)
		checkAgainstFullReplay(t, c.name, e.bc, g.Params, blocks)
		e.reopen()
		checkAgainstFullReplay(t, c.name+", restarted again", e.bc, g.Params, blocks)
		e.close()
	}
}

// TestSnapshotReorgBelow: branches that fork below the snapshot height are
// replayed from genesis with every check: before the snapshot block
// connects (and back to its branch, which skips again) and after; one
// with a wrong state root below the snapshot is refused.
func TestSnapshotReorgBelow(t *testing.T) {
	g, blocks := snapChain(t)
	// Fork at m10: f11..f25 (longer than the main chain up to m20) and a
	// bad fork b11..b71 whose 12th block has a wrong state root.
	g.SetTip("m10")
	fork := g.Branch("f", 15, 20, 2)
	g.SetTip("m10")
	bad := g.Branch("b", 1, 30, 1)
	bad = append(bad, g.NextBlock("b12", nil, chaintest.Contributions(1), chaintest.MungeHeader(func(h *chain.Header) { h.StateRoot[1] ^= 1 })))
	for i := 13; i <= 71; i++ {
		bad = append(bad, g.NextBlock(fmt.Sprintf("b%d", i), nil))
	}

	e := newSnapEnv(t, g)
	e.headers(blocks)
	if err := e.bc.ImportSnapshot(blocks[snapH-1].Header, slices.Clone(g.Weights(fmt.Sprintf("m%d", snapH)))); err != nil {
		t.Fatal(err)
	}
	process(t, e.bc, blocks[:20]...)

	// Before the snapshot block: reorg to the fork, replayed.
	reorged := false
	for _, b := range fork {
		if process(t, e.bc, b).Reorged {
			reorged = true
		}
	}
	if !reorged || e.bc.Tip().Hash != fork[len(fork)-1].Hash() {
		t.Fatalf("no reorg to the fork (tip %s at %d)", e.bc.Tip().Hash, e.bc.Tip().Height)
	}
	if n, want := e.be.n.Load(), applies(blocks[:10])+applies(fork); n != want {
		t.Fatalf("%d blocks replayed for the fork, want %d (genesis to the fork point, then the fork)", n, want)
	}
	sameWeights(t, "fork tip weights", e.bc.Weights(), g.Weights("f15"))
	if _, _, ok := e.bc.PendingSnapshot(); !ok {
		t.Fatal("snapshot dropped by a reorg away from its branch")
	}

	// Back to the snapshot's branch: m21..m60 take the tip again.
	e.be.n.Store(0)
	process(t, e.bc, blocks[20:]...)
	if n, want := e.be.n.Load(), applies(blocks[snapH:]); n != want {
		t.Fatalf("%d blocks replayed back on the snapshot's branch, want %d (only those after it)", n, want)
	}
	checkAgainstFullReplay(t, "back on the snapshot's branch", e.bc, g.Params, blocks)

	// After: a fork below the snapshot with a wrong state root fails.
	var err error
	for _, b := range bad {
		if _, err = e.bc.ProcessBlock(b, b.Header.Timestamp); err != nil {
			break
		}
	}
	if !errors.Is(err, chain.ErrBadStateRoot) {
		t.Fatalf("fork with a wrong state root below the snapshot: %v, want ErrBadStateRoot", err)
	}
	if e.bc.Tip().Hash != blocks[snapN-1].Hash() {
		t.Fatal("tip left the valid branch")
	}
	checkAgainstFullReplay(t, "after the bad fork", e.bc, g.Params, blocks)
}

// TestProcessHeaders: headers are checked against their parents before
// their bodies arrive; header-only entries are not blocks until the body
// comes, and a body whose parent is header-only waits as an orphan.
func TestProcessHeaders(t *testing.T) {
	g, err := chaintest.NewGenerator(chaintest.Params())
	if err != nil {
		t.Fatal(err)
	}
	blocks := g.Branch("h", 12, 10, 4)
	tip := g.Tip()
	badBits := g.NextBlock("badbits", nil, chaintest.MungeHeader(func(h *chain.Header) { h.Bits-- }))
	g.SetTip(tip)
	old := g.NextBlock("old", nil, chaintest.Timestamp(g.MedianTimePast(tip)))
	g.SetTip(tip)
	badPoW := g.NextBlock("badpow", nil, chaintest.BadPoW())
	g.SetTip(tip)
	future := g.NextBlock("future", nil)
	now := future.Header.Timestamp // every header here is at most this late

	cases := []struct {
		name    string
		pre     []chain.Header // indexed first
		hdrs    []chain.Header
		now     int64
		max     int
		want    chain.ErrorKind
		added   int
		wantErr bool
	}{
		{"a valid chain", nil, headersOf(blocks), now, 0, "", 12, false},
		{"known headers are skipped", headersOf(blocks[:5]), headersOf(blocks), now, 0, "", 7, false},
		{"unknown first parent", nil, headersOf(blocks[1:]), now, 0, chain.ErrMissingParent, 0, true},
		{"a gap in the list", nil, append(headersOf(blocks[:3]), headersOf(blocks[4:])...), now, 0, chain.ErrMissingParent, 3, true},
		{"wrong difficulty", headersOf(blocks), []chain.Header{badBits.Header}, now, 0, chain.ErrUnexpectedDifficulty, 0, true},
		{"timestamp at the median time past", headersOf(blocks), []chain.Header{old.Header}, now, 0, chain.ErrTimeTooOld, 0, true},
		{"proof of work above the target", headersOf(blocks), []chain.Header{badPoW.Header}, now, 0, chain.ErrHighHash, 0, true},
		{"timestamp too far ahead", headersOf(blocks), []chain.Header{future.Header}, future.Header.Timestamp - g.Params.MaxFutureDrift - 1, 0, chain.ErrTimeTooNew, 0, true},
		{"index full", nil, headersOf(blocks), now, 5, chain.ErrIndexFull, 5, true},
	}
	for _, c := range cases {
		bc, err := chain.New(chain.Config{Params: g.Params, Store: chain.NewMemStore(), MaxHeaderNodes: c.max})
		if err != nil {
			t.Fatal(err)
		}
		if c.pre != nil {
			if _, err := bc.ProcessHeaders(c.pre, now); err != nil {
				t.Fatalf("%s: setup: %v", c.name, err)
			}
		}
		added, err := bc.ProcessHeaders(c.hdrs, c.now)
		switch {
		case c.wantErr && !errors.Is(err, c.want):
			t.Errorf("%s: %v, want %s", c.name, err, c.want)
		case !c.wantErr && err != nil:
			t.Errorf("%s: %v", c.name, err)
		case added != c.added:
			t.Errorf("%s: added %d, want %d", c.name, added, c.added)
		}
		if bc.Tip().Height != 0 {
			t.Errorf("%s: headers moved the tip", c.name)
		}
		bc.Close()
	}

	// Bodies fill header-only entries in; one whose parent has no body yet
	// is an orphan until the parent arrives.
	bc, err := chain.New(chain.Config{Params: g.Params, Store: chain.NewMemStore()})
	if err != nil {
		t.Fatal(err)
	}
	defer bc.Close()
	if _, err := bc.ProcessHeaders(headersOf(blocks), now); err != nil {
		t.Fatal(err)
	}
	if _, err := bc.ProcessBlock(blocks[0], now); err != nil {
		t.Fatal(err)
	}
	res, err := bc.ProcessBlock(blocks[2], now)
	if err != nil || !res.Orphan {
		t.Fatalf("body on a header-only parent: %+v %v, want an orphan", res, err)
	}
	res, err = bc.ProcessBlock(blocks[1], now)
	if err != nil || len(res.Accepted) != 1 || bc.Tip().Height != 3 {
		t.Fatalf("parent body: %+v %v, tip at %d; want the orphan accepted, tip at 3", res, err, bc.Tip().Height)
	}
	if _, err := bc.ProcessBlock(blocks[1], now); !errors.Is(err, chain.ErrDuplicateBlock) {
		t.Fatalf("body again: %v, want ErrDuplicateBlock", err)
	}
	process(t, bc, blocks[3:]...)
	sameWeights(t, "weights", bc.Weights(), g.Weights("h12"))
}

// TestSnapshotAssumesRootsBelow pins the trust boundary: a block below the
// snapshot whose state root is not what its contributions give connects
// under the snapshot (its root is assumed, like assumevalid's
// signatures), which a full replay refuses; WeightsAt there replays with
// every root checked and reports the mismatch; nothing above the snapshot
// is assumed.
func TestSnapshotAssumesRootsBelow(t *testing.T) {
	g, err := chaintest.NewGenerator(chaintest.Params())
	if err != nil {
		t.Fatal(err)
	}
	var blocks []*chain.Block
	for i := 1; i <= 12; i++ {
		var opts []chaintest.Opt
		if i%3 == 0 {
			opts = append(opts, chaintest.Contributions(1))
		}
		if i == 6 {
			opts = append(opts, chaintest.MungeHeader(func(h *chain.Header) { h.StateRoot[2] ^= 1 }))
		}
		blocks = append(blocks, g.NextBlock(fmt.Sprintf("a%d", i), nil, opts...))
	}
	full, err := chain.New(chain.Config{Params: g.Params, Store: chain.NewMemStore()})
	if err != nil {
		t.Fatal(err)
	}
	defer full.Close()
	process(t, full, blocks[:5]...)
	if _, err := full.ProcessBlock(blocks[5], blocks[5].Header.Timestamp); !errors.Is(err, chain.ErrBadStateRoot) {
		t.Fatalf("full replay of a6: %v, want ErrBadStateRoot", err)
	}

	e := newSnapEnv(t, g)
	e.headers(blocks)
	if err := e.bc.ImportSnapshot(blocks[8].Header, slices.Clone(g.Weights("a9"))); err != nil {
		t.Fatal(err)
	}
	process(t, e.bc, blocks...)
	if e.bc.Tip().Hash != blocks[11].Hash() {
		t.Fatal("snap-synced chain not at a12")
	}
	sameWeights(t, "tip weights", e.bc.Weights(), g.Weights("a12"))
	if _, err := e.bc.WeightsAt(blocks[6].Hash()); !errors.Is(err, chain.ErrBadStateRoot) {
		t.Fatalf("WeightsAt(a7) below the snapshot: %v, want ErrBadStateRoot from the replay", err)
	}
}

// FuzzProcessHeaders: any run of headers (from a peer) is refused or
// indexed without a panic and never moves the tip; ImportSnapshot of any
// such header with wrong weights is refused.
func FuzzProcessHeaders(f *testing.F) {
	g, err := chaintest.NewGenerator(chaintest.Params())
	if err != nil {
		f.Fatal(err)
	}
	blocks := g.Branch("z", 4, 10, 2)
	var seed []byte
	for _, b := range blocks {
		seed = append(seed, b.Header.Bytes()...)
	}
	f.Add(seed)
	f.Add(seed[chain.HeaderSize:])
	f.Add(seed[:chain.HeaderSize+7])
	bc, err := chain.New(chain.Config{Params: g.Params, Store: chain.NewMemStore(), MaxHeaderNodes: 64})
	if err != nil {
		f.Fatal(err)
	}
	defer bc.Close()
	now := blocks[3].Header.Timestamp
	f.Fuzz(func(t *testing.T, data []byte) {
		var hdrs []chain.Header
		for len(data) >= chain.HeaderSize && len(hdrs) < 8 {
			h, err := chain.DecodeHeader(data[:chain.HeaderSize])
			if err != nil {
				t.Fatalf("a %d-byte header does not decode: %v", chain.HeaderSize, err)
			}
			hdrs = append(hdrs, h)
			data = data[chain.HeaderSize:]
		}
		added, err := bc.ProcessHeaders(hdrs, now)
		if added < 0 || added > len(hdrs) {
			t.Fatalf("added %d of %d", added, len(hdrs))
		}
		if err != nil {
			var re chain.RuleError
			if !errors.As(err, &re) {
				t.Fatalf("not a RuleError: %v", err)
			}
		}
		if bc.Tip().Height != 0 {
			t.Fatal("headers moved the tip")
		}
		for _, h := range hdrs {
			if err := bc.ImportSnapshot(h, []float32{1}); !errors.Is(err, chain.ErrBadSnapshot) {
				t.Fatalf("snapshot of one weight: %v, want ErrBadSnapshot", err)
			}
		}
	})
}
