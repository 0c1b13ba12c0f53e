package node

import (
	"context"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"time"

	"github.com/rs/zerolog"

	"github.com/gradientcoin/gradientcoin/chain"
	"github.com/gradientcoin/gradientcoin/chain/state"
)

// loop is the trainer-miner loop: for every tip, train (K local steps and
// a contribution), build a template, mine it, and publish a solved block.
// A new tip cancels the round's context (onTip), which stops training
// between steps and mining at once.
func (n *Node) loop(ctx context.Context) {
	backoff := time.Duration(0)
	defer n.turn.give()
	for ctx.Err() == nil {
		tip := n.bc.Tip()
		if mh := n.maxHeight.Load(); mh > 0 && tip.Height >= mh {
			n.turn.give()
			n.waitTip(ctx, time.Second)
			continue
		}
		if n.net != nil && n.net.Syncing() || n.belowSnapshot(tip.Height) {
			n.turn.give()
			n.waitTip(ctx, 500*time.Millisecond)
			continue
		}
		if lt := n.lastTrained.Load(); !n.cfg.Mine && lt != nil && *lt == tip.Hash {
			n.turn.give()
			n.waitTip(ctx, time.Second) // trained on this tip already
			continue
		}
		if n.tr != nil {
			if n.turn.take(ctx) != nil {
				return
			}
			tip = n.bc.Tip() // the tip may have moved while we waited
		}
		rctx, cancel := context.WithCancel(ctx)
		n.roundMu.Lock()
		n.roundCancel, n.roundParent = cancel, tip.Hash
		n.roundMu.Unlock()
		if n.bc.Tip().Hash != tip.Hash { // a tip arrived in between
			cancel()
			continue
		}
		err := n.round(rctx, tip)
		n.roundMu.Lock()
		n.roundCancel = nil
		n.roundMu.Unlock()
		stale := rctx.Err() != nil
		cancel()
		switch {
		case ctx.Err() != nil:
			return
		case err == nil:
			backoff = 0
		case stale || errors.Is(err, context.Canceled):
			// a new tip: start over at once (keeping our turn)
		default:
			n.turn.give()
			backoff = min(max(2*backoff, 250*time.Millisecond), 10*time.Second)
			n.log.Warn().Err(err).Uint64("height", tip.Height+1).Dur("retry_in", backoff).Msg("mining round failed")
			n.waitTip(ctx, backoff)
		}
	}
}

// belowSnapshot reports whether the chain waits for an imported weights
// snapshot above height to connect: the weights after the blocks below it
// are known only by a replay from genesis, so neither training nor the
// loss evaluation starts there.
func (n *Node) belowSnapshot(height uint64) bool {
	_, h, ok := n.bc.PendingSnapshot()
	return ok && height < h
}

// waitTip waits for a new tip, ctx or d.
func (n *Node) waitTip(ctx context.Context, d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
	case <-n.tipCh:
	case <-t.C:
	}
}

// round trains and mines one block on tip. It returns nil when a block
// was mined and processed, or when there is nothing to do but wait for
// the next tip (training without mining).
func (n *Node) round(ctx context.Context, tip chain.ChainTip) error {
	w, err := n.bc.WeightsAt(tip.Hash)
	if err != nil {
		return err
	}
	var contribs [][]byte
	if n.tr != nil {
		n.training.Store(true)
		raw, loss, err := n.tr.contribute(ctx, tip.Hash, w)
		n.training.Store(false)
		if err != nil {
			return err
		}
		n.turn.give() // our steps are done: the next node's turn
		n.m.contributions.Add(1)
		n.pool.addOwn(tip.Hash, n.tr.pub, raw)
		n.log.Debug().Uint64("height", tip.Height+1).Float64("train_loss", loss).Int("bytes", len(raw)).Msg("contribution ready")
		if n.cfg.Pooled && n.net != nil {
			if err := n.net.AnnounceContribution(ctx, tip.Hash, raw); err != nil && ctx.Err() == nil {
				n.log.Debug().Err(err).Msg("announce contribution")
			}
		}
		contribs = append(contribs, raw)
	}
	if !n.cfg.Mine {
		n.lastTrained.Store(&tip.Hash) // wait for the next tip
		return nil
	}
	own := len(contribs)
	if n.cfg.Pooled && own < n.p.MaxContributions {
		skip := map[[32]byte]bool{}
		if n.tr != nil {
			skip[n.tr.pub] = true
		}
		contribs = append(contribs, n.pool.forParent(tip.Hash, n.p.MaxContributions-own, skip)...)
	}
	blk, err := n.template(tip, w, contribs)
	if err != nil && len(contribs) > own {
		n.log.Warn().Err(err).Int("pooled", len(contribs)-own).Msg("template with pooled contributions failed; mining with our own only")
		blk, err = n.template(tip, w, contribs[:own])
	}
	if err != nil {
		return err
	}
	start := time.Now()
	n.m.miningSince.Store(start.UnixNano())
	n.mining.Store(true)
	hdr, err := n.mnr.Mine(ctx, blk.Header)
	n.mining.Store(false)
	took := time.Since(start)
	n.m.mineNanos.Add(uint64(took))
	n.m.miningSince.Store(0)
	if err != nil {
		return err
	}
	blk.Header = hdr
	hash := blk.Hash()
	res, err := n.bc.ProcessBlock(blk, n.cfg.now().Unix())
	if err != nil {
		if errors.Is(err, chain.ErrTimeTooOld) || errors.Is(err, chain.ErrBadHeight) {
			return nil // the tip moved while we solved; start over
		}
		return fmt.Errorf("node: our block %s rejected: %w", hash, err)
	}
	n.m.blocksMined.Add(1)
	n.blockLogEvent().Uint64("height", hdr.Height).Str("hash", hash.String()).Int("txs", len(blk.Txs)-1).
		Int("contributions", len(blk.Contributions)).Int64("mine_ms", took.Milliseconds()).
		Bool("main_chain", res.MainChain).Msg("mined block")
	if n.net != nil {
		if err := n.net.PublishBlock(context.WithoutCancel(ctx), blk); err != nil {
			n.log.Debug().Err(err).Str("hash", hash.String()).Msg("publish block")
		}
	}
	return nil
}

