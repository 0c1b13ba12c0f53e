package miner

import (
	"errors"
	"math/rand/v2"
	"testing"

	"github.com/rs/zerolog"

	"github.com/gradientcoin/gradientcoin/chain"
	"github.com/gradientcoin/gradientcoin/gpu"
)

// The GPU solver hands gpu the chain's PowJob as raw words: the pure-Go
// twin of the kernel must then find exactly the nonces the chain's own hash
// accepts. (The device itself is tested in gpu_cuda_test.go.)
func TestGPUJobMatchesChain(t *testing.T) {
	r := rand.New(rand.NewPCG(31, 32))
	for k := 0; k < 4; k++ {
		h := randHeader(r)
		pj := chain.NewPowJob(&h)
		target := targetLE(256 - 6) // about 1 in 64
		start := []uint64{0, 1<<32 - 300, 1<<64 - 300, r.Uint64()}[k]
		j := gpu.JobFromMidstate([8]uint32(pj.Mid), pj.Tail, target)
		got := gpu.SearchReference(j, start, 600, 0)
		var want []uint64
		for i := uint64(0); i < 600; i++ {
			if chain.HashMeetsTarget(pj.Hash(start+i), &target) {
				want = append(want, start+i)
			}
		}
		if len(got) != len(want) || len(want) == 0 {
			t.Fatalf("case %d: gpu reference %#x, chain %#x", k, got, want)
		}
		for i := range got {
			if got[i] != want[i] {
				t.Fatalf("case %d: gpu reference %#x, chain %#x", k, got, want)
			}
		}
	}
}

func TestGPUWithoutCUDA(t *testing.T) {
	if gpu.Available() {
		t.Skip("cuda build")
	}
	if _, err := NewGPU(0, gpu.SearchOptions{}); !errors.Is(err, gpu.ErrNoCUDA) {
		t.Fatalf("NewGPU: %v, want ErrNoCUDA", err)
	}
	if _, err := OpenGPUs(zerolog.Nop(), gpu.SearchOptions{}); !errors.Is(err, gpu.ErrNoCUDA) {
		t.Fatalf("OpenGPUs: %v, want ErrNoCUDA", err)
	}
}

var _ Solver = (*GPU)(nil)
