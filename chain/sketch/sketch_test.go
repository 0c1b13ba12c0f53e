package sketch

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"math"
	"runtime"
	"testing"
)

// testConfigs is one config per family (and the top-k variant) at small m.
func testConfigs(m int) map[string]Config {
	return map[string]Config{
		"gaussian":       {Family: Gaussian, Rows: m, QuantBits: 32},
		"srht":           {Family: SRHT, Rows: m, QuantBits: 32},
		"ams":            {Family: AMS, Rows: m, QuantBits: 32},
		"countsketch":    {Family: CountSketch, Rows: m, NNZ: 1, QuantBits: 32},
		"countsketch-t4": {Family: CountSketch, Rows: m, NNZ: 4, QuantBits: 32},
		"sparse1":        {Family: SparseEmbedding1, Rows: m, NNZ: 3, QuantBits: 32},
		"sparse2":        {Family: SparseEmbedding2, Rows: m, NNZ: 4, QuantBits: 32},
	}
}

func seedN(i int) [32]byte {
	var p [32]byte
	binary.LittleEndian.PutUint64(p[:], uint64(i))
	return Seed(p)
}

// testVec is a deterministic vector with entries in [-1, 1).
func testVec(n int, salt uint64) []float32 {
	k := Key{A: salt, B: ^salt}
	x := make([]float32, n)
	for i := range x {
		x[i] = float32(int64(k.Hash(uint64(i))>>40)-(1<<23)) / (1 << 23)
	}
	return x
}

func bitsHash(v []float32) string {
	b := make([]byte, 4*len(v))
	for i, x := range v {
		binary.LittleEndian.PutUint32(b[4*i:], math.Float32bits(x))
	}
	h := sha256.Sum256(b)
	return hex.EncodeToString(h[:8])
}

func TestHashKnownAnswers(t *testing.T) {
	k := Key{A: 1, B: 2}
	got := fmt.Sprintf("%016x %016x %016x", k.Hash(0), k.Hash(1), k.Hash(1<<40))
	const want = "4e0fcd7162342871 c7eafba733477d2c b3ce164e0e9a7948"
	if got != want {
		t.Errorf("Key{1,2}.Hash(0, 1, 2^40) = %s, want %s", got, want)
	}
	s := Seed([32]byte{})
	if got := hex.EncodeToString(s[:]); got != "548b10633a1c99d01247402412b838538bce083ba01718bbfe3c5089b6ecb26f" {
		t.Errorf("Seed(0) = %s", got)
	}
}

