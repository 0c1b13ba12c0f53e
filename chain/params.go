package chain

import (
	"encoding/binary"
	"fmt"
	"math"
	"math/big"
	"math/bits"
	"strings"
	"sync"

	"github.com/gradientcoin/gradientcoin/chain/sketch"
	"github.com/gradientcoin/gradientcoin/chain/state"
)

// Params are the consensus and network parameters of one network. Every
// node of a network must use identical values; the genesis block (and so
// its hash, the root of the chain) is derived from them.
//
// The constructors return a fresh value on every call, so a caller may
// change fields (a test network with another genesis time, say) and then
// call InitGenesis and Validate.
type Params struct {
	// Name is the network's name: "devnet", "testnet" or "mainnet".
	Name string
	// AddressPrefix is the human-readable prefix of address strings
	// (EncodeAddress), different per network.
	AddressPrefix string

	// GenesisTimestamp is the genesis block's timestamp (unix seconds) and
	// the time anchor of the difficulty schedule.
	GenesisTimestamp int64
	// GenesisMessage follows the height in the genesis coinbase payload.
	GenesisMessage string

	// PowLimit is the largest (easiest) target; PowLimitBits is its
	// compact form (BigToCompact(PowLimit), which may round down) and the
	// genesis block's bits, the ASERT anchor.
	PowLimit     *big.Int
	PowLimitBits uint32

	// TargetSpacing is the intended seconds between blocks.
	TargetSpacing int64
	// ASERTHalfLife is the seconds of schedule deviation that double (or
	// halve) the target (see NextRequiredBits).
	ASERTHalfLife int64
	// MaxFutureDrift is how far (seconds) a block's timestamp may be ahead
	// of the local clock: Bitcoin's 2 hours = 12 block intervals, scaled
	// to this network's interval. It must be below ASERTHalfLife, so that
	// a timestamp pushed to the limit eases the next target by less than 2×.
	MaxFutureDrift int64
	// MedianTimeBlocks is how many ancestors the median time past spans
	// (always MedianTimeSpan = 11).
	MedianTimeBlocks int

	// InitialSubsidy (atoms) is the block reward at height 0, halved
	// (integer right shift) every HalvingInterval blocks.
	InitialSubsidy  uint64
	HalvingInterval uint64
	// CoinbaseMaturity is the number of confirmations a coinbase output
	// needs before it can be spent: an output created at height h is
	// spendable in a block at height ≥ h + CoinbaseMaturity.
	CoinbaseMaturity uint64

	// MaxBlockSize caps a block's encoding (Block.SerializeSize), header,
	// transactions and contributions included.
	MaxBlockSize int
	// MaxGradientSize caps the sum of a block's contribution sizes
	// (Block.GradientSize).
	MaxGradientSize int
	// MaxContributions caps a block's contribution count; it equals
	// Training.MaxContributions.
	MaxContributions int

	// Training holds the consensus training rules: model, sketch,
	// learning rates, local steps, contribution limits, initial weights.
	Training state.Rules

	// DefaultPort is the default p2p listening port; Bootstrap lists
	// bootstrap peer addresses (multiaddrs), empty where none is known.
	DefaultPort int
	Bootstrap   []string

	// Anti-DoS policy. These are not consensus rules (RulesDigest leaves
	// them out: nodes may differ on them without splitting the network);
	// they decide what a node spends storage and bandwidth on.
	//
	// LowWorkMargin: a block or header whose branch has less cumulative
	// work than the tip's minus the work of LowWorkMargin blocks at the
	// tip's difficulty is "far below the tip". Such a block is not stored
	// (ProcessBlock: ErrLowWork) unless headers-first sync indexed its
	// header on a branch that reaches above that mark, and header-only
	// entries of such branches are few and pruned first (ProcessHeaders).
	// ASERT gives the easiest target to a branch behind schedule (a fork
	// off genesis, say), so without this every fake block would cost about
	// PowLimit work however much work the real chain has. It is Bitcoin
	// Core's 144 blocks (a day at 10 minutes) scaled to a day of blocks
	// on the public networks and to an hour on devnet; forks closer to the
	// tip than that (every reorg test) are stored and followed as before.
	LowWorkMargin uint64
	// MinimumChainWork: headers-first sync downloads no block bodies from
	// a peer whose header chain has less cumulative work than this (nor
	// from one whose headers do not beat our tip). Nil or 0: no minimum.
	// All networks launch with 0 (there is no history to pin yet); set it
	// from a well-known tip's work once the network has one, as Bitcoin
	// Core does with nMinimumChainWork.
	MinimumChainWork *big.Int

	// GenesisBlock is the network's first block and GenesisHash its hash.
	// The genesis block is trusted by identity: its hash is the root of the
	// chain, so it is never validated like other blocks and need not meet
	// its own proof of work. Its coinbase pays nothing to an unspendable
	// all-zero address and is never added to the UTXO set.
	GenesisBlock *Block
	GenesisHash  Hash
}

