package sketch

import (
	"math"
	"math/bits"
)

// Chunked top-k sparsification (families ChunkTopK and ChunkTopKWHT).
//
// The flat vector x (length d) is cut into nc = ⌈d/C⌉ chunks of C values
// (the last one padded with zeros). ChunkTopKWHT first maps every chunk to
// the orthonormal Walsh–Hadamard basis, ẑ = float32(FWHT(z)·float32(1/√C));
// ChunkTopK keeps the coordinates. Of each chunk the worker sends its k =
// TopK largest-magnitude entries: their positions (log2 C bits each) and
// their values (raw float32, or b-bit codes with one float32 scale per
// chunk). This is not a random sketch: it has no seed, it is biased (E[u]
// ≠ x), and it needs error feedback on the worker (state.MakeContribution).
// Unlike count-sketch heavy-hitter recovery it aggregates linearly: the
// network adds the decoded sparse vectors of a block in block order, so
// each worker's error feedback is exact for its own contribution.

// MaxChunk is the largest chunk C of the chunked top-k families.
const MaxChunk = 1 << 16

// maxChunkPayload bounds the payload of a chunked top-k contribution.
const maxChunkPayload = 1 << 30

// IsChunked reports whether f is a chunked top-k family.
func (f Family) IsChunked() bool { return f == ChunkTopK || f == ChunkTopKWHT }

// chunkGeom is the layout of a chunked top-k payload.
type chunkGeom struct {
	c, k, nc   int // chunk size, entries per chunk, chunks
	ib, vb     int // index bits (log2 c), value bits (32, 8, 4, 2, 1)
	scaleBits  int // 32 when values are codes with a per-chunk scale, else 0
	chunkBits  int // scaleBits + k·(ib+vb)
	totalBytes int
}

func chunkGeomOf(cfg Config) chunkGeom {
	g := chunkGeom{c: cfg.QuantBlock, k: cfg.TopK, vb: cfg.QuantBits}
	g.nc = cfg.Rows / cfg.TopK
	g.ib = bits.TrailingZeros(uint(g.c))
	if g.vb != 32 {
		g.scaleBits = 32
	}
	g.chunkBits = g.scaleBits + g.k*(g.ib+g.vb)
	g.totalBytes = int((uint64(g.nc)*uint64(g.chunkBits) + 7) / 8)
	return g
}

func validateChunked(c Config) error {
	if c.NNZ != 0 {
		return wrap(ErrBadConfig, "%s takes no nnz, got %d", c.Family, c.NNZ)
	}
	if c.QuantBlock < 2 || c.QuantBlock > MaxChunk || c.QuantBlock&(c.QuantBlock-1) != 0 {
		return wrap(ErrBadConfig, "%s chunk (quant block) %d is not a power of two in [2, %d]", c.Family, c.QuantBlock, MaxChunk)
	}
	if c.TopK < 1 || c.TopK > c.QuantBlock {
		return wrap(ErrBadConfig, "%s top-k %d per chunk out of range [1, %d]", c.Family, c.TopK, c.QuantBlock)
	}
	if c.Rows < 1 || c.Rows > MaxRows {
		return wrap(ErrBadConfig, "rows %d out of range [1, %d]", c.Rows, MaxRows)
	}
	if c.Rows%c.TopK != 0 {
		return wrap(ErrBadConfig, "%s rows %d not a multiple of top-k %d", c.Family, c.Rows, c.TopK)
	}
	switch c.QuantBits {
	case 32, 8, 4, 2, 1:
	default:
		return wrap(ErrBadConfig, "%s quant bits %d not one of 32, 8, 4, 2, 1", c.Family, c.QuantBits)
	}
	if uint64(c.Rows/c.TopK)*uint64(32+c.TopK*(16+32)) > 8*maxChunkPayload {
		return wrap(ErrBadConfig, "%s payload of %d chunks exceeds %d bytes", c.Family, c.Rows/c.TopK, maxChunkPayload)
	}
	return nil
}

