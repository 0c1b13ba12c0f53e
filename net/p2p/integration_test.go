package p2p

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/gradientcoin/gradientcoin/chain"
	"github.com/gradientcoin/gradientcoin/chain/chaintest"
)

// TestPropagation: five nodes in a line (n0-n1-n2-n3-n4, so blocks must
// be relayed); each node in turn mines a block, and every block reaches
// every node. The blocks exercise every way a compact block is rebuilt:
// coinbase only; transactions the receivers' mempools hold (gossiped
// first); transactions they lack (whole-body fetch); contributions they
// lack (fetched by hash from the relaying peer).
func TestPropagation(t *testing.T) {
	p := chain.DevnetParams()
	nodes := newTNodes(t, p, 5)
	b := newBuilder(t, p)
	prefix := b.run(int(p.CoinbaseMaturity) + 3)
	for _, tn := range nodes {
		tn.feed(t, prefix...)
	}
	for i := 0; i+1 < len(nodes); i++ {
		connect(t, nodes[i], nodes[i+1])
	}
	waitMesh(t, nodes)

	// Transactions: one gossiped ahead (mempool path), one not (fetch path).
	txKnown := b.g.PayTx(b.g.CoinbaseOut("b1", 0), 1000)
	txUnknown := b.g.PayTx(b.g.CoinbaseOut("b2", 0), 1000)
	if err := nodes[0].mp.ProcessTx(txKnown); err != nil {
		t.Fatal(err)
	}
	if err := nodes[0].n.PublishTx(context.Background(), txKnown); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 10*time.Second, "tx in every mempool", func() bool {
		for _, tn := range nodes {
			if !tn.mp.HaveTx(txKnown.TxID()) {
				return false
			}
		}
		return true
	})

	cases := []struct {
		name  string
		miner int
		build func() *chain.Block
	}{
		{"coinbase only", 0, func() *chain.Block { return b.next() }},
		{"mempool tx", 4, func() *chain.Block { return b.next(chaintest.Txs(txKnown)) }},
		{"unknown tx", 2, func() *chain.Block { return b.next(chaintest.Txs(txUnknown)) }},
		{"contributions", 1, func() *chain.Block {
			blk := b.next(chaintest.Contributions(2))
			for _, c := range blk.Contributions {
				nodes[1].pool.put(c)
			}
			return blk
		}},
		{"after contributions", 3, func() *chain.Block { return b.next() }},
	}
	fetches := func() (body, txs int64) {
		for _, tn := range nodes {
			s := tn.n.Stats()
			body, txs = body+s.BodyFetches, txs+s.TxFetches
		}
		return
	}
	for _, tc := range cases {
		blk := tc.build()
		start := time.Now()
		body0, txs0 := fetches()
		nodes[tc.miner].mine(t, blk)
		waitFor(t, 15*time.Second, fmt.Sprintf("%s: block from n%d on every node", tc.name, tc.miner), func() bool {
			return allAt(nodes, blk.Hash())
		})
		t.Logf("%s: block %d reached all 5 nodes in %v", tc.name, blk.Header.Height, time.Since(start))
		// A transaction missing from the mempools is fetched alone by
		// each of the four other nodes, not with the whole body.
		if body, txs := fetches(); tc.name == "unknown tx" && (body != body0 || txs-txs0 != 4) {
			t.Errorf("%s: %d body and %d transaction fetches, want 0 and 4", tc.name, body-body0, txs-txs0)
		}
	}
	for _, tn := range nodes {
		if s := tn.n.Stats(); s.GossipRejected != 0 || s.Bans != 0 {
			t.Fatalf("%s: %d rejected messages, %d bans among honest nodes", tn.name, s.GossipRejected, s.Bans)
		}
	}
}

// buildChain returns n blocks on top of the generator's tip: every 25th
// block carries two contributions, and from maturity on every third block
// spends an older coinbase, so the UTXO set and the weights both change.
func buildChain(b *chainBuilder, p *chain.Params, n int) []*chain.Block {
	out := make([]*chain.Block, 0, n)
	for range n {
		var opts []chaintest.Opt
		h := b.n + 1
		if h%25 == 0 {
			opts = append(opts, chaintest.Contributions(2))
		}
		if back := h - int(p.CoinbaseMaturity) - 1; back >= 1 && h%3 == 0 {
			opts = append(opts, chaintest.Txs(b.g.PayTx(b.g.CoinbaseOut(fmt.Sprintf("b%d", back), 0), 500)))
		}
		out = append(out, b.next(opts...))
	}
	return out
}

