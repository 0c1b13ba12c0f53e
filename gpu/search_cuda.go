//go:build gccuda

package gpu

import (
	"encoding/binary"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/gradientcoin/gradientcoin/kernels"
)

// asyncHits is how many hit slots each launch copies back asynchronously
// with its counter; more (rare: tests with easy targets) are copied after.
const asyncHits = 64

// Searcher runs SHA-256d nonce searches on one Context. One search runs at a
// time (Search serializes); use one Searcher per device.
type Searcher struct {
	c        *Context
	fn       *Function // the kernel variant in use
	variant  KernelVariant
	fns      map[KernelVariant]*Function
	stream   *Stream
	opts     SearchOptions
	resident int // threads of one full wave
	slots    [2]*slot
	batch    uint32 // next launch size, adapted to opts.BatchTime

	mu     sync.Mutex
	closed bool
}

// slot is one launch in flight: its hit buffer on the device and in pinned
// host memory, and its timing events.
type slot struct {
	dev        DevicePtr
	host       *HostBuffer
	start, end *Event // around the kernel: its GPU time
	done       *Event // after the copy back: the host may read
	span       span
}

// NewSearcher loads the sha256d kernel on c and allocates a search's
// buffers.
func NewSearcher(c *Context, opts SearchOptions) (*Searcher, error) {
	opts, err := opts.withDefaults()
	if err != nil {
		return nil, err
	}
	mod, err := c.LoadModule(kernels.SHA256d)
	if err != nil {
		return nil, err
	}
	s := &Searcher{c: c, opts: opts, batch: firstBatch, fns: map[KernelVariant]*Function{}}
	for v, name := range map[KernelVariant]string{VariantALU: kernels.SHA256dSearch, VariantMAD: kernels.SHA256dSearchMAD} {
		if s.fns[v], err = mod.Function(name); err != nil {
			return nil, err
		}
	}
	first := opts.Variant
	if first == VariantAuto {
		first = VariantMAD
	}
	if err := s.use(first); err != nil {
		return nil, err
	}
	if s.stream, err = c.NewStream(); err != nil {
		return nil, err
	}
	for i := range s.slots {
		sl := &slot{}
		s.slots[i] = sl
		if sl.dev, err = c.Alloc(int64(8 + 8*opts.MaxHits)); err != nil {
			s.Close()
			return nil, err
		}
		if sl.host, err = c.AllocHost(8 + 8*min(opts.MaxHits, asyncHits)); err != nil {
			s.Close()
			return nil, err
		}
		if sl.start, err = c.NewEvent(); err != nil {
			s.Close()
			return nil, err
		}
		if sl.end, err = c.NewEvent(); err != nil {
			s.Close()
			return nil, err
		}
		if sl.done, err = c.NewEvent(); err != nil {
			s.Close()
			return nil, err
		}
	}
	if opts.Variant == VariantAuto {
		if err := s.calibrate(); err != nil {
			s.Close()
			return nil, err
		}
	}
	return s, nil
}

// use switches to a kernel variant and sizes launches for its occupancy.
func (s *Searcher) use(v KernelVariant) error {
	fn := s.fns[v]
	perSM, err := fn.MaxActiveBlocksPerSM(s.opts.BlockSize, 0)
	if err != nil {
		return err
	}
	if perSM < 1 {
		return fmt.Errorf("%w: %s cannot run %d threads per block on %s", ErrInvalid, fn.name, s.opts.BlockSize, s.c.info.Name)
	}
	s.fn, s.variant = fn, v
	s.resident = s.c.info.SMs * perSM * s.opts.BlockSize
	return nil
}

// calibrate times each kernel variant on a few full launches (best of
// three, after a warm-up) and keeps the faster.
func (s *Searcher) calibrate() error {
	job := Job{} // zero target: every nonce runs to the early reject
	p := newPrecomp(&job, 0)
	sl := s.slots[0]
	best, bestTime := VariantMAD, time.Duration(1<<62)
	for _, v := range []KernelVariant{VariantALU, VariantMAD} {
		if err := s.use(v); err != nil {
			return err
		}
		n := uint32(min(max(uint64(s.resident)*64, 1<<20), 1<<26))
		fastest := time.Duration(1 << 62)
		for i := 0; i < 4; i++ {
			if err := s.launch(sl, &p, span{lo: 0, n: n}); err != nil {
				return err
			}
			_, _, gpu, err := s.collect(sl)
			if err != nil {
				return err
			}
			if i > 0 && gpu < fastest {
				fastest = gpu
			}
		}
		if fastest < bestTime {
			best, bestTime = v, fastest
		}
	}
	return s.use(best)
}

