package chaintest

import (
	"bytes"
	"crypto/ed25519"
	"encoding/binary"
	"errors"
	"fmt"
	"math/big"
	"math/rand/v2"
	"slices"

	"github.com/gradientcoin/gradientcoin/chain"
)

// Options size the generated suite.
type Options struct {
	// DeepReorg is the length of the main branch that row 24's deep reorg
	// replaces (the new branch is one block longer). At least 100.
	DeepReorg int
	// FuzzCases is the number of mutated encodings row 32 tries.
	FuzzCases int
}

// DefaultOptions are the sizes the test suite runs.
func DefaultOptions() Options { return Options{DeepReorg: 100, FuzzCases: 400} }

const (
	setupBlocks = 30
	setupOuts   = 3 // coinbase outputs per setup block
)

// Generate builds the whole suite on p (usually Params()): setup blocks,
// then one or more steps for every row of the consensus checklist (A–F)
// and the attack table (01–32).
func Generate(p *chain.Params, o Options) (*Generator, []Step, error) {
	g, err := NewGenerator(p)
	if err != nil {
		return nil, nil, err
	}
	s := NewScript(g)
	if err := generate(s, o); err != nil {
		return nil, nil, err
	}
	return g, s.Steps, nil
}

func generate(s *Script, o Options) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("chaintest: generating: %v", r)
		}
	}()
	g := s.G
	p := g.Params
	pool := &outPool{}

	// Setup: mature coinbases to spend.
	for i := 1; i <= setupBlocks; i++ {
		name := fmt.Sprintf("s%d", i)
		s.Accept("setup "+name, g.NextBlock(name, nil, CoinbaseOutputs(setupOuts)))
		if i <= setupBlocks-int(p.CoinbaseMaturity) {
			for k := range setupOuts {
				pool.outs = append(pool.outs, g.CoinbaseOut(name, k))
			}
		}
	}

	rowsWire(s, pool)
	rowsHeader(s, pool)
	rowsBody(s, pool)
	rowsConnect(s, pool)
	rowsChain(s, pool, o)
	rowsOther(s, pool, o)
	return nil
}

// ---- A: decoding ------------------------------------------------------

func rowsWire(s *Script, pool *outPool) {
	g := s.G
	b := g.NextBlock("a1", []SpendableOut{pool.next()}, Contributions(1))
	raw := b.Bytes()
	s.Do("A1 canonical encoding: decode then re-encode gives the same bytes", func(h *Harness) error {
		d, err := chain.DecodeBlock(raw)
		if err != nil {
			return err
		}
		if !bytes.Equal(d.Bytes(), raw) {
			return errors.New("re-encoding differs from the input")
		}
		return nil
	})
	s.DecodeReject("A1 trailing byte after a block rejected", append(slices.Clone(raw), 0), chain.ErrTrailingData)
	s.DecodeReject("A1 truncated block rejected", raw[:len(raw)-1], chain.ErrTruncated)
	huge := b.Header.AppendTo(nil)
	huge = binary.LittleEndian.AppendUint32(huge, 0xffffffff)
	s.DecodeReject("A1 tx count above the cap rejected before allocating", huge, chain.ErrTooLarge)
	big := b.Header.AppendTo(nil)
	big = binary.LittleEndian.AppendUint32(big, chain.MaxBlockTxs)
	s.DecodeReject("A1 tx count larger than the remaining bytes rejected before allocating", big, chain.ErrTruncated)
	s.Accept("A1 the canonical block is accepted", b)

	s.Do("A2 header size is fixed (159 and 161 bytes rejected)", func(h *Harness) error {
		hb := b.Header.Bytes()
		if _, err := chain.DecodeHeader(hb[:chain.HeaderSize-1]); !errors.Is(err, chain.ErrTruncated) {
			return fmt.Errorf("159 bytes: %v", err)
		}
		if _, err := chain.DecodeHeader(append(hb, 0)); !errors.Is(err, chain.ErrTrailingData) {
			return fmt.Errorf("161 bytes: %v", err)
		}
		return nil
	})
	s.Reject("A2 gradient bytes above MaxGradientSize rejected",
		g.NextBlock("a2grad", nil, RawContributions(make([]byte, g.Params.MaxGradientSize+1))), chain.ErrGradientTooLarge)
}

// ---- B, C: headers ----------------------------------------------------