func (n *Node) hashes() uint64 {
	if n.dev.hashes != nil {
		return n.dev.hashes()
	}
	return 0
}

// blockLogEvery is the least time between two "block" lines at info
// level: faster blocks (a devnet) are logged at debug, and the progress
// line says where the chain is.
const blockLogEvery = 10 * time.Second

// blockLogEvent returns the level for a block line: info at most once per
// blockLogEvery, debug otherwise.
func (n *Node) blockLogEvent() *zerolog.Event {
	now := time.Now().UnixNano()
	last := n.lastBlockLog.Load()
	if now-last >= int64(blockLogEvery) && n.lastBlockLog.CompareAndSwap(last, now) {
		return n.log.Info()
	}
	return n.log.Debug()
}

// noteConnected logs a connected block of another miner (this node's own
// were logged as "mined block"): at info at most every blockLogEvery,
// else (and while syncing) at debug.
func (n *Node) noteConnected(b *chain.Block) {
	if len(b.Txs) > 0 && len(b.Txs[0].Outputs) > 0 && n.wal.IsCoinbaseAddress(b.Header.Height, b.Txs[0].Outputs[0].Address) {
		return
	}
	var ev *zerolog.Event
	if n.net != nil && n.net.Syncing() {
		ev = n.log.Debug()
	} else {
		ev = n.blockLogEvent()
	}
	ev.Uint64("height", b.Header.Height).Str("hash", b.Hash().String()).
		Int("txs", len(b.Txs)-1).Int("contributions", len(b.Contributions)).Msg("block connected")
}

// coinbasePayload is height (u64 LE) ‖ an 8-byte extra nonce.
func coinbasePayload(height uint64) []byte {
	p := binary.LittleEndian.AppendUint64(make([]byte, 0, 16), height)
	var x [8]byte
	rand.Read(x[:])
	return append(p, x[:]...)
}

