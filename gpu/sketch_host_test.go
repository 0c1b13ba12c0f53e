package gpu

// The sketch kernels without a GPU: testdata/sketch_host.cc compiles
// kernels/{sketch,desketch,fwht,topk,quant,apply}.cu as host C++ (CPU
// stand-ins for the CUDA built-ins, -ffp-contract=off) behind a small
// device protocol, and hostDev below is the engine's kdev on it. So these
// tests run the very launch sequences of the gccuda build (sketch_engine.go,
// parameter packing, pass plans, top-k steps) over the kernels' own source,
// and compare with chain/sketch and chain/state bit for bit. The GPU tests
// (sketch_cuda_test.go) repeat the comparisons with the compiled fatbins on
// a device.

import (
	"bufio"
	"bytes"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/gradientcoin/gradientcoin/chain/sketch"
	"github.com/gradientcoin/gradientcoin/chain/state"
	"github.com/gradientcoin/gradientcoin/kernels"
)

// hostSources are the files the harness is built from (its cache key).
var hostSources = []string{
	"testdata/sketch_host.cc",
	"../kernels/sketch_common.cuh", "../kernels/apply.cu", "../kernels/desketch.cu", "../kernels/fwht.cu",
	"../kernels/quant.cu", "../kernels/sketch.cu", "../kernels/topk.cu",
}

var (
	hostBinOnce sync.Once
	hostBinPath string
	hostBinErr  error
)

// hostBinary builds the harness once per source version (cached in the
// temp directory). SKETCH_HOST_SANITIZE=address or thread builds it with
// that sanitizer (out-of-bounds accesses, data races between a block's
// threads).
func hostBinary(t testing.TB) string {
	t.Helper()
	cxx := os.Getenv("CXX")
	if cxx == "" {
		cxx = "g++"
	}
	if _, err := exec.LookPath(cxx); err != nil {
		t.Skipf("no host C++ compiler (%s): %v", cxx, err)
	}
	hostBinOnce.Do(func() {
		args := []string{"-std=c++17", "-O2", "-Wall", "-Wextra", "-Werror", "-Wno-unknown-pragmas",
			"-Wno-unused-function", "-ffp-contract=off", "-pthread"}
		if san := os.Getenv("SKETCH_HOST_SANITIZE"); san != "" {
			args = append(args, "-fsanitize="+san, "-g", "-O1")
		}
		h := sha256.New()
		fmt.Fprintln(h, cxx, args)
		for _, f := range hostSources {
			b, err := os.ReadFile(f)
			if err != nil {
				hostBinErr = err
				return
			}
			h.Write(b)
		}
		hostBinPath = filepath.Join(os.TempDir(), "gradientcoin-sketch-host-"+hex.EncodeToString(h.Sum(nil))[:16])
		if _, err := os.Stat(hostBinPath); err == nil {
			return
		}
		tmp := hostBinPath + fmt.Sprintf(".%d.tmp", os.Getpid())
		cmd := exec.Command(cxx, append(args, "-o", tmp, "testdata/sketch_host.cc")...)
		if out, err := cmd.CombinedOutput(); err != nil {
			hostBinErr = fmt.Errorf("%s: %v\n%s", cmd, err, out)
			return
		}
		hostBinErr = os.Rename(tmp, hostBinPath)
	})
	if hostBinErr != nil {
		t.Fatal(hostBinErr)
	}
	return hostBinPath
}

// hostDev is a kdev on the harness process.
type hostDev struct {
	mu     sync.Mutex
	cmd    *exec.Cmd
	in     io.WriteCloser
	w      *bufio.Writer
	r      *bufio.Reader
	nsm    int
	smem   int
	allocs map[DevicePtr]int64
}

func newHostDev(t testing.TB) *hostDev {
	t.Helper()
	bin := hostBinary(t)
	cmd := exec.Command(bin)
	in, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	outp, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	d := &hostDev{cmd: cmd, in: in, w: bufio.NewWriterSize(in, 1<<20), r: bufio.NewReaderSize(outp, 1<<20),
		nsm: 2, smem: 48 << 10, allocs: map[DevicePtr]int64{}}
	t.Cleanup(func() {
		d.w.WriteByte('Q')
		d.w.Flush()
		d.in.Close()
		d.cmd.Wait()
	})
	return d
}

// hostEngine is an engine on a new harness with launch shapes scaled down
// for the CPU: small FWHT tiles (so that small transforms still take
// several passes), small one-block kernels.
func hostEngine(t testing.TB) *engine {
	e := newEngine(newHostDev(t))
	e.opts.fwhtTileLog2 = 7
	e.opts.fwhtColLog2 = 2
	e.opts.selectBlock = 64
	e.opts.blocksPerSM = 2
	return e
}

func (d *hostDev) u64(v uint64) { binary.Write(d.w, binary.LittleEndian, v) }
func (d *hostDev) u32(v uint32) { binary.Write(d.w, binary.LittleEndian, v) }
func (d *hostDev) name(s string) {
	binary.Write(d.w, binary.LittleEndian, uint16(len(s)))
	d.w.WriteString(s)
}

// reply flushes the request and reads the status.
func (d *hostDev) reply() error {
	if err := d.w.Flush(); err != nil {
		return err
	}
	st, err := d.r.ReadByte()
	if err != nil {
		return fmt.Errorf("sketch_host: %w", err)
	}
	if st == 0 {
		return nil
	}
	var n uint32
	if err := binary.Read(d.r, binary.LittleEndian, &n); err != nil {
		return err
	}
	msg := make([]byte, n)
	io.ReadFull(d.r, msg)
	return fmt.Errorf("sketch_host: %s", msg)
}

