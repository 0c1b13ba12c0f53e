package p2p

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"net"
	"sync"
	"time"

	pubsub "github.com/libp2p/go-libp2p-pubsub"
	pb "github.com/libp2p/go-libp2p-pubsub/pb"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/core/protocol"
	"github.com/rs/zerolog"

	"github.com/gradientcoin/gradientcoin/chain"
	"github.com/gradientcoin/gradientcoin/net/wire"
)

// Gossip topics (Config.topicName): "blocks" (compact blocks), "txs"
// (transactions), "contributions" (announcements). Every message is one
// zstd frame of its wire encoding; the message id is the SHA-256 of the
// topic and the decompressed content, so the same content is delivered
// (and validated) once however many peers relay it and however they
// compressed it. Messages carry no author or signature (the content is
// what matters; peers are accountable per connection through scoring).

// msgID is the content hash of a message: of its decompressed payload
// (under the topic's size limit), or, for data that does not decompress,
// of the data itself under another tag (the validator rejects it).
func (n *Node) msgID(m *pb.Message) string {
	topic := m.GetTopic()
	limit := wire.MaxFrame
	switch topic {
	case n.cfg.topicName("txs"):
		limit = wire.MaxTxSize
	case n.cfg.topicName("contributions"):
		limit = announceLimit
	}
	h := sha256.New()
	h.Write([]byte(topic))
	if raw, err := n.codec.Decompress(m.Data, limit); err == nil {
		h.Write([]byte{0})
		h.Write(raw)
	} else {
		h.Write([]byte{1})
		h.Write(m.Data)
	}
	return string(h.Sum(nil))
}

// announceLimit is the largest contribution announcement (decompressed).
const announceLimit = 256

// scoreParams: gossipsub's peer score. P4 (invalid message deliveries)
// is what a Reject feeds: −100 per invalid message squared, so a peer is
// graylisted (−2500) after five rejected messages in quick succession. The
// application score is minus our misbehaviour score, so a peer the node
// penalises elsewhere (streams) also loses standing in the mesh.
func (n *Node) scoreParams() (*pubsub.PeerScoreParams, *pubsub.PeerScoreThresholds) {
	topic := func(weight float64) *pubsub.TopicScoreParams {
		return &pubsub.TopicScoreParams{
			SkipAtomicValidation:           true,
			TopicWeight:                    weight,
			TimeInMeshWeight:               0.01,
			TimeInMeshQuantum:              time.Second,
			TimeInMeshCap:                  100,
			FirstMessageDeliveriesWeight:   1,
			FirstMessageDeliveriesDecay:    0.9,
			FirstMessageDeliveriesCap:      20,
			InvalidMessageDeliveriesWeight: -100,
			InvalidMessageDeliveriesDecay:  0.99,
		}
	}
	_, loopback, _ := net.ParseCIDR("127.0.0.0/8")
	_, loopback6, _ := net.ParseCIDR("::1/128")
	params := &pubsub.PeerScoreParams{
		SkipAtomicValidation: true,
		Topics: map[string]*pubsub.TopicScoreParams{
			n.cfg.topicName("blocks"):        topic(1),
			n.cfg.topicName("txs"):           topic(0.5),
			n.cfg.topicName("contributions"): topic(0.5),
		},
		TopicScoreCap:               100,
		AppSpecificScore:            func(p peer.ID) float64 { return -n.peers.score(p) },
		AppSpecificWeight:           10,
		IPColocationFactorWeight:    -5,
		IPColocationFactorThreshold: 10,
		IPColocationFactorWhitelist: []*net.IPNet{loopback, loopback6},
		BehaviourPenaltyWeight:      -1,
		BehaviourPenaltyThreshold:   6,
		BehaviourPenaltyDecay:       0.9,
		DecayInterval:               time.Second,
		DecayToZero:                 0.01,
		RetainScore:                 10 * time.Minute,
	}
	thresholds := &pubsub.PeerScoreThresholds{
		GossipThreshold:             -500,
		PublishThreshold:            -1000,
		GraylistThreshold:           -2500,
		AcceptPXThreshold:           100,
		OpportunisticGraftThreshold: 5,
	}
	return params, thresholds
}

