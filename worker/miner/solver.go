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

// CPU is a Solver on the processor's cores. Per nonce it costs two SHA-256
// compressions: the header's last block from the midstate, and the second
// hash. On amd64 with the SHA extensions it runs both, for two nonces
// interleaved, in one assembly call (sha-ni); elsewhere it drives
// crypto/sha256 (with its own SHA-NI or AVX2 code) from the midstate
// through the digest's binary state; both are checked against
// chain.PowJob.Hash before use, with the pure-Go compression as the last
// resort (see Impl). No allocation per nonce.
type CPU struct {
	threads int
	impl    hashImpl // the fastest implementation to try
	hashes  atomic.Uint64
}

// NewCPU returns a CPU solver that splits each Search over threads
// goroutines (threads < 1 means runtime.NumCPU()).
func NewCPU(threads int) *CPU {
	if threads < 1 {
		threads = runtime.NumCPU()
	}
	return &CPU{threads: threads, impl: bestImpl()}
}

// Impl names the SHA-256 implementation a Search uses on this machine:
// "sha-ni" (this package's assembly for the SHA extensions),
// "crypto/sha256" (the standard library from the midstate) or "pure-go".
func (c *CPU) Impl() string {
	var h chain.Header
	j := chain.NewPowJob(&h)
	return newMidHasher(&j, c.impl).impl.String()
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
	m := newMidHasher(job, c.impl)
	var done uint64
	for done < n {
		if stop.Load() {
			break
		}
		chunk := min(n-done, checkEvery)
		i := uint64(0)
		for ; i+1 < chunk; i += 2 { // two nonces per step (interleaved on SHA-NI)
			nonce := lo + done + i
			h0, h1 := m.hash2(nonce)
			if chain.HashMeetsTarget(h0, target) {
				return c.found(nonce, done+i+1, done)
			}
			if chain.HashMeetsTarget(h1, target) {
				return c.found(nonce+1, done+i+2, done)
			}
		}
		if i < chunk {
			if nonce := lo + done + i; chain.HashMeetsTarget(m.hash(nonce), target) {
				return c.found(nonce, done+i+1, done)
			}
		}
		done += chunk
		c.hashes.Add(chunk)
	}
	return 0, false, done
}

// hashImpl names a way of computing SHA-256d from the midstate, fastest
// last.
type hashImpl int

const (
	implPureGo hashImpl = iota // chain.PowJob.Hash: portable Go compression
	implStdlib                 // crypto/sha256 (its SHA-NI/AVX2 code) through its binary state
	implSHANI                  // this package's SHA-NI assembly, both hashes (of two nonces) in one call
)

func (i hashImpl) String() string {
	switch i {
	case implSHANI:
		return "sha-ni"
	case implStdlib:
		return "crypto/sha256"
	}
	return "pure-go"
}

// bestImpl is the fastest implementation the processor supports.
func bestImpl() hashImpl {
	if haveSHANI {
		return implSHANI
	}
	return implStdlib
}

// found accounts for the hashes of a thread that found nonce after got
// nonces, done of which were already counted.
func (c *CPU) found(nonce, got, done uint64) (uint64, bool, uint64) {
	c.hashes.Add(got - done)
	return nonce, true, got
}

// midHasher computes job.Hash(nonce) from the midstate, no allocation per
// nonce, with the fastest implementation that passes a self-check against
// chain.PowJob.Hash:
//
//   - implSHANI: sha256dSHANI / sha256dSHANIx2, the compressions with the
//     SHA extensions (amd64 with SHA-NI), two nonces per call in hash2.
//   - implStdlib: crypto/sha256 through its binary state, Go's stable
//     MarshalBinary format "sha\x03" ‖ 8 state words (BE) ‖ 64-byte buffer ‖
//     length (BE), where the buffer holds length mod 64 pending bytes. For
//     each of the two hashes it restores a state whose buffer holds the
//     final, already padded block minus its last byte (63 pending), writes
//     that byte — which runs exactly one compression — and reads the state
//     words back with AppendBinary: they are the digest. This skips Sum's
//     copy and padding logic.
//   - implPureGo: chain.PowJob.Hash, if neither of the above is usable.
type midHasher struct {
	job  *chain.PowJob
	impl hashImpl

	// implSHANI
	block   [64]byte  // the header's last block, padded; the nonce at 24..31
	digest  [32]byte  //
	midX    [8]uint32 // the midstate in SHA-extension lane order
	blocks  [128]byte // two copies of block, for two nonces at once
	digests [64]byte

	// implStdlib
	d     hash.Hash
	u     encoding.BinaryUnmarshaler
	a     encoding.BinaryAppender
	first [marshaledSize]byte // midstate; tail, padding and length of the header, less the last byte
	secnd [marshaledSize]byte // IV; the first digest, padding and length, less the last byte
	out   [marshaledSize]byte
}

const (
	marshaledSize = 4 + 32 + 64 + 8
	stateWords    = 4                      // offset of the state words
	stateBuf      = stateWords + 32        // offset of the buffer
	tailLen       = chain.HeaderSize - 128 // header bytes in the last chunk
	nonceInBlock  = tailLen - 8            // the nonce is the header's last 8 bytes
	stateNonceOff = stateBuf + nonceInBlock
)

var lastByte = []byte{0} // the last byte of both padded blocks (bit lengths 1280 and 256 end in 0x00)