func (d *hostDev) alloc(bytes int64) (DevicePtr, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.w.WriteByte('A')
	d.u64(uint64(bytes))
	if err := d.reply(); err != nil {
		return 0, err
	}
	var p uint64
	if err := binary.Read(d.r, binary.LittleEndian, &p); err != nil {
		return 0, err
	}
	d.allocs[DevicePtr(p)] = bytes
	return DevicePtr(p), nil
}

func (d *hostDev) free(p DevicePtr) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	if _, ok := d.allocs[p]; !ok {
		return fmt.Errorf("free of %#x: not allocated", p)
	}
	delete(d.allocs, p)
	d.w.WriteByte('F')
	d.u64(uint64(p))
	return d.reply()
}

// check fails a copy that leaves its allocation.
func (d *hostDev) check(p DevicePtr, n int64) error {
	for base, size := range d.allocs {
		if p >= base && p+DevicePtr(n) <= base+DevicePtr(size) {
			return nil
		}
	}
	return fmt.Errorf("access of %d bytes at %#x outside every allocation", n, p)
}

func (d *hostDev) upload(dst DevicePtr, src []byte) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	if err := d.check(dst, int64(len(src))); err != nil {
		return err
	}
	d.w.WriteByte('W')
	d.u64(uint64(dst))
	d.u64(uint64(len(src)))
	d.w.Write(src)
	return d.reply()
}

func (d *hostDev) download(dst []byte, src DevicePtr) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	if err := d.check(src, int64(len(dst))); err != nil {
		return err
	}
	d.w.WriteByte('R')
	d.u64(uint64(src))
	d.u64(uint64(len(dst)))
	if err := d.reply(); err != nil {
		return err
	}
	_, err := io.ReadFull(d.r, dst)
	return err
}

func (d *hostDev) memset32(dst DevicePtr, v uint32, words int) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	if err := d.check(dst, 4*int64(words)); err != nil {
		return err
	}
	d.w.WriteByte('M')
	d.u64(uint64(dst))
	d.u32(v)
	d.u64(uint64(words))
	return d.reply()
}

func (d *hostDev) copyDtoD(dst, src DevicePtr, n int64) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	if err := d.check(dst, n); err != nil {
		return err
	}
	if err := d.check(src, n); err != nil {
		return err
	}
	d.w.WriteByte('C')
	d.u64(uint64(dst))
	d.u64(uint64(src))
	d.u64(uint64(n))
	return d.reply()
}

func (d *hostDev) launch(name string, grid, block Dim3, smem int, params []byte) error {
	if _, ok := sketchKernels[name]; !ok {
		return fmt.Errorf("launch of unknown kernel %q", name)
	}
	if smem > d.smem {
		return fmt.Errorf("%s: %d bytes of dynamic shared memory, limit %d", name, smem, d.smem)
	}
	grid, block = grid.norm(), block.norm()
	if grid.Y > 65535 || grid.Z > 65535 || block.X*block.Y*block.Z > 1024 {
		return fmt.Errorf("%s: launch shape %v x %v out of CUDA's limits", name, grid, block)
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	d.w.WriteByte('L')
	d.name(name)
	for _, v := range []int{grid.X, grid.Y, grid.Z, block.X, block.Y, block.Z, smem} {
		d.u32(uint32(v))
	}
	d.u32(0) // pad: dims are read as 8 words
	d.u32(uint32(len(params)))
	d.w.Write(params)
	return d.reply()
}

func (d *hostDev) argSize(name string) (int, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.w.WriteByte('S')
	d.name(name)
	if err := d.reply(); err != nil {
		return 0, err
	}
	var n uint64
	err := binary.Read(d.r, binary.LittleEndian, &n)
	return int(n), err
}

func (d *hostDev) sync() error               { return nil }
func (d *hostDev) run(fn func() error) error { return fn() }
func (d *hostDev) sms() int                  { return d.nsm }
func (d *hostDev) maxSmem() int              { return d.smem }

// ---------------------------------------------------------------- helpers

func edKey(seed [32]byte) ed25519.PrivateKey { return ed25519.NewKeyFromSeed(seed[:]) }

func testSeed(i int) [32]byte { return sha256.Sum256([]byte(fmt.Sprintf("gpu sketch test %d", i))) }

// randVec has values of mixed magnitudes and signs, some exact zeros and
// negative zeros, and repeated values (ties for top-k and medians).
func randVec(n int, seed uint64) []float32 {
	rng := rand.New(rand.NewPCG(seed, 0x6b6579))
	v := make([]float32, n)
	for i := range v {
		switch rng.IntN(16) {
		case 0:
			v[i] = 0
		case 1:
			v[i] = float32(math.Copysign(0, -1))
		case 2:
			v[i] = 0.25
		case 3:
			v[i] = -0.25
		default:
			v[i] = float32(rng.NormFloat64() * math.Exp2(float64(rng.IntN(20)-10)))
		}
	}
	return v
}

// sameBits reports the first index where a and b differ in their bits.
func sameBits(t testing.TB, what string, got, want []float32) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%s: %d values, want %d", what, len(got), len(want))
	}
	for i := range got {
		if math.Float32bits(got[i]) != math.Float32bits(want[i]) {
			n := 0
			for j := range got {
				if math.Float32bits(got[j]) != math.Float32bits(want[j]) {
					n++
				}
			}
			t.Fatalf("%s: %d of %d values differ; first at %d: got %v (%#08x), want %v (%#08x)",
				what, n, len(got), i, got[i], math.Float32bits(got[i]), want[i], math.Float32bits(want[i]))
		}
	}
}

// devVec uploads v to a fresh device buffer.
func devVec(t testing.TB, e *engine, v []float32) DevicePtr {
	t.Helper()
	p, err := e.dev.alloc(int64(max(4*len(v), 4)))
	if err != nil {
		t.Fatal(err)
	}
	if err := e.dev.upload(p, f32bytes(v)); err != nil {
		t.Fatal(err)
	}
	return p
}

