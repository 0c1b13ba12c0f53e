package mempool_test

import (
	"errors"
	"slices"
	"testing"

	"github.com/gradientcoin/gradientcoin/chain"
	"github.com/gradientcoin/gradientcoin/chain/chaintest"
	"github.com/gradientcoin/gradientcoin/chain/mempool"
)

type env struct {
	t    *testing.T
	g    *chaintest.Generator
	bc   *chain.BlockChain
	pool *mempool.Pool
	outs []chaintest.SpendableOut
}

// newEnv mines 12 blocks with 3 coinbase outputs each; the first 7 blocks'
// outputs are mature for the next block.
func newEnv(t *testing.T, cfg mempool.Config) *env {
	t.Helper()
	g, err := chaintest.NewGenerator(chaintest.Params())
	if err != nil {
		t.Fatal(err)
	}
	bc, err := chain.New(chain.Config{Params: g.Params, Store: chain.NewMemStore()})
	if err != nil {
		t.Fatal(err)
	}
	e := &env{t: t, g: g, bc: bc}
	for i := 1; i <= 12; i++ {
		name := "b" + string(rune('a'+i))
		e.mine(g.NextBlock(name, nil, chaintest.CoinbaseOutputs(3)))
		if i <= 7 {
			for k := range 3 {
				e.outs = append(e.outs, g.CoinbaseOut(name, k))
			}
		}
	}
	cfg.Chain = bc
	e.pool = mempool.New(cfg)
	bc.Subscribe(e.pool.HandleTipEvent)
	return e
}

func (e *env) mine(b *chain.Block) {
	e.t.Helper()
	if res, err := e.bc.ProcessBlock(b, b.Header.Timestamp); err != nil || !res.MainChain {
		e.t.Fatalf("block %s: %+v %v", e.g.Describe(b.Hash()), res, err)
	}
}

func (e *env) out() chaintest.SpendableOut {
	o := e.outs[0]
	e.outs = e.outs[1:]
	return o
}

func TestAddRejections(t *testing.T) {
	e := newEnv(t, mempool.Config{MinFeeRate: 2})
	g := e.g
	a := e.out()
	okTx := g.PayTx(a, 1000)
	if _, err := e.pool.Add(okTx); err != nil {
		t.Fatalf("valid tx: %v", err)
	}
	b := e.out()
	bad := g.PayTx(b, 1000)
	bad.Inputs[0].Signature[3] ^= 1
	immature := g.PayTx(g.CoinbaseOut("bm", 0), 1000)
	cases := []struct {
		name string
		tx   *chain.Tx
		want chain.ErrorKind
	}{
		{"already have", okTx, chain.ErrAlreadyHave},
		{"double spend of a pool tx's input", g.PayTx(a, 2000), chain.ErrDoubleSpend},
		{"coinbase", g.Block("bm").Txs[0], chain.ErrCoinbaseNotInMempool},
		{"fee rate below the minimum", g.PayTx(b, 100), chain.ErrInsufficientFee},
		{"bad signature", bad, chain.ErrBadSignature},
		{"missing input", g.PayTx(chaintest.SpendableOut{OutPoint: chain.OutPoint{TxID: chain.TaggedHash("x")}, Value: 5000}, 1000), chain.ErrMissingTxOut},
		{"immature coinbase", immature, chain.ErrImmatureSpend},
		{"three outputs", g.SignedTx([]chaintest.SpendableOut{b}, []chain.TxOut{{Value: 1, Address: g.Addr}, {Value: 1, Address: g.Addr}, {Value: 1, Address: g.Addr}}), chain.ErrBadTxOutputs},
		{"outputs above inputs", g.SignedTx([]chaintest.SpendableOut{b}, []chain.TxOut{{Value: b.Value + 1, Address: g.Addr}}), chain.ErrSpendTooHigh},
	}
	for _, c := range cases {
		if _, err := e.pool.Add(c.tx); !errors.Is(err, c.want) {
			t.Errorf("%s: got %v, want %s", c.name, err, c.want)
		}
	}
	if n := e.pool.Count(); n != 1 {
		t.Errorf("pool holds %d txs, want 1", n)
	}
}