// chunkBits reads and writes an LSB-first bit stream: bit i of the stream
// is bit i%8 of byte i/8.
func getBits(p []byte, off, n int) uint64 {
	var v uint64
	for got := 0; got < n; {
		b := p[off>>3] >> uint(off&7)
		take := min(8-off&7, n-got)
		v |= uint64(b&byte(1<<uint(take)-1)) << uint(got)
		got += take
		off += take
	}
	return v
}

func putBits(p []byte, off, n int, v uint64) {
	for put := 0; put < n; {
		take := min(8-off&7, n-put)
		p[off>>3] |= byte(v>>uint(put)&(1<<uint(take)-1)) << uint(off&7)
		put += take
		off += take
	}
}

// codeValue is the value of code q (vb bits) with scale s: magnitude level
// L = 2·(q>>1)+1 (odd, no zero level), negative iff q is odd:
// ±float32(float32(L)·s).
func codeValue(q uint64, s float32) float32 {
	v := float32(float32(2*(q>>1)+1) * s)
	if q&1 == 1 {
		return -v
	}
	return v
}

// checkChunked checks a chunked payload's length and canonical form.
func checkChunked(cfg Config, p []byte) error {
	g := chunkGeomOf(cfg)
	if len(p) != g.totalBytes {
		return wrap(ErrPayload, "payload has %d bytes, want %d for %s", len(p), g.totalBytes, cfg)
	}
	for ch := 0; ch < g.nc; ch++ {
		off := ch * g.chunkBits
		zero := false
		if g.scaleBits != 0 {
			sb := uint32(getBits(p, off, 32))
			if sb&0x80000000 != 0 {
				return wrap(ErrPayload, "scale of chunk %d has its sign bit set", ch)
			}
			zero = sb == 0
			off += 32
		}
		prev := -1
		for i := 0; i < g.k; i++ {
			idx := int(getBits(p, off+i*g.ib, g.ib))
			if idx <= prev {
				return wrap(ErrPayload, "chunk %d: index %d after %d (indices must increase)", ch, idx, prev)
			}
			prev = idx
		}
		if zero {
			voff := off + g.k*g.ib
			for i := 0; i < g.k; i++ {
				if getBits(p, voff+i*g.vb, g.vb) != 0 {
					return wrap(ErrPayload, "chunk %d: code %d is nonzero but the scale is 0", ch, i)
				}
			}
		}
	}
	if pad := 8*len(p) - g.nc*g.chunkBits; pad > 0 && getBits(p, g.nc*g.chunkBits, pad) != 0 {
		return wrap(ErrPayload, "padding bits are not zero")
	}
	return nil
}

// CheckPayloadDim is CheckPayload plus the rules that need the dimension
// d: a ChunkTopK payload may only name coordinates below d (the last
// chunk's padding is not a coordinate). ChunkTopKWHT indices address the
// transformed chunk, all of whose C positions are valid. For the sketch
// families it is CheckPayload (after ValidateDim).
func CheckPayloadDim(cfg Config, d int, p []byte) error {
	if err := cfg.ValidateDim(d); err != nil {
		return err
	}
	if err := CheckPayload(cfg, p); err != nil {
		return err
	}
	if cfg.Family != ChunkTopK {
		return nil
	}
	g := chunkGeomOf(cfg)
	last := d - (g.nc-1)*g.c
	if last == g.c {
		return nil
	}
	// Indices increase, so the last one of the last chunk is the largest.
	off := (g.nc-1)*g.chunkBits + g.scaleBits + (g.k-1)*g.ib
	if idx := int(getBits(p, off, g.ib)); idx >= last {
		return wrap(ErrPayload, "last chunk: index %d is past the dimension (%d coordinates)", idx, last)
	}
	return nil
}