func hostVec(t testing.TB, e *engine, p DevicePtr, n int) []float32 {
	t.Helper()
	v := make([]float32, n)
	if err := e.dev.download(f32bytes(v), p); err != nil {
		t.Fatal(err)
	}
	return v
}

// familyCase is a sketch config at a dimension.
type familyCase struct {
	name string
	cfg  sketch.Config
	d    int
}

// hostCases cover every family, small and odd sizes, SRHT with heavy row
// collisions and multi-pass transforms, sparse families with t = 1..5 and
// t > 3 (the insertion-sort median), top-k with k near 1 and near d.
func hostCases() []familyCase {
	c := func(name string, cfg sketch.Config, d int) familyCase {
		if cfg.QuantBits == 0 {
			cfg.QuantBits = 32
		}
		return familyCase{name, cfg, d}
	}
	return []familyCase{
		c("identity", sketch.Config{Family: sketch.Identity, Rows: 1000}, 1000),
		c("countsketch-t1", sketch.Config{Family: sketch.CountSketch, Rows: 97, NNZ: 1}, 5000),
		c("countsketch-t3", sketch.Config{Family: sketch.CountSketch, Rows: 300, NNZ: 3}, 7777),
		c("countsketch-topk-t3", sketch.Config{Family: sketch.CountSketch, Rows: 600, NNZ: 3, TopK: 500}, 20000),
		c("countsketch-topk-t2", sketch.Config{Family: sketch.CountSketch, Rows: 64, NNZ: 2, TopK: 1}, 3000),
		c("countsketch-topk-t5", sketch.Config{Family: sketch.CountSketch, Rows: 250, NNZ: 5, TopK: 2999}, 3000),
		c("countsketch-topk-t1-all", sketch.Config{Family: sketch.CountSketch, Rows: 40, NNZ: 1, TopK: 100}, 100),
		c("countsketch-topk-t4", sketch.Config{Family: sketch.CountSketch, Rows: 48, NNZ: 4, TopK: 700}, 4096),
		c("sparse1-t4", sketch.Config{Family: sketch.SparseEmbedding1, Rows: 200, NNZ: 4}, 6000),
		c("sparse1-t1", sketch.Config{Family: sketch.SparseEmbedding1, Rows: 10, NNZ: 1}, 33),
		c("sparse2-t2", sketch.Config{Family: sketch.SparseEmbedding2, Rows: 512, NNZ: 2}, 9000),
		c("srht-d1", sketch.Config{Family: sketch.SRHT, Rows: 1}, 1),
		c("srht-d2", sketch.Config{Family: sketch.SRHT, Rows: 2}, 2),
		c("srht-small", sketch.Config{Family: sketch.SRHT, Rows: 30}, 100),
		c("srht-collide", sketch.Config{Family: sketch.SRHT, Rows: 1000}, 1000),
		c("srht-3pass", sketch.Config{Family: sketch.SRHT, Rows: 700}, 70000),
		c("srht-pow2", sketch.Config{Family: sketch.SRHT, Rows: 256}, 16384),
		c("gaussian", sketch.Config{Family: sketch.Gaussian, Rows: 40}, 3001),
		c("gaussian-tile", sketch.Config{Family: sketch.Gaussian, Rows: 1100}, 1500),
		c("ams", sketch.Config{Family: sketch.AMS, Rows: 70}, 5000),
		c("ams-tail", sketch.Config{Family: sketch.AMS, Rows: 33}, 65),
	}
}

// ---------------------------------------------------------------- tests

// TestSketchParamLayout checks that the Go packing of every kernel's
// parameter struct has the size the (host-compiled) kernel has.
func TestSketchParamLayout(t *testing.T) {
	d := newHostDev(t)
	g := geom{}
	packed := map[string]int{
		kDsSparse:     len(dsArgs(&g, out{}, 0, 0, 0)),
		kFwhtPass:     len((&fwArgs{}).pack(&g)),
		kTopkPass2:    len((&topkArgs{}).pack()),
		kQRaw:         len((&qArgs{}).pack()),
		kApUpdate:     len((&apArgs{}).pack()),
		kSkReduceRows: len(skArgs(&g, 0, 0, 0, 0, 0)),
	}
	for name := range sketchKernels {
		n, err := d.argSize(name)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if n != sketchArgSizes[name] {
			t.Errorf("%s: kernel takes %d bytes, sketchArgSizes says %d", name, n, sketchArgSizes[name])
		}
		if p, ok := packed[name]; ok && p != n {
			t.Errorf("%s: Go packs %d bytes, kernel takes %d", name, p, n)
		}
	}
	// Every entry point is in its module's fatbin (extern "C" names).
	for name, mod := range sketchKernels {
		b, err := kernels.Fatbin(mod)
		if err != nil {
			t.Fatalf("%s: %v", mod, err)
		}
		if !bytes.Contains(b, []byte(name+"\x00")) {
			t.Errorf("%s.fatbin has no entry point %s", mod, name)
		}
	}
}