func (n *Node) startGossip() error {
	bl, err := pubsub.NewTimeCachedBlacklist(n.cfg.BanDuration)
	if err != nil {
		return wrapf(ErrConfig, err, "gossip blacklist")
	}
	n.blacklist = bl
	gp := pubsub.DefaultGossipSubParams()
	gp.HeartbeatInterval = n.cfg.GossipHeartbeat
	gp.HeartbeatInitialDelay = min(gp.HeartbeatInitialDelay, n.cfg.GossipHeartbeat)
	sp, st := n.scoreParams()
	n.ps, err = pubsub.NewGossipSub(n.ctx, n.host,
		pubsub.WithGossipSubParams(gp),
		pubsub.WithMessageIdFn(n.msgID),
		pubsub.WithNoAuthor(),
		pubsub.WithPeerScore(sp, st),
		// Flood our own messages to every topic peer above the publish
		// threshold (not only the mesh): a miner's block should leave in
		// one hop, and a peer that pruned us still hears our blocks.
		pubsub.WithFloodPublish(true),
		pubsub.WithPeerExchange(n.cfg.EnableDHT),
		pubsub.WithMaxMessageSize(wire.CompressBound(wire.MaxFrame)+4096),
		// Bounded memory under a flood: at most 64 messages (of at most
		// ~1 MiB each) wait for validation, at most 96 validations run
		// (the per-topic concurrencies below; the global throttle caps
		// them too), and 64 RPCs wait per outbound peer. Excess is
		// dropped, never queued without bound.
		pubsub.WithValidateQueueSize(64),
		pubsub.WithValidateThrottle(128),
		pubsub.WithPeerOutboundQueueSize(64),
		pubsub.WithBlacklist(bl),
		pubsub.WithRawTracer(n.mesh),
	)
	if err != nil {
		return wrapf(ErrConfig, err, "gossipsub")
	}
	join := func(name string, v pubsub.ValidatorEx, conc int) (*pubsub.Topic, error) {
		full := n.cfg.topicName(name)
		if err := n.ps.RegisterTopicValidator(full, n.guard(v),
			pubsub.WithValidatorTimeout(n.cfg.ValidateTimeout),
			pubsub.WithValidatorConcurrency(conc)); err != nil {
			return nil, wrapf(ErrConfig, err, "validator for %s", full)
		}
		t, err := n.ps.Join(full)
		if err != nil {
			return nil, wrapf(ErrConfig, err, "join %s", full)
		}
		sub, err := t.Subscribe(pubsub.WithBufferSize(64))
		if err != nil {
			return nil, wrapf(ErrConfig, err, "subscribe %s", full)
		}
		n.subs = append(n.subs, sub)
		n.goLoop(func() { drain(n.ctx, sub) })
		return t, nil
	}
	if n.tBlocks, err = join("blocks", n.validateBlock, 16); err != nil {
		return err
	}
	if n.tTxs, err = join("txs", n.validateTx, 64); err != nil {
		return err
	}
	if n.tC, err = join("contributions", n.validateAnnounce, 16); err != nil {
		return err
	}
	return nil
}

// drain consumes a subscription: validation already did the work; the
// subscription only keeps the node in the topic's mesh.
func drain(ctx context.Context, sub *pubsub.Subscription) {
	for {
		if _, err := sub.Next(ctx); err != nil {
			return
		}
	}
}

