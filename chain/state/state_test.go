package state

import (
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"math"
	"runtime"
	"testing"

	"github.com/gradientcoin/gradientcoin/chain/sketch"
)

// smallGPT has 5,248 parameters.
var smallGPT = ModelConfig{Kind: ModelGPT, Vocab: 32, Context: 16, Layers: 2, Width: 16, Heads: 2, MLPMult: 2, InitStd: 0.02}

func testRules(sk sketch.Config) Rules {
	r := Rules{
		Model:            smallGPT,
		Sketch:           sk,
		InitSeed:         sha256.Sum256([]byte("test init")),
		GlobalLR:         0.5,
		LocalLR:          0.01,
		LocalSteps:       4,
		MaxContributions: 8,
		ChunkSize:        256,
	}
	r.MaxContributionBytes = ContributionSize(sk)
	return r
}

// sketchConfigs covers every family and payload format at ~10× compression.
var sketchConfigs = []struct {
	name string
	cfg  sketch.Config
}{
	{"countsketch-topk-int8", sketch.Config{Family: sketch.CountSketch, Rows: 513, NNZ: 3, TopK: 200, QuantBits: 8, QuantBlock: 64}},
	{"countsketch-int4", sketch.Config{Family: sketch.CountSketch, Rows: 512, NNZ: 1, QuantBits: 4, QuantBlock: 32}},
	{"sparse1-f32", sketch.Config{Family: sketch.SparseEmbedding1, Rows: 512, NNZ: 4, QuantBits: 32}},
	{"sparse2-int8", sketch.Config{Family: sketch.SparseEmbedding2, Rows: 512, NNZ: 4, QuantBits: 8, QuantBlock: 128}},
	{"srht-int8", sketch.Config{Family: sketch.SRHT, Rows: 512, QuantBits: 8, QuantBlock: 512}},
	{"gaussian-f32", sketch.Config{Family: sketch.Gaussian, Rows: 24, QuantBits: 32}},
	{"ams-int8", sketch.Config{Family: sketch.AMS, Rows: 24, QuantBits: 8, QuantBlock: 8}},
	{"identity-int8", sketch.Config{Family: sketch.Identity, Rows: 5248, QuantBits: 8, QuantBlock: 256}},
}

func workerKey(i int) ed25519.PrivateKey {
	s := sha256.Sum256([]byte(fmt.Sprintf("worker %d", i)))
	return ed25519.NewKeyFromSeed(s[:])
}

// fakeDelta is a deterministic stand-in for K local steps: a pull of w
// towards a fixed target plus worker-specific noise.
func fakeDelta(w []float32, round, worker int) []float32 {
	k := sketch.Key{A: uint64(round)<<32 | uint64(worker), B: 0x5eed}
	target := sketch.Key{A: 1, B: 2}
	d := make([]float32, len(w))
	for j := range d {
		tj := float32(0.05 * target.Normal(uint64(j))) // explicit rounding: no FMA
		d[j] = float32(0.1*float32(tj-w[j])) + float32(1e-3*k.Normal(uint64(j)))
	}
	return d
}

// replay runs rounds of nWorkers contributions from genesis and returns
// the root after each round.
func replay(t testing.TB, r Rules, rounds, nWorkers int) ([][32]byte, []float32) {
	t.Helper()
	w, err := Genesis(r)
	if err != nil {
		t.Fatal(err)
	}
	residual := make([][]float32, nWorkers)
	roots := make([][32]byte, 0, rounds)
	parent := sha256.Sum256([]byte("genesis block"))
	for round := 0; round < rounds; round++ {
		var raws [][]byte
		for i := 0; i < nWorkers; i++ {
			digest := sha256.Sum256([]byte(fmt.Sprintf("samples %d %d", round, i)))
			c, res, err := MakeContribution(r, parent, fakeDelta(w, round, i), residual[i], workerKey(i), digest)
			if err != nil {
				t.Fatalf("round %d worker %d: %v", round, i, err)
			}
			residual[i] = res
			raws = append(raws, c.Encode())
		}
		if err := Apply(r, w, parent, raws); err != nil {
			t.Fatalf("round %d: %v", round, err)
		}
		root := r.Root(w)
		roots = append(roots, root)
		// The next parent: any deterministic function of the block works.
		parent = sha256.Sum256(append(root[:], parent[:]...))
	}
	return roots, w
}

