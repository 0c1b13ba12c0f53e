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

// report adds MH/s (wall clock, all threads) and, where the OS reports
// process CPU time, MH/cpu-s: nonces per CPU-second, the per-core rate
// even on a shared, busy machine.
func report(b *testing.B, cpu0 func() (float64, bool)) {
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds()/1e6, "MH/s")
	if s, ok := cpu0(); ok && s > 0 {
		b.ReportMetric(float64(b.N)/s/1e6, "MH/cpu-s")
	}
}

// startCPU returns a function giving the CPU seconds used since the call.
func startCPU() func() (float64, bool) {
	t0, ok0 := processCPU()
	return func() (float64, bool) {
		t1, ok1 := processCPU()
		return (t1 - t0).Seconds(), ok0 && ok1
	}
}

// BenchmarkCPUSearch measures the CPU solver as NewCPU builds it (sha-ni
// where the CPU has the SHA extensions): one b.N is one nonce. The target
// is all zero bytes, so nothing is found and every nonce is hashed.
// (bench/gpu.sh reads BenchmarkCPUSearch/threads=1: keep the name.)
func BenchmarkCPUSearch(b *testing.B) { benchSearch(b, bestImpl()) }

// BenchmarkCPUSearchStdlib forces the crypto/sha256 midstate path, the
// fallback on processors without the SHA extensions.
func BenchmarkCPUSearchStdlib(b *testing.B) { benchSearch(b, implStdlib) }

func benchSearch(b *testing.B, impl hashImpl) {
	for _, threads := range []int{1, runtime.NumCPU()} {
		b.Run(fmt.Sprintf("threads=%d", threads), func(b *testing.B) {
			h := randHeader(rand.New(rand.NewPCG(1, 1)))
			job := chain.NewPowJob(&h)
			cpu := NewCPU(threads)
			cpu.impl = impl
			b.ResetTimer()
			since := startCPU()
			_, _, hashes, err := cpu.Search(context.Background(), job, [32]byte{}, 0, uint64(b.N))
			if err != nil || hashes != uint64(b.N) {
				b.Fatalf("hashes %d of %d: %v", hashes, b.N, err)
			}
			report(b, since)
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
	since := startCPU()
	for i := 0; i < b.N; i++ {
		binary.LittleEndian.PutUint64(buf[chain.HeaderSize-8:], uint64(i))
		first := sha256.Sum256(buf)
		if chain.HashMeetsTarget(chain.Hash(sha256.Sum256(first[:])), &zero) {
			b.Fatal("zero hash")
		}
	}
	report(b, since)
}
