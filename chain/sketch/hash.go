package sketch

import (
	"crypto/sha256"
	"encoding/binary"
	"math"
	"math/bits"
)

// Key is the 128-bit key of the counter-based element generator.
type Key struct{ A, B uint64 }

// Stream numbers used in key derivation.
const (
	StreamMain    = 0 // entries / buckets and signs
	StreamSigns   = 1 // SRHT diagonal D
	StreamSamples = 2 // SRHT row sample P
)

// DeriveKey derives the generator key of one stream of a sketch:
//
//	k = SHA-256("gradientcoin/sketch/key" ‖ 0x00 ‖ seed ‖ family u8 ‖
//	            rows u32le ‖ nnz u32le ‖ d u64le ‖ stream u8)
//	Key{A: u64le(k[0:8]), B: u64le(k[8:16])}
//
// TopK and the quantization do not change the matrix and are not hashed.
func DeriveKey(seed [32]byte, cfg Config, d int, stream uint8) Key {
	var buf [24 + 1 + 32 + 1 + 4 + 4 + 8 + 1]byte
	n := copy(buf[:], "gradientcoin/sketch/key")
	buf[n] = 0
	n++
	n += copy(buf[n:], seed[:])
	buf[n] = uint8(cfg.Family)
	n++
	binary.LittleEndian.PutUint32(buf[n:], uint32(cfg.Rows))
	n += 4
	binary.LittleEndian.PutUint32(buf[n:], uint32(cfg.NNZ))
	n += 4
	binary.LittleEndian.PutUint64(buf[n:], uint64(d))
	n += 8
	buf[n] = stream
	n++
	k := sha256.Sum256(buf[:n])
	return Key{A: binary.LittleEndian.Uint64(k[0:8]), B: binary.LittleEndian.Uint64(k[8:16])}
}

const golden = 0x9E3779B97F4A7C15

// fmix64 is the MurmurHash3 64-bit finalizer (a bijection).
func fmix64(x uint64) uint64 {
	x ^= x >> 33
	x *= 0xff51afd7ed558ccd
	x ^= x >> 33
	x *= 0xc4ceb9fe1a85ec53
	x ^= x >> 33
	return x
}

// Hash is the element generator: a keyed bijection of the 64-bit counter,
// all arithmetic modulo 2^64:
//
//	x = ctr·0x9E3779B97F4A7C15 + A
//	x = fmix64(x) xor B
//	return fmix64(x)
//
// fmix64(x): x ^= x>>33; x *= 0xff51afd7ed558ccd; x ^= x>>33;
// x *= 0xc4ceb9fe1a85ec53; x ^= x>>33.
func (k Key) Hash(ctr uint64) uint64 {
	return fmix64(fmix64(ctr*golden+k.A) ^ k.B)
}

// below returns floor(h·n / 2^64), a value in [0, n).
func below(h, n uint64) uint64 {
	hi, _ := bits.Mul64(h, n)
	return hi
}

// ihLanes is the Irwin–Hall integer T of one Gaussian entry: the sum of the
// eight 16-bit lanes u of h1 and h2 as odd integers 2u+1−65536, so
// T ∈ [−524280, 524280] is exact in float32 and float64; E[T] = 0 and
// Var[T] = 8·(2^32−1)/3.
func ihLanes(h1, h2 uint64) int32 {
	s := int32(h1&0xffff) + int32(h1>>16&0xffff) + int32(h1>>32&0xffff) + int32(h1>>48) +
		int32(h2&0xffff) + int32(h2>>16&0xffff) + int32(h2>>32&0xffff) + int32(h2>>48)
	return 2*s + 8 - 8*65536
}

// ihVar is Var[T] of ihLanes.
const ihVar = 8 * (4294967296.0 - 1) / 3

// ihScale is 1/√Var[T] rounded to float64 (math.Sqrt and ÷ are correctly
// rounded, so it is the same on every platform).
func ihScale() float64 { return 1 / math.Sqrt(ihVar) }

// Normal returns the pinned approximately standard normal variate number
// ctr of key k: float32(float64(T)·(1/√Var[T])) with T = ihLanes(Hash(2ctr),
// Hash(2ctr+1)). Mean 0, variance 1 (to float rounding), support ±4.9.
func (k Key) Normal(ctr uint64) float32 {
	t := ihLanes(k.Hash(2*ctr), k.Hash(2*ctr+1))
	return float32(float64(float64(t) * ihScale()))
}
