package chain

import "testing"

// The genesis hash must change with every consensus rule, so that nodes
// that disagree on one never share a network.
func TestGenesisCommitsToRules(t *testing.T) {
	base := DevnetParams()
	cases := []struct {
		name   string
		change func(p *Params)
	}{
		{"global lr", func(p *Params) { p.Training.GlobalLR = 0.5 }},
		{"local lr", func(p *Params) { p.Training.LocalLR = 2e-2 }},
		{"local steps", func(p *Params) { p.Training.LocalSteps++ }},
		{"sketch rows", func(p *Params) { p.Training.Sketch.Rows += p.Training.Sketch.NNZ }},
		{"sketch quant bits", func(p *Params) { p.Training.Sketch.QuantBits = 32; p.Training.Sketch.QuantBlock = 0 }},
		{"max contributions", func(p *Params) { p.Training.MaxContributions++ }},
		{"chunk size", func(p *Params) { p.Training.ChunkSize *= 2 }},
		{"spacing", func(p *Params) { p.TargetSpacing++ }},
		{"maturity", func(p *Params) { p.CoinbaseMaturity++ }},
		{"subsidy", func(p *Params) { p.InitialSubsidy++ }},
		{"max block size", func(p *Params) { p.MaxBlockSize++ }},
	}
	for _, c := range cases {
		p := DevnetParams()
		c.change(p)
		if p.RulesDigest() == base.RulesDigest() {
			t.Errorf("%s: rules digest unchanged", c.name)
			continue
		}
		// The state root does not depend on these rules; the genesis hash must.
		blk, err := newGenesisBlock(p, base.GenesisBlock.Header.StateRoot)
		if err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		if blk.Hash() == base.GenesisHash {
			t.Errorf("%s: genesis hash unchanged", c.name)
		}
	}
	if DevnetParams().RulesDigest() != base.RulesDigest() {
		t.Error("rules digest is not deterministic")
	}
}