func TestRulesValidate(t *testing.T) {
	good := testRules(sketchConfigs[0].cfg)
	if err := good.Validate(); err != nil {
		t.Fatalf("good rules: %v", err)
	}
	if err := DevRules().Validate(); err != nil {
		t.Fatalf("DevRules: %v", err)
	}
	cases := []struct {
		name string
		mod  func(*Rules)
	}{
		{"bad model", func(r *Rules) { r.Model.Heads = 3 }},
		{"sketch too big", func(r *Rules) { r.Sketch.Rows = 6000 }},
		{"bad sketch", func(r *Rules) { r.Sketch.QuantBits = 7 }},
		{"zero lr", func(r *Rules) { r.GlobalLR = 0 }},
		{"NaN lr", func(r *Rules) { r.GlobalLR = float32(math.NaN()) }},
		{"Inf lr", func(r *Rules) { r.GlobalLR = float32(math.Inf(1)) }},
		{"negative local lr", func(r *Rules) { r.LocalLR = -1 }},
		{"no local steps", func(r *Rules) { r.LocalSteps = 0 }},
		{"no contributions", func(r *Rules) { r.MaxContributions = 0 }},
		{"too many contributions", func(r *Rules) { r.MaxContributions = MaxContributionsLimit + 1 }},
		{"chunk 0", func(r *Rules) { r.ChunkSize = 0 }},
		{"chunk huge", func(r *Rules) { r.ChunkSize = MaxChunkSize + 1 }},
		{"contribution bytes too small", func(r *Rules) { r.MaxContributionBytes-- }},
	}
	for _, c := range cases {
		r := good
		c.mod(&r)
		err := r.Validate()
		if !errors.Is(err, ErrBadRules) {
			t.Errorf("%s: Validate = %v, want ErrBadRules", c.name, err)
		}
		if _, err := Genesis(r); err == nil {
			t.Errorf("%s: Genesis accepted bad rules", c.name)
		}
		if err := Apply(r, make([]float32, 5248), [32]byte{}, nil); !errors.Is(err, ErrBadRules) {
			t.Errorf("%s: Apply = %v, want ErrBadRules", c.name, err)
		}
	}
}

func TestGenesis(t *testing.T) {
	r := testRules(sketchConfigs[0].cfg)
	w, err := Genesis(r)
	if err != nil {
		t.Fatal(err)
	}
	ts, n, _ := r.Model.Layout()
	if len(w) != n || n != 5248 {
		t.Fatalf("genesis has %d weights, layout %d, want 5248", len(w), n)
	}
	for _, tn := range ts {
		seg := w[tn.Offset : tn.Offset+tn.Size()]
		var s1, s2 float64
		for _, v := range seg {
			s1 += float64(v)
			s2 += float64(v) * float64(v)
		}
		switch tn.Init {
		case InitZeros, InitOnes:
			want := float32(0)
			if tn.Init == InitOnes {
				want = 1
			}
			for i, v := range seg {
				if v != want {
					t.Fatalf("%s[%d] = %v, want %v", tn.Name, i, v, want)
				}
			}
		case InitNormal:
			std := math.Sqrt(s2 / float64(len(seg)))
			// The sample std of n normals has relative standard error
			// 1/√(2n); allow 5 of them.
			if tol := 5 / math.Sqrt(2*float64(len(seg))); math.Abs(std/float64(tn.Std)-1) > tol {
				t.Errorf("%s: std %v, want %v (±%.0f%%)", tn.Name, std, tn.Std, 100*tol)
			}
		}
	}
	w2, _ := Genesis(r)
	if Root(w, 256) != Root(w2, 256) {
		t.Errorf("genesis is not deterministic")
	}
	r.InitSeed[0] ^= 1
	w3, _ := Genesis(r)
	if Root(w, 256) == Root(w3, 256) {
		t.Errorf("genesis ignores the seed")
	}
}

