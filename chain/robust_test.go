package chain_test

import (
	"errors"
	"fmt"
	"slices"
	"sync/atomic"
	"testing"

	"github.com/gradientcoin/gradientcoin/chain"
	"github.com/gradientcoin/gradientcoin/chain/chaintest"
	"github.com/gradientcoin/gradientcoin/chain/sketch"
	"github.com/gradientcoin/gradientcoin/chain/state"
)

// flakyStore is a MemStore whose reads fail while armed: each armed
// counter fails that many calls, then the store works again (a transient
// I/O error).
type flakyStore struct {
	*chain.MemStore
	utxoFails, undoFails atomic.Int32
}

var errFlaky = errors.New("flaky store: transient read error")

func (f *flakyStore) FetchUtxos(ops []chain.OutPoint) (map[chain.OutPoint]chain.UtxoEntry, error) {
	if f.utxoFails.Add(-1) >= 0 {
		return nil, chain.RuleError{Err: chain.ErrStore, Description: errFlaky.Error()}
	}
	return f.MemStore.FetchUtxos(ops)
}

func (f *flakyStore) FetchUndo(h chain.Hash) ([]byte, error) {
	if f.undoFails.Add(-1) >= 0 {
		return nil, chain.RuleError{Err: chain.ErrStore, Description: errFlaky.Error()}
	}
	return f.MemStore.FetchUndo(h)
}

// TestStoreReadErrorRecovers: a transient store read error while a block
// is being connected leaves no trace in the index: the block is not
// "known", it can be processed again (and then connects), and a stored
// branch whose activation the error stopped is activated by the next
// block the chain processes.
func TestStoreReadErrorRecovers(t *testing.T) {
	cases := []struct {
		name string
		run  func(t *testing.T, g *chaintest.Generator, bc *chain.BlockChain, st *flakyStore)
	}{
		{"a block extending the tip, UTXO read fails once", func(t *testing.T, g *chaintest.Generator, bc *chain.BlockChain, st *flakyStore) {
			b := g.NextBlock("x", nil)
			st.utxoFails.Store(1)
			if _, err := bc.ProcessBlock(b, b.Header.Timestamp); !errors.Is(err, chain.ErrStore) {
				t.Fatalf("with the read failing: %v, want ErrStore", err)
			}
			if bc.HaveBlock(b.Hash()) || bc.HaveHeader(b.Hash()) {
				t.Fatal("the unsaved block stayed in the index")
			}
			if res, err := bc.ProcessBlock(b, b.Header.Timestamp); err != nil || !res.MainChain {
				t.Fatalf("resubmitted: %+v %v", res, err)
			}
			c := g.NextBlock("x2", nil)
			if res, err := bc.ProcessBlock(c, c.Header.Timestamp); err != nil || !res.MainChain {
				t.Fatalf("its child: %+v %v", res, err)
			}
		}},
		{"a header-only block whose body fails to connect is header-only again", func(t *testing.T, g *chaintest.Generator, bc *chain.BlockChain, st *flakyStore) {
			b := g.NextBlock("h", nil)
			if _, err := bc.ProcessHeaders([]chain.Header{b.Header}, b.Header.Timestamp); err != nil {
				t.Fatal(err)
			}
			st.utxoFails.Store(1)
			if _, err := bc.ProcessBlock(b, b.Header.Timestamp); !errors.Is(err, chain.ErrStore) {
				t.Fatalf("with the read failing: %v, want ErrStore", err)
			}
			if bc.HaveBlock(b.Hash()) || !bc.HaveHeader(b.Hash()) {
				t.Fatalf("have block %v, have header %v: want header only", bc.HaveBlock(b.Hash()), bc.HaveHeader(b.Hash()))
			}
			if s, _ := bc.StatusOf(b.Hash()); s != 0 {
				t.Fatalf("status %v, want 0 (header only)", s)
			}
			if res, err := bc.ProcessBlock(b, b.Header.Timestamp); err != nil || !res.MainChain {
				t.Fatalf("resubmitted: %+v %v", res, err)
			}
		}},
		{"a reorg stopped by an undo read error is finished by the next block", func(t *testing.T, g *chaintest.Generator, bc *chain.BlockChain, st *flakyStore) {
			base := g.Name(bc.Tip().Hash)
			m1 := g.NextBlock("m1", nil)
			process(t, bc, m1)
			g.SetTip(base)
			f1, f2 := g.NextBlock("f1", nil), g.NextBlock("f2", nil)
			process(t, bc, f1)
			st.undoFails.Store(1)
			if _, err := bc.ProcessBlock(f2, f2.Header.Timestamp); !errors.Is(err, chain.ErrStore) {
				t.Fatalf("with the undo read failing: %v, want ErrStore", err)
			}
			if bc.Tip().Hash != m1.Hash() || !bc.HaveBlock(f2.Hash()) {
				t.Fatal("want the old tip, with the side block stored")
			}
			// A block on the old tip has the same work as the stored
			// branch, which was seen first: the chain must scan and
			// take f2, not the new block.
			g.SetTip("m1")
			m2 := g.NextBlock("m2", nil)
			if _, err := bc.ProcessBlock(m2, m2.Header.Timestamp); err != nil {
				t.Fatal(err)
			}
			if got := bc.Tip().Hash; got != f2.Hash() {
				t.Fatalf("tip %s (%s), want f2", got, g.Name(got))
			}
		}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			g, err := chaintest.NewGenerator(chaintest.Params())
			if err != nil {
				t.Fatal(err)
			}
			st := &flakyStore{MemStore: chain.NewMemStore()}
			bc, err := chain.New(chain.Config{Params: g.Params, Store: st})
			if err != nil {
				t.Fatal(err)
			}
			defer bc.Close()
			process(t, bc, g.Branch("b", 8, 10, 0)...)
			c.run(t, g, bc, st)
		})
	}
}

