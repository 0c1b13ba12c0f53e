package sketch

import (
	"fmt"
	"testing"
)

// benchConfig is the configuration benchmarked for each family at
// dimension d: sparse families and SRHT at m = d/100 (100× compression),
// the dense Gaussian and AMS at m = 16 (their cost is m·d).
func benchConfig(family string, d int) Config {
	m := d / 100
	switch family {
	case "gaussian":
		return Config{Family: Gaussian, Rows: 16, QuantBits: 32}
	case "ams":
		return Config{Family: AMS, Rows: 16, QuantBits: 32}
	case "srht":
		return Config{Family: SRHT, Rows: m, QuantBits: 32}
	case "countsketch":
		return Config{Family: CountSketch, Rows: m, NNZ: 1, QuantBits: 32}
	case "countsketch-topk":
		return Config{Family: CountSketch, Rows: m, NNZ: 5, TopK: m / 2, QuantBits: 32}
	case "sparse1":
		return Config{Family: SparseEmbedding1, Rows: m, NNZ: 4, QuantBits: 32}
	case "sparse2":
		return Config{Family: SparseEmbedding2, Rows: m, NNZ: 4, QuantBits: 32}
	case "identity":
		return Config{Family: Identity, Rows: d, QuantBits: 32}
	}
	panic("unknown family " + family)
}

var benchFamilies = []string{"countsketch", "countsketch-topk", "sparse1", "sparse2", "srht", "gaussian", "ams", "identity"}

var benchDims = []struct {
	name string
	d    int
}{{"1e6", 1_000_000}, {"1e7", 10_000_000}}

// BenchmarkSketch measures the worker's S·x; GB/s counts the 4·d input bytes.
func BenchmarkSketch(b *testing.B) {
	for _, f := range benchFamilies {
		for _, dd := range benchDims {
			b.Run(fmt.Sprintf("family=%s/d=%s", f, dd.name), func(b *testing.B) {
				cfg := benchConfig(f, dd.d)
				s, err := New(cfg, dd.d, seedN(1))
				if err != nil {
					b.Fatal(err)
				}
				x, y := testVec(dd.d, 1), make([]float32, cfg.Rows)
				b.SetBytes(int64(4 * dd.d))
				b.ResetTimer()
				for i := 0; i < b.N; i++ {
					s.Apply(y, x)
				}
				b.ReportMetric(float64(4*dd.d)*float64(b.N)/b.Elapsed().Seconds()/1e9, "GB/s")
			})
		}
	}
}

// BenchmarkDesketch measures the consensus de-sketch (Sᵀ·y, or top-k
// recovery); GB/s counts the 4·d output bytes.
func BenchmarkDesketch(b *testing.B) {
	for _, f := range benchFamilies {
		for _, dd := range benchDims {
			b.Run(fmt.Sprintf("family=%s/d=%s", f, dd.name), func(b *testing.B) {
				cfg := benchConfig(f, dd.d)
				s, err := New(cfg, dd.d, seedN(1))
				if err != nil {
					b.Fatal(err)
				}
				y, x := testVec(cfg.Rows, 2), make([]float32, dd.d)
				b.SetBytes(int64(4 * dd.d))
				b.ResetTimer()
				for i := 0; i < b.N; i++ {
					s.Desketch(x, y)
				}
				b.ReportMetric(float64(4*dd.d)*float64(b.N)/b.Elapsed().Seconds()/1e9, "GB/s")
			})
		}
	}
}

// chunkBenchConfig is the Templar-like setting of a chunked family at
// dimension d: chunks of 4096, 61 kept, 2-bit values (≥ 146× against
// float32).
func chunkBenchConfig(f Family, d int) Config {
	return Config{Family: f, Rows: (d + 4095) / 4096 * 61, TopK: 61, QuantBits: 2, QuantBlock: 4096}
}

// BenchmarkChunkCompress measures the worker side of the chunked top-k
// families (transform, per-chunk selection, quantization, packing); GB/s
// counts the 4·d input bytes.
func BenchmarkChunkCompress(b *testing.B) {
	for _, f := range []Family{ChunkTopK, ChunkTopKWHT} {
		for _, dd := range benchDims {
			b.Run(fmt.Sprintf("family=%s/d=%s", f, dd.name), func(b *testing.B) {
				s, err := New(chunkBenchConfig(f, dd.d), dd.d, seedN(1))
				if err != nil {
					b.Fatal(err)
				}
				x := testVec(dd.d, 1)
				b.SetBytes(int64(4 * dd.d))
				b.ResetTimer()
				for i := 0; i < b.N; i++ {
					if _, err := s.Compress(x); err != nil {
						b.Fatal(err)
					}
				}
				b.ReportMetric(float64(4*dd.d)*float64(b.N)/b.Elapsed().Seconds()/1e9, "GB/s")
			})
		}
	}
}

// BenchmarkChunkApply measures the consensus side for one contribution:
// AggregateAdd into a zero aggregate and the de-sketch; GB/s counts the
// 4·d output bytes.
func BenchmarkChunkApply(b *testing.B) {
	for _, f := range []Family{ChunkTopK, ChunkTopKWHT} {
		for _, dd := range benchDims {
			b.Run(fmt.Sprintf("family=%s/d=%s", f, dd.name), func(b *testing.B) {
				cfg := chunkBenchConfig(f, dd.d)
				s, err := New(cfg, dd.d, seedN(1))
				if err != nil {
					b.Fatal(err)
				}
				p, err := s.Compress(testVec(dd.d, 1))
				if err != nil {
					b.Fatal(err)
				}
				agg, u := make([]float32, AggregateLen(cfg)), make([]float32, dd.d)
				b.SetBytes(int64(4 * dd.d))
				b.ResetTimer()
				for i := 0; i < b.N; i++ {
					clear(agg)
					if err := AggregateAdd(cfg, agg, p); err != nil {
						b.Fatal(err)
					}
					if err := s.Desketch(u, agg); err != nil {
						b.Fatal(err)
					}
				}
				b.ReportMetric(float64(4*dd.d)*float64(b.N)/b.Elapsed().Seconds()/1e9, "GB/s")
			})
		}
	}
}