// guard wraps a validator: local messages are accepted (the caller
// validated them), peers over their gossip rate are ignored and charged,
// a panic (a bug) ignores the message, and outcomes are counted.
func (n *Node) guard(v pubsub.ValidatorEx) pubsub.ValidatorEx {
	return func(ctx context.Context, from peer.ID, msg *pubsub.Message) (res pubsub.ValidationResult) {
		if from == n.host.ID() {
			return pubsub.ValidationAccept
		}
		defer func() {
			if r := recover(); r != nil {
				n.log.Error().Interface("panic", r).Str("topic", msg.GetTopic()).Msg("validator panic")
				res = pubsub.ValidationIgnore
			}
			n.log.Trace().Str("topic", msg.GetTopic()).Str("from", from.String()).Int("result", int(res)).Msg("gossip validated")
			switch res {
			case pubsub.ValidationAccept:
				n.stats.gossipAccepted.Add(1)
			case pubsub.ValidationReject:
				n.stats.gossipRejected.Add(1)
			default:
				n.stats.gossipIgnored.Add(1)
			}
		}()
		if !n.peers.allowGossip(from) {
			n.misbehave(from, PenaltyRateLimit, "gossip rate", nil)
			return pubsub.ValidationIgnore
		}
		return v(ctx, from, msg)
	}
}

// reject penalises from and returns Reject.
func (n *Node) reject(from peer.ID, points float64, reason string, err error) pubsub.ValidationResult {
	n.misbehave(from, points, reason, err)
	return pubsub.ValidationReject
}

// chainKind returns the chain.ErrorKind in err's chain, if any.
func chainKind(err error) (chain.ErrorKind, bool) {
	var k chain.ErrorKind
	ok := errors.As(err, &k)
	return k, ok
}

// BlockVerdict classifies a CheckHeader or ProcessBlock error with
// chain.ClassifyBlock: nil → Accept; kinds that are not the sender's
// fault (unknown parent, duplicate, timestamp too far ahead — it may
// become valid — store failures, a closed chain, and errors without a
// chain kind) → Ignore; every other chain kind proves the block invalid
// → Reject.
func BlockVerdict(err error) pubsub.ValidationResult {
	switch chain.ClassifyBlock(chain.ProcessResult{}, err) {
	case chain.VerdictAccept:
		return pubsub.ValidationAccept
	case chain.VerdictReject:
		return pubsub.ValidationReject
	}
	return pubsub.ValidationIgnore
}

// TxVerdict classifies a Mempool.ProcessTx error (see Mempool).
func TxVerdict(err error) pubsub.ValidationResult {
	if err == nil {
		return pubsub.ValidationAccept
	}
	k, ok := chainKind(err)
	if !ok {
		return pubsub.ValidationIgnore
	}
	switch k {
	case chain.ErrAlreadyHave, chain.ErrMempoolFull, chain.ErrInsufficientFee, chain.ErrMissingTxOut,
		chain.ErrDoubleSpend, chain.ErrImmatureSpend, chain.ErrStore, chain.ErrNotFound, chain.ErrTimeTooNew,
		chain.ErrRecentlyRejected:
		return pubsub.ValidationIgnore
	}
	return pubsub.ValidationReject
}

// ContributionVerdict classifies a ContributionPool.AddContribution
// error: ErrIgnore → Ignore, anything else → Reject.
func ContributionVerdict(err error) pubsub.ValidationResult {
	switch {
	case err == nil:
		return pubsub.ValidationAccept
	case errors.Is(err, ErrIgnore):
		return pubsub.ValidationIgnore
	}
	return pubsub.ValidationReject
}

