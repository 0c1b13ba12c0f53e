package train

import (
	"testing"

	"github.com/gradientcoin/gradientcoin/chain/state"
	"github.com/gradientcoin/gradientcoin/worker/data"
	"github.com/gradientcoin/gradientcoin/worker/model"
)

// BenchmarkTrainStep measures one AdamW training step (forward, backward,
// update) of small GPTs on the built-in corpus, in tokens/s.
func BenchmarkTrainStep(b *testing.B) {
	corp, err := data.Synthetic(data.SyntheticConfig{})
	if err != nil {
		b.Fatal(err)
	}
	for _, c := range []struct {
		name                     string
		width, ctx, batch, heads int
	}{
		{"devnet/width=32/ctx=16/batch=16", 32, 16, 16, 4},
		{"devnet/width=64/ctx=16/batch=16", 64, 16, 16, 4},
		{"width=64/ctx=16/batch=32", 64, 16, 32, 4},
		{"devrules/width=64/ctx=64/batch=8", 64, 64, 8, 4},
	} {
		cfg := state.ModelConfig{Kind: state.ModelGPT, Vocab: 256, Context: c.ctx, Layers: 2, Width: c.width, Heads: c.heads, MLPMult: 4, InitStd: 0.02}
		b.Run(c.name, func(b *testing.B) {
			m, err := model.NewGPT(cfg, c.batch, c.ctx, true)
			if err != nil {
				b.Fatal(err)
			}
			defer m.Close()
			s, _ := data.NewSampler(corp.Train, nil, c.batch, c.ctx)
			obj, _ := NewGPTObjective(m, s)
			w, _ := model.InitWeights(cfg, 1)
			mask, _ := model.DecayMask(cfg)
			opt, _ := NewOptimizer(OptConfig{Kind: AdamW, LR: 3e-3, WeightDecay: 0.1, ClipNorm: 1}, len(w), mask)
			rng := NewRand(1)
			b.ResetTimer()
			if _, err := Steps(obj, w, opt, b.N, rng); err != nil {
				b.Fatal(err)
			}
			b.ReportMetric(float64(b.N*c.batch*c.ctx)/b.Elapsed().Seconds(), "tokens/s")
			b.ReportMetric(float64(m.NumParams()), "params")
		})
	}
}