// Limits that hold for every network's parameters.
const (
	// MaxBlockSizeLimit is the largest MaxBlockSize any network may set.
	MaxBlockSizeLimit = 1 << 30
	// MaxASERTHalfLife bounds the half-life (about 34 years), keeping the
	// exponent arithmetic far from any edge.
	MaxASERTHalfLife = 1 << 30
)

// Network names.
const (
	DevnetName  = "devnet"
	TestnetName = "testnet"
	MainnetName = "mainnet"
)

// NetworkNames lists the built-in networks.
func NetworkNames() []string { return []string{DevnetName, TestnetName, MainnetName} }

// ParamsByName returns fresh parameters of the named built-in network.
func ParamsByName(name string) (*Params, error) {
	switch name {
	case DevnetName:
		return DevnetParams(), nil
	case TestnetName:
		return TestnetParams(), nil
	case MainnetName:
		return MainnetParams(), nil
	}
	return nil, ruleError(ErrBadParams, "unknown network %q (known: %s)", name, strings.Join(NetworkNames(), ", "))
}

// powLimit returns 2^bits − 1.
func powLimit(bits uint) *big.Int {
	return new(big.Int).Sub(new(big.Int).Lsh(bigOne, bits), bigOne)
}

func seed(s string) (out [32]byte) {
	copy(out[:], s)
	return out
}

// gptRules returns training rules for a byte-level GPT with a count-sketch
// of nnz tables of width `width` and top-`width` heavy-hitter recovery,
// int8 payloads in blocks of 256.
func gptRules(network string, layers, width, heads, ctx, compression, localSteps, maxContribs int, globalLR, localLR float32) state.Rules {
	r := state.Rules{
		Model: state.ModelConfig{
			Kind: state.ModelGPT, Vocab: 256, Context: ctx, Layers: layers,
			Width: width, Heads: heads, MLPMult: 4, InitStd: 0.02,
		},
		InitSeed:         seed("gradientcoin/" + network),
		GlobalLR:         globalLR,
		LocalLR:          localLR,
		LocalSteps:       localSteps,
		MaxContributions: maxContribs,
		ChunkSize:        state.DefaultChunkSize,
	}
	r.Sketch = sketch.Config{
		Family: sketch.CountSketch, Rows: r.Model.ParamCount() / compression, NNZ: 1,
		QuantBits: 8, QuantBlock: 256,
	}
	r.MaxContributionBytes = state.ContributionSize(r.Sketch)
	return r
}

// txBudget is the room a block keeps for its header and transactions on
// top of its contributions (each also takes a 4-byte length prefix).
const txBudget = 2 << 20

func setSizes(p *Params) {
	p.MaxContributions = p.Training.MaxContributions
	p.MaxGradientSize = p.Training.MaxContributions * p.Training.MaxContributionBytes
	p.MaxBlockSize = p.MaxGradientSize + 4*p.MaxContributions + txBudget
}