// rootRef is an independent, serial implementation of Root's definition.
func rootRef(w []float32, chunk int) [32]byte {
	var level [][32]byte
	for i := 0; i < len(w); i += chunk {
		b := []byte{0}
		for _, v := range w[i:min(i+chunk, len(w))] {
			b = binary.LittleEndian.AppendUint32(b, math.Float32bits(v))
		}
		level = append(level, sha256.Sum256(b))
	}
	for len(level) > 1 {
		var next [][32]byte
		for i := 0; i+1 < len(level); i += 2 {
			next = append(next, sha256.Sum256(append(append([]byte{1}, level[i][:]...), level[i+1][:]...)))
		}
		if len(level)%2 == 1 {
			next = append(next, level[len(level)-1])
		}
		level = next
	}
	var tree [32]byte
	if len(level) == 1 {
		tree = level[0]
	}
	b := append([]byte{2}, "gradientcoin/state"...)
	b = binary.LittleEndian.AppendUint64(b, uint64(len(w)))
	b = binary.LittleEndian.AppendUint32(b, uint32(chunk))
	return sha256.Sum256(append(b, tree[:]...))
}

func TestRoot(t *testing.T) {
	w := make([]float32, 10007)
	for i := range w {
		w[i] = float32(i) * 0.25
	}
	for _, chunk := range []int{1, 2, 3, 64, 1000, 10007, 20000} {
		for _, n := range []int{0, 1, 2, 3, 5, 64, 65, 10007} {
			if got, want := Root(w[:n], chunk), rootRef(w[:n], chunk); got != want {
				t.Errorf("n=%d chunk=%d: root %x, reference %x", n, chunk, got[:8], want[:8])
			}
		}
	}
	base := Root(w, 64)
	v := append([]float32(nil), w...)
	v[5000] = math.Nextafter32(v[5000], 10)
	if Root(v, 64) == base {
		t.Errorf("one ulp change kept the root")
	}
	if Root(append(w, 0), 64) == base {
		t.Errorf("appending a zero kept the root")
	}
	if Root(w, 128) == base {
		t.Errorf("another chunk size gave the same root")
	}
	nz := []float32{float32(math.Copysign(0, -1))}
	if Root(nz, 1) == Root([]float32{0}, 1) {
		t.Errorf("-0 and +0 share a root")
	}
	if Root(w, 0) != Root(w, 1) {
		t.Errorf("chunk 0 is not treated as 1")
	}
	// Independent of GOMAXPROCS.
	big := make([]float32, 1<<18+3)
	for i := range big {
		big[i] = float32(i % 1013)
	}
	old := runtime.GOMAXPROCS(1)
	a := Root(big, 1024)
	runtime.GOMAXPROCS(4)
	b := Root(big, 1024)
	runtime.GOMAXPROCS(old)
	if a != b || a != rootRef(big, 1024) {
		t.Errorf("root depends on GOMAXPROCS")
	}
}

func TestContributionRoundTrip(t *testing.T) {
	for _, sc := range sketchConfigs {
		r := testRules(sc.cfg)
		w, _ := Genesis(r)
		parent := [32]byte{1, 2, 3}
		c, _, err := MakeContribution(r, parent, fakeDelta(w, 0, 0), nil, workerKey(0), [32]byte{9})
		if err != nil {
			t.Fatalf("%s: %v", sc.name, err)
		}
		raw := c.Encode()
		if len(raw) != ContributionSize(sc.cfg) {
			t.Errorf("%s: %d bytes, ContributionSize %d", sc.name, len(raw), ContributionSize(sc.cfg))
		}
		got, err := VerifyContribution(r, raw)
		if err != nil {
			t.Fatalf("%s: %v", sc.name, err)
		}
		if got.Hash() != c.Hash() || got.SigHash() != c.SigHash() || string(got.Encode()) != string(raw) {
			t.Errorf("%s: decode/encode changed the contribution", sc.name)
		}
		if got.Parent != parent || got.SampleDigest != [32]byte{9} || got.Dim != 5248 || got.Sketch != sc.cfg {
			t.Errorf("%s: decoded fields differ: %+v", sc.name, got)
		}
	}
}

