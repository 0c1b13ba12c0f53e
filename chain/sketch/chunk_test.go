package sketch

import (
	"errors"
	"math"
	"runtime"
	"sort"
	"testing"
)

func chunkCfg(f Family, d, c, k, vb int) Config {
	return Config{Family: f, Rows: (d + c - 1) / c * k, TopK: k, QuantBits: vb, QuantBlock: c}
}

func TestChunkConfigValidate(t *testing.T) {
	cases := []struct {
		name string
		cfg  Config
		d    int
		ok   bool
	}{
		{"coords q2", chunkCfg(ChunkTopK, 100, 16, 3, 2), 100, true},
		{"wht q32", chunkCfg(ChunkTopKWHT, 100, 16, 3, 32), 100, true},
		{"q1", chunkCfg(ChunkTopK, 64, 64, 64, 1), 64, true},
		{"q4 q8", chunkCfg(ChunkTopKWHT, 5000, 4096, 61, 8), 5000, true},
		{"wht k = C, d < C", chunkCfg(ChunkTopKWHT, 3, 4, 4, 32), 3, true},
		{"coords k > last chunk", chunkCfg(ChunkTopK, 3, 4, 4, 32), 3, false},
		{"coords k = last chunk", chunkCfg(ChunkTopK, 19, 16, 3, 2), 19, true},
		{"max chunk", chunkCfg(ChunkTopK, 70000, MaxChunk, 1, 2), 70000, true},
		{"chunk not pow2", chunkCfg(ChunkTopK, 96, 24, 3, 2), 96, false},
		{"chunk 1", chunkCfg(ChunkTopK, 8, 1, 1, 2), 8, false},
		{"chunk > max", chunkCfg(ChunkTopK, 1<<18, 1<<17, 1, 2), 1 << 18, false},
		{"k 0", Config{Family: ChunkTopK, Rows: 7, TopK: 0, QuantBits: 2, QuantBlock: 16}, 100, false},
		{"k > C", chunkCfg(ChunkTopK, 100, 16, 17, 2), 100, false},
		{"rows % k", Config{Family: ChunkTopK, Rows: 22, TopK: 3, QuantBits: 2, QuantBlock: 16}, 100, false},
		{"rows for another d", chunkCfg(ChunkTopK, 100, 16, 3, 2), 200, false},
		{"nnz", Config{Family: ChunkTopK, Rows: 21, NNZ: 1, TopK: 3, QuantBits: 2, QuantBlock: 16}, 100, false},
		{"q16", chunkCfg(ChunkTopK, 100, 16, 3, 16), 100, false},
		{"q3", chunkCfg(ChunkTopK, 100, 16, 3, 3), 100, false},
		{"q2 on countsketch", Config{Family: CountSketch, Rows: 8, NNZ: 1, QuantBits: 2, QuantBlock: 4}, 64, false},
		{"family 10", Config{Family: 10, Rows: 21, TopK: 3, QuantBits: 2, QuantBlock: 16}, 100, false},
	}
	for _, c := range cases {
		err := c.cfg.ValidateDim(c.d)
		if (err == nil) != c.ok {
			t.Errorf("%s: ValidateDim(%d) = %v, want ok=%v", c.name, c.d, err, c.ok)
		}
		if err != nil && !errors.Is(err, ErrBadConfig) {
			t.Errorf("%s: error %v is not ErrBadConfig", c.name, err)
		}
		if _, err := New(c.cfg, c.d, [32]byte{}); (err == nil) != c.ok {
			t.Errorf("%s: New = %v, want ok=%v", c.name, err, c.ok)
		}
	}
}

