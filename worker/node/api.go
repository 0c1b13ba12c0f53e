package node

import (
	"context"
	"fmt"
	"math"
	"sync/atomic"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"
	ma "github.com/multiformats/go-multiaddr"

	"github.com/gradientcoin/gradientcoin/chain"
	"github.com/gradientcoin/gradientcoin/chain/mempool"
	"github.com/gradientcoin/gradientcoin/chain/state"
	"github.com/gradientcoin/gradientcoin/chain/wallet"
	"github.com/gradientcoin/gradientcoin/worker/model"
	"github.com/gradientcoin/gradientcoin/worker/train"
)

// Status is a snapshot of the node for status displays and the API.
type Status struct {
	Network   string     `json:"network"`
	Genesis   chain.Hash `json:"genesis"`
	Height    uint64     `json:"height"`
	Tip       chain.Hash `json:"tip"`
	TipTime   int64      `json:"tip_time"` // the tip's header timestamp (unix s)
	StateRoot chain.Hash `json:"state_root"`
	Peers     int        `json:"peers"`
	Syncing   bool       `json:"syncing"`
	// Hashrate is the effective hash rate: hashes over the last ~10 s of
	// wall time (training and waiting included), in H/s.
	Hashrate float64 `json:"hashrate"`
	// MiningHashrate is the solver's rate while it mines: the same hashes
	// over the time spent mining in that window (H/s; the last known
	// value while the node does not mine).
	MiningHashrate float64 `json:"mining_hashrate"`
	// Loss is the latest validation loss of the model (at LossHeight);
	// nil until the first evaluation.
	Loss       *float64 `json:"loss"`
	LossHeight uint64   `json:"loss_height"`
	Balance    uint64   `json:"balance"`  // spendable atoms
	Immature   uint64   `json:"immature"` // immature coinbases and coins spent by pending payments
	Mining     bool     `json:"mining"`   // a template is being mined right now
	Training   bool     `json:"training"` // local steps are running right now
	MineOn     bool     `json:"mine_enabled"`
	TrainOn    bool     `json:"train_enabled"`
	SyncOn     bool     `json:"sync_enabled"`
	Device     string   `json:"device"`
	Shard      string   `json:"shard,omitempty"` // "index/count" of the training data
	PeerID     string   `json:"peer_id,omitempty"`
	Addrs      []string `json:"addrs,omitempty"`
	MempoolTxs int      `json:"mempool_txs"`
	Uptime     float64  `json:"uptime_seconds"`
	Version    string   `json:"version"`          // Config.Version
	Commit     string   `json:"commit,omitempty"` // Config.Commit
	CUDA       bool     `json:"cuda_build"`
	DataDir    string   `json:"datadir"`
}

// Status returns the node's current status.
func (n *Node) Status() Status {
	tip := n.bc.Tip()
	s := Status{
		Network:   n.p.Name,
		Genesis:   n.p.GenesisHash,
		Height:    tip.Height,
		Tip:       tip.Hash,
		TipTime:   tip.Header.Timestamp,
		StateRoot: tip.Header.StateRoot,
		Hashrate:  n.m.rate(),
		Mining:    n.mining.Load(),

		MiningHashrate: n.m.miningRate(),
		Training:       n.training.Load(),
		MineOn:         n.cfg.Mine,
		TrainOn:        n.cfg.Train,
		SyncOn:         n.cfg.Sync,
		Device:         n.dev.desc,
		Uptime:         time.Since(n.started).Seconds(),
		Version:        n.cfg.Version,
		Commit:         n.cfg.Commit,
		CUDA:           CUDABuild,
		DataDir:        n.layout.Dir,
	}
	if s.Version == "" {
		s.Version = "devel"
	}
	if n.tr != nil {
		s.Shard = n.tr.shard
	}
	if lp, ok := n.ev.latest(); ok {
		l := lp.Loss
		s.Loss, s.LossHeight = &l, lp.Height
	}
	if !n.closed.Load() {
		s.MempoolTxs = n.mp.Count()
		s.Balance, s.Immature, _ = n.Balance()
	}
	if n.net != nil && !n.closed.Load() {
		s.Peers = len(n.net.Peers())
		s.Syncing = n.net.Syncing()
		s.PeerID = n.net.ID().String()
		s.Addrs = n.Addrs()
	}
	return s
}