// TestLateNodeSync: four nodes hold a 530-block chain (with transactions
// and contributions; to save test time they serve one BlockChain
// instance); a fifth node, with snap sync on and a real BlockChain behind
// the sink, starts afterwards, connects to all four, indexes the headers,
// imports the weights snapshot at height 500 (checked against the state
// root), downloads the bodies from all of them, connects blocks 1..500
// without applying a contribution and replays 501..530, ending on the same
// tip, UTXO set and weights.
func TestLateNodeSync(t *testing.T) {
	const n, snapAt = 530, 500
	p := chain.DevnetParams()
	b := newBuilder(t, p)
	t0 := time.Now()
	blocks := buildChain(b, p, n)
	t.Logf("built %d blocks in %v", n, time.Since(t0))
	t0 = time.Now()
	bc := chainOf(t, p, blocks)
	var nodes []*tnode
	for i := range 4 {
		nodes = append(nodes, newTNodeOn(t, bc, fmt.Sprintf("n%d", i)))
	}
	t.Logf("chain processed in %v", time.Since(t0))
	for i := 1; i < len(nodes); i++ {
		connect(t, nodes[0], nodes[i])
	}
	be := &countingBackend{}
	lateBC, err := chain.New(chain.Config{Params: p, Store: chain.NewMemStore(), Backend: be})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { lateBC.Close() })
	late := newTNodeOn(t, lateBC, "late", func(c *Config, _ *Deps) { c.SnapSync = true })
	start := time.Now()
	for _, tn := range nodes {
		connect(t, late, tn)
	}
	want := blocks[n-1].Hash()
	waitFor(t, 60*time.Second, "late node at the tip", func() bool { return late.tip() == want })
	t.Logf("synced %d blocks in %v (%d body requests)", n, time.Since(start), late.n.Stats().BodyFetches)
	if got := late.n.Stats().SnapshotImports; got != 1 {
		t.Fatalf("%d snapshots imported, want 1", got)
	}
	if _, _, pending := lateBC.PendingSnapshot(); pending {
		t.Fatal("snapshot still pending at the tip")
	}
	replayed, wantReplayed := be.n.Load(), int64(0)
	for _, blk := range blocks[snapAt:] {
		if len(blk.Contributions) > 0 {
			wantReplayed++
		}
	}
	if replayed != wantReplayed {
		t.Fatalf("the late node applied the contributions of %d blocks, want %d (those after the snapshot only)", replayed, wantReplayed)
	}
	if got, want := late.utxoHash(t), nodes[0].utxoHash(t); got != want {
		t.Fatalf("UTXO set hash %s, want %s", got, want)
	}
	if got, want := lateBC.Tip().Supply, bc.Tip().Supply; got != want {
		t.Fatalf("supply %d, want %d", got, want)
	}
	if !bytesEqual(WeightsBytes(lateBC.Weights()), WeightsBytes(bc.Weights())) {
		t.Fatal("tip weights differ from the full replay's")
	}
	if late.n.Syncing() {
		t.Fatal("still syncing at the tip")
	}
}

func bytesEqual(a, b []byte) bool { return string(a) == string(b) }

// TestPartitionHeal: two partitions ({n0, n1} and {n2, n3, n4}) mine
// separate branches on a common prefix — spending the same coinbase in
// different transactions — then the partitions are joined; every node
// ends on the branch with the most work and the same UTXO set.
func TestPartitionHeal(t *testing.T) {
	p := chain.DevnetParams()
	b := newBuilder(t, p)
	prefix := b.run(int(p.CoinbaseMaturity) + 2)
	nodes := newTNodes(t, p, 5)
	for _, tn := range nodes {
		tn.feed(t, prefix...)
	}
	a, bb := nodes[:2], nodes[2:]
	connect(t, a[0], a[1])
	connect(t, bb[0], bb[1])
	connect(t, bb[1], bb[2])
	waitMesh(t, nodes)

	fork := b.g.Tip()
	coin := b.g.CoinbaseOut("b1", 0)
	// Partition A: 3 blocks; its first spends the coinbase of b1 with fee 100.
	for i := range 3 {
		var opts []chaintest.Opt
		if i == 0 {
			opts = append(opts, chaintest.Txs(b.g.PayTx(coin, 100)))
		}
		blk := b.g.NextBlock(fmt.Sprintf("a%d", i), nil, opts...)
		a[i%2].mine(t, blk)
		waitFor(t, 10*time.Second, "partition A converges", func() bool { return allAt(a, blk.Hash()) })
	}
	// Partition B: 5 blocks from the same fork point; spends the same coin with fee 200.
	b.g.SetTip(fork)
	var bBlocks []*chain.Block
	for i := range 5 {
		var opts []chaintest.Opt
		if i == 1 {
			opts = append(opts, chaintest.Txs(b.g.PayTx(coin, 200)))
		}
		blk := b.g.NextBlock(fmt.Sprintf("b-%d", i), nil, opts...)
		bBlocks = append(bBlocks, blk)
		bb[i%3].mine(t, blk)
		waitFor(t, 10*time.Second, "partition B converges", func() bool { return allAt(bb, blk.Hash()) })
	}
	if allAt(a, bBlocks[4].Hash()) {
		t.Fatal("partition A saw partition B's blocks before healing")
	}
	aTip, bTip := a[0].bc.Tip(), bb[0].bc.Tip()
	if bTip.Work.Cmp(aTip.Work) <= 0 {
		t.Fatalf("branch B (work %v) does not have more work than A (%v)", bTip.Work, aTip.Work)
	}
	// Heal.
	connect(t, a[1], bb[0])
	connect(t, a[0], bb[2])
	want := bBlocks[4].Hash()
	waitFor(t, 30*time.Second, "every node on the most-work tip", func() bool { return allAt(nodes, want) })
	ref := nodes[0].utxoHash(t)
	for _, tn := range nodes[1:] {
		if got := tn.utxoHash(t); got != ref {
			t.Fatalf("%s: UTXO set hash %s, n0 has %s", tn.name, got, ref)
		}
	}
	// And the healed network keeps working: a block mined on A's side reaches B's.
	b.g.SetTip(b.g.Name(want))
	blk := b.g.NextBlock("after", nil)
	a[0].mine(t, blk)
	waitFor(t, 15*time.Second, "block after healing on every node", func() bool { return allAt(nodes, blk.Hash()) })
}

