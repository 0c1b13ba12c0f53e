package chain_test

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"sync"
	"testing"

	"github.com/gradientcoin/gradientcoin/chain"
	"github.com/gradientcoin/gradientcoin/chain/chaintest"
	"github.com/gradientcoin/gradientcoin/chain/store"
)

func process(t *testing.T, bc *chain.BlockChain, blocks ...*chain.Block) chain.ProcessResult {
	t.Helper()
	var res chain.ProcessResult
	for _, b := range blocks {
		var err error
		if res, err = bc.ProcessBlock(b, b.Header.Timestamp); err != nil {
			t.Fatalf("block at height %d: %v", b.Header.Height, err)
		}
	}
	return res
}

func sameWeights(t *testing.T, what string, a, b []float32) {
	t.Helper()
	if len(a) != len(b) {
		t.Fatalf("%s: %d vs %d weights", what, len(a), len(b))
	}
	for i := range a {
		if a[i] != b[i] {
			t.Fatalf("%s: weight %d: %v vs %v", what, i, a[i], b[i])
		}
	}
}

func TestRestartRebuildsWeights(t *testing.T) {
	g, err := chaintest.NewGenerator(chaintest.Params())
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	ckdir := filepath.Join(dir, "weights")
	open := func(ck string) (*chain.BlockChain, *store.Store) {
		st, err := store.Open(filepath.Join(dir, "chain.db"), nil)
		if err != nil {
			t.Fatal(err)
		}
		bc, err := chain.New(chain.Config{Params: g.Params, Store: st, CheckpointDir: ck, CheckpointInterval: 8})
		if err != nil {
			t.Fatal(err)
		}
		return bc, st
	}
	bc, st := open(ckdir)
	blocks := g.Branch("b", 30, 10, 3)
	process(t, bc, blocks...)
	want := g.Weights("b30")
	sameWeights(t, "before restart", bc.Weights(), want)
	bc.Close()
	st.Close()

	for _, c := range []struct {
		name   string
		ck     string
		damage bool
	}{
		{"from the shutdown checkpoint", ckdir, false},
		{"with every checkpoint corrupt: replay from genesis", ckdir, true},
		{"without a checkpoint directory", "", false},
	} {
		if c.damage {
			ents, _ := os.ReadDir(ckdir)
			for _, e := range ents {
				os.WriteFile(filepath.Join(ckdir, e.Name()), []byte("bad"), 0o644)
			}
		}
		bc, st := open(c.ck)
		sameWeights(t, c.name, bc.Weights(), want)
		if tip := bc.Tip(); tip.Hash != blocks[29].Hash() {
			t.Fatalf("%s: tip moved", c.name)
		}
		w15, err := bc.WeightsAt(blocks[14].Hash())
		if err != nil {
			t.Fatalf("%s: WeightsAt: %v", c.name, err)
		}
		sameWeights(t, c.name+": WeightsAt(b15)", w15, g.Weights("b15"))
		bc.Close()
		st.Close()
	}
}

