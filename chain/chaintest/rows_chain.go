package chaintest

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"math/rand/v2"

	"github.com/gradientcoin/gradientcoin/chain"
)

// ---- F: chain selection, reorgs, supply -------------------------------

func rowsChain(s *Script, pool *outPool, o Options) {
	g := s.G

	// 23 / F2: equal work arriving second does not move the tip.
	tip := s.ExpectedTip()
	parent := g.Name(g.Block(tip).Header.PrevBlock)
	g.SetTip(parent)
	s.Side("23 equal-work fork arriving second: no reorg", g.NextBlock("r23", nil))
	g.SetTip(parent)
	s.Side("F2 a second equal-work sibling: still the first-seen tip", g.NextBlock("f2", []SpendableOut{pool.next()}))
	g.SetTip("r23")
	s.Accept("24 the fork becomes longer: reorg", g.NextBlock("r24a", nil))
	g.SetTip(tip)
	s.Side("24 the old branch catches up (equal work): no reorg", g.NextBlock("r24b", nil))
	s.Accept("24 the old branch becomes longer: reorg back", g.NextBlock("r24c", nil))

	// F1: a branch of 3 blocks with more work than one of 4.
	base := s.ExpectedTip()
	for i := 1; i <= 4; i++ {
		s.Accept("F1 setup: main block on schedule", g.NextBlock(fmt.Sprintf("f1m%d", i), nil))
	}
	g.SetTip(base)
	s.Side("F1 fork block 1 s after its parent (less work so far)", g.NextBlock("f1a", nil, TimestampDelta(1)))
	s.Side("F1 second fork block: harder target, still less work", g.NextBlock("f1b", nil, TimestampDelta(1)))
	s.Accept("F1 third fork block: 3 blocks with more work than 4 → reorg (most work, not height)", g.NextBlock("f1c", nil, TimestampDelta(1)))
	s.Do("F1 the tip is lower than the abandoned branch", func(h *Harness) error {
		if got, old := h.Chain.Tip().Height, g.Block("f1m4").Header.Height; got >= old {
			return fmt.Errorf("tip height %d, abandoned branch %d", got, old)
		}
		return nil
	})

	// 25 and F4: a reorg returns spent outputs and transactions.
	o25 := pool.next()
	t25 := g.SignedTx([]SpendableOut{o25}, []chain.TxOut{{Value: o25.Value - 1000, Address: g.Addr}})
	pre := s.ExpectedTip()
	s.Do("F4 setup: the tx enters the mempool", func(h *Harness) error {
		mp := h.Mempool()
		if mp == nil {
			return nil
		}
		_, err := mp.Add(t25)
		return err
	})
	s.Accept("25 main block spending an output", g.NextBlock("r25a", nil, Txs(t25)))
	s.Do("F4 mined tx leaves the mempool", func(h *Harness) error {
		if mp := h.Mempool(); mp != nil && mp.Has(t25.TxID()) {
			return errors.New("mined tx still in the mempool")
		}
		return nil
	})
	g.SetTip(pre)
	s.Side("25 fork block", g.NextBlock("r25f1", nil))
	s.Accept("25 fork becomes longer: the block spending it is disconnected", g.NextBlock("r25f2", nil))
	s.Do("25 disconnect restored the spent output and removed the created one", func(h *Harness) error {
		got, err := h.Chain.FetchUtxos([]chain.OutPoint{o25.OutPoint, {TxID: t25.TxID(), Index: 0}})
		if err != nil {
			return err
		}
		if _, ok := got[o25.OutPoint]; !ok {
			return errors.New("spent output not restored")
		}
		if len(got) != 1 {
			return errors.New("output created by the disconnected block still unspent")
		}
		return nil
	})
	s.Do("F4 the disconnected block's tx is back in the mempool", func(h *Harness) error {
		if mp := h.Mempool(); mp != nil && !mp.Has(t25.TxID()) {
			return errors.New("tx of the disconnected block not in the mempool")
		}
		return nil
	})
	okIn := pool.next()
	invalid := g.NextBlock("r25bad", nil, Txs(g.PayTx(okIn, 10), g.PayTx(SpendableOut{OutPoint: chain.OutPoint{TxID: chain.TaggedHash("missing")}, Value: 10}, 1)))
	g.SetTip(s.ExpectedTip())
	s.Do("25 an invalid block (second tx bad) leaves the UTXO set hash unchanged", func(h *Harness) error {
		before, _, err := UtxoSetHash(h.Chain)
		if err != nil {
			return err
		}
		if _, err := h.Chain.ProcessBlock(invalid, invalid.Header.Timestamp); !errors.Is(err, chain.ErrMissingTxOut) {
			return fmt.Errorf("want ErrMissingTxOut, got %v", err)
		}
		after, _, err := UtxoSetHash(h.Chain)
		if err != nil {
			return err
		}
		if before != after {
			return errors.New("UTXO set changed")
		}
		return nil
	})
	e7in := pool.next()
	e7 := g.NextBlock("e7", nil, Txs(g.PayTx(e7in, 10)), CoinbaseExtra(1))
	g.SetTip(s.ExpectedTip())
	s.Do("E7 all-or-nothing: a block failing at its last check (coinbase) leaves its valid tx's input unspent", func(h *Harness) error {
		if _, err := h.Chain.ProcessBlock(e7, e7.Header.Timestamp); !errors.Is(err, chain.ErrBadCoinbaseValue) {
			return fmt.Errorf("want ErrBadCoinbaseValue, got %v", err)
		}
		got, err := h.Chain.FetchUtxos([]chain.OutPoint{e7in.OutPoint})
		if err != nil {
			return err
		}
		if _, ok := got[e7in.OutPoint]; !ok {
			return errors.New("input of the rejected block's tx was spent")
		}
		return nil
	})
	e7ok := g.NextBlock("e7ok", nil, Txs(g.PayTx(e7in, 10)))
	s.Accept("E7 the same tx in a valid block is accepted", e7ok)
	s.Do("E7 undo data of the connected block records the spent output", func(h *Harness) error {
		raw, err := h.Store.FetchUndo(e7ok.Hash())
		if err != nil {
			return err
		}
		undo, err := chain.DecodeUndo(raw)
		if err != nil {
			return err
		}
		if len(undo) != 1 || undo[0].OutPoint != e7in.OutPoint || undo[0].Entry.Value != e7in.Value {
			return fmt.Errorf("undo %+v", undo)
		}
		return nil
	})
	s.Accept("26 coinbase claiming less than allowed accepted (the rest is never created)", g.NextBlock("r26", nil, CoinbaseExtra(-12345)))

	// 24: deep reorg, both branches carrying transactions and contributions.
	n := max(o.DeepReorg, 100)
	fork := s.ExpectedTip()
	branch := func(prefix string, blocks int, fee uint64) {
		for i, blk := range g.Branch(prefix, blocks, fee, 9) {
			i++
			switch {
			case prefix == "deep-main-":
				s.Accept(fmt.Sprintf("24 deep reorg setup: main block %d/%d", i, blocks), blk)
			case i < blocks:
				s.Side(fmt.Sprintf("24 deep reorg setup: fork block %d/%d", i, blocks), blk)
			default:
				s.Accept(fmt.Sprintf("24 deep reorg: fork block %d/%d has more work: %d blocks disconnected", i, blocks, blocks-1), blk)
			}
		}
	}
	branch("deep-main-", n, 100)
	g.SetTip(fork)
	branch("deep-fork-", n+1, 333)
	s.Do("24 after the deep reorg the UTXO set, supply and weights equal a replay from genesis; 26 supply == Σ subsidies at every height", func(h *Harness) error {
		return h.CheckAgainstReplay()
	})
}