// TestSketchGeomMatchesEntries checks the constants geomOf derives against
// the reference's entries (same bits).
func TestSketchGeomMatchesEntries(t *testing.T) {
	for i, tc := range hostCases() {
		s, err := sketch.New(tc.cfg, tc.d, testSeed(i))
		if err != nil {
			t.Fatal(err)
		}
		g := geomOf(s)
		rng := rand.New(rand.NewPCG(uint64(i), 1))
		for n := 0; n < 200; n++ {
			row, col := rng.IntN(tc.cfg.Rows), rng.IntN(tc.d)
			want := s.Entry(row, col)
			var got float64
			switch tc.cfg.Family {
			case sketch.Identity:
				continue
			case sketch.Gaussian:
				c := uint64(row)*uint64(tc.d) + uint64(col)
				h1, h2 := g.key.Hash(2*c), g.key.Hash(2*c+1)
				var sum int32
				for _, h := range []uint64{h1, h2} {
					for l := 0; l < 4; l++ {
						sum += int32(h >> (16 * l) & 0xffff)
					}
				}
				got = float64(2*sum+8-8*65536) * g.dense
			case sketch.AMS:
				got = g.dense
				if want < 0 {
					got = -got
				}
			case sketch.SRHT:
				got = float64(g.srhtScale)
				if want < 0 {
					got = -got
				}
			default:
				// Entry sums the column's nonzeros that land on the row.
				row, _, _ = s.Nonzero(col, rng.IntN(tc.cfg.NNZ))
				want = s.Entry(row, col)
				for a := 0; a < tc.cfg.NNZ; a++ {
					if r, neg, _ := s.Nonzero(col, a); r == row {
						if neg {
							got -= float64(g.nzScale)
						} else {
							got += float64(g.nzScale)
						}
					}
				}
				if g.sqrtT != float32(math.Sqrt(float64(tc.cfg.NNZ))) {
					t.Fatalf("%s: sqrtT %v", tc.name, g.sqrtT)
				}
			}
			if got != want {
				t.Fatalf("%s: entry (%d, %d) = %v, geom gives %v", tc.name, row, col, want, got)
			}
		}
	}
}

func TestFWHTPlan(t *testing.T) {
	for L := uint32(0); L <= 30; L++ {
		for _, tile := range []uint32{2, 5, 7, 13, 15} {
			for _, cols := range []uint32{0, 1, 3, 5} {
				if cols >= tile {
					continue
				}
				plan := fwhtPlan(L, tile, cols)
				s := uint32(0)
				for _, p := range plan {
					if p.s0 != s || p.c > p.s0 || p.k+p.c > tile || (p.k == 0 && L > 0) {
						t.Fatalf("L=%d tile=%d cols=%d: bad pass %+v in %+v", L, tile, cols, p, plan)
					}
					s += p.k
				}
				if s != L {
					t.Fatalf("L=%d: plan covers %d stages: %+v", L, s, plan)
				}
			}
		}
	}
}

// TestHostDesketchExact: Transpose, Estimate and Desketch of every case,
// bit-identical to chain/sketch, both stored and fused into the weight
// update.
func TestHostDesketchExact(t *testing.T) {
	e := hostEngine(t)
	for i, tc := range hostCases() {
		t.Run(tc.name, func(t *testing.T) {
			s, err := sketch.New(tc.cfg, tc.d, testSeed(i))
			if err != nil {
				t.Fatal(err)
			}
			g := geomOf(s)
			y := randVec(tc.cfg.Rows, uint64(i))
			yd := devVec(t, e, y)
			defer e.dev.free(yd)
			ud, _ := e.dev.alloc(int64(4 * tc.d))
			defer e.dev.free(ud)

			want := make([]float32, tc.d)
			if err := s.Transpose(want, y); err != nil {
				t.Fatal(err)
			}
			if err := e.transpose(&g, yd, out{mode: outStore, dst: ud}); err != nil {
				t.Fatal(err)
			}
			sameBits(t, "transpose", hostVec(t, e, ud, tc.d), want)

			if tc.cfg.NNZ > 0 {
				if err := s.Estimate(want, y); err != nil {
					t.Fatal(err)
				}
				if err := e.estimate(&g, yd, ud, 0); err != nil {
					t.Fatal(err)
				}
				sameBits(t, "estimate", hostVec(t, e, ud, tc.d), want)
			}

			if err := s.Desketch(want, y); err != nil {
				t.Fatal(err)
			}
			e.dev.memset32(ud, 0xffffffff, tc.d) // poison
			if err := e.desketch(&g, yd, out{mode: outStore, dst: ud}); err != nil {
				t.Fatal(err)
			}
			sameBits(t, "desketch", hostVec(t, e, ud, tc.d), want)

			// Fused update: w' = w + coef·u, as state.Apply computes it.
			w := randVec(tc.d, uint64(100+i))
			coef := float32(0.37)
			wantW := make([]float32, tc.d)
			for j := range w {
				wantW[j] = w[j] + float32(coef*want[j])
			}
			wd := devVec(t, e, w)
			defer e.dev.free(wd)
			bad, _ := e.dev.alloc(4)
			defer e.dev.free(bad)
			e.dev.memset32(bad, noBadIndex, 1)
			e.dev.memset32(ud, 0xffffffff, tc.d)
			if err := e.desketch(&g, yd, out{mode: outApply, w: wd, wout: ud, bad: bad, coef: coef}); err != nil {
				t.Fatal(err)
			}
			sameBits(t, "apply", hostVec(t, e, ud, tc.d), wantW)
			if b, _ := e.readWord(bad); b != noBadIndex {
				t.Fatalf("finite update flagged weight %d", b)
			}
		})
	}
}

