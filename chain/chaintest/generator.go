package chaintest

import (
	"crypto/ed25519"
	"encoding/binary"
	"fmt"
	"math/rand/v2"
	"slices"

	"github.com/gradientcoin/gradientcoin/chain"
	"github.com/gradientcoin/gradientcoin/chain/state"
)

// Params returns the network the generator runs on: devnet (its PoW limit,
// genesis, model, subsidy and maturity) with three changes that make the
// attack rows cheap to build, each documented where it matters:
//
//   - TargetSpacing 60 s and ASERTHalfLife 60 s (MaxFutureDrift 30 s, below
//     the half-life as Validate requires): a block 1 s after its parent is
//     59 s ahead of schedule, so its child needs about twice the work,
//     which lets F1 show a shorter branch with more work;
//   - MaxContributions 2 (and MaxGradientSize = 2 contributions);
//   - MaxBlockSize = MaxGradientSize + 8 + 4 KiB, so row 10 can build a block
//     of exactly the maximum size from a few dozen inputs.
//
// The genesis block is rebuilt for these rules (it commits to them).
func Params() *chain.Params {
	p := chain.DevnetParams()
	p.TargetSpacing = 60
	p.ASERTHalfLife = 60
	p.MaxFutureDrift = 30
	p.Training.MaxContributions = 2
	p.MaxContributions = 2
	p.MaxGradientSize = p.MaxContributions * p.Training.MaxContributionBytes
	p.MaxBlockSize = p.MaxGradientSize + 4*p.MaxContributions + 4<<10
	if err := p.InitGenesis(); err != nil {
		panic("chaintest: " + err.Error()) // the built-in devnet rules are valid
	}
	return p
}

// SpendableOut is an output the generator can spend.
type SpendableOut struct {
	OutPoint chain.OutPoint
	Value    uint64
	Key      ed25519.PrivateKey // nil: the generator's key
}

// Generator builds blocks on top of named blocks, like btcd's
// fullblocktests generator: every block gets a name, NextBlock builds on
// the current tip (SetTip moves it), and the generator tracks what a valid
// block needs (coinbase value with fees, bits, timestamps, the model
// weights for the state root) so that tests change only what they attack.
type Generator struct {
	Params *chain.Params
	Key    ed25519.PrivateKey
	Addr   chain.Address

	blocks  map[string]*chain.Block
	names   map[chain.Hash]string
	weights map[chain.Hash][]float32 // weights after each block (shared while unchanged)
	burned  map[chain.Hash]uint64    // Σ coinbase value left unclaimed along the chain
	values  map[chain.OutPoint]uint64
	tip     *chain.Block
	tipName string
	ckeys   []ed25519.PrivateKey // contributor keys
	rng     *rand.Rand
}

// NewGenerator returns a generator whose tip is the genesis block ("genesis").
func NewGenerator(p *chain.Params) (*Generator, error) {
	w, err := state.Genesis(p.Training)
	if err != nil {
		return nil, err
	}
	g := &Generator{
		Params:  p,
		Key:     DeterministicKey("chaintest/miner", 0),
		blocks:  make(map[string]*chain.Block),
		names:   make(map[chain.Hash]string),
		weights: make(map[chain.Hash][]float32),
		burned:  make(map[chain.Hash]uint64),
		values:  make(map[chain.OutPoint]uint64),
		rng:     rand.New(rand.NewPCG(1, 2)),
	}
	g.Addr = chain.AddressOf(g.Key.Public().(ed25519.PublicKey))
	for i := range 8 {
		g.ckeys = append(g.ckeys, DeterministicKey("chaintest/contributor", i))
	}
	gen := p.GenesisBlock
	g.blocks["genesis"] = gen
	g.names[p.GenesisHash] = "genesis"
	g.weights[p.GenesisHash] = w
	g.tip, g.tipName = gen, "genesis"
	return g, nil
}

// DeterministicKey derives a test key from a label and an index.
func DeterministicKey(label string, i int) ed25519.PrivateKey {
	seed := chain.TaggedHash("gradientcoin/chaintest-key", []byte(label), binary.LittleEndian.AppendUint64(nil, uint64(i)))
	return ed25519.NewKeyFromSeed(seed[:])
}

// Block returns the named block (nil if unknown).
func (g *Generator) Block(name string) *chain.Block { return g.blocks[name] }