// Branch builds n blocks named prefix1..prefixN on the current tip, each
// carrying transactions: from the (CoinbaseMaturity+1)-th block on, one
// splits the coinbase of the block CoinbaseMaturity earlier into two
// outputs, and one spends an output of the previous split, so outputs are
// created and spent within the branch. Every contribEvery-th block (0:
// none) carries 1 or 2 contributions. The fee varies the branch's txids.
func (g *Generator) Branch(prefix string, n int, fee uint64, contribEvery int) []*chain.Block {
	m := int(g.Params.CoinbaseMaturity)
	var last *chain.Tx
	out := make([]*chain.Block, 0, n)
	for i := 1; i <= n; i++ {
		var opts []Opt
		var txs []*chain.Tx
		if i > m {
			cb := g.CoinbaseOut(fmt.Sprintf("%s%d", prefix, i-m), 0)
			half := cb.Value / 2
			split := g.SignedTx([]SpendableOut{cb}, []chain.TxOut{{Value: half, Address: g.Addr}, {Value: cb.Value - half - fee, Address: g.Addr}})
			txs = append(txs, split)
			if last != nil {
				txs = append(txs, g.PayTx(g.TxOut(last, 1), fee+1))
			}
			last = split
		}
		opts = append(opts, Txs(txs...))
		if contribEvery > 0 && i%contribEvery == 0 {
			opts = append(opts, Contributions(1+i%2))
		}
		out = append(out, g.NextBlock(fmt.Sprintf("%s%d", prefix, i), nil, opts...))
	}
	return out
}

