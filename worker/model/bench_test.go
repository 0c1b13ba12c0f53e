package model

import (
	"fmt"
	"math/rand/v2"
	"testing"

	"github.com/gradientcoin/gradientcoin/chain/state"
)

func BenchmarkLossGrad(b *testing.B) {
	for _, c := range []struct{ width, ctx, batch int }{{32, 32, 8}, {64, 64, 8}} {
		cfg := state.ModelConfig{Kind: state.ModelGPT, Vocab: 256, Context: c.ctx, Layers: 2, Width: c.width, Heads: 4, MLPMult: 4, InitStd: 0.02}
		b.Run(fmt.Sprintf("width=%d/ctx=%d/batch=%d", c.width, c.ctx, c.batch), func(b *testing.B) {
			m, err := NewGPT(cfg, c.batch, c.ctx, true)
			if err != nil {
				b.Fatal(err)
			}
			defer m.Close()
			w, _ := InitWeights(cfg, 1)
			rng := rand.New(rand.NewPCG(1, 1))
			in := randTokens(rng, c.batch*c.ctx, 256)
			tg := randTokens(rng, c.batch*c.ctx, 256)
			g := make([]float32, len(w))
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				if _, err := m.LossGrad(w, in, tg, g); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(b.N*c.batch*c.ctx)/b.Elapsed().Seconds(), "tokens/s")
		})
	}
}
