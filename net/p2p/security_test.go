package p2p

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math/big"
	"sync/atomic"
	"testing"
	"time"

	"github.com/klauspost/compress/zstd"
	pb "github.com/libp2p/go-libp2p-pubsub/pb"

	"github.com/gradientcoin/gradientcoin/chain"
	"github.com/gradientcoin/gradientcoin/chain/chaintest"
	"github.com/gradientcoin/gradientcoin/net/wire"
)

// countingSource counts the snapshot loads a node asks its source for.
type countingSource struct {
	SnapshotSource
	loads atomic.Int64
}

func (c *countingSource) SnapshotWeights(h chain.Hash) ([]byte, error) {
	c.loads.Add(1)
	return c.SnapshotSource.SnapshotWeights(h)
}

// TestSnapshotServingNoReplay: a peer can only get snapshots that are
// stored checkpoints: any other block is NotFound without a single model
// application (before, the handler replayed weights for any stored block
// on the peer's behalf), and a peer over its byte budget is told Busy
// before anything is loaded.
func TestSnapshotServingNoReplay(t *testing.T) {
	p := chain.DevnetParams()
	b := newBuilder(t, p)
	blocks := b.run(25, chaintest.Contributions(1))
	be := &countingBackend{}
	bc, err := chain.New(chain.Config{Params: p, Store: chain.NewMemStore(), Backend: be, CheckpointInterval: 10})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { bc.Close() })
	for _, blk := range blocks {
		if _, err := bc.ProcessBlock(blk, blk.Header.Timestamp); err != nil {
			t.Fatal(err)
		}
	}
	cases := []struct {
		name      string
		rate      float64      // server's ServeByteRate
		pre       *chain.Block // fetched (and served) first, if set
		block     *chain.Block
		want      error // nil: served
		wantLoads int64
	}{
		{"advertised snapshot (a checkpoint)", 64 << 20, nil, blocks[19], nil, 1},
		{"an older checkpoint", 64 << 20, blocks[19], blocks[9], nil, 2},
		{"stored block without a checkpoint", 64 << 20, nil, blocks[4], wire.ErrNotFound, 0},
		{"genesis (no checkpoint)", 64 << 20, nil, b.g.Block("genesis"), wire.ErrNotFound, 0},
		{"a second load over the peer's byte budget", 1000, blocks[19], blocks[9], wire.ErrBusy, 1},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			src := &countingSource{}
			server := newTNodeOn(t, bc, "server", func(cfg *Config, d *Deps) {
				d.SnapshotSource.(*ChainAdapter).SnapshotInterval = 10
				cfg.ServeByteRate = c.rate
				src.SnapshotSource = d.SnapshotSource
				d.SnapshotSource = src
			})
			client := newTNode(t, p, "client")
			connect(t, client, server)
			if h, height, ok := server.n.deps.SnapshotSource.LatestSnapshot(); !ok || height != 20 || h != blocks[19].Hash() {
				t.Fatalf("advertised snapshot at %d (%v), want block 20", height, ok)
			}
			applies := be.n.Load()
			if c.pre != nil {
				if _, err := client.n.fetchManifest(context.Background(), server.n.ID(), &c.pre.Header); err != nil {
					t.Fatalf("first manifest: %v", err)
				}
			}
			m, err := client.n.fetchManifest(context.Background(), server.n.ID(), &c.block.Header)
			switch {
			case c.want == nil && err != nil:
				t.Fatalf("manifest: %v", err)
			case c.want == nil:
				chunk, err := client.n.fetchChunk(context.Background(), server.n.ID(), m, 0)
				if err != nil || len(chunk) == 0 {
					t.Fatalf("chunk 0: %v", err)
				}
			case !errors.Is(err, c.want):
				t.Fatalf("manifest: %v, want %v", err, c.want)
			}
			if n := be.n.Load() - applies; n != 0 {
				t.Fatalf("serving cost %d model applications (a replay)", n)
			}
			if n := src.loads.Load(); n != c.wantLoads {
				t.Fatalf("%d snapshot loads, want %d", n, c.wantLoads)
			}
		})
	}
}

// stallChain is a peer's chain that claims far more work than it has and
// does not answer headers requests (until released).
type stallChain struct {
	*ChainAdapter
	release chan struct{}
	asked   atomic.Int64
}

func (s *stallChain) BestTip() Tip {
	t := s.ChainAdapter.BestTip()
	t.Work = new(big.Int).Lsh(big.NewInt(1), 200)
	t.Height += 1_000_000
	return t
}

