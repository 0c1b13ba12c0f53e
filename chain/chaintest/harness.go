package chaintest

import (
	"errors"
	"fmt"
	"path/filepath"

	"github.com/gradientcoin/gradientcoin/chain"
	"github.com/gradientcoin/gradientcoin/chain/mempool"
	"github.com/gradientcoin/gradientcoin/chain/store"
)

// Expect is what a step expects ProcessBlock to do.
type Expect int

const (
	// ExpectAccept: accepted; the block is on the main chain afterwards.
	ExpectAccept Expect = iota
	// ExpectSide: accepted to a side chain (stored, not on the main chain).
	ExpectSide
	// ExpectReject: rejected with an error of Kind.
	ExpectReject
	// ExpectOrphan: held in the orphan pool.
	ExpectOrphan
	// ExpectDecodeReject: Raw does not decode (error of Kind).
	ExpectDecodeReject
	// ExpectFunc: Func runs and must return nil.
	ExpectFunc
)

func (e Expect) String() string {
	return [...]string{"accept", "side chain", "reject", "orphan", "decode reject", "func"}[e]
}

// Step is one named test: a block (or raw bytes) with an expectation, or a
// function over the harness. Every step is named after its row of
// reference/consensus-tests.md ("01 …", "A1 …").
type Step struct {
	Name   string
	Block  *chain.Block
	Raw    []byte // decoded first when set (Block is then ignored)
	Expect Expect
	Kind   chain.ErrorKind
	// Tip is the name of the block that must be the tip afterwards ("" = unchecked).
	Tip string
	// Now is the local clock for ProcessBlock (0: the block's timestamp).
	Now  int64
	Func func(h *Harness) error
}

// Harness runs steps against a real BlockChain on a real bbolt store in a
// directory. After every step it checks the expected tip and the supply
// invariant: the recorded supply equals Σ of the UTXO set and equals
// Params.SupplyAt(tip height) minus what coinbases left unclaimed.
type Harness struct {
	Gen    *Generator
	Params *chain.Params
	Dir    string
	Store  *store.Store
	Chain  *chain.BlockChain
	// Pool is a mempool subscribed to the chain's tip events (F4).
	Pool *mempool.Pool

	cfg   chain.Config
	unsub func()
}

// Mempool returns the harness's mempool.
func (h *Harness) Mempool() *mempool.Pool { return h.Pool }

// NewHarness opens a bbolt store and a chain in dir.
func NewHarness(g *Generator, dir string) (*Harness, error) {
	h := &Harness{Gen: g, Params: g.Params, Dir: dir}
	h.cfg = chain.Config{
		Params:             g.Params,
		CheckpointDir:      filepath.Join(dir, "weights"),
		CheckpointInterval: 16,
	}
	if err := h.open(); err != nil {
		return nil, err
	}
	return h, nil
}

func (h *Harness) open() error {
	st, err := store.Open(filepath.Join(h.Dir, "chain.db"), nil)
	if err != nil {
		return err
	}
	h.cfg.Store = st
	bc, err := chain.New(h.cfg)
	if err != nil {
		st.Close()
		return err
	}
	h.Store, h.Chain = st, bc
	h.Pool = mempool.New(mempool.Config{Chain: bc})
	h.unsub = bc.Subscribe(h.Pool.HandleTipEvent)
	return nil
}

// Reopen closes the chain and the store and opens them again (a clean
// restart).
func (h *Harness) Reopen() error {
	if err := h.Close(); err != nil {
		return err
	}
	return h.open()
}

// Close closes the chain and the store.
func (h *Harness) Close() error {
	if h.Chain == nil {
		return nil
	}
	h.unsub()
	err := h.Chain.Close()
	if e := h.Store.Close(); err == nil {
		err = e
	}
	h.Chain, h.Store = nil, nil
	return err
}