// Genesis state roots of the built-in networks, computed once: the
// genesis weights are a pure function of the rules, and the larger models
// take a noticeable fraction of a second to generate and hash.
var (
	devnetStateRoot  = sync.OnceValues(func() (Hash, error) { return GenesisStateRoot(devnetRules()) })
	testnetStateRoot = sync.OnceValues(func() (Hash, error) { return GenesisStateRoot(testnetRules()) })
	mainnetStateRoot = sync.OnceValues(func() (Hash, error) { return GenesisStateRoot(mainnetRules()) })
)

// devnetRules: a 2-layer, 32-wide GPT (34,688 parameters) that the
// devnet demo trains on a 2-core laptop in about a minute. Its sketch is a
// plain count-sketch at 10× compression (int8, 3,712-byte contributions)
// with GlobalLR 0.3 (the unbiased families add noise ≈ √c·‖Δ‖, so they
// want GlobalLR ≈ 1/√c), and local AdamW at 1e-2: in the paper-mode
// simulation of 3 workers × 30 blocks (worker/devnet's explore test) the
// validation loss falls 5.52 → 1.15, as with the dense int8 sketch, while
// the count-sketch with top-k recovery and error feedback diverged (one
// contribution per block, as in bench/results/compression.md).
func devnetRules() state.Rules {
	return gptRules(DevnetName, 2, 32, 4, 32, 10, 8, 16, 0.3, 1e-2)
}

// testnetRules and mainnetRules use the same scheme as devnet (plain
// count-sketch at 10×, int8, GlobalLR ≈ 1/√10) with local learning rates
// for their model sizes (nanoGPT trains its 10M-parameter model at 1e-3).
func testnetRules() state.Rules {
	return gptRules(TestnetName, 4, 128, 4, 64, 10, 16, 16, 0.3, 3e-3)
}
func mainnetRules() state.Rules {
	return gptRules(MainnetName, 6, 384, 6, 256, 10, 32, 16, 0.3, 1e-3)
}

// DevnetParams returns the development network: a block at the PoW limit
// takes ~256 hashes (any laptop mines in well under a second), 5-second
// spacing, coinbases spendable after 5 blocks, a tiny GPT.
func DevnetParams() *Params {
	p := &Params{
		Name:             DevnetName,
		AddressPrefix:    "gcdev",
		GenesisTimestamp: 1767225600, // 2026-01-01T00:00:00Z
		GenesisMessage:   "GradientCoin devnet: blocks that learn",
		PowLimit:         powLimit(248),
		PowLimitBits:     0x2000ffff,
		TargetSpacing:    5,
		ASERTHalfLife:    120 * 5,
		MaxFutureDrift:   12 * 5,
		MedianTimeBlocks: MedianTimeSpan,
		InitialSubsidy:   50 * AtomsPerCoin,
		HalvingInterval:  10_000,
		CoinbaseMaturity: 5,
		Training:         devnetRules(),
		DefaultPort:      28633,
		LowWorkMargin:    720, // an hour of blocks
		MinimumChainWork: new(big.Int),
	}
	setSizes(p)
	p.initGenesis(devnetStateRoot)
	return p
}

// TestnetParams returns the public test network: 30-second spacing, a
// 4-layer 128-wide GPT, Bitcoin's coinbase maturity.
func TestnetParams() *Params {
	p := &Params{
		Name:             TestnetName,
		AddressPrefix:    "gctest",
		GenesisTimestamp: 1790812800, // 2026-10-01T00:00:00Z
		GenesisMessage:   "GradientCoin testnet: blocks that learn",
		PowLimit:         powLimit(236),
		PowLimitBits:     0x1e0fffff,
		TargetSpacing:    30,
		ASERTHalfLife:    120 * 30,
		MaxFutureDrift:   12 * 30,
		MedianTimeBlocks: MedianTimeSpan,
		InitialSubsidy:   5 * AtomsPerCoin,
		HalvingInterval:  2_100_000,
		CoinbaseMaturity: 100,
		Training:         testnetRules(),
		DefaultPort:      18633,
		LowWorkMargin:    2880, // a day of blocks
		MinimumChainWork: new(big.Int),
	}
	setSizes(p)
	p.initGenesis(testnetStateRoot)
	return p
}

