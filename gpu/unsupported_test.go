package gpu

import (
	"crypto/ed25519"
	"crypto/sha256"
	"errors"
	"testing"

	"github.com/gradientcoin/gradientcoin/chain/sketch"
	"github.com/gradientcoin/gradientcoin/chain/state"
)

// noDev is a kdev on which any device call panics (its embedded interface
// is nil): the calls below must refuse the chunked top-k families before
// they reach the device.
type noDev struct{ kdev }

func (noDev) maxSmem() int { return 48 << 10 }

// TestChunkedFamiliesUnsupported: the kernels mirror the sketch families
// bit for bit and know nothing of the chunked top-k families, so the
// Applier, the forward sketch, Quantize, Transpose and MakeContribution
// refuse them with ErrUnsupported without touching the device, and the
// backend's Desketch (state.Backend) falls back to the CPU reference, so
// state.ApplyWith gives state.Apply's bits.
func TestChunkedFamiliesUnsupported(t *testing.T) {
	mc := state.ModelConfig{Kind: state.ModelSoftmaxRegression, Dim: 300, Rows: 4, Count: 2, Lambda: 0.1, InitStd: 0.1}
	for _, f := range []sketch.Family{sketch.ChunkTopK, sketch.ChunkTopKWHT} {
		t.Run(f.String(), func(t *testing.T) {
			cfg := sketch.Config{Family: f, Rows: 3 * 5, TopK: 5, QuantBits: 2, QuantBlock: 128}
			r := state.Rules{Model: mc, Sketch: cfg, GlobalLR: 1, LocalSteps: 1, MaxContributions: 4, ChunkSize: 64}
			r.MaxContributionBytes = state.ContributionSize(cfg)
			if err := r.Validate(); err != nil {
				t.Fatal(err)
			}
			w, err := state.Genesis(r)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := newApplier(noDev{}, nil, r, w); !errors.Is(err, ErrUnsupported) {
				t.Errorf("newApplier: %v, want ErrUnsupported", err)
			}
			b := newSketchBackend(noDev{}, nil)
			sk, err := r.NewSketch([32]byte{1})
			if err != nil {
				t.Fatal(err)
			}
			d := r.ParamCount()
			x, y := make([]float32, d), make([]float32, cfg.Rows)
			seed := sha256.Sum256([]byte("key"))
			key := ed25519.NewKeyFromSeed(seed[:])
			calls := []struct {
				name string
				err  error
			}{
				{"Sketch", b.Sketch(sk, y, x)},
				{"Transpose", b.Transpose(sk, x, y)},
				{"Quantize", func() error { _, err := b.Quantize(cfg, y); return err }()},
				{"MakeContribution", func() error {
					_, _, err := b.MakeContribution(r, [32]byte{1}, x, nil, key, [32]byte{})
					return err
				}()},
			}
			for _, c := range calls {
				if !errors.Is(c.err, ErrUnsupported) {
					t.Errorf("%s: %v, want ErrUnsupported", c.name, c.err)
				}
			}
			// ApplyWith through the backend: CPU fallback, same weights.
			delta := make([]float32, d)
			for j := range delta {
				delta[j] = float32(j%7) - 3
			}
			c, _, err := state.MakeContribution(r, [32]byte{1}, delta, nil, key, [32]byte{})
			if err != nil {
				t.Fatal(err)
			}
			raws := [][]byte{c.Encode()}
			w1 := append([]float32(nil), w...)
			w2 := append([]float32(nil), w...)
			if err := state.Apply(r, w1, [32]byte{1}, raws); err != nil {
				t.Fatal(err)
			}
			if err := state.ApplyWith(b, r, w2, [32]byte{1}, raws); err != nil {
				t.Fatalf("ApplyWith: %v", err)
			}
			if state.Root(w1, 64) != state.Root(w2, 64) {
				t.Errorf("ApplyWith through the GPU backend differs from state.Apply")
			}
		})
	}
}