// Name returns the name of a generated block.
func (g *Generator) Name(h chain.Hash) string { return g.names[h] }

// Tip returns the current tip's name.
func (g *Generator) Tip() string { return g.tipName }

// SetTip makes the named block the parent of the next NextBlock.
func (g *Generator) SetTip(name string) {
	b, ok := g.blocks[name]
	if !ok {
		panic("chaintest: unknown block " + name)
	}
	g.tip, g.tipName = b, name
}

// Weights returns the model weights after the named block.
func (g *Generator) Weights(name string) []float32 { return g.weights[g.blocks[name].Hash()] }

// Burned returns the coinbase value left unclaimed on the chain ending at
// the named block: its supply is Params.SupplyAt(height) minus this.
func (g *Generator) Burned(name string) uint64 { return g.burned[g.blocks[name].Hash()] }

// CoinbaseOut returns output i of the named block's coinbase.
func (g *Generator) CoinbaseOut(name string, i int) SpendableOut {
	return g.TxOut(g.blocks[name].Txs[0], i)
}

// TxOut returns output i of tx as spendable by the generator's key.
func (g *Generator) TxOut(tx *chain.Tx, i int) SpendableOut {
	return SpendableOut{OutPoint: chain.OutPoint{TxID: tx.TxID(), Index: uint32(i)}, Value: tx.Outputs[i].Value}
}

// SignedTx builds a transaction spending ins (signed with their keys)
// with the given outputs.
func (g *Generator) SignedTx(ins []SpendableOut, outs []chain.TxOut) *chain.Tx {
	tx := &chain.Tx{Version: chain.TxVersion, Outputs: slices.Clone(outs)}
	keys := make([]ed25519.PrivateKey, len(ins))
	vals := make([]uint64, len(ins))
	for i, in := range ins {
		tx.Inputs = append(tx.Inputs, chain.TxIn{PrevOut: in.OutPoint})
		keys[i] = in.Key
		if keys[i] == nil {
			keys[i] = g.Key
		}
		vals[i] = in.Value
	}
	if err := chain.SignTx(tx, keys, vals, g.Params.GenesisHash); err != nil {
		panic("chaintest: sign: " + err.Error())
	}
	return tx
}

// PayTx spends in to the generator's address minus fee (one output).
func (g *Generator) PayTx(in SpendableOut, fee uint64) *chain.Tx {
	return g.SignedTx([]SpendableOut{in}, []chain.TxOut{{Value: in.Value - fee, Address: g.Addr}})
}

// Opt changes how NextBlock builds a block.
type Opt func(*buildCfg)

type buildCfg struct {
	txs         []*chain.Tx
	cbExtra     int64
	cbOuts      int
	cbPad       int
	contribs    int
	rawContribs [][]byte
	hasRaw      bool
	body        []func(*chain.Block)
	header      []func(*chain.Header)
	ts          *int64
	tsDelta     *int64
	badPoW      bool
}

// Txs appends transactions after the coinbase.
func Txs(txs ...*chain.Tx) Opt { return func(c *buildCfg) { c.txs = append(c.txs, txs...) } }

// CoinbaseExtra makes the coinbase claim subsidy + fees + d atoms (d may be
// negative: a miner may claim less).
func CoinbaseExtra(d int64) Opt { return func(c *buildCfg) { c.cbExtra = d } }

// CoinbaseOutputs splits the coinbase value over n outputs (the last gets
// the remainder).
func CoinbaseOutputs(n int) Opt { return func(c *buildCfg) { c.cbOuts = n } }

// CoinbasePad appends n extra bytes to the coinbase payload.
func CoinbasePad(n int) Opt { return func(c *buildCfg) { c.cbPad = n } }

// Contributions adds n valid contributions for the parent, by different
// contributor keys.
func Contributions(n int) Opt { return func(c *buildCfg) { c.contribs = n } }

// RawContributions sets the contributions verbatim (the state root is
// computed if Apply accepts them, else the parent's is kept).
func RawContributions(cs ...[]byte) Opt {
	return func(c *buildCfg) { c.rawContribs, c.hasRaw = cs, true }
}

// MungeBody changes the block before its roots are computed.
func MungeBody(f func(*chain.Block)) Opt { return func(c *buildCfg) { c.body = append(c.body, f) } }