// MainnetParams returns the main network: 60-second spacing, halving about
// every four years (2.1 M blocks), a 6-layer 384-wide GPT (nanoGPT's
// Shakespeare shape). The genesis timestamp is provisional until launch.
func MainnetParams() *Params {
	p := &Params{
		Name:             MainnetName,
		AddressPrefix:    "gc",
		GenesisTimestamp: 1795305600, // 2026-11-22T00:00:00Z
		GenesisMessage:   "GradientCoin mainnet: blocks that learn",
		PowLimit:         powLimit(232),
		PowLimitBits:     0x1e00ffff,
		TargetSpacing:    60,
		ASERTHalfLife:    120 * 60,
		MaxFutureDrift:   12 * 60,
		MedianTimeBlocks: MedianTimeSpan,
		InitialSubsidy:   5 * AtomsPerCoin,
		HalvingInterval:  2_100_000,
		CoinbaseMaturity: 100,
		Training:         mainnetRules(),
		DefaultPort:      8633,
		LowWorkMargin:    1440,         // a day of blocks
		MinimumChainWork: new(big.Int), // 0 at launch: see the field
	}
	setSizes(p)
	p.initGenesis(mainnetStateRoot)
	return p
}

// initGenesis sets the genesis block from a cached state root. On error
// (the rules do not validate) it leaves GenesisBlock nil, which Validate
// reports.
func (p *Params) initGenesis(root func() (Hash, error)) {
	sr, err := root()
	if err != nil {
		return
	}
	blk, err := newGenesisBlock(p, sr)
	if err != nil {
		return
	}
	p.GenesisBlock = blk
	p.GenesisHash = blk.Hash()
}

// InitGenesis (re)computes GenesisBlock and GenesisHash from the other
// fields, generating the genesis weights (cost proportional to the model
// size). Call it after changing a field the genesis depends on
// (GenesisTimestamp, GenesisMessage, PowLimitBits, Training).
func (p *Params) InitGenesis() error {
	blk, err := NewGenesisBlock(p)
	if err != nil {
		return err
	}
	p.GenesisBlock = blk
	p.GenesisHash = blk.Hash()
	return nil
}

// GenesisStateRoot returns the state root of the genesis weights of r:
// state.Root(state.Genesis(r), r.ChunkSize).
func GenesisStateRoot(r state.Rules) (Hash, error) {
	w, err := state.Genesis(r)
	if err != nil {
		return Hash{}, ruleError(ErrBadParams, "genesis weights: %v", err)
	}
	return Hash(r.Root(w)), nil
}

// NewGenesisBlock builds the genesis block of p from its fields: height
// 0, zero parent, version HeaderVersion, timestamp GenesisTimestamp, bits
// PowLimitBits, nonce 0, one coinbase tx (payload: height 0 as u64 LE, then
// GenesisMessage) with a single zero-value output to the all-zero address,
// no contributions, and the state root of the genesis weights.
func NewGenesisBlock(p *Params) (*Block, error) {
	if p == nil {
		return nil, ruleError(ErrBadParams, "genesis: nil params")
	}
	sr, err := GenesisStateRoot(p.Training)
	if err != nil {
		return nil, err
	}
	return newGenesisBlock(p, sr)
}

