package chain

import (
	"crypto/sha256"
	"encoding"
	"encoding/binary"
	"math/rand/v2"
	"testing"
)

// BenchmarkPowHash compares ways to hash one nonce on one core (b.N
// nonces, reported in MH/s):
//
//	impl=plain-sha256x2   Sum256 of the 160-byte header, then Sum256 of that
//	impl=stdlib-midstate  crypto/sha256 state restored from the midstate with
//	                      the tail buffered, then one more Sum256 (what
//	                      worker/miner's CPU solver does)
//	impl=purego-midstate  PowJob.Hash: the pure-Go compression from the midstate
func BenchmarkPowHash(b *testing.B) {
	h := testHeader(rand.New(rand.NewPCG(1, 1)))
	var zero [HashSize]byte
	report := func(b *testing.B) {
		b.ReportMetric(float64(b.N)/b.Elapsed().Seconds()/1e6, "MH/s")
	}
	b.Run("impl=plain-sha256x2", func(b *testing.B) {
		buf := h.Bytes()
		for i := 0; i < b.N; i++ {
			binary.LittleEndian.PutUint64(buf[offNonce:], uint64(i))
			first := sha256.Sum256(buf)
			if HashMeetsTarget(Hash(sha256.Sum256(first[:])), &zero) {
				b.Fatal("zero hash")
			}
		}
		report(b)
	})
	b.Run("impl=stdlib-midstate", func(b *testing.B) {
		job := NewPowJob(&h)
		d := sha256.New()
		u := d.(encoding.BinaryUnmarshaler)
		var state [4 + 32 + 64 + 8]byte
		s := append(state[:0], "sha\x03"...)
		for _, w := range job.Mid {
			s = binary.BigEndian.AppendUint32(s, w)
		}
		s = append(s, job.Tail[:]...)
		s = append(s, make([]byte, 64-len(job.Tail))...)
		binary.BigEndian.AppendUint64(s, HeaderSize)
		var first [32]byte
		check := func(n uint64) Hash {
			binary.LittleEndian.PutUint64(state[4+32+offNonce-128:], n)
			if err := u.UnmarshalBinary(state[:]); err != nil {
				b.Fatal(err)
			}
			d.Sum(first[:0])
			return Hash(sha256.Sum256(first[:]))
		}
		if check(7) != job.Hash(7) {
			b.Fatal("stdlib midstate disagrees with PowJob.Hash")
		}
		b.ResetTimer()
		for i := 0; i < b.N; i++ {
			if HashMeetsTarget(check(uint64(i)), &zero) {
				b.Fatal("zero hash")
			}
		}
		report(b)
	})
	b.Run("impl=purego-midstate", func(b *testing.B) {
		job := NewPowJob(&h)
		for i := 0; i < b.N; i++ {
			if HashMeetsTarget(job.Hash(uint64(i)), &zero) {
				b.Fatal("zero hash")
			}
		}
		report(b)
	})
}