func TestQueriesAndEvents(t *testing.T) {
	g, err := chaintest.NewGenerator(chaintest.Params())
	if err != nil {
		t.Fatal(err)
	}
	bc, err := chain.New(chain.Config{Params: g.Params, Store: chain.NewMemStore()})
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var events []chain.TipEvent
	cancel := bc.Subscribe(func(ev chain.TipEvent) {
		mu.Lock()
		events = append(events, ev)
		mu.Unlock()
	})
	blocks := g.Branch("b", 40, 10, 7)
	process(t, bc, blocks...)
	if len(events) != 40 || events[39].Hash != blocks[39].Hash() || len(events[0].Connected) != 1 {
		t.Fatalf("events: %d", len(events))
	}

	// Locator and headers-after.
	loc, err := bc.BlockLocator(chain.Hash{})
	if err != nil || loc[0] != blocks[39].Hash() || loc[len(loc)-1] != g.Params.GenesisHash {
		t.Fatalf("locator %v %v", loc, err)
	}
	l10, _ := bc.BlockLocator(blocks[9].Hash())
	hs := bc.LocateHeaders(l10, chain.Hash{}, 5)
	if len(hs) != 5 || hs[0].Height != 11 || hs[4].Height != 15 {
		t.Fatalf("headers after b10: %d", len(hs))
	}
	if hs := bc.LocateHeaders(l10, blocks[11].Hash(), 100); len(hs) != 2 {
		t.Fatalf("headers up to stop: %d", len(hs))
	}
	if hs := bc.LocateHeaders([]chain.Hash{{1}}, chain.Hash{}, 3); len(hs) != 3 || hs[0].Height != 1 {
		t.Fatal("unknown locator does not start after genesis")
	}
	if b, err := bc.BlockByHeight(7); err != nil || b.Hash() != blocks[6].Hash() {
		t.Fatalf("BlockByHeight: %v", err)
	}
	if _, err := bc.BlockByHeight(41); !errors.Is(err, chain.ErrNotFound) {
		t.Fatalf("BlockByHeight above the tip: %v", err)
	}
	if h, ok := bc.HeaderByHash(blocks[3].Hash()); !ok || h.Height != 4 {
		t.Fatal("HeaderByHash")
	}
	us, ht, err := bc.UtxosByAddress(g.Addr)
	if err != nil || ht != 40 || len(us) == 0 {
		t.Fatalf("UtxosByAddress: %d at %d, %v", len(us), ht, err)
	}

	// A reorg: one event with both lists.
	g.SetTip("b38")
	f := []*chain.Block{g.NextBlock("f39", nil), g.NextBlock("f40", nil), g.NextBlock("f41", nil)}
	res := process(t, bc, f...)
	if !res.Reorged || !res.MainChain || !res.TipChanged {
		t.Fatalf("reorg result %+v", res)
	}
	last := events[len(events)-1]
	if len(last.Disconnected) != 2 || last.Disconnected[0].Hash() != blocks[39].Hash() || len(last.Connected) != 3 {
		t.Fatalf("reorg event: %d disconnected, %d connected", len(last.Disconnected), len(last.Connected))
	}
	w, err := bc.WeightsAt(blocks[39].Hash()) // now a side block
	if err != nil {
		t.Fatal(err)
	}
	sameWeights(t, "WeightsAt(side block)", w, g.Weights("b40"))
	cancel()
	n := len(events)
	process(t, bc, g.NextBlock("f42", nil))
	if len(events) != n {
		t.Fatal("event after unsubscribe")
	}

	// A template: unsolved is fine, an overpaying coinbase is not.
	tpl := g.NextBlock("tpl", nil, chaintest.MungeHeader(func(h *chain.Header) { h.Nonce = 0 }))
	tpl.Header.Nonce = 1 // almost surely no longer meets the target
	if err := bc.CheckBlockTemplate(tpl, tpl.Header.Timestamp); err != nil {
		t.Fatalf("template: %v", err)
	}
	g.SetTip("f42")
	bad := g.NextBlock("tplbad", nil, chaintest.CoinbaseExtra(1))
	if err := bc.CheckBlockTemplate(bad, bad.Header.Timestamp); !errors.Is(err, chain.ErrBadCoinbaseValue) {
		t.Fatalf("bad template: %v", err)
	}
	if bc.Tip().Hash != g.Block("f42").Hash() {
		t.Fatal("CheckBlockTemplate changed the tip")
	}
}

func TestConcurrentReaders(t *testing.T) {
	g, err := chaintest.NewGenerator(chaintest.Params())
	if err != nil {
		t.Fatal(err)
	}
	bc, err := chain.New(chain.Config{Params: g.Params, Store: chain.NewMemStore()})
	if err != nil {
		t.Fatal(err)
	}
	blocks := g.Branch("b", 30, 10, 5)
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for range 3 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-stop:
					return
				default:
				}
				tip := bc.Tip()
				if root := chain.Hash(g.Params.Training.Root(bc.Weights())); tip.Height == bc.Tip().Height && root != tip.Header.StateRoot && bc.Tip().Hash == tip.Hash {
					t.Error("weights read with a torn tip")
				}
				bc.UtxosByAddress(g.Addr)
				bc.BlockLocator(chain.Hash{})
			}
		}()
	}
	for _, b := range blocks {
		if _, err := bc.ProcessBlock(b, b.Header.Timestamp); err != nil {
			t.Error(err)
		}
	}
	close(stop)
	wg.Wait()
}

func TestBadInputNoPanic(t *testing.T) {
	p := chaintest.Params()
	bc, err := chain.New(chain.Config{Params: p, Store: chain.NewMemStore()})
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name string
		blk  *chain.Block
	}{
		{"nil block", nil},
		{"empty block", &chain.Block{}},
		{"nil tx", &chain.Block{Txs: []*chain.Tx{nil}}},
		{"nil tx after coinbase", &chain.Block{Txs: []*chain.Tx{p.GenesisBlock.Txs[0], nil}}},
		{"genesis again", p.GenesisBlock},
	}
	for _, c := range cases {
		if _, err := bc.ProcessBlock(c.blk, p.GenesisTimestamp); err == nil {
			t.Errorf("%s: accepted", c.name)
		}
		if err := chain.CheckBlockSanity(p, c.blk, p.GenesisTimestamp, chain.BFNoPoWCheck); err == nil && c.blk != p.GenesisBlock {
			t.Errorf("%s: passes sanity", c.name)
		}
	}
	if err := chain.CheckTxSanity(p, nil); err == nil {
		t.Error("nil tx passes")
	}
	if _, err := chain.New(chain.Config{}); !errors.Is(err, chain.ErrBadParams) {
		t.Errorf("New without params: %v", err)
	}
	other := chain.DevnetParams()
	other.GenesisMessage = "another genesis"
	if err := other.InitGenesis(); err != nil {
		t.Fatal(err)
	}
	st := chain.NewMemStore()
	if _, err := chain.New(chain.Config{Params: p, Store: st}); err != nil {
		t.Fatal(err)
	}
	if _, err := chain.New(chain.Config{Params: other, Store: st}); !errors.Is(err, chain.ErrBadGenesis) {
		t.Errorf("store of another network: %v", err)
	}
	bc.Close()
	if _, err := bc.ProcessBlock(p.GenesisBlock, 0); !errors.Is(err, chain.ErrClosed) {
		t.Errorf("after Close: %v", err)
	}
}

