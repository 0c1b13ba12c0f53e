package sketch

import (
	"encoding/binary"
	"math"
)

// PayloadSize is the exact byte length of a quantized sketch of config cfg
// (0 for an invalid config):
//
//	32 bits: 4·m              (m float32 little-endian)
//	 8 bits: 4·nb + m         (nb = ⌈m/QuantBlock⌉ float32 scales, then m int8 codes)
//	 4 bits: 4·nb + ⌈m/2⌉     (scales, then codes two per byte, low nibble first)
//
// and for the chunked top-k families ⌈nc·B/8⌉ bytes, nc = Rows/TopK chunks
// of B = 32·[QuantBits < 32] + TopK·(log2 QuantBlock + QuantBits) bits
// (see chunk.go).
func PayloadSize(cfg Config) int {
	if cfg.Validate() != nil {
		return 0
	}
	if cfg.Family.IsChunked() {
		return chunkGeomOf(cfg).totalBytes
	}
	m := cfg.Rows
	switch cfg.QuantBits {
	case 32:
		return 4 * m
	case 8:
		return 4*numBlocks(cfg) + m
	case 4:
		return 4*numBlocks(cfg) + (m+1)/2
	}
	return 0
}

func numBlocks(cfg Config) int { return (cfg.Rows + cfg.QuantBlock - 1) / cfg.QuantBlock }

func qmax(bits int) float64 {
	if bits == 8 {
		return 127
	}
	return 7
}

func isFinite32(x float32) bool { return math.Float32bits(x)&0x7f800000 != 0x7f800000 }

// Quantize encodes a sketch y (length m) as a payload of PayloadSize(cfg)
// bytes. For 8 and 4 bits, each block of QuantBlock values (the last may be
// shorter) gets scale = float32(float64(max|y|)/Q) with Q = 127 (8 bits) or
// 7 (4 bits), and code q = RoundToEven(float64(y)/float64(scale)) clamped
// to [−Q, Q] (all codes 0 when scale is 0). Rounding is round-half-even.
// Non-finite input is an ErrNonFinite error.
func Quantize(cfg Config, y []float32) ([]byte, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if cfg.Family.IsChunked() {
		return nil, wrap(ErrBadConfig, "%s payloads carry indices: use (*Sketch).Compress", cfg.Family)
	}
	if len(y) != cfg.Rows {
		return nil, wrap(ErrLength, "quantize: sketch has %d values, want %d", len(y), cfg.Rows)
	}
	for i, v := range y {
		if !isFinite32(v) {
			return nil, wrap(ErrNonFinite, "quantize: sketch value %d is %v", i, v)
		}
	}
	out := make([]byte, PayloadSize(cfg))
	if cfg.QuantBits == 32 {
		for i, v := range y {
			binary.LittleEndian.PutUint32(out[4*i:], math.Float32bits(v))
		}
		return out, nil
	}
	nb, bs, q := numBlocks(cfg), cfg.QuantBlock, qmax(cfg.QuantBits)
	codes := out[4*nb:]
	for b := 0; b < nb; b++ {
		blk := y[b*bs : min(b*bs+bs, len(y))]
		var amax float32
		for _, v := range blk {
			amax = max(amax, float32(math.Abs(float64(v))))
		}
		scale := float32(float64(amax) / q)
		binary.LittleEndian.PutUint32(out[4*b:], math.Float32bits(scale))
		if scale == 0 {
			continue
		}
		for i, v := range blk {
			c := math.RoundToEven(float64(v) / float64(scale))
			c = math.Max(-q, math.Min(q, c))
			idx := b*bs + i
			if cfg.QuantBits == 8 {
				codes[idx] = byte(int8(c))
			} else {
				nib := byte(int8(c)) & 0x0f
				if idx&1 == 0 {
					codes[idx/2] |= nib
				} else {
					codes[idx/2] |= nib << 4
				}
			}
		}
	}
	return out, nil
}

