package chain

import (
	"bytes"
	"encoding/binary"
	"errors"
	"math"
	"math/big"
	"strings"
	"testing"
)

func allParams() []*Params { return []*Params{DevnetParams(), TestnetParams(), MainnetParams()} }

func TestBuiltinParamsValid(t *testing.T) {
	prefixes := map[string]string{DevnetName: "gcdev", TestnetName: "gctest", MainnetName: "gc"}
	seen := map[Hash]string{}
	for _, p := range allParams() {
		if err := p.Validate(); err != nil {
			t.Errorf("%s: Validate: %v", p.Name, err)
		}
		if err := p.CheckGenesisState(); err != nil {
			t.Errorf("%s: CheckGenesisState: %v", p.Name, err)
		}
		if p.AddressPrefix != prefixes[p.Name] {
			t.Errorf("%s: address prefix %q, want %q", p.Name, p.AddressPrefix, prefixes[p.Name])
		}
		if other, dup := seen[p.GenesisHash]; dup {
			t.Errorf("%s: genesis hash equals %s's", p.Name, other)
		}
		seen[p.GenesisHash] = p.Name
		if p.MedianTimeBlocks != 11 {
			t.Errorf("%s: median time blocks %d", p.Name, p.MedianTimeBlocks)
		}
		// Bitcoin's 2 h drift is 12 block intervals.
		if p.MaxFutureDrift != 12*p.TargetSpacing {
			t.Errorf("%s: drift %d s, want 12 × %d s", p.Name, p.MaxFutureDrift, p.TargetSpacing)
		}
		if p.MaxGradientSize > p.MaxBlockSize {
			t.Errorf("%s: gradient cap %d above block cap %d", p.Name, p.MaxGradientSize, p.MaxBlockSize)
		}
	}
	d := DevnetParams()
	if d.TargetSpacing < 2 || d.TargetSpacing > 5 || d.CoinbaseMaturity > 10 {
		t.Errorf("devnet: spacing %d s, maturity %d: want a fast network", d.TargetSpacing, d.CoinbaseMaturity)
	}
	if w := CalcWork(d.PowLimitBits); w.BitLen() > 9 {
		t.Errorf("devnet: %v hashes per block at the limit: not a laptop network", w)
	}
}

func TestParamsFresh(t *testing.T) {
	a, b := DevnetParams(), DevnetParams()
	a.PowLimit.SetInt64(1)
	a.GenesisBlock.Header.Nonce = 99
	a.Bootstrap = append(a.Bootstrap, "x")
	if b.PowLimit.Cmp(bigOne) == 0 || b.GenesisBlock.Header.Nonce == 99 || len(b.Bootstrap) != 0 {
		t.Fatal("two DevnetParams calls share state")
	}
	if c := DevnetParams(); c.GenesisHash != b.GenesisHash {
		t.Fatal("DevnetParams is not deterministic")
	}
}

func TestParamsByName(t *testing.T) {
	for _, name := range NetworkNames() {
		p, err := ParamsByName(name)
		if err != nil || p.Name != name {
			t.Errorf("%s: %v, %v", name, p, err)
		}
	}
	for _, name := range []string{"", "Mainnet", "regtest", "devnet "} {
		p, err := ParamsByName(name)
		if p != nil || !errors.Is(err, ErrBadParams) {
			t.Errorf("%q: got %v, %v; want ErrBadParams", name, p, err)
			continue
		}
		msg := err.Error()
		if !strings.Contains(msg, "\""+name+"\"") || !strings.Contains(msg, "devnet, testnet, mainnet") {
			t.Errorf("%q: message %q should name it and list the networks", name, msg)
		}
	}
}

