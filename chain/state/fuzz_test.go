package state

import (
	"bytes"
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"testing"

	"github.com/gradientcoin/gradientcoin/chain/sketch"
)

// fuzzRules are tiny rules (a 64-parameter softmax regression) so that
// fuzz inputs stay small.
func fuzzRules(sk sketch.Config) Rules {
	r := Rules{
		Model:            ModelConfig{Kind: ModelSoftmaxRegression, Dim: 64, Rows: 4, Count: 2, Lambda: 0.1, InitStd: 0},
		Sketch:           sk,
		GlobalLR:         1,
		LocalSteps:       1,
		MaxContributions: 4,
		ChunkSize:        16,
	}
	r.MaxContributionBytes = ContributionSize(sk)
	return r
}

var fuzzSketches = []sketch.Config{
	{Family: sketch.CountSketch, Rows: 8, NNZ: 2, TopK: 4, QuantBits: 4, QuantBlock: 3},
	{Family: sketch.SRHT, Rows: 5, QuantBits: 32},
	{Family: sketch.SparseEmbedding1, Rows: 6, NNZ: 2, QuantBits: 8, QuantBlock: 4},
	{Family: sketch.ChunkTopK, Rows: 12, TopK: 3, QuantBits: 2, QuantBlock: 16},
	{Family: sketch.ChunkTopKWHT, Rows: 8, TopK: 4, QuantBits: 1, QuantBlock: 32},
}

// fuzzContributions returns valid encodings, one per fuzz sketch.
func fuzzContributions(t testing.TB) [][]byte {
	var out [][]byte
	for i, sk := range fuzzSketches {
		r := fuzzRules(sk)
		delta := make([]float32, 64)
		for j := range delta {
			delta[j] = float32((j*7+i)%13-6) / 10
		}
		c, _, err := MakeContribution(r, [32]byte{byte(i)}, delta, nil, workerKey(i), [32]byte{0xdd})
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, c.Encode())
	}
	return out
}

func fuzzCheckpoints(t testing.TB) [][]byte {
	var out [][]byte
	for _, n := range []int{1, 5, 33} {
		w := make([]float32, n)
		for i := range w {
			w[i] = float32(i) - 2.5
		}
		b, err := EncodeCheckpoint(w, 4)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, b)
	}
	return out
}

func FuzzDecodeContribution(f *testing.F) {
	for _, raw := range fuzzContributions(f) {
		f.Add(raw)
	}
	f.Fuzz(func(t *testing.T, raw []byte) {
		c, err := DecodeContribution(raw)
		if err != nil {
			if !errors.Is(err, ErrBadContribution) {
				t.Fatalf("error %v is not ErrBadContribution", err)
			}
			return
		}
		if !bytes.Equal(c.Encode(), raw) {
			t.Fatalf("decoder accepted a non-canonical encoding")
		}
		_ = c.Hash()
		_ = c.VerifySignature()
		for _, sk := range fuzzSketches {
			if c.Sketch == sk && c.Dim == 64 {
				r := fuzzRules(sk)
				err := CheckContribution(r, raw)
				if err == nil {
					w := make([]float32, 64)
					if err := Apply(r, w, c.Parent, [][]byte{raw}); err != nil && !errors.Is(err, ErrNonFinite) {
						t.Fatalf("Apply of a checked contribution: %v", err)
					}
				}
			}
		}
	})
}

func FuzzDecodeCheckpoint(f *testing.F) {
	for _, b := range fuzzCheckpoints(f) {
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		w, chunk, root, err := DecodeCheckpoint(data)
		if err != nil {
			if !errors.Is(err, ErrBadCheckpoint) {
				t.Fatalf("error %v is not ErrBadCheckpoint", err)
			}
			return
		}
		again, err := EncodeCheckpoint(w, chunk)
		if err != nil || !bytes.Equal(again, data) || Root(w, chunk) != root {
			t.Fatalf("decoded checkpoint does not re-encode to its input (%v)", err)
		}
	})
}