// failingBackend fails every de-sketch, like a GPU out of memory.
type failingBackend struct{ calls atomic.Int64 }

func (f *failingBackend) Desketch(*sketch.Sketch, []float32, []float32) error {
	f.calls.Add(1)
	return errors.New("cuMemAlloc: CUDA_ERROR_OUT_OF_MEMORY: out of memory")
}

// wrongBackend de-sketches on the CPU and then corrupts the result: a
// GPU that silently computes wrong numbers.
type wrongBackend struct{ calls atomic.Int64 }

func (f *wrongBackend) Desketch(s *sketch.Sketch, dst, y []float32) error {
	f.calls.Add(1)
	if err := s.Desketch(dst, y); err != nil {
		return err
	}
	dst[0] += 0.25
	return nil
}

// TestBackendFailureIsNotAVerdict: a de-sketch backend that fails, or
// that returns wrong numbers, can neither make the chain reject (and
// remember as invalid) a valid block nor make CheckBlockTemplate pass a
// template whose state root only the broken backend agrees with; a block
// that is really invalid is still rejected (the CPU reference decides).
func TestBackendFailureIsNotAVerdict(t *testing.T) {
	cases := []struct {
		name    string
		backend interface {
			state.Backend
			count() int64
		}
	}{
		{"backend fails with CUDA_ERROR_OUT_OF_MEMORY", &countedFailing{}},
		{"backend returns wrong numbers", &countedWrong{}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			g, err := chaintest.NewGenerator(chaintest.Params())
			if err != nil {
				t.Fatal(err)
			}
			bc, err := chain.New(chain.Config{Params: g.Params, Store: chain.NewMemStore(), Backend: c.backend})
			if err != nil {
				t.Fatal(err)
			}
			defer bc.Close()
			blocks := g.Branch("b", 6, 10, 1) // contributions in every block
			for i, b := range blocks {
				res, err := bc.ProcessBlock(b, b.Header.Timestamp)
				if err != nil || !res.MainChain {
					t.Fatalf("valid block %d: %+v %v", i+1, res, err)
				}
			}
			if c.backend.count() == 0 || bc.BackendFallbacks() == 0 {
				t.Fatalf("backend called %d times, %d CPU fallbacks: the backend was not exercised", c.backend.count(), bc.BackendFallbacks())
			}
			sameWeights(t, "weights after the blocks", bc.Weights(), g.Weights("b6"))

			// A template whose state root is what the broken backend
			// computes: CheckBlockTemplate (CPU) refuses it; the honest one passes.
			good := g.NextBlock("tpl", nil, chaintest.Contributions(1))
			g.SetTip("b6")
			w := bc.Weights()
			if err := state.ApplyWith(&countedWrong{}, g.Params.Training, w, [32]byte(good.Header.PrevBlock), good.Contributions); err != nil {
				t.Fatal(err)
			}
			bad := *good
			bad.Header.StateRoot = chain.Hash(g.Params.Training.Root(w))
			if err := bc.CheckBlockTemplate(&bad, bad.Header.Timestamp); !errors.Is(err, chain.ErrBadStateRoot) {
				t.Fatalf("template with the wrong backend's root: %v, want ErrBadStateRoot", err)
			}
			if err := bc.CheckBlockTemplate(good, good.Header.Timestamp); err != nil {
				t.Fatalf("honest template: %v", err)
			}

			// A really invalid block (wrong state root) is still rejected.
			invalid := g.NextBlock("inv", nil, chaintest.Contributions(1), chaintest.MungeHeader(func(h *chain.Header) { h.StateRoot[0] ^= 1 }))
			g.SetTip("b6")
			if _, err := bc.ProcessBlock(invalid, invalid.Header.Timestamp); !errors.Is(err, chain.ErrBadStateRoot) {
				t.Fatalf("invalid block: %v, want ErrBadStateRoot", err)
			}
			if res, err := bc.ProcessBlock(good, good.Header.Timestamp); err != nil || !res.MainChain {
				t.Fatalf("the valid sibling: %+v %v", res, err)
			}
		})
	}
}

