package sketch

import (
	"math"
	"math/bits"
)

// Sketch is the m×d matrix S of one family, seed and dimension. Its entries
// are generated on the fly from the keys; no matrix is ever stored. A
// Sketch is immutable and safe for concurrent use.
type Sketch struct {
	cfg  Config
	d, m int

	key, keyD, keyP Key

	t       int     // NNZ (sparse families), else 0
	w       int     // table / block width m/t (CountSketch, SparseEmbedding2)
	stride  uint64  // row offset per nonzero: w (blocked families) or 0 (SparseEmbedding1)
	span    uint64  // rows a nonzero ranges over: w or m
	nzScale float32 // 1/√t as float32 (sparse families)
	sqrtT   float32 // √t as float32 (heavy-hitter recovery)

	pad   int     // SRHT: d' = smallest power of two ≥ d
	scale float32 // SRHT: float32(1/√m)
	dense float64 // Gaussian: 1/√(Var[T]·m); AMS: 1/√m
	words int     // AMS: ⌈d/64⌉ sign words per row

	chunk, nc  int     // chunked top-k: chunk size C and ⌈d/C⌉ chunks
	chunkScale float32 // ChunkTopKWHT: float32(1/√C)
}

// New returns the sketch of config cfg for dimension d with the given seed
// (normally Seed(parent)).
func New(cfg Config, d int, seed [32]byte) (*Sketch, error) {
	if err := cfg.ValidateDim(d); err != nil {
		return nil, err
	}
	s := &Sketch{cfg: cfg, d: d, m: cfg.Rows}
	s.key = DeriveKey(seed, cfg, d, StreamMain)
	switch cfg.Family {
	case CountSketch, SparseEmbedding1, SparseEmbedding2:
		s.t = cfg.NNZ
		s.w = cfg.Rows / cfg.NNZ
		s.nzScale = float32(1 / math.Sqrt(float64(cfg.NNZ)))
		s.sqrtT = float32(math.Sqrt(float64(cfg.NNZ)))
		s.stride, s.span = uint64(s.w), uint64(s.w)
		if cfg.Family == SparseEmbedding1 {
			s.stride, s.span = 0, uint64(cfg.Rows)
		}
	case SRHT:
		s.keyD = DeriveKey(seed, cfg, d, StreamSigns)
		s.keyP = DeriveKey(seed, cfg, d, StreamSamples)
		s.pad = 1 << bits.Len(uint(d-1))
		if d == 1 {
			s.pad = 1
		}
		s.scale = float32(1 / math.Sqrt(float64(cfg.Rows)))
	case Gaussian:
		s.dense = 1 / math.Sqrt(ihVar*float64(cfg.Rows))
	case AMS:
		s.dense = 1 / math.Sqrt(float64(cfg.Rows))
		s.words = (d + 63) / 64
	case ChunkTopK, ChunkTopKWHT:
		s.chunk = cfg.QuantBlock
		s.nc = (d + s.chunk - 1) / s.chunk
		s.chunkScale = float32(1 / math.Sqrt(float64(s.chunk)))
	}
	return s, nil
}

// Config returns the sketch's config.
func (s *Sketch) Config() Config { return s.cfg }

// Dim returns d, the length of the vectors it sketches.
func (s *Sketch) Dim() int { return s.d }

// Rows returns m, the length of a sketch.
func (s *Sketch) Rows() int { return s.m }

// Keys returns the generator keys (main stream, SRHT signs, SRHT samples)
// so that another implementation (a GPU kernel) can reproduce the matrix.
func (s *Sketch) Keys() (main, signs, samples Key) { return s.key, s.keyD, s.keyP }

// PaddedDim returns d' (SRHT), nc·C (the chunked top-k families: the
// aggregate's length) or d (other families).
func (s *Sketch) PaddedDim() int {
	if s.cfg.Family == SRHT {
		return s.pad
	}
	if s.cfg.Family.IsChunked() {
		return s.nc * s.chunk
	}
	return s.d
}

// Nonzero returns the row and sign of nonzero number a (0 ≤ a < NNZ) of
// column j of a sparse family (CountSketch, SparseEmbedding1/2); the value
// of the entry is ±1/√NNZ. ok is false for other families or bad indices.
func (s *Sketch) Nonzero(j, a int) (row int, negative bool, ok bool) {
	if s.t == 0 || j < 0 || j >= s.d || a < 0 || a >= s.t {
		return 0, false, false
	}
	row, negative = s.nz(j, a)
	return row, negative, true
}