// forEachChunked calls fn(chunk, index, value) for every entry of a checked
// chunked payload, in chunk order and index order. It stops at the first
// non-finite scale or value (ErrNonFinite) or error of fn.
func forEachChunked(cfg Config, p []byte, fn func(ch, idx int, v float32) error) error {
	g := chunkGeomOf(cfg)
	for ch := 0; ch < g.nc; ch++ {
		off := ch * g.chunkBits
		var scale float32
		if g.scaleBits != 0 {
			scale = math.Float32frombits(uint32(getBits(p, off, 32)))
			if !isFinite32(scale) {
				return wrap(ErrNonFinite, "scale of chunk %d is %v", ch, scale)
			}
			off += 32
		}
		voff := off + g.k*g.ib
		for i := 0; i < g.k; i++ {
			idx := int(getBits(p, off+i*g.ib, g.ib))
			q := getBits(p, voff+i*g.vb, g.vb)
			var v float32
			if g.scaleBits == 0 {
				v = math.Float32frombits(uint32(q))
			} else {
				v = codeValue(q, scale)
			}
			if !isFinite32(v) {
				return wrap(ErrNonFinite, "chunk %d: value of index %d is %v", ch, idx, v)
			}
			if err := fn(ch, idx, v); err != nil {
				return err
			}
		}
	}
	return nil
}

// AggregateLen is the length of the aggregate that Apply sums a block's
// payloads into and de-sketches: Rows for the sketch families, nc·C (the
// padded dimension) for the chunked top-k families (0 for an invalid
// config).
func AggregateLen(cfg Config) int {
	if cfg.Validate() != nil {
		return 0
	}
	if cfg.Family.IsChunked() {
		return cfg.Rows / cfg.TopK * cfg.QuantBlock
	}
	return cfg.Rows
}

// AggregateAdd adds payload p into the aggregate acc (length
// AggregateLen(cfg)). Sketch families: DequantizeAdd. Chunked top-k: for
// each chunk c in order and each entry (i, v) in index order,
// acc[c·C + i] = float32(acc[c·C + i] + v). It checks the payload like
// Dequantize (canonical form, finite values) and that no sum overflows; on
// error acc may be partially updated.
func AggregateAdd(cfg Config, acc []float32, p []byte) error {
	if err := cfg.Validate(); err != nil {
		return err
	}
	if !cfg.Family.IsChunked() {
		return DequantizeAdd(cfg, acc, p)
	}
	if want := AggregateLen(cfg); len(acc) != want {
		return wrap(ErrLength, "aggregate has %d values, want %d", len(acc), want)
	}
	if err := checkChunked(cfg, p); err != nil {
		return err
	}
	c := cfg.QuantBlock
	return forEachChunked(cfg, p, func(ch, idx int, v float32) error {
		j := ch*c + idx
		s := acc[j] + v
		if !isFinite32(s) {
			return wrap(ErrNonFinite, "sum of payload values overflows at %d", j)
		}
		acc[j] = s
		return nil
	})
}

// chunkDesketch sets dst (length d) from the aggregate y (length nc·C):
// ChunkTopK: dst = y[:d]; ChunkTopKWHT: for every chunk z = y[cC:(c+1)C],
// FWHT(z) (the radix-2 network of FWHT) and dst_j = float32(z_j·float32(1/√C)).
func (s *Sketch) chunkDesketch(dst, y []float32) {
	if s.cfg.Family == ChunkTopK {
		copy(dst, y[:s.d])
		return
	}
	c := s.chunk
	ParallelFor(s.nc, max(1, (1<<14)/c), func(lo, hi int) {
		z := make([]float32, c)
		for ch := lo; ch < hi; ch++ {
			copy(z, y[ch*c:(ch+1)*c])
			fwhtStages(z, c)
			out := dst[ch*c : min((ch+1)*c, s.d)]
			for j := range out {
				out[j] = float32(z[j] * s.chunkScale)
			}
		}
	})
}

