package miner

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"

	"github.com/rs/zerolog"

	"github.com/gradientcoin/gradientcoin/chain"
	"github.com/gradientcoin/gradientcoin/gpu"
)

// GPU is a Solver on one CUDA device (package gpu's SHA-256d nonce search).
// It exists in every build; without the gccuda build tag NewGPU fails with an
// error wrapping gpu.ErrNoCUDA, so callers fall back to the CPU solver.
//
// Every nonce the device reports is re-checked on the CPU with the chain's
// own hash (chain.PowJob.Hash and chain.HashMeetsTarget) before Search
// returns it; a device that reports an invalid nonce gets an error wrapping
// ErrBadSolution and should be dropped.
type GPU struct {
	c      *gpu.Context
	s      *gpu.Searcher
	hashes atomic.Uint64
	mu     sync.Mutex // one Search at a time, and Close
	closed bool
}

// NewGPU opens device ordinal, runs its known-answer self-test and prepares
// a search. A device that fails the self-test is not used: the error wraps
// gpu.ErrSelfTest. opts may be the zero value (defaults: launches of about
// 10 ms, so a cancelled Search returns within a few tens of milliseconds).
func NewGPU(ordinal int, opts gpu.SearchOptions) (*GPU, error) {
	c, err := gpu.NewContext(ordinal)
	if err != nil {
		return nil, fmt.Errorf("miner: gpu %d: %w", ordinal, err)
	}
	if err := gpu.SelfTest(c); err != nil {
		c.Close()
		return nil, fmt.Errorf("miner: gpu %d: %w", ordinal, err)
	}
	opts.FindAll = false // stop at the first launch with a hit
	s, err := gpu.NewSearcher(c, opts)
	if err != nil {
		c.Close()
		return nil, fmt.Errorf("miner: gpu %d: %w", ordinal, err)
	}
	return &GPU{c: c, s: s}, nil
}

// OpenGPUs opens every CUDA device that passes its self-test, logging each
// device (name, compute capability, memory, driver) and each failure to
// log. It returns the usable solvers; the error is non-nil only if none is
// usable (it wraps gpu.ErrNoCUDA in the default build).
func OpenGPUs(log zerolog.Logger, opts gpu.SearchOptions) ([]*GPU, error) {
	devs, err := gpu.Devices()
	if err != nil {
		return nil, fmt.Errorf("miner: %w", err)
	}
	var (
		out  []*GPU
		errs []error
	)
	for _, d := range devs {
		g, err := NewGPU(d.Ordinal, opts)
		if err != nil {
			log.Warn().Err(err).Str("device", d.String()).Msg("GPU not used")
			errs = append(errs, err)
			continue
		}
		log.Info().Str("device", d.String()).Msg("GPU passed its self-test")
		out = append(out, g)
	}
	if len(out) == 0 {
		if len(errs) == 0 {
			return nil, fmt.Errorf("miner: %w", gpu.ErrNoDevice)
		}
		return nil, errors.Join(errs...)
	}
	return out, nil
}

// Device describes the solver's device.
func (g *GPU) Device() gpu.DeviceInfo { return g.c.Device() }

// Hashes returns the number of nonces tried by all Searches so far
// (updated after each Search).
func (g *GPU) Hashes() uint64 { return g.hashes.Load() }

// Search implements Solver. It returns the first valid nonce of the first
// device launch that finds one, re-checked on the CPU. When ctx is
// cancelled it returns within about two launches (milliseconds) with
// ctx.Err().
func (g *GPU) Search(ctx context.Context, job chain.PowJob, target [32]byte, start, count uint64) (uint64, bool, uint64, error) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.closed {
		return 0, false, 0, fmt.Errorf("miner: %w", gpu.ErrClosed)
	}
	if count == 0 {
		return 0, false, 0, ctx.Err()
	}
	if err := ctx.Err(); err != nil {
		return 0, false, 0, err
	}
	res, err := g.s.Search(gpu.JobFromMidstate([8]uint32(job.Mid), job.Tail, target), start, count, ctx.Done())
	g.hashes.Add(res.Searched)
	if err != nil {
		return 0, false, res.Searched, fmt.Errorf("miner: %s: %w", g.c.Device(), err)
	}
	for _, nonce := range res.Hits {
		if !chain.HashMeetsTarget(job.Hash(nonce), &target) {
			return 0, false, res.Searched, fmt.Errorf("%w: %s reported nonce %#x, which the CPU check rejects", ErrBadSolution, g.c.Device(), nonce)
		}
	}
	if len(res.Hits) > 0 {
		return res.Hits[0], true, res.Searched, nil
	}
	if res.Stopped {
		return 0, false, res.Searched, ctx.Err()
	}
	return 0, false, res.Searched, nil
}

// Close releases the device.
func (g *GPU) Close() error {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.closed {
		return nil
	}
	g.closed = true
	err := g.s.Close()
	if cerr := g.c.Close(); err == nil {
		err = cerr
	}
	return err
}