// Run runs one step and checks its expectation and the invariants.
func (h *Harness) Run(s Step) error {
	if err := h.run(s); err != nil {
		return fmt.Errorf("step %q: %w", s.Name, err)
	}
	return nil
}

func (h *Harness) run(s Step) error {
	switch s.Expect {
	case ExpectFunc:
		if err := s.Func(h); err != nil {
			return err
		}
		return h.checkAfter(s)
	case ExpectDecodeReject:
		_, err := chain.DecodeBlock(s.Raw)
		if !errors.Is(err, s.Kind) {
			return fmt.Errorf("decode: got error %v, want %s", err, s.Kind)
		}
		return h.checkAfter(s)
	}
	blk := s.Block
	if s.Raw != nil {
		var err error
		if blk, err = chain.DecodeBlock(s.Raw); err != nil {
			return fmt.Errorf("decode: %v", err)
		}
	}
	now := s.Now
	if now == 0 {
		now = blk.Header.Timestamp
	}
	res, err := h.Chain.ProcessBlock(blk, now)
	name := h.Gen.Describe(blk.Hash())
	switch s.Expect {
	case ExpectAccept, ExpectSide:
		if err != nil {
			return fmt.Errorf("block %s: want %s, got error %v", name, s.Expect, err)
		}
		if res.Orphan {
			return fmt.Errorf("block %s: want %s, got orphan", name, s.Expect)
		}
		if res.MainChain != (s.Expect == ExpectAccept) {
			return fmt.Errorf("block %s: want %s, got MainChain=%v", name, s.Expect, res.MainChain)
		}
	case ExpectReject:
		if err == nil {
			return fmt.Errorf("block %s: want rejection %s, got accepted (result %+v)", name, s.Kind, res)
		}
		if !errors.Is(err, s.Kind) {
			return fmt.Errorf("block %s: want rejection %s, got %v", name, s.Kind, err)
		}
	case ExpectOrphan:
		if err != nil || !res.Orphan {
			return fmt.Errorf("block %s: want orphan, got %+v, %v", name, res, err)
		}
	}
	return h.checkAfter(s)
}

func (h *Harness) checkAfter(s Step) error {
	tip := h.Chain.Tip()
	if s.Tip != "" {
		want := h.Gen.Block(s.Tip)
		if want == nil {
			return fmt.Errorf("unknown expected tip %q", s.Tip)
		}
		if tip.Hash != want.Hash() {
			return fmt.Errorf("tip is %s at height %d, want %s", h.Gen.Describe(tip.Hash), tip.Height, s.Tip)
		}
	}
	return h.CheckSupply()
}

// CheckSupply checks the supply invariant at the tip.
func (h *Harness) CheckSupply() error {
	tip := h.Chain.Tip()
	var sum uint64
	if err := h.Chain.ForEachUtxo(func(u chain.Utxo) error { sum += u.Entry.Value; return nil }); err != nil {
		return err
	}
	if sum != tip.Supply {
		return fmt.Errorf("supply: UTXO set sums to %d, chain state says %d", sum, tip.Supply)
	}
	name := h.Gen.Name(tip.Hash)
	if name == "" {
		return nil // a tip the generator did not build (fuzz mutants)
	}
	want := h.Params.SupplyAt(tip.Height) - h.Gen.Burned(name)
	if tip.Supply != want {
		return fmt.Errorf("supply at height %d: %d, want Σ subsidies %d − unclaimed %d = %d", tip.Height, tip.Supply, h.Params.SupplyAt(tip.Height), h.Gen.Burned(name), want)
	}
	return nil
}

// UtxoSetHash returns the hash of the chain's UTXO set.
func UtxoSetHash(bc *chain.BlockChain) (chain.Hash, []chain.Utxo, error) {
	var all []chain.Utxo
	err := bc.ForEachUtxo(func(u chain.Utxo) error { all = append(all, u); return nil })
	return chain.UtxoSetHash(all), all, err
}