// Compress is the worker side of the chunked top-k families: it returns the
// payload of x (length d). Per chunk: the (transformed) values ẑ, the k
// largest |ẑ_i| (ties: lower index), in index order; 32-bit payloads store
// them raw; b-bit payloads store one scale s and codes whose levels
// ±(2i+1)·s fit them by least squares (a few Lloyd iterations in float64,
// starting from s = max|ẑ|/(2^b−1)). Deterministic, not consensus: any
// canonical payload is valid, and error feedback absorbs what it misses.
// Non-finite input is an ErrNonFinite error.
func (s *Sketch) Compress(x []float32) ([]byte, error) {
	if !s.cfg.Family.IsChunked() {
		return nil, wrap(ErrBadConfig, "%s is not a chunked top-k family", s.cfg.Family)
	}
	if len(x) != s.d {
		return nil, wrap(ErrLength, "%s: source has %d values, want %d", s.cfg.Family, len(x), s.d)
	}
	for i, v := range x {
		if !isFinite32(v) {
			return nil, wrap(ErrNonFinite, "compress: value %d is %v", i, v)
		}
	}
	g := chunkGeomOf(s.cfg)
	p := make([]byte, g.totalBytes)
	// Chunks start at bit offsets that are multiples of chunkBits; when
	// that is not a multiple of 8, neighbouring chunks share a byte, so
	// they are encoded into per-chunk buffers and merged serially.
	aligned := g.chunkBits%8 == 0
	var parts [][]byte
	if !aligned {
		parts = make([][]byte, g.nc)
	}
	ParallelFor(g.nc, max(1, (1<<14)/g.c), func(lo, hi int) {
		z := make([]float32, g.c)
		keys := make([]uint32, g.c)
		vals := make([]float32, g.k)
		idx := make([]int32, g.k)
		for ch := lo; ch < hi; ch++ {
			clear(z)
			copy(z, x[ch*g.c:min((ch+1)*g.c, s.d)])
			if s.cfg.Family == ChunkTopKWHT {
				fwhtStages(z, g.c)
				for j := range z {
					z[j] = float32(z[j] * s.chunkScale)
				}
			}
			selectTop(z, g.k, keys, idx)
			for i, j := range idx {
				vals[i] = z[j]
			}
			var buf []byte
			base := ch * g.chunkBits
			if aligned {
				buf = p[base/8 : (base+g.chunkBits)/8]
			} else {
				buf = make([]byte, (g.chunkBits+7)/8)
				parts[ch] = buf
			}
			encodeChunk(buf, g, idx, vals)
		}
	})
	if !aligned {
		for ch, buf := range parts {
			off := ch * g.chunkBits
			for b := 0; b < g.chunkBits; b += 32 {
				n := min(32, g.chunkBits-b)
				putBits(p, off+b, n, getBits(buf, b, n))
			}
		}
	}
	return p, nil
}

// selectTop writes to idx (length k) the indices of the k largest |z_i|
// (magnitudes compared as the bits of |z_i|, ties: lower index),
// ascending. keys is scratch of len(z). The k-th largest key is found by
// quickselect on a copy of the keys (the threshold is a value, so the
// result does not depend on the selection algorithm), then one pass in
// index order keeps every key above it and the lowest-index ties.
func selectTop(z []float32, k int, keys []uint32, idx []int32) {
	for i, v := range z {
		keys[i] = math.Float32bits(v) & 0x7fffffff
	}
	thr := kthLargest(keys, k)
	above := 0
	for _, v := range z {
		if math.Float32bits(v)&0x7fffffff > thr {
			above++
		}
	}
	ties := k - above
	n := 0
	for i, v := range z {
		key := math.Float32bits(v) & 0x7fffffff
		if key > thr || (key == thr && ties > 0) {
			if key == thr {
				ties--
			}
			idx[n] = int32(i)
			n++
		}
	}
}

