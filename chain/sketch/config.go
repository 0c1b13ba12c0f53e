package sketch

import (
	"crypto/sha256"
	"errors"
	"fmt"
)

// Errors returned (wrapped, with a description) by this package. Test with
// errors.Is.
var (
	// ErrBadConfig: a Config that is invalid on its own or for dimension d.
	ErrBadConfig = errors.New("bad sketch config")
	// ErrLength: a vector or payload whose length does not match the sketch.
	ErrLength = errors.New("wrong length")
	// ErrPayload: a quantized payload that is not in canonical form.
	ErrPayload = errors.New("bad sketch payload")
	// ErrNonFinite: a NaN or ±Inf where only finite values are allowed.
	ErrNonFinite = errors.New("non-finite value")
)

func wrap(kind error, format string, a ...any) error {
	return fmt.Errorf("%w: %s", kind, fmt.Sprintf(format, a...))
}

// Family names a sketch construction. The numeric values are part of the
// consensus encoding and never change.
type Family uint8

const (
	// Gaussian: dense S with i.i.d. (pinned, Irwin–Hall) normal entries / √m.
	Gaussian Family = 1
	// SRHT: subsampled randomized Hadamard transform √(d'/m)·P·H·D.
	SRHT Family = 2
	// AMS: dense S with i.i.d. ±1/√m entries.
	AMS Family = 3
	// CountSketch: NNZ hash tables of width Rows/NNZ, one ±1/√NNZ per table
	// and column. With TopK > 0 the de-sketch is heavy-hitter recovery
	// (median estimate, keep the TopK largest) instead of Sᵀ·y.
	CountSketch Family = 4
	// SparseEmbedding1: NNZ nonzeros ±1/√NNZ per column at independent
	// uniformly random rows (collisions add).
	SparseEmbedding1 Family = 5
	// SparseEmbedding2: rows split into NNZ blocks of Rows/NNZ, one nonzero
	// ±1/√NNZ per block and column.
	SparseEmbedding2 Family = 6
	// Identity: S = I (Rows == d). The dense, uncompressed baseline.
	Identity Family = 7
	// ChunkTopK: not a random sketch but a deterministic sparsification
	// (see chunk.go): the flat vector in chunks of C = QuantBlock values,
	// the TopK largest-magnitude entries of every chunk sent as (index,
	// value) pairs, Rows = ⌈d/C⌉·TopK values in all. Biased; workers keep
	// an error-feedback residual. Apply adds the decoded sparse vectors.
	ChunkTopK Family = 8
	// ChunkTopKWHT: ChunkTopK in the orthonormal Walsh–Hadamard basis of
	// each chunk (FWHT/√C before the selection and after the aggregation).
	ChunkTopKWHT Family = 9
)

// Families lists every family, in numeric order.
var families = [...]Family{Gaussian, SRHT, AMS, CountSketch, SparseEmbedding1, SparseEmbedding2, Identity, ChunkTopK, ChunkTopKWHT}

// AllFamilies returns every family, in numeric order.
func AllFamilies() []Family { return append([]Family(nil), families[:]...) }

func (f Family) String() string {
	switch f {
	case Gaussian:
		return "gaussian"
	case SRHT:
		return "srht"
	case AMS:
		return "ams"
	case CountSketch:
		return "countsketch"
	case SparseEmbedding1:
		return "sparse1"
	case SparseEmbedding2:
		return "sparse2"
	case Identity:
		return "identity"
	case ChunkTopK:
		return "chunktopk"
	case ChunkTopKWHT:
		return "chunktopk-wht"
	}
	return fmt.Sprintf("family(%d)", uint8(f))
}

// ParseFamily is the inverse of Family.String.
func ParseFamily(s string) (Family, error) {
	for _, f := range families {
		if f.String() == s {
			return f, nil
		}
	}
	return 0, wrap(ErrBadConfig, "unknown sketch family %q", s)
}

// Limits on Config fields.
const (
	MaxDim        = 1 << 30 // largest sketched dimension d
	MaxRows       = 1 << 28 // largest sketch size m
	MaxNNZ        = 64      // largest NNZ (nonzeros / tables per column)
	MaxQuantBlock = 1 << 16 // largest quantization block
)

// Config is the consensus description of a sketch (everything but the seed
// and the dimension). It sits in the network rules and in every
// contribution; the two must be equal.
type Config struct {
	Family Family
	// Rows is the sketch size m (length of S·x).
	Rows int
	// NNZ is s: nonzeros per column (SparseEmbedding1/2) or hash tables
	// (CountSketch); Rows must be a multiple of it for CountSketch and
	// SparseEmbedding2. It must be 0 for Gaussian, SRHT, AMS and Identity.
	NNZ int
	// TopK > 0 (CountSketch only) selects heavy-hitter recovery: the
	// de-sketch keeps the TopK coordinates with the largest median
	// estimate, and workers keep an error-feedback residual. For the
	// chunked top-k families it is the number of entries kept per chunk
	// (1 ≤ TopK ≤ QuantBlock), and Rows = ⌈d/QuantBlock⌉·TopK.
	TopK int
	// QuantBits is the payload format: 32 (raw float32), 8 (int8 codes) or
	// 4 (int4 codes), see Quantize. The chunked top-k families also take
	// 2 and 1 (b-bit codes with one scale per chunk, see chunk.go).
	QuantBits int
	// QuantBlock is the number of values sharing one float32 scale (8 and 4
	// bits); it must be 0 for QuantBits 32. For the chunked top-k families
	// it is the chunk size C (a power of two in [2, MaxChunk]) whatever
	// QuantBits is.
	QuantBlock int
}