func newGenesisBlock(p *Params, stateRoot Hash) (*Block, error) {
	if len(p.GenesisMessage) > MaxCoinbasePayload-8-HashSize {
		return nil, ruleError(ErrBadParams, "genesis message: %d bytes, at most %d", len(p.GenesisMessage), MaxCoinbasePayload-8-HashSize)
	}
	digest := p.RulesDigest()
	payload := binary.LittleEndian.AppendUint64(nil, 0)
	payload = append(payload, digest[:]...)
	payload = append(payload, p.GenesisMessage...)
	cb := &Tx{
		Version: TxVersion,
		Inputs:  []TxIn{{PrevOut: OutPoint{TxID: ZeroHash, Index: CoinbaseIndex}}},
		Outputs: []TxOut{{Value: 0, Address: Address{}}},
		Payload: payload,
	}
	blk := &Block{
		Header: Header{
			Version:   HeaderVersion,
			Height:    0,
			PrevBlock: ZeroHash,
			StateRoot: stateRoot,
			Timestamp: p.GenesisTimestamp,
			Bits:      p.PowLimitBits,
			Nonce:     0,
		},
		Txs: []*Tx{cb},
	}
	blk.Header.TxRoot = CalcTxRoot(blk.Txs)
	blk.Header.GradientRoot = CalcGradientRoot(blk.Contributions)
	return blk, nil
}

// RulesDigest commits to every consensus parameter of the network (the
// chain rules and the training rules). The genesis coinbase carries it
// after the height, so the genesis hash, which names the network on the
// wire and anchors every signature, changes whenever any rule does: nodes
// that disagree on a rule never share a network.
func (p *Params) RulesDigest() Hash {
	b := make([]byte, 0, 256)
	str := func(s string) { b = appendBytes(b, []byte(s)) }
	u64 := func(v uint64) { b = appendU64(b, v) }
	i := func(v int) { b = appendU64(b, uint64(int64(v))) }
	f32 := func(v float32) { b = appendU32(b, math.Float32bits(v)) }
	str(p.Name)
	str(p.AddressPrefix)
	u64(uint64(p.GenesisTimestamp))
	if p.PowLimit != nil {
		lim := TargetBytes(p.PowLimit)
		b = append(b, lim[:]...)
	}
	b = appendU32(b, p.PowLimitBits)
	for _, v := range []int64{p.TargetSpacing, p.ASERTHalfLife, p.MaxFutureDrift} {
		u64(uint64(v))
	}
	i(p.MedianTimeBlocks)
	u64(p.InitialSubsidy)
	u64(p.HalvingInterval)
	u64(p.CoinbaseMaturity)
	i(p.MaxBlockSize)
	i(p.MaxGradientSize)
	i(p.MaxContributions)
	t := p.Training
	m := t.Model
	for _, v := range []int{int(m.Kind), m.Vocab, m.Context, m.Layers, m.Width, m.Heads, m.MLPMult, m.Dim, m.Rows, m.Count} {
		i(v)
	}
	f32(m.Lambda)
	f32(m.InitStd)
	sk := t.Sketch
	for _, v := range []int{int(sk.Family), sk.Rows, sk.NNZ, sk.TopK, sk.QuantBits, sk.QuantBlock} {
		i(v)
	}
	b = append(b, t.InitSeed[:]...)
	f32(t.GlobalLR)
	f32(t.LocalLR)
	for _, v := range []int{t.LocalSteps, t.MaxContributions, t.MaxContributionBytes, t.ChunkSize} {
		i(v)
	}
	return TaggedHash("gradientcoin/rules", b)
}

// Subsidy returns the block reward (atoms) at height: InitialSubsidy
// shifted right once per HalvingInterval blocks, zero from the 64th
// halving on. Invalid params (HalvingInterval 0) give 0.
func (p *Params) Subsidy(height uint64) uint64 {
	if p.HalvingInterval == 0 {
		return 0
	}
	halvings := height / p.HalvingInterval
	if halvings >= 64 {
		return 0
	}
	return p.InitialSubsidy >> halvings
}