// CheckAgainstReplay replays the main chain from genesis into a fresh
// in-memory chain, checking the supply invariant at every height, and
// compares the final UTXO set hash, supply and weights with the chain's.
func (h *Harness) CheckAgainstReplay() error {
	fresh, err := chain.New(chain.Config{Params: h.Params, Store: chain.NewMemStore()})
	if err != nil {
		return err
	}
	tip := h.Chain.Tip()
	for ht := uint64(1); ht <= tip.Height; ht++ {
		blk, err := h.Chain.BlockByHeight(ht)
		if err != nil {
			return err
		}
		res, err := fresh.ProcessBlock(blk, blk.Header.Timestamp)
		if err != nil || !res.MainChain {
			return fmt.Errorf("replay height %d: %+v %v", ht, res, err)
		}
		ft := fresh.Tip()
		if name := h.Gen.Name(ft.Hash); name != "" {
			if want := h.Params.SupplyAt(ht) - h.Gen.Burned(name); ft.Supply != want {
				return fmt.Errorf("replay height %d: supply %d, want Σ subsidies − unclaimed = %d", ht, ft.Supply, want)
			}
		}
	}
	a, _, err := UtxoSetHash(h.Chain)
	if err != nil {
		return err
	}
	b, _, err := UtxoSetHash(fresh)
	if err != nil {
		return err
	}
	if a != b {
		return fmt.Errorf("UTXO set hash %s, replay %s", a, b)
	}
	if x, y := h.Chain.Tip().Supply, fresh.Tip().Supply; x != y {
		return fmt.Errorf("supply %d, replay %d", x, y)
	}
	return sameWeights(h.Chain.Weights(), fresh.Weights())
}

// ---- 26–32 ------------------------------------------------------------