func TestGenesisBlock(t *testing.T) {
	for _, p := range allParams() {
		g := p.GenesisBlock
		h := g.Header
		switch {
		case h.Version != HeaderVersion || h.Height != 0 || !h.PrevBlock.IsZero() || h.Nonce != 0:
			t.Errorf("%s: genesis header %+v", p.Name, h)
		case h.Timestamp != p.GenesisTimestamp || h.Bits != p.PowLimitBits:
			t.Errorf("%s: genesis time %d bits %08x", p.Name, h.Timestamp, h.Bits)
		case h.TxRoot != CalcTxRoot(g.Txs) || h.GradientRoot != CalcGradientRoot(nil) || len(g.Contributions) != 0:
			t.Errorf("%s: genesis roots", p.Name)
		case p.GenesisHash != g.Hash() || p.GenesisHash != h.BlockHash():
			t.Errorf("%s: genesis hash", p.Name)
		case len(g.Txs) != 1 || !g.Txs[0].IsCoinbase():
			t.Errorf("%s: genesis txs %d", p.Name, len(g.Txs))
		}
		cb := g.Txs[0]
		if len(cb.Outputs) != 1 || cb.Outputs[0].Value != 0 || cb.Outputs[0].Address != (Address{}) {
			t.Errorf("%s: genesis coinbase outputs %+v", p.Name, cb.Outputs)
		}
		if len(cb.Payload) < 8 || binary.LittleEndian.Uint64(cb.Payload) != 0 || len(cb.Payload) < 8+HashSize ||
			Hash(cb.Payload[8:8+HashSize]) != p.RulesDigest() || string(cb.Payload[8+HashSize:]) != p.GenesisMessage {
			t.Errorf("%s: genesis payload %q", p.Name, cb.Payload)
		}
		raw := g.Bytes()
		back, err := DecodeBlock(raw)
		if err != nil || !bytes.Equal(back.Bytes(), raw) || back.Hash() != p.GenesisHash {
			t.Errorf("%s: genesis does not round-trip: %v", p.Name, err)
		}
		// The genesis is trusted by identity; the first block's required
		// bits are the limit when it is on schedule.
		if b := NextRequiredBits(p, 0, p.GenesisTimestamp); b != p.PowLimitBits {
			t.Errorf("%s: block 1 bits %08x, want the limit %08x", p.Name, b, p.PowLimitBits)
		}
	}
	// InitGenesis on unchanged fields reproduces the cached genesis.
	p := DevnetParams()
	want := p.GenesisHash
	if err := p.InitGenesis(); err != nil || p.GenesisHash != want {
		t.Fatalf("InitGenesis: %v, %s vs %s", err, p.GenesisHash, want)
	}
}