// MungeHeader changes the header after the roots are set, before solving.
func MungeHeader(f func(*chain.Header)) Opt {
	return func(c *buildCfg) { c.header = append(c.header, f) }
}

// Timestamp sets the block's timestamp.
func Timestamp(ts int64) Opt { return func(c *buildCfg) { c.ts = &ts } }

// TimestampDelta sets the timestamp to the parent's plus d seconds.
func TimestampDelta(d int64) Opt { return func(c *buildCfg) { c.tsDelta = &d } }

// BadPoW solves for a nonce whose hash is above the target.
func BadPoW() Opt { return func(c *buildCfg) { c.badPoW = true } }

// Schedule is the on-schedule timestamp of a block at height h.
func (g *Generator) Schedule(h uint64) int64 {
	return g.Params.GenesisTimestamp + int64(h)*g.Params.TargetSpacing
}

// NextBlock builds, solves and names a block on the current tip, which it
// then becomes. Each of spends becomes a PayTx (fee 1 atom) to the
// generator's address, followed by the Txs option's transactions. By
// default the block is valid: the
// coinbase claims subsidy + fees, bits are the required ones, the
// timestamp is on schedule (or parent + 1 s if the parent is ahead), the
// roots (tx, gradient, state) match.
func (g *Generator) NextBlock(name string, spends []SpendableOut, opts ...Opt) *chain.Block {
	if _, dup := g.blocks[name]; dup {
		panic("chaintest: duplicate block name " + name)
	}
	var cfg buildCfg
	for _, o := range opts {
		o(&cfg)
	}
	p := g.Params
	parent := g.tip
	ph := parent.Header
	parentHash := parent.Hash()
	height := ph.Height + 1

	var txs []*chain.Tx
	for _, s := range spends {
		txs = append(txs, g.PayTx(s, 1))
	}
	txs = append(txs, cfg.txs...)
	var fees uint64
	for _, tx := range txs {
		fees += g.fee(tx)
	}
	claim := int64(p.Subsidy(height)+fees) + cfg.cbExtra
	if claim < 0 {
		claim = 0
	}
	nOuts := max(cfg.cbOuts, 1)
	payload := binary.LittleEndian.AppendUint64(nil, height)
	payload = append(payload, []byte(name)...)
	if len(payload) > chain.MaxCoinbasePayload-cfg.cbPad {
		payload = payload[:chain.MaxCoinbasePayload-cfg.cbPad]
	}
	payload = append(payload, make([]byte, cfg.cbPad)...)
	cb := &chain.Tx{
		Version: chain.TxVersion,
		Inputs:  []chain.TxIn{{PrevOut: chain.OutPoint{Index: chain.CoinbaseIndex}}},
		Payload: payload,
	}
	per := uint64(claim) / uint64(nOuts)
	for i := range nOuts {
		v := per
		if i == nOuts-1 {
			v = uint64(claim) - per*uint64(nOuts-1)
		}
		cb.Outputs = append(cb.Outputs, chain.TxOut{Value: v, Address: g.Addr})
	}
	blk := &chain.Block{Txs: append([]*chain.Tx{cb}, txs...)}

	switch {
	case cfg.hasRaw:
		blk.Contributions = cfg.rawContribs
	case cfg.contribs > 0:
		blk.Contributions = g.makeContributions(parentHash, cfg.contribs)
	}

	ts := max(ph.Timestamp+1, g.Schedule(height))
	if cfg.tsDelta != nil {
		ts = ph.Timestamp + *cfg.tsDelta
	}
	if cfg.ts != nil {
		ts = *cfg.ts
	}
	blk.Header = chain.Header{
		Version:   chain.HeaderVersion,
		Height:    height,
		PrevBlock: parentHash,
		Timestamp: ts,
		Bits:      chain.NextRequiredBits(p, ph.Height, ph.Timestamp),
	}
	for _, f := range cfg.body {
		f(blk)
	}
	blk.Header.TxRoot = chain.CalcTxRoot(blk.Txs)
	blk.Header.GradientRoot = chain.CalcGradientRoot(blk.Contributions)
	pw := g.weights[parentHash]
	w := pw
	blk.Header.StateRoot = ph.StateRoot
	if len(blk.Contributions) > 0 && pw != nil {
		nw := slices.Clone(pw)
		if err := state.Apply(p.Training, nw, [32]byte(parentHash), blk.Contributions); err == nil {
			w = nw
			blk.Header.StateRoot = chain.Hash(p.Training.Root(nw))
		}
	}
	for _, f := range cfg.header {
		f(&blk.Header)
	}
	Solve(&blk.Header, p, cfg.badPoW)

	hash := blk.Hash()
	g.blocks[name] = blk
	g.names[hash] = name
	g.weights[hash] = w
	var cbPaid uint64
	for _, o := range cb.Outputs {
		cbPaid += o.Value
	}
	burned := g.burned[parentHash]
	if full := p.Subsidy(height) + fees; cbPaid < full {
		burned += full - cbPaid
	}
	g.burned[hash] = burned
	for _, tx := range blk.Txs {
		id := tx.TxID()
		for i, o := range tx.Outputs {
			g.values[chain.OutPoint{TxID: id, Index: uint32(i)}] = o.Value
		}
	}
	g.tip, g.tipName = blk, name
	return blk
}

