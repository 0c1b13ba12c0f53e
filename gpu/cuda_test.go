//go:build gccuda

package gpu

// GPU tests: they need a CUDA device (gorgonia.org/cu exits at start-up
// without one, so CI only compiles this file: go test -c -tags gccuda). Run
// them on a GPU machine with bench/gpu.sh.

import (
	"errors"
	"math/rand/v2"
	"runtime"
	"slices"
	"sync"
	"testing"
	"time"
)

var (
	testCtxOnce sync.Once
	testCtx     *Context
	testCtxErr  error
)

// device0 is a context on device 0 shared by the tests.
func device0(t testing.TB) *Context {
	t.Helper()
	testCtxOnce.Do(func() { testCtx, testCtxErr = NewContext(0) })
	if testCtxErr != nil {
		t.Fatalf("NewContext(0): %v", testCtxErr)
	}
	return testCtx
}

func newTestSearcher(t testing.TB, opts SearchOptions) *Searcher {
	t.Helper()
	s, err := NewSearcher(device0(t), opts)
	if err != nil {
		t.Fatalf("NewSearcher: %v", err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// parallelStdSearch is stdSearch (crypto/sha256) over all cores.
func parallelStdSearch(h *[HeaderSize]byte, target [32]byte, start, count uint64) []uint64 {
	workers := uint64(runtime.GOMAXPROCS(0))
	chunk := (count + workers - 1) / workers
	parts := make([][]uint64, workers)
	var wg sync.WaitGroup
	for w := uint64(0); w < workers; w++ {
		lo := w * chunk
		if lo >= count {
			break
		}
		n := min(chunk, count-lo)
		wg.Add(1)
		go func() {
			defer wg.Done()
			parts[w] = stdSearch(h, target, start+lo, n)
		}()
	}
	wg.Wait()
	return slices.Concat(parts...)
}

// parallelReference is SearchReference over all cores.
func parallelReference(j Job, start, count uint64) []uint64 {
	workers := uint64(runtime.GOMAXPROCS(0))
	chunk := (count + workers - 1) / workers
	parts := make([][]uint64, workers)
	var wg sync.WaitGroup
	for w := uint64(0); w < workers; w++ {
		lo := w * chunk
		if lo >= count {
			break
		}
		n := min(chunk, count-lo)
		wg.Add(1)
		go func() {
			defer wg.Done()
			parts[w] = SearchReference(j, start+lo, n, 0)
		}()
	}
	wg.Wait()
	return slices.Concat(parts...)
}

func TestDevices(t *testing.T) {
	if !Available() {
		t.Fatal("cuda build says not Available")
	}
	devs, err := Devices()
	if err != nil {
		t.Fatal(err)
	}
	if len(devs) == 0 {
		t.Fatal("no devices")
	}
	for _, d := range devs {
		t.Logf("%s", d)
		if d.Name == "" || d.Major < 5 || d.TotalMem <= 0 || d.SMs <= 0 || d.Driver <= 0 {
			t.Errorf("implausible device info %+v", d)
		}
	}
	if _, err := NewContext(len(devs)); !errors.Is(err, ErrNoDevice) {
		t.Errorf("NewContext(%d): %v, want ErrNoDevice", len(devs), err)
	}
}

// TestSelfTestEveryDevice runs the start-up known-answer test on each device.
func TestSelfTestEveryDevice(t *testing.T) {
	devs, err := Devices()
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range devs {
		c := device0(t)
		if d.Ordinal != 0 {
			if c, err = NewContext(d.Ordinal); err != nil {
				t.Fatal(err)
			}
			defer c.Close()
		}
		start := time.Now()
		if err := SelfTest(c); err != nil {
			t.Errorf("%s: %v", d, err)
		}
		t.Logf("%s: self-test passed in %v", d, time.Since(start))
	}
}

// TestSearchMatchesCPU: over exhaustive ranges at the edges, the GPU finds
// exactly the nonces crypto/sha256 finds, and the pure-Go kernel twin agrees.
func TestSearchMatchesCPU(t *testing.T) {
	r := rand.New(rand.NewPCG(11, 12))
	const n = 1 << 20
	cases := []struct {
		name  string
		start uint64
		zeros int
	}{
		{"from-0", 0, 8},
		{"carry-2^32", 1<<32 - n/2, 9},
		{"wrap-2^64", 1<<64 - n/2, 9},
		{"random", r.Uint64(), 10},
		{"high-word-max", 0xffffffff00000000 + 12345, 7},
	}
	for i, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			h := randHeader(r)
			target := randTarget(r, c.zeros)
			if i%2 == 1 {
				target = katTarget(c.zeros) // round target: only the top limb decides
			}
			j := NewJob(h, target)
			want := parallelStdSearch(h, target, c.start, n)
			if ref := parallelReference(j, c.start, n); !slices.Equal(ref, want) {
				t.Fatalf("reference found %d, crypto/sha256 %d", len(ref), len(want))
			}
			for _, opts := range []SearchOptions{
				{FindAll: true, MaxHits: 1 << 14, Variant: VariantALU},
				{FindAll: true, MaxHits: 1 << 14, Variant: VariantMAD},
				{FindAll: true, MaxHits: 1 << 14, BlockSize: 128, BatchTime: MinBatchTime, Variant: VariantALU},
				{FindAll: true, MaxHits: 1 << 14, BlockSize: 128, BatchTime: MinBatchTime, Variant: VariantMAD},
			} {
				s := newTestSearcher(t, opts)
				s.batch = 1 << 16 // several launches even for this range
				res, err := s.Search(j, c.start, n, nil)
				if err != nil {
					t.Fatal(err)
				}
				if res.Searched != n || res.Overflow || res.Stopped {
					t.Fatalf("%+v: searched %d overflow %v stopped %v", opts, res.Searched, res.Overflow, res.Stopped)
				}
				if !slices.Equal(res.Hits, want) {
					t.Fatalf("%+v: GPU found %d nonces, CPU %d; first diff at %d", opts, len(res.Hits), len(want), firstDiff(res.Hits, want))
				}
				for _, nonce := range res.Hits {
					if !j.Check(nonce) {
						t.Fatalf("GPU hit %#x fails the CPU check", nonce)
					}
				}
				t.Logf("%+v: %d hits in %d nonces", opts, len(want), n)
			}
		})
	}
}