// LossHistory returns the validation loss after each tip the node has
// evaluated since it started, by height (a reorg replaces the points
// above the fork).
func (n *Node) LossHistory() []LossPoint { return n.ev.history() }

// LatestLoss returns the newest point of LossHistory (false before the
// first evaluation).
func (n *Node) LatestLoss() (LossPoint, bool) { return n.ev.latest() }

// EvalLoss returns the validation loss of weights w on the node's fixed
// validation batches (the measure of LossHistory).
func (n *Node) EvalLoss(w []float32) (float64, error) {
	if len(w) != n.p.Training.ParamCount() {
		return 0, errorf(ErrBadRequest, "%d weights, the model has %d", len(w), n.p.Training.ParamCount())
	}
	return n.ev.loss(context.Background(), w)
}

// BlockSummary describes one main-chain block.
type BlockSummary struct {
	Height        uint64     `json:"height"`
	Hash          chain.Hash `json:"hash"`
	Time          int64      `json:"time"` // header timestamp (unix s)
	Txs           int        `json:"txs"`  // transactions, coinbase excluded
	Contributions int        `json:"contributions"`
	Size          int        `json:"size"`
	Miner         string     `json:"miner"`  // address of the coinbase's first output
	Reward        uint64     `json:"reward"` // coinbase total (subsidy + fees)
	Mine          bool       `json:"mine"`   // the coinbase pays this node's wallet
	StateRoot     chain.Hash `json:"state_root"`
}

// RecentBlocks returns up to k main-chain blocks, the tip first.
func (n *Node) RecentBlocks(k int) []BlockSummary {
	tip := n.bc.Tip()
	var out []BlockSummary
	for h := int64(tip.Height); h >= 0 && len(out) < k; h-- {
		b, err := n.bc.BlockByHeight(uint64(h))
		if err != nil {
			break
		}
		out = append(out, n.summarize(b))
	}
	return out
}

func (n *Node) summarize(b *chain.Block) BlockSummary {
	s := BlockSummary{
		Height: b.Header.Height, Hash: b.Hash(), Time: b.Header.Timestamp,
		Txs: len(b.Txs) - 1, Contributions: len(b.Contributions), Size: b.SerializeSize(),
		StateRoot: b.Header.StateRoot,
	}
	if len(b.Txs) > 0 {
		cb := b.Txs[0]
		for _, o := range cb.Outputs {
			s.Reward += o.Value
		}
		if len(cb.Outputs) > 0 {
			a := cb.Outputs[0].Address
			s.Miner = chain.EncodeAddress(n.p.AddressPrefix, a)
			s.Mine = n.wal.IsCoinbaseAddress(s.Height, a) || n.wal.Owns(a)
		}
	}
	return s
}

// Chain returns the block chain (queries are safe concurrently).
func (n *Node) Chain() *chain.BlockChain { return n.bc }

// Mempool returns the transaction pool.
func (n *Node) Mempool() *mempool.Pool { return n.mp }

// Wallet returns the node's wallet.
func (n *Node) Wallet() *wallet.Wallet { return n.wal }

// Params returns the network parameters.
func (n *Node) Params() *chain.Params { return n.p }

// NewAddress hands out a fresh receiving address (as a string).
func (n *Node) NewAddress() (string, error) {
	_, s, err := n.wal.NewAddress()
	return s, err
}

// Balance returns the wallet's spendable and immature atoms at the tip
// (immature: coinbases younger than the maturity and outputs spent by
// payments still in the mempool).
func (n *Node) Balance() (spendable, immature uint64, err error) {
	return n.wal.Balance(n.bc, n.mp)
}

