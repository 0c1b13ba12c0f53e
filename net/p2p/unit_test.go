package p2p

import (
	"context"
	"errors"
	"fmt"
	"math"
	"math/big"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	pubsub "github.com/libp2p/go-libp2p-pubsub"
	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/peer"
	ma "github.com/multiformats/go-multiaddr"

	"github.com/gradientcoin/gradientcoin/chain"
	"github.com/gradientcoin/gradientcoin/chain/chaintest"
	"github.com/gradientcoin/gradientcoin/chain/state"
	"github.com/gradientcoin/gradientcoin/net/wire"
)

func TestIdentity(t *testing.T) {
	dir := t.TempDir()
	k1, err := LoadOrCreateIdentity(dir)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, IdentityFile)
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Fatalf("key file mode %v, want 0600", fi.Mode().Perm())
	}
	k2, err := LoadOrCreateIdentity(dir)
	if err != nil {
		t.Fatal(err)
	}
	if !k1.Equals(k2) {
		t.Fatal("reloaded key differs")
	}
	if m, _ := filepath.Glob(filepath.Join(dir, ".*tmp*")); len(m) != 0 {
		t.Fatalf("temporary files left: %v", m)
	}
	for _, tc := range []struct {
		name  string
		setup func(dir string)
	}{
		{"world readable", func(d string) {
			raw, _ := crypto.MarshalPrivateKey(k1)
			os.WriteFile(filepath.Join(d, IdentityFile), raw, 0o644)
			os.Chmod(filepath.Join(d, IdentityFile), 0o644)
		}},
		{"garbage", func(d string) { os.WriteFile(filepath.Join(d, IdentityFile), []byte("junk"), 0o600) }},
		{"truncated", func(d string) {
			raw, _ := crypto.MarshalPrivateKey(k1)
			os.WriteFile(filepath.Join(d, IdentityFile), raw[:len(raw)/2], 0o600)
		}},
	} {
		d := t.TempDir()
		tc.setup(d)
		if _, err := LoadOrCreateIdentity(d); !errors.Is(err, ErrIdentity) {
			t.Fatalf("%s: got %v, want ErrIdentity", tc.name, err)
		}
	}
}

func TestNodeIdentityPersists(t *testing.T) {
	p := chain.DevnetParams()
	dir := t.TempDir()
	var ids []peer.ID
	for range 2 {
		tn := newTNode(t, p, "n", func(c *Config, _ *Deps) { c.DataDir = dir })
		ids = append(ids, tn.n.ID())
		tn.n.Close()
	}
	if ids[0] != ids[1] {
		t.Fatalf("peer id changed across restarts: %s, %s", ids[0], ids[1])
	}
}

func TestPeerSetScoring(t *testing.T) {
	now := time.Unix(1_000_000, 0)
	cfg := DefaultConfig()
	cfg.Now = func() time.Time { return now }
	cfg.ScoreHalfLife = time.Minute
	cfg.BanDuration = time.Hour
	cfg.RequestRate, cfg.GossipRate, cfg.ServeByteRate, cfg.MaxInboundReqs = 2, 3, 100, 2
	var banned []peer.ID
	s := newPeerSet(&cfg, func(p peer.ID, _ string) { banned = append(banned, p) })
	a, b := peer.ID("a"), peer.ID("b")
	for _, tc := range []struct {
		name       string
		advance    time.Duration
		peer       peer.ID
		points     float64
		wantScore  float64
		wantBanned bool
	}{
		{"first offence", 0, a, 60, 60, false},
		{"half-life", time.Minute, a, 0, 30, false},
		{"second offence", 0, a, 60, 90, false},
		{"third offence bans", 0, a, 21, 111, true},
		{"other peer unaffected", 0, b, 10, 10, false},
	} {
		now = now.Add(tc.advance)
		got := s.misbehave(tc.peer, tc.points, tc.name)
		if got != tc.wantBanned || s.isBanned(tc.peer) != tc.wantBanned {
			t.Fatalf("%s: banned %v, want %v", tc.name, got, tc.wantBanned)
		}
		if sc := s.score(tc.peer); math.Abs(sc-tc.wantScore) > 0.01 {
			t.Fatalf("%s: score %v, want %v", tc.name, sc, tc.wantScore)
		}
	}
	if len(banned) != 1 || banned[0] != a || s.bansTotal() != 1 {
		t.Fatalf("onBan calls %v", banned)
	}
	now = now.Add(time.Hour + time.Second)
	if s.isBanned(a) {
		t.Fatal("ban did not expire")
	}
	// Rate limits: burst = 2 s worth.
	for i := range 6 {
		if ok := s.allowGossip(b); ok != (i < 6) {
			t.Fatalf("gossip %d: allowed %v", i, ok)
		}
	}
	if s.allowGossip(b) {
		t.Fatal("gossip above the burst allowed")
	}
	now = now.Add(time.Second)
	if !s.allowGossip(b) {
		t.Fatal("gossip not refilled after a second")
	}
	first, second := s.acquireRequest(b), s.acquireRequest(b)
	if !first || !second {
		t.Fatalf("first requests refused (%v, %v)", first, second)
	}
	if s.acquireRequest(b) {
		t.Fatal("third concurrent request admitted (MaxInboundReqs 2)")
	}
	s.releaseRequest(b)
	s.releaseRequest(b)
	if !s.allowBytes(b, 200) || s.allowBytes(b, 1) {
		t.Fatal("byte budget: burst 200 then nothing")
	}
}