// resign re-signs a modified contribution so that only the intended check
// can fail.
func resign(c *Contribution) []byte {
	c.Sign(workerKey(0))
	return c.Encode()
}

func TestContributionRejects(t *testing.T) {
	cfg := sketch.Config{Family: sketch.CountSketch, Rows: 512, NNZ: 2, QuantBits: 8, QuantBlock: 64}
	r := testRules(cfg)
	w, _ := Genesis(r)
	c, _, err := MakeContribution(r, [32]byte{1}, fakeDelta(w, 0, 0), nil, workerKey(0), [32]byte{})
	if err != nil {
		t.Fatal(err)
	}
	raw := c.Encode()
	le := binary.LittleEndian
	mut := func(f func(b []byte)) []byte {
		b := append([]byte(nil), raw...)
		f(b)
		return b
	}
	modify := func(f func(c *Contribution)) []byte {
		d, _ := DecodeContribution(raw)
		f(d)
		return resign(d)
	}
	f32rules := testRules(sketch.Config{Family: sketch.CountSketch, Rows: 512, NNZ: 2, QuantBits: 32})
	f32c, _, _ := MakeContribution(f32rules, [32]byte{1}, fakeDelta(w, 0, 0), nil, workerKey(0), [32]byte{})
	nanRaw := func() []byte {
		d := *f32c
		d.Payload = append([]byte(nil), f32c.Payload...)
		le.PutUint32(d.Payload[40:], 0x7fc00000)
		return resign(&d)
	}()
	cases := []struct {
		name  string
		rules Rules
		raw   []byte
		kind  error
	}{
		{"empty", r, nil, ErrBadContribution},
		{"truncated header", r, raw[:100], ErrBadContribution},
		{"truncated payload", r, raw[:len(raw)-1], ErrBadContribution},
		{"trailing byte", r, append(append([]byte(nil), raw...), 0), ErrContributionTooLarge},
		{"version 2", r, mut(func(b []byte) { b[0] = 2 }), ErrBadContribution},
		{"family 0", r, mut(func(b []byte) { b[66] = 0 }), ErrBadContribution},
		{"huge rows", r, mut(func(b []byte) { le.PutUint32(b[68:], 1<<31) }), ErrBadContribution},
		{"dim 0", r, mut(func(b []byte) { le.PutUint32(b[84:], 0) }), ErrBadContribution},
		{"payload length", r, mut(func(b []byte) { le.PutUint32(b[120:], 1<<30) }), ErrBadContribution},
		{"non-canonical code", r, mut(func(b []byte) { b[124+4*8] = 0x80 }), sketch.ErrPayload},
		{"flipped payload bit", r, mut(func(b []byte) { b[200] ^= 1 }), ErrBadSignature},
		{"flipped signature", r, mut(func(b []byte) { b[len(b)-1] ^= 1 }), ErrBadSignature},
		{"flipped digest", r, mut(func(b []byte) { b[90] ^= 1 }), ErrBadSignature},
		{"other family", r, modify(func(c *Contribution) { c.Sketch.Family = sketch.SparseEmbedding2 }), ErrParamsMismatch},
		{"other rows", r, modify(func(c *Contribution) {
			c.Sketch.Rows = 256
			c.Payload = c.Payload[:sketch.PayloadSize(c.Sketch)]
			for i := 4 * 4; i < len(c.Payload); i++ {
				if c.Payload[i] == 0x80 {
					c.Payload[i] = 0
				}
			}
		}), ErrParamsMismatch},
		{"other dim", r, modify(func(c *Contribution) { c.Dim = 5000 }), ErrParamsMismatch},
		{"too large for rules", func() Rules { q := r; q.MaxContributionBytes = len(raw) - 1; return q }(), raw, ErrBadRules},
		{"NaN in payload", f32rules, nanRaw, ErrNonFinite},
	}
	for _, c := range cases {
		err := CheckContribution(c.rules, c.raw)
		if !errors.Is(err, c.kind) {
			t.Errorf("%s: CheckContribution = %v, want %v", c.name, err, c.kind)
		}
	}
	if err := CheckContribution(r, raw); err != nil {
		t.Errorf("original: %v", err)
	}
	if err := c.Sign(ed25519.PrivateKey{1, 2}); !errors.Is(err, ErrBadKey) {
		t.Errorf("short key: %v", err)
	}
	if _, _, err := MakeContribution(r, [32]byte{}, make([]float32, 3), nil, workerKey(0), [32]byte{}); !errors.Is(err, ErrBadWeights) {
		t.Errorf("short delta: %v", err)
	}
	bad := fakeDelta(w, 0, 0)
	bad[7] = float32(math.Inf(-1))
	if _, _, err := MakeContribution(r, [32]byte{}, bad, nil, workerKey(0), [32]byte{}); !errors.Is(err, ErrNonFinite) {
		t.Errorf("Inf delta: %v", err)
	}
}