// Send pays amount atoms to the address string to at feeRate atoms per
// byte (0: the mempool's minimum), with change to a fresh address: it
// validates the address, selects and signs coins, adds the transaction to
// the mempool and gossips it. An overdraft is an error matching
// chain.ErrInsufficientFunds that names what was spendable and what was
// needed; a bad address matches chain.ErrBadAddress. On failure nothing is
// sent and the wallet's coins stay spendable.
func (n *Node) Send(to string, amount, feeRate uint64) (chain.Hash, error) {
	if n.closed.Load() {
		return chain.Hash{}, ErrClosed
	}
	addr, err := chain.DecodeAddress(n.p.AddressPrefix, to)
	if err != nil {
		return chain.Hash{}, err
	}
	if amount == 0 {
		return chain.Hash{}, errorf(ErrBadRequest, "amount is zero")
	}
	if feeRate == 0 {
		feeRate = mempool.DefaultMinFeeRate
	}
	tx, err := n.wal.Pay(n.bc, n.mp, addr, amount, feeRate)
	if err != nil {
		return chain.Hash{}, err
	}
	id := tx.TxID()
	if _, err := n.mp.Add(tx); err != nil {
		n.wal.Release(id)
		return chain.Hash{}, fmt.Errorf("node: payment %s refused by the mempool: %w", id, err)
	}
	n.m.txsSent.Add(1)
	// The wallet keeps the payment until a block includes it, so that a
	// restart puts it back in the mempool and sends it again.
	if err := n.wal.AddUnconfirmed(tx); err != nil {
		n.log.Warn().Err(err).Str("txid", id.String()).Msg("payment sent, but not recorded in the wallet file (a restart before it confirms forgets it)")
	}
	if n.net != nil {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := n.net.PublishTx(ctx, tx); err != nil {
			n.log.Warn().Err(err).Str("txid", id.String()).Msg("gossip payment (it stays in the mempool)")
		}
	}
	n.log.Info().Str("txid", id.String()).Str("to", to).Str("amount_coins", wallet.FormatCoins(amount)).Msg("payment sent")
	return id, nil
}

// WeightsAt returns the model weights after the main-chain block at
// height, and that block's hash.
func (n *Node) WeightsAt(height uint64) ([]float32, chain.Hash, error) {
	h, ok := n.bc.HashByHeight(height)
	if !ok {
		return nil, chain.Hash{}, errorf(ErrBadRequest, "height %d is above the tip %d", height, n.bc.Tip().Height)
	}
	w, err := n.bc.WeightsAt(h)
	return w, h, err
}

// ModelConfig returns the network's model shape (with Layout, the names
// and shapes of the tensors in the flat weight vector).
func (n *Node) ModelConfig() state.ModelConfig { return n.p.Training.Model }

// GenerateOptions control Generate.
type GenerateOptions struct {
	// Height selects the model after that main-chain block; nil: the tip.
	Height *uint64
	// Temperature ≤ 0 decodes greedily; TopK > 0 keeps the TopK most
	// likely bytes; Seed fixes the draws.
	Temperature float32
	TopK        int
	Seed        uint64
}

// Generate continues prompt by maxBytes bytes with the model at the tip
// (or opts.Height).
func (n *Node) Generate(prompt []byte, maxBytes int, opts GenerateOptions) ([]byte, error) {
	if maxBytes < 0 || maxBytes > 1<<20 {
		return nil, errorf(ErrBadRequest, "length %d outside [0, %d]", maxBytes, 1<<20)
	}
	var (
		w   []float32
		err error
	)
	if opts.Height != nil {
		w, _, err = n.WeightsAt(*opts.Height)
	} else {
		w, err = n.bc.WeightsAt(n.bc.Tip().Hash)
	}
	if err != nil {
		return nil, err
	}
	m, err := model.NewGPT(n.p.Training.Model, 1, n.p.Training.Model.Context, false)
	if err != nil {
		return nil, err
	}
	defer m.Close()
	return train.Generate(m, w, prompt, maxBytes, train.SampleConfig{Temperature: opts.Temperature, TopK: opts.TopK, Seed: opts.Seed})
}

