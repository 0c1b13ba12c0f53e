package miner

import (
	"context"
	"errors"
	"fmt"
	"math"
	"sync"
	"time"

	"github.com/rs/zerolog"

	"github.com/gradientcoin/gradientcoin/chain"
)

var (
	// ErrNoSolver is returned by New without a Solver.
	ErrNoSolver = errors.New("miner: no solver")
	// ErrBadSolution is returned by Mine when the Solver reports a nonce
	// whose hash does not meet the target (a faulty solver); Mine checks
	// every reported nonce with chain.PowJob.Hash.
	ErrBadSolution = errors.New("miner: solver reported a nonce that does not meet the target")
)

// Config configures a Miner.
type Config struct {
	// Solver does the nonce search (required).
	Solver Solver
	// Batch is the number of nonces per Solver.Search call. Zero adapts it
	// to about BatchTime of work at the measured rate. Between batches the
	// miner updates its statistics and the header's timestamp.
	Batch uint64
	// BatchTime is the adaptive batch duration (default 250 ms).
	BatchTime time.Duration
	// MaxNonce is the last nonce tried for one timestamp (0 means
	// 2^64−1). When nonces 0..MaxNonce are exhausted the miner moves the
	// timestamp forward (to the clock, or by one second) and starts again
	// at nonce 0. With the full 64-bit space that takes decades, so the
	// coinbase needs no extra nonce; a small MaxNonce exists for tests.
	MaxNonce uint64
	// Clock returns unix seconds. If set, the timestamp is moved forward to
	// the clock between batches (never backwards), keeping long searches
	// current; if nil, the template's timestamp is kept until the nonce
	// space runs out.
	Clock func() int64
	// Log receives debug events; the zero Logger is silent.
	Log zerolog.Logger
}

// Stats are a Miner's counters.
type Stats struct {
	Hashes uint64        // nonces tried since New
	Busy   time.Duration // time spent inside Solver.Search
	Rate   float64       // hashes per second over the last batch
	Blocks uint64        // headers solved
}

// AvgRate is Hashes/Busy in hashes per second.
func (s Stats) AvgRate() float64 {
	if s.Busy <= 0 {
		return 0
	}
	return float64(s.Hashes) / s.Busy.Seconds()
}

// Miner solves header templates with a Solver. Mine may be called from one
// goroutine at a time; Stats from any.
type Miner struct {
	cfg   Config
	mu    sync.Mutex
	stats Stats
	batch uint64
}

// Batch bounds for the adaptive batch size.
const (
	minBatch = 1 << 12
	maxBatch = 1 << 40
)

// New returns a Miner.
func New(cfg Config) (*Miner, error) {
	if cfg.Solver == nil {
		return nil, ErrNoSolver
	}
	if cfg.BatchTime <= 0 {
		cfg.BatchTime = 250 * time.Millisecond
	}
	b := cfg.Batch
	if b == 0 {
		b = 1 << 16
	}
	return &Miner{cfg: cfg, batch: b}, nil
}

// Stats returns a snapshot of the counters.
func (m *Miner) Stats() Stats {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.stats
}

// Mine searches for a header equal to tmpl except for its nonce (and, when
// the nonce space runs out or a Clock is set, a later timestamp) whose
// hash meets the target tmpl.Bits encodes, and returns it. It returns
// ctx.Err() when ctx is cancelled (say, a new tip arrived), an error
// wrapping chain.ErrBadTarget for bits that are zero, negative or
// overflowing, or the Solver's error. tmpl.Nonce is ignored: the search
// starts at nonce 0.
func (m *Miner) Mine(ctx context.Context, tmpl chain.Header) (chain.Header, error) {
	target, neg, over := chain.CompactToBig(tmpl.Bits)
	if neg || over || target.Sign() <= 0 {
		return chain.Header{}, fmt.Errorf("%w: miner: bits %08x do not encode a positive 256-bit target", chain.ErrBadTarget, tmpl.Bits)
	}
	tle := chain.TargetBytes(target)
	last := m.cfg.MaxNonce
	if last == 0 {
		last = math.MaxUint64
	}
	h := tmpl
	h.Nonce = 0
	job := chain.NewPowJob(&h)
	next := uint64(0) // next nonce to try for the current timestamp
	for {
		if err := ctx.Err(); err != nil {
			return chain.Header{}, err
		}
		if m.cfg.Clock != nil {
			if now := m.cfg.Clock(); now > h.Timestamp {
				h.Timestamp = now
				job = chain.NewPowJob(&h)
				next = 0
			}
		}
		// Nonces next..last remain for this timestamp; rest+1 of them
		// (rest+1 overflows only for the full 2^64, above any batch).
		count, rest := m.batchSize(), last-next
		exhausts := rest < count // this batch reaches last
		if exhausts {
			count = rest + 1
		}
		t0 := time.Now()
		nonce, found, hashes, err := m.cfg.Solver.Search(ctx, job, tle, next, count)
		m.record(hashes, time.Since(t0), found)
		if found {
			if !chain.HashMeetsTarget(job.Hash(nonce), &tle) {
				return chain.Header{}, fmt.Errorf("%w: %T reported nonce %d for height %d", ErrBadSolution, m.cfg.Solver, nonce, h.Height)
			}
			h.Nonce = nonce
			m.cfg.Log.Debug().Uint64("height", h.Height).Uint64("nonce", nonce).Int64("timestamp", h.Timestamp).Msg("block solved")
			return h, nil
		}
		if err != nil {
			return chain.Header{}, err
		}
		if exhausts {
			// Nonce space exhausted for this timestamp: move time on.
			ts := h.Timestamp + 1
			if m.cfg.Clock != nil {
				ts = max(ts, m.cfg.Clock())
			}
			m.cfg.Log.Debug().Uint64("height", h.Height).Int64("timestamp", ts).Msg("nonce space exhausted; new timestamp")
			h.Timestamp = ts
			job = chain.NewPowJob(&h)
			next = 0
			continue
		}
		next += count
	}
}

func (m *Miner) batchSize() uint64 {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.batch
}

// record updates the counters and, for an adaptive miner, the batch size.
func (m *Miner) record(hashes uint64, d time.Duration, found bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.stats.Hashes += hashes
	m.stats.Busy += d
	if found {
		m.stats.Blocks++
	}
	if d > 0 && hashes > 0 {
		m.stats.Rate = float64(hashes) / d.Seconds()
	}
	if m.cfg.Batch == 0 && !found && d > time.Millisecond && hashes > 0 {
		want := m.stats.Rate * m.cfg.BatchTime.Seconds()
		m.batch = uint64(min(max(want, minBatch), maxBatch))
	}
}