func TestApplyRejectsWithoutMutating(t *testing.T) {
	cfg := sketch.Config{Family: sketch.CountSketch, Rows: 512, NNZ: 2, TopK: 100, QuantBits: 8, QuantBlock: 64}
	r := testRules(cfg)
	r.MaxContributions = 3
	w0, _ := Genesis(r)
	parent := [32]byte{7}
	mk := func(p [32]byte, worker int, scale float32) []byte {
		d := fakeDelta(w0, 0, worker)
		for j := range d {
			d[j] *= scale
		}
		c, _, err := MakeContribution(r, p, d, nil, workerKey(worker), [32]byte{})
		if err != nil {
			t.Fatal(err)
		}
		return c.Encode()
	}
	a, b, c4 := mk(parent, 1, 1), mk(parent, 2, 1), mk(parent, 4, 1)
	// hugeC carries a sketch whose every value is 3e38: two of them
	// overflow float32 when summed.
	hugeC := func(worker int) []byte {
		y := make([]float32, cfg.Rows)
		for i := range y {
			y[i] = 3e38
		}
		p, err := sketch.Quantize(cfg, y)
		if err != nil {
			t.Fatal(err)
		}
		c := &Contribution{Version: 1, Parent: parent, Sketch: cfg, Dim: len(w0), Payload: p}
		c.Sign(workerKey(worker))
		return c.Encode()
	}
	cases := []struct {
		name  string
		w     []float32
		raws  [][]byte
		kind  error
		rules Rules
	}{
		{"wrong parent", w0, [][]byte{a, mk([32]byte{8}, 3, 1)}, ErrWrongParent, r},
		{"duplicate contributor", w0, [][]byte{a, b, a}, ErrDuplicateContributor, r},
		{"too many", w0, [][]byte{a, b, c4, mk(parent, 5, 1)}, ErrTooManyContributions, r},
		{"garbage", w0, [][]byte{a, {1, 2, 3}}, ErrBadContribution, r},
		{"empty contribution", w0, [][]byte{a, {}}, ErrBadContribution, r},
		{"sum overflows", w0, [][]byte{hugeC(5), hugeC(6)}, ErrNonFinite, r},
		{"short weights", w0[:100], [][]byte{a}, ErrBadWeights, r},
	}
	for _, c := range cases {
		w := append([]float32(nil), c.w...)
		before := Root(w, 256)
		err := Apply(c.rules, w, parent, c.raws)
		if !errors.Is(err, c.kind) {
			t.Errorf("%s: Apply = %v, want %v", c.name, err, c.kind)
		}
		if Root(w, 256) != before {
			t.Errorf("%s: weights changed on error", c.name)
		}
	}
	// Weights that overflow on update.
	w := append([]float32(nil), w0...)
	for j := range w {
		w[j] = math.MaxFloat32
	}
	before := Root(w, 256)
	r2 := r
	r2.GlobalLR = MaxLearningRate
	if err := Apply(r2, w, parent, [][]byte{mk(parent, 1, 1e30)}); !errors.Is(err, ErrNonFinite) {
		t.Errorf("overflowing update: %v", err)
	}
	if Root(w, 256) != before {
		t.Errorf("overflowing update changed the weights")
	}
	// Empty block: no change.
	w = append([]float32(nil), w0...)
	if err := Apply(r, w, parent, nil); err != nil || Root(w, 256) != Root(w0, 256) {
		t.Errorf("empty block: %v", err)
	}
}