// PeerID returns the node's libp2p peer id ("" when offline).
func (n *Node) PeerID() string {
	if n.net == nil {
		return ""
	}
	return n.net.ID().String()
}

// Addrs returns the node's p2p listen addresses with its /p2p/<id>
// suffix (dialable multiaddrs for Bootstrap or Connect); nil when offline.
func (n *Node) Addrs() []string {
	if n.net == nil || n.closed.Load() {
		return nil
	}
	var out []string
	for _, a := range n.net.Addrs() { // already end in /p2p/<id>
		out = append(out, a.String())
	}
	return out
}

// Connect dials a peer given a multiaddr with a /p2p/<id> suffix.
func (n *Node) Connect(ctx context.Context, addr string) error {
	if n.net == nil {
		return errorf(ErrBadRequest, "node is offline (Sync off)")
	}
	m, err := ma.NewMultiaddr(addr)
	if err != nil {
		return errorf(ErrBadRequest, "address %q: %v", addr, err)
	}
	pi, err := peer.AddrInfoFromP2pAddr(m)
	if err != nil {
		return errorf(ErrBadRequest, "address %q: %v", addr, err)
	}
	return n.net.Connect(ctx, *pi)
}

// counters are the node's metrics (see MetricsSnapshot).
type counters struct {
	blocksConnected, blocksMined, reorgs atomic.Uint64
	trainSteps, tokens, contributions    atomic.Uint64
	txsSent                              atomic.Uint64
	stepNanos                            atomic.Uint64
	lossBits                             atomic.Uint64
	lossKnown                            atomic.Bool
	rateBits, miningRateBits             atomic.Uint64
	mineNanos                            atomic.Uint64 // time spent in finished nonce searches
	miningSince                          atomic.Int64  // unix ns when the current search began; 0: none
}

func (c *counters) setRate(r float64)       { c.rateBits.Store(math.Float64bits(r)) }
func (c *counters) rate() float64           { return math.Float64frombits(c.rateBits.Load()) }
func (c *counters) setMiningRate(r float64) { c.miningRateBits.Store(math.Float64bits(r)) }
func (c *counters) miningRate() float64     { return math.Float64frombits(c.miningRateBits.Load()) }

// mineTime is the time spent mining up to now (the search in progress
// included).
func (c *counters) mineTime(now time.Time) time.Duration {
	d := time.Duration(c.mineNanos.Load())
	if s := c.miningSince.Load(); s != 0 {
		d += max(now.Sub(time.Unix(0, s)), 0)
	}
	return d
}