// TestInvalidBlockSenderBanned: a node that announces blocks with valid
// proof of work but invalid contents (a coinbase paying one atom too much)
// has its messages rejected, is penalised (PenaltyInvalidBlock each), and
// is banned and disconnected at the threshold; honest nodes keep their
// tip and keep relaying valid blocks.
func TestInvalidBlockSenderBanned(t *testing.T) {
	p := chain.DevnetParams()
	b := newBuilder(t, p)
	prefix := b.run(3)
	honest := newTNodes(t, p, 3)
	evil := newTNode(t, p, "evil")
	for _, tn := range append(honest, evil) {
		tn.feed(t, prefix...)
	}
	connect(t, honest[0], honest[1])
	connect(t, honest[1], honest[2])
	connect(t, evil, honest[0])
	connect(t, evil, honest[2])
	waitMesh(t, append(honest, evil))
	tip := b.g.Tip()
	// Publish invalid blocks until n0 and n2 have each rejected two
	// (gossip delivery is best effort, so allow a few extra).
	sent := 0
	deadline := time.Now().Add(20 * time.Second)
	for honest[0].n.Stats().GossipRejected < 2 || honest[2].n.Stats().GossipRejected < 2 {
		if time.Now().After(deadline) || sent == 8 {
			t.Fatalf("after %d invalid blocks: n0 rejected %d, n2 rejected %d; evil's topic peers %v",
				sent, honest[0].n.Stats().GossipRejected, honest[2].n.Stats().GossipRejected, evil.n.tBlocks.ListPeers())
		}
		bad := b.g.NextBlock(fmt.Sprintf("bad%d", sent), nil, chaintest.CoinbaseExtra(int64(1+sent)))
		b.g.SetTip(tip)
		// Publish without processing: the evil node's own validator
		// accepts local messages.
		if err := evil.n.PublishBlock(context.Background(), bad); err != nil {
			t.Fatal(err)
		}
		sent++
		r0, r2 := honest[0].n.Stats().GossipRejected, honest[2].n.Stats().GossipRejected
		waitForOK(2*time.Second, func() bool {
			return honest[0].n.Stats().GossipRejected > r0 && honest[2].n.Stats().GossipRejected > r2
		})
	}
	t.Logf("evil node sent %d invalid blocks", sent)
	for _, i := range []int{0, 2} {
		h := honest[i]
		waitFor(t, 5*time.Second, h.name+" bans the evil node", func() bool { return h.n.IsBanned(evil.n.ID()) })
		waitFor(t, 5*time.Second, h.name+" disconnects the evil node", func() bool { return !connected(h, evil) })
		if h.n.Score(evil.n.ID()) < h.n.cfg.BanThreshold {
			t.Fatalf("%s: evil score %v below the ban threshold", h.name, h.n.Score(evil.n.ID()))
		}
	}
	if s := honest[1].n.Stats(); s.GossipAccepted+s.GossipRejected != 0 {
		t.Fatalf("n1 saw the bad blocks (relayed by an honest node): %+v", s)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	if err := evil.n.Connect(ctx, honestAddr(honest[0])); err == nil && connected(evil, honest[0]) {
		// The gater refuses the secured connection; give it a moment to close.
		waitFor(t, 3*time.Second, "reconnection refused", func() bool { return !connected(evil, honest[0]) })
	}
	for _, h := range honest {
		if h.tip() != prefix[len(prefix)-1].Hash() {
			t.Fatalf("%s: tip moved to %s", h.name, h.tip())
		}
	}
	good := b.next()
	honest[2].mine(t, good)
	waitFor(t, 10*time.Second, "a valid block still propagates", func() bool { return allAt(honest, good.Hash()) })
}