func rowsHeader(s *Script, pool *outPool) {
	g := s.G
	p := g.Params

	s.Reject("01 hash ≥ target (bad nonce) rejected", g.NextBlock("r01", nil, BadPoW()), chain.ErrHighHash)
	b1Tip := s.ExpectedTip()
	s.Do("B1 proof of work reads the hash as a little-endian integer", func(h *Harness) error {
		limit := p.PowLimit // 2^248 − 1 on devnet
		tb := chain.TargetBytes(limit)
		var low, high chain.Hash
		low[0] = 0xff                 // 255: least significant byte
		high[chain.HashSize-1] = 0x01 // 2^248: most significant byte
		if chain.HashToBig(low).Cmp(big.NewInt(255)) != 0 || !chain.HashMeetsTarget(low, &tb) {
			return errors.New("hash 0xff00…00 should be 255 and meet the limit")
		}
		if chain.HashMeetsTarget(high, &tb) || chain.HashToBig(high).Cmp(new(big.Int).Lsh(big.NewInt(1), 248)) != 0 {
			return errors.New("hash 00…0001 should be 2^248 and miss the limit")
		}
		blk := g.Block(b1Tip)
		if err := chain.CheckProofOfWork(&blk.Header, p.PowLimit); err != nil {
			return fmt.Errorf("tip fails its own proof of work: %v", err)
		}
		return nil
	})

	// 02: a parent 59 s ahead of schedule halves the next target.
	s.Accept("02 setup: a parent 1 s after its own parent (ahead of schedule)", g.NextBlock("r02a", nil, TimestampDelta(1)))
	req := chain.NextRequiredBits(p, g.Block("r02a").Header.Height, g.Block("r02a").Header.Timestamp)
	if req == p.PowLimitBits {
		panic("row 02: required bits did not tighten")
	}
	s.Reject("02 claimed target easier than required rejected",
		g.NextBlock("r02", nil, MungeHeader(func(h *chain.Header) { h.Bits = p.PowLimitBits })), chain.ErrUnexpectedDifficulty)
	reqT, _, _ := chain.CompactToBig(req)
	s.Reject("C2 claimed target harder than required rejected",
		g.NextBlock("c2", nil, MungeHeader(func(h *chain.Header) { h.Bits = chain.BigToCompact(new(big.Int).Rsh(reqT, 1)) })), chain.ErrUnexpectedDifficulty)
	s.Accept("29 block claiming the tightened ASERT target accepted", g.NextBlock("r29", nil))

	for _, c := range []struct {
		name string
		bits uint32
	}{
		{"03 target above PowLimit rejected", chain.BigToCompact(new(big.Int).Lsh(p.PowLimit, 1))},
		{"03 zero target rejected", 0},
		{"03 negative compact target rejected", 0x04923456},
		{"03 overflowing compact target rejected", 0xff123456},
	} {
		bits := c.bits
		s.Reject(c.name, g.NextBlock(c.name, nil, MungeHeader(func(h *chain.Header) { h.Bits = bits })), chain.ErrBadTarget)
	}

	b4 := g.NextBlock("r04", nil)
	g.SetTip(s.ExpectedTip())
	s.RejectNow("04 timestamp > now + drift rejected", b4, chain.ErrTimeTooNew, b4.Header.Timestamp-p.MaxFutureDrift-1)
	s.AcceptNow("04 the same block accepted once the clock caught up (not cached as invalid)", b4, b4.Header.Timestamp-p.MaxFutureDrift)
	s.RejectNow("B2 timestamp one second past the drift rejected", g.NextBlock("b2", nil), chain.ErrTimeTooNew, g.Schedule(g.Block(s.ExpectedTip()).Header.Height+1)-p.MaxFutureDrift-1)

	mtp := g.MedianTimePast(s.ExpectedTip())
	s.Reject("05 timestamp == median time past rejected", g.NextBlock("r05a", nil, Timestamp(mtp)), chain.ErrTimeTooOld)
	s.Reject("C3 timestamp below median time past rejected", g.NextBlock("c3", nil, Timestamp(mtp-1)), chain.ErrTimeTooOld)
	s.Accept("05 timestamp == median time past + 1 accepted", g.NextBlock("r05", nil, Timestamp(mtp+1)))

	s.Reject("B3 gradient root committed: nonzero root without contributions rejected",
		g.NextBlock("b3", nil, MungeHeader(func(h *chain.Header) { h.GradientRoot[0] ^= 1 })), chain.ErrBadGradientRoot)

	o := g.NextBlock("c1b", nil)
	s.Orphan("C1 unknown parent: held as an orphan", g.NextBlock("c1c", nil))
	g.SetTip(s.ExpectedTip())
	s.AcceptTip("C1 the parent arrives and the orphan connects", o, "c1c")

	s.Reject("C5 height ≠ parent height + 1 rejected", g.NextBlock("c5", nil, MungeBody(func(b *chain.Block) {
		b.Header.Height++
		binary.LittleEndian.PutUint64(b.Txs[0].Payload, b.Header.Height)
	})), chain.ErrBadHeight)

	s.Do("C4 timewarp bounded: a parent timestamp at the drift limit eases the next target by less than 2×", func(h *Harness) error {
		tip := h.Chain.Tip()
		honest := chain.NextRequiredTarget(p, tip.Height+1, g.Schedule(tip.Height+1))
		lying := chain.NextRequiredTarget(p, tip.Height+1, g.Schedule(tip.Height+1)+p.MaxFutureDrift)
		if lying.Cmp(new(big.Int).Lsh(honest, 1)) >= 0 && honest.Cmp(p.PowLimit) < 0 {
			return fmt.Errorf("drift eased the target ×%v", new(big.Float).Quo(new(big.Float).SetInt(lying), new(big.Float).SetInt(honest)))
		}
		return nil
	})
	s.Do("29 ASERT: integer vectors, clamped at PowLimit, bounded by the drift", func(h *Harness) error {
		anchor, _, _ := chain.CompactToBig(p.PowLimitBits)
		cases := []struct {
			name string
			ts   int64 // parent timestamp for a parent at height 10
			want uint32
		}{
			{"on schedule", g.Schedule(10), p.PowLimitBits},
			{"one half-life ahead", g.Schedule(10) - p.ASERTHalfLife, chain.BigToCompact(new(big.Int).Rsh(anchor, 1))},
			{"two half-lives ahead", g.Schedule(10) - 2*p.ASERTHalfLife, chain.BigToCompact(new(big.Int).Rsh(anchor, 2))},
			{"far behind: clamped at the limit", g.Schedule(10) + 100*p.ASERTHalfLife, p.PowLimitBits},
		}
		for _, c := range cases {
			if got := chain.NextRequiredBits(p, 10, c.ts); got != c.want {
				return fmt.Errorf("%s: bits %08x, want %08x", c.name, got, c.want)
			}
			if got := chain.NextRequiredBits(p, 10, c.ts); got != chain.NextRequiredBits(p, 10, c.ts) {
				return fmt.Errorf("%s: not deterministic", c.name)
			}
		}
		return nil
	})
}

