package state

import (
	"fmt"
	"testing"

	"github.com/gradientcoin/gradientcoin/chain/sketch"
)

// benchRules: a 10^7-parameter model (softmax regression, so the layout is
// one tensor) with count-sketch top-k recovery at 100× compression and
// int8 payloads, 64 KiB state-root chunks.
func benchRules(d int) Rules {
	m := d / 100
	r := Rules{
		Model:            ModelConfig{Kind: ModelSoftmaxRegression, Dim: d, Rows: 4, Count: 2, Lambda: 0.1},
		Sketch:           sketch.Config{Family: sketch.CountSketch, Rows: m, NNZ: 5, TopK: m / 2, QuantBits: 8, QuantBlock: 256},
		GlobalLR:         1,
		LocalSteps:       1,
		MaxContributions: 16,
		ChunkSize:        DefaultChunkSize,
	}
	r.MaxContributionBytes = ContributionSize(r.Sketch)
	return r
}

// BenchmarkApply measures Apply (verify, aggregate, top-k de-sketch,
// update) followed by the state root, for n contributions on 10^7
// parameters; GB/s counts the 4·d weight bytes.
func BenchmarkApply(b *testing.B) {
	const d = 10_000_000
	r := benchRules(d)
	w := make([]float32, d)
	parent := [32]byte{1}
	var raws [][]byte
	for i := 0; i < 4; i++ {
		delta := make([]float32, d)
		k := sketch.Key{A: uint64(i), B: 3}
		for j := range delta {
			delta[j] = float32(1e-3 * k.Normal(uint64(j)))
		}
		c, _, err := MakeContribution(r, parent, delta, nil, workerKey(i), [32]byte{})
		if err != nil {
			b.Fatal(err)
		}
		raws = append(raws, c.Encode())
	}
	for _, n := range []int{1, 4} {
		b.Run(fmt.Sprintf("d=1e7/n=%d", n), func(b *testing.B) {
			b.SetBytes(4 * d)
			for i := 0; i < b.N; i++ {
				if err := Apply(r, w, parent, raws[:n]); err != nil {
					b.Fatal(err)
				}
				_ = r.Root(w)
			}
			b.ReportMetric(float64(4*d)*float64(b.N)/b.Elapsed().Seconds()/1e9, "GB/s")
		})
	}
}

// BenchmarkRoot measures the state root of 10^7 weights.
func BenchmarkRoot(b *testing.B) {
	const d = 10_000_000
	w := make([]float32, d)
	for i := range w {
		w[i] = float32(i)
	}
	b.Run("d=1e7", func(b *testing.B) {
		b.SetBytes(4 * d)
		for i := 0; i < b.N; i++ {
			_ = Root(w, DefaultChunkSize)
		}
		b.ReportMetric(float64(4*d)*float64(b.N)/b.Elapsed().Seconds()/1e9, "GB/s")
	})
}
