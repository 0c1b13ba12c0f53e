package p2p

import (
	"context"
	"fmt"
	"os"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/rs/zerolog"

	"github.com/gradientcoin/gradientcoin/chain"
	"github.com/gradientcoin/gradientcoin/chain/chaintest"
	"github.com/gradientcoin/gradientcoin/chain/sketch"
	"github.com/gradientcoin/gradientcoin/chain/state"
	"github.com/gradientcoin/gradientcoin/chain/store"
)

// testMempool is a minimal Mempool over a BlockChain: sanity checks and
// input existence, nothing else (the real mempool lives in chain/mempool).
type testMempool struct {
	bc  *chain.BlockChain
	mu  sync.Mutex
	txs map[chain.Hash]*chain.Tx
}

func (m *testMempool) HaveTx(id chain.Hash) bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	_, ok := m.txs[id]
	return ok
}

func (m *testMempool) TxByID(id chain.Hash) (*chain.Tx, bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	tx, ok := m.txs[id]
	return tx, ok
}

func (m *testMempool) ProcessTx(tx *chain.Tx) error {
	if err := chain.CheckTxSanity(m.bc.Params(), tx); err != nil {
		return err
	}
	ops := make([]chain.OutPoint, len(tx.Inputs))
	for i, in := range tx.Inputs {
		ops[i] = in.PrevOut
	}
	got, err := m.bc.FetchUtxos(ops)
	if err != nil {
		return err
	}
	for _, op := range ops {
		if _, ok := got[op]; !ok {
			return chain.RuleError{Err: chain.ErrMissingTxOut, Description: "missing " + op.String()}
		}
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if _, ok := m.txs[tx.TxID()]; ok {
		return chain.RuleError{Err: chain.ErrAlreadyHave, Description: "have it"}
	}
	m.txs[tx.TxID()] = tx
	return nil
}

// testPool is a minimal ContributionPool: state.VerifyContribution and a
// parent check.
type testPool struct {
	rules state.Rules
	mu    sync.Mutex
	cs    map[chain.Hash][]byte
}

func (p *testPool) HaveContribution(h chain.Hash) bool { _, ok := p.Contribution(h); return ok }

func (p *testPool) Contribution(h chain.Hash) ([]byte, bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	c, ok := p.cs[h]
	return c, ok
}

func (p *testPool) AddContribution(parent chain.Hash, c []byte) error {
	dec, err := state.VerifyContribution(p.rules, c)
	if err != nil {
		return err
	}
	if chain.Hash(dec.Parent) != parent {
		return fmt.Errorf("contribution for %x, announced for %s: %w", dec.Parent, parent, ErrIgnore)
	}
	p.put(c)
	return nil
}

func (p *testPool) put(c []byte) {
	p.mu.Lock()
	p.cs[chain.ContributionHash(c)] = c
	p.mu.Unlock()
}

// countingBackend is the CPU de-sketch, counted: one call per block whose
// contributions a chain applies.
type countingBackend struct{ n atomic.Int64 }

func (c *countingBackend) Desketch(s *sketch.Sketch, dst, y []float32) error {
	c.n.Add(1)
	return s.Desketch(dst, y)
}

// tnode is one test node: a real BlockChain on a MemStore and a Node (the
// ChainAdapter is its Chain, SnapshotSource and SnapshotSink).
type tnode struct {
	name string
	bc   *chain.BlockChain
	ad   *ChainAdapter
	mp   *testMempool
	pool *testPool
	n    *Node
}

type nodeOpt func(*Config, *Deps)

func testLogger(t testing.TB, name string) zerolog.Logger {
	if os.Getenv("GC_P2P_LOG") == "" {
		return zerolog.Nop()
	}
	return zerolog.New(zerolog.ConsoleWriter{Out: os.Stderr}).Level(zerolog.TraceLevel).With().Timestamp().Str("node", name).Logger()
}

func newTNode(t testing.TB, p *chain.Params, name string, opts ...nodeOpt) *tnode {
	t.Helper()
	bc, err := chain.New(chain.Config{Params: p, Store: chain.NewMemStore()})
	if err != nil {
		t.Fatalf("%s: chain: %v", name, err)
	}
	t.Cleanup(func() { bc.Close() })
	return newTNodeOn(t, bc, name, opts...)
}

// newTNodeBolt starts a node whose chain lives in a bbolt store at path
// (NoSync: these tests close cleanly); closing it is the caller's job
// (closeBolt), so that the store can be reopened and inspected.
func newTNodeBolt(t testing.TB, p *chain.Params, name, path string, opts ...nodeOpt) (*tnode, *store.Store) {
	t.Helper()
	st, err := store.Open(path, &store.Options{NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	bc, err := chain.New(chain.Config{Params: p, Store: st})
	if err != nil {
		t.Fatal(err)
	}
	return newTNodeOn(t, bc, name, opts...), st
}

func closeBolt(tn *tnode, st *store.Store) {
	tn.n.Close()
	tn.bc.Close()
	st.Close()
}

// newTNodeOn starts a node on an existing chain (several nodes may serve
// one chain: the BlockChain is safe for concurrent use).
func newTNodeOn(t testing.TB, bc *chain.BlockChain, name string, opts ...nodeOpt) *tnode {
	t.Helper()
	p := bc.Params()
	var err error
	tn := &tnode{
		name: name,
		bc:   bc,
		ad:   NewChainAdapter(bc),
		mp:   &testMempool{bc: bc, txs: map[chain.Hash]*chain.Tx{}},
		pool: &testPool{rules: p.Training, cs: map[chain.Hash][]byte{}},
	}
	cfg := TestConfig(p)
	cfg.Logger = testLogger(t, name)
	deps := Deps{Chain: tn.ad, Mempool: tn.mp, Contributions: tn.pool, SnapshotSource: tn.ad, SnapshotSink: tn.ad}
	for _, o := range opts {
		o(&cfg, &deps)
	}
	tn.n, err = New(cfg, deps)
	if err != nil {
		t.Fatalf("%s: node: %v", name, err)
	}
	t.Cleanup(func() { tn.n.Close() })
	return tn
}

func newTNodes(t testing.TB, p *chain.Params, n int, opts ...nodeOpt) []*tnode {
	nodes := make([]*tnode, n)
	for i := range nodes {
		nodes[i] = newTNode(t, p, fmt.Sprintf("n%d", i), opts...)
	}
	return nodes
}

func connect(t testing.TB, a, b *tnode) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := a.n.Connect(ctx, peer.AddrInfo{ID: b.n.ID(), Addrs: b.n.Host().Addrs()}); err != nil {
		t.Fatalf("connect %s -> %s: %v", a.name, b.name, err)
	}
}

// waitFor polls cond until it holds or d passes.
func waitFor(t testing.TB, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", d, what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// waitForOK polls cond until it holds or d passes and reports which.
func waitForOK(d time.Duration, cond func() bool) bool {
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(20 * time.Millisecond)
	}
	return true
}

// waitMesh waits until every node has each of its connected peers (up
// to gossipsub's D = 6) in its blocks-topic mesh: before that, a message
// published right after connecting can miss a peer.
func waitMesh(t testing.TB, nodes []*tnode) {
	t.Helper()
	waitFor(t, 10*time.Second, "gossip meshes", func() bool {
		for _, tn := range nodes {
			if tn.n.MeshPeers() < min(6, len(tn.n.Host().Network().Peers())) {
				return false
			}
		}
		return true
	})
}

// mine processes b on tn (as if tn had mined it) and announces it.
func (tn *tnode) mine(t testing.TB, b *chain.Block) {
	t.Helper()
	if err := tn.ad.ProcessBlock(b); err != nil {
		t.Fatalf("%s: own block %s: %v", tn.name, b.Hash(), err)
	}
	if err := tn.n.PublishBlock(context.Background(), b); err != nil {
		t.Fatalf("%s: publish: %v", tn.name, err)
	}
}

// chainOf returns a BlockChain holding blocks, built once per process
// and key (tests and benchmarks share the expensive ones).
func chainOf(t testing.TB, p *chain.Params, blocks []*chain.Block) *chain.BlockChain {
	t.Helper()
	bc, err := chain.New(chain.Config{Params: p, Store: chain.NewMemStore()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { bc.Close() })
	ad := NewChainAdapter(bc)
	for _, b := range blocks {
		if err := ad.ProcessBlock(b); err != nil {
			t.Fatalf("chain of %d blocks: %v", len(blocks), err)
		}
	}
	return bc
}

// feed processes blocks directly (no network).
func (tn *tnode) feed(t testing.TB, blocks ...*chain.Block) {
	t.Helper()
	for _, b := range blocks {
		if err := tn.ad.ProcessBlock(b); err != nil {
			t.Fatalf("%s: feed %s: %v", tn.name, b.Hash(), err)
		}
	}
}

func (tn *tnode) tip() chain.Hash { return tn.bc.Tip().Hash }

func (tn *tnode) utxoHash(t testing.TB) chain.Hash {
	t.Helper()
	h, _, err := chaintest.UtxoSetHash(tn.bc)
	if err != nil {
		t.Fatalf("%s: utxo hash: %v", tn.name, err)
	}
	return h
}

func allAt(nodes []*tnode, h chain.Hash) bool {
	for _, tn := range nodes {
		if tn.tip() != h {
			return false
		}
	}
	return true
}

func connected(a, b *tnode) bool {
	return a.n.Host().Network().Connectedness(b.n.ID()) == network.Connected
}

// chainBuilder wraps a chaintest.Generator with names and spendable
// coinbases.
type chainBuilder struct {
	g *chaintest.Generator
	n int
}

func newBuilder(t testing.TB, p *chain.Params) *chainBuilder {
	g, err := chaintest.NewGenerator(p)
	if err != nil {
		t.Fatal(err)
	}
	return &chainBuilder{g: g}
}

// next builds a block on the generator's tip, spending the coinbase of
// the block `spendBack` blocks below the new one when that is mature.
func (cb *chainBuilder) next(opts ...chaintest.Opt) *chain.Block {
	cb.n++
	name := fmt.Sprintf("b%d", cb.n)
	return cb.g.NextBlock(name, nil, opts...)
}

func (cb *chainBuilder) run(n int, opts ...chaintest.Opt) []*chain.Block {
	out := make([]*chain.Block, n)
	for i := range out {
		out[i] = cb.next(opts...)
	}
	return out
}

func honestAddr(tn *tnode) peer.AddrInfo {
	return peer.AddrInfo{ID: tn.n.ID(), Addrs: tn.n.Host().Addrs()}
}