// TestSnapshotRootMatchesState pins the snapshot commitment to
// chain/state.Root (the header's state root).
func TestSnapshotRootMatchesState(t *testing.T) {
	r := chain.DevnetParams().Training
	w, err := state.Genesis(r)
	if err != nil {
		t.Fatal(err)
	}
	for _, chunk := range []int{1, 7, 1000, r.ChunkSize, len(w), len(w) + 5} {
		m := buildManifest(chain.Hash{}, WeightsBytes(w), chunk)
		got := snapRoot(m.TotalSize/4, uint32(chunk), m.Leaves)
		if want := state.Root(w, chunk); [32]byte(got) != want {
			t.Fatalf("chunk %d: root %x, state.Root %x", chunk, got, want)
		}
	}
	if got := WeightsFromBytes(WeightsBytes(w)); len(got) != len(w) || got[3] != w[3] {
		t.Fatal("weights bytes round trip")
	}
}

func TestVerdicts(t *testing.T) {
	re := func(k chain.ErrorKind) error { return chain.RuleError{Err: k, Description: string(k)} }
	for _, tc := range []struct {
		name string
		f    func(error) pubsub.ValidationResult
		err  error
		want pubsub.ValidationResult
	}{
		{"block ok", BlockVerdict, nil, pubsub.ValidationAccept},
		{"block orphan", BlockVerdict, re(chain.ErrMissingParent), pubsub.ValidationIgnore},
		{"block dup", BlockVerdict, re(chain.ErrDuplicateBlock), pubsub.ValidationIgnore},
		{"block future", BlockVerdict, re(chain.ErrTimeTooNew), pubsub.ValidationIgnore},
		{"block store", BlockVerdict, fmt.Errorf("x: %w", re(chain.ErrStore)), pubsub.ValidationIgnore},
		{"block unknown error", BlockVerdict, errors.New("boom"), pubsub.ValidationIgnore},
		{"block high hash", BlockVerdict, re(chain.ErrHighHash), pubsub.ValidationReject},
		{"block known invalid", BlockVerdict, re(chain.ErrKnownInvalid), pubsub.ValidationReject},
		{"block bad state root", BlockVerdict, fmt.Errorf("wrapped: %w", re(chain.ErrBadStateRoot)), pubsub.ValidationReject},
		{"snapshot bad", BlockVerdict, fmt.Errorf("import: %w", re(chain.ErrBadSnapshot)), pubsub.ValidationReject},
		{"snapshot unusable", BlockVerdict, re(chain.ErrSnapshotUnusable), pubsub.ValidationIgnore},
		{"headers index full", BlockVerdict, re(chain.ErrIndexFull), pubsub.ValidationIgnore},
		{"block far below the tip", BlockVerdict, re(chain.ErrLowWork), pubsub.ValidationIgnore},
		{"tx recently rejected", TxVerdict, re(chain.ErrRecentlyRejected), pubsub.ValidationIgnore},
		{"tx ok", TxVerdict, nil, pubsub.ValidationAccept},
		{"tx missing input", TxVerdict, re(chain.ErrMissingTxOut), pubsub.ValidationIgnore},
		{"tx double spend", TxVerdict, re(chain.ErrDoubleSpend), pubsub.ValidationIgnore},
		{"tx low fee", TxVerdict, re(chain.ErrInsufficientFee), pubsub.ValidationIgnore},
		{"tx bad signature", TxVerdict, re(chain.ErrBadSignature), pubsub.ValidationReject},
		{"tx overspend", TxVerdict, re(chain.ErrSpendTooHigh), pubsub.ValidationReject},
		{"contribution ok", ContributionVerdict, nil, pubsub.ValidationAccept},
		{"contribution stale", ContributionVerdict, fmt.Errorf("stale: %w", ErrIgnore), pubsub.ValidationIgnore},
		{"contribution bad", ContributionVerdict, state.ErrBadSignature, pubsub.ValidationReject},
	} {
		if got := tc.f(tc.err); got != tc.want {
			t.Fatalf("%s: verdict %v, want %v", tc.name, got, tc.want)
		}
	}
	// Our block verdicts agree with the chain's own classifier.
	for _, k := range []chain.ErrorKind{chain.ErrMissingParent, chain.ErrHighHash, chain.ErrStore, chain.ErrBadMerkleRoot, chain.ErrTimeTooNew, chain.ErrClosed} {
		ours := BlockVerdict(re(k))
		theirs := chain.ClassifyBlock(chain.ProcessResult{}, re(k))
		if (ours == pubsub.ValidationReject) != (theirs == chain.VerdictReject) {
			t.Fatalf("%s: BlockVerdict %v, chain.ClassifyBlock %v", k, ours, theirs)
		}
	}
}