type countedFailing struct{ failingBackend }

func (c *countedFailing) count() int64 { return c.calls.Load() }

type countedWrong struct{ wrongBackend }

func (c *countedWrong) count() int64 { return c.calls.Load() }

// TestLowWorkBranch: a branch far below the tip's work (Params.
// LowWorkMargin) costs about PowLimit work per block when it forks off
// genesis (ASERT eases a branch behind schedule), so the chain neither
// stores such blocks nor keeps many such headers, unless headers-first
// sync shows that the branch reaches the tip's neighbourhood. Forks near
// the tip are stored as before.
func TestLowWorkBranch(t *testing.T) {
	type env struct {
		g          *chaintest.Generator
		st         *chain.MemStore
		bc         *chain.BlockChain
		fork, alt  []*chain.Block // off genesis, on schedule (PoW limit bits)
		third      []*chain.Block
		mainBlocks []*chain.Block
	}
	headers := func(bs []*chain.Block) []chain.Header {
		out := make([]chain.Header, len(bs))
		for i, b := range bs {
			out[i] = b.Header
		}
		return out
	}
	lastTime := func(bs []*chain.Block) int64 { return bs[len(bs)-1].Header.Timestamp }
	cases := []struct {
		name           string
		maxHeaderNodes int
		run            func(t *testing.T, e *env)
	}{
		{"fork blocks off genesis nobody asked for are not stored", 0, func(t *testing.T, e *env) {
			_, err := e.bc.ProcessBlock(e.fork[0], e.fork[0].Header.Timestamp)
			if !errors.Is(err, chain.ErrLowWork) || chain.ClassifyBlock(chain.ProcessResult{}, err) != chain.VerdictIgnore {
				t.Fatalf("first fork block: %v, want ErrLowWork (ignored)", err)
			}
			for i, b := range e.fork[1:60] {
				res, err := e.bc.ProcessBlock(b, b.Header.Timestamp)
				if err != nil && !errors.Is(err, chain.ErrLowWork) || err == nil && !res.Orphan {
					t.Fatalf("fork block %d: %+v %v", i+2, res, err)
				}
			}
			for i, b := range e.fork[:60] {
				if e.bc.HaveHeader(b.Hash()) {
					t.Fatalf("fork block %d is in the index", i+1)
				}
				if _, err := e.st.FetchBlock(b.Hash()); !errors.Is(err, chain.ErrNotFound) {
					t.Fatalf("fork block %d is in the store (%v)", i+1, err)
				}
			}
		}},
		{"a fork near the tip is stored as a side branch", 0, func(t *testing.T, e *env) {
			e.g.SetTip(e.g.Name(e.mainBlocks[len(e.mainBlocks)-2].Hash()))
			b := e.g.NextBlock("near", nil, chaintest.TimestampDelta(30))
			res, err := e.bc.ProcessBlock(b, b.Header.Timestamp)
			if err != nil || res.MainChain || !e.bc.HaveBlock(b.Hash()) {
				t.Fatalf("near-tip fork block: %+v %v, want a stored side block", res, err)
			}
		}},
		{"headers that end far below the tip wait in the low-work pool until the rest lifts them", 0, func(t *testing.T, e *env) {
			if _, err := e.bc.ProcessHeaders(headers(e.fork[:30]), lastTime(e.fork[:30])); err != nil {
				t.Fatal(err)
			}
			if n := e.bc.LowWorkHeaders(); n != 30 {
				t.Fatalf("%d low-work headers, want 30", n)
			}
			if _, err := e.bc.ProcessBlock(e.fork[0], e.fork[0].Header.Timestamp); !errors.Is(err, chain.ErrLowWork) {
				t.Fatalf("body of a low-work header: %v, want ErrLowWork", err)
			}
			if _, err := e.bc.ProcessHeaders(headers(e.fork[30:]), lastTime(e.fork)); err != nil {
				t.Fatal(err)
			}
			if n := e.bc.LowWorkHeaders(); n != 0 {
				t.Fatalf("%d low-work headers after the branch showed its work, want 0", n)
			}
			for i, b := range e.fork {
				if _, err := e.bc.ProcessBlock(b, b.Header.Timestamp); err != nil {
					t.Fatalf("fork block %d after its headers: %v", i+1, err)
				}
			}
			if got := e.bc.Tip().Hash; got != e.fork[len(e.fork)-1].Hash() {
				t.Fatalf("tip %s, want the fork's last block (more work)", e.g.Name(got))
			}
		}},
		{"a full low-work pool evicts the lowest-work leaves, and refuses a batch it cannot hold", 0, func(t *testing.T, e *env) {
			if _, err := e.bc.ProcessHeaders(headers(e.fork[:20]), lastTime(e.fork[:20])); err != nil {
				t.Fatal(err)
			}
			if _, err := e.bc.ProcessHeaders(headers(e.alt[:20]), lastTime(e.alt[:20])); err != nil {
				t.Fatal(err)
			}
			if n := e.bc.LowWorkHeaders(); n != 32 {
				t.Fatalf("%d low-work headers, want the pool's 32", n)
			}
			if e.bc.HaveHeader(e.fork[12].Hash()) || !e.bc.HaveHeader(e.fork[11].Hash()) || !e.bc.HaveHeader(e.alt[19].Hash()) {
				t.Fatal("want the older branch's 8 highest headers evicted, the rest kept")
			}
			// 50 headers ending below the threshold: more than the pool holds.
			if n, err := e.bc.ProcessHeaders(headers(e.third[:50]), lastTime(e.third[:50])); !errors.Is(err, chain.ErrLowWork) || n != 0 {
				t.Fatalf("a low batch of 50 headers for a pool of 32: %d added, %v; want 0, ErrLowWork", n, err)
			}
			if n := e.bc.LowWorkHeaders(); n != 32 || !e.bc.HaveHeader(e.alt[19].Hash()) {
				t.Fatalf("a refused batch evicted headers (%d left)", n)
			}
		}},
		{"a full header index prunes header-only leaves far below the tip", 40, func(t *testing.T, e *env) {
			if _, err := e.bc.ProcessHeaders(headers(e.fork[:20]), lastTime(e.fork[:20])); err != nil {
				t.Fatal(err)
			}
			e.g.SetTip("m10")
			var near []*chain.Block
			for i := range 25 {
				near = append(near, e.g.NextBlock(fmt.Sprintf("n%d", i+1), nil))
			}
			if n, err := e.bc.ProcessHeaders(headers(near), lastTime(near)); err != nil || n != 25 {
				t.Fatalf("25 headers on the tip into an index of 40 holding 20 low-work ones: %d added, %v", n, err)
			}
			for i, b := range e.fork[:20] {
				if e.bc.HaveHeader(b.Hash()) {
					t.Fatalf("low-work header %d survived the prune", i+1)
				}
			}
			if n := e.bc.LowWorkHeaders(); n != 0 {
				t.Fatalf("%d low-work headers left", n)
			}
		}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			p := chaintest.Params()
			p.LowWorkMargin = 1 // policy, not consensus: the genesis is unchanged
			g, err := chaintest.NewGenerator(p)
			if err != nil {
				t.Fatal(err)
			}
			e := &env{g: g, st: chain.NewMemStore()}
			e.bc, err = chain.New(chain.Config{Params: p, Store: e.st, MaxLowWorkHeaders: 32, MaxHeaderNodes: c.maxHeaderNodes})
			if err != nil {
				t.Fatal(err)
			}
			defer e.bc.Close()
			// The main chain runs ahead of schedule, so each block needs
			// more work than the last (2^4.5 times the limit's at block
			// 10; about 75 limit blocks of work in all, so the threshold
			// is about 52 limit blocks).
			for i := range 10 {
				e.mainBlocks = append(e.mainBlocks, g.NextBlock(fmt.Sprintf("m%d", i+1), nil, chaintest.TimestampDelta(30)))
			}
			process(t, e.bc, e.mainBlocks...)
			for _, br := range []struct {
				prefix string
				out    *[]*chain.Block
			}{{"f", &e.fork}, {"a", &e.alt}, {"x", &e.third}} {
				g.SetTip("genesis")
				for i := range 120 {
					*br.out = append(*br.out, g.NextBlock(fmt.Sprintf("%s%d", br.prefix, i+1), nil))
				}
			}
			if e.fork[0].Header.Bits != p.PowLimitBits || e.mainBlocks[9].Header.Bits == p.PowLimitBits {
				t.Fatalf("fork bits %08x, main tip bits %08x: want the limit and a harder target", e.fork[0].Header.Bits, e.mainBlocks[9].Header.Bits)
			}
			c.run(t, e)
		})
	}
}