// Variant is the kernel variant the searcher uses (after calibration when
// the options asked for VariantAuto).
func (s *Searcher) Variant() KernelVariant { return s.variant }

// Device describes the searcher's device.
func (s *Searcher) Device() DeviceInfo { return s.c.info }

// Close frees the searcher's buffers (not its Context).
func (s *Searcher) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil
	}
	s.closed = true
	var errs []error
	for _, sl := range s.slots {
		if sl == nil {
			continue
		}
		if sl.dev != 0 {
			errs = append(errs, s.c.Free(sl.dev))
		}
		if sl.host != nil {
			errs = append(errs, sl.host.Free())
		}
		if sl.start != nil {
			errs = append(errs, sl.start.Destroy())
		}
		if sl.end != nil {
			errs = append(errs, sl.end.Destroy())
		}
		if sl.done != nil {
			errs = append(errs, sl.done.Destroy())
		}
	}
	if s.stream != nil {
		errs = append(errs, s.stream.Destroy())
	}
	for _, e := range errs {
		if e != nil {
			return e
		}
	}
	return nil
}

// Search tries the nonces start, start+1, ..., start+count-1 (mod 2^64) for
// job, in short launches (about opts.BatchTime each, two in flight). Between
// launches it checks stop: once stop is closed (or readable) it launches no
// more, waits for the launches in flight, and returns with Stopped set. By
// default it also ends after the first launch that finds a valid nonce;
// with FindAll it covers the whole range. Every hit is a nonce the kernel
// found valid; callers that act on one re-check it on the CPU.
func (s *Searcher) Search(job Job, start, count uint64, stop <-chan struct{}) (SearchResult, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return SearchResult{}, ErrClosed
	}
	t0 := time.Now()
	var res SearchResult
	var (
		pos, left = start, count
		inflight  []*slot
		free      = []*slot{s.slots[0], s.slots[1]}
		pre       precomp
		preHi     uint32
		havePre   bool
		ending    bool
		firstErr  error
	)
	for {
		for !ending && firstErr == nil && left > 0 && len(free) > 0 {
			sp := nextSpan(pos, left, s.batch)
			if !havePre || preHi != sp.hi {
				pre, preHi, havePre = newPrecomp(&job, sp.hi), sp.hi, true
			}
			sl := free[0]
			if err := s.launch(sl, &pre, sp); err != nil {
				firstErr = err
				break
			}
			free = free[1:]
			inflight = append(inflight, sl)
			pos += uint64(sp.n)
			left -= uint64(sp.n)
		}
		if len(inflight) == 0 {
			break
		}
		sl := inflight[0]
		inflight = inflight[1:]
		hits, overflow, gpu, err := s.collect(sl)
		free = append(free, sl)
		if err != nil {
			if firstErr == nil {
				firstErr = err
			}
			continue // drain what is in flight before returning
		}
		res.Searched += uint64(sl.span.n)
		res.Hits = append(res.Hits, hits...)
		res.Overflow = res.Overflow || overflow
		if gpu > 0 {
			s.batch = nextBatchSize(float64(sl.span.n)/gpu.Seconds(), s.opts.BatchTime.Seconds())
		}
		if len(hits) > 0 && !s.opts.FindAll {
			ending = true
		}
		if !ending && stopped(stop) {
			ending, res.Stopped = true, true
		}
	}
	res.Elapsed = time.Since(t0)
	if firstErr != nil {
		return res, firstErr
	}
	return res, nil
}

func stopped(stop <-chan struct{}) bool {
	select {
	case <-stop:
		return true
	default:
		return false
	}
}