// TestHostFWHTSchedules: the SRHT cases with other pass plans (large
// register tiles, shared-memory passes only): the same bits.
func TestHostFWHTSchedules(t *testing.T) {
	for _, sched := range []struct {
		name       string
		tile, cols uint32
		smemOnly   bool
	}{{"tile10-reg", 10, 3, false}, {"tile6-smem", 6, 1, true}, {"tile9-cols0", 9, 0, false}} {
		e := hostEngine(t)
		e.opts.fwhtTileLog2, e.opts.fwhtColLog2, e.opts.fwhtSmemOnly = sched.tile, sched.cols, sched.smemOnly
		e.dev.(*hostDev).smem = 4 << 10 << 4
		for i, tc := range hostCases() {
			if tc.cfg.Family != sketch.SRHT {
				continue
			}
			if sched.smemOnly && tc.d > 20000 {
				continue // slow on the CPU: 2^17 values through 6-stage passes
			}
			s, err := sketch.New(tc.cfg, tc.d, testSeed(i))
			if err != nil {
				t.Fatal(err)
			}
			g := geomOf(s)
			y := randVec(tc.cfg.Rows, uint64(i))
			x := randVec(tc.d, uint64(200+i))
			wantU := make([]float32, tc.d)
			wantY := make([]float32, tc.cfg.Rows)
			s.Transpose(wantU, y)
			s.Apply(wantY, x)
			yd, xd := devVec(t, e, y), devVec(t, e, x)
			ud, _ := e.dev.alloc(int64(4 * tc.d))
			if err := e.transpose(&g, yd, out{mode: outStore, dst: ud}); err != nil {
				t.Fatal(err)
			}
			sameBits(t, sched.name+" "+tc.name+" transpose", hostVec(t, e, ud, tc.d), wantU)
			if err := e.forward(&g, xd, yd); err != nil {
				t.Fatal(err)
			}
			sameBits(t, sched.name+" "+tc.name+" forward", hostVec(t, e, yd, tc.cfg.Rows), wantY)
			e.dev.free(yd)
			e.dev.free(xd)
			e.dev.free(ud)
		}
	}
}

// TestHostForward: S·x. Identity and SRHT are exact; the others are within
// float rounding of the CPU's order and deterministic run to run.
func TestHostForward(t *testing.T) {
	e := hostEngine(t)
	for i, tc := range hostCases() {
		t.Run(tc.name, func(t *testing.T) {
			s, err := sketch.New(tc.cfg, tc.d, testSeed(i))
			if err != nil {
				t.Fatal(err)
			}
			g := geomOf(s)
			x := randVec(tc.d, uint64(200+i))
			want := make([]float32, tc.cfg.Rows)
			if err := s.Apply(want, x); err != nil {
				t.Fatal(err)
			}
			xd := devVec(t, e, x)
			defer e.dev.free(xd)
			yd, _ := e.dev.alloc(int64(4 * tc.cfg.Rows))
			defer e.dev.free(yd)
			if err := e.forward(&g, xd, yd); err != nil {
				t.Fatal(err)
			}
			got := hostVec(t, e, yd, tc.cfg.Rows)
			switch tc.cfg.Family {
			case sketch.Identity, sketch.SRHT:
				sameBits(t, "forward", got, want)
			default:
				checkClose(t, "forward", got, want, s, x)
			}
		})
	}
}

// checkClose compares a forward sketch with the reference: each value
// within 1e-5 of its row's magnitude Σ_j |S_ij x_j| (float rounding of a sum
// taken in another order).
func checkClose(t testing.TB, what string, got, want []float32, s *sketch.Sketch, x []float32) {
	t.Helper()
	mag := make([]float64, len(want))
	cfg := s.Config()
	switch cfg.Family {
	case sketch.CountSketch, sketch.SparseEmbedding1, sketch.SparseEmbedding2:
		for j, v := range x {
			for a := 0; a < cfg.NNZ; a++ {
				row, _, _ := s.Nonzero(j, a)
				mag[row] += math.Abs(float64(v))
			}
		}
	default:
		for i := range mag {
			for j, v := range x {
				mag[i] += math.Abs(s.Entry(i, j) * float64(v))
			}
		}
	}
	for i := range got {
		tol := 1e-5*mag[i] + 1e-30
		if math.IsNaN(float64(got[i])) || math.Abs(float64(got[i])-float64(want[i])) > tol {
			t.Fatalf("%s: value %d = %v, want %v ± %v", what, i, got[i], want[i], tol)
		}
	}
}

// TestHostTopK: sketch.TopK exactly, with ties, ±0, and the overflow path
// of the candidate list.
func TestHostTopK(t *testing.T) {
	e := hostEngine(t)
	overflows := 0
	defer func() {
		if overflows < 2 {
			t.Errorf("only %d cases took the overflow path", overflows)
		}
	}()
	for _, tc := range []struct {
		n, k, levels, cap int
	}{
		{1000, 1, 0, 1 << 20}, {1000, 999, 0, 1 << 20}, {5000, 100, 3, 1 << 20}, {5000, 2500, 1, 1 << 20},
		{5000, 100, 3, 8}, {5000, 2500, 1, 8}, {3000, 7, 0, 2}, {70000, 3000, 5, 1 << 20},
	} {
		t.Run(fmt.Sprintf("n=%d/k=%d/levels=%d/cap=%d", tc.n, tc.k, tc.levels, tc.cap), func(t *testing.T) {
			v := randVec(tc.n, uint64(tc.n+tc.k))
			if tc.levels > 0 { // few distinct magnitudes: many ties
				for j := range v {
					v[j] = float32(int(v[j]*4)%tc.levels) * 0.5
				}
			}
			want := append([]float32(nil), v...)
			sketch.TopK(want, tc.k)
			e.opts.topkCap = tc.cap
			defer func() { e.opts.topkCap = 1 << 20 }()
			vd := devVec(t, e, v)
			defer e.dev.free(vd)
			st, err := e.topk(vd, uint64(tc.n), uint64(tc.k), false)
			if err != nil {
				t.Fatal(err)
			}
			var raw [32]byte
			if err := e.dev.download(raw[:], st); err != nil {
				t.Fatal(err)
			}
			count, overflow := binary.LittleEndian.Uint32(raw[20:]), binary.LittleEndian.Uint32(raw[28:])
			if (count > uint32(tc.cap)) != (overflow == 1) {
				t.Fatalf("%d candidates, capacity %d, overflow flag %d", count, tc.cap, overflow)
			}
			overflows += int(overflow)
			if err := e.update(vd, st, uint64(tc.n), out{mode: outStore, dst: vd}); err != nil {
				t.Fatal(err)
			}
			sameBits(t, "topk", hostVec(t, e, vd, tc.n), want)
		})
	}
}

