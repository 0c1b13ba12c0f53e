// Package sketch defines GradientCoin's random sketch matrices, their
// de-sketch, heavy-hitter recovery and payload quantization. It is
// consensus-critical: every function is pure, deterministic and
// bit-identical on every platform; it uses only the standard library, keeps
// no mutable globals and does no I/O. Parallel loops only split work whose
// every output element is computed by one goroutine in a fixed order, so no
// result depends on scheduling or GOMAXPROCS.
//
// # Matrices
//
// A sketch S is an m×d matrix (m = Config.Rows) fixed by a Config, the
// dimension d and a 32-byte seed; for a round with parent block hash P the
// seed is Seed(P) = SHA-256("gradientcoin/sketch" ‖ P). Entries come from a
// counter-based generator and are never stored:
//
//	key  = DeriveKey(seed, cfg, d, stream)  (SHA-256, once per sketch, see DeriveKey)
//	H(c) = fmix64(fmix64(c·0x9E3779B97F4A7C15 + key.A) xor key.B)   (all mod 2^64)
//	below(h, n) = ⌊h·n / 2^64⌋   (high word of the 64×64 product)
//
// Only integer operations: a CUDA kernel reproduces them with 64-bit
// integer multiply and __umul64hi. Every family is scaled so that
// E[SᵀS] = I (the linear de-sketch Sᵀ·S·x is unbiased).
//
//   - Identity: S = I, m = d (the uncompressed baseline).
//   - Gaussian: S_ij = T_ij / √(Var[T]·m), T_ij the Irwin–Hall integer of
//     counter c = i·d + j: the eight 16-bit lanes u of H(2c) and H(2c+1)
//     (lane 0 = bits 0–15 of H(2c), …) summed as odd integers 2u+1−65536;
//     Var[T] = 8(2^32−1)/3. T is an integer in [−524280, 524280].
//   - AMS: S_ij = ±1/√m, negative iff bit (j mod 64) of H(i·⌈d/64⌉ + ⌊j/64⌋)
//     is 1.
//   - SRHT: d' = the smallest power of two ≥ d; S = (1/√m)·P·H·D where D_jj
//     = −1 iff bit (j mod 64) of H_signs(⌊j/64⌋) is 1, H is the
//     unnormalized ±1 Sylvester–Hadamard matrix of order d' (x is padded
//     with zeros), and row r of P selects Hadamard row below(H_samples(r), d')
//     (uniform, with replacement, which makes E[PᵀP] = (m/d')·I exact).
//   - CountSketch (s = NNZ tables of width w = m/s), SparseEmbedding2 (s
//     blocks of w = m/s rows): column j has, for a = 0…s−1, one entry
//     ±1/√s at row a·w + below(h, w), h = H(j·s + a), negative iff h is odd.
//     With s = 1 this is the classic count sketch.
//   - SparseEmbedding1: column j has s entries ±1/√s at rows below(h, m),
//     h = H(j·s + a), negative iff h is odd; rows are independent, so two
//     nonzeros of a column may coincide, and then they add.
//
// CountSketch and SparseEmbedding2 differ only in their key (the family
// is hashed into it). CountSketch with TopK > 0 de-sketches by heavy-hitter
// recovery: est_j = float32(med·float32(√s)) where med is the median of the
// s values ±y[row_a(j)] (the middle order statistic; for even s
// float32(float32(lo+hi)·0.5) of the two middle ones) with a zero median
// taken as +0, so the bits never depend on the selection algorithm; then
// TopK keeps the TopK largest |est_j| (ties: lower index) and zeroes the
// rest. The recovery is biased; workers keep an
// error-feedback residual (chain/state.MakeContribution).
//
// # Chunked top-k (not a sketch)
//
// ChunkTopK and ChunkTopKWHT are deterministic sparsifications in the
// style of Templar/DeMo, not random matrices (no seed; see chunk.go). The
// flat vector is cut into nc = ⌈d/C⌉ chunks of C = QuantBlock values (the
// last zero-padded); ChunkTopKWHT maps each chunk to its orthonormal
// Walsh–Hadamard basis, ẑ = float32(FWHT(z)·float32(1/√C)). Of every chunk
// the worker sends TopK (index, value) pairs, Rows = nc·TopK in all. The
// payload is an LSB-first bit stream of nc chunks, each
//
//	[scale: 32 bits, QuantBits < 32 only] [TopK indices: log2 C bits each] [TopK values: QuantBits each]
//
// then zero padding to a byte. A value is a raw float32 (QuantBits 32) or
// a code q of b ∈ {8, 4, 2, 1} bits meaning ±float32(float32(2·(q>>1)+1)·s)
// (odd levels, no zero; negative iff q is odd). Canonical form: indices
// strictly increasing within a chunk, scales without the sign bit, all
// codes 0 in a chunk whose scale is 0, zero padding; ChunkTopK indices must
// also name coordinates below d (CheckPayloadDim; ValidateDim requires
// TopK ≤ the last chunk's length). The consensus aggregate has nc·C
// entries (AggregateLen); AggregateAdd adds a payload's values at their
// indices, agg[c·C+i] = float32(agg[c·C+i] + v), chunks in order, indices
// ascending, contributions in block order; Desketch is agg[:d]
// (ChunkTopK) or, per chunk, FWHT then float32(z_j·float32(1/√C))
// (ChunkTopKWHT). The aggregate is linear in the payloads, so a worker's
// error feedback against its own decoded payload (Decode) is exact for its
// share of a block. The selection (top TopK by |ẑ|, ties to the lower
// index) and the scale (least squares over the levels) are the worker's
// choice in Compress, not consensus. These families are biased — E[u] ≠ x,
// no unbiasedness test applies — and have no matrix: Apply, Transpose,
// Estimate, Quantize and DequantizeAdd refuse them (ErrBadConfig).
//
// # Consensus operations and their exact arithmetic
//
// Transpose (dst = Sᵀ·y) and Desketch are consensus-critical. Go may fuse
// x*y+z into an FMA on some architectures (arm64, ppc64, s390x, riscv64);
// the spec forbids it across an explicit conversion, so every product on
// the consensus path is wrapped in float32(…) or float64(…) before it is
// added. Products of a float32 (24-bit) value and an Irwin–Hall integer
// (≤ 20 bits) are exact in float64 anyway. The exact operations:
//
//   - sparse families: acc := +0 (float32); for a = 0…s−1: acc = acc ± y[row];
//     dst_j = float32(acc·float32(1/√s)).
//   - Gaussian: acc := 0 (float64); for i = 0…m−1: acc += float64(T_ij)·float64(y_i);
//     dst_j = float32(acc·(1/√(Var[T]·m))) with the scale a float64
//     computed with math.Sqrt (correctly rounded) and one division.
//   - AMS: the same with ±float64(y_i) and scale 1/√m (float64).
//   - SRHT: z := d' zeros (float32); for r = 0…m−1: z[row_r] += y_r; FWHT(z)
//     (the radix-2 network of FWHT); dst_j = ±float32(z_j·float32(1/√m)).
//   - Identity: dst = y.
//   - ChunkTopK / ChunkTopKWHT: see above.
//
// Apply (the worker's S·x) is deterministic but not consensus-critical.
// No transcendental function (exp, log, sin, cos) is used: the Gaussian
// generator is the integer Irwin–Hall sum above; only math.Sqrt, which IEEE
// 754 requires to be correctly rounded, computes constants.
//
// # Quantization
//
// Payload formats (QuantBits 32, 8, 4; the chunked families also 2 and 1)
// are defined in PayloadSize and Quantize (chunk.go for the chunked ones). Dequantization (consensus) of code q with block scale s is
// float32(float32(q)·s). Canonical form (CheckPayload): scales have no sign
// bit, codes avoid −128 / −8, padding nibbles are 0, a zero scale has zero
// codes. Quantize rounds half to even.
//
// # Errors
//
// Every error wraps one of ErrBadConfig, ErrLength, ErrPayload or
// ErrNonFinite (test with errors.Is) and says what was wrong. No function
// panics on any input.
package sketch