func TestConfigValidate(t *testing.T) {
	p := chain.DevnetParams()
	for _, tc := range []struct {
		name   string
		mutate func(*Config)
	}{
		{"no network", func(c *Config) { c.Network = "" }},
		{"zero genesis", func(c *Config) { c.Genesis = chain.Hash{} }},
		{"no listen", func(c *Config) { c.ListenAddrs = nil }},
		{"watermarks", func(c *Config) { c.LowPeers, c.HighPeers = 10, 5 }},
		{"block size", func(c *Config) { c.MaxBlockSize = 10 }},
		{"contribution size", func(c *Config) { c.MaxContributionSize = 0 }},
		{"contribution count above the wire cap", func(c *Config) { c.MaxContributions = chain.MaxBlockContributions + 1 }},
		{"gradient size above the block size", func(c *Config) { c.MaxGradientSize = c.MaxBlockSize + 1 }},
		{"chunk", func(c *Config) { c.StateChunk = 0 }},
		{"ban threshold", func(c *Config) { c.BanThreshold = 0 }},
		{"rates", func(c *Config) { c.GossipRate = 0 }},
		{"timeouts", func(c *Config) { c.RequestTimeout = 0 }},
		{"batch", func(c *Config) { c.BodyBatch = wire.MaxBlocksPerRequest + 1 }},
		{"bad bootstrap", func(c *Config) { c.Bootstrap = []string{"/ip4/1.2.3.4/tcp/1"} }},
	} {
		c := TestConfig(p)
		tc.mutate(&c)
		bc, _ := chain.New(chain.Config{Params: p, Store: chain.NewMemStore()})
		n, err := New(c, Deps{Chain: NewChainAdapter(bc)})
		if err == nil {
			n.Close()
			t.Fatalf("%s: accepted", tc.name)
		}
		if !errors.Is(err, ErrConfig) {
			t.Fatalf("%s: %v is not ErrConfig", tc.name, err)
		}
	}
	other := chain.TestnetParams()
	bc, _ := chain.New(chain.Config{Params: other, Store: chain.NewMemStore()})
	if _, err := New(TestConfig(p), Deps{Chain: NewChainAdapter(bc)}); !errors.Is(err, ErrConfig) {
		t.Fatalf("chain of another network: %v", err)
	}
}

// TestQUIC: two nodes that listen on QUIC only connect over quic-v1 and
// exchange a block.
func TestQUIC(t *testing.T) {
	p := chain.DevnetParams()
	quicOnly := func(c *Config, _ *Deps) { c.ListenAddrs = []string{"/ip4/127.0.0.1/udp/0/quic-v1"} }
	a := newTNode(t, p, "a", quicOnly)
	b := newTNode(t, p, "b", quicOnly)
	connect(t, a, b)
	conns := a.n.Host().Network().ConnsToPeer(b.n.ID())
	if len(conns) == 0 {
		t.Fatal("no connection after Connect")
	}
	for _, c := range conns {
		if tr := c.ConnState().Transport; tr != "quic-v1" {
			t.Fatalf("transport %q, want quic-v1", tr)
		}
	}
	waitMesh(t, []*tnode{a, b})
	blk := newBuilder(t, p).next()
	a.mine(t, blk)
	waitFor(t, 10*time.Second, "block over QUIC", func() bool { return b.tip() == blk.Hash() })
}

