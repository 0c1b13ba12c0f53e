package sketch

import (
	"errors"
	"testing"
)

// FuzzPayload feeds arbitrary configs and payloads to CheckPayload and
// Dequantize: they must never panic, accept only canonical payloads of the
// exact size, and yield only finite values.
func FuzzPayload(f *testing.F) {
	add := func(bits, rows, block int, y []float32) {
		cfg := Config{Family: CountSketch, Rows: rows, NNZ: 1, QuantBits: bits, QuantBlock: block}
		p, err := Quantize(cfg, y)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(uint8(bits), uint16(rows), uint16(block), p)
	}
	add(8, 5, 2, []float32{1, -2, 3, 0, 0.5})
	add(4, 5, 3, []float32{1, -2, 3, 0, 0.5})
	add(32, 3, 0, []float32{1, -2, 3})
	f.Fuzz(func(t *testing.T, bits uint8, rows, block uint16, p []byte) {
		cfg := Config{Family: CountSketch, Rows: int(rows), NNZ: 1, QuantBits: int(bits), QuantBlock: int(block)}
		if cfg.Validate() != nil {
			if CheckPayload(cfg, p) == nil {
				t.Fatal("payload accepted for an invalid config")
			}
			return
		}
		dst := make([]float32, cfg.Rows)
		err := Dequantize(cfg, dst, p)
		if err != nil {
			if !errors.Is(err, ErrPayload) && !errors.Is(err, ErrNonFinite) {
				t.Fatalf("unexpected error kind: %v", err)
			}
			return
		}
		if len(p) != PayloadSize(cfg) {
			t.Fatalf("accepted %d bytes, want %d", len(p), PayloadSize(cfg))
		}
		for i, v := range dst {
			if !isFinite32(v) {
				t.Fatalf("value %d is %v", i, v)
			}
		}
		// Re-quantizing a 32-bit payload reproduces it bit for bit.
		if cfg.QuantBits == 32 {
			q, err := Quantize(cfg, dst)
			if err != nil || string(q) != string(p) {
				t.Fatalf("32-bit payload does not round-trip: %v", err)
			}
		}
	})
}

// FuzzChunkPayload feeds arbitrary chunked top-k configs and payloads to
// CheckPayload, Dequantize and AggregateAdd: they never panic, accept only
// payloads of the exact size in canonical form (re-encoding the decoded
// entries reproduces the bytes), and yield only finite values.
func FuzzChunkPayload(f *testing.F) {
	add := func(fam Family, d, c, k, vb int) {
		cfg := Config{Family: fam, Rows: (d + c - 1) / c * k, TopK: k, QuantBits: vb, QuantBlock: c}
		s, err := New(cfg, d, [32]byte{})
		if err != nil {
			f.Fatal(err)
		}
		p, err := s.Compress(testVec(d, uint64(c*k+vb)))
		if err != nil {
			f.Fatal(err)
		}
		f.Add(uint8(fam), uint8(vb), uint16(c), uint16(k), uint16(cfg.Rows), p)
	}
	add(ChunkTopK, 40, 16, 3, 2)
	add(ChunkTopKWHT, 40, 16, 3, 1)
	add(ChunkTopKWHT, 70, 32, 5, 4)
	add(ChunkTopK, 24, 8, 8, 32)
	add(ChunkTopK, 10, 4, 2, 8)
	f.Fuzz(func(t *testing.T, fam, vb uint8, c, k, rows uint16, p []byte) {
		cfg := Config{Family: Family(fam), Rows: int(rows), TopK: int(k), QuantBits: int(vb), QuantBlock: int(c)}
		if !cfg.Family.IsChunked() {
			return
		}
		if cfg.Validate() != nil {
			if CheckPayload(cfg, p) == nil {
				t.Fatal("payload accepted for an invalid config")
			}
			return
		}
		dst := make([]float32, cfg.Rows)
		err := Dequantize(cfg, dst, p)
		acc := make([]float32, AggregateLen(cfg))
		err2 := AggregateAdd(cfg, acc, p)
		if (err == nil) != (err2 == nil) {
			t.Fatalf("Dequantize %v but AggregateAdd %v", err, err2)
		}
		if err != nil {
			if !errors.Is(err, ErrPayload) && !errors.Is(err, ErrNonFinite) {
				t.Fatalf("unexpected error kind: %v", err)
			}
			return
		}
		if len(p) != PayloadSize(cfg) {
			t.Fatalf("accepted %d bytes, want %d", len(p), PayloadSize(cfg))
		}
		for i, v := range dst {
			if !isFinite32(v) {
				t.Fatalf("value %d is %v", i, v)
			}
		}
		for i, v := range acc {
			if !isFinite32(v) {
				t.Fatalf("aggregate %d is %v", i, v)
			}
		}
		// Canonical, by an independent bit-by-bit reading: increasing
		// indices, scales without sign, zero codes under a zero scale,
		// zero padding.
		bit := func(i int) uint64 { return uint64(p[i/8] >> uint(i%8) & 1) }
		field := func(off, n int) (v uint64) {
			for i := 0; i < n; i++ {
				v |= bit(off+i) << uint(i)
			}
			return v
		}
		ib := 0
		for 1<<uint(ib) < cfg.QuantBlock {
			ib++
		}
		off := 0
		for ch := 0; ch < cfg.Rows/cfg.TopK; ch++ {
			var scale uint64 = 1
			if cfg.QuantBits != 32 {
				scale = field(off, 32)
				off += 32
				if scale>>31 != 0 {
					t.Fatalf("chunk %d: negative scale accepted", ch)
				}
			}
			prev := -1
			for i := 0; i < cfg.TopK; i++ {
				idx := int(field(off, ib))
				off += ib
				if idx <= prev {
					t.Fatalf("chunk %d: index %d after %d accepted", ch, idx, prev)
				}
				prev = idx
			}
			for i := 0; i < cfg.TopK; i++ {
				if q := field(off, cfg.QuantBits); scale == 0 && q != 0 {
					t.Fatalf("chunk %d: code %d under a zero scale accepted", ch, q)
				}
				off += cfg.QuantBits
			}
		}
		for ; off < 8*len(p); off++ {
			if bit(off) != 0 {
				t.Fatalf("nonzero padding bit %d accepted", off)
			}
		}
	})
}