func firstDiff(a, b []uint64) int {
	for i := range min(len(a), len(b)) {
		if a[i] != b[i] {
			return i
		}
	}
	return min(len(a), len(b))
}

// TestSearchEqualTopLimb: targets equal to a digest in the range (and one
// less), so a nonce whose top limb equals the target's passes the early
// reject and the kernel's full 256-bit comparison decides.
func TestSearchEqualTopLimb(t *testing.T) {
	r := rand.New(rand.NewPCG(13, 14))
	const n = 1 << 16
	for k := 0; k < 4; k++ {
		s := newTestSearcher(t, SearchOptions{FindAll: true, MaxHits: 1 << 12, Variant: []KernelVariant{VariantALU, VariantMAD}[k%2]})
		h := randHeader(r)
		start := r.Uint64()
		digests := make([][32]byte, n)
		for i := range digests {
			digests[i] = stdDigest(h, start+uint64(i))
		}
		sorted := slices.Clone(digests)
		slices.SortFunc(sorted, func(a, b [32]byte) int {
			if a == b {
				return 0
			}
			if leLessEq(a, b) {
				return -1
			}
			return 1
		})
		exact := sorted[5+k] // the (6+k)-th smallest digest
		less := exact
		for i := 0; i < 32; i++ { // exact - 1, little-endian
			less[i]--
			if less[i] != 0xff {
				break
			}
		}
		for _, target := range [][32]byte{exact, less} {
			var want []uint64
			for i, d := range digests {
				if leLessEq(d, target) {
					want = append(want, start+uint64(i))
				}
			}
			res, err := s.Search(NewJob(h, target), start, n, nil)
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(res.Hits, want) {
				t.Fatalf("case %d target %x: GPU %#x, CPU %#x", k, target, res.Hits, want)
			}
		}
	}
}

// TestSearchFirstHit: without FindAll the search ends early and its first
// hit is the first valid nonce of the range.
func TestSearchFirstHit(t *testing.T) {
	h, target := katHeader(21), katTarget(16) // about 1 in 65536
	j := NewJob(h, target)
	want := parallelStdSearch(h, target, 1<<33, 1<<20)
	if len(want) == 0 {
		t.Fatal("no hit in the first 2^20 nonces for this vector")
	}
	s := newTestSearcher(t, SearchOptions{})
	res, err := s.Search(j, 1<<33, 1<<40, nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Hits) == 0 || res.Hits[0] != want[0] {
		t.Fatalf("first hit %#x, want %#x", res.Hits, want[0])
	}
	if res.Searched >= 1<<40 || res.Searched < want[0]-1<<33 {
		t.Fatalf("searched %d", res.Searched)
	}
	t.Logf("first hit %#x; searched %d nonces in %v", want[0], res.Searched, res.Elapsed)
}

