package gpu

import (
	"crypto/sha256"
	"encoding"
	"encoding/binary"
	"hash"
	"testing"
)

// cpuSearcher is the fastest plain-Go SHA-256d search we have on one core:
// crypto/sha256 (SHA-NI or AVX2 where the CPU has them) resumed from the
// header's midstate for every nonce, then the second hash. It is the "one
// CPU core" peer of the GPU benchmark.
type cpuSearcher struct {
	mid    []byte // crypto/sha256 state after header bytes 0..127
	tail   [32]byte
	target [32]byte
	h      hash.Hash
	d1     [32]byte
}

func newCPUSearcher(header *[HeaderSize]byte, target [32]byte) *cpuSearcher {
	h := sha256.New()
	h.Write(header[:128])
	mid, err := h.(encoding.BinaryMarshaler).MarshalBinary()
	if err != nil {
		panic(err)
	}
	s := &cpuSearcher{mid: mid, target: target, h: h}
	copy(s.tail[:], header[128:])
	return s
}

func (s *cpuSearcher) valid(nonce uint64) bool {
	if err := s.h.(encoding.BinaryUnmarshaler).UnmarshalBinary(s.mid); err != nil {
		panic(err)
	}
	binary.LittleEndian.PutUint64(s.tail[24:], nonce)
	s.h.Write(s.tail[:])
	s.h.Sum(s.d1[:0])
	d := sha256.Sum256(s.d1[:])
	return leLessEq(d, s.target)
}

func TestCPUSearcher(t *testing.T) {
	h := katHeader(3)
	target := katTarget(8)
	s := newCPUSearcher(h, target)
	var hits []uint64
	for n := uint64(0); n < 1<<12; n++ {
		if s.valid(n) {
			hits = append(hits, n)
		}
	}
	want := knownAnswers()[2]
	if want.name != "from-0" || len(hits) != len(want.hits) {
		t.Fatalf("cpu searcher found %#x, want %#x", hits, want.hits)
	}
	for i := range hits {
		if hits[i] != want.hits[i] {
			t.Fatalf("cpu searcher found %#x, want %#x", hits, want.hits)
		}
	}
}

// BenchmarkNonceSearchCPU is the one-core CPU peer: crypto/sha256 from the
// midstate, one nonce per iteration, reported in MH/s.
func BenchmarkNonceSearchCPU(b *testing.B) {
	var zero [32]byte // impossible target: every nonce is fully hashed
	s := newCPUSearcher(katHeader(9), zero)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if s.valid(uint64(i)) {
			b.Fatal("hit on a zero target")
		}
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds()/1e6, "MH/s")
}

// BenchmarkNonceSearchReference is the pure-Go kernel twin (no SHA
// extensions), for comparison with the stdlib path.
func BenchmarkNonceSearchReference(b *testing.B) {
	j := NewJob(katHeader(9), [32]byte{})
	p := newPrecomp(&j, 0)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if ok, _ := p.try(uint32(i)); ok {
			b.Fatal("hit on a zero target")
		}
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds()/1e6, "MH/s")
}
