package miner

import (
	"context"
	"crypto/sha256"
	"encoding"
	"encoding/binary"
	"hash"
	"runtime"
	"sync"
	"sync/atomic"

	"github.com/gradientcoin/gradientcoin/chain"
)

// Solver searches a range of nonces for one that makes a header's hash
// meet a target. The CPU solver (NewCPU) implements it; a GPU solver lives
// beside it in this package. A Solver is safe for one Search at a time;
// it may use many threads or a whole device inside one call.
type Solver interface {
	// Search tries the nonces start, start+1, …, start+count−1 (mod 2^64)
	// of job and reports one whose hash meets the target:
	// job.Hash(nonce), read as a little-endian 256-bit integer, is at most
	// the little-endian target (chain.HashMeetsTarget). Which one it
	// reports when several do is unspecified (a single-threaded search
	// reports the first). hashes is the number of nonces tried.
	//
	// When ctx is cancelled (a new tip arrived) Search returns promptly —
	// within a few thousand nonces per thread — with found false and
	// err = ctx.Err(), unless it had already found a nonce. Any other
	// error is a solver failure (a GPU fault, say): the caller may retry
	// or fall back to another solver.
	Search(ctx context.Context, job chain.PowJob, target [32]byte, start, count uint64) (nonce uint64, found bool, hashes uint64, err error)
}

// checkEvery is how many nonces a CPU thread tries between looks at the
// stop flag and updates of the hash counter.
const checkEvery = 2048

// CPU is a Solver on the processor's cores, using the header midstate and
// crypto/sha256 (SHA-NI or AVX2 where the CPU has them): per nonce it
// restores the hash state after the first 128 header bytes with the last
// 32 bytes already buffered, patches the nonce, finishes the first SHA-256
// (one compression) and hashes its digest (one more). No allocation per
// nonce.
type CPU struct {
	threads int
	hashes  atomic.Uint64
}

// NewCPU returns a CPU solver that splits each Search over threads
// goroutines (threads < 1 means runtime.NumCPU()).
func NewCPU(threads int) *CPU {
	if threads < 1 {
		threads = runtime.NumCPU()
	}
	return &CPU{threads: threads}
}

// Threads returns the number of goroutines a Search uses.
func (c *CPU) Threads() int { return c.threads }

// Hashes returns the number of nonces tried by all Searches so far,
// updated while a Search runs (every few thousand nonces per thread), so a
// caller can sample it for a live hash rate.
func (c *CPU) Hashes() uint64 { return c.hashes.Load() }

// Search implements Solver. The range is cut into Threads contiguous
// parts, one per goroutine; the first goroutine to find a nonce stops the
// others.
func (c *CPU) Search(ctx context.Context, job chain.PowJob, target [32]byte, start, count uint64) (uint64, bool, uint64, error) {
	if count == 0 {
		return 0, false, 0, ctx.Err()
	}
	if err := ctx.Err(); err != nil {
		return 0, false, 0, err
	}
	var stop atomic.Bool
	defer context.AfterFunc(ctx, func() { stop.Store(true) })()

	threads := uint64(c.threads)
	if threads > count {
		threads = count
	}
	var (
		wg      sync.WaitGroup
		mu      sync.Mutex
		found   bool
		winner  uint64
		total   atomic.Uint64
		per, rm = count / threads, count % threads
		lo      = start
	)
	for t := uint64(0); t < threads; t++ {
		n := per
		if t < rm {
			n++
		}
		wg.Add(1)
		go func(lo, n uint64) {
			defer wg.Done()
			nonce, ok, h := c.searchRange(&job, &target, lo, n, &stop)
			total.Add(h)
			if ok {
				mu.Lock()
				if !found {
					found, winner = true, nonce
				}
				mu.Unlock()
				stop.Store(true)
			}
		}(lo, n)
		lo += n // wraps mod 2^64, like the range
	}
	wg.Wait()
	if found {
		return winner, true, total.Load(), nil
	}
	return 0, false, total.Load(), ctx.Err()
}

// searchRange is one thread's loop over n nonces from lo.
func (c *CPU) searchRange(job *chain.PowJob, target *[32]byte, lo, n uint64, stop *atomic.Bool) (uint64, bool, uint64) {
	m := newMidHasher(job)
	var done uint64
	for done < n {
		if stop.Load() {
			break
		}
		chunk := min(n-done, checkEvery)
		for i := uint64(0); i < chunk; i++ {
			nonce := lo + done + i
			if h := m.hash(nonce); chain.HashMeetsTarget(h, target) {
				got := done + i + 1
				c.hashes.Add(got - done)
				return nonce, true, got
			}
		}
		done += chunk
		c.hashes.Add(chunk)
	}
	return 0, false, done
}

// midHasher computes job.Hash(nonce) with crypto/sha256 from the
// midstate. The stdlib digest's binary state (Go's documented,
// versioned MarshalBinary format "sha\x03" ‖ 8 state words ‖ 64-byte
// buffer ‖ length) is built from the job's midstate with the 32 tail bytes
// in the buffer and length 160; per nonce the nonce bytes are patched in
// and the state restored. If the format is ever not accepted, or the
// result disagrees with chain.PowJob.Hash, it falls back to the pure-Go
// PowJob.Hash.
type midHasher struct {
	job   *chain.PowJob
	d     hash.Hash
	u     encoding.BinaryUnmarshaler
	state [marshaledSize]byte
	first [sha256.Size]byte
	slow  bool
}

const (
	marshaledSize = 4 + 32 + 64 + 8
	tailLen       = chain.HeaderSize - 128
	nonceInTail   = tailLen - 8 // the nonce is the header's last 8 bytes
	stateNonceOff = 4 + 32 + nonceInTail
)

func newMidHasher(job *chain.PowJob) *midHasher {
	m := &midHasher{job: job, d: sha256.New()}
	u, ok := m.d.(encoding.BinaryUnmarshaler)
	if !ok {
		m.slow = true
		return m
	}
	m.u = u
	b := m.state[:0]
	b = append(b, "sha\x03"...)
	for _, w := range job.Mid {
		b = binary.BigEndian.AppendUint32(b, w)
	}
	b = append(b, job.Tail[:]...)
	b = append(b, make([]byte, 64-tailLen)...)
	b = binary.BigEndian.AppendUint64(b, chain.HeaderSize)
	if len(b) != marshaledSize {
		m.slow = true
		return m
	}
	// Self-check against the reference on two nonces.
	for _, n := range []uint64{0, 0x0123456789abcdef} {
		if m.fast(n) != job.Hash(n) {
			m.slow = true
			return m
		}
	}
	return m
}

func (m *midHasher) fast(nonce uint64) chain.Hash {
	binary.LittleEndian.PutUint64(m.state[stateNonceOff:], nonce)
	if err := m.u.UnmarshalBinary(m.state[:]); err != nil {
		m.slow = true
		return m.job.Hash(nonce)
	}
	m.d.Sum(m.first[:0])
	return chain.Hash(sha256.Sum256(m.first[:]))
}

func (m *midHasher) hash(nonce uint64) chain.Hash {
	if m.slow {
		return m.job.Hash(nonce)
	}
	return m.fast(nonce)
}