// TestCheckpointQueries: checkpoints are served as they are, never by a
// replay: blocks without one are ErrNotFound.
func TestCheckpointQueries(t *testing.T) {
	g, err := chaintest.NewGenerator(chaintest.Params())
	if err != nil {
		t.Fatal(err)
	}
	be := &countingBackend{}
	bc, err := chain.New(chain.Config{Params: g.Params, Store: chain.NewMemStore(), CheckpointInterval: 4, Backend: be})
	if err != nil {
		t.Fatal(err)
	}
	defer bc.Close()
	blocks := g.Branch("b", 10, 10, 1)
	process(t, bc, blocks...)
	h, height, ok := bc.LatestCheckpoint(4)
	if !ok || height != 8 || h != blocks[7].Hash() {
		t.Fatalf("latest checkpoint %s at %d (%v), want b8", g.Name(h), height, ok)
	}
	if _, height, _ := bc.LatestCheckpoint(3); height != 0 && height%3 != 0 {
		t.Fatalf("latest checkpoint at a multiple of 3: %d", height)
	}
	before := be.n.Load()
	cases := []struct {
		name string
		h    chain.Hash
		ok   bool
	}{
		{"checkpointed block", blocks[7].Hash(), true},
		{"block without a checkpoint", blocks[4].Hash(), false},
		{"unknown block", chain.Hash{9}, false},
		{"genesis (not checkpointed)", g.Params.GenesisHash, false},
	}
	for _, c := range cases {
		if got := bc.HasCheckpoint(c.h); got != c.ok {
			t.Errorf("%s: HasCheckpoint %v, want %v", c.name, got, c.ok)
		}
		w, err := bc.CheckpointWeights(c.h)
		switch {
		case c.ok && err != nil:
			t.Errorf("%s: %v", c.name, err)
		case c.ok:
			sameWeights(t, c.name, w, g.Weights("b8"))
		case !errors.Is(err, chain.ErrNotFound):
			t.Errorf("%s: %v, want ErrNotFound", c.name, err)
		}
	}
	if n := be.n.Load() - before; n != 0 {
		t.Fatalf("%d de-sketches while answering checkpoint queries: a replay", n)
	}
}