func TestChunkPayloadSize(t *testing.T) {
	cases := []struct {
		name string
		cfg  Config
		want int
	}{
		// 3 chunks × (32 + 2·(4+2)) = 132 bits
		{"q2", chunkCfg(ChunkTopK, 40, 16, 2, 2), 17},
		// 3 chunks × 2·(4+32) = 216 bits
		{"q32", chunkCfg(ChunkTopK, 40, 16, 2, 32), 27},
		// Templar-like: 1 chunk of 4096, 61 × (12+2) + 32 = 886 bits
		{"templar", chunkCfg(ChunkTopKWHT, 4096, 4096, 61, 2), 111},
		{"q1", chunkCfg(ChunkTopK, 8, 8, 8, 1), 8},
	}
	for _, c := range cases {
		if got := PayloadSize(c.cfg); got != c.want {
			t.Errorf("%s: PayloadSize = %d, want %d", c.name, got, c.want)
		}
	}
	// 146× against float32 at the Templar setting.
	if r := float64(4*4096) / float64(PayloadSize(chunkCfg(ChunkTopKWHT, 4096, 4096, 61, 2))); r < 146 {
		t.Errorf("Templar-like setting compresses %.1f×, want ≥ 146×", r)
	}
}

func TestBits(t *testing.T) {
	p := make([]byte, 10)
	type w struct{ off, n int }
	fields := []w{{0, 3}, {3, 12}, {15, 32}, {47, 1}, {48, 17}, {65, 15}}
	vals := []uint64{5, 0xabc, 0xdeadbeef, 1, 0x1abcd, 0x7fff}
	for i, f := range fields {
		putBits(p, f.off, f.n, vals[i])
	}
	for i, f := range fields {
		if got := getBits(p, f.off, f.n); got != vals[i] {
			t.Errorf("field %d: got %#x, want %#x", i, got, vals[i])
		}
	}
	if p[0]&7 != 5 || p[0]>>3 != 0xabc&0x1f {
		t.Errorf("not LSB-first: byte 0 = %#x", p[0])
	}
}

func TestCodeValue(t *testing.T) {
	cases := []struct {
		q    uint64
		s    float32
		want float32
	}{
		{0, 0.5, 0.5}, {1, 0.5, -0.5}, {2, 0.5, 1.5}, {3, 0.5, -1.5},
		{254, 1, 255}, {255, 1, -255}, {7, 0, 0},
	}
	for _, c := range cases {
		if got := codeValue(c.q, c.s); got != c.want {
			t.Errorf("codeValue(%d, %v) = %v, want %v", c.q, c.s, got, c.want)
		}
	}
	for _, c := range []struct {
		a, s   float64
		levels uint64
		want   uint64
	}{{0.1, 1, 2, 0}, {1.9, 1, 2, 0}, {2, 1, 2, 1}, {100, 1, 2, 1}, {4.5, 1, 8, 2}, {0, 1, 8, 0}} {
		if got := level(c.a, c.s, c.levels); got != c.want {
			t.Errorf("level(%v, %v, %d) = %d, want %d", c.a, c.s, c.levels, got, c.want)
		}
	}
}