func (s *stallChain) HeadersAfter(loc []chain.Hash, stop chain.Hash, max int) []chain.Header {
	s.asked.Add(1)
	select {
	case <-s.release:
	case <-time.After(time.Minute):
	}
	return nil
}

// TestStallingSyncPeer: a peer that claims the most work and never
// answers a headers request used to freeze its victim: always chosen as
// the sync peer, it kept the victim "syncing" (ignoring every gossip
// block and stopping its miner) on its word alone. Now the victim keeps
// following an honest peer's blocks by gossip while it waits, does not
// count as syncing, and charges the staller for every timeout, clears
// its status and moves on.
func TestStallingSyncPeer(t *testing.T) {
	p := chain.DevnetParams()
	b := newBuilder(t, p)
	prefix := b.run(3)
	victim := newTNode(t, p, "victim", func(c *Config, _ *Deps) { c.RequestTimeout = time.Second })
	honest := newTNode(t, p, "honest")
	sc := &stallChain{release: make(chan struct{})}
	staller := newTNode(t, p, "staller", func(_ *Config, d *Deps) {
		sc.ChainAdapter = d.Chain.(*ChainAdapter)
		d.Chain = sc
	})
	t.Cleanup(func() { close(sc.release) }) // runs before the nodes close
	for _, tn := range []*tnode{victim, honest, staller} {
		tn.feed(t, prefix...)
	}
	connect(t, victim, staller)
	waitFor(t, 5*time.Second, "the victim asks the staller for headers", func() bool { return sc.asked.Load() > 0 })
	connect(t, honest, victim)
	waitMesh(t, []*tnode{victim, honest})

	start := time.Now()
	syncing := false
	for _, name := range []string{"b4", "b5"} {
		blk := b.g.NextBlock(name, nil)
		honest.mine(t, blk)
		waitFor(t, 5*time.Second, "the victim follows the honest peer to "+name, func() bool {
			syncing = syncing || victim.n.Syncing()
			return victim.tip() == blk.Hash()
		})
	}
	t.Logf("victim at the honest tip after %v; the staller was asked %d times", time.Since(start), sc.asked.Load())
	if syncing {
		t.Fatal("the victim counted as syncing on the staller's word")
	}
	waitFor(t, 5*time.Second, "the staller charged", func() bool {
		return victim.n.Score(staller.n.ID()) >= PenaltySyncStall-0.5 || victim.n.IsBanned(staller.n.ID())
	})
}

// TestLowWorkChainNotDownloaded: a peer claims more work and serves the
// headers of a chain off genesis at the PoW limit that has less work than
// the victim's (harder) chain. The victim indexes the headers, sees they
// do not beat its tip, downloads no body, stores none of those blocks and
// charges the peer for the claim.
func TestLowWorkChainNotDownloaded(t *testing.T) {
	p := chaintest.Params() // 60 s spacing and half-life: the difficulty moves fast
	p.LowWorkMargin = 2
	g, err := chaintest.NewGenerator(p)
	if err != nil {
		t.Fatal(err)
	}
	var mainBlocks, fake []*chain.Block
	for i := range 10 { // ahead of schedule: ~75 limit blocks of work
		mainBlocks = append(mainBlocks, g.NextBlock(fmt.Sprintf("m%d", i+1), nil, chaintest.TimestampDelta(30)))
	}
	g.SetTip("genesis")
	for i := range 70 { // on schedule, at the limit: 70 limit blocks of work
		fake = append(fake, g.NextBlock(fmt.Sprintf("f%d", i+1), nil))
	}
	now := func() time.Time { return time.Unix(fake[len(fake)-1].Header.Timestamp, 0) }
	victim := newTNode(t, p, "victim", func(c *Config, d *Deps) { c.Now = now; d.Chain.(*ChainAdapter).Now = now })
	liar := newTNode(t, p, "liar", func(c *Config, d *Deps) {
		c.Now = now
		ad := d.Chain.(*ChainAdapter)
		ad.Now = now
		d.Chain = &claimChain{ChainAdapter: ad}
	})
	victim.feed(t, mainBlocks...)
	liar.feed(t, fake...)
	if victim.bc.Tip().Work.Cmp(liar.bc.Tip().Work) <= 0 {
		t.Fatal("setup: the fake chain has as much work as the victim's")
	}
	connect(t, victim, liar)
	waitFor(t, 10*time.Second, "the liar charged", func() bool {
		return victim.n.Score(liar.n.ID()) >= PenaltyLiedAboutWork-0.5 || victim.n.IsBanned(liar.n.ID())
	})
	if n := victim.n.Stats().BodyFetches; n != 0 {
		t.Fatalf("%d body requests for a chain with less work", n)
	}
	for i, blk := range fake {
		if victim.bc.HaveBlock(blk.Hash()) {
			t.Fatalf("fake block %d stored", i+1)
		}
	}
	if victim.tip() != mainBlocks[len(mainBlocks)-1].Hash() {
		t.Fatal("the victim's tip moved")
	}
}