// TestHostQuantize: payloads byte for byte sketch.Quantize, and the
// aggregate and dequantization exactly sketch.DequantizeAdd / Dequantize.
func TestHostQuantize(t *testing.T) {
	b := newSketchBackend(newHostDev(t), nil)
	b.e.opts.blocksPerSM = 2
	defer b.Close()
	for i, cfg := range []sketch.Config{
		{Family: sketch.CountSketch, Rows: 1000, NNZ: 1, QuantBits: 32},
		{Family: sketch.CountSketch, Rows: 1000, NNZ: 1, QuantBits: 8, QuantBlock: 64},
		{Family: sketch.CountSketch, Rows: 1001, NNZ: 1, QuantBits: 8, QuantBlock: 7},
		{Family: sketch.CountSketch, Rows: 1001, NNZ: 1, QuantBits: 4, QuantBlock: 33},
		{Family: sketch.CountSketch, Rows: 999, NNZ: 1, QuantBits: 4, QuantBlock: 1000},
		{Family: sketch.CountSketch, Rows: 300, NNZ: 1, QuantBits: 8, QuantBlock: 300},
	} {
		var payloads [][]byte
		for k := 0; k < 3; k++ {
			y := randVec(cfg.Rows, uint64(10*i+k))
			if k == 2 {
				clear(y[:min(len(y), 2*max(cfg.QuantBlock, 1))]) // zero blocks: scale 0
			}
			want, err := sketch.Quantize(cfg, y)
			if err != nil {
				t.Fatal(err)
			}
			got, err := b.Quantize(cfg, y)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got, want) {
				t.Fatalf("%s: payload differs from sketch.Quantize", cfg)
			}
			payloads = append(payloads, got)
		}
		// Aggregate (Apply's sum from +0) and Dequantize (the first payload).
		wantAgg := make([]float32, cfg.Rows)
		for _, p := range payloads {
			if err := sketch.DequantizeAdd(cfg, wantAgg, p); err != nil {
				t.Fatal(err)
			}
		}
		wantFirst := make([]float32, cfg.Rows)
		if err := sketch.Dequantize(cfg, wantFirst, payloads[0]); err != nil {
			t.Fatal(err)
		}
		e := b.e
		dev, err := e.uploadPayloads(cfg, payloads)
		if err != nil {
			t.Fatal(err)
		}
		agg, _ := e.dev.alloc(int64(4 * cfg.Rows))
		flag, _ := e.dev.alloc(4)
		e.dev.memset32(flag, 0, 1)
		if err := e.aggregate(cfg, dev, len(payloads), aggSum, agg, flag); err != nil {
			t.Fatal(err)
		}
		sameBits(t, "aggregate", hostVec(t, e, agg, cfg.Rows), wantAgg)
		if err := e.aggregate(cfg, dev, 1, aggFirst, agg, flag); err != nil {
			t.Fatal(err)
		}
		sameBits(t, "dequantize", hostVec(t, e, agg, cfg.Rows), wantFirst)
		if f, _ := e.readWord(flag); f != 0 {
			t.Fatal("finite aggregate flagged")
		}
		e.dev.free(agg)
		e.dev.free(flag)
	}
	// Non-finite input is ErrNonFinite, as on the CPU.
	y := randVec(100, 1)
	y[37] = float32(math.Inf(-1))
	for _, cfg := range []sketch.Config{
		{Family: sketch.CountSketch, Rows: 100, NNZ: 1, QuantBits: 32},
		{Family: sketch.CountSketch, Rows: 100, NNZ: 1, QuantBits: 8, QuantBlock: 16},
	} {
		if _, err := b.Quantize(cfg, y); !errors.Is(err, sketch.ErrNonFinite) || !strings.Contains(err.Error(), "37") {
			t.Fatalf("%s: %v, want ErrNonFinite naming value 37", cfg, err)
		}
	}
}

// TestHostRootLeaves: the state root with leaves hashed by the kernel equals
// state.Root, for chunk sizes that are and are not multiples of 4 floats
// and leaves of every padding case.
func TestHostRootLeaves(t *testing.T) {
	e := hostEngine(t)
	for _, n := range []int{0, 1, 13, 14, 15, 16, 17, 100, 1000, 4099} {
		w := randVec(n, uint64(n))
		wd := devVec(t, e, w)
		for _, chunk := range []int{1, 2, 3, 4, 13, 14, 15, 16, 17, 29, 64, 1000, 1 << 14} {
			leaves, err := e.leaves(wd, n, chunk)
			if err != nil {
				t.Fatal(err)
			}
			if got, want := rootFromLeaves(leaves, n, chunk), state.Root(w, chunk); got != want {
				t.Fatalf("n=%d chunk=%d: root %x, want %x", n, chunk, got, want)
			}
		}
		e.dev.free(wd)
	}
}