// MedianTimePast returns the median time past of the named block.
func (g *Generator) MedianTimePast(name string) int64 {
	var ts []int64
	b := g.blocks[name]
	for len(ts) < chain.MedianTimeSpan && b != nil {
		ts = append(ts, b.Header.Timestamp)
		if b.Header.Height == 0 {
			break
		}
		b = g.blocks[g.names[b.Header.PrevBlock]]
	}
	slices.Reverse(ts)
	return chain.MedianTimePast(ts)
}

// ---- D: block sanity --------------------------------------------------

func rowsBody(s *Script, pool *outPool) {
	g := s.G
	p := g.Params

	s.Reject("06 bad tx root rejected", g.NextBlock("r06", []SpendableOut{pool.next()},
		MungeHeader(func(h *chain.Header) { h.TxRoot[0] ^= 1 })), chain.ErrBadMerkleRoot)

	// 07: bodies that do not match a valid header, then the valid body.
	v := g.NextBlock("r07", []SpendableOut{pool.next(), pool.next()}, Contributions(1))
	g.SetTip(s.ExpectedTip())
	dup := &chain.Block{Header: v.Header, Txs: append(slices.Clone(v.Txs), v.Txs[2]), Contributions: v.Contributions}
	s.Reject("07 mutated tx list (duplicated tx), same header hash, rejected", dup, chain.ErrBadMerkleRoot)
	sig := cloneBlock(v)
	sig.Txs[1].Inputs[0].Signature[5] ^= 1
	s.Reject("07 mutated signature, same header hash, rejected", sig, chain.ErrBadMerkleRoot)
	noc := &chain.Block{Header: v.Header, Txs: v.Txs}
	s.Reject("07 contributions dropped, same header hash, rejected", noc, chain.ErrBadGradientRoot)
	swapped := &chain.Block{Header: v.Header, Txs: []*chain.Tx{v.Txs[0], v.Txs[2], v.Txs[1]}, Contributions: v.Contributions}
	s.Reject("D2 reordered tx list, same header hash, rejected", swapped, chain.ErrBadMerkleRoot)
	s.Accept("07 then the valid body with that header is accepted (no invalid cache by hash)", v)

	s.Reject("D2 duplicate txids in one block rejected", g.NextBlock("d2", nil, MungeBody(func(b *chain.Block) {
		tx := g.PayTx(pool.next(), 1)
		b.Txs = append(b.Txs, tx, tx)
	})), chain.ErrDuplicateTx)

	tipName := s.ExpectedTip()
	s.Reject("08 gradient root ≠ contributions rejected", g.NextBlock("r08a", nil, Contributions(1),
		MungeHeader(func(h *chain.Header) { h.GradientRoot[0] ^= 1 })), chain.ErrBadGradientRoot)
	s.Reject("08 more contributions than MaxContributions rejected", g.NextBlock("r08b", nil,
		RawContributions(g.Contribution(tipName, 0), g.Contribution(tipName, 1), g.Contribution(tipName, 2))), chain.ErrGradientTooLarge)
	s.Reject("08 oversize gradient rejected", g.NextBlock("r08c", nil,
		RawContributions(make([]byte, p.MaxGradientSize+1))), chain.ErrGradientTooLarge)
	s.Reject("08 NaN in a contribution rejected", g.NextBlock("r08d", nil,
		RawContributions(g.NaNContribution(tipName))), chain.ErrBadContribution)
	s.Reject("D3 NaN contribution next to a valid one rejected", g.NextBlock("d3", nil,
		RawContributions(g.Contribution(tipName, 0), g.NaNContribution(tipName))), chain.ErrBadContribution)
	s.Reject("08 malformed contribution bytes rejected", g.NextBlock("r08e", nil,
		RawContributions([]byte("not a contribution"))), chain.ErrBadContribution)
	s.Reject("08 contribution for another parent rejected", g.NextBlock("r08f", nil,
		RawContributions(g.Contribution("s1", 0))), chain.ErrBadContribution)
	s.Reject("08 state root ≠ weights after the block rejected", g.NextBlock("r08g", nil, Contributions(1),
		MungeHeader(func(h *chain.Header) { h.StateRoot[0] ^= 1 })), chain.ErrBadStateRoot)
	s.Reject("08 state root changed without contributions rejected", g.NextBlock("r08h", nil,
		MungeHeader(func(h *chain.Header) { h.StateRoot[0] ^= 1 })), chain.ErrBadStateRoot)
	s.Accept("08 two valid contributions accepted", g.NextBlock("r08", nil, Contributions(2)))
	s.Do("08 the chain's weights equal the generator's replay", func(h *Harness) error {
		return sameWeights(h.Chain.Weights(), g.Weights("r08"))
	})

	s.Reject("09 empty block rejected", g.NextBlock("r09a", nil, MungeBody(func(b *chain.Block) { b.Txs = nil })), chain.ErrNoTransactions)
	s.Reject("09 first tx not a coinbase rejected", g.NextBlock("r09b", nil, MungeBody(func(b *chain.Block) {
		b.Txs = []*chain.Tx{g.PayTx(pool.next(), 1)}
	})), chain.ErrFirstTxNotCoinbase)
	s.Reject("09 two coinbases rejected", g.NextBlock("r09c", nil, MungeBody(func(b *chain.Block) {
		cb2 := cloneTx(b.Txs[0])
		cb2.Payload = append(cb2.Payload, 'x')
		b.Txs = append(b.Txs, cb2)
	})), chain.ErrMultipleCoinbases)
	s.Reject("D1 coinbase not first rejected", g.NextBlock("d1", []SpendableOut{pool.next()}, MungeBody(func(b *chain.Block) {
		b.Txs[0], b.Txs[1] = b.Txs[1], b.Txs[0]
	})), chain.ErrFirstTxNotCoinbase)

	// 10: a block of exactly MaxBlockSize bytes, and one byte more.
	ins := pool.take(28)
	bigBlock := func(name string, extra int) *chain.Block {
		parent := g.Block(s.ExpectedTip())
		contribs := [][]byte{g.Contribution(s.ExpectedTip(), 0), g.Contribution(s.ExpectedTip(), 1)}
		fixed := chain.HeaderSize + 8
		for _, c := range contribs {
			fixed += 4 + len(c)
		}
		cbBase := 16 + 132 + 28 + 8 + len(name)
		n := len(ins)
		for ; n > 0 && fixed+cbBase+(16+132*n+28) > p.MaxBlockSize; n-- {
		}
		rest := p.MaxBlockSize - (fixed + cbBase + 16 + 132*n + 28)
		outs := min(2, rest/28)
		pad := rest - 28*outs
		if pad > chain.MaxCoinbasePayload-8-len(name) {
			panic(fmt.Sprintf("row 10: cannot pad %d bytes", pad))
		}
		var sum uint64
		for _, in := range ins[:n] {
			sum += in.Value
		}
		tx := g.SignedTx(ins[:n], []chain.TxOut{{Value: sum - 100, Address: g.Addr}})
		b := g.NextBlock(name, nil, Txs(tx), RawContributions(contribs...), CoinbaseOutputs(1+outs), CoinbasePad(pad+extra))
		_ = parent
		if b.SerializeSize() != p.MaxBlockSize+extra {
			panic(fmt.Sprintf("row 10: block of %d bytes, want %d", b.SerializeSize(), p.MaxBlockSize+extra))
		}
		return b
	}
	over := bigBlock("r10big", 1)
	g.SetTip(s.ExpectedTip())
	s.Reject("10 block of MaxBlockSize+1 bytes rejected", over, chain.ErrBlockTooLarge)
	maxed := bigBlock("r10max", 0)
	g.SetTip("r10big")
	child := g.NextBlock("r10child", nil)
	g.SetTip(s.ExpectedTip())
	s.Accept("10 block of exactly MaxBlockSize bytes accepted", maxed)
	s.Orphan("10 child of the rejected oversize block is an orphan", child)
	s.Reject("A2 block bytes above MaxBlockSize rejected (see 10)", over, chain.ErrBlockTooLarge)

	s.Reject("D4 null prevout in a non-coinbase rejected", g.NextBlock("d4a", nil, Txs(
		g.SignedTx([]SpendableOut{pool.next(), {OutPoint: chain.OutPoint{Index: chain.CoinbaseIndex}, Value: 0}}, []chain.TxOut{{Value: 1, Address: g.Addr}}))), chain.ErrBadTxInput)
	zo := pool.next()
	s.Reject("D4 zero-value output rejected", g.NextBlock("d4b", nil, Txs(
		g.SignedTx([]SpendableOut{zo}, []chain.TxOut{{Value: zo.Value - 10, Address: g.Addr}, {Value: 0, Address: g.Addr}}))), chain.ErrBadTxOutValue)
	s.Reject("D4 payload on a non-coinbase rejected", g.NextBlock("d4c", nil, MungeBody(func(b *chain.Block) {
		tx := g.PayTx(pool.next(), 1)
		tx.Payload = []byte{1}
		b.Txs = append(b.Txs, tx)
	})), chain.ErrBadPayload)
	d5 := pool.next()
	s.Reject("D5 two txs of a block spend one outpoint rejected", g.NextBlock("d5", nil, Txs(g.PayTx(d5, 1), g.PayTx(d5, 2))), chain.ErrDoubleSpend)
}