func (c Config) String() string {
	s := fmt.Sprintf("%s(m=%d", c.Family, c.Rows)
	if c.NNZ != 0 {
		s += fmt.Sprintf(",s=%d", c.NNZ)
	}
	if c.TopK != 0 {
		s += fmt.Sprintf(",topk=%d", c.TopK)
	}
	s += fmt.Sprintf(",q=%d", c.QuantBits)
	if c.QuantBlock != 0 {
		s += fmt.Sprintf("/%d", c.QuantBlock)
	}
	return s + ")"
}

// Validate checks the config on its own (without the dimension d).
func (c Config) Validate() error {
	if c.Family.IsChunked() {
		return validateChunked(c)
	}
	switch c.Family {
	case Gaussian, SRHT, AMS, Identity:
		if c.NNZ != 0 {
			return wrap(ErrBadConfig, "%s takes no nnz, got %d", c.Family, c.NNZ)
		}
	case CountSketch, SparseEmbedding1, SparseEmbedding2:
		if c.NNZ < 1 || c.NNZ > MaxNNZ {
			return wrap(ErrBadConfig, "%s nnz %d out of range [1, %d]", c.Family, c.NNZ, MaxNNZ)
		}
	default:
		return wrap(ErrBadConfig, "unknown sketch family %d", uint8(c.Family))
	}
	if c.Rows < 1 || c.Rows > MaxRows {
		return wrap(ErrBadConfig, "rows %d out of range [1, %d]", c.Rows, MaxRows)
	}
	if (c.Family == CountSketch || c.Family == SparseEmbedding2) && c.Rows%c.NNZ != 0 {
		return wrap(ErrBadConfig, "%s rows %d not a multiple of nnz %d", c.Family, c.Rows, c.NNZ)
	}
	if c.NNZ > c.Rows {
		return wrap(ErrBadConfig, "nnz %d exceeds rows %d", c.NNZ, c.Rows)
	}
	if c.TopK < 0 || c.TopK > MaxDim {
		return wrap(ErrBadConfig, "topk %d out of range [0, %d]", c.TopK, MaxDim)
	}
	if c.TopK != 0 && c.Family != CountSketch {
		return wrap(ErrBadConfig, "topk recovery needs family countsketch, not %s", c.Family)
	}
	switch c.QuantBits {
	case 32:
		if c.QuantBlock != 0 {
			return wrap(ErrBadConfig, "quant block %d must be 0 for 32-bit payloads", c.QuantBlock)
		}
	case 8, 4:
		if c.QuantBlock < 1 || c.QuantBlock > MaxQuantBlock {
			return wrap(ErrBadConfig, "quant block %d out of range [1, %d]", c.QuantBlock, MaxQuantBlock)
		}
	default:
		return wrap(ErrBadConfig, "quant bits %d not one of 32, 8, 4", c.QuantBits)
	}
	return nil
}

// ValidateDim checks the config for sketching vectors of dimension d.
func (c Config) ValidateDim(d int) error {
	if err := c.Validate(); err != nil {
		return err
	}
	if d < 1 || d > MaxDim {
		return wrap(ErrBadConfig, "dimension %d out of range [1, %d]", d, MaxDim)
	}
	if c.Family.IsChunked() {
		nc := (d + c.QuantBlock - 1) / c.QuantBlock
		if c.Rows != nc*c.TopK {
			return wrap(ErrBadConfig, "%s rows %d, want %d chunks of %d × top-k %d = %d for dimension %d",
				c.Family, c.Rows, nc, c.QuantBlock, c.TopK, nc*c.TopK, d)
		}
		if last := d - (nc-1)*c.QuantBlock; c.Family == ChunkTopK && c.TopK > last {
			return wrap(ErrBadConfig, "%s top-k %d exceeds the %d coordinates of the last chunk (d = %d)", c.Family, c.TopK, last, d)
		}
		return nil
	}
	if c.Family == Identity && c.Rows != d {
		return wrap(ErrBadConfig, "identity sketch needs rows == d, got rows %d, d %d", c.Rows, d)
	}
	if c.Rows > d {
		return wrap(ErrBadConfig, "rows %d exceed dimension %d", c.Rows, d)
	}
	if c.TopK > d {
		return wrap(ErrBadConfig, "topk %d exceeds dimension %d", c.TopK, d)
	}
	return nil
}

// Seed is the sketch seed for the round whose parent block hash is parent:
// SHA-256("gradientcoin/sketch" ‖ parent).
func Seed(parent [32]byte) [32]byte {
	h := sha256.New()
	h.Write([]byte("gradientcoin/sketch"))
	h.Write(parent[:])
	var s [32]byte
	h.Sum(s[:0])
	return s
}