// CheckPayload checks the length and canonical form of a payload: scales
// without the sign bit, int8 codes ≠ −128, int4 codes ≠ −8, a zero padding
// nibble, and all-zero codes in a block whose scale is 0. It does not check
// finiteness (Dequantize does). Chunked top-k payloads: strictly
// increasing indices within every chunk, scales without the sign bit,
// all-zero codes in a chunk whose scale is 0, zero padding bits.
func CheckPayload(cfg Config, p []byte) error {
	if err := cfg.Validate(); err != nil {
		return err
	}
	if cfg.Family.IsChunked() {
		return checkChunked(cfg, p)
	}
	if want := PayloadSize(cfg); len(p) != want {
		return wrap(ErrPayload, "payload has %d bytes, want %d for %s", len(p), want, cfg)
	}
	if cfg.QuantBits == 32 {
		return nil
	}
	nb, bs, m := numBlocks(cfg), cfg.QuantBlock, cfg.Rows
	codes := p[4*nb:]
	for b := 0; b < nb; b++ {
		bits := binary.LittleEndian.Uint32(p[4*b:])
		if bits&0x80000000 != 0 {
			return wrap(ErrPayload, "scale of block %d has its sign bit set", b)
		}
		zero := bits == 0
		for i := b * bs; i < min(b*bs+bs, m); i++ {
			c := code(cfg.QuantBits, codes, i)
			if c < -int8(qmax(cfg.QuantBits)) {
				return wrap(ErrPayload, "code %d of value %d is outside [-%v, %v]", c, i, qmax(cfg.QuantBits), qmax(cfg.QuantBits))
			}
			if zero && c != 0 {
				return wrap(ErrPayload, "value %d has code %d in block %d whose scale is 0", i, c, b)
			}
		}
	}
	if cfg.QuantBits == 4 && m&1 == 1 && codes[m/2]>>4 != 0 {
		return wrap(ErrPayload, "padding nibble is %d, want 0", codes[m/2]>>4)
	}
	return nil
}

func code(bits int, codes []byte, i int) int8 {
	if bits == 8 {
		return int8(codes[i])
	}
	nib := codes[i/2]
	if i&1 == 1 {
		nib >>= 4
	}
	return int8(nib<<4) >> 4
}

// Dequantize decodes payload p into dst (length m): the value of code q in
// a block with scale s is float32(float32(q)·s); 32-bit payloads are the
// raw values. It checks the canonical form (ErrPayload) and that every
// value is finite (ErrNonFinite). For the chunked top-k families dst gets
// the m transmitted values (chunk order, then index order) without their
// indices; the aggregate is built with AggregateAdd.
func Dequantize(cfg Config, dst []float32, p []byte) error {
	return dequantize(cfg, dst, p, false)
}

// DequantizeAdd adds the decoded payload to acc in place:
// acc[i] = float32(acc[i] + v_i). It checks the payload like Dequantize
// (and that no sum overflows) before returning; on error acc may be
// partially updated. The chunked top-k families refuse it (ErrBadConfig):
// their values add at their indices, see AggregateAdd.
func DequantizeAdd(cfg Config, acc []float32, p []byte) error {
	return dequantize(cfg, acc, p, true)
}

func dequantize(cfg Config, dst []float32, p []byte, add bool) error {
	if add && cfg.Family.IsChunked() {
		return wrap(ErrBadConfig, "%s values add at their indices: use AggregateAdd", cfg.Family)
	}
	if err := CheckPayload(cfg, p); err != nil {
		return err
	}
	if len(dst) != cfg.Rows {
		return wrap(ErrLength, "dequantize: destination has %d values, want %d", len(dst), cfg.Rows)
	}
	if cfg.Family.IsChunked() {
		return chunkValues(cfg, dst, p)
	}
	put := func(i int, v float32) error {
		if !isFinite32(v) {
			return wrap(ErrNonFinite, "payload value %d is %v", i, v)
		}
		if add {
			v = dst[i] + v
			if !isFinite32(v) {
				return wrap(ErrNonFinite, "sum of payload values overflows at %d", i)
			}
		}
		dst[i] = v
		return nil
	}
	if cfg.QuantBits == 32 {
		for i := range dst {
			if err := put(i, math.Float32frombits(binary.LittleEndian.Uint32(p[4*i:]))); err != nil {
				return err
			}
		}
		return nil
	}
	nb, bs := numBlocks(cfg), cfg.QuantBlock
	codes := p[4*nb:]
	for b := 0; b < nb; b++ {
		scale := math.Float32frombits(binary.LittleEndian.Uint32(p[4*b:]))
		if !isFinite32(scale) {
			return wrap(ErrNonFinite, "scale of block %d is %v", b, scale)
		}
		for i := b * bs; i < min(b*bs+bs, cfg.Rows); i++ {
			if err := put(i, float32(float32(code(cfg.QuantBits, codes, i))*scale)); err != nil {
				return err
			}
		}
	}
	return nil
}