// SupplyAt returns the coins (atoms) issued by blocks 1..height: the sum
// of their subsidies, the total supply at that height (fees move coins,
// they do not create them; the genesis coinbase creates none). It
// saturates at 2^64−1, which valid params never reach (Validate checks
// that the total stays within MaxMoney).
func (p *Params) SupplyAt(height uint64) uint64 {
	if p.HalvingInterval == 0 || height == 0 {
		return 0
	}
	var total uint64
	add := func(n, v uint64) bool { // total += n·v; false (saturated) on overflow
		hi, lo := bits.Mul64(n, v)
		s, c := bits.Add64(total, lo, 0)
		if hi != 0 || c != 0 {
			total = ^uint64(0)
			return false
		}
		total = s
		return true
	}
	// Heights 0..height: eras 0..q−1 complete, era q holds heights
	// q·I..q·I+rem. Then drop height 0 (the genesis creates nothing).
	q, rem := height/p.HalvingInterval, height%p.HalvingInterval
	for e := uint64(0); e < q && e < 64; e++ {
		if !add(p.HalvingInterval, p.InitialSubsidy>>e) {
			return total
		}
	}
	if q < 64 && !add(rem+1, p.InitialSubsidy>>q) {
		return total
	}
	return total - p.InitialSubsidy
}

// MaxSupply returns Σ Subsidy(h) over every height h ≥ 0 (the genesis
// included, although it creates nothing), exactly: HalvingInterval ·
// Σ_{e<64} (InitialSubsidy >> e). ok is false if it overflows uint64.
func (p *Params) MaxSupply() (total uint64, ok bool) {
	for e := 0; e < 64; e++ {
		hi, lo := bits.Mul64(p.HalvingInterval, p.InitialSubsidy>>e)
		s, c := bits.Add64(total, lo, 0)
		if hi != 0 || c != 0 {
			return 0, false
		}
		total = s
	}
	return total, true
}

