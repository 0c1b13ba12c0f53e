package state

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"math"
	"testing"

	"github.com/gradientcoin/gradientcoin/chain/sketch"
)

// chunkConfigs are the chunked top-k families on smallGPT (d = 5248).
var chunkConfigs = []struct {
	name string
	cfg  sketch.Config
}{
	// 11 chunks of 512, 8 kept each, 2-bit codes: 11·(32 + 8·11) bits = 165 bytes (127×)
	{"chunktopk-q2", sketch.Config{Family: sketch.ChunkTopK, Rows: 88, TopK: 8, QuantBits: 2, QuantBlock: 512}},
	// 6 chunks of 1024 in the Walsh–Hadamard basis, 20 kept each, 4-bit codes
	{"chunktopk-wht-q4", sketch.Config{Family: sketch.ChunkTopKWHT, Rows: 120, TopK: 20, QuantBits: 4, QuantBlock: 1024}},
	{"chunktopk-wht-f32", sketch.Config{Family: sketch.ChunkTopKWHT, Rows: 33, TopK: 3, QuantBits: 32, QuantBlock: 512}},
}

// TestChunkGoldenRoots pins the state root after 3 rounds of 2
// contributions (the replay of TestGoldenRoots) for the chunked families:
// worker-side sparsification and error feedback included.
func TestChunkGoldenRoots(t *testing.T) {
	golden := map[string]string{
		"chunktopk-q2":      "e9426d9e40f76bb41be1825333540d798f4747a84f69d5b225519826f55d20f9",
		"chunktopk-wht-q4":  "5b526019eadc733944a1de176a9d9eb76f44cba67ec3dbe188b022186c98971e",
		"chunktopk-wht-f32": "e718ec061eb473c3054dfdce271d688250c6104a833098603768dbb6c9011cce",
	}
	for _, sc := range chunkConfigs {
		roots, _ := replay(t, testRules(sc.cfg), 3, 2)
		if got := hex.EncodeToString(roots[2][:]); got != golden[sc.name] {
			t.Errorf("%s: root %s, golden %s", sc.name, got, golden[sc.name])
		}
	}
}

// TestChunkApply: contributions round-trip, Apply is its definition
// (values added at their indices in block order, de-sketch, GlobalLR/n),
// and two replays agree.
func TestChunkApply(t *testing.T) {
	for _, sc := range chunkConfigs {
		t.Run(sc.name, func(t *testing.T) {
			r := testRules(sc.cfg)
			w, _ := Genesis(r)
			parent := [32]byte{3}
			var raws [][]byte
			agg := make([]float32, sketch.AggregateLen(sc.cfg))
			for i := 0; i < 3; i++ {
				c, _, err := MakeContribution(r, parent, fakeDelta(w, 0, i), nil, workerKey(i), [32]byte{})
				if err != nil {
					t.Fatal(err)
				}
				raw := c.Encode()
				if len(raw) != ContributionSize(sc.cfg) {
					t.Fatalf("%d bytes, ContributionSize %d", len(raw), ContributionSize(sc.cfg))
				}
				got, err := VerifyContribution(r, raw)
				if err != nil {
					t.Fatal(err)
				}
				if string(got.Encode()) != string(raw) {
					t.Fatalf("decode/encode changed the contribution")
				}
				raws = append(raws, raw)
				if err := sketch.AggregateAdd(sc.cfg, agg, c.Payload); err != nil {
					t.Fatal(err)
				}
			}
			sk, _ := r.NewSketch(parent)
			u := make([]float32, len(w))
			if err := sk.Desketch(u, agg); err != nil {
				t.Fatal(err)
			}
			coef := float32(float64(r.GlobalLR) / 3)
			want := make([]float32, len(w))
			for j := range w {
				want[j] = w[j] + float32(coef*u[j])
			}
			if err := Apply(r, w, parent, raws); err != nil {
				t.Fatal(err)
			}
			if Root(w, 256) != Root(want, 256) {
				t.Errorf("Apply differs from its definition")
			}
			a, _ := replay(t, r, 5, 3)
			b, _ := replay(t, r, 5, 3)
			for i := range a {
				if a[i] != b[i] {
					t.Fatalf("replays differ at round %d", i)
				}
			}
		})
	}
}