// TestApplyArithmetic recomputes Apply's result from its definition.
func TestApplyArithmetic(t *testing.T) {
	for _, sc := range sketchConfigs {
		r := testRules(sc.cfg)
		w, _ := Genesis(r)
		parent := [32]byte{3}
		var raws [][]byte
		agg := make([]float32, sc.cfg.Rows)
		for i := 0; i < 3; i++ {
			c, _, err := MakeContribution(r, parent, fakeDelta(w, 0, i), nil, workerKey(i), [32]byte{})
			if err != nil {
				t.Fatal(err)
			}
			raws = append(raws, c.Encode())
			v := make([]float32, sc.cfg.Rows)
			sketch.Dequantize(sc.cfg, v, c.Payload)
			for k := range agg {
				agg[k] += v[k]
			}
		}
		sk, _ := r.NewSketch(parent)
		u := make([]float32, len(w))
		sk.Desketch(u, agg)
		coef := float32(float64(r.GlobalLR) / 3)
		want := make([]float32, len(w))
		for j := range w {
			want[j] = w[j] + float32(coef*u[j])
		}
		if err := Apply(r, w, parent, raws); err != nil {
			t.Fatalf("%s: %v", sc.name, err)
		}
		if Root(w, 256) != Root(want, 256) {
			t.Errorf("%s: Apply differs from its definition", sc.name)
		}
	}
}

type fakeBackend struct {
	calls int
	err   error
}

func (f *fakeBackend) Desketch(s *sketch.Sketch, dst, y []float32) error {
	f.calls++
	if f.err != nil {
		return f.err
	}
	return s.Desketch(dst, y)
}

func TestBackend(t *testing.T) {
	r := testRules(sketchConfigs[0].cfg)
	w, _ := Genesis(r)
	c, _, _ := MakeContribution(r, [32]byte{}, fakeDelta(w, 0, 0), nil, workerKey(0), [32]byte{})
	w1 := append([]float32(nil), w...)
	Apply(r, w1, [32]byte{}, [][]byte{c.Encode()})
	b := &fakeBackend{}
	w2 := append([]float32(nil), w...)
	if err := ApplyWith(b, r, w2, [32]byte{}, [][]byte{c.Encode()}); err != nil || b.calls != 1 {
		t.Fatalf("backend: %v, %d calls", err, b.calls)
	}
	if Root(w1, 256) != Root(w2, 256) {
		t.Errorf("backend result differs")
	}
	b.err = errors.New("device lost")
	w3 := append([]float32(nil), w...)
	if err := ApplyWith(b, r, w3, [32]byte{}, [][]byte{c.Encode()}); !errors.Is(err, ErrBackend) {
		t.Errorf("failing backend: %v", err)
	}
	if Root(w3, 256) != Root(w, 256) {
		t.Errorf("failing backend changed the weights")
	}
}

// TestErrorFeedback: with top-k recovery, delta + old residual = applied
// part + new residual (up to float rounding), and over rounds the residual
// stays bounded; linear families return a zero residual.
func TestErrorFeedback(t *testing.T) {
	r := testRules(sketchConfigs[0].cfg)
	w, _ := Genesis(r)
	var res []float32
	for round := 0; round < 5; round++ {
		delta := fakeDelta(w, round, 0)
		c, newRes, err := MakeContribution(r, [32]byte{byte(round)}, delta, res, workerKey(0), [32]byte{})
		if err != nil {
			t.Fatal(err)
		}
		sk, _ := r.NewSketch([32]byte{byte(round)})
		y := make([]float32, r.Sketch.Rows)
		sketch.Dequantize(r.Sketch, y, c.Payload)
		u := make([]float32, len(w))
		sk.Desketch(u, y)
		nz := 0
		for j := range delta {
			old := float32(0)
			if res != nil {
				old = res[j]
			}
			if u[j] != 0 {
				nz++
			}
			if diff := math.Abs(float64(delta[j] + old - u[j] - newRes[j])); diff > 1e-6 {
				t.Fatalf("round %d, coord %d: delta+res−u−newres = %v", round, j, diff)
			}
		}
		if nz > r.Sketch.TopK {
			t.Errorf("round %d: %d nonzeros recovered, topk %d", round, nz, r.Sketch.TopK)
		}
		res = newRes
	}
	lin := testRules(sketchConfigs[2].cfg)
	_, res2, err := MakeContribution(lin, [32]byte{}, fakeDelta(w, 0, 0), nil, workerKey(0), [32]byte{})
	if err != nil {
		t.Fatal(err)
	}
	for j, v := range res2 {
		if v != 0 {
			t.Fatalf("linear family residual[%d] = %v, want 0", j, v)
		}
	}
}