// appendState appends a marshaled SHA-256 state: words h, then the 64-byte
// block msg ‖ 0x80 ‖ zeros ‖ bitLen (BE) with 63 bytes pending.
func appendState(b []byte, h [8]uint32, msg []byte, bitLen uint64) []byte {
	b = append(b, "sha\x03"...)
	for _, w := range h {
		b = binary.BigEndian.AppendUint32(b, w)
	}
	b = append(b, paddedBlock(msg, bitLen)...)
	return binary.BigEndian.AppendUint64(b, bitLen/8/64*64+63) // length ≡ 63 (mod 64)
}

// paddedBlock returns msg ‖ 0x80 ‖ zeros ‖ bitLen (BE) as one 64-byte block.
func paddedBlock(msg []byte, bitLen uint64) []byte {
	var b [64]byte
	copy(b[:], msg)
	b[len(msg)] = 0x80
	binary.BigEndian.PutUint64(b[56:], bitLen)
	return b[:]
}

var sha256IV = [8]uint32{
	0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a,
	0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19,
}

// newMidHasher returns a hasher for job using the fastest implementation
// up to best that works here.
func newMidHasher(job *chain.PowJob, best hashImpl) *midHasher {
	m := &midHasher{job: job, midX: shaniOrder(job.Mid)}
	copy(m.block[:], paddedBlock(job.Tail[:], chain.HeaderSize*8))
	copy(m.blocks[:64], m.block[:])
	copy(m.blocks[64:], m.block[:])
	if d := sha256.New(); true {
		u, ok1 := d.(encoding.BinaryUnmarshaler)
		a, ok2 := d.(encoding.BinaryAppender)
		if ok1 && ok2 {
			m.d, m.u, m.a = d, u, a
			appendState(m.first[:0], job.Mid, job.Tail[:], chain.HeaderSize*8)
			appendState(m.secnd[:0], sha256IV, make([]byte, sha256.Size), sha256.Size*8)
		}
	}
	for impl := best; impl > implPureGo; impl-- {
		if impl == implSHANI && !haveSHANI || impl == implStdlib && m.d == nil {
			continue
		}
		m.impl = impl
		if m.selfCheck() {
			return m
		}
	}
	m.impl = implPureGo
	return m
}

// shaniOrder returns state words a..h as [f e b a h g d c]: the ABEF and
// CDGH registers of the SHA extensions, lane 0 first.
func shaniOrder(s chain.Midstate) [8]uint32 {
	return [8]uint32{s[5], s[4], s[1], s[0], s[7], s[6], s[3], s[2]}
}

// selfCheck compares the current implementation, one nonce and two at a
// time, with chain.PowJob.Hash.
func (m *midHasher) selfCheck() bool {
	for _, n := range []uint64{0, 0x0123456789abcdef, ^uint64(0)} {
		if got, ok := m.try(n); !ok || got != m.job.Hash(n) {
			return false
		}
		if m.impl == implSHANI {
			a, b := m.hash2(n)
			if a != m.job.Hash(n) || b != m.job.Hash(n+1) {
				return false
			}
		}
	}
	return true
}

// hash2 returns job.Hash(nonce) and job.Hash(nonce+1).
func (m *midHasher) hash2(nonce uint64) (chain.Hash, chain.Hash) {
	if m.impl != implSHANI {
		return m.hash(nonce), m.hash(nonce + 1)
	}
	binary.LittleEndian.PutUint64(m.blocks[nonceInBlock:], nonce)
	binary.LittleEndian.PutUint64(m.blocks[64+nonceInBlock:], nonce+1)
	sha256dSHANIx2(&m.midX, &m.blocks, &m.digests)
	return chain.Hash(m.digests[:32]), chain.Hash(m.digests[32:])
}

func (m *midHasher) try(nonce uint64) (chain.Hash, bool) {
	switch m.impl {
	case implSHANI:
		binary.LittleEndian.PutUint64(m.block[nonceInBlock:], nonce)
		sha256dSHANI((*[8]uint32)(&m.job.Mid), &m.block, &m.digest)
		return chain.Hash(m.digest), true
	case implStdlib:
		return m.stdlib(nonce)
	}
	return m.job.Hash(nonce), true
}

// stdlib is one nonce on the crypto/sha256 path; ok is false if the
// digest refused a state.
func (m *midHasher) stdlib(nonce uint64) (chain.Hash, bool) {
	binary.LittleEndian.PutUint64(m.first[stateNonceOff:], nonce)
	if m.u.UnmarshalBinary(m.first[:]) != nil {
		return chain.Hash{}, false
	}
	m.d.Write(lastByte)
	r, err := m.a.AppendBinary(m.out[:0])
	if err != nil || len(r) < stateBuf {
		return chain.Hash{}, false
	}
	copy(m.secnd[stateBuf:stateBuf+sha256.Size], r[stateWords:stateBuf])
	if m.u.UnmarshalBinary(m.secnd[:]) != nil {
		return chain.Hash{}, false
	}
	m.d.Write(lastByte)
	r, err = m.a.AppendBinary(m.out[:0])
	if err != nil || len(r) < stateBuf {
		return chain.Hash{}, false
	}
	return chain.Hash(r[stateWords:stateBuf]), true
}

// hash returns job.Hash(nonce).
func (m *midHasher) hash(nonce uint64) chain.Hash {
	if m.impl == implSHANI {
		binary.LittleEndian.PutUint64(m.block[nonceInBlock:], nonce)
		sha256dSHANI((*[8]uint32)(&m.job.Mid), &m.block, &m.digest)
		return chain.Hash(m.digest)
	}
	if h, ok := m.try(nonce); ok {
		return h
	}
	m.impl = implPureGo
	return m.job.Hash(nonce)
}
