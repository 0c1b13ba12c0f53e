//go:build gccuda

package miner

// Tests of the GPU solver on a CUDA device (compiled in CI, run on a GPU
// machine by bench/gpu.sh).

import (
	"context"
	"errors"
	"math/big"
	"math/rand/v2"
	"sync"
	"testing"
	"time"

	"github.com/gradientcoin/gradientcoin/chain"
	"github.com/gradientcoin/gradientcoin/gpu"
)

var (
	gpuOnce   sync.Once
	gpuSolver *GPU
	gpuErr    error
)

func testGPU(t testing.TB) *GPU {
	t.Helper()
	gpuOnce.Do(func() { gpuSolver, gpuErr = NewGPU(0, gpu.SearchOptions{}) })
	if gpuErr != nil {
		t.Fatalf("NewGPU(0): %v", gpuErr)
	}
	return gpuSolver
}

// The GPU solver reports the same (first) nonce as a one-thread CPU solver.
func TestGPUSolverMatchesCPU(t *testing.T) {
	g := testGPU(t)
	cpu := NewCPU(1)
	r := rand.New(rand.NewPCG(41, 42))
	for k := 0; k < 6; k++ {
		h := randHeader(r)
		job := chain.NewPowJob(&h)
		target := targetLE(256 - 14)
		start := []uint64{0, 1<<32 - 5000, 1<<64 - 5000, r.Uint64(), r.Uint64(), 7}[k]
		const count = 1 << 17
		wantNonce, wantFound, _, err := cpu.Search(context.Background(), job, target, start, count)
		if err != nil {
			t.Fatal(err)
		}
		nonce, found, hashes, err := g.Search(context.Background(), job, target, start, count)
		if err != nil {
			t.Fatal(err)
		}
		if found != wantFound || (found && nonce != wantNonce) {
			t.Fatalf("case %d: GPU (%#x, %v), CPU (%#x, %v)", k, nonce, found, wantNonce, wantFound)
		}
		if hashes == 0 || hashes > count {
			t.Fatalf("case %d: hashes %d", k, hashes)
		}
	}
}

// A cancelled context stops a long GPU search within milliseconds.
func TestGPUSolverCancel(t *testing.T) {
	g := testGPU(t)
	h := randHeader(rand.New(rand.NewPCG(43, 44)))
	job := chain.NewPowJob(&h)
	ctx, cancel := context.WithCancel(context.Background())
	var at time.Time
	go func() {
		time.Sleep(150 * time.Millisecond)
		at = time.Now()
		cancel()
	}()
	_, found, hashes, err := g.Search(ctx, job, [32]byte{}, 0, 1<<50)
	latency := time.Since(at)
	if found || !errors.Is(err, context.Canceled) {
		t.Fatalf("found %v err %v", found, err)
	}
	t.Logf("cancelled after %d nonces; returned %v after cancel", hashes, latency)
	if latency > 50*time.Millisecond {
		t.Errorf("cancel took %v", latency)
	}
}

// Mine with the GPU solver: the solved header passes the chain's own
// proof-of-work check.
func TestGPUMine(t *testing.T) {
	g := testGPU(t)
	m, err := New(Config{Solver: g})
	if err != nil {
		t.Fatal(err)
	}
	r := rand.New(rand.NewPCG(45, 46))
	limit := new(big.Int).Sub(new(big.Int).Lsh(big.NewInt(1), 256), big.NewInt(1))
	for k := 0; k < 3; k++ {
		h := randHeader(r)
		h.Bits = chain.BigToCompact(new(big.Int).Lsh(big.NewInt(1), 256-30)) // ~1 G nonces
		solved, err := m.Mine(context.Background(), h)
		if err != nil {
			t.Fatal(err)
		}
		if err := chain.CheckProofOfWork(&solved, limit); err != nil {
			t.Fatalf("mined header fails CheckProofOfWork: %v", err)
		}
	}
	st := m.Stats()
	t.Logf("mined 3 headers: %d hashes at %.2f GH/s", st.Hashes, st.AvgRate()/1e9)
}

// BenchmarkGPUSearch measures the GPU solver through the Solver interface.
func BenchmarkGPUSearch(b *testing.B) {
	g := testGPU(b)
	h := randHeader(rand.New(rand.NewPCG(1, 1)))
	job := chain.NewPowJob(&h)
	const per = 1 << 32
	b.ResetTimer()
	var total uint64
	for i := 0; i < b.N; i++ {
		_, _, hashes, err := g.Search(context.Background(), job, [32]byte{}, uint64(i)*per, per)
		if err != nil {
			b.Fatal(err)
		}
		total += hashes
	}
	b.ReportMetric(float64(total)/b.Elapsed().Seconds()/1e9, "GH/s")
}