// nz returns the row and sign of nonzero a of column j: h = H(j·t + a),
// row = a·w + below(h, w) (blocked families) or below(h, m)
// (SparseEmbedding1), negative iff h is odd.
func (s *Sketch) nz(j, a int) (int, bool) {
	h := s.key.Hash(uint64(j)*uint64(s.t) + uint64(a))
	return int(uint64(a)*s.stride + below(h, s.span)), h&1 == 1
}

// srhtNeg reports whether D_j = −1.
func (s *Sketch) srhtNeg(j int) bool {
	return s.keyD.Hash(uint64(j)>>6)>>(uint(j)&63)&1 == 1
}

// srhtRow returns the sampled Hadamard row of sketch row r.
func (s *Sketch) srhtRow(r int) int {
	return int(below(s.keyP.Hash(uint64(r)), uint64(s.pad)))
}

// gaussT returns the Irwin–Hall integer of entry (i, j).
func (s *Sketch) gaussT(i, j int) int32 {
	c := uint64(i)*uint64(s.d) + uint64(j)
	return ihLanes(s.key.Hash(2*c), s.key.Hash(2*c+1))
}

// Entry returns S[i][j] as float64 (for tests and reference kernels; slow).
func (s *Sketch) Entry(i, j int) float64 {
	if i < 0 || i >= s.m || j < 0 || j >= s.d {
		return 0
	}
	switch s.cfg.Family {
	case Identity:
		if i == j {
			return 1
		}
		return 0
	case Gaussian:
		return float64(s.gaussT(i, j)) * s.dense
	case AMS:
		if s.key.Hash(uint64(i)*uint64(s.words)+uint64(j>>6))>>(uint(j)&63)&1 == 1 {
			return -s.dense
		}
		return s.dense
	case SRHT:
		h := s.srhtRow(i)
		v := float64(s.scale)
		if bits.OnesCount64(uint64(h)&uint64(j))&1 == 1 {
			v = -v
		}
		if s.srhtNeg(j) {
			v = -v
		}
		return v
	default:
		var v float64
		for a := 0; a < s.t; a++ {
			row, neg := s.nz(j, a)
			if row == i {
				if neg {
					v -= float64(s.nzScale)
				} else {
					v += float64(s.nzScale)
				}
			}
		}
		return v
	}
}

func (s *Sketch) checkLens(dstLen, dstWant, srcLen, srcWant int) error {
	if dstLen != dstWant {
		return wrap(ErrLength, "%s: destination has %d values, want %d", s.cfg.Family, dstLen, dstWant)
	}
	if srcLen != srcWant {
		return wrap(ErrLength, "%s: source has %d values, want %d", s.cfg.Family, srcLen, srcWant)
	}
	return nil
}

// errNotLinear is the error of the linear-sketch operations on the chunked
// top-k families.
func (s *Sketch) errNotLinear(op string) error {
	return wrap(ErrBadConfig, "%s is not a linear sketch: no %s (use Compress and Decode)", s.cfg.Family, op)
}

// Apply sets dst (length m) to S·x (x of length d). The worker side: it is
// deterministic but not on the consensus path. The chunked top-k families
// have no matrix S (ErrBadConfig; see Compress).
func (s *Sketch) Apply(dst, x []float32) error {
	if s.cfg.Family.IsChunked() {
		return s.errNotLinear("S·x")
	}
	if err := s.checkLens(len(dst), s.m, len(x), s.d); err != nil {
		return err
	}
	switch s.cfg.Family {
	case Identity:
		copy(dst, x)
	case CountSketch, SparseEmbedding1, SparseEmbedding2:
		s.sparseForward(dst, x)
	case Gaussian:
		ParallelFor(s.m, max(1, (1<<16)/s.d), func(lo, hi int) {
			for i := lo; i < hi; i++ {
				var acc float64
				for j, xj := range x {
					acc += float64(float64(s.gaussT(i, j)) * float64(xj))
				}
				dst[i] = float32(acc * s.dense)
			}
		})
	case AMS:
		ParallelFor(s.m, max(1, (1<<16)/s.d), func(lo, hi int) {
			for i := lo; i < hi; i++ {
				var acc float64
				base := uint64(i) * uint64(s.words)
				for g := 0; g < s.words; g++ {
					h := s.key.Hash(base + uint64(g))
					xs := x[g*64 : min(g*64+64, s.d)]
					for b, xj := range xs {
						// acc + (−x) is exactly acc − x: flip the sign bit, no branch.
						acc += math.Float64frombits(math.Float64bits(float64(xj)) ^ (h>>uint(b)&1)<<63)
					}
				}
				dst[i] = float32(acc * s.dense)
			}
		})
	case SRHT:
		z := make([]float32, s.pad)
		ParallelFor(s.d, 1<<14, func(lo, hi int) {
			for j := lo; j < hi; j++ {
				if s.srhtNeg(j) {
					z[j] = -x[j]
				} else {
					z[j] = x[j]
				}
			}
		})
		FWHT(z)
		ParallelFor(s.m, 1<<14, func(lo, hi int) {
			for r := lo; r < hi; r++ {
				dst[r] = float32(z[s.srhtRow(r)] * s.scale)
			}
		})
	}
	return nil
}