// launch enqueues one span: clear the counter, run the kernel between two
// timing events, copy the counter and the first hits back, record done.
func (s *Searcher) launch(sl *slot, p *precomp, sp span) error {
	sl.span = sp
	g := launchGeometry(sp.n, s.opts.BlockSize, s.resident)
	params := p.params(sp.lo, sp.n, g.iters, uint32(s.opts.MaxHits), uint64(sl.dev))
	return s.c.Do(func() error {
		if err := s.stream.memsetD32(sl.dev, 0, 2); err != nil {
			return err
		}
		if err := driverErr("cuEventRecord", sl.start.e.Record(s.stream.s)); err != nil {
			return err
		}
		if err := s.stream.launch(s.fn, Dim3{X: int(g.grid)}, Dim3{X: int(g.block)}, 0, params[:]); err != nil {
			return err
		}
		if err := driverErr("cuEventRecord", sl.end.e.Record(s.stream.s)); err != nil {
			return err
		}
		n := 8 + 8*min(s.opts.MaxHits, asyncHits)
		if err := s.stream.copyFromDevice(sl.host, 0, sl.dev, n); err != nil {
			return err
		}
		return driverErr("cuEventRecord", sl.done.e.Record(s.stream.s))
	})
}

// collect waits for a slot's launch and returns its hits in search order,
// whether the hit buffer overflowed, and the kernel's GPU time.
func (s *Searcher) collect(sl *slot) (hits []uint64, overflow bool, gpu time.Duration, err error) {
	err = s.c.Do(func() error {
		if err := driverErr("cuEventSynchronize", sl.done.e.Synchronize()); err != nil {
			return err
		}
		ms, err := sl.start.e.Elapsed(sl.end.e)
		if err != nil {
			return driverErr("cuEventElapsedTime", err)
		}
		gpu = time.Duration(ms * float64(time.Millisecond))
		return nil
	})
	if err != nil {
		return nil, false, 0, err
	}
	buf := sl.host.Bytes()
	count := int(binary.LittleEndian.Uint32(buf))
	if count == 0 {
		return nil, false, gpu, nil
	}
	stored := min(count, s.opts.MaxHits)
	hits = make([]uint64, stored)
	inAsync := min(stored, asyncHits)
	for i := 0; i < inAsync; i++ {
		hits[i] = binary.LittleEndian.Uint64(buf[8+8*i:])
	}
	if stored > inAsync {
		rest := make([]byte, 8*(stored-inAsync))
		if err := s.c.CopyFromDevice(rest, sl.dev+DevicePtr(8+8*inAsync)); err != nil {
			return nil, false, 0, err
		}
		for i := range stored - inAsync {
			hits[inAsync+i] = binary.LittleEndian.Uint64(rest[8*i:])
		}
	}
	// Within a span the high word is fixed and the low word does not wrap:
	// numeric order is search order.
	slices.Sort(hits)
	return hits, count > stored, gpu, nil
}

// SelfTest runs the known-answer nonce searches on c's device, with both
// kernel variants: each vector once with the normal launch shape and once
// squeezed onto a few blocks (so that every thread loops over many nonces). Any difference from the known
// hits is an ErrSelfTest naming the device and the vector; a device that
// fails must not be used.
func SelfTest(c *Context) error {
	for _, v := range []KernelVariant{VariantALU, VariantMAD} {
		if err := selfTest(c, v); err != nil {
			return err
		}
	}
	return nil
}

func selfTest(c *Context, v KernelVariant) error {
	s, err := NewSearcher(c, SearchOptions{FindAll: true, Variant: v})
	if err != nil {
		return err
	}
	defer s.Close()
	full := s.resident
	for _, resident := range []int{full, 2 * DefaultBlockSize} {
		s.resident = resident
		for _, ka := range knownAnswers() {
			res, err := s.Search(ka.job, ka.start, ka.count, nil)
			if err != nil {
				return fmt.Errorf("%w: %s (%s kernel) on %s: %w", ErrSelfTest, ka.name, v, c.info, err)
			}
			if !slices.Equal(res.Hits, ka.hits) || res.Searched != ka.count || res.Overflow {
				return fmt.Errorf("%w: %s (%s kernel) on %s (%d threads): found %#x in %d nonces, want %#x",
					ErrSelfTest, ka.name, v, c.info, resident, res.Hits, res.Searched, ka.hits)
			}
		}
	}
	return nil
}