// claimChain claims far more work than its chain has (and serves the
// chain it has).
type claimChain struct{ *ChainAdapter }

func (c *claimChain) BestTip() Tip {
	t := c.ChainAdapter.BestTip()
	t.Work = new(big.Int).Lsh(big.NewInt(1), 200)
	return t
}

// countingPool counts the contribution lookups its node serves.
type countingPool struct {
	*testPool
	lookups atomic.Int64
}

func (c *countingPool) Contribution(h chain.Hash) ([]byte, bool) {
	c.lookups.Add(1)
	return c.testPool.Contribution(h)
}

// TestJunkCompactBlock: a compact block (valid header on the victim's
// tip) whose contribution references cannot be the header's — too many,
// too large in all, or not hashing to its gradient root — is rejected and
// charged before a single contribution is fetched (before, 1024
// references of 1 MiB each meant ~1 GiB of downloads first).
func TestJunkCompactBlock(t *testing.T) {
	p := chain.DevnetParams()
	b := newBuilder(t, p)
	prefix := b.run(3)
	victim := newTNode(t, p, "victim", func(c *Config, _ *Deps) { c.BanThreshold = 1e9 })
	victim.feed(t, prefix...)
	tipName := b.g.Name(prefix[len(prefix)-1].Hash())
	withRefs := func(name string, refs []wire.ContributionRef) []byte {
		blk := b.g.NextBlock(name, nil)
		b.g.SetTip(tipName)
		cb := wire.NewCompactBlock(blk)
		cb.Contributions = refs
		return wire.DefaultCodec().Compress(nil, cb.Bytes())
	}
	junk := func(n int, size uint32) []wire.ContributionRef {
		refs := make([]wire.ContributionRef, n)
		for i := range refs {
			refs[i] = wire.ContributionRef{Hash: chain.TaggedHash("junk", []byte{byte(i), byte(i >> 8)}), Size: size}
		}
		return refs
	}
	csize := uint32(p.Training.MaxContributionBytes)
	cases := []struct {
		name string
		data []byte
	}{
		{"1024 references (the wire cap), network allows 16", withRefs("r1024", junk(chain.MaxBlockContributions, csize))},
		{"2 references whose hashes are not the header's gradient root", withRefs("rroot", junk(2, csize))},
		{"a reference larger than a contribution", withRefs("rbig", junk(1, csize+1))},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			cp := &countingPool{}
			attacker := newTNode(t, p, "attacker", func(_ *Config, d *Deps) {
				cp.testPool = d.Contributions.(*testPool)
				d.Contributions = cp
			})
			attacker.feed(t, prefix...)
			connect(t, attacker, victim)
			waitMesh(t, []*tnode{victim, attacker})
			before := victim.n.Stats()
			score := victim.n.Score(attacker.n.ID())
			if err := attacker.n.tBlocks.Publish(context.Background(), c.data); err != nil {
				t.Fatal(err)
			}
			waitFor(t, 5*time.Second, "the victim validates the message", func() bool {
				return victim.n.Stats().GossipRejected > before.GossipRejected
			})
			if got := victim.n.Score(attacker.n.ID()) - score; got < PenaltyMalformed-0.5 {
				t.Fatalf("attacker charged %.1f, want %v", got, PenaltyMalformed)
			}
			if n := cp.lookups.Load(); n != 0 {
				t.Fatalf("the victim asked the attacker for %d contributions", n)
			}
			attacker.n.Close()
		})
	}
}