// TestWrongNetworkPeer: nodes of different networks share no protocol
// and do not exchange status.
func TestWrongNetworkPeer(t *testing.T) {
	a := newTNode(t, chain.DevnetParams(), "devnet")
	b := newTNode(t, chain.TestnetParams(), "testnet")
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	err := a.n.Connect(ctx, peer.AddrInfo{ID: b.n.ID(), Addrs: b.n.Host().Addrs()})
	if err == nil {
		t.Fatal("status exchange with another network succeeded")
	}
	if st := a.n.peers.status(b.n.ID()); st != nil {
		t.Fatalf("recorded a status from another network: %+v", st)
	}
}

// lyingSnapshots serves weights that do not match the state root.
type lyingSnapshots struct{ *ChainAdapter }

func (l lyingSnapshots) SnapshotWeights(h chain.Hash) ([]byte, error) {
	w, err := l.ChainAdapter.SnapshotWeights(h)
	if err == nil && len(w) > 0 {
		w[len(w)/2] ^= 0x40
	}
	return w, err
}

// staticChain is a peer's chain that serves a fixed list of blocks
// (genesis first) as its best chain and a weights snapshot at its last
// block, whatever they hold: a peer whose chain is invalid.
type staticChain struct {
	p      *chain.Params
	blocks []*chain.Block // by height
	byHash map[chain.Hash]int
	snap   []byte // weights offered for the last block
}

func newStaticChain(p *chain.Params, blocks []*chain.Block, snap []byte) *staticChain {
	s := &staticChain{p: p, blocks: append([]*chain.Block{p.GenesisBlock}, blocks...), byHash: map[chain.Hash]int{}, snap: snap}
	for i, b := range s.blocks {
		s.byHash[b.Hash()] = i
	}
	return s
}

func (s *staticChain) last() *chain.Block      { return s.blocks[len(s.blocks)-1] }
func (s *staticChain) GenesisHash() chain.Hash { return s.p.GenesisHash }
func (s *staticChain) BestTip() Tip {
	w := new(big.Int)
	for _, b := range s.blocks {
		w.Add(w, chain.CalcWork(b.Header.Bits))
	}
	return Tip{Hash: s.last().Hash(), Height: s.last().Header.Height, Work: w}
}
func (s *staticChain) HaveBlock(h chain.Hash) bool { _, ok := s.byHash[h]; return ok }
func (s *staticChain) BlockByHash(h chain.Hash) (*chain.Block, error) {
	if i, ok := s.byHash[h]; ok {
		return s.blocks[i], nil
	}
	return nil, chain.RuleError{Err: chain.ErrNotFound, Description: "no block " + h.String()}
}
func (s *staticChain) BlockSize(h chain.Hash) (int, error) {
	b, err := s.BlockByHash(h)
	if err != nil {
		return 0, err
	}
	return b.SerializeSize(), nil
}
func (s *staticChain) BlockBytes(h chain.Hash) ([]byte, error) {
	b, err := s.BlockByHash(h)
	if err != nil {
		return nil, err
	}
	return b.Bytes(), nil
}
func (s *staticChain) Locator() []chain.Hash { return []chain.Hash{s.last().Hash(), s.p.GenesisHash} }
func (s *staticChain) HeadersAfter(loc []chain.Hash, stop chain.Hash, max int) []chain.Header {
	start := 0
	for _, h := range loc {
		if i, ok := s.byHash[h]; ok {
			start = i
			break
		}
	}
	var out []chain.Header
	for _, b := range s.blocks[start+1:] {
		if len(out) == max {
			break
		}
		out = append(out, b.Header)
		if b.Hash() == stop {
			break
		}
	}
	return out
}
func (s *staticChain) CheckHeader(h *chain.Header) error {
	return chain.CheckHeaderSanity(s.p, h, time.Now().Unix(), 0)
}
func (s *staticChain) ProcessBlock(b *chain.Block) error {
	return chain.RuleError{Err: chain.ErrDuplicateBlock, Description: "static chain"}
}
func (s *staticChain) LatestSnapshot() (chain.Hash, uint64, bool) {
	return s.last().Hash(), s.last().Header.Height, true
}
func (s *staticChain) HasSnapshot(h chain.Hash) (int, bool) {
	return len(s.snap), h == s.last().Hash()
}
func (s *staticChain) SnapshotWeights(h chain.Hash) ([]byte, error) {
	if h != s.last().Hash() {
		return nil, chain.RuleError{Err: chain.ErrNotFound, Description: "no snapshot at " + h.String()}
	}
	return s.snap, nil
}