// TestWriteFuzzCorpus regenerates the committed seed corpora under
// testdata/fuzz when GRADIENTCOIN_WRITE_CORPUS=1.
func TestWriteFuzzCorpus(t *testing.T) {
	if os.Getenv("GRADIENTCOIN_WRITE_CORPUS") != "1" {
		t.Skip("set GRADIENTCOIN_WRITE_CORPUS=1 to rewrite testdata/fuzz")
	}
	write := func(target string, inputs [][]byte) {
		dir := filepath.Join("testdata", "fuzz", target)
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		for i, in := range inputs {
			body := "go test fuzz v1\n[]byte(" + strconv.Quote(string(in)) + ")\n"
			if err := os.WriteFile(filepath.Join(dir, fmt.Sprintf("seed-%02d", i)), []byte(body), 0o644); err != nil {
				t.Fatal(err)
			}
		}
	}
	cs := fuzzContributions(t)
	var cin [][]byte
	for _, c := range cs {
		cin = append(cin, c)
		cin = append(cin, c[:len(c)-1])                      // truncated
		cin = append(cin, append(append([]byte{}, c...), 0)) // trailing byte
		bad := append([]byte{}, c...)
		bad[124] ^= 0xff // payload byte (scale or code)
		cin = append(cin, bad)
	}
	cin = append(cin, nil, []byte{1, 0})
	write("FuzzDecodeContribution", cin)
	ck := fuzzCheckpoints(t)
	var kin [][]byte
	for _, c := range ck {
		kin = append(kin, c)
		kin = append(kin, c[:len(c)-1])
		bad := append([]byte{}, c...)
		bad[20] ^= 1 // a weight bit: root mismatch
		kin = append(kin, bad)
		nan := append([]byte{}, c...)
		copy(nan[20:], []byte{0, 0, 0xc0, 0x7f})
		kin = append(kin, nan)
	}
	kin = append(kin, []byte("GCWT"), nil)
	write("FuzzDecodeCheckpoint", kin)
}

func TestCheckpoint(t *testing.T) {
	r := testRules(sketchConfigs[0].cfg)
	w, _ := Genesis(r)
	b, err := EncodeCheckpoint(w, r.ChunkSize)
	if err != nil {
		t.Fatal(err)
	}
	got, chunk, root, err := DecodeCheckpoint(b)
	if err != nil || chunk != r.ChunkSize || root != r.Root(w) || Root(got, chunk) != root {
		t.Fatalf("round trip: %v chunk %d", err, chunk)
	}
	mut := func(f func([]byte) []byte) []byte { return f(append([]byte(nil), b...)) }
	cases := []struct {
		name string
		data []byte
	}{
		{"empty", nil},
		{"magic", mut(func(x []byte) []byte { x[0] = 'X'; return x })},
		{"version", mut(func(x []byte) []byte { x[4] = 2; return x })},
		{"chunk 0", mut(func(x []byte) []byte { x[8], x[9] = 0, 0; return x })},
		{"count huge", mut(func(x []byte) []byte { x[19] = 0xff; return x })},
		{"count off by one", mut(func(x []byte) []byte { x[12]++; return x })},
		{"truncated", b[:len(b)-1]},
		{"trailing", append(append([]byte(nil), b...), 0)},
		{"weight bit", mut(func(x []byte) []byte { x[100] ^= 1; return x })},
		{"root bit", mut(func(x []byte) []byte { x[len(x)-1] ^= 1; return x })},
		{"NaN weight", mut(func(x []byte) []byte { copy(x[20:], []byte{0, 0, 0xc0, 0x7f}); return x })},
	}
	for _, c := range cases {
		if _, _, _, err := DecodeCheckpoint(c.data); !errors.Is(err, ErrBadCheckpoint) {
			t.Errorf("%s: DecodeCheckpoint = %v, want ErrBadCheckpoint", c.name, err)
		}
	}
	if _, err := EncodeCheckpoint(nil, 16); !errors.Is(err, ErrBadWeights) {
		t.Errorf("empty weights: %v", err)
	}
	if _, err := EncodeCheckpoint(w, 0); !errors.Is(err, ErrBadCheckpoint) {
		t.Errorf("chunk 0: %v", err)
	}
	w[3] = float32(math.Inf(1))
	if _, err := EncodeCheckpoint(w, 16); !errors.Is(err, ErrNonFinite) {
		t.Errorf("Inf weight: %v", err)
	}
}