func TestParamsValidateRejects(t *testing.T) {
	cases := []struct {
		name string
		mut  func(p *Params)
		want string // substring of the error
	}{
		{"empty name", func(p *Params) { p.Name = "" }, "empty name"},
		{"prefix with digit", func(p *Params) { p.AddressPrefix = "gc1" }, "address prefix"},
		{"empty prefix", func(p *Params) { p.AddressPrefix = "" }, "address prefix"},
		{"nil limit", func(p *Params) { p.PowLimit = nil }, "pow limit"},
		{"limit 2^256", func(p *Params) { p.PowLimit = powLimit(257) }, "pow limit"},
		{"limit bits mismatch", func(p *Params) { p.PowLimitBits = 0x1f00ffff }, "pow limit bits"},
		{"zero spacing", func(p *Params) { p.TargetSpacing = 0 }, "target spacing"},
		{"zero half-life", func(p *Params) { p.ASERTHalfLife = 0 }, "half-life"},
		{"drift not below half-life", func(p *Params) { p.MaxFutureDrift = p.ASERTHalfLife }, "drift"},
		{"zero drift", func(p *Params) { p.MaxFutureDrift = 0 }, "drift"},
		{"median span 10", func(p *Params) { p.MedianTimeBlocks = 10 }, "median time"},
		{"subsidy above MaxMoney", func(p *Params) { p.InitialSubsidy = MaxMoney + 1 }, "initial subsidy"},
		{"supply above MaxMoney", func(p *Params) { p.HalvingInterval = 1 << 40 }, "MaxMoney"},
		{"supply overflows", func(p *Params) { p.HalvingInterval = math.MaxUint64 }, "MaxMoney"},
		{"halving 0", func(p *Params) { p.HalvingInterval = 0 }, "halving"},
		{"maturity 0", func(p *Params) { p.CoinbaseMaturity = 0 }, "maturity"},
		{"bad training", func(p *Params) { p.Training.GlobalLR = 0 }, "training"},
		{"contributions mismatch", func(p *Params) { p.MaxContributions++ }, "max contributions"},
		{"contributions above coinbase outputs", func(p *Params) {
			p.Training.MaxContributions, p.MaxContributions = MaxCoinbaseOuts, MaxCoinbaseOuts
			p.MaxGradientSize = MaxCoinbaseOuts * p.Training.MaxContributionBytes
			p.MaxBlockSize = p.MaxGradientSize + 4*MaxCoinbaseOuts + txBudget
		}, "coinbase output cap"},
		{"gradient below one contribution", func(p *Params) { p.MaxGradientSize = 10 }, "gradient size"},
		{"block below gradient", func(p *Params) { p.MaxBlockSize = p.MaxGradientSize }, "block size"},
		{"block too large", func(p *Params) { p.MaxBlockSize = MaxBlockSizeLimit + 1 }, "block size"},
		{"port 0", func(p *Params) { p.DefaultPort = 0 }, "port"},
		{"low-work margin 0", func(p *Params) { p.LowWorkMargin = 0 }, "low-work margin"},
		{"negative minimum chain work", func(p *Params) { p.MinimumChainWork = big.NewInt(-1) }, "minimum chain work"},
		{"no genesis", func(p *Params) { p.GenesisBlock = nil }, "genesis"},
		{"stale genesis", func(p *Params) { p.GenesisTimestamp++ }, "InitGenesis"},
		{"message too long", func(p *Params) { p.GenesisMessage = strings.Repeat("x", 93) }, "genesis message"},
		{"wrong genesis hash", func(p *Params) { p.GenesisHash[0]++ }, "genesis hash"},
	}
	for _, c := range cases {
		p := DevnetParams()
		c.mut(p)
		err := p.Validate()
		if !errors.Is(err, ErrBadParams) || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: got %v, want ErrBadParams mentioning %q", c.name, err, c.want)
		}
	}
	// The largest contribution count a coinbase can pay: 1 + 255 = 256 outputs.
	edge := DevnetParams()
	edge.Training.MaxContributions, edge.MaxContributions = MaxCoinbaseOuts-1, MaxCoinbaseOuts-1
	setSizes(edge)
	if err := edge.InitGenesis(); err != nil {
		t.Fatal(err)
	}
	if err := edge.Validate(); err != nil {
		t.Errorf("%d contributions (coinbase of %d outputs): %v", edge.MaxContributions, MaxCoinbaseOuts, err)
	}
	var nilp *Params
	if err := nilp.Validate(); !errors.Is(err, ErrBadParams) {
		t.Errorf("nil params: %v", err)
	}
	// A changed field plus InitGenesis validates again.
	p := DevnetParams()
	p.GenesisTimestamp = 1800000000
	if err := p.InitGenesis(); err != nil {
		t.Fatal(err)
	}
	if err := p.Validate(); err != nil {
		t.Fatalf("after InitGenesis: %v", err)
	}
	// A bad state root is caught by CheckGenesisState.
	p.GenesisBlock.Header.StateRoot[0]++
	if err := p.CheckGenesisState(); !errors.Is(err, ErrBadGenesis) {
		t.Fatalf("tampered state root: %v", err)
	}
}