// MetricsSnapshot holds the node's counters and gauges (the HTTP API
// exposes them in Prometheus form; suggested names in brackets).
type MetricsSnapshot struct {
	BlocksConnected  uint64  `json:"blocks_connected_total"`   // gradientcoin_blocks_connected_total
	BlocksMined      uint64  `json:"blocks_mined_total"`       // gradientcoin_blocks_mined_total
	Reorgs           uint64  `json:"reorgs_total"`             // gradientcoin_reorgs_total
	Hashes           uint64  `json:"hashes_total"`             // gradientcoin_hashes_total
	TrainSteps       uint64  `json:"train_steps_total"`        // gradientcoin_train_steps_total
	TokensTrained    uint64  `json:"tokens_trained_total"`     // gradientcoin_tokens_trained_total
	Contributions    uint64  `json:"contributions_total"`      // gradientcoin_contributions_total (made by this node)
	TxsSent          uint64  `json:"txs_sent_total"`           // gradientcoin_wallet_txs_sent_total
	BytesSent        uint64  `json:"p2p_sent_bytes_total"`     // gradientcoin_p2p_sent_bytes_total
	BytesReceived    uint64  `json:"p2p_received_bytes_total"` // gradientcoin_p2p_received_bytes_total
	GossipAccepted   uint64  `json:"gossip_accepted_total"`    // gradientcoin_gossip_messages_total{result="accept"}
	GossipRejected   uint64  `json:"gossip_rejected_total"`    // ...{result="reject"}
	GossipIgnored    uint64  `json:"gossip_ignored_total"`     // ...{result="ignore"}
	Peers            int     `json:"peers"`                    // gradientcoin_peers
	Bans             int     `json:"bans"`                     // gradientcoin_peers_banned
	MempoolTxs       int     `json:"mempool_txs"`              // gradientcoin_mempool_txs
	MempoolBytes     int     `json:"mempool_bytes"`            // gradientcoin_mempool_bytes
	ContribPool      int     `json:"contribution_pool"`        // gradientcoin_contribution_pool
	Orphans          int     `json:"orphans"`                  // gradientcoin_orphan_blocks
	Height           uint64  `json:"height"`                   // gradientcoin_height
	Supply           uint64  `json:"supply_atoms"`             // gradientcoin_supply_atoms
	Loss             float64 `json:"loss"`                     // gradientcoin_loss (only when LossKnown)
	LossKnown        bool    `json:"loss_known"`               //
	TrainStepSeconds float64 `json:"train_step_seconds"`       // gradientcoin_train_step_seconds (last step)
	Hashrate         float64 `json:"hashrate"`                 // gradientcoin_hashrate (H/s)
	Mining           bool    `json:"mining"`                   // gradientcoin_mining (0/1)
	Training         bool    `json:"training"`                 // gradientcoin_training (0/1)
	Syncing          bool    `json:"syncing"`                  // gradientcoin_syncing (0/1)
	UptimeSeconds    float64 `json:"uptime_seconds"`           // gradientcoin_uptime_seconds
}

// Metrics returns the node's counters and gauges.
func (n *Node) Metrics() MetricsSnapshot {
	tip := n.bc.Tip()
	s := MetricsSnapshot{
		BlocksConnected:  n.m.blocksConnected.Load(),
		BlocksMined:      n.m.blocksMined.Load(),
		Reorgs:           n.m.reorgs.Load(),
		Hashes:           n.hashes(),
		TrainSteps:       n.m.trainSteps.Load(),
		TokensTrained:    n.m.tokens.Load(),
		Contributions:    n.m.contributions.Load(),
		TxsSent:          n.m.txsSent.Load(),
		MempoolTxs:       n.mp.Count(),
		MempoolBytes:     n.mp.Bytes(),
		ContribPool:      n.pool.len(),
		Orphans:          n.bc.OrphanCount(),
		Height:           tip.Height,
		Supply:           tip.Supply,
		LossKnown:        n.m.lossKnown.Load(),
		TrainStepSeconds: time.Duration(n.m.stepNanos.Load()).Seconds(),
		Hashrate:         n.m.rate(),
		Mining:           n.mining.Load(),
		Training:         n.training.Load(),
		UptimeSeconds:    time.Since(n.started).Seconds(),
	}
	if s.LossKnown {
		s.Loss = math.Float64frombits(n.m.lossBits.Load())
	}
	if n.net != nil && !n.closed.Load() {
		st := n.net.Stats()
		s.Peers, s.Bans = st.Peers, st.Bans
		s.BytesSent, s.BytesReceived = uint64(max(st.BytesOut, 0)), uint64(max(st.BytesIn, 0))
		s.GossipAccepted, s.GossipRejected, s.GossipIgnored = uint64(st.GossipAccepted), uint64(st.GossipRejected), uint64(st.GossipIgnored)
		s.Syncing = n.net.Syncing()
	}
	return s
}