// fee returns Σin − Σout of tx if every input is a known output and the
// difference is non-negative, else 0.
func (g *Generator) fee(tx *chain.Tx) uint64 {
	var in, out uint64
	for _, i := range tx.Inputs {
		v, ok := g.values[i.PrevOut]
		if !ok {
			return 0
		}
		in += v
	}
	for _, o := range tx.Outputs {
		out += o.Value
	}
	if out > in {
		return 0
	}
	return in - out
}

// makeContributions returns n valid contributions for parent.
func (g *Generator) makeContributions(parent chain.Hash, n int) [][]byte {
	r := g.Params.Training
	d := r.ParamCount()
	out := make([][]byte, n)
	for i := range n {
		delta := make([]float32, d)
		for j := range delta {
			delta[j] = float32(g.rng.NormFloat64() * 1e-3)
		}
		var digest [32]byte
		digest[0] = byte(i)
		c, _, err := state.MakeContribution(r, [32]byte(parent), delta, nil, g.ckeys[i%len(g.ckeys)], digest)
		if err != nil {
			panic("chaintest: contribution: " + err.Error())
		}
		out[i] = c.Encode()
	}
	return out
}

// Contribution returns one valid contribution for the named block as
// parent, by contributor key k.
func (g *Generator) Contribution(parentName string, k int) []byte {
	r := g.Params.Training
	delta := make([]float32, r.ParamCount())
	for j := range delta {
		delta[j] = float32(g.rng.NormFloat64() * 1e-3)
	}
	c, _, err := state.MakeContribution(r, [32]byte(g.blocks[parentName].Hash()), delta, nil, g.ckeys[k%len(g.ckeys)], [32]byte{byte(k)})
	if err != nil {
		panic("chaintest: contribution: " + err.Error())
	}
	return c.Encode()
}

// NaNContribution returns a contribution for parentName whose first
// quantization scale is NaN, correctly signed: only the finiteness check
// can reject it.
func (g *Generator) NaNContribution(parentName string) []byte {
	raw := g.Contribution(parentName, 7)
	c, err := state.DecodeContribution(raw)
	if err != nil {
		panic(err)
	}
	// The first 4 payload bytes are the first value (32-bit payloads) or
	// the first block's scale (8- and 4-bit payloads): NaN either way.
	binary.LittleEndian.PutUint32(c.Payload, 0x7fc00000)
	if err := c.Sign(g.ckeys[7]); err != nil {
		panic(err)
	}
	return c.Encode()
}

// Solve finds a nonce for h: one whose hash meets the target, or with bad
// set one whose hash does not.
func Solve(h *chain.Header, p *chain.Params, bad bool) {
	target, err := chain.TargetFromBits(h.Bits, p.PowLimit)
	if err != nil {
		return // invalid bits: any nonce; the block is rejected for its target
	}
	tb := chain.TargetBytes(target)
	// BlockHash (crypto/sha256, assembly) rather than PowJob (pure Go): the
	// tests run with -race, which instruments Go code only.
	for n := uint64(0); ; n++ {
		h.Nonce = n
		if chain.HashMeetsTarget(h.BlockHash(), &tb) != bad {
			return
		}
	}
}

// Describe returns "name (hash)" for messages.
func (g *Generator) Describe(h chain.Hash) string {
	if n, ok := g.names[h]; ok {
		return fmt.Sprintf("%s (%s)", n, h)
	}
	return h.String()
}