// sparseForward scatters x into dst: for j ascending, a ascending,
// dst[row] ±= float32(x_j·(1/√t)). The hashing runs in parallel; the adds
// run serially in that fixed order.
func (s *Sketch) sparseForward(dst, x []float32) {
	clear(dst)
	const block = 1 << 14
	t := s.t
	nb := (s.d + block - 1) / block
	// Two buffers: while one block is scattered the next is hashed.
	bufs := [2][]uint32{make([]uint32, block*t), make([]uint32, block*t)}
	fill := func(b int, buf []uint32) {
		lo := b * block
		hi := min(lo+block, s.d)
		k, tt, stride, span := s.key, uint64(t), s.stride, s.span
		i := 0
		for j := lo; j < hi; j++ {
			base := uint64(j) * tt
			for a := uint64(0); a < tt; a++ {
				h := k.Hash(base + a)
				buf[i] = uint32(a*stride+below(h, span))<<1 | uint32(h&1)
				i++
			}
		}
	}
	done := make(chan struct{}, 1)
	fill(0, bufs[0])
	for b := 0; b < nb; b++ {
		cur := bufs[b&1]
		if b+1 < nb {
			next := bufs[(b+1)&1]
			go func() { fill(b+1, next); done <- struct{}{} }()
		}
		lo := b * block
		hi := min(lo+block, s.d)
		for j := lo; j < hi; j++ {
			v := float32(x[j] * s.nzScale)
			for _, e := range cur[(j-lo)*t : (j-lo+1)*t] {
				// dst + (−v) is exactly dst − v (IEEE 754): the sign bit
				// is flipped without a branch (random signs mispredict).
				dst[e>>1] += math.Float32frombits(math.Float32bits(v) ^ (e&1)<<31)
			}
		}
		if b+1 < nb {
			<-done
		}
	}
}

// Transpose sets dst (length d) to Sᵀ·y (y of length m). This is the linear
// de-sketch; E[SᵀS] = I for every family. Consensus-critical: see doc.go
// for the exact operation order. The chunked top-k families have no matrix
// (ErrBadConfig; their de-sketch is Desketch).
func (s *Sketch) Transpose(dst, y []float32) error {
	if s.cfg.Family.IsChunked() {
		return s.errNotLinear("Sᵀ·y")
	}
	if err := s.checkLens(len(dst), s.d, len(y), s.m); err != nil {
		return err
	}
	switch s.cfg.Family {
	case Identity:
		copy(dst, y)
	case CountSketch, SparseEmbedding1, SparseEmbedding2:
		ParallelFor(s.d, 1<<12, func(lo, hi int) {
			k, t, stride, span, sc := s.key, uint64(s.t), s.stride, s.span, s.nzScale
			for j := lo; j < hi; j++ {
				var acc float32
				base := uint64(j) * t
				for a := uint64(0); a < t; a++ {
					h := k.Hash(base + a)
					// acc + (−v) is exactly acc − v (IEEE 754); flip the sign bit without a branch.
					acc += math.Float32frombits(math.Float32bits(y[a*stride+below(h, span)]) ^ uint32(h&1)<<31)
				}
				dst[j] = float32(acc * sc)
			}
		})
	case Gaussian:
		ParallelFor(s.d, 1<<8, func(lo, hi int) {
			for j := lo; j < hi; j++ {
				var acc float64
				for i, yi := range y {
					acc += float64(float64(s.gaussT(i, j)) * float64(yi))
				}
				dst[j] = float32(acc * s.dense)
			}
		})
	case AMS:
		ParallelFor(s.words, 1<<4, func(lo, hi int) {
			var acc [64]float64
			for g := lo; g < hi; g++ {
				acc = [64]float64{}
				n := min(64, s.d-g*64)
				for i, yi := range y {
					h := s.key.Hash(uint64(i)*uint64(s.words) + uint64(g))
					v := math.Float64bits(float64(yi))
					for b := 0; b < n; b++ {
						// acc + (−v) is exactly acc − v: flip the sign bit, no branch.
						acc[b] += math.Float64frombits(v ^ (h>>uint(b)&1)<<63)
					}
				}
				for b := 0; b < n; b++ {
					dst[g*64+b] = float32(acc[b] * s.dense)
				}
			}
		})
	case SRHT:
		z := make([]float32, s.pad)
		for r, yr := range y { // serial: collisions add in row order
			z[s.srhtRow(r)] += yr
		}
		FWHT(z)
		ParallelFor(s.d, 1<<14, func(lo, hi int) {
			for j := lo; j < hi; j++ {
				v := float32(z[j] * s.scale)
				if s.srhtNeg(j) {
					v = -v
				}
				dst[j] = v
			}
		})
	}
	return nil
}