// ---- E: connect -------------------------------------------------------

func rowsConnect(s *Script, pool *outPool) {
	g := s.G
	p := g.Params

	s.Reject("11 coinbase pays subsidy + fees + 1 on the tip rejected",
		g.NextBlock("r11a", []SpendableOut{pool.next()}, CoinbaseExtra(1)), chain.ErrBadCoinbaseValue)
	base := s.ExpectedTip()
	parentOfTip := g.Name(g.Block(base).Header.PrevBlock)
	g.SetTip(parentOfTip)
	s.Side("11 fork block (equal work) stored on a side chain", g.NextBlock("r11f1", nil))
	g.SetTip("r11f1")
	s.Reject("11 overpaying coinbase as the reorg trigger rejected, tip stays", g.NextBlock("r11f2", nil, CoinbaseExtra(1)), chain.ErrBadCoinbaseValue)
	g.SetTip("r11f1")
	s.Accept("24 longer valid fork: reorg", g.NextBlock("r11v2", []SpendableOut{pool.next()}))
	s.Reject("11 overpaying coinbase after the valid fork rejected, tip stays", g.NextBlock("r11v3", nil, CoinbaseExtra(1)), chain.ErrBadCoinbaseValue)
	g.SetTip("r11f2")
	s.Reject("F3 a child of a block that failed to connect is rejected as known invalid", g.NextBlock("r11f3", nil), chain.ErrKnownInvalid)
	s.Reject("F3 the failed block itself is remembered as invalid", g.Block("r11f2"), chain.ErrKnownInvalid)
	s.Accept("E4 coinbase claiming exactly subsidy + fees accepted", g.NextBlock("e4", []SpendableOut{pool.next(), pool.next()}))
	s.Do("E4 subsidy halves by integer shift", func(h *Harness) error {
		for _, c := range []struct{ h, want uint64 }{
			{1, p.InitialSubsidy}, {p.HalvingInterval - 1, p.InitialSubsidy},
			{p.HalvingInterval, p.InitialSubsidy >> 1}, {3 * p.HalvingInterval, p.InitialSubsidy >> 3},
			{64 * p.HalvingInterval, 0},
		} {
			if got := p.Subsidy(c.h); got != c.want {
				return fmt.Errorf("Subsidy(%d) = %d, want %d", c.h, got, c.want)
			}
		}
		return nil
	})

	// 12 and E2: coinbase maturity, on the tip and on a fork.
	tipName := s.ExpectedTip()
	s.Reject("12 spend of the tip's own coinbase (immature) rejected", g.NextBlock("r12a", []SpendableOut{g.CoinbaseOut(tipName, 0)}), chain.ErrImmatureSpend)
	// tipName is at height X; a block at X+m may spend its coinbase (m =
	// CoinbaseMaturity), one at X+m−1 may not.
	for i := 0; i < int(p.CoinbaseMaturity)-2; i++ {
		s.Accept("E2 setup: blocks towards maturity", g.NextBlock(fmt.Sprintf("e2s%d", i), nil))
	}
	s.Reject("E2 coinbase spent one block before maturity rejected", g.NextBlock("e2a", []SpendableOut{g.CoinbaseOut(tipName, 0)}), chain.ErrImmatureSpend)
	s.Accept("E2 setup: one more block", g.NextBlock("e2s-last", nil))
	s.Accept("E2 coinbase spent exactly at maturity accepted", g.NextBlock("e2b", []SpendableOut{g.CoinbaseOut(tipName, 0)}))
	forkBase := g.Name(g.Block(s.ExpectedTip()).Header.PrevBlock)
	g.SetTip(forkBase)
	s.Side("12 fork block stored", g.NextBlock("r12f1", nil))
	g.SetTip("r12f1")
	s.Reject("12 spend of an immature coinbase on the fork (reorg trigger) rejected", g.NextBlock("r12f2", []SpendableOut{g.CoinbaseOut("r12f1", 0)}), chain.ErrImmatureSpend)

	s.Reject("13 spend of a non-existent tx rejected", g.NextBlock("r13a", []SpendableOut{{OutPoint: chain.OutPoint{TxID: chain.TaggedHash("nope")}, Value: 1000}}), chain.ErrMissingTxOut)
	o13 := pool.next()
	s.Reject("13 spend of an out-of-range output index rejected", g.NextBlock("r13b", []SpendableOut{{OutPoint: chain.OutPoint{TxID: o13.OutPoint.TxID, Index: 7}, Value: 1000}}), chain.ErrMissingTxOut)

	in14 := pool.next()
	s.Reject("14 outputs > inputs rejected", g.NextBlock("r14a", nil, Txs(g.SignedTx([]SpendableOut{in14}, []chain.TxOut{{Value: in14.Value + 1, Address: g.Addr}}))), chain.ErrSpendTooHigh)
	s.Reject("14 output of MaxMoney+1 rejected", g.NextBlock("r14b", nil, Txs(g.SignedTx([]SpendableOut{in14}, []chain.TxOut{{Value: chain.MaxMoney + 1, Address: g.Addr}}))), chain.ErrBadTxOutValue)
	s.Reject("14 outputs summing above MaxMoney rejected", g.NextBlock("r14c", nil, Txs(g.SignedTx([]SpendableOut{in14}, []chain.TxOut{{Value: chain.MaxMoney, Address: g.Addr}, {Value: chain.MaxMoney, Address: g.Addr}}))), chain.ErrBadTxOutValue)
	s.Reject("14 outputs wrapping uint64 rejected", g.NextBlock("r14d", nil, Txs(g.SignedTx([]SpendableOut{in14}, []chain.TxOut{{Value: 1<<64 - 1, Address: g.Addr}, {Value: 2, Address: g.Addr}}))), chain.ErrBadTxOutValue)
	s.Reject("14 coinbase output of MaxMoney+1 rejected", g.NextBlock("r14e", nil, MungeBody(func(b *chain.Block) { b.Txs[0].Outputs[0].Value = chain.MaxMoney + 1 })), chain.ErrBadTxOutValue)
	s.Reject("E3 inputs one atom short of the outputs rejected", g.NextBlock("e3a", nil, Txs(g.SignedTx([]SpendableOut{in14}, []chain.TxOut{{Value: in14.Value/2 + 1, Address: g.Addr}, {Value: in14.Value - in14.Value/2, Address: g.Addr}}))), chain.ErrSpendTooHigh)
	s.Accept("E3 fees of several txs summed into the coinbase accepted", g.NextBlock("e3", nil, Txs(
		g.SignedTx([]SpendableOut{in14}, []chain.TxOut{{Value: in14.Value - 5000, Address: g.Addr}}),
		g.PayTx(pool.next(), 7000))))

	in15 := pool.next()
	s.Reject("15 duplicate input inside one tx rejected", g.NextBlock("r15", nil, Txs(g.SignedTx([]SpendableOut{in15, in15}, []chain.TxOut{{Value: in15.Value, Address: g.Addr}}))), chain.ErrDuplicateTxInputs)
	in16 := pool.next()
	s.Reject("16 double spend across two txs in one block rejected", g.NextBlock("r16", nil, Txs(g.PayTx(in16, 10), g.PayTx(in16, 20))), chain.ErrDoubleSpend)

	in17 := pool.next()
	txA := g.SignedTx([]SpendableOut{in17}, []chain.TxOut{{Value: in17.Value - 10, Address: g.Addr}})
	txB := g.PayTx(g.TxOut(txA, 0), 10)
	s.Reject("17 spend of an output created later in the same block rejected", g.NextBlock("r17a", nil, Txs(txB, txA)), chain.ErrMissingTxOut)
	s.Reject("E1 same: the view as of the spending tx does not see later txs", g.NextBlock("e1", nil, Txs(g.PayTx(in16, 5), txB, txA)), chain.ErrMissingTxOut)
	s.Accept("17 spend of an output created earlier in the same block accepted", g.NextBlock("r17", nil, Txs(txA, txB)))

	// 18: b5/b6/b7/b8 of btcd.
	o18a, o18b := pool.next(), pool.next()
	s.Accept("18 setup: main block spends an output", g.NextBlock("r18a", []SpendableOut{o18a}))
	s.Accept("18 setup: main block", g.NextBlock("r18b", []SpendableOut{o18b}))
	g.SetTip("r18a")
	s.Side("18 fork block double-spending the main chain's output stored (not validated at equal work)", g.NextBlock("r18c", []SpendableOut{o18a}))
	g.SetTip("r18c")
	s.Reject("18 the fork becomes longer: reorg fails, whole fork rejected, tip stays", g.NextBlock("r18d", nil), chain.ErrMissingTxOut)
	g.SetTip("r18d")
	s.Reject("F3 extending the failed fork again: known invalid", g.NextBlock("r18e", nil), chain.ErrKnownInvalid)

	// 19: output only on another fork.
	g.SetTip(g.Name(g.Block(s.ExpectedTip()).Header.PrevBlock))
	o19 := pool.next()
	sideTx := g.SignedTx([]SpendableOut{o19}, []chain.TxOut{{Value: o19.Value - 10, Address: g.Addr}})
	s.Side("19 side block with a tx", g.NextBlock("r19s", nil, Txs(sideTx)))
	g.SetTip(s.ExpectedTip())
	s.Reject("19 spend from a tx only on another fork rejected", g.NextBlock("r19", nil, Txs(g.PayTx(g.TxOut(sideTx, 0), 10))), chain.ErrMissingTxOut)

	// 20: output of a block that failed to connect.
	o20 := pool.next()
	badTx := g.SignedTx([]SpendableOut{o20}, []chain.TxOut{{Value: o20.Value - 10, Address: g.Addr}})
	s.Reject("20 block that fails to connect (overpaying coinbase)", g.NextBlock("r20bad", nil, Txs(badTx), CoinbaseExtra(1)), chain.ErrBadCoinbaseValue)
	s.Reject("20 spend from the block that failed to connect rejected", g.NextBlock("r20", nil, Txs(g.PayTx(g.TxOut(badTx, 0), 10))), chain.ErrMissingTxOut)

	o21 := pool.next()
	s.Reject("21 tx with 3 outputs rejected", g.NextBlock("r21a", nil, Txs(g.SignedTx([]SpendableOut{o21}, []chain.TxOut{{Value: 1, Address: g.Addr}, {Value: 1, Address: g.Addr}, {Value: 1, Address: g.Addr}}))), chain.ErrBadTxOutputs)
	s.Reject("21 tx with zero outputs rejected", g.NextBlock("r21b", nil, Txs(g.SignedTx([]SpendableOut{o21}, nil))), chain.ErrBadTxOutputs)
	s.Reject("21 coinbase with more than 1+MaxContributions outputs rejected", g.NextBlock("r21c", nil, CoinbaseOutputs(2+p.MaxContributions)), chain.ErrBadTxOutputs)

	o22 := pool.next()
	good := g.PayTx(o22, 10)
	bad := cloneTx(good)
	bad.Inputs[0].Signature[0] ^= 1
	s.Reject("22 bad signature rejected", g.NextBlock("r22a", nil, Txs(bad)), chain.ErrBadSignature)
	other := g.PayTx(o22, 11)
	stolen := cloneTx(good)
	stolen.Inputs[0].Signature = other.Inputs[0].Signature
	s.Reject("22 signature of another tx rejected", g.NextBlock("r22b", nil, Txs(stolen)), chain.ErrBadSignature)
	thief := DeterministicKey("chaintest/thief", 0)
	wrong := g.SignedTx([]SpendableOut{{OutPoint: o22.OutPoint, Value: o22.Value, Key: thief}}, []chain.TxOut{{Value: o22.Value - 10, Address: g.Addr}})
	s.Reject("22 wrong key (does not hash to the address) rejected", g.NextBlock("r22c", nil, Txs(wrong)), chain.ErrWrongKey)
	s.Reject("E6 key of another address rejected", g.NextBlock("e6", nil, Txs(wrong)), chain.ErrWrongKey)
	hiS := cloneTx(good)
	addL(hiS.Inputs[0].Signature[32:])
	s.Reject("22 non-canonical S (S + ℓ, the ed25519 analogue of high-S) rejected", g.NextBlock("r22d", nil, Txs(hiS)), chain.ErrBadSignature)
	foreign := &chain.Tx{Version: chain.TxVersion, Inputs: []chain.TxIn{{PrevOut: o22.OutPoint}}, Outputs: good.Outputs}
	if err := chain.SignTx(foreign, []ed25519.PrivateKey{g.Key}, []uint64{o22.Value}, chain.TaggedHash("another network")); err != nil {
		panic(err)
	}
	s.Reject("E5 signature for another network's genesis rejected", g.NextBlock("e5a", nil, Txs(foreign)), chain.ErrBadSignature)
	lie := &chain.Tx{Version: chain.TxVersion, Inputs: []chain.TxIn{{PrevOut: o22.OutPoint}}, Outputs: good.Outputs}
	if err := chain.SignTx(lie, []ed25519.PrivateKey{g.Key}, []uint64{o22.Value + 1}, p.GenesisHash); err != nil {
		panic(err)
	}
	s.Reject("E5 signature committing to a wrong spent amount rejected", g.NextBlock("e5b", nil, Txs(lie)), chain.ErrBadSignature)
	s.Accept("22 the correctly signed tx accepted", g.NextBlock("r22", nil, Txs(good)))
}