// TestSnapSyncRejectsBadSnapshot: snapshots a late node (snap sync on, a
// real BlockChain behind the sink) must refuse, and whom it charges.
// "lying weights": the peer's chain is valid but its snapshot does not
// hash to the header's state root; the network catches it, charges the
// peer, and the node syncs to the tip by replaying every block. "invalid
// chain": the snapshot hashes to its header's state root, but holds a NaN
// (no valid chain reaches such a state): the chain refuses it
// (chain.ErrBadSnapshot), the peer is charged as for an invalid block, and
// the node never connects that block.
func TestSnapSyncRejectsBadSnapshot(t *testing.T) {
	p := chain.DevnetParams()
	b := newBuilder(t, p)
	blocks := b.run(120, chaintest.Contributions(0))

	gw, err := state.Genesis(p.Training)
	if err != nil {
		t.Fatal(err)
	}
	gw[7] = float32(math.NaN())
	b.g.SetTip(b.g.Name(blocks[98].Hash()))
	bad := b.g.NextBlock("nan-state", nil, chaintest.MungeHeader(func(h *chain.Header) { h.StateRoot = chain.Hash(p.Training.Root(gw)) }))
	invalid := append(blocks[:99:99], bad)

	cases := []struct {
		name       string
		liar       nodeOpt
		wantTip    chain.Hash
		minPenalty float64
	}{
		{"lying weights", func(_ *Config, d *Deps) {
			d.SnapshotSource = lyingSnapshots{d.Chain.(*ChainAdapter)}
		}, blocks[len(blocks)-1].Hash(), PenaltyBadResponse},
		{"invalid chain", func(_ *Config, d *Deps) {
			sc := newStaticChain(p, invalid, WeightsBytes(gw))
			d.Chain, d.SnapshotSource = sc, sc
		}, blocks[98].Hash(), PenaltyInvalidBlock},
	}
	for _, c := range cases {
		liar := newTNode(t, p, "liar", c.liar)
		liar.feed(t, blocks...)
		late := newTNode(t, p, "late", func(c *Config, _ *Deps) { c.SnapSync = true })
		connect(t, late, liar)
		waitFor(t, 30*time.Second, c.name+": late node at "+c.wantTip.String(), func() bool { return late.tip() == c.wantTip })
		waitFor(t, 10*time.Second, c.name+": liar charged", func() bool {
			return late.n.IsBanned(liar.n.ID()) || late.n.Score(liar.n.ID()) >= c.minPenalty-1
		})
		if n := late.n.Stats().SnapshotImports; n != 0 {
			t.Fatalf("%s: %d snapshots imported", c.name, n)
		}
		if h, _, ok := late.bc.PendingSnapshot(); ok {
			t.Fatalf("%s: snapshot of %s pending", c.name, h)
		}
		if late.bc.IsMainChain(bad.Hash()) {
			t.Fatalf("%s: connected the block of the bad snapshot", c.name)
		}
		late.n.Close()
		liar.n.Close()
	}
}

// TestTxAndContributionGossip: a transaction reaches every mempool and a
// contribution announcement makes every pool fetch and hold the
// contribution (relayed only by nodes that hold it).
func TestTxAndContributionGossip(t *testing.T) {
	p := chain.DevnetParams()
	b := newBuilder(t, p)
	prefix := b.run(int(p.CoinbaseMaturity) + 2)
	nodes := newTNodes(t, p, 4)
	for _, tn := range nodes {
		tn.feed(t, prefix...)
	}
	for i := 0; i+1 < len(nodes); i++ {
		connect(t, nodes[i], nodes[i+1])
	}
	waitMesh(t, nodes)
	tx := b.g.PayTx(b.g.CoinbaseOut("b1", 0), 100)
	nodes[0].mp.ProcessTx(tx)
	if err := nodes[0].n.PublishTx(context.Background(), tx); err != nil {
		t.Fatal(err)
	}
	tip := prefix[len(prefix)-1].Hash()
	c := b.g.Contribution(b.g.Name(tip), 3)
	nodes[3].pool.put(c)
	if err := nodes[3].n.AnnounceContribution(context.Background(), tip, c); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 10*time.Second, "tx and contribution everywhere", func() bool {
		for _, tn := range nodes {
			if !tn.mp.HaveTx(tx.TxID()) || !tn.pool.HaveContribution(chain.ContributionHash(c)) {
				return false
			}
		}
		return true
	})
	// A contribution for a stale parent is ignored, not relayed.
	stale := b.g.Contribution(b.g.Name(prefix[0].Hash()), 4)
	nodes[3].pool.put(stale)
	nodes[3].n.AnnounceContribution(context.Background(), prefix[0].Hash(), stale)
	time.Sleep(300 * time.Millisecond)
	if nodes[2].pool.HaveContribution(chain.ContributionHash(stale)) {
		t.Fatal("stale contribution accepted")
	}
	for _, tn := range nodes {
		if s := tn.n.Stats(); s.GossipRejected != 0 {
			t.Fatalf("%s: rejected %d honest messages", tn.name, s.GossipRejected)
		}
	}
}