// replayRules are chain/state's replay configurations (every family, on a
// 5,248-parameter model) plus the development network's rules.
func replayRules() []struct {
	name string
	r    state.Rules
} {
	small := state.ModelConfig{Kind: state.ModelGPT, Vocab: 32, Context: 16, Layers: 2, Width: 16, Heads: 2, MLPMult: 2, InitStd: 0.02}
	mk := func(sk sketch.Config) state.Rules {
		r := state.Rules{Model: small, Sketch: sk, InitSeed: sha256.Sum256([]byte("test init")), GlobalLR: 0.5,
			LocalLR: 0.01, LocalSteps: 4, MaxContributions: 8, ChunkSize: 256}
		r.MaxContributionBytes = state.ContributionSize(sk)
		return r
	}
	return []struct {
		name string
		r    state.Rules
	}{
		{"dev", state.DevRules()},
		{"countsketch-topk-int8", mk(sketch.Config{Family: sketch.CountSketch, Rows: 513, NNZ: 3, TopK: 200, QuantBits: 8, QuantBlock: 64})},
		{"countsketch-int4", mk(sketch.Config{Family: sketch.CountSketch, Rows: 512, NNZ: 1, QuantBits: 4, QuantBlock: 32})},
		{"sparse1-f32", mk(sketch.Config{Family: sketch.SparseEmbedding1, Rows: 512, NNZ: 4, QuantBits: 32})},
		{"sparse2-int8", mk(sketch.Config{Family: sketch.SparseEmbedding2, Rows: 512, NNZ: 4, QuantBits: 8, QuantBlock: 128})},
		{"srht-int8", mk(sketch.Config{Family: sketch.SRHT, Rows: 512, QuantBits: 8, QuantBlock: 512})},
		{"gaussian-f32", mk(sketch.Config{Family: sketch.Gaussian, Rows: 24, QuantBits: 32})},
		{"ams-int8", mk(sketch.Config{Family: sketch.AMS, Rows: 24, QuantBits: 8, QuantBlock: 8})},
		{"identity-int8", mk(sketch.Config{Family: sketch.Identity, Rows: 5248, QuantBits: 8, QuantBlock: 256})},
	}
}

// fakeDelta is chain/state's stand-in for K local steps (a pull towards a
// fixed target plus worker-specific noise), explicitly rounded.
func fakeDelta(w []float32, round, worker int) []float32 {
	k := sketch.Key{A: uint64(round)<<32 | uint64(worker), B: 0x5eed}
	target := sketch.Key{A: 1, B: 2}
	d := make([]float32, len(w))
	for j := range d {
		tj := float32(0.05 * target.Normal(uint64(j)))
		d[j] = float32(0.1*float32(tj-w[j])) + float32(1e-3*k.Normal(uint64(j)))
	}
	return d
}

// replayCompare runs rounds of blocks of nWorkers contributions (made on
// the CPU) from genesis, applying each block with state.Apply on the CPU,
// with state.ApplyWith and the backend, and with the Applier, and fails at
// the first state root that differs.
func replayCompare(t *testing.T, r state.Rules, rounds, nWorkers int, b *SketchBackend, a *Applier) {
	t.Helper()
	w, err := state.Genesis(r)
	if err != nil {
		t.Fatal(err)
	}
	wb := append([]float32(nil), w...)
	if err := a.SetWeights(w); err != nil {
		t.Fatal(err)
	}
	residual := make([][]float32, nWorkers)
	parent := sha256.Sum256([]byte("genesis block"))
	for round := 0; round < rounds; round++ {
		var raws [][]byte
		for i := 0; i < nWorkers; i++ {
			digest := sha256.Sum256([]byte(fmt.Sprintf("samples %d %d", round, i)))
			key := sha256.Sum256([]byte(fmt.Sprintf("worker %d", i)))
			c, res, err := state.MakeContribution(r, parent, fakeDelta(w, round, i), residual[i], edKey(key), digest)
			if err != nil {
				t.Fatalf("round %d worker %d: %v", round, i, err)
			}
			residual[i] = res
			raws = append(raws, c.Encode())
		}
		if err := state.Apply(r, w, parent, raws); err != nil {
			t.Fatalf("round %d: %v", round, err)
		}
		if err := state.ApplyWith(b, r, wb, parent, raws); err != nil {
			t.Fatalf("round %d (backend): %v", round, err)
		}
		if err := a.Apply(parent, raws); err != nil {
			t.Fatalf("round %d (applier): %v", round, err)
		}
		want := r.Root(w)
		if got := r.Root(wb); got != want {
			t.Fatalf("round %d: ApplyWith(backend) root %x, CPU %x", round, got[:8], want[:8])
		}
		got, err := a.Root()
		if err != nil {
			t.Fatal(err)
		}
		if got != want {
			gw := make([]float32, len(w))
			a.Weights(gw)
			sameBits(t, fmt.Sprintf("round %d applier weights", round), gw, w)
			t.Fatalf("round %d: Applier root %x, CPU %x (weights equal: root leaves differ)", round, got[:8], want[:8])
		}
		parent = sha256.Sum256(append(want[:], parent[:]...))
	}
}

// TestHostReplay: 50 blocks (several contributions each) applied on the
// CPU, through state.ApplyWith with the backend, and by the Applier, for
// every family: identical state roots after every block.
func TestHostReplay(t *testing.T) {
	for _, rc := range replayRules() {
		t.Run(rc.name, func(t *testing.T) {
			// The development rules (the practical configuration) over 50
			// blocks, the other families over 12 (a quarter of that under
			// the race detector); 50 each with SKETCH_HOST_FULL=1. The GPU
			// tests run 50 for every family.
			rounds, workers := 12, 3
			if rc.name == "dev" {
				rounds = 50
			}
			if raceBuild {
				rounds /= 4
			}
			if os.Getenv("SKETCH_HOST_FULL") != "" {
				rounds = 50
			}
			if testing.Short() {
				rounds = 3
			}
			dev := newHostDev(t)
			b := newSketchBackend(dev, nil)
			b.e.opts = hostEngine(t).opts
			w, _ := state.Genesis(rc.r)
			a, err := newApplier(dev, nil, rc.r, w)
			if err != nil {
				t.Fatal(err)
			}
			a.e.opts = b.e.opts
			defer a.Close()
			defer b.Close()
			replayCompare(t, rc.r, rounds, workers, b, a)
		})
	}
}