func TestSubsidy(t *testing.T) {
	p := MainnetParams()
	I, S := p.HalvingInterval, p.InitialSubsidy
	cases := []struct {
		name   string
		height uint64
		want   uint64
	}{
		{"genesis height", 0, S},
		{"first block", 1, S},
		{"last of era 0", I - 1, S},
		{"first halving", I, S / 2},
		{"second halving", 2 * I, S / 4},
		{"33rd halving", 33 * I, S >> 33},
		{"63rd halving", 63 * I, S >> 63},
		{"64th halving", 64 * I, 0},
		{"max height", math.MaxUint64, 0},
	}
	for _, c := range cases {
		if got := p.Subsidy(c.height); got != c.want {
			t.Errorf("%s: subsidy(%d) = %d, want %d", c.name, c.height, got, c.want)
		}
	}
	// Tiny interval: 64 halvings of a 2^63 subsidy reach 1 then 0 exactly.
	q := &Params{InitialSubsidy: 1 << 63, HalvingInterval: 1}
	for h := uint64(0); h < 70; h++ {
		want := uint64(0)
		if h < 64 {
			want = 1 << (63 - h)
		}
		if got := q.Subsidy(h); got != want {
			t.Errorf("2^63 subsidy at halving %d: %d, want %d", h, got, want)
		}
	}
	if (&Params{InitialSubsidy: 5}).Subsidy(10) != 0 {
		t.Error("zero halving interval should give 0")
	}
}

// TestSupplyFormula: Σ subsidies equals HalvingInterval · Σ_e (S >> e) =
// I·(2S − popcount(S)) exactly, stays ≤ MaxMoney on every network, and
// SupplyAt agrees with a brute-force sum.
func TestSupplyFormula(t *testing.T) {
	for _, p := range allParams() {
		total, ok := p.MaxSupply()
		if !ok || total > MaxMoney {
			t.Errorf("%s: total supply %d (ok=%v) above MaxMoney %d", p.Name, total, ok, uint64(MaxMoney))
		}
		// Σ_{e<64} (S >> e) = 2S − popcount(S) for S < 2^63.
		S := p.InitialSubsidy
		pop := uint64(0)
		for v := S; v != 0; v >>= 1 {
			pop += v & 1
		}
		if want := p.HalvingInterval * (2*S - pop); total != want {
			t.Errorf("%s: total %d, closed form %d", p.Name, total, want)
		}
		// The supply after the last block ever is the total minus the
		// genesis subsidy (the genesis creates nothing).
		if got := p.SupplyAt(math.MaxUint64); got != total-S {
			t.Errorf("%s: SupplyAt(max) = %d, want %d", p.Name, got, total-S)
		}
	}
	small := &Params{InitialSubsidy: 1000, HalvingInterval: 3}
	var sum uint64
	for h := uint64(0); h < 250; h++ {
		if h > 0 {
			sum += small.Subsidy(h)
		}
		if got := small.SupplyAt(h); got != sum {
			t.Fatalf("small params height %d: SupplyAt %d, brute force %d", h, got, sum)
		}
	}
	if got := (&Params{}).SupplyAt(10); got != 0 {
		t.Errorf("invalid params: SupplyAt %d", got)
	}
}

// TestDevnetMinesFast: a devnet block at the limit takes a few hundred
// hashes; here the pure-Go PowJob finds one well within 100k tries.
func TestDevnetMinesFast(t *testing.T) {
	p := DevnetParams()
	h := Header{Version: HeaderVersion, Height: 1, PrevBlock: p.GenesisHash,
		Timestamp: p.GenesisTimestamp + p.TargetSpacing, Bits: NextRequiredBits(p, 0, p.GenesisTimestamp)}
	target, err := TargetFromBits(h.Bits, p.PowLimit)
	if err != nil {
		t.Fatal(err)
	}
	tle := TargetBytes(target)
	job := NewPowJob(&h)
	for n := uint64(0); n < 100_000; n++ {
		if HashMeetsTarget(job.Hash(n), &tle) {
			h.Nonce = n
			if err := CheckProofOfWork(&h, p.PowLimit); err != nil {
				t.Fatalf("nonce %d: %v", n, err)
			}
			return
		}
	}
	t.Fatal("no devnet block in 100k hashes")
}