// TestQUICHandshakes guards the QUIC transport that the default listen
// addresses turn on: quic-go before v0.57.1 built with Go 1.26 panicked on
// the server side of every handshake (quic-go#5572), which crashed the
// whole process. A node on the default listen set (TCP and QUIC, moved to
// loopback) accepts repeated QUIC-only dials, each a fresh server-side
// handshake followed by a status exchange, and stays up.
func TestQUICHandshakes(t *testing.T) {
	p := chain.DevnetParams()
	def := ConfigForParams(p).ListenAddrs
	var hasTCP, hasQUICAddr bool
	for _, a := range def {
		hasTCP = hasTCP || strings.Contains(a, "/tcp/")
		hasQUICAddr = hasQUICAddr || strings.HasSuffix(a, "/quic-v1")
	}
	if !hasTCP || !hasQUICAddr {
		t.Fatalf("default listen addresses %v: want TCP and QUIC", def)
	}
	server := newTNode(t, p, "server", func(c *Config, _ *Deps) {
		c.ListenAddrs = []string{"/ip4/127.0.0.1/tcp/0", "/ip4/127.0.0.1/udp/0/quic-v1"}
	})
	var quicAddrs []ma.Multiaddr
	for _, a := range server.n.Host().Addrs() {
		if _, err := a.ValueForProtocol(ma.P_QUIC_V1); err == nil {
			quicAddrs = append(quicAddrs, a)
		}
	}
	if len(quicAddrs) == 0 {
		t.Fatalf("server listens on %v: no QUIC address", server.n.Host().Addrs())
	}
	for i := range 3 {
		name := fmt.Sprintf("client%d", i)
		c := newTNode(t, p, name, func(c *Config, _ *Deps) { c.ListenAddrs = []string{"/ip4/127.0.0.1/udp/0/quic-v1"} })
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		err := c.n.Connect(ctx, peer.AddrInfo{ID: server.n.ID(), Addrs: quicAddrs})
		cancel()
		if err != nil {
			t.Fatalf("%s: QUIC dial: %v", name, err)
		}
		for _, conn := range c.n.Host().Network().ConnsToPeer(server.n.ID()) {
			if tr := conn.ConnState().Transport; tr != "quic-v1" {
				t.Fatalf("%s: transport %q, want quic-v1", name, tr)
			}
		}
		c.n.Close()
	}
	// Each Connect above also exchanged status over a QUIC stream; the
	// server still answers one over TCP.
	tcp := newTNode(t, p, "tcp-client")
	connect(t, tcp, server)
}

// TestBootstrapAndDiscovery: a node configured with another as its
// bootstrap peer dials it by itself; with the DHT and mDNS on, both start
// and stop cleanly (the DHT runs in its own namespace on loopback).
func TestBootstrapAndDiscovery(t *testing.T) {
	p := chain.DevnetParams()
	on := func(c *Config, _ *Deps) { c.EnableDHT, c.EnableMDNS = true, true }
	a := newTNode(t, p, "a", on)
	var addrs []string
	for _, m := range a.n.Addrs() {
		addrs = append(addrs, m.String())
	}
	b := newTNode(t, p, "b", on, func(c *Config, _ *Deps) { c.Bootstrap = addrs })
	waitFor(t, 15*time.Second, "b dials its bootstrap peer and learns its status", func() bool {
		return connected(b, a) && b.n.peers.status(a.n.ID()) != nil
	})
}