// kthLargest returns the k-th largest of a (1 ≤ k ≤ len(a)), reordering a.
func kthLargest(a []uint32, k int) uint32 {
	lo, hi, want := 0, len(a)-1, k-1 // position in descending order
	for lo < hi {
		// median of three as the pivot
		mid := lo + (hi-lo)/2
		p := max(min(a[lo], a[mid]), min(max(a[lo], a[mid]), a[hi]))
		i, j := lo, hi
		for i <= j {
			for a[i] > p {
				i++
			}
			for a[j] < p {
				j--
			}
			if i <= j {
				a[i], a[j] = a[j], a[i]
				i++
				j--
			}
		}
		switch {
		case want <= j:
			hi = j
		case want >= i:
			lo = i
		default:
			return a[want]
		}
	}
	return a[want]
}

// encodeChunk writes one chunk (scale, indices, values) at bit 0 of buf.
func encodeChunk(buf []byte, g chunkGeom, idx []int32, vals []float32) {
	off := 0
	if g.scaleBits == 0 {
		for i, j := range idx {
			putBits(buf, off+i*g.ib, g.ib, uint64(j))
		}
		off += g.k * g.ib
		for i, v := range vals {
			putBits(buf, off+i*32, 32, uint64(math.Float32bits(v)))
		}
		return
	}
	levels := uint64(1) << uint(g.vb-1) // magnitude levels 1, 3, …, 2·levels−1
	var amax float64
	for _, v := range vals {
		amax = max(amax, math.Abs(float64(v)))
	}
	scale := float32(0)
	if amax > 0 {
		sc := amax / float64(2*levels-1)
		for it := 0; it < 4; it++ {
			var num, den float64
			for _, v := range vals {
				l := float64(2*level(math.Abs(float64(v)), sc, levels) + 1)
				num += float64(math.Abs(float64(v)) * l) // explicit rounding: no FMA
				den += float64(l * l)
			}
			if num <= 0 || den <= 0 {
				break
			}
			sc = num / den
		}
		scale = float32(sc)
		if !(scale > 0) || !isFinite32(scale) {
			scale = float32(amax / float64(2*levels-1))
		}
	}
	putBits(buf, off, 32, uint64(math.Float32bits(scale)))
	off += 32
	for i, j := range idx {
		putBits(buf, off+i*g.ib, g.ib, uint64(j))
	}
	off += g.k * g.ib
	if scale == 0 {
		return
	}
	for i, v := range vals {
		q := level(math.Abs(float64(v)), float64(scale), levels) << 1
		if math.Signbit(float64(v)) {
			q |= 1
		}
		putBits(buf, off+i*g.vb, g.vb, q)
	}
}

// level is the magnitude index i of the level 2i+1 nearest to a/s (ties
// upward), clamped to [0, levels).
func level(a, s float64, levels uint64) uint64 {
	t := math.Floor(a / s / 2)
	if !(t > 0) {
		return 0
	}
	if t >= float64(levels-1) {
		return levels - 1
	}
	return uint64(t)
}

// Decode sets dst (length d) to the update one payload of a chunked top-k
// family applies (what Apply adds for it alone, before GlobalLR/n):
// AggregateAdd into zeros, then the de-sketch.
func (s *Sketch) Decode(dst []float32, p []byte) error {
	if !s.cfg.Family.IsChunked() {
		return wrap(ErrBadConfig, "%s is not a chunked top-k family", s.cfg.Family)
	}
	if len(dst) != s.d {
		return wrap(ErrLength, "%s: destination has %d values, want %d", s.cfg.Family, len(dst), s.d)
	}
	agg := make([]float32, s.nc*s.chunk)
	if err := AggregateAdd(s.cfg, agg, p); err != nil {
		return err
	}
	s.chunkDesketch(dst, agg)
	return nil
}

// chunkValues writes the m values of a checked chunked payload to dst, in
// chunk order and index order.
func chunkValues(cfg Config, dst []float32, p []byte) error {
	i := 0
	return forEachChunked(cfg, p, func(_, _ int, v float32) error {
		dst[i] = v
		i++
		return nil
	})
}