func TestChainsAndTemplate(t *testing.T) {
	e := newEnv(t, mempool.Config{})
	g := e.g
	parent := g.PayTx(e.out(), 300)             // low fee rate
	child := g.PayTx(g.TxOut(parent, 0), 90000) // high fee rate, needs parent
	mid := g.PayTx(e.out(), 20000)
	for _, tx := range []*chain.Tx{parent, child, mid} {
		if _, err := e.pool.Add(tx); err != nil {
			t.Fatalf("add: %v", err)
		}
	}
	txs, fees := e.pool.Template(1 << 20)
	if len(txs) != 3 || fees != 300+90000+20000 {
		t.Fatalf("template: %d txs, fees %d", len(txs), fees)
	}
	pos := map[chain.Hash]int{}
	for i, tx := range txs {
		pos[tx.TxID()] = i
	}
	if pos[parent.TxID()] > pos[child.TxID()] {
		t.Errorf("child before its parent in the template")
	}
	if pos[mid.TxID()] != 0 {
		t.Errorf("highest standalone fee rate not first: order %v", pos)
	}
	small, _ := e.pool.Template(parent.SerializeSize())
	if len(small) != 1 || small[0].TxID() != mid.TxID() {
		t.Errorf("template within one tx's bytes: got %d txs", len(small))
	}
	// Mine the template: the pool empties.
	blk := g.NextBlock("mined", nil, chaintest.Txs(txs...))
	e.mine(blk)
	if n := e.pool.Count(); n != 0 {
		t.Fatalf("after mining, pool holds %d", n)
	}
}