// template builds a block on tip (whose weights are w) with the given
// contributions: the coinbase paying subsidy + fees to this node's wallet,
// mempool transactions by fee rate within the size budget, the
// contributions, the state root of Apply(w, contributions), the required
// bits and a timestamp after the median time past; it is checked with
// CheckBlockTemplate.
func (n *Node) template(tip chain.ChainTip, w []float32, contribs [][]byte) (*chain.Block, error) {
	p := n.p
	height := tip.Height + 1
	addr := n.wal.CoinbaseAddress(height) // the wallet's coinbase branch: nothing to write
	cb := &chain.Tx{
		Version: chain.TxVersion,
		Inputs:  []chain.TxIn{{PrevOut: chain.OutPoint{TxID: chain.ZeroHash, Index: chain.CoinbaseIndex}}},
		Outputs: []chain.TxOut{{Value: p.Subsidy(height), Address: addr}},
		Payload: coinbasePayload(height),
	}
	blk := &chain.Block{Txs: []*chain.Tx{cb}, Contributions: contribs}
	budget := p.MaxBlockSize - blk.SerializeSize() - 64
	if budget > 0 {
		txs, fees := n.mp.Template(budget)
		blk.Txs = append(blk.Txs, txs...)
		cb.Outputs[0].Value += fees
	}
	now := n.cfg.now().Unix()
	ts := max(now, tip.MedianTime+1)
	blk.Header = chain.Header{
		Version:      chain.HeaderVersion,
		Height:       height,
		PrevBlock:    tip.Hash,
		TxRoot:       chain.CalcTxRoot(blk.Txs),
		GradientRoot: chain.CalcGradientRoot(contribs),
		Timestamp:    ts,
		Bits:         tip.NextBits,
	}
	blk.Header.StateRoot = tip.Header.StateRoot
	if len(contribs) > 0 {
		root, err := templateRoot(n.dev.backend, p, w, tip.Hash, contribs)
		if err != nil {
			return nil, fmt.Errorf("node: template: applying contributions: %w", err)
		}
		blk.Header.StateRoot = root
	}
	err := n.bc.CheckBlockTemplate(blk, now)
	if err != nil && len(contribs) > 0 && n.dev.backend != nil && errors.Is(err, chain.ErrBadStateRoot) {
		// CheckBlockTemplate applies on the CPU reference: the device
		// computed other weights. Never mine its root; use the CPU's.
		root, rerr := templateRoot(nil, p, w, tip.Hash, contribs)
		if rerr != nil {
			return nil, fmt.Errorf("node: template: applying contributions: %w", rerr)
		}
		blk.Header.StateRoot = root
		err = n.bc.CheckBlockTemplate(blk, now)
	}
	if err != nil {
		return nil, fmt.Errorf("node: template at height %d: %w", height, err)
	}
	return blk, nil
}

// templateRoot returns the state root after applying contribs to a copy
// of w (the weights at parent), de-sketching on backend and, if that
// fails (a device error is not the contributions' fault), on the CPU
// reference.
func templateRoot(backend state.Backend, p *chain.Params, w []float32, parent chain.Hash, contribs [][]byte) (chain.Hash, error) {
	wn := append([]float32(nil), w...)
	err := state.ApplyWith(backend, p.Training, wn, [32]byte(parent), contribs)
	if err != nil && backend != nil {
		wn = append(wn[:0], w...)
		err = state.Apply(p.Training, wn, [32]byte(parent), contribs)
	}
	if err != nil {
		return chain.Hash{}, err
	}
	return chain.Hash(p.Training.Root(wn)), nil
}

// progressLoop samples the hash rate every rateEvery (over the last
// rateWindow) and logs one progress line every ProgressInterval.
func (n *Node) progressLoop(ctx context.Context) {
	every := n.cfg.ProgressInterval
	if every <= 0 {
		every = 10 * time.Second
	}
	const rateEvery, rateWindow = time.Second, 10
	t := time.NewTicker(rateEvery)
	defer t.Stop()
	type sample struct {
		t    time.Time
		h    uint64
		mine time.Duration // time spent mining so far
	}
	samples := []sample{{time.Now(), n.hashes(), n.m.mineTime(time.Now())}}
	lastLog := time.Now()
	for {
		select {
		case <-ctx.Done():
			return
		case now := <-t.C:
			samples = append(samples, sample{now, n.hashes(), n.m.mineTime(now)})
			if len(samples) > rateWindow+1 {
				samples = samples[1:]
			}
			first, last := samples[0], samples[len(samples)-1]
			if dt := last.t.Sub(first.t).Seconds(); dt > 0 {
				n.m.setRate(float64(last.h-first.h) / dt)
			}
			// The solver's rate over the window's mining time; where the
			// window holds too little of it (an easy devnet block takes
			// milliseconds), over all mining time so far.
			if dm := (last.mine - first.mine).Seconds(); dm > 0.1 {
				n.m.setMiningRate(float64(last.h-first.h) / dm)
			} else if total := last.mine.Seconds(); total > 0 {
				n.m.setMiningRate(float64(last.h) / total)
			}
			if now.Sub(lastLog) < every {
				continue
			}
			lastLog = now
			s := n.Status()
			ev := n.log.Info().Uint64("height", s.Height).Str("tip", short(s.Tip)).Int("peers", s.Peers).
				Float64("hashrate", s.Hashrate).Float64("mining_hashrate", s.MiningHashrate).Bool("syncing", s.Syncing).Int("mempool", s.MempoolTxs)
			if s.Loss != nil {
				ev = ev.Float64("loss", *s.Loss)
			}
			ev.Msg("progress")
		}
	}
}

func short(h chain.Hash) string { return h.String()[:16] }