// TestDeepReorgHoldsBoundedBlocks: a reorg keeps whole (with their
// contributions) only the ReorgFullBlocks newest blocks of each side and
// one copy of the weights for a checkpoint; the older blocks reach the tip
// event with their header and transactions only. The result is the same.
func TestDeepReorgHoldsBoundedBlocks(t *testing.T) {
	const depth = 30
	g, err := chaintest.NewGenerator(chaintest.Params())
	if err != nil {
		t.Fatal(err)
	}
	bc, err := chain.New(chain.Config{Params: g.Params, Store: chain.NewMemStore(), CheckpointInterval: 4})
	if err != nil {
		t.Fatal(err)
	}
	defer bc.Close()
	mainBr := g.Branch("m", depth, 10, 1) // contributions in every block
	g.SetTip("genesis")
	fork := g.Branch("f", depth+1, 30, 1)
	process(t, bc, mainBr...)
	var last chain.TipEvent
	cancel := bc.Subscribe(func(ev chain.TipEvent) { last = ev })
	defer cancel()
	process(t, bc, fork...)
	if len(last.Disconnected) != depth || len(last.Connected) != depth+1 {
		t.Fatalf("reorg event: %d disconnected, %d connected", len(last.Disconnected), len(last.Connected))
	}
	check := func(side string, got, want []*chain.Block, whole func(i int) bool) {
		for i, b := range got {
			w := want[i]
			if b.Header != w.Header || len(b.Txs) != len(w.Txs) || b.Txs[len(b.Txs)-1].Hash() != w.Txs[len(w.Txs)-1].Hash() {
				t.Fatalf("%s block %d: header or transactions differ", side, i)
			}
			if whole(i) != (len(b.Contributions) == len(w.Contributions)) || !whole(i) && b.Contributions != nil {
				t.Fatalf("%s block %d: %d contributions held, want whole=%v", side, i, len(b.Contributions), whole(i))
			}
		}
	}
	disc := slices.Clone(mainBr)
	slices.Reverse(disc) // old tip first
	check("disconnected", last.Disconnected, disc, func(i int) bool { return i < chain.ReorgFullBlocks })
	check("connected", last.Connected, fork, func(i int) bool { return i >= len(fork)-chain.ReorgFullBlocks })
	sameWeights(t, "weights after the reorg", bc.Weights(), g.Weights(fmt.Sprintf("f%d", depth+1)))
	if !bc.HasCheckpoint(fork[27].Hash()) || bc.HasCheckpoint(fork[23].Hash()) {
		t.Fatal("want only the newest checkpoint of the new branch (height 28) saved by the reorg")
	}
}