// TestElementKnownAnswers checks single elements of every family against
// values computed by an independent Python implementation of doc.go.
func TestElementKnownAnswers(t *testing.T) {
	seed := Seed([32]byte{})
	mk := func(cfg Config) *Sketch {
		s, err := New(cfg, 5000, seed)
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	cs := mk(Config{Family: CountSketch, Rows: 40, NNZ: 4, QuantBits: 32})
	if row, neg, _ := cs.Nonzero(123, 2); row != 26 || !neg {
		t.Errorf("countsketch nonzero (123, 2) = %d %v, want 26 true", row, neg)
	}
	se1 := mk(Config{Family: SparseEmbedding1, Rows: 40, NNZ: 3, QuantBits: 32})
	if row, neg, _ := se1.Nonzero(4999, 1); row != 29 || neg {
		t.Errorf("sparse1 nonzero (4999, 1) = %d %v, want 29 false", row, neg)
	}
	g := mk(Config{Family: Gaussian, Rows: 40, QuantBits: 32})
	if v := g.gaussT(3, 77); v != 143192 {
		t.Errorf("gaussian T(3, 77) = %d, want 143192", v)
	}
	sr := mk(Config{Family: SRHT, Rows: 40, QuantBits: 32})
	if r, neg := sr.srhtRow(5), sr.srhtNeg(4100); r != 1494 || !neg || sr.pad != 8192 {
		t.Errorf("srht row(5) = %d, D(4100) negative %v, pad %d; want 1494 true 8192", r, neg, sr.pad)
	}
	ams := mk(Config{Family: AMS, Rows: 40, QuantBits: 32})
	if e := ams.Entry(7, 130); e >= 0 {
		t.Errorf("ams entry (7, 130) = %v, want negative", e)
	}
}

func TestNormalMoments(t *testing.T) {
	k := Key{A: 7, B: 11}
	const n = 200000
	var s1, s2, s4 float64
	maxAbs := 0.0
	for i := 0; i < n; i++ {
		g := float64(k.Normal(uint64(i)))
		s1 += g
		s2 += g * g
		s4 += g * g * g * g
		maxAbs = math.Max(maxAbs, math.Abs(g))
	}
	mean, v := s1/n, s2/n
	kurt := s4 / n / (v * v)
	// Standard errors at n = 2e5: mean 0.0022, variance 0.003, so 5σ
	// bounds are 0.011 and 0.016. Irwin–Hall(8) kurtosis is 2.85.
	if math.Abs(mean) > 0.011 || math.Abs(v-1) > 0.016 || math.Abs(kurt-2.85) > 0.05 || maxAbs > 4.9 {
		t.Errorf("normal: mean %.4f var %.4f kurtosis %.3f max|g| %.2f", mean, v, kurt, maxAbs)
	}
}

func TestConfigValidate(t *testing.T) {
	cases := []struct {
		name string
		cfg  Config
		d    int
		ok   bool
	}{
		{"countsketch", Config{Family: CountSketch, Rows: 8, NNZ: 1, QuantBits: 32}, 64, true},
		{"topk", Config{Family: CountSketch, Rows: 8, NNZ: 2, TopK: 4, QuantBits: 8, QuantBlock: 4}, 64, true},
		{"identity", Config{Family: Identity, Rows: 64, QuantBits: 32}, 64, true},
		{"identity rows != d", Config{Family: Identity, Rows: 8, QuantBits: 32}, 64, false},
		{"family 0", Config{Rows: 8, QuantBits: 32}, 64, false},
		{"family 99", Config{Family: 99, Rows: 8, QuantBits: 32}, 64, false},
		{"rows 0", Config{Family: SRHT, Rows: 0, QuantBits: 32}, 64, false},
		{"rows > d", Config{Family: SRHT, Rows: 65, QuantBits: 32}, 64, false},
		{"gaussian nnz", Config{Family: Gaussian, Rows: 8, NNZ: 1, QuantBits: 32}, 64, false},
		{"sparse nnz 0", Config{Family: SparseEmbedding1, Rows: 8, QuantBits: 32}, 64, false},
		{"sparse nnz > max", Config{Family: SparseEmbedding1, Rows: 128, NNZ: 65, QuantBits: 32}, 1024, false},
		{"sparse2 rows % nnz", Config{Family: SparseEmbedding2, Rows: 9, NNZ: 2, QuantBits: 32}, 64, false},
		{"topk on srht", Config{Family: SRHT, Rows: 8, TopK: 2, QuantBits: 32}, 64, false},
		{"topk > d", Config{Family: CountSketch, Rows: 8, NNZ: 1, TopK: 65, QuantBits: 32}, 64, false},
		{"topk < 0", Config{Family: CountSketch, Rows: 8, NNZ: 1, TopK: -1, QuantBits: 32}, 64, false},
		{"quant 16", Config{Family: CountSketch, Rows: 8, NNZ: 1, QuantBits: 16, QuantBlock: 4}, 64, false},
		{"quant 8 block 0", Config{Family: CountSketch, Rows: 8, NNZ: 1, QuantBits: 8}, 64, false},
		{"quant 32 block", Config{Family: CountSketch, Rows: 8, NNZ: 1, QuantBits: 32, QuantBlock: 4}, 64, false},
		{"d 0", Config{Family: CountSketch, Rows: 1, NNZ: 1, QuantBits: 32}, 0, false},
		{"d huge", Config{Family: CountSketch, Rows: 1, NNZ: 1, QuantBits: 32}, MaxDim + 1, false},
	}
	for _, c := range cases {
		err := c.cfg.ValidateDim(c.d)
		if (err == nil) != c.ok {
			t.Errorf("%s: ValidateDim(%d) = %v, want ok=%v", c.name, c.d, err, c.ok)
		}
		if err != nil && !errors.Is(err, ErrBadConfig) {
			t.Errorf("%s: error %v is not ErrBadConfig", c.name, err)
		}
		if _, err2 := New(c.cfg, c.d, [32]byte{}); (err2 == nil) != c.ok {
			t.Errorf("%s: New = %v, want ok=%v", c.name, err2, c.ok)
		}
	}
	for _, f := range AllFamilies() {
		g, err := ParseFamily(f.String())
		if err != nil || g != f {
			t.Errorf("ParseFamily(%q) = %v, %v", f.String(), g, err)
		}
	}
	if _, err := ParseFamily("nope"); !errors.Is(err, ErrBadConfig) {
		t.Errorf("ParseFamily(nope) = %v", err)
	}
}

// TestMatchesDenseMatrix checks Apply and Transpose against the explicit
// matrix built from Entry (float64 reference, float32 tolerance).
func TestMatchesDenseMatrix(t *testing.T) {
	const d, m = 77, 16
	for name, cfg := range testConfigs(m) {
		s, err := New(cfg, d, seedN(1))
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		x, y := testVec(d, 1), testVec(m, 2)
		gotY, gotX := make([]float32, m), make([]float32, d)
		if err := s.Apply(gotY, x); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if err := s.Transpose(gotX, y); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		for i := 0; i < m; i++ {
			var ref, mag float64
			for j := 0; j < d; j++ {
				ref += s.Entry(i, j) * float64(x[j])
				mag += math.Abs(s.Entry(i, j) * float64(x[j]))
			}
			if math.Abs(float64(gotY[i])-ref) > 1e-5*(mag+1) {
				t.Errorf("%s: (S·x)[%d] = %v, want %v", name, i, gotY[i], ref)
			}
		}
		for j := 0; j < d; j++ {
			var ref, mag float64
			for i := 0; i < m; i++ {
				ref += s.Entry(i, j) * float64(y[i])
				mag += math.Abs(s.Entry(i, j) * float64(y[i]))
			}
			if math.Abs(float64(gotX[j])-ref) > 1e-5*(mag+1) {
				t.Errorf("%s: (Sᵀ·y)[%d] = %v, want %v", name, j, gotX[j], ref)
			}
		}
	}
}

// TestUnbiased: for each family the mean of Sᵀ·S·x over N independent seeds
// must be x. Per coordinate the estimate's standard error is estimated from
// the sample itself (σ_j/√N); every coordinate must lie within 5 standard
// errors (P(|z| > 5) ≈ 6e-7 per coordinate, 4e-5 over the 64 coordinates
// if the sketch were exactly unbiased and the mean normal), and the
// relative error of the whole mean vector must be below 2·√(d/(m·N)), twice
// the expected noise (Var[(SᵀSx)_j] ≈ ‖x‖²/m for every family, so
// E‖mean − x‖² ≈ d‖x‖²/(mN)); a sketch scaled 10% off would exceed it.
func TestUnbiased(t *testing.T) {
	for name, cfg := range testConfigs(16) {
		worst, rel, bound := unbiasStats(t, cfg, 1)
		if worst > 5 || rel > bound {
			t.Errorf("%s: mean of SᵀSx over many seeds: worst |z| = %.2f (limit 5), relative error %.4f (limit %.4f)", name, worst, rel, bound)
		} else {
			t.Logf("%s: worst |z| %.2f, relative error %.4f (limit %.4f)", name, worst, rel, bound)
		}
	}
	// The test has the power it claims: a count sketch whose de-sketch is
	// 10% too large fails it.
	if worst, rel, bound := unbiasStats(t, testConfigs(16)["countsketch"], 1.1); worst <= 5 && rel <= bound {
		t.Errorf("a 10%% biased sketch passed: worst |z| %.2f, relative error %.4f (limit %.4f)", worst, rel, bound)
	}
}

// unbiasStats returns, for the mean of bias·SᵀSx over 2000 seeds, the
// largest per-coordinate |z| score, the relative error ‖mean − x‖/‖x‖, and
// the bound 2·√(d/(m·N)) for it.
func unbiasStats(t *testing.T, cfg Config, bias float64) (worst, rel, bound float64) {
	const d, n = 64, 2000
	m := cfg.Rows
	x := testVec(d, 9)
	sum := make([]float64, d)
	sum2 := make([]float64, d)
	y, z := make([]float32, m), make([]float32, d)
	for k := 0; k < n; k++ {
		s, err := New(cfg, d, seedN(1000+k))
		if err != nil {
			t.Fatal(err)
		}
		if err := s.Apply(y, x); err != nil {
			t.Fatal(err)
		}
		if err := s.Transpose(z, y); err != nil {
			t.Fatal(err)
		}
		for j, v := range z {
			w := float64(v) * bias
			sum[j] += w
			sum2[j] += w * w
		}
	}
	var errNorm, xNorm float64
	for j := range x {
		mean := sum[j] / n
		sd := math.Sqrt(math.Max(sum2[j]/n-mean*mean, 1e-12))
		z := (mean - float64(x[j])) / (sd / math.Sqrt(n))
		worst = math.Max(worst, math.Abs(z))
		errNorm += (mean - float64(x[j])) * (mean - float64(x[j]))
		xNorm += float64(x[j]) * float64(x[j])
	}
	return worst, math.Sqrt(errNorm / xNorm), 2 * math.Sqrt(float64(d)/float64(m*n))
}

func TestLinearity(t *testing.T) {
	const d, m = 300, 32
	for name, cfg := range testConfigs(m) {
		s, _ := New(cfg, d, seedN(3))
		x1, x2 := testVec(d, 4), testVec(d, 5)
		sum := make([]float32, d)
		for j := range sum {
			sum[j] = 2*x1[j] + x2[j]
		}
		y1, y2, ys := make([]float32, m), make([]float32, m), make([]float32, m)
		s.Apply(y1, x1)
		s.Apply(y2, x2)
		s.Apply(ys, sum)
		for i := range ys {
			if want := 2*float64(y1[i]) + float64(y2[i]); math.Abs(float64(ys[i])-want) > 1e-4*(1+math.Abs(want)) {
				t.Errorf("%s: S(2a+b)[%d] = %v, want %v", name, i, ys[i], want)
			}
		}
		t1, t2, ts := make([]float32, d), make([]float32, d), make([]float32, d)
		for i := range ys {
			ys[i] = 2*y1[i] + y2[i]
		}
		s.Transpose(t1, y1)
		s.Transpose(t2, y2)
		s.Transpose(ts, ys)
		for j := range ts {
			if want := 2*float64(t1[j]) + float64(t2[j]); math.Abs(float64(ts[j])-want) > 1e-4*(1+math.Abs(want)) {
				t.Errorf("%s: Sᵀ(2a+b)[%d] = %v, want %v", name, j, ts[j], want)
			}
		}
	}
}

// TestDeterministicAcrossProcs runs every family at sizes that take the
// parallel paths with GOMAXPROCS 1 and 4 and compares bits.
func TestDeterministicAcrossProcs(t *testing.T) {
	type res struct{ fwd, tr, ds string }
	run := func(cfg Config, d int) res {
		s, err := New(cfg, d, seedN(5))
		if err != nil {
			t.Fatal(err)
		}
		x, y := make([]float32, cfg.Rows), make([]float32, d)
		s.Apply(x, testVec(d, 6))
		s.Transpose(y, testVec(cfg.Rows, 7))
		ds := make([]float32, d)
		s.Desketch(ds, x)
		return res{bitsHash(x), bitsHash(y), bitsHash(ds)}
	}
	cases := []struct {
		name string
		cfg  Config
		d    int
	}{
		{"countsketch", Config{Family: CountSketch, Rows: 1000, NNZ: 1, QuantBits: 32}, 70000},
		{"countsketch-topk", Config{Family: CountSketch, Rows: 999, NNZ: 3, TopK: 500, QuantBits: 32}, 70000},
		{"sparse1", Config{Family: SparseEmbedding1, Rows: 1000, NNZ: 4, QuantBits: 32}, 70000},
		{"sparse2", Config{Family: SparseEmbedding2, Rows: 1000, NNZ: 4, QuantBits: 32}, 70000},
		{"srht", Config{Family: SRHT, Rows: 1000, QuantBits: 32}, 70000},
		{"gaussian", Config{Family: Gaussian, Rows: 6, QuantBits: 32}, 3000},
		{"ams", Config{Family: AMS, Rows: 6, QuantBits: 32}, 3000},
	}
	old := runtime.GOMAXPROCS(0)
	defer runtime.GOMAXPROCS(old)
	for _, c := range cases {
		runtime.GOMAXPROCS(1)
		a := run(c.cfg, c.d)
		runtime.GOMAXPROCS(4)
		b := run(c.cfg, c.d)
		if a != b {
			t.Errorf("%s: GOMAXPROCS 1 gives %v, 4 gives %v", c.name, a, b)
		}
	}
}

// TestGolden pins the bits of every family's consensus de-sketch and the
// worker's sketch for a fixed seed: any change to the generator, the
// operation order or Go's float semantics shows up here.
func TestGolden(t *testing.T) {
	const d = 5000
	golden := map[string]string{
		"gaussian":       "d493f25d80f9d955/e4c7d3f5b962290e",
		"srht":           "ff6e92a29b80ff09/d32bb9135b563068",
		"ams":            "ce6f5650f68fcb02/2790348252dd9d9c",
		"countsketch":    "6ffc499bc1d256f5/169993cd9f2746af",
		"countsketch-t4": "ce57ff0e69497ce1/f20b95f5c7e99746",
		"sparse1":        "f42f69746644865f/1cd7cee393070e45",
		"sparse2":        "536a9c1104ede0fa/e1861a62d8fd4853",
		"topk":           "ce57ff0e69497ce1/868dd94035642bcf",
	}
	cfgs := testConfigs(40)
	cfgs["topk"] = Config{Family: CountSketch, Rows: 40, NNZ: 4, TopK: 25, QuantBits: 32}
	for name, cfg := range cfgs {
		s, err := New(cfg, d, seedN(42))
		if err != nil {
			t.Fatal(err)
		}
		y, x := make([]float32, cfg.Rows), make([]float32, d)
		s.Apply(y, testVec(d, 43))
		s.Desketch(x, y)
		got := bitsHash(y) + "/" + bitsHash(x)
		if golden[name] != got {
			t.Errorf("%s: golden %q, got %q", name, golden[name], got)
		}
	}
}

func TestFWHT(t *testing.T) {
	// Against the O(n²) definition for small n.
	for _, n := range []int{1, 2, 8, 64} {
		x := testVec(n, uint64(n))
		z := append([]float32(nil), x...)
		FWHT(z)
		for a := 0; a < n; a++ {
			var ref float64
			for b := 0; b < n; b++ {
				v := float64(x[b])
				if popcount(a&b)&1 == 1 {
					v = -v
				}
				ref += v
			}
			if math.Abs(float64(z[a])-ref) > 1e-5*float64(n) {
				t.Errorf("n=%d: FWHT[%d] = %v, want %v", n, a, z[a], ref)
			}
		}
	}
	// The blocked / radix-4 schedule must give the bits of the plain
	// radix-2 network.
	for _, n := range []int{1 << 11, 1 << 12, 1 << 13, 1 << 14, 1 << 15, 1 << 16} {
		x := testVec(n, 77)
		a := append([]float32(nil), x...)
		fwhtStages(a, n)
		b := append([]float32(nil), x...)
		FWHT(b)
		if bitsHash(a) != bitsHash(b) {
			t.Errorf("n=%d: blocked FWHT differs from the radix-2 network", n)
		}
	}
	z := []float32{1, 2, 3}
	FWHT(z) // not a power of two: unchanged, no panic
	if z[0] != 1 || z[2] != 3 {
		t.Errorf("FWHT changed a non-power-of-two slice")
	}
}

func popcount(x int) int {
	c := 0
	for ; x != 0; x &= x - 1 {
		c++
	}
	return c
}

func TestTopK(t *testing.T) {
	cases := []struct {
		name string
		in   []float32
		k    int
		want []float32
	}{
		{"basic", []float32{1, -5, 3, 0, 2}, 2, []float32{0, -5, 3, 0, 0}},
		{"ties lower index", []float32{2, -2, 2, 1}, 2, []float32{2, -2, 0, 0}},
		{"k = n", []float32{1, 2}, 2, []float32{1, 2}},
		{"k > n", []float32{1, 2}, 5, []float32{1, 2}},
		{"k = 0", []float32{1, 2}, 0, []float32{0, 0}},
		{"zeros", []float32{0, 0, 0}, 1, []float32{0, 0, 0}},
		{"neg zero", []float32{float32(math.Copysign(0, -1)), 1, 0}, 2, []float32{0, 1, 0}},
		{"empty", nil, 1, nil},
	}
	for _, c := range cases {
		v := append([]float32(nil), c.in...)
		TopK(v, c.k)
		for i := range v {
			if v[i] != c.want[i] {
				t.Errorf("%s: TopK(%v, %d) = %v, want %v", c.name, c.in, c.k, v, c.want)
				break
			}
		}
	}
	// Against a sort-based reference on data with many ties.
	for _, n := range []int{1000, 140000} { // 140000 spans three tie-counting chunks
		x := testVec(n, 5)
		for i := range x {
			x[i] = float32(math.Round(float64(x[i]) * 50)) // many ties
		}
		order := refOrder(x)
		for _, k := range []int{1, 17, n / 3, n - 1} {
			v := append([]float32(nil), x...)
			TopK(v, k)
			ref := make([]float32, n)
			for _, i := range order[:k] {
				ref[i] = x[i]
			}
			if bitsHash(v) != bitsHash(ref) {
				t.Errorf("n=%d k=%d: TopK differs from the reference", n, k)
			}
		}
	}
}

// refOrder returns the indices of x by decreasing |x| bit pattern, ties by
// increasing index (a stable merge sort).
func refOrder(x []float32) []int {
	idx := make([]int, len(x))
	for i := range idx {
		idx[i] = i
	}
	key := func(i int) uint32 { return math.Float32bits(x[i]) & 0x7fffffff }
	sortIdx(idx, func(a, b int) bool {
		if key(a) != key(b) {
			return key(a) > key(b)
		}
		return a < b
	})
	return idx
}

func sortIdx(idx []int, less func(a, b int) bool) {
	// merge sort (stable, O(n log n))
	if len(idx) < 2 {
		return
	}
	mid := len(idx) / 2
	sortIdx(idx[:mid], less)
	sortIdx(idx[mid:], less)
	tmp := make([]int, 0, len(idx))
	i, j := 0, mid
	for i < mid && j < len(idx) {
		if less(idx[j], idx[i]) {
			tmp = append(tmp, idx[j])
			j++
		} else {
			tmp = append(tmp, idx[i])
			i++
		}
	}
	tmp = append(tmp, idx[i:mid]...)
	tmp = append(tmp, idx[j:]...)
	copy(idx, tmp)
}

// TestHeavyHitterRecovery: a vector with a few large coordinates over
// small noise; count-sketch top-k recovery must find exactly the spikes,
// each within the noise of its true value.
func TestHeavyHitterRecovery(t *testing.T) {
	const d, k = 50000, 20
	x := testVec(d, 8)
	for j := range x {
		x[j] *= 1e-3
	}
	spikes := map[int]bool{}
	for i := 0; i < k; i++ {
		j := (i*7919 + 13) % d
		spikes[j] = true
		x[j] = float32(10 + i)
		if i%2 == 1 {
			x[j] = -x[j]
		}
	}
	// Tables of width 4000: a coordinate meets a spike in one table with
	// probability 0.5%, so with 5 or 7 tables a median is spoiled (3 or 4
	// collisions) with probability ~1e-6 per coordinate (with 1 or 3 tables
	// some of the 50000 coordinates would be).
	for _, nnz := range []int{5, 7} {
		cfg := Config{Family: CountSketch, Rows: 4000 * nnz, NNZ: nnz, TopK: k, QuantBits: 32}
		s, err := New(cfg, d, seedN(11))
		if err != nil {
			t.Fatal(err)
		}
		y, u := make([]float32, cfg.Rows), make([]float32, d)
		s.Apply(y, x)
		s.Desketch(u, y)
		for j := range u {
			if spikes[j] {
				if math.Abs(float64(u[j]-x[j])) > 0.1 {
					t.Errorf("nnz=%d: spike %d recovered as %v, want %v", nnz, j, u[j], x[j])
				}
			} else if u[j] != 0 {
				t.Errorf("nnz=%d: non-spike %d kept (%v)", nnz, j, u[j])
			}
		}
	}
}

func TestLengthErrors(t *testing.T) {
	for name, cfg := range testConfigs(8) {
		s, _ := New(cfg, 32, seedN(1))
		for _, f := range []func() error{
			func() error { return s.Apply(make([]float32, 7), make([]float32, 32)) },
			func() error { return s.Apply(make([]float32, 8), make([]float32, 31)) },
			func() error { return s.Transpose(make([]float32, 32), make([]float32, 9)) },
			func() error { return s.Transpose(nil, make([]float32, 8)) },
			func() error { return s.Desketch(make([]float32, 31), make([]float32, 8)) },
		} {
			if err := f(); !errors.Is(err, ErrLength) {
				t.Errorf("%s: wrong lengths gave %v, want ErrLength", name, err)
			}
		}
	}
	s, _ := New(Config{Family: SRHT, Rows: 8, QuantBits: 32}, 32, seedN(1))
	if err := s.Estimate(make([]float32, 32), make([]float32, 8)); !errors.Is(err, ErrBadConfig) {
		t.Errorf("Estimate on srht gave %v", err)
	}
	if _, _, ok := s.Nonzero(0, 0); ok {
		t.Errorf("Nonzero on srht reported ok")
	}
}

func TestMedian(t *testing.T) {
	k := Key{A: 5, B: 6}
	c := uint64(0)
	for n := 1; n <= 9; n++ {
		for trial := 0; trial < 2000; trial++ {
			v := make([]float32, n)
			for i := range v {
				c++
				h := k.Hash(c)
				v[i] = float32(int(h%7) - 3) // many ties, zeros
				if h>>8&1 == 1 && v[i] == 0 {
					v[i] = float32(math.Copysign(0, -1))
				}
			}
			ref := append([]float32(nil), v...)
			for i := 1; i < n; i++ { // plain insertion sort
				for j := i; j > 0 && ref[j] < ref[j-1]; j-- {
					ref[j], ref[j-1] = ref[j-1], ref[j]
				}
			}
			want := ref[n/2]
			if n%2 == 0 {
				want = float32(float32(ref[n/2-1]+ref[n/2]) * 0.5)
			}
			got := median(append([]float32(nil), v...))
			if got != want { // == treats ±0 alike; the caller canonicalizes zero
				t.Fatalf("median(%v) = %v, want %v", v, got, want)
			}
		}
	}
}

func TestOrderKey(t *testing.T) {
	k := Key{A: 9, B: 10}
	prev := []float32{float32(math.Inf(-1)), -math.MaxFloat32, -1, -math.SmallestNonzeroFloat32, float32(math.Copysign(0, -1)), 0, math.SmallestNonzeroFloat32, 1, math.MaxFloat32, float32(math.Inf(1))}
	for i := 1; i < len(prev); i++ {
		if orderKey(math.Float32bits(prev[i-1])) >= orderKey(math.Float32bits(prev[i])) {
			t.Errorf("orderKey(%v) ≥ orderKey(%v)", prev[i-1], prev[i])
		}
	}
	for i := uint64(0); i < 100000; i++ {
		b1, b2 := uint32(k.Hash(2*i)), uint32(k.Hash(2*i+1))
		f1, f2 := math.Float32frombits(b1), math.Float32frombits(b2)
		if f1 != f1 || f2 != f2 {
			continue
		}
		if math.Float32bits(keyFloat(orderKey(b1))) != b1 {
			t.Fatalf("keyFloat(orderKey(%08x)) does not round-trip", b1)
		}
		if k1, k2 := orderKey(b1), orderKey(b2); (f1 < f2) != (k1 < k2) && !(f1 == 0 && f2 == 0) {
			t.Fatalf("order of %v, %v differs from their keys", f1, f2)
		}
	}
}
