package miner

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"math/rand/v2"
	"runtime"
	"testing"

	"github.com/gradientcoin/gradientcoin/chain"
)

// BenchmarkCPUSearch measures the CPU solver: one b.N is one nonce. The
// target is all zero bytes, so nothing is found and every nonce is hashed.
// MH/s is the total rate; MH/s/core divides by the threads.
func BenchmarkCPUSearch(b *testing.B) {
	for _, threads := range []int{1, runtime.NumCPU()} {
		b.Run(fmt.Sprintf("threads=%d", threads), func(b *testing.B) {
			h := randHeader(rand.New(rand.NewPCG(1, 1)))
			job := chain.NewPowJob(&h)
			cpu := NewCPU(threads)
			b.ResetTimer()
			_, _, hashes, err := cpu.Search(context.Background(), job, [32]byte{}, 0, uint64(b.N))
			if err != nil || hashes != uint64(b.N) {
				b.Fatalf("hashes %d of %d: %v", hashes, b.N, err)
			}
			rate := float64(b.N) / b.Elapsed().Seconds() / 1e6
			b.ReportMetric(rate, "MH/s")
			b.ReportMetric(rate/float64(threads), "MH/s/core")
		})
	}
}

// BenchmarkPlainSHA256d is the baseline: each nonce hashes the whole
// 160-byte header with crypto/sha256.Sum256, then the digest again.
func BenchmarkPlainSHA256d(b *testing.B) {
	h := randHeader(rand.New(rand.NewPCG(1, 1)))
	buf := h.Bytes()
	var zero [32]byte
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		binary.LittleEndian.PutUint64(buf[chain.HeaderSize-8:], uint64(i))
		first := sha256.Sum256(buf)
		if chain.HashMeetsTarget(chain.Hash(sha256.Sum256(first[:])), &zero) {
			b.Fatal("zero hash")
		}
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds()/1e6, "MH/s")
}