// validateBlock is the blocks topic validator: decode (Reject),
// duplicates, header checks (Reject), unknown parents (Ignore, asking the
// sender for its status, which starts a sync if it has more work — not
// while syncing: the sync will get there), a branch far below our tip
// that nobody asked for (Ignore, PenaltyLowWork), then rebuild the block
// from the mempool and the contribution pool, fetching what is missing
// from the sender (after checking the compact block's contribution
// references against the header's gradient root and the caps), and
// process it. A block whose parent we have is processed even while
// syncing. The message is accepted — and relayed — only if the block is
// valid, ends on our main chain or with as much work as our tip, and the
// compact block is exactly the block's compact form; a valid side-chain
// block with less work is kept but not relayed.
func (n *Node) validateBlock(ctx context.Context, from peer.ID, msg *pubsub.Message) pubsub.ValidationResult {
	raw, err := n.codec.Decompress(msg.Data, wire.MaxFrame)
	if err != nil {
		return n.reject(from, PenaltyMalformed, "block gossip: bad compression", err)
	}
	cb, err := wire.DecodeCompactBlock(raw)
	if err != nil {
		return n.reject(from, PenaltyMalformed, "block gossip: malformed compact block", err)
	}
	c := n.deps.Chain
	hash := cb.Header.BlockHash()
	if c.HaveBlock(hash) {
		return pubsub.ValidationIgnore
	}
	if err := c.CheckHeader(&cb.Header); err != nil {
		if v := BlockVerdict(err); v == pubsub.ValidationReject {
			return n.reject(from, PenaltyInvalidBlock, "block gossip: invalid header", err)
		}
		return pubsub.ValidationIgnore
	}
	if !c.HaveBlock(cb.Header.PrevBlock) {
		if !n.Syncing() {
			n.queueStatus(from)
			n.sync.wakeUp()
		}
		return pubsub.ValidationIgnore
	}
	hp, _ := c.(HeaderProcessor)
	if hp != nil {
		if err := hp.CheckLowWork(&cb.Header); err != nil {
			n.misbehave(from, PenaltyLowWork, "block gossip: a branch far below our tip", err)
			return pubsub.ValidationIgnore
		}
	}
	blk, err := n.assemble(ctx, from, cb, hash)
	if err != nil {
		if errors.Is(err, wire.ErrMismatch) || errors.Is(err, ErrBadPeerData) {
			return n.reject(from, PenaltyMalformed, "block gossip: compact block does not match its header", err)
		}
		return pubsub.ValidationIgnore // fetch failed; not provably the sender's fault
	}
	err = c.ProcessBlock(blk)
	switch v := BlockVerdict(err); v {
	case pubsub.ValidationReject:
		return n.reject(from, PenaltyInvalidBlock, "block gossip: invalid block", err)
	case pubsub.ValidationIgnore:
		switch k, _ := chainKind(err); k {
		case chain.ErrMissingParent:
			n.queueStatus(from)
			n.sync.wakeUp()
		case chain.ErrLowWork:
			n.misbehave(from, PenaltyLowWork, "block gossip: a branch far below our tip", err)
		}
		return v
	}
	honest := wire.NewCompactBlock(blk).Bytes()
	if !bytes.Equal(honest, raw) {
		// The block is valid but the announcement lied about its
		// contents: refuse the message and relay a correct one.
		n.goLoop(func() { n.PublishBlock(n.ctx, blk) })
		return n.reject(from, PenaltyMalformed, "block gossip: compact block differs from the block", nil)
	}
	if hp != nil {
		if w, ok := hp.HeaderWork(hash); ok && w.Cmp(c.BestTip().Work) < 0 {
			return pubsub.ValidationIgnore // a valid side block with less work: kept, not relayed
		}
	}
	msg.ValidatorData = blk
	return pubsub.ValidationAccept
}