func TestEviction(t *testing.T) {
	e := newEnv(t, mempool.Config{})
	g := e.g
	size := g.PayTx(e.outs[0], 1).SerializeSize()
	e.pool = mempool.New(mempool.Config{Chain: e.bc, MaxBytes: 2 * size})
	low := g.PayTx(e.out(), 1000)
	mid := g.PayTx(e.out(), 5000)
	high := g.PayTx(e.out(), 9000)
	lower := g.PayTx(e.out(), 500)
	for _, tx := range []*chain.Tx{low, mid} {
		if _, err := e.pool.Add(tx); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := e.pool.Add(lower); !errors.Is(err, chain.ErrMempoolFull) {
		t.Fatalf("lower fee rate into a full pool: %v", err)
	}
	if _, err := e.pool.Add(high); err != nil {
		t.Fatalf("higher fee rate: %v", err)
	}
	if e.pool.Has(low.TxID()) || !e.pool.Has(mid.TxID()) || !e.pool.Has(high.TxID()) {
		t.Fatalf("eviction did not drop exactly the lowest fee rate")
	}
	if e.pool.Bytes() > 2*size {
		t.Fatalf("pool over its byte bound: %d", e.pool.Bytes())
	}
}

func TestConflictRemovedAndReorgReadds(t *testing.T) {
	e := newEnv(t, mempool.Config{})
	g := e.g
	a := e.out()
	inPool := g.PayTx(a, 1000)
	if _, err := e.pool.Add(inPool); err != nil {
		t.Fatal(err)
	}
	conflict := g.PayTx(a, 2000)
	base := g.Tip()
	e.mine(g.NextBlock("c1", nil, chaintest.Txs(conflict)))
	if e.pool.Has(inPool.TxID()) {
		t.Fatal("tx conflicting with a mined tx still in the pool")
	}
	// Reorg away from c1: its tx comes back.
	g.SetTip(base)
	f1 := g.NextBlock("f1", nil)
	f2 := g.NextBlock("f2", nil)
	if _, err := e.bc.ProcessBlock(f1, f1.Header.Timestamp); err != nil {
		t.Fatal(err)
	}
	if res, err := e.bc.ProcessBlock(f2, f2.Header.Timestamp); err != nil || !res.Reorged {
		t.Fatalf("reorg: %+v %v", res, err)
	}
	if !e.pool.Has(conflict.TxID()) {
		t.Fatal("tx of the disconnected block not back in the pool")
	}
}

// TestCheapChecksFirstAndRejectCache: a transaction that does not pay the
// minimum fee rate, or finds no room, is refused before its signatures are
// checked (a broken signature is not even noticed); rejections are
// remembered until the tip moves — by txid when no signature could help
// (re-signing buys no second check), by full hash for a bad signature (so
// a broken copy cannot block the real transaction) — in a bounded cache.
func TestCheapChecksFirstAndRejectCache(t *testing.T) {
	broken := func(tx *chain.Tx) *chain.Tx {
		c := *tx
		c.Inputs = slices.Clone(tx.Inputs)
		c.Inputs[0].Signature[5] ^= 1
		return &c
	}
	cases := []struct {
		name string
		run  func(t *testing.T, e *env)
	}{
		{"low fee rate is found before a bad signature", func(t *testing.T, e *env) {
			cheap := broken(e.g.PayTx(e.out(), 10))
			if _, err := e.pool.Add(cheap); !errors.Is(err, chain.ErrInsufficientFee) {
				t.Fatalf("got %v, want ErrInsufficientFee", err)
			}
		}},
		{"a full pool is found before a bad signature", func(t *testing.T, e *env) {
			first := e.g.PayTx(e.out(), 5000)
			e.pool = mempool.New(mempool.Config{Chain: e.bc, MaxBytes: first.SerializeSize()})
			if _, err := e.pool.Add(first); err != nil {
				t.Fatal(err)
			}
			if _, err := e.pool.Add(broken(e.g.PayTx(e.out(), 1000))); !errors.Is(err, chain.ErrMempoolFull) {
				t.Fatalf("got %v, want ErrMempoolFull", err)
			}
		}},
		{"a fee rejection is remembered by txid: re-signing does not help", func(t *testing.T, e *env) {
			tx := e.g.PayTx(e.out(), 10)
			if _, err := e.pool.Add(tx); !errors.Is(err, chain.ErrInsufficientFee) {
				t.Fatal(err)
			}
			for name, again := range map[string]*chain.Tx{"same bytes": tx, "other signature": broken(tx)} {
				if _, err := e.pool.Add(again); !errors.Is(err, chain.ErrRecentlyRejected) {
					t.Fatalf("%s: got %v, want ErrRecentlyRejected", name, err)
				}
			}
		}},
		{"a bad signature is remembered by full hash: the real tx still enters", func(t *testing.T, e *env) {
			good := e.g.PayTx(e.out(), 1000)
			bad := broken(good)
			if _, err := e.pool.Add(bad); !errors.Is(err, chain.ErrBadSignature) {
				t.Fatal(err)
			}
			if _, err := e.pool.Add(bad); !errors.Is(err, chain.ErrRecentlyRejected) {
				t.Fatalf("same broken bytes again: %v, want ErrRecentlyRejected", err)
			}
			if _, err := e.pool.Add(good); err != nil {
				t.Fatalf("the correctly signed tx (same txid): %v", err)
			}
		}},
		{"the cache is cleared when the tip moves", func(t *testing.T, e *env) {
			tx := e.g.PayTx(e.out(), 10)
			e.pool.Add(tx)
			e.mine(e.g.NextBlock("next", nil))
			if _, err := e.pool.Add(tx); !errors.Is(err, chain.ErrInsufficientFee) {
				t.Fatalf("after a new tip: %v, want the check again (ErrInsufficientFee)", err)
			}
		}},
		{"the cache is bounded: the oldest rejection is forgotten", func(t *testing.T, e *env) {
			e.pool = mempool.New(mempool.Config{Chain: e.bc, MaxRejects: 2})
			txs := []*chain.Tx{e.g.PayTx(e.out(), 10), e.g.PayTx(e.out(), 11), e.g.PayTx(e.out(), 12)}
			for _, tx := range txs {
				e.pool.Add(tx)
			}
			if e.pool.Rejected(txs[0]) || !e.pool.Rejected(txs[1]) || !e.pool.Rejected(txs[2]) {
				t.Fatalf("remembered: %v %v %v, want false true true", e.pool.Rejected(txs[0]), e.pool.Rejected(txs[1]), e.pool.Rejected(txs[2]))
			}
		}},
		{"missing inputs are not remembered", func(t *testing.T, e *env) {
			parent := e.g.PayTx(e.out(), 1000)
			child := e.g.PayTx(e.g.TxOut(parent, 0), 1000)
			if _, err := e.pool.Add(child); !errors.Is(err, chain.ErrMissingTxOut) {
				t.Fatal(err)
			}
			if _, err := e.pool.Add(parent); err != nil {
				t.Fatal(err)
			}
			if _, err := e.pool.Add(child); err != nil {
				t.Fatalf("child after its parent: %v", err)
			}
		}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			c.run(t, newEnv(t, mempool.Config{MinFeeRate: 2}))
		})
	}
}