// TestChunkErrorFeedback checks the error-feedback invariant of the
// chunked families with GlobalLR ≠ 1 and several workers: every round,
// delta + old residual = u + new residual for each worker (u its own
// decoded payload), and over R rounds the weights move by exactly what the
// telescoping sum says, (GlobalLR/n)·Σ_i (Σ_t delta_i,t − e_i,R), up to
// float rounding. The compressor is a contraction (‖v − u‖ < ‖v‖).
func TestChunkErrorFeedback(t *testing.T) {
	for _, sc := range chunkConfigs[:2] {
		t.Run(sc.name, func(t *testing.T) {
			r := testRules(sc.cfg) // GlobalLR 0.5
			const n, rounds = 3, 6
			w0, _ := Genesis(r)
			w := append([]float32(nil), w0...)
			d := len(w)
			res := make([][]float32, n)
			sumDelta := make([]float64, d)
			parent := sha256.Sum256([]byte("p"))
			for round := 0; round < rounds; round++ {
				var raws [][]byte
				for i := 0; i < n; i++ {
					delta := fakeDelta(w, round, i)
					c, newRes, err := MakeContribution(r, parent, delta, res[i], workerKey(i), [32]byte{})
					if err != nil {
						t.Fatal(err)
					}
					sk, _ := r.NewSketch(parent)
					u := make([]float32, d)
					if err := sk.Decode(u, c.Payload); err != nil {
						t.Fatal(err)
					}
					var vv, ee float64
					for j := range delta {
						v := float64(delta[j])
						if res[i] != nil {
							v += float64(res[i][j])
						}
						if diff := math.Abs(v - float64(u[j]) - float64(newRes[j])); diff > 1e-6 {
							t.Fatalf("round %d worker %d coord %d: v − u − e' = %v", round, i, j, diff)
						}
						vv += v * v
						ee += float64(newRes[j]) * float64(newRes[j])
						sumDelta[j] += float64(delta[j])
					}
					if !(ee < vv) {
						t.Errorf("round %d worker %d: ‖v−u‖² = %v ≥ ‖v‖² = %v", round, i, ee, vv)
					}
					res[i] = newRes
					raws = append(raws, c.Encode())
				}
				if err := Apply(r, w, parent, raws); err != nil {
					t.Fatal(err)
				}
				parent = sha256.Sum256(parent[:])
			}
			coef := float64(r.GlobalLR) / n
			var worst, scale float64
			for j := range w {
				want := sumDelta[j]
				for i := range res {
					want -= float64(res[i][j])
				}
				got := float64(w[j]) - float64(w0[j])
				worst = max(worst, math.Abs(got-coef*want))
				scale = max(scale, math.Abs(coef*want))
			}
			if worst > 1e-5+1e-4*scale {
				t.Errorf("applied total differs from (GlobalLR/n)(ΣΔ − e) by %v (scale %v)", worst, scale)
			}
		})
	}
}

// TestChunkContributionRejects: the chunked families' canonical form and
// range checks at the contribution level.
func TestChunkContributionRejects(t *testing.T) {
	cfg := chunkConfigs[0].cfg // ChunkTopK, 2-bit, C = 512, d = 5248: the last chunk has 128 coordinates
	r := testRules(cfg)
	w, _ := Genesis(r)
	c, _, err := MakeContribution(r, [32]byte{1}, fakeDelta(w, 0, 0), nil, workerKey(0), [32]byte{})
	if err != nil {
		t.Fatal(err)
	}
	if err := CheckContribution(r, c.Encode()); err != nil {
		t.Fatalf("original: %v", err)
	}
	// chunk layout: 32-bit scale, 8 indices of 9 bits, 8 codes of 2 bits = 120 bits = 15 bytes
	const chunkBytes = 15
	withPayload := func(f func(p []byte)) []byte {
		d := *c
		d.Payload = append([]byte(nil), c.Payload...)
		f(d.Payload)
		return resign(&d)
	}
	setIdx := func(p []byte, ch, i, v int) {
		off := ch*chunkBytes*8 + 32 + i*9
		for b := 0; b < 9; b++ {
			bit := off + b
			p[bit/8] &^= 1 << uint(bit%8)
			p[bit/8] |= byte(v>>uint(b)&1) << uint(bit%8)
		}
	}
	cases := []struct {
		name string
		raw  []byte
		kind error
	}{
		{"indices out of order", withPayload(func(p []byte) { setIdx(p, 2, 0, 511) }), ErrBadContribution},
		{"index past d", withPayload(func(p []byte) { setIdx(p, 10, 7, 200) }), ErrBadContribution},
		{"negative scale", withPayload(func(p []byte) { p[3*chunkBytes+3] |= 0x80 }), sketch.ErrPayload},
		{"NaN scale", withPayload(func(p []byte) { copy(p[5*chunkBytes:], []byte{0, 0, 0xc0, 0x7f}) }), ErrNonFinite},
	}
	for _, tc := range cases {
		if err := CheckContribution(r, tc.raw); !errors.Is(err, tc.kind) {
			t.Errorf("%s: CheckContribution = %v, want %v", tc.name, err, tc.kind)
		}
		wc := append([]float32(nil), w...)
		if err := Apply(r, wc, [32]byte{1}, [][]byte{tc.raw}); err == nil || Root(wc, 256) != Root(w, 256) {
			t.Errorf("%s: Apply = %v or changed the weights", tc.name, err)
		}
	}
	// The last chunk's largest allowed index is 127.
	ok := withPayload(func(p []byte) {
		for i := 0; i < 8; i++ {
			setIdx(p, 10, i, 120+i)
		}
	})
	if err := CheckContribution(r, ok); err != nil {
		t.Errorf("indices 120…127 in the last chunk: %v", err)
	}
}