// assemble rebuilds the block a compact block announces: transactions
// from the mempool, contributions from the pool or fetched from the
// sender by hash. Transactions the mempool lacks are fetched from the
// sender by position (block-txs: each checked against its txid); if that
// fails, or the transactions do not give the header's tx root, it
// fetches the whole body from the sender instead.
// Before fetching anything it checks the contribution references: at most
// MaxContributions of them, at most MaxGradientSize bytes in all, each at
// most MaxContributionSize, and their hashes (the gradient root's leaves)
// must give the header's gradient root. Errors of kind ErrMismatch /
// ErrBadPeerData mean the sender's data is inconsistent with the header.
func (n *Node) assemble(ctx context.Context, from peer.ID, cb *wire.CompactBlock, hash chain.Hash) (*chain.Block, error) {
	if cb.HeaderOnly() {
		return n.fetchBlock(ctx, from, hash)
	}
	if err := n.checkContributionRefs(cb, hash); err != nil {
		return nil, err
	}
	blk := &chain.Block{Header: cb.Header, Txs: make([]*chain.Tx, 1, 1+len(cb.TxIDs))}
	blk.Txs[0] = cb.Coinbase
	var missing []uint32
	for i, id := range cb.TxIDs {
		var tx *chain.Tx
		ok := false
		if n.deps.Mempool != nil {
			tx, ok = n.deps.Mempool.TxByID(id)
		}
		if !ok {
			missing = append(missing, uint32(i))
		}
		blk.Txs = append(blk.Txs, tx) // nil where missing
	}
	if len(missing) > 0 {
		txs, err := n.fetchBlockTxs(ctx, from, hash, cb, missing)
		switch {
		case errors.Is(err, wire.ErrMismatch) || errors.Is(err, ErrBadPeerData):
			return nil, err
		case err != nil:
			return n.fetchBlock(ctx, from, hash)
		}
		for k, i := range missing {
			blk.Txs[i+1] = txs[k]
		}
	}
	if chain.CalcTxRoot(blk.Txs) != cb.Header.TxRoot {
		return n.fetchBlock(ctx, from, hash)
	}
	if len(cb.Contributions) > 0 {
		blk.Contributions = make([][]byte, len(cb.Contributions))
		for i, ref := range cb.Contributions {
			var c []byte
			ok := false
			if n.deps.Contributions != nil {
				c, ok = n.deps.Contributions.Contribution(ref.Hash)
			}
			if !ok {
				var err error
				if c, err = n.fetchContribution(ctx, from, ref.Hash); err != nil {
					if errors.Is(err, ErrNotFound) {
						return n.fetchBlock(ctx, from, hash)
					}
					return nil, err
				}
			}
			if len(c) != int(ref.Size) {
				return nil, errorf(ErrBadPeerData, "block %s: contribution %d is %d bytes, announced %d", hash, i, len(c), ref.Size)
			}
			blk.Contributions[i] = c
		}
	}
	if got := chain.CalcGradientRoot(blk.Contributions); got != cb.Header.GradientRoot {
		return nil, errorf(ErrBadPeerData, "block %s: announced contributions have root %s, header commits to %s", hash, got, cb.Header.GradientRoot)
	}
	return blk, nil
}

// checkContributionRefs checks a compact block's contribution references
// against the caps and the header's gradient root, which needs no
// download: the root's leaves are the contributions' hashes.
func (n *Node) checkContributionRefs(cb *wire.CompactBlock, hash chain.Hash) error {
	refs := cb.Contributions
	if len(refs) > n.cfg.MaxContributions {
		return errorf(ErrBadPeerData, "block %s: %d contributions, the network allows %d", hash, len(refs), n.cfg.MaxContributions)
	}
	total := 0
	leaves := make([]chain.Hash, len(refs))
	for i, ref := range refs {
		if int(ref.Size) > n.cfg.MaxContributionSize || ref.Size == 0 {
			return errorf(ErrBadPeerData, "block %s: contribution %d of %d bytes outside [1, %d]", hash, i, ref.Size, n.cfg.MaxContributionSize)
		}
		total += int(ref.Size)
		leaves[i] = ref.Hash
	}
	if total > n.cfg.MaxGradientSize {
		return errorf(ErrBadPeerData, "block %s: contributions of %d bytes in all, the network allows %d", hash, total, n.cfg.MaxGradientSize)
	}
	if root := chain.MerkleRoot(leaves); root != cb.Header.GradientRoot {
		return errorf(ErrBadPeerData, "block %s: the referenced contributions have root %s, the header commits to %s", hash, root, cb.Header.GradientRoot)
	}
	return nil
}