func rowsOther(s *Script, pool *outPool, o Options) {
	g := s.G
	p := g.Params

	// 27: orphans.
	a := g.NextBlock("r27a", nil)
	b := g.NextBlock("r27b", nil)
	g.SetTip(s.ExpectedTip())
	s.Orphan("27 orphan arrives before its parent", b)
	s.AcceptTip("27 the parent arrives: the orphan connects", a, "r27b")

	g.NextBlock("r27p", nil) // never sent
	var orphans []*chain.Block
	for i := 0; i <= chain.DefaultMaxOrphans; i++ {
		g.SetTip("r27p")
		orphans = append(orphans, g.NextBlock(fmt.Sprintf("r27o%d", i), nil))
	}
	g.SetTip(s.ExpectedTip())
	for i, ob := range orphans {
		s.Orphan(fmt.Sprintf("27 orphan %d of %d", i+1, len(orphans)), ob)
	}
	first := orphans[0].Hash()
	s.Do("27 101 orphans: the pool stays bounded, the oldest was evicted", func(h *Harness) error {
		if n := h.Chain.OrphanCount(); n != chain.DefaultMaxOrphans {
			return fmt.Errorf("orphan pool holds %d, want %d", n, chain.DefaultMaxOrphans)
		}
		if h.Chain.HaveBlock(first) {
			return errors.New("oldest orphan still held")
		}
		return nil
	})
	e1 := g.NextBlock("r27e1", nil)
	e2 := g.NextBlock("r27e2", nil)
	g.SetTip(s.ExpectedTip())
	s.OrphanNow("27 orphan that will expire", e2, e2.Header.Timestamp)
	s.AcceptNow("27 its parent arrives after the orphan expired: the orphan is gone", e1, e2.Header.Timestamp+chain.DefaultOrphanTTL+1)
	s.Do("27 expired orphans were dropped", func(h *Harness) error {
		if n := h.Chain.OrphanCount(); n != 0 {
			return fmt.Errorf("orphan pool holds %d after expiry", n)
		}
		return nil
	})

	// 28: non-canonical encodings, then the canonical one.
	b28 := g.NextBlock("r28", []SpendableOut{pool.next()})
	g.SetTip(s.ExpectedTip())
	raw := b28.Bytes()
	s.DecodeReject("28 valid block with a trailing byte rejected", append(bytes.Clone(raw), 0), chain.ErrTrailingData)
	lie := bytes.Clone(raw)
	binary.LittleEndian.PutUint32(lie[len(lie)-4:], 1) // contribution count 1 with no bytes for it
	s.DecodeReject("28 valid block with an inflated count rejected", lie, chain.ErrTruncated)
	s.AcceptRaw("28 the canonical encoding accepted", raw, "r28")

	s.Do("30 restart: tip, UTXO set, supply and weights survive a reopen (SIGKILL crashes: chain/store TestCrash)", func(h *Harness) error {
		tip := h.Chain.Tip()
		u1, _, err := UtxoSetHash(h.Chain)
		if err != nil {
			return err
		}
		w1 := h.Chain.Weights()
		if err := h.Reopen(); err != nil {
			return err
		}
		if t2 := h.Chain.Tip(); t2.Hash != tip.Hash || t2.Supply != tip.Supply {
			return fmt.Errorf("after reopen tip %s supply %d, before %s %d", t2.Hash, t2.Supply, tip.Hash, tip.Supply)
		}
		u2, _, err := UtxoSetHash(h.Chain)
		if err != nil {
			return err
		}
		if u1 != u2 {
			return errors.New("UTXO set changed across reopen")
		}
		return sameWeights(w1, h.Chain.Weights())
	})

	// 31: what the gossip validator does with ProcessBlock's outcome.
	tip := s.ExpectedTip()
	parent := g.Name(g.Block(tip).Header.PrevBlock)
	g.SetTip(parent)
	sibling := g.NextBlock("r31side", nil)
	g.SetTip(tip)
	badPoW := g.NextBlock("r31bad", nil, BadPoW())
	g.SetTip(tip)
	future := g.NextBlock("r31future", nil)
	g.SetTip(tip)
	unknownParent := g.NextBlock("r31p", nil)
	orphan := g.NextBlock("r31orphan", nil)
	g.SetTip(tip)
	s.Do("31 gossip: invalid → Reject (penalise), unknown parent / duplicate / too new → Ignore, valid → Accept", func(h *Harness) error {
		_ = unknownParent
		cases := []struct {
			name string
			blk  *chain.Block
			now  int64
			want chain.Verdict
		}{
			{"bad proof of work", badPoW, badPoW.Header.Timestamp, chain.VerdictReject},
			{"unknown parent", orphan, orphan.Header.Timestamp, chain.VerdictIgnore},
			{"duplicate", g.Block(tip), g.Block(tip).Header.Timestamp, chain.VerdictIgnore},
			{"timestamp too new for now", future, future.Header.Timestamp - p.MaxFutureDrift - 1, chain.VerdictIgnore},
			{"known invalid", g.Block("r11f2"), g.Block(tip).Header.Timestamp, chain.VerdictReject},
			{"valid side block", sibling, sibling.Header.Timestamp, chain.VerdictAccept},
		}
		for _, c := range cases {
			res, err := h.Chain.ProcessBlock(c.blk, c.now)
			if got := chain.ClassifyBlock(res, err); got != c.want {
				return fmt.Errorf("%s: verdict %s, want %s (err %v)", c.name, got, c.want, err)
			}
		}
		return nil
	})

	// 32: decoder and validation never panic; CheckBlockSanity is
	// monotone in its flags; decode∘encode round-trips.
	base := g.Block(tip)
	s.Do(fmt.Sprintf("32 fuzz: %d mutated encodings: no panic, canonical round trip, sanity monotone in flags", o.FuzzCases), func(h *Harness) (err error) {
		defer func() {
			if r := recover(); r != nil {
				err = fmt.Errorf("panic: %v", r)
			}
		}()
		rng := rand.New(rand.NewPCG(32, 32))
		raw := base.Bytes()
		for i := range o.FuzzCases {
			m := mutate(rng, raw)
			blk, derr := chain.DecodeBlock(m)
			if derr != nil {
				continue
			}
			if !bytes.Equal(blk.Bytes(), m) {
				return fmt.Errorf("case %d: decoded block re-encodes differently", i)
			}
			now := blk.Header.Timestamp
			full := chain.CheckBlockSanity(p, blk, now, 0)
			for _, f := range []chain.BehaviorFlags{chain.BFNoPoWCheck, chain.BFNoContributionCheck, chain.BFNoPoWCheck | chain.BFNoContributionCheck} {
				if full == nil && chain.CheckBlockSanity(p, blk, now, f) != nil {
					return fmt.Errorf("case %d: passes with flags 0 but not with %d", i, f)
				}
			}
			h.Chain.ProcessBlock(blk, now)
		}
		return nil
	})
}

// mutate returns a randomly damaged copy of raw: bit flips, a changed
// byte in the header, a truncation, an inserted or deleted byte.
func mutate(rng *rand.Rand, raw []byte) []byte {
	m := bytes.Clone(raw)
	switch rng.IntN(5) {
	case 0:
		for range 1 + rng.IntN(4) {
			i := rng.IntN(len(m))
			m[i] ^= 1 << rng.IntN(8)
		}
	case 1:
		m[rng.IntN(chain.HeaderSize)] = byte(rng.Uint32())
	case 2:
		m = m[:rng.IntN(len(m))]
	case 3:
		i := rng.IntN(len(m) + 1)
		m = append(m[:i], append([]byte{byte(rng.Uint32())}, m[i:]...)...)
	default:
		i := rng.IntN(len(m))
		m = append(m[:i], m[i+1:]...)
	}
	return m
}