// TestReplay50: two independent replays of 50 rounds (the second with
// another GOMAXPROCS) give identical roots after every round.
func TestReplay50(t *testing.T) {
	r := testRules(sketchConfigs[0].cfg)
	old := runtime.GOMAXPROCS(1)
	a, wa := replay(t, r, 50, 2)
	runtime.GOMAXPROCS(4)
	b, _ := replay(t, r, 50, 2)
	runtime.GOMAXPROCS(old)
	for i := range a {
		if a[i] != b[i] {
			t.Fatalf("round %d: roots %x and %x differ", i, a[i][:8], b[i][:8])
		}
	}
	// The fake training pulls w towards the target: it must have moved.
	g, _ := Genesis(r)
	if Root(g, 256) == Root(wa, 256) {
		t.Errorf("weights did not change in 50 rounds")
	}
}

// TestGoldenRoots pins the state root after 3 rounds of 2 contributions for
// every family (fixed genesis, fixed keys, fixed updates): it catches any
// platform, compiler or Go-version drift in the consensus math. The
// genesis root of DevRules is pinned too.
func TestGoldenRoots(t *testing.T) {
	golden := map[string]string{
		"genesis":               "5630f4fbf34b67f1132229b04716d67d6f3e7699fce69f9248a360d0a7269887",
		"devrules-genesis":      "0bd35c9e5a85f63037e4bc9c47d982a616ad3f7e032170acd1d9ee9495966b85",
		"countsketch-topk-int8": "ef763c022aa1aac6d7e644df4cddad735ddda5d20b6c437fffbe8d16786a021b",
		"countsketch-int4":      "d33a38e8bd424908659580364d790574ccea6d166c7fe6e6d7016547a9024a73",
		"sparse1-f32":           "a0451138b6800d55045b02185c25e34f0803e1415d5e1c3d3c3859496997bf9b",
		"sparse2-int8":          "5d6fbf19d08e6769f560b77bedb350504c67129dd4f176aa87cd59c7cfdb38b7",
		"srht-int8":             "552518e67d7f5bc2c39162cf9c241b7ffe3595ea64c602a667ba2f27102044fd",
		"gaussian-f32":          "38398cad2e675ad018d24254af3115b4657cc7471920b5eebb39c70263f94082",
		"ams-int8":              "d0291b21c51872821b8957a6d4c596d5a67d7765eaf14591c44387b80339e673",
		"identity-int8":         "64532a1d9ec8801e1e6ab289c2c9413623b9622d8197747854f1f0acf075a2a6",
	}
	got := map[string]string{}
	g, _ := Genesis(testRules(sketchConfigs[0].cfg))
	root := Root(g, 256)
	got["genesis"] = hex.EncodeToString(root[:])
	dg, err := Genesis(DevRules())
	if err != nil {
		t.Fatal(err)
	}
	root = DevRules().Root(dg)
	got["devrules-genesis"] = hex.EncodeToString(root[:])
	for _, sc := range sketchConfigs {
		roots, _ := replay(t, testRules(sc.cfg), 3, 2)
		got[sc.name] = hex.EncodeToString(roots[2][:])
	}
	for name, want := range golden {
		if got[name] != want {
			t.Errorf("%s: root %s, golden %s", name, got[name], want)
		}
	}
}