// validateTx is the txs topic validator.
func (n *Node) validateTx(_ context.Context, from peer.ID, msg *pubsub.Message) pubsub.ValidationResult {
	raw, err := n.codec.Decompress(msg.Data, wire.MaxTxSize)
	if err != nil {
		return n.reject(from, PenaltyMalformed, "tx gossip: bad compression", err)
	}
	tx, err := wire.DecodeTxMsg(raw)
	if err != nil {
		return n.reject(from, PenaltyMalformed, "tx gossip: malformed tx", err)
	}
	if tx.IsCoinbase() {
		return n.reject(from, PenaltyInvalidTx, "tx gossip: coinbase", nil)
	}
	mp := n.deps.Mempool
	if mp == nil || n.Syncing() {
		return pubsub.ValidationIgnore
	}
	if mp.HaveTx(tx.TxID()) {
		return pubsub.ValidationIgnore
	}
	v := TxVerdict(mp.ProcessTx(tx))
	if v == pubsub.ValidationReject {
		return n.reject(from, PenaltyInvalidTx, "tx gossip: invalid tx", nil)
	}
	if v == pubsub.ValidationAccept {
		msg.ValidatorData = tx
	}
	return v
}

// validateAnnounce is the contributions topic validator: an announcement
// is relayed only after the node fetched the contribution from the
// sender, checked it against the announced hash and size, and its pool
// accepted it — so every node that relays an announcement can serve it.
func (n *Node) validateAnnounce(ctx context.Context, from peer.ID, msg *pubsub.Message) pubsub.ValidationResult {
	raw, err := n.codec.Decompress(msg.Data, announceLimit)
	if err != nil {
		return n.reject(from, PenaltyMalformed, "contribution gossip: bad compression", err)
	}
	a, err := wire.DecodeContributionAnnounce(raw)
	if err != nil {
		return n.reject(from, PenaltyMalformed, "contribution gossip: malformed announcement", err)
	}
	if int(a.Size) > n.cfg.MaxContributionSize {
		return n.reject(from, PenaltyInvalidContribution, "contribution gossip: oversized", nil)
	}
	pool := n.deps.Contributions
	if pool == nil || n.Syncing() || pool.HaveContribution(a.Hash) {
		return pubsub.ValidationIgnore
	}
	if a.Parent != n.deps.Chain.BestTip().Hash {
		return pubsub.ValidationIgnore // unknown or stale parent
	}
	c, err := n.fetchContribution(ctx, from, a.Hash)
	if err != nil {
		if errors.Is(err, wire.ErrMismatch) || errors.Is(err, wire.ErrMalformed) || errors.Is(err, wire.ErrTooLarge) || errors.Is(err, wire.ErrCompression) {
			return pubsub.ValidationReject // fetchContribution charged the sender
		}
		return pubsub.ValidationIgnore
	}
	if len(c) != int(a.Size) {
		return n.reject(from, PenaltyInvalidContribution, "contribution gossip: size differs from the announcement", nil)
	}
	switch v := ContributionVerdict(pool.AddContribution(a.Parent, c)); v {
	case pubsub.ValidationReject:
		return n.reject(from, PenaltyInvalidContribution, "contribution gossip: invalid contribution", nil)
	default:
		return v
	}
}

// PublishBlock announces a block the caller has already processed (a
// block it mined, typically) as a compact block.
func (n *Node) PublishBlock(ctx context.Context, b *chain.Block) error {
	if n.closed.Load() {
		return errorf(ErrClosed, "node closed")
	}
	return n.tBlocks.Publish(ctx, n.codec.Compress(nil, wire.NewCompactBlock(b).Bytes()))
}