// TestSearchStop: a long search returns within milliseconds of its stop
// channel closing.
func TestSearchStop(t *testing.T) {
	j := NewJob(katHeader(22), [32]byte{}) // no valid nonce
	s := newTestSearcher(t, SearchOptions{})
	stop := make(chan struct{})
	var closedAt time.Time
	go func() {
		time.Sleep(200 * time.Millisecond)
		closedAt = time.Now()
		close(stop)
	}()
	res, err := s.Search(j, 0, 1<<50, stop)
	if err != nil {
		t.Fatal(err)
	}
	latency := time.Since(closedAt)
	if !res.Stopped || len(res.Hits) != 0 {
		t.Fatalf("%+v", res)
	}
	t.Logf("stopped after %d nonces (%.2f GH/s); stop latency %v", res.Searched, res.Rate()/1e9, latency)
	if latency > 50*time.Millisecond {
		t.Errorf("stop took %v", latency)
	}
}

// TestSearchOverflow: more hits than MaxHits in a launch is reported, and
// the hits kept are valid.
func TestSearchOverflow(t *testing.T) {
	j := NewJob(katHeader(23), katTarget(2)) // 1 in 4 valid
	s := newTestSearcher(t, SearchOptions{FindAll: true, MaxHits: 100})
	res, err := s.Search(j, 0, 1<<12, nil)
	if err != nil {
		t.Fatal(err)
	}
	if !res.Overflow || len(res.Hits) != 100 {
		t.Fatalf("overflow %v, %d hits", res.Overflow, len(res.Hits))
	}
	for _, n := range res.Hits {
		if !j.Check(n) {
			t.Fatalf("hit %#x invalid", n)
		}
	}
}

// TestSearchLong covers several 2^32 boundaries with full-size launches.
func TestSearchLong(t *testing.T) {
	if testing.Short() {
		t.Skip("long")
	}
	j := NewJob(katHeader(24), [32]byte{})
	s := newTestSearcher(t, SearchOptions{FindAll: true, BatchTime: 50 * time.Millisecond})
	const n = 3<<32 + 12345
	res, err := s.Search(j, 1<<32-777, n, nil)
	if err != nil {
		t.Fatal(err)
	}
	if res.Searched != n || len(res.Hits) != 0 {
		t.Fatalf("%+v", res)
	}
	t.Logf("%d nonces in %v: %.3f GH/s", n, res.Elapsed, res.Rate()/1e9)
}