// TestHostApplierRejects: the Applier's checks and non-finite handling
// match state.Apply's error kinds, and a rejected block leaves the weights
// unchanged.
func TestHostApplierRejects(t *testing.T) {
	r := replayRules()[6].r // gaussian-f32: raw float payloads
	dev := newHostDev(t)
	w, _ := state.Genesis(r)
	a, err := newApplier(dev, nil, r, w)
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	a.e.opts = hostEngine(t).opts
	parent := sha256.Sum256([]byte("p"))
	mk := func(i int, y []float32, par [32]byte) []byte {
		p, err := sketch.Quantize(r.Sketch, y)
		if err != nil {
			t.Fatal(err)
		}
		c := &state.Contribution{Version: contributionVersion, Parent: par, Sketch: r.Sketch, Dim: r.Model.ParamCount(), Payload: p}
		key := sha256.Sum256([]byte(fmt.Sprintf("k%d", i)))
		if err := c.Sign(edKey(key)); err != nil {
			t.Fatal(err)
		}
		return c.Encode()
	}
	big := make([]float32, r.Sketch.Rows)
	for i := range big {
		big[i] = 3e38
	}
	ok := mk(0, randVec(r.Sketch.Rows, 1), parent)
	for _, tc := range []struct {
		name string
		raws [][]byte
		kind error
	}{
		{"wrong parent", [][]byte{mk(1, randVec(r.Sketch.Rows, 2), sha256.Sum256([]byte("q")))}, state.ErrWrongParent},
		{"duplicate", [][]byte{ok, ok}, state.ErrDuplicateContributor},
		{"aggregate overflow", [][]byte{mk(1, big, parent), mk(2, big, parent)}, state.ErrNonFinite},
		{"weights overflow", [][]byte{mk(1, big, parent)}, state.ErrNonFinite},
		{"bad encoding", [][]byte{ok[:10]}, state.ErrBadContribution},
	} {
		wCPU := append([]float32(nil), w...)
		cpuErr := state.Apply(r, wCPU, parent, tc.raws)
		gpuErr := a.Apply(parent, tc.raws)
		if !errors.Is(cpuErr, tc.kind) || !errors.Is(gpuErr, tc.kind) {
			t.Fatalf("%s: CPU %v, Applier %v, want %v", tc.name, cpuErr, gpuErr, tc.kind)
		}
		got := make([]float32, len(w))
		a.Weights(got)
		sameBits(t, tc.name+": weights after a rejected block", got, w)
	}
	if err := a.Apply(parent, [][]byte{ok}); err != nil {
		t.Fatal(err)
	}
}

// TestHostMakeContribution: the GPU worker path. Where the forward sketch
// is exact (Identity, SRHT) the contribution is byte for byte the CPU's;
// otherwise it verifies, its payload is close to the CPU's, and the
// residual is exactly v − Desketch(Dequantize(payload)).
func TestHostMakeContribution(t *testing.T) {
	for _, rc := range replayRules() {
		t.Run(rc.name, func(t *testing.T) {
			r := rc.r
			b := newSketchBackend(newHostDev(t), nil)
			b.e.opts = hostEngine(t).opts
			defer b.Close()
			w, _ := state.Genesis(r)
			parent := sha256.Sum256([]byte("parent"))
			key := edKey(sha256.Sum256([]byte("worker")))
			digest := sha256.Sum256([]byte("digest"))
			var resCPU, resGPU []float32
			for round := 0; round < 3; round++ {
				delta := fakeDelta(w, round, 0)
				cc, rc2, err := state.MakeContribution(r, parent, delta, resCPU, key, digest)
				if err != nil {
					t.Fatal(err)
				}
				gc, rg, err := b.MakeContribution(r, parent, delta, resGPU, key, digest)
				if err != nil {
					t.Fatal(err)
				}
				if err := state.CheckContribution(r, gc.Encode()); err != nil {
					t.Fatalf("GPU contribution does not verify: %v", err)
				}
				if gc.Version != cc.Version {
					t.Fatalf("version %d, CPU writes %d", gc.Version, cc.Version)
				}
				exact := r.Sketch.Family == sketch.Identity || r.Sketch.Family == sketch.SRHT
				if exact && round == 0 && !bytes.Equal(gc.Encode(), cc.Encode()) {
					t.Fatal("contribution differs from the CPU's")
				}
				// The residual from the GPU payload, on the CPU.
				v := append([]float32(nil), delta...)
				if resGPU != nil {
					for j := range v {
						v[j] += resGPU[j]
					}
				}
				want := make([]float32, len(v))
				if r.Sketch.TopK > 0 {
					sk, _ := r.NewSketch(parent)
					y := make([]float32, r.Sketch.Rows)
					if err := sketch.Dequantize(r.Sketch, y, gc.Payload); err != nil {
						t.Fatal(err)
					}
					u := make([]float32, len(v))
					if err := sk.Desketch(u, y); err != nil {
						t.Fatal(err)
					}
					for j := range v {
						want[j] = v[j] - u[j]
					}
				}
				sameBits(t, "residual", rg, want)
				if exact {
					sameBits(t, "residual vs CPU", rg, rc2)
				}
				resCPU, resGPU = rc2, rg
			}
		})
	}
}

// TestHostSketchSelfTest runs the device self-test on the host-compiled
// kernels (with the production launch shapes, scaled down).
func TestHostSketchSelfTest(t *testing.T) {
	b := newSketchBackend(newHostDev(t), nil)
	b.e.opts = hostEngine(t).opts
	defer b.Close()
	if err := b.SelfTest(); err != nil {
		t.Fatal(err)
	}
}