// addL adds ℓ (the ed25519 group order) to a 32-byte little-endian scalar.
func addL(s []byte) {
	l := [32]byte{0xed, 0xd3, 0xf5, 0x5c, 0x1a, 0x63, 0x12, 0x58, 0xd6, 0x9c, 0xf7, 0xa2, 0xde, 0xf9, 0xde, 0x14,
		0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x10}
	var carry uint16
	for i := range 32 {
		v := uint16(s[i]) + uint16(l[i]) + carry
		s[i] = byte(v)
		carry = v >> 8
	}
}

func cloneTx(tx *chain.Tx) *chain.Tx {
	c, err := chain.DecodeTx(tx.Bytes())
	if err != nil {
		panic(err)
	}
	return c
}

func cloneBlock(b *chain.Block) *chain.Block {
	c, err := chain.DecodeBlock(b.Bytes())
	if err != nil {
		panic(err)
	}
	return c
}

func sameWeights(a, b []float32) error {
	if len(a) != len(b) {
		return fmt.Errorf("weights: %d values vs %d", len(a), len(b))
	}
	for i := range a {
		if a[i] != b[i] && !(a[i] != a[i] && b[i] != b[i]) {
			return fmt.Errorf("weights differ at %d: %v vs %v", i, a[i], b[i])
		}
	}
	return nil
}

var _ = rand.New
