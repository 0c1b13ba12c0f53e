package p2p

import (
	"context"
	"crypto/rand"
	"errors"
	"sync"
	"sync/atomic"
	"time"

	pubsub "github.com/libp2p/go-libp2p-pubsub"
	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/metrics"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/core/protocol"
	ma "github.com/multiformats/go-multiaddr"
	"github.com/rs/zerolog"

	"github.com/gradientcoin/gradientcoin/chain"
	"github.com/gradientcoin/gradientcoin/net/wire"
)

// Deps are the node's collaborators. Chain is required; the others are
// optional (nil: the node neither relays transactions, nor pools
// contributions, nor serves or imports snapshots).
type Deps struct {
	Chain          Chain
	Mempool        Mempool
	Contributions  ContributionPool
	SnapshotSource SnapshotSource
	SnapshotSink   SnapshotSink
}

// Node is a GradientCoin peer: a libp2p host, the gossip topics with
// their validators, the request protocols, and the sync loop.
type Node struct {
	cfg   Config
	log   zerolog.Logger
	deps  Deps
	codec *wire.Codec
	// snapCodec compresses snapshot chunks (wire.SnapshotLevel).
	snapCodec *wire.Codec

	host  host.Host
	bw    *metrics.BandwidthCounter
	peers *peerSet
	disc  *discovery

	ps                *pubsub.PubSub
	mesh              *meshTracer
	blacklist         pubsub.Blacklist
	tBlocks, tTxs, tC *pubsub.Topic
	subs              []*pubsub.Subscription

	proto struct {
		status, headers, blocks, blockTxs, contribution, snapManifest, snapChunk protocol.ID
	}

	sync      *syncer
	statusReq chan peer.ID
	connSem   chan struct{}
	snapCache snapCache

	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup
	closed atomic.Bool

	stats nodeStats
}

type nodeStats struct {
	gossipAccepted, gossipRejected, gossipIgnored atomic.Int64
	blocksSynced, bodyFetches, snapImports        atomic.Int64
	txFetches                                     atomic.Int64
}

// New builds and starts a node: it listens, joins the gossip topics,
// registers the protocols, dials the bootstrap peers and runs the sync
// loop until Close.
func New(cfg Config, deps Deps) (*Node, error) {
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	if deps.Chain == nil {
		return nil, errorf(ErrConfig, "deps: Chain is nil")
	}
	if g := deps.Chain.GenesisHash(); g != cfg.Genesis {
		return nil, errorf(ErrConfig, "config genesis %s differs from the chain's %s", cfg.Genesis, g)
	}
	bootstrap, err := ParseAddrs(cfg.Bootstrap)
	if err != nil {
		return nil, err
	}
	var key crypto.PrivKey
	if cfg.DataDir != "" {
		key, err = LoadOrCreateIdentity(cfg.DataDir)
	} else {
		key, _, err = crypto.GenerateEd25519Key(rand.Reader)
	}
	if err != nil {
		return nil, err
	}
	codec, err := wire.NewCodec(cfg.CompressionLevel)
	if err != nil {
		return nil, wrapf(ErrConfig, err, "codec")
	}
	snapCodec, err := wire.NewCodec(wire.SnapshotLevel)
	if err != nil {
		return nil, wrapf(ErrConfig, err, "snapshot codec")
	}
	ctx, cancel := context.WithCancel(context.Background())
	n := &Node{
		cfg:       cfg,
		log:       cfg.Logger.With().Str("module", "p2p").Logger(),
		deps:      deps,
		codec:     codec,
		snapCodec: snapCodec,
		bw:        metrics.NewBandwidthCounter(),
		statusReq: make(chan peer.ID, 256),
		connSem:   make(chan struct{}, 8),
		ctx:       ctx,
		cancel:    cancel,
	}
	n.mesh = newMeshTracer(&n.log)
	n.peers = newPeerSet(&n.cfg, n.onBan)
	n.proto.status = cfg.protocolID("status")
	n.proto.headers = cfg.protocolID("headers")
	n.proto.blocks = cfg.protocolID("blocks")
	n.proto.blockTxs = cfg.protocolID("block-txs")
	n.proto.contribution = cfg.protocolID("contribution")
	n.proto.snapManifest = cfg.protocolID("snap-manifest")
	n.proto.snapChunk = cfg.protocolID("snap-chunk")

	n.host, err = newHost(&n.cfg, key, gater{n.peers}, n.bw)
	if err != nil {
		cancel()
		return nil, err
	}
	n.host.Network().Notify(&network.NotifyBundle{
		ConnectedF:    n.onConnected,
		DisconnectedF: n.onDisconnected,
	})
	n.registerProtocols()
	if err := n.startGossip(); err != nil {
		n.Close()
		return nil, err
	}
	n.sync = newSyncer(n)
	n.goLoop(n.sync.run)
	n.goLoop(n.statusLoop)
	n.goLoop(n.statusRefreshLoop)
	n.disc = &discovery{n: n, bootstrap: bootstrap}
	if err := n.disc.start(ctx); err != nil {
		n.Close()
		return nil, err
	}
	n.log.Info().Str("peer", n.host.ID().String()).Strs("addrs", addrStrings(n.Addrs())).
		Str("network", cfg.Network).Msg("p2p node started")
	return n, nil
}