// Desketch sets dst (length d) to the decoded update of sketch y (length
// m): Transpose for linear configs, heavy-hitter recovery for CountSketch
// with TopK > 0. This is what consensus applies. For the chunked top-k
// families y is the aggregate (length AggregateLen = nc·C, built with
// AggregateAdd) and the de-sketch is its first d values (ChunkTopK) or
// the inverse per-chunk Walsh–Hadamard transform (ChunkTopKWHT).
func (s *Sketch) Desketch(dst, y []float32) error {
	if s.cfg.Family.IsChunked() {
		if err := s.checkLens(len(dst), s.d, len(y), s.nc*s.chunk); err != nil {
			return err
		}
		s.chunkDesketch(dst, y)
		return nil
	}
	if s.cfg.TopK == 0 {
		return s.Transpose(dst, y)
	}
	if err := s.checkLens(len(dst), s.d, len(y), s.m); err != nil {
		return err
	}
	s.estimate(dst, y)
	TopK(dst, s.cfg.TopK)
	return nil
}

// Estimate sets dst (length d) to the count-sketch median estimates of
// every coordinate (CountSketch only; other sparse families use the same
// rule over their nonzeros): est_j = float32(median_a(±y[row_a(j)])·√t).
func (s *Sketch) Estimate(dst, y []float32) error {
	if s.t == 0 {
		return wrap(ErrBadConfig, "%s has no median estimate", s.cfg.Family)
	}
	if err := s.checkLens(len(dst), s.d, len(y), s.m); err != nil {
		return err
	}
	s.estimate(dst, y)
	return nil
}

func (s *Sketch) estimate(dst, y []float32) {
	ParallelFor(s.d, 1<<12, func(lo, hi int) {
		var keys [MaxNNZ]int32
		t := s.t
		k, tt, stride, span, sq := s.key, uint64(t), s.stride, s.span, s.sqrtT
		for j := lo; j < hi; j++ {
			base := uint64(j) * tt
			for a := 0; a < t; a++ {
				h := k.Hash(base + uint64(a))
				b := math.Float32bits(y[uint64(a)*stride+below(h, span)]) ^ uint32(h&1)<<31 // ±y, exact
				keys[a] = orderKey(b)
			}
			med := medianKeys(keys[:t])
			if med == 0 {
				med = 0 // canonical +0: the result never depends on how ties of ±0 were ordered
			}
			dst[j] = float32(med * sq)
		}
	})
}

// orderKey maps float32 bits to an int32 whose order is the numeric order
// of the floats (−0 just below +0; NaNs at the ends).
func orderKey(b uint32) int32 { return int32(b ^ uint32(int32(b)>>31)>>1) }

// keyFloat inverts orderKey.
func keyFloat(k int32) float32 { return math.Float32frombits(uint32(k) ^ uint32(k>>31)>>1) }

func median3(a, b, c int32) int32 { return max(min(a, b), min(max(a, b), c)) }

// medianKeys returns the median of the floats with keys k (the middle order
// statistic, or float32(float32(lo+hi)·0.5) of the two middle ones for an
// even count). For finite values the result equals the median under the
// IEEE order up to the sign of a zero, which the caller canonicalizes. k
// may be reordered.
func medianKeys(k []int32) float32 {
	switch len(k) {
	case 1:
		return keyFloat(k[0])
	case 2:
		return float32(float32(keyFloat(k[0])+keyFloat(k[1])) * 0.5)
	case 3:
		return keyFloat(median3(k[0], k[1], k[2]))
	case 5:
		a, b, c, d := k[0], k[1], k[2], k[3]
		return keyFloat(median3(k[4], max(min(a, b), min(c, d)), min(max(a, b), max(c, d))))
	}
	for i := 1; i < len(k); i++ { // insertion sort
		x := k[i]
		j := i
		for j > 0 && x < k[j-1] {
			k[j] = k[j-1]
			j--
		}
		k[j] = x
	}
	n := len(k)
	if n&1 == 1 {
		return keyFloat(k[n/2])
	}
	return float32(float32(keyFloat(k[n/2-1])+keyFloat(k[n/2])) * 0.5)
}

// median is medianKeys over float values (for tests and reference use).
func median(v []float32) float32 {
	k := make([]int32, len(v))
	for i, x := range v {
		k[i] = orderKey(math.Float32bits(x))
	}
	return medianKeys(k)
}
