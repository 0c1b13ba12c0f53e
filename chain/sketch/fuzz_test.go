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