func (n *Node) goLoop(f func()) {
	n.wg.Add(1)
	go func() {
		defer n.wg.Done()
		f()
	}()
}

// Close stops the node: loops, discovery, gossip and the host. It is safe
// to call more than once.
func (n *Node) Close() error {
	if !n.closed.CompareAndSwap(false, true) {
		return nil
	}
	n.cancel()
	if n.disc != nil {
		n.disc.close()
	}
	for _, s := range n.subs {
		s.Cancel()
	}
	var err error
	if n.host != nil {
		err = n.host.Close()
	}
	n.wg.Wait()
	return err
}

// ID returns the node's peer id.
func (n *Node) ID() peer.ID { return n.host.ID() }

// Host returns the libp2p host (for wiring and tests).
func (n *Node) Host() host.Host { return n.host }

// Addrs returns the node's listen addresses with /p2p/<id> appended.
func (n *Node) Addrs() []ma.Multiaddr {
	addrs, err := peer.AddrInfoToP2pAddrs(&peer.AddrInfo{ID: n.host.ID(), Addrs: n.host.Addrs()})
	if err != nil {
		return nil
	}
	return addrs
}

func addrStrings(as []ma.Multiaddr) []string {
	out := make([]string, len(as))
	for i, a := range as {
		out[i] = a.String()
	}
	return out
}

// Connect dials a peer and exchanges status with it.
func (n *Node) Connect(ctx context.Context, pi peer.AddrInfo) error {
	if n.closed.Load() {
		return errorf(ErrClosed, "node closed")
	}
	if n.peers.isBanned(pi.ID) {
		return errorf(ErrBanned, "peer %s is banned", pi.ID)
	}
	ctx, cancel := context.WithTimeout(ctx, n.cfg.DialTimeout)
	defer cancel()
	if err := n.host.Connect(ctx, pi); err != nil {
		return err
	}
	return n.exchangeStatus(ctx, pi.ID)
}

// connectAsync dials a discovered peer in the background (bounded).
func (n *Node) connectAsync(pi peer.AddrInfo) {
	if n.closed.Load() || n.host.Network().Connectedness(pi.ID) == network.Connected || n.peers.isBanned(pi.ID) {
		return
	}
	select {
	case n.connSem <- struct{}{}:
	default:
		return // enough dials under way; discovery will offer it again
	}
	n.goLoop(func() {
		defer func() { <-n.connSem }()
		if err := n.Connect(n.ctx, pi); err != nil {
			n.log.Debug().Err(err).Str("peer", pi.ID.String()).Msg("dial failed")
		}
	})
}

// Disconnect closes every connection to p.
func (n *Node) Disconnect(p peer.ID) error { return n.host.Network().ClosePeer(p) }

// Ban disconnects p and refuses it for BanDuration.
func (n *Node) Ban(p peer.ID, reason string) { n.peers.misbehave(p, n.cfg.BanThreshold, reason) }

// IsBanned reports whether p is banned.
func (n *Node) IsBanned(p peer.ID) bool { return n.peers.isBanned(p) }

// Score returns p's misbehaviour score (it decays; BanThreshold bans).
func (n *Node) Score(p peer.ID) float64 { return n.peers.score(p) }

// PeerInfo describes a connected peer.
type PeerInfo struct {
	ID        peer.ID
	TipHash   chain.Hash
	TipHeight uint64
	Score     float64
}

// Peers returns the connected peers, most work first; peers that have not
// sent a status yet come last.
func (n *Node) Peers() []PeerInfo {
	seen := map[peer.ID]bool{}
	var out []PeerInfo
	for _, ps := range n.peers.withStatus() {
		seen[ps.id] = true
		out = append(out, PeerInfo{ID: ps.id, TipHash: ps.status.TipHash, TipHeight: ps.status.TipHeight, Score: n.peers.score(ps.id)})
	}
	for _, p := range n.host.Network().Peers() {
		if !seen[p] {
			out = append(out, PeerInfo{ID: p, Score: n.peers.score(p)})
		}
	}
	return out
}

// MeshPeers returns how many peers are in the node's gossip mesh for
// the blocks topic.
func (n *Node) MeshPeers() int { return n.mesh.peers(n.cfg.topicName("blocks")) }

// Syncing reports whether the node is catching up (and ignoring gossip).
func (n *Node) Syncing() bool { return n.sync.syncing.Load() }

// Stats are counters since start.
type Stats struct {
	Peers                                         int
	Bans                                          int
	GossipAccepted, GossipRejected, GossipIgnored int64
	BlocksSynced, BodyFetches, SnapshotImports    int64
	// TxFetches counts requests for the transactions of a compact block
	// that the mempool lacked (the rest of the block is not fetched).
	TxFetches         int64
	BytesIn, BytesOut int64
}