// Validate checks that the parameters are consistent: PoW limit and its
// bits, timing, subsidy schedule within MaxMoney, size caps, training
// rules, and that the genesis block matches the fields (its state root is
// not recomputed here; CheckGenesisState does that). Errors wrap
// ErrBadParams and name the field.
func (p *Params) Validate() error {
	bad := func(format string, a ...any) error {
		name := "<nil>"
		if p != nil {
			name = p.Name
		}
		return ruleError(ErrBadParams, "params %q: "+format, append([]any{name}, a...)...)
	}
	if p == nil {
		return bad("nil")
	}
	if p.Name == "" {
		return bad("empty name")
	}
	if !validPrefix(p.AddressPrefix) {
		return bad("address prefix %q: want 1 to 16 lowercase letters", p.AddressPrefix)
	}
	if p.PowLimit == nil || p.PowLimit.Sign() <= 0 || p.PowLimit.BitLen() > 256 {
		return bad("pow limit %v: want 0 < limit < 2^256", p.PowLimit)
	}
	if want := BigToCompact(p.PowLimit); p.PowLimitBits != want {
		return bad("pow limit bits %08x, want %08x (BigToCompact of the limit)", p.PowLimitBits, want)
	}
	if _, err := TargetFromBits(p.PowLimitBits, p.PowLimit); err != nil {
		return bad("pow limit bits: %v", err)
	}
	switch {
	case p.TargetSpacing <= 0:
		return bad("target spacing %d s: want > 0", p.TargetSpacing)
	case p.ASERTHalfLife <= 0 || p.ASERTHalfLife > MaxASERTHalfLife:
		return bad("ASERT half-life %d s: want in (0, %d]", p.ASERTHalfLife, MaxASERTHalfLife)
	case p.MaxFutureDrift <= 0 || p.MaxFutureDrift >= p.ASERTHalfLife:
		return bad("max future drift %d s: want in (0, half-life %d)", p.MaxFutureDrift, p.ASERTHalfLife)
	case p.MedianTimeBlocks != MedianTimeSpan:
		return bad("median time blocks %d, want %d", p.MedianTimeBlocks, MedianTimeSpan)
	case p.InitialSubsidy == 0 || p.InitialSubsidy > MaxMoney:
		return bad("initial subsidy %d: want in (0, %d]", p.InitialSubsidy, uint64(MaxMoney))
	case p.HalvingInterval == 0:
		return bad("halving interval 0")
	case p.CoinbaseMaturity == 0:
		return bad("coinbase maturity 0: want ≥ 1")
	}
	if total, ok := p.MaxSupply(); !ok || total > MaxMoney {
		return bad("subsidies sum to more than MaxMoney %d (halving interval %d, initial subsidy %d)", uint64(MaxMoney), p.HalvingInterval, p.InitialSubsidy)
	}
	if err := p.Training.Validate(); err != nil {
		return bad("training rules: %v", err)
	}
	switch {
	case p.MaxContributions < 1 || p.MaxContributions > MaxBlockContributions:
		return bad("max contributions %d: want in [1, %d]", p.MaxContributions, MaxBlockContributions)
	case p.MaxContributions != p.Training.MaxContributions:
		return bad("max contributions %d differs from the training rules' %d", p.MaxContributions, p.Training.MaxContributions)
	case 1+p.MaxContributions > MaxCoinbaseOuts:
		return bad("max contributions %d: a coinbase pays the miner and each contributor, so 1 + %d outputs exceed the coinbase output cap %d", p.MaxContributions, p.MaxContributions, MaxCoinbaseOuts)
	case p.Training.MaxContributionBytes > MaxContributionBytes:
		return bad("max contribution bytes %d above the protocol cap %d", p.Training.MaxContributionBytes, MaxContributionBytes)
	case p.MaxGradientSize < p.Training.MaxContributionBytes:
		return bad("max gradient size %d below one contribution (%d bytes)", p.MaxGradientSize, p.Training.MaxContributionBytes)
	case p.MaxBlockSize > MaxBlockSizeLimit:
		return bad("max block size %d above %d", p.MaxBlockSize, MaxBlockSizeLimit)
	case p.MaxBlockSize < p.MaxGradientSize+HeaderSize+8:
		return bad("max block size %d cannot hold max gradient size %d plus a header", p.MaxBlockSize, p.MaxGradientSize)
	case p.DefaultPort < 1 || p.DefaultPort > 65535:
		return bad("default port %d out of range", p.DefaultPort)
	case p.LowWorkMargin == 0:
		return bad("low-work margin 0: want ≥ 1 block")
	case p.MinimumChainWork != nil && (p.MinimumChainWork.Sign() < 0 || p.MinimumChainWork.BitLen() > 256):
		return bad("minimum chain work %v: want 0 ≤ work < 2^256", p.MinimumChainWork)
	}
	if p.GenesisBlock == nil {
		return bad("no genesis block (training rules or genesis message invalid?)")
	}
	want, err := newGenesisBlock(p, p.GenesisBlock.Header.StateRoot)
	if err != nil {
		return bad("%v", err)
	}
	if got, wantRaw := p.GenesisBlock.Bytes(), want.Bytes(); string(got) != string(wantRaw) {
		return bad("genesis block does not match the parameters (call InitGenesis after changing them)")
	}
	if h := p.GenesisBlock.Hash(); h != p.GenesisHash {
		return bad("genesis hash %s, but the genesis block hashes to %s", p.GenesisHash, h)
	}
	return nil
}

// CheckGenesisState regenerates the genesis weights and checks that the
// genesis block's state root commits to them (slow for large models).
func (p *Params) CheckGenesisState() error {
	if p == nil || p.GenesisBlock == nil {
		return ruleError(ErrBadParams, "no genesis block")
	}
	sr, err := GenesisStateRoot(p.Training)
	if err != nil {
		return err
	}
	if got := p.GenesisBlock.Header.StateRoot; got != sr {
		return ruleError(ErrBadGenesis, "params %q: genesis state root %x, but the genesis weights hash to %x", p.Name, got[:], sr[:])
	}
	return nil
}

func validPrefix(s string) bool {
	if len(s) < 1 || len(s) > 16 {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < 'a' || s[i] > 'z' {
			return false
		}
	}
	return true
}

// String returns the network name.
func (p *Params) String() string {
	if p == nil {
		return "<nil params>"
	}
	return fmt.Sprintf("%s (genesis %s)", p.Name, p.GenesisHash)
}