// TestGossipIDOverContent: the gossip message id hashes the decompressed
// content, so the same transaction compressed two ways is one message:
// the victim validates it once, not once per encoding (before, each
// re-compression was a new message and a new round of checks).
func TestGossipIDOverContent(t *testing.T) {
	p := chain.DevnetParams()
	b := newBuilder(t, p)
	prefix := b.run(3)
	victim := newTNode(t, p, "victim")
	a1, a2 := newTNode(t, p, "a1"), newTNode(t, p, "a2")
	for _, tn := range []*tnode{victim, a1, a2} {
		tn.feed(t, prefix...)
	}
	tx := b.g.PayTx(b.g.CoinbaseOut("b1", 0), 10)
	plain := wire.DefaultCodec().Compress(nil, tx.Bytes())
	enc, err := zstd.NewWriter(nil, zstd.WithEncoderCRC(true), zstd.WithSingleSegment(true), zstd.WithEncoderLevel(zstd.SpeedBestCompression))
	if err != nil {
		t.Fatal(err)
	}
	other := enc.EncodeAll(tx.Bytes(), nil)
	enc.Close()
	if bytes.Equal(plain, other) {
		t.Fatal("setup: the two encodings are the same bytes")
	}
	topic := victim.n.cfg.topicName("txs")
	id := func(data []byte) string { return victim.n.msgID(&pb.Message{Topic: &topic, Data: data}) }
	if id(plain) != id(other) {
		t.Fatal("two encodings of one tx have different message ids")
	}
	if id(plain) == id(wire.DefaultCodec().Compress(nil, b.g.PayTx(b.g.CoinbaseOut("b2", 0), 10).Bytes())) {
		t.Fatal("two txs share a message id")
	}
	if id([]byte("junk 1")) == id([]byte("junk 2")) {
		t.Fatal("two undecodable messages share a message id")
	}

	connect(t, a1, victim)
	connect(t, a2, victim)
	waitMesh(t, []*tnode{victim, a1, a2})
	count := func() int64 {
		s := victim.n.Stats()
		return s.GossipAccepted + s.GossipIgnored + s.GossipRejected
	}
	before := count()
	if err := a1.n.tTxs.Publish(context.Background(), plain); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 5*time.Second, "the victim validates the tx", func() bool { return count() > before })
	if err := a2.n.tTxs.Publish(context.Background(), other); err != nil {
		t.Fatal(err)
	}
	time.Sleep(500 * time.Millisecond) // time for a second delivery to be validated, if it were
	if n := count() - before; n != 1 {
		t.Fatalf("the victim validated %d messages for one tx in two encodings", n)
	}
}

// rawCountingChain counts how a serving node reads blocks.
type rawCountingChain struct {
	*ChainAdapter
	decoded, raw atomic.Int64
}

func (c *rawCountingChain) BlockByHash(h chain.Hash) (*chain.Block, error) {
	c.decoded.Add(1)
	return c.ChainAdapter.BlockByHash(h)
}

func (c *rawCountingChain) BlockBytes(h chain.Hash) ([]byte, error) {
	c.raw.Add(1)
	return c.ChainAdapter.BlockBytes(h)
}

// TestServeBlocksRaw: bodies are served as stored — no decode, no
// re-encode — and the peer's byte budget is charged with the stored size
// before the block is read: a peer over its budget gets Busy and costs no
// read at all.
func TestServeBlocksRaw(t *testing.T) {
	p := chain.DevnetParams()
	b := newBuilder(t, p)
	blocks := b.run(4, chaintest.Contributions(1))
	cases := []struct {
		name     string
		rate     float64
		wantErr  error
		wantRead int64
	}{
		{"within the budget: raw bytes", 64 << 20, nil, 3},
		{"over the budget: Busy before any read", 100, wire.ErrBusy, 0},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			rc := &rawCountingChain{}
			server := newTNode(t, p, "server", func(cfg *Config, d *Deps) {
				cfg.ServeByteRate = c.rate
				rc.ChainAdapter = d.Chain.(*ChainAdapter)
				d.Chain = rc
			})
			server.feed(t, blocks...)
			// The client holds the chain already, so that no sync
			// reads bodies from the server behind the test's back.
			client := newTNode(t, p, "client")
			client.feed(t, blocks...)
			connect(t, client, server)
			hs := []chain.Hash{blocks[1].Hash(), blocks[2].Hash(), blocks[3].Hash()}
			got, _, err := client.n.fetchBlocks(context.Background(), server.n.ID(), hs, nil)
			if !errors.Is(err, c.wantErr) {
				t.Fatalf("fetch: %v, want %v", err, c.wantErr)
			}
			if c.wantErr == nil {
				for i, blk := range got {
					if blk == nil || blk.Hash() != hs[i] {
						t.Fatalf("block %d not served", i)
					}
				}
			}
			if n := rc.decoded.Load(); n != 0 {
				t.Fatalf("the server decoded %d blocks to serve them", n)
			}
			if n := rc.raw.Load(); n != c.wantRead {
				t.Fatalf("the server read %d blocks, want %d", n, c.wantRead)
			}
		})
	}
}