func TestClassifyBlock(t *testing.T) {
	cases := []struct {
		name string
		res  chain.ProcessResult
		err  error
		want chain.Verdict
	}{
		{"accepted", chain.ProcessResult{MainChain: true}, nil, chain.VerdictAccept},
		{"side chain", chain.ProcessResult{}, nil, chain.VerdictAccept},
		{"orphan", chain.ProcessResult{Orphan: true}, nil, chain.VerdictIgnore},
		{"duplicate", chain.ProcessResult{}, chain.RuleError{Err: chain.ErrDuplicateBlock}, chain.VerdictIgnore},
		{"too new", chain.ProcessResult{}, chain.RuleError{Err: chain.ErrTimeTooNew}, chain.VerdictIgnore},
		{"store", chain.ProcessResult{}, chain.RuleError{Err: chain.ErrStore}, chain.VerdictIgnore},
		{"foreign error", chain.ProcessResult{}, errors.New("disk on fire"), chain.VerdictIgnore},
		{"high hash", chain.ProcessResult{}, chain.RuleError{Err: chain.ErrHighHash}, chain.VerdictReject},
		{"known invalid", chain.ProcessResult{}, chain.RuleError{Err: chain.ErrKnownInvalid}, chain.VerdictReject},
		{"bare kind", chain.ProcessResult{}, chain.ErrBadSignature, chain.VerdictReject},
		{"bad snapshot", chain.ProcessResult{}, chain.RuleError{Err: chain.ErrBadSnapshot}, chain.VerdictReject},
		{"snapshot unusable", chain.ProcessResult{}, chain.RuleError{Err: chain.ErrSnapshotUnusable}, chain.VerdictIgnore},
		{"index full", chain.ProcessResult{}, chain.RuleError{Err: chain.ErrIndexFull}, chain.VerdictIgnore},
	}
	for _, c := range cases {
		if got := chain.ClassifyBlock(c.res, c.err); got != c.want {
			t.Errorf("%s: %s, want %s", c.name, got, c.want)
		}
	}
}

// TestStoresAgree runs the same blocks (with a reorg) on MemStore and the
// bbolt store and compares the UTXO sets and the address index.
func TestStoresAgree(t *testing.T) {
	g, err := chaintest.NewGenerator(chaintest.Params())
	if err != nil {
		t.Fatal(err)
	}
	blocks := g.Branch("b", 25, 10, 0)
	g.SetTip("b20")
	blocks = append(blocks, g.Branch("f", 7, 20, 0)...)
	st, err := store.Open(filepath.Join(t.TempDir(), "c.db"), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	var chains []*chain.BlockChain
	for _, s := range []chain.Store{chain.NewMemStore(), st} {
		bc, err := chain.New(chain.Config{Params: g.Params, Store: s})
		if err != nil {
			t.Fatal(err)
		}
		process(t, bc, blocks...)
		chains = append(chains, bc)
	}
	h0, all, _ := chaintest.UtxoSetHash(chains[0])
	h1, _, _ := chaintest.UtxoSetHash(chains[1])
	if h0 != h1 {
		t.Fatal("UTXO sets differ")
	}
	a0, _, _ := chains[0].UtxosByAddress(g.Addr)
	a1, _, _ := chains[1].UtxosByAddress(g.Addr)
	if len(a0) != len(all) || len(a0) != len(a1) {
		t.Fatalf("by address: %d vs %d (set %d)", len(a0), len(a1), len(all))
	}
	for i := range a0 {
		if a0[i] != a1[i] {
			t.Fatalf("by address entry %d differs", i)
		}
	}
	// Raw block bytes: the encoding as stored, and its size.
	for _, bc := range chains {
		for _, b := range []*chain.Block{blocks[3], blocks[len(blocks)-1]} {
			raw, err := bc.BlockBytes(b.Hash())
			if err != nil || !bytes.Equal(raw, b.Bytes()) {
				t.Fatalf("BlockBytes: %v", err)
			}
			if n, err := bc.BlockSize(b.Hash()); err != nil || n != len(raw) {
				t.Fatalf("BlockSize %d, %v; want %d", n, err, len(raw))
			}
		}
		if _, err := bc.BlockBytes(chain.Hash{1}); !errors.Is(err, chain.ErrNotFound) {
			t.Fatalf("BlockBytes of an unknown block: %v", err)
		}
		if _, err := bc.BlockSize(chain.Hash{1}); !errors.Is(err, chain.ErrNotFound) {
			t.Fatalf("BlockSize of an unknown block: %v", err)
		}
	}
}