// PublishTx relays a transaction the caller's mempool accepted.
func (n *Node) PublishTx(ctx context.Context, tx *chain.Tx) error {
	if n.closed.Load() {
		return errorf(ErrClosed, "node closed")
	}
	raw := tx.Bytes()
	if len(raw) > wire.MaxTxSize {
		return errorf(ErrConfig, "tx of %d bytes exceeds the gossip limit %d", len(raw), wire.MaxTxSize)
	}
	return n.tTxs.Publish(ctx, n.codec.Compress(nil, raw))
}

// AnnounceContribution announces a contribution for the block after
// parent. The node serves it from the ContributionPool, which must hold
// it.
func (n *Node) AnnounceContribution(ctx context.Context, parent chain.Hash, c []byte) error {
	if n.closed.Load() {
		return errorf(ErrClosed, "node closed")
	}
	if len(c) == 0 || len(c) > n.cfg.MaxContributionSize {
		return errorf(ErrConfig, "contribution of %d bytes outside [1, %d]", len(c), n.cfg.MaxContributionSize)
	}
	a := &wire.ContributionAnnounce{Parent: parent, Hash: chain.ContributionHash(c), Size: uint32(len(c))}
	return n.tC.Publish(ctx, n.codec.Compress(nil, a.Bytes()))
}

// meshTracer follows gossipsub's mesh (GRAFT/PRUNE) per topic.
type meshTracer struct {
	log  *zerolog.Logger
	mu   sync.Mutex
	mesh map[string]map[peer.ID]bool
}

func newMeshTracer(log *zerolog.Logger) *meshTracer {
	return &meshTracer{log: log, mesh: map[string]map[peer.ID]bool{}}
}

func (m *meshTracer) Graft(p peer.ID, topic string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.mesh[topic] == nil {
		m.mesh[topic] = map[peer.ID]bool{}
	}
	m.mesh[topic][p] = true
}

func (m *meshTracer) Prune(p peer.ID, topic string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	delete(m.mesh[topic], p)
}

func (m *meshTracer) RemovePeer(p peer.ID) {
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, ps := range m.mesh {
		delete(ps, p)
	}
}

func (m *meshTracer) peers(topic string) int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return len(m.mesh[topic])
}

func (m *meshTracer) AddPeer(peer.ID, protocol.ID)    {}
func (m *meshTracer) Join(string)                     {}
func (m *meshTracer) Leave(string)                    {}
func (m *meshTracer) ValidateMessage(*pubsub.Message) {}
func (m *meshTracer) DeliverMessage(*pubsub.Message)  {}
func (m *meshTracer) ThrottlePeer(peer.ID)            {}

func (m *meshTracer) RejectMessage(msg *pubsub.Message, reason string) {
	m.log.Trace().Str("from", msg.ReceivedFrom.String()).Str("reason", reason).Msg("gossip message dropped")
}

func (m *meshTracer) DuplicateMessage(msg *pubsub.Message) {
	m.log.Trace().Str("from", msg.ReceivedFrom.String()).Msg("gossip message duplicate")
}

func (m *meshTracer) UndeliverableMessage(msg *pubsub.Message) {
	m.log.Trace().Str("from", msg.ReceivedFrom.String()).Msg("gossip message undeliverable")
}

func (m *meshTracer) RecvRPC(r *pubsub.RPC) {
	if len(r.Publish) > 0 {
		m.log.Trace().Int("msgs", len(r.Publish)).Msg("gossip rpc received")
	}
}

func (m *meshTracer) SendRPC(r *pubsub.RPC, p peer.ID) {
	if len(r.Publish) > 0 {
		m.log.Trace().Int("msgs", len(r.Publish)).Str("to", p.String()).Msg("gossip rpc sent")
	}
}

func (m *meshTracer) DropRPC(r *pubsub.RPC, p peer.ID) {
	m.log.Trace().Int("msgs", len(r.Publish)).Str("to", p.String()).Msg("gossip rpc dropped")
}