// TestSyncBytesBounded: a late node whose sync byte budget holds only a
// few blocks still syncs a chain of blocks carrying contributions, and
// never holds more body bytes than MaxSyncBytes plus the batch it is
// processing (before, BodyWindow × BodyBatch blocks could be in flight:
// about 5 GB at mainnet's MaxBlockSize).
func TestSyncBytesBounded(t *testing.T) {
	p := chain.DevnetParams()
	b := newBuilder(t, p)
	blocks := b.run(60, chaintest.Contributions(1))
	biggest := 0
	for _, blk := range blocks {
		biggest = max(biggest, blk.SerializeSize())
	}
	const batch = 4
	budget := int64(3 * biggest)
	src := newTNodeOn(t, chainOf(t, p, blocks), "source")
	late := newTNode(t, p, "late", func(c *Config, _ *Deps) {
		c.MaxSyncBytes = budget
		c.BodyBatch = batch
		c.BodyWindow = 8
	})
	connect(t, late, src)
	want := blocks[len(blocks)-1].Hash()
	waitFor(t, 30*time.Second, "the late node at the tip", func() bool { return late.tip() == want })
	peak := late.n.sync.peakBytes.Load()
	t.Logf("peak body bytes held: %d (budget %d, batch at most %d)", peak, budget, batch*biggest)
	if peak == 0 || peak > budget+int64(batch*biggest) {
		t.Fatalf("peak %d bytes held, want within %d + %d", peak, budget, batch*biggest)
	}
}

// TestServeBlockTxs: the transactions of a compact block that the mempool
// lacks are served by position and checked against the compact block's
// txids; an unknown block or an index beyond its transactions is
// NotFound, and a transaction that is not the one listed is the peer's
// fault.
func TestServeBlockTxs(t *testing.T) {
	p := chain.DevnetParams()
	b := newBuilder(t, p)
	prefix := b.run(int(p.CoinbaseMaturity) + 3)
	tx1 := b.g.PayTx(b.g.CoinbaseOut("b1", 0), 1000)
	tx2 := b.g.PayTx(b.g.CoinbaseOut("b2", 0), 1000)
	blk := b.next(chaintest.Txs(tx1, tx2))
	server := newTNode(t, p, "server")
	server.feed(t, append(prefix, blk)...)
	client := newTNode(t, p, "client")
	client.feed(t, append(prefix, blk)...) // no sync behind the test's back
	connect(t, client, server)
	cb := wire.NewCompactBlock(blk)
	lying := *cb
	lying.TxIDs = []chain.Hash{tx2.TxID(), tx1.TxID()}
	for _, c := range []struct {
		name    string
		block   chain.Hash
		cb      *wire.CompactBlock
		idx     []uint32
		want    []*chain.Tx
		wantErr error
	}{
		{"both", blk.Hash(), cb, []uint32{0, 1}, []*chain.Tx{tx1, tx2}, nil},
		{"the second", blk.Hash(), cb, []uint32{1}, []*chain.Tx{tx2}, nil},
		{"beyond the block", blk.Hash(), cb, []uint32{1, 2}, nil, ErrNotFound},
		{"unknown block", chain.Hash{1}, cb, []uint32{0}, nil, ErrNotFound},
		{"not the listed txid", blk.Hash(), &lying, []uint32{0}, nil, ErrBadPeerData},
	} {
		got, err := client.n.fetchBlockTxs(context.Background(), server.n.ID(), c.block, c.cb, c.idx)
		if c.wantErr != nil {
			if !errors.Is(err, c.wantErr) {
				t.Errorf("%s: %v, want %v", c.name, err, c.wantErr)
			}
			continue
		}
		if err != nil || len(got) != len(c.want) {
			t.Fatalf("%s: %d txs, %v", c.name, len(got), err)
		}
		for i := range got {
			if got[i].TxID() != c.want[i].TxID() {
				t.Errorf("%s: tx %d is %s, want %s", c.name, i, got[i].TxID(), c.want[i].TxID())
			}
		}
	}
}