// TestLowLevel exercises memory, pinned buffers, streams and events.
func TestLowLevel(t *testing.T) {
	c := device0(t)
	free, total, err := c.MemInfo()
	if err != nil || free <= 0 || total < free {
		t.Fatalf("MemInfo %d %d %v", free, total, err)
	}
	p, err := c.Alloc(4096)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Free(p)
	src := make([]byte, 4096)
	for i := range src {
		src[i] = byte(i * 31)
	}
	if err := c.CopyToDevice(p, src); err != nil {
		t.Fatal(err)
	}
	dst := make([]byte, 4096)
	if err := c.CopyFromDevice(dst, p); err != nil || !slices.Equal(src, dst) {
		t.Fatalf("round trip: %v", err)
	}
	st, err := c.NewStream()
	if err != nil {
		t.Fatal(err)
	}
	defer st.Destroy()
	hb, err := c.AllocHost(4096)
	if err != nil {
		t.Fatal(err)
	}
	defer hb.Free()
	e0, _ := c.NewEvent()
	e1, _ := c.NewEvent()
	defer e0.Destroy()
	defer e1.Destroy()
	if err := e0.Record(st); err != nil {
		t.Fatal(err)
	}
	if err := st.MemsetD32Async(p, 0xA5A5A5A5, 1024); err != nil {
		t.Fatal(err)
	}
	if err := st.CopyFromDeviceAsync(hb, 0, p, 4096); err != nil {
		t.Fatal(err)
	}
	if err := e1.Record(st); err != nil {
		t.Fatal(err)
	}
	if err := e1.Synchronize(); err != nil {
		t.Fatal(err)
	}
	if done, err := e1.Done(); !done || err != nil {
		t.Fatalf("Done %v %v", done, err)
	}
	for i, b := range hb.Bytes() {
		if b != 0xA5 {
			t.Fatalf("byte %d = %#x", i, b)
		}
	}
	if _, err := e0.Elapsed(e1); err != nil {
		t.Fatal(err)
	}
	if err := st.CopyFromDeviceAsync(hb, 4000, p, 200); !errors.Is(err, ErrInvalid) {
		t.Errorf("overlong async copy: %v", err)
	}
	m, err := c.LoadModule("sha256d")
	if err != nil {
		t.Fatal(err)
	}
	f, err := m.Function("sha256d_search")
	if err != nil {
		t.Fatal(err)
	}
	regs, err := f.Attribute(FuncAttrNumRegs)
	if err != nil {
		t.Fatal(err)
	}
	if err := f.SetAttribute(FuncAttrPreferredSharedCarveout, 0); err != nil {
		t.Fatal(err)
	}
	occ, err := f.MaxActiveBlocksPerSM(256, 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("sha256d_search: %d registers, %d blocks of 256 per SM", regs, occ)
	if _, err := m.Function("nope"); !errors.Is(err, ErrDriver) {
		t.Errorf("missing function: %v", err)
	}
	if _, err := c.LoadModule("nope"); err == nil {
		t.Error("missing module loaded")
	}
	if err := c.Do(func() error { panic("boom") }); err == nil {
		t.Error("panic not returned")
	}
}

func TestContextClose(t *testing.T) {
	c, err := NewContext(0)
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	if err := c.Do(func() error { return nil }); !errors.Is(err, ErrClosed) {
		t.Fatalf("Do after Close: %v", err)
	}
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
}

// BenchmarkNonceSearchGPU measures G nonces/s on device 0 with the default
// options: each iteration is one synchronous Search of 2^32 nonces with an
// impossible target (every nonce fully hashed to the early reject).
func BenchmarkNonceSearchGPU(b *testing.B) {
	benchGPU(b, SearchOptions{FindAll: true})
}

// BenchmarkNonceSearchGPUVariant measures each kernel variant.
func BenchmarkNonceSearchGPUVariant(b *testing.B) {
	for _, v := range []KernelVariant{VariantALU, VariantMAD} {
		b.Run("variant="+v.String(), func(b *testing.B) {
			benchGPU(b, SearchOptions{FindAll: true, Variant: v})
		})
	}
}

// TestCalibration reports which variant VariantAuto picks.
func TestCalibration(t *testing.T) {
	s := newTestSearcher(t, SearchOptions{})
	if v := s.Variant(); v != VariantALU && v != VariantMAD {
		t.Fatalf("auto picked %v", v)
	}
	t.Logf("VariantAuto picked the %s kernel on %s", s.Variant(), s.Device())
}

// BenchmarkNonceSearchGPUShape sweeps block sizes and launch lengths.
func BenchmarkNonceSearchGPUShape(b *testing.B) {
	for _, block := range []int{64, 128, 256} {
		for _, bt := range []time.Duration{10 * time.Millisecond, 50 * time.Millisecond} {
			b.Run("block="+itoa(block)+"/batch="+bt.String(), func(b *testing.B) {
				benchGPU(b, SearchOptions{FindAll: true, BlockSize: block, BatchTime: bt})
			})
		}
	}
}

func itoa(n int) string {
	if n == 0 {
		return "0"
	}
	var b []byte
	for ; n > 0; n /= 10 {
		b = append([]byte{byte('0' + n%10)}, b...)
	}
	return string(b)
}

func benchGPU(b *testing.B, opts SearchOptions) {
	s := newTestSearcher(b, opts)
	j := NewJob(katHeader(25), [32]byte{})
	const per = 1 << 32
	// Warm up: the first launches size the batches.
	if _, err := s.Search(j, 0, 1<<30, nil); err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	var nonces uint64
	for i := 0; i < b.N; i++ {
		res, err := s.Search(j, uint64(i+1)*per, per, nil) // returns when the GPU is done
		if err != nil {
			b.Fatal(err)
		}
		nonces += res.Searched
	}
	b.ReportMetric(float64(nonces)/b.Elapsed().Seconds()/1e9, "GH/s")
	b.Logf("kernel variant %s", s.Variant())
}