// decodeRef decodes a payload into (chunk, index, value) triples.
func decodeRef(t *testing.T, cfg Config, p []byte) (idx [][]int, val [][]float32) {
	t.Helper()
	if err := CheckPayload(cfg, p); err != nil {
		t.Fatal(err)
	}
	g := chunkGeomOf(cfg)
	idx, val = make([][]int, g.nc), make([][]float32, g.nc)
	err := forEachChunked(cfg, p, func(ch, i int, v float32) error {
		idx[ch] = append(idx[ch], i)
		val[ch] = append(val[ch], v)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return idx, val
}

// TestChunkCompress: 32-bit payloads carry exactly the top-k entries (in
// the chunk's basis); quantized payloads the same positions with values
// within half a level; the decoded update never has more energy error
// than the input (‖x − u‖ < ‖x‖: the compressor is a contraction, which
// error feedback needs).
func TestChunkCompress(t *testing.T) {
	const d = 1000
	x, e := testVec(d, 11), testVec(d, 12)
	for i := range x {
		x[i] = float32(float64(x[i]) * math.Exp(3*float64(e[i]))) // heavier tails
	}
	for _, f := range []Family{ChunkTopK, ChunkTopKWHT} {
		for _, vb := range []int{32, 8, 4, 2, 1} {
			cfg := chunkCfg(f, d, 64, 5, vb)
			s, err := New(cfg, d, [32]byte{})
			if err != nil {
				t.Fatal(err)
			}
			p, err := s.Compress(x)
			if err != nil {
				t.Fatal(err)
			}
			if len(p) != PayloadSize(cfg) {
				t.Fatalf("%s: %d bytes, want %d", cfg, len(p), PayloadSize(cfg))
			}
			idx, val := decodeRef(t, cfg, p)
			// reference: the chunk in its basis, sorted by magnitude
			for ch := range idx {
				z := make([]float32, 64)
				copy(z, x[ch*64:min(ch*64+64, d)])
				if f == ChunkTopKWHT {
					FWHT(z)
					for j := range z {
						z[j] = float32(z[j] * s.chunkScale)
					}
				}
				kept := map[int]bool{}
				var minKept float32 = math.MaxFloat32
				for i, j := range idx[ch] {
					kept[j] = true
					minKept = min(minKept, float32(math.Abs(float64(z[j]))))
					if vb == 32 && val[ch][i] != z[j] {
						t.Fatalf("%s chunk %d: value at %d is %v, want %v", cfg, ch, j, val[ch][i], z[j])
					}
					if vb != 32 && math.Signbit(float64(val[ch][i])) != math.Signbit(float64(z[j])) {
						t.Fatalf("%s chunk %d: sign at %d differs", cfg, ch, j)
					}
				}
				for j, v := range z {
					if !kept[j] && float32(math.Abs(float64(v))) > minKept {
						t.Fatalf("%s chunk %d: dropped %d (|%v|) but kept one of magnitude %v", cfg, ch, j, v, minKept)
					}
				}
			}
			u := make([]float32, d)
			if err := s.Decode(u, p); err != nil {
				t.Fatal(err)
			}
			var ex, e2 float64
			for j := range x {
				ex += float64(x[j]) * float64(x[j])
				e2 += float64(x[j]-u[j]) * float64(x[j]-u[j])
			}
			if !(e2 < ex) {
				t.Errorf("%s: ‖x−u‖² = %v ≥ ‖x‖² = %v", cfg, e2, ex)
			}
		}
	}
}

// TestChunkWHTInverse: with k = C nothing is dropped, and the 32-bit WHT
// family reproduces x up to float rounding (the transform is orthonormal).
func TestChunkWHTInverse(t *testing.T) {
	const d = 300
	x := testVec(d, 3)
	cfg := chunkCfg(ChunkTopKWHT, d, 128, 128, 32)
	s, _ := New(cfg, d, [32]byte{})
	p, err := s.Compress(x)
	if err != nil {
		t.Fatal(err)
	}
	u := make([]float32, d)
	if err := s.Decode(u, p); err != nil {
		t.Fatal(err)
	}
	for j := range x {
		if math.Abs(float64(u[j]-x[j])) > 1e-5 {
			t.Fatalf("u[%d] = %v, x = %v", j, u[j], x[j])
		}
	}
}

// chunkPayload builds a payload from explicit chunks (scale bits per
// chunk, indices, value bits) for the canonical-form tests.
func chunkPayload(cfg Config, scales []uint32, idx [][]int, codes [][]uint64) []byte {
	g := chunkGeomOf(cfg)
	p := make([]byte, g.totalBytes)
	for ch := 0; ch < g.nc; ch++ {
		off := ch * g.chunkBits
		if g.scaleBits != 0 {
			putBits(p, off, 32, uint64(scales[ch]))
			off += 32
		}
		for i := 0; i < g.k; i++ {
			putBits(p, off+i*g.ib, g.ib, uint64(idx[ch][i]))
			putBits(p, off+g.k*g.ib+i*g.vb, g.vb, codes[ch][i])
		}
	}
	return p
}

func TestChunkPayloadRejects(t *testing.T) {
	cfg := chunkCfg(ChunkTopK, 20, 8, 2, 2) // 3 chunks of 32+2·(3+2) = 42 bits: 126 bits, 16 bytes
	one := math.Float32bits(1)
	good := func() ([]uint32, [][]int, [][]uint64) {
		return []uint32{one, one, one}, [][]int{{0, 5}, {1, 2}, {6, 7}}, [][]uint64{{0, 3}, {1, 2}, {2, 2}}
	}
	s, ix, cd := good()
	if err := CheckPayload(cfg, chunkPayload(cfg, s, ix, cd)); err != nil {
		t.Fatalf("good payload: %v", err)
	}
	f32 := chunkCfg(ChunkTopK, 20, 8, 2, 32)
	nan := uint64(0x7fc00000)
	cases := []struct {
		name string
		cfg  Config
		p    func() []byte
		kind error
	}{
		{"unsorted", cfg, func() []byte { s, ix, cd := good(); ix[1] = []int{2, 1}; return chunkPayload(cfg, s, ix, cd) }, ErrPayload},
		{"duplicate", cfg, func() []byte { s, ix, cd := good(); ix[2] = []int{4, 4}; return chunkPayload(cfg, s, ix, cd) }, ErrPayload},
		{"negative scale", cfg, func() []byte { s, ix, cd := good(); s[0] |= 1 << 31; return chunkPayload(cfg, s, ix, cd) }, ErrPayload},
		{"zero scale codes", cfg, func() []byte { s, ix, cd := good(); s[1] = 0; return chunkPayload(cfg, s, ix, cd) }, ErrPayload},
		{"padding", cfg, func() []byte { s, ix, cd := good(); p := chunkPayload(cfg, s, ix, cd); p[15] |= 0x80; return p }, ErrPayload},
		{"short", cfg, func() []byte { s, ix, cd := good(); return chunkPayload(cfg, s, ix, cd)[:15] }, ErrPayload},
		{"long", cfg, func() []byte { s, ix, cd := good(); return append(chunkPayload(cfg, s, ix, cd), 0) }, ErrPayload},
		{"nan scale", cfg, func() []byte { s, ix, cd := good(); s[2] = 0x7fc00000; return chunkPayload(cfg, s, ix, cd) }, ErrNonFinite},
		{"inf scale", cfg, func() []byte { s, ix, cd := good(); s[2] = 0x7f800000; return chunkPayload(cfg, s, ix, cd) }, ErrNonFinite},
		{"overflowing value", cfg, func() []byte {
			s, ix, cd := good()
			s[0] = math.Float32bits(math.MaxFloat32)
			return chunkPayload(cfg, s, ix, cd)
		}, ErrNonFinite},
		{"nan value", f32, func() []byte {
			_, ix, _ := good()
			return chunkPayload(f32, nil, ix, [][]uint64{{0, 0}, {nan, 0}, {0, 0}})
		}, ErrNonFinite},
	}
	for _, c := range cases {
		p := c.p()
		dst := make([]float32, c.cfg.Rows)
		err := Dequantize(c.cfg, dst, p)
		if !errors.Is(err, c.kind) {
			t.Errorf("%s: Dequantize = %v, want %v", c.name, err, c.kind)
		}
		acc := make([]float32, AggregateLen(c.cfg))
		if err := AggregateAdd(c.cfg, acc, p); !errors.Is(err, c.kind) {
			t.Errorf("%s: AggregateAdd = %v, want %v", c.name, err, c.kind)
		}
		if c.kind == ErrPayload {
			if err := CheckPayload(c.cfg, p); !errors.Is(err, ErrPayload) {
				t.Errorf("%s: CheckPayload = %v", c.name, err)
			}
		}
	}
}

// TestChunkAggregate: AggregateAdd adds values at their indices in call
// order, with an overflow check; Desketch of the aggregate is the sum of
// the payloads' decodes (exactly for ChunkTopK).
func TestChunkAggregate(t *testing.T) {
	cfg := chunkCfg(ChunkTopK, 20, 8, 2, 32)
	s, _ := New(cfg, 20, [32]byte{})
	bits := func(v float32) uint64 { return uint64(math.Float32bits(v)) }
	p1 := chunkPayload(cfg, nil, [][]int{{0, 5}, {1, 2}, {3, 7}}, [][]uint64{{bits(1), bits(-2)}, {bits(3), bits(4)}, {bits(5), bits(6)}})
	p2 := chunkPayload(cfg, nil, [][]int{{5, 6}, {1, 3}, {0, 4}}, [][]uint64{{bits(0.5), bits(7)}, {bits(-3), bits(1)}, {bits(9), bits(8)}})
	acc := make([]float32, AggregateLen(cfg))
	if len(acc) != 24 {
		t.Fatalf("AggregateLen = %d, want 24", len(acc))
	}
	for _, p := range [][]byte{p1, p2} {
		if err := AggregateAdd(cfg, acc, p); err != nil {
			t.Fatal(err)
		}
	}
	want := []float32{1, 0, 0, 0, 0, -1.5, 7, 0, 0, 0, 4, 1, 0, 0, 0, 0, 9, 0, 0, 5, 8, 0, 0, 6}
	for j := range want {
		if acc[j] != want[j] {
			t.Fatalf("acc[%d] = %v, want %v (acc %v)", j, acc[j], want[j], acc)
		}
	}
	u := make([]float32, 20)
	if err := s.Desketch(u, acc); err != nil {
		t.Fatal(err)
	}
	for j := range u {
		if u[j] != want[j] {
			t.Fatalf("u[%d] = %v, want %v", j, u[j], want[j])
		}
	}
	big := chunkPayload(cfg, nil, [][]int{{0, 1}, {0, 1}, {0, 1}}, [][]uint64{{bits(math.MaxFloat32), 0}, {0, 0}, {0, 0}})
	acc2 := make([]float32, 24)
	AggregateAdd(cfg, acc2, big)
	if err := AggregateAdd(cfg, acc2, big); !errors.Is(err, ErrNonFinite) {
		t.Errorf("overflowing sum: %v", err)
	}
	if err := AggregateAdd(cfg, make([]float32, 20), p1); !errors.Is(err, ErrLength) {
		t.Errorf("short aggregate: %v", err)
	}
}

// TestChunkNotLinear: the chunked families refuse the linear-sketch
// operations with ErrBadConfig instead of computing something else.
func TestChunkNotLinear(t *testing.T) {
	cfg := chunkCfg(ChunkTopKWHT, 20, 8, 2, 2)
	s, _ := New(cfg, 20, [32]byte{})
	y, x := make([]float32, cfg.Rows), make([]float32, 20)
	checks := []struct {
		name string
		err  error
	}{
		{"Apply", s.Apply(y, x)},
		{"Transpose", s.Transpose(x, y)},
		{"Estimate", s.Estimate(x, y)},
		{"DequantizeAdd", DequantizeAdd(cfg, y, make([]byte, PayloadSize(cfg)))},
		{"Quantize", func() error { _, err := Quantize(cfg, y); return err }()},
	}
	for _, c := range checks {
		if !errors.Is(c.err, ErrBadConfig) {
			t.Errorf("%s: %v, want ErrBadConfig", c.name, c.err)
		}
	}
	cs, _ := New(Config{Family: CountSketch, Rows: 4, NNZ: 1, QuantBits: 32}, 20, [32]byte{})
	if _, err := cs.Compress(x); !errors.Is(err, ErrBadConfig) {
		t.Errorf("Compress on countsketch: %v", err)
	}
	if err := cs.Decode(x, nil); !errors.Is(err, ErrBadConfig) {
		t.Errorf("Decode on countsketch: %v", err)
	}
	if _, err := s.Compress(x[:19]); !errors.Is(err, ErrLength) {
		t.Errorf("short input: %v", err)
	}
	x[3] = float32(math.Inf(1))
	if _, err := s.Compress(x); !errors.Is(err, ErrNonFinite) {
		t.Errorf("Inf input: %v", err)
	}
	if err := s.Desketch(x, y); !errors.Is(err, ErrLength) {
		t.Errorf("Desketch of an m-vector: %v", err)
	}
}

// TestChunkDeterministicAcrossProcs: Compress and Decode at sizes that
// take the parallel paths give the same bits with GOMAXPROCS 1 and 4.
func TestChunkDeterministicAcrossProcs(t *testing.T) {
	const d = 100000
	x := testVec(d, 21)
	run := func(cfg Config) string {
		s, err := New(cfg, d, [32]byte{})
		if err != nil {
			t.Fatal(err)
		}
		p, err := s.Compress(x)
		if err != nil {
			t.Fatal(err)
		}
		u := make([]float32, d)
		if err := s.Decode(u, p); err != nil {
			t.Fatal(err)
		}
		return bytesHash(p) + "/" + bitsHash(u)
	}
	old := runtime.GOMAXPROCS(0)
	defer runtime.GOMAXPROCS(old)
	for _, cfg := range []Config{chunkCfg(ChunkTopKWHT, d, 1024, 15, 2), chunkCfg(ChunkTopK, d, 256, 3, 1), chunkCfg(ChunkTopKWHT, d, 64, 7, 32)} {
		runtime.GOMAXPROCS(1)
		a := run(cfg)
		runtime.GOMAXPROCS(4)
		if b := run(cfg); a != b {
			t.Errorf("%s: GOMAXPROCS 1 gives %s, 4 gives %s", cfg, a, b)
		}
	}
}

func bytesHash(p []byte) string {
	v := make([]float32, (len(p)+3)/4)
	for i, b := range p {
		v[i/4] = math.Float32frombits(math.Float32bits(v[i/4]) | uint32(b)<<(8*uint(i%4)))
	}
	return bitsHash(v)
}

// TestChunkGolden pins the payload bytes and the consensus de-sketch of
// both chunked families for a fixed input (any change to the selection,
// the quantizer, the bit layout or the transform shows up here).
func TestChunkGolden(t *testing.T) {
	const d = 5000
	golden := map[string]string{
		"chunktopk-q2":      "6901c626c66cfe07/86b8808b37770700",
		"chunktopk-wht-q2":  "21816196da1065a9/2bc9c002fc3f752d",
		"chunktopk-wht-q32": "dbfd77519670f457/2bea212315db43a7",
		"chunktopk-q1":      "0984be3bde940d73/5688c8c638a00b07",
		"chunktopk-wht-q8":  "2ec04c30fc89dfc1/640750dc9c914f37",
	}
	cfgs := map[string]Config{
		"chunktopk-q2":      chunkCfg(ChunkTopK, d, 1024, 16, 2),
		"chunktopk-wht-q2":  chunkCfg(ChunkTopKWHT, d, 1024, 16, 2),
		"chunktopk-wht-q32": chunkCfg(ChunkTopKWHT, d, 256, 9, 32),
		"chunktopk-q1":      chunkCfg(ChunkTopK, d, 4096, 61, 1),
		"chunktopk-wht-q8":  chunkCfg(ChunkTopKWHT, d, 64, 3, 8),
	}
	x := testVec(d, 43)
	for name, cfg := range cfgs {
		s, err := New(cfg, d, seedN(42))
		if err != nil {
			t.Fatal(err)
		}
		p, err := s.Compress(x)
		if err != nil {
			t.Fatal(err)
		}
		u := make([]float32, d)
		if err := s.Decode(u, p); err != nil {
			t.Fatal(err)
		}
		got := bytesHash(p) + "/" + bitsHash(u)
		if golden[name] != got {
			t.Errorf("%s: golden %q, got %q", name, golden[name], got)
		}
	}
}

// TestSelectTop compares the quickselect-based selection with a sort by
// (magnitude descending, index ascending), on inputs with many ties, ±0
// and repeated magnitudes of both signs.
func TestSelectTop(t *testing.T) {
	k := Key{A: 7, B: 8}
	for trial := 0; trial < 300; trial++ {
		n := 1 + int(k.Hash(uint64(trial))%200)
		levels := 1 + k.Hash(uint64(trial)+1e6)%6
		z := make([]float32, n)
		for i := range z {
			h := k.Hash(uint64(trial)<<20 | uint64(i))
			z[i] = float32(h % levels)
			if h>>32&1 == 1 {
				z[i] = -z[i]
			}
		}
		for _, kk := range []int{1, n / 3, n / 2, n} {
			if kk < 1 {
				continue
			}
			idx := make([]int32, kk)
			selectTop(z, kk, make([]uint32, n), idx)
			ref := make([]int, n)
			for i := range ref {
				ref[i] = i
			}
			key := func(i int) uint32 { return math.Float32bits(z[i]) & 0x7fffffff }
			sort.SliceStable(ref, func(a, b int) bool { return key(ref[a]) > key(ref[b]) })
			want := append([]int(nil), ref[:kk]...)
			sort.Ints(want)
			for i := range want {
				if int(idx[i]) != want[i] {
					t.Fatalf("trial %d (n=%d, k=%d): got %v, want %v (z=%v)", trial, n, kk, idx, want, z)
				}
			}
		}
	}
}