// Stats returns the node's counters.
func (n *Node) Stats() Stats {
	t := n.bw.GetBandwidthTotals()
	return Stats{
		Peers:           len(n.host.Network().Peers()),
		Bans:            n.peers.bansTotal(),
		GossipAccepted:  n.stats.gossipAccepted.Load(),
		GossipRejected:  n.stats.gossipRejected.Load(),
		GossipIgnored:   n.stats.gossipIgnored.Load(),
		BlocksSynced:    n.stats.blocksSynced.Load(),
		BodyFetches:     n.stats.bodyFetches.Load(),
		TxFetches:       n.stats.txFetches.Load(),
		SnapshotImports: n.stats.snapImports.Load(),
		BytesIn:         t.TotalIn,
		BytesOut:        t.TotalOut,
	}
}

func (n *Node) onConnected(_ network.Network, c network.Conn) {
	p := c.RemotePeer()
	n.peers.connected(p)
	select {
	case n.statusReq <- p:
	default:
	}
}

func (n *Node) onDisconnected(nw network.Network, c network.Conn) {
	p := c.RemotePeer()
	if nw.Connectedness(p) != network.Connected {
		n.peers.disconnected(p)
	}
}

func (n *Node) onBan(p peer.ID, reason string) {
	n.log.Warn().Str("peer", p.String()).Str("reason", reason).Msg("banning peer")
	if n.blacklist != nil {
		n.blacklist.Add(p)
	}
	if n.host != nil {
		go n.host.Network().ClosePeer(p) // not under the caller's locks
	}
}

// misbehave penalises p; reason is logged at debug level.
func (n *Node) misbehave(p peer.ID, points float64, reason string, err error) {
	if p == "" || p == n.host.ID() {
		return
	}
	n.log.Debug().Str("peer", p.String()).Float64("points", points).Str("reason", reason).AnErr("err", err).Msg("peer misbehaved")
	n.peers.misbehave(p, points, reason)
}

// penaliseResponse charges p for a failed request according to the error:
// data errors (malformed, oversized, mismatched) are the peer's fault;
// timeouts, resets and not-found are not.
func (n *Node) penaliseResponse(p peer.ID, what string, err error) {
	if err == nil {
		return
	}
	switch {
	case errors.Is(err, wire.ErrMalformed), errors.Is(err, wire.ErrTooLarge), errors.Is(err, wire.ErrCompression):
		n.misbehave(p, PenaltyMalformed, what+": malformed response", err)
	case errors.Is(err, wire.ErrMismatch), errors.Is(err, ErrBadPeerData):
		n.misbehave(p, PenaltyBadResponse, what+": response does not match the request", err)
	}
}

// ourStatus describes this node.
func (n *Node) ourStatus() *wire.Status {
	tip := n.deps.Chain.BestTip()
	st := &wire.Status{Genesis: n.cfg.Genesis, TipHash: tip.Hash, TipHeight: tip.Height}
	st.SetWork(tip.Work)
	if src := n.deps.SnapshotSource; src != nil {
		if h, height, ok := src.LatestSnapshot(); ok {
			st.SnapHash, st.SnapHeight = h, height
		}
	}
	return st
}

// maxStatusExchanges bounds the status exchanges in flight (one per peer
// at most).
const maxStatusExchanges = 64

// statusLoop runs the status exchanges queued on connection and refresh,
// concurrently: one at a time per peer (a request for a peer whose
// exchange is under way is dropped; the refresh asks again) and at most
// maxStatusExchanges in all, so a peer that never answers holds one slot
// for RequestTimeout, not the queue.
func (n *Node) statusLoop() {
	sem := make(chan struct{}, maxStatusExchanges)
	var mu sync.Mutex
	inflight := map[peer.ID]bool{}
	for {
		var p peer.ID
		select {
		case <-n.ctx.Done():
			return
		case p = <-n.statusReq:
		}
		if n.host.Network().Connectedness(p) != network.Connected {
			continue
		}
		mu.Lock()
		busy := inflight[p]
		inflight[p] = true
		mu.Unlock()
		if busy {
			continue
		}
		select {
		case sem <- struct{}{}:
		case <-n.ctx.Done():
			return
		}
		n.goLoop(func() {
			defer func() {
				<-sem
				mu.Lock()
				delete(inflight, p)
				mu.Unlock()
			}()
			ctx, cancel := context.WithTimeout(n.ctx, n.cfg.RequestTimeout)
			defer cancel()
			if err := n.exchangeStatus(ctx, p); err != nil {
				n.log.Debug().Err(err).Str("peer", p.String()).Msg("status exchange failed")
			}
		})
	}
}

// statusRefreshLoop re-asks every peer for its status periodically.
func (n *Node) statusRefreshLoop() {
	t := time.NewTicker(n.cfg.StatusInterval)
	defer t.Stop()
	for {
		select {
		case <-n.ctx.Done():
			return
		case <-t.C:
		}
		for _, p := range n.host.Network().Peers() {
			n.queueStatus(p)
		}
	}
}

func (n *Node) queueStatus(p peer.ID) {
	select {
	case n.statusReq <- p:
	default:
	}
}
