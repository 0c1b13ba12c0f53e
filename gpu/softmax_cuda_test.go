//go:build gccuda

package gpu

// GPU tests and benchmarks of the attention softmax kernels. They need a
// CUDA device: run them on the GPU machine with bench/gpu.sh.

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"
	"time"
)

var (
	testSoftmax    *Softmax
	testSoftmaxErr error
)

func softmax0(t testing.TB) *Softmax {
	t.Helper()
	c := device0(t)
	if testSoftmax == nil && testSoftmaxErr == nil {
		testSoftmax, testSoftmaxErr = NewSoftmax(c)
	}
	if testSoftmaxErr != nil {
		t.Fatalf("NewSoftmax: %v", testSoftmaxErr)
	}
	return testSoftmax
}

// TestSoftmaxSelfTestDevice runs the start-up known-answer checks.
func TestSoftmaxSelfTestDevice(t *testing.T) {
	s := softmax0(t)
	start := time.Now()
	if err := s.SelfTest(); err != nil {
		t.Fatal(err)
	}
	t.Logf("%s: softmax self-test passed in %v", s.Device(), time.Since(start))
}

// softmaxGPUChecks: rows of 16 to 8,192 columns, 512 rows (batch × heads
// up to 512) without the mask; causal squares of T = 16 .. 8,192 with
// batch × heads from 512 down to 1 (T² entries each); each on the planned
// kernel with both load paths, plus every other kind of kernel that fits
// on fewer rows.
func softmaxGPUChecks() []softmaxCheck {
	var cs []softmaxCheck
	seed := uint64(1000)
	add := func(sh SoftmaxShape) {
		for _, vector := range []bool{true, false} {
			if vector && sh.Cols%chunkWidth(sh.Precision, true) != 0 {
				continue
			}
			for _, force := range []softmaxKind{kindAuto, kindWarp, kindBlock, kindOnline} {
				c := softmaxCheck{sh: sh, vector: vector, force: force, inPlace: seed%4 == 1, seed: seed}
				if force != kindAuto {
					if _, err := planSoftmax(false, sh, vector, force); err != nil {
						continue
					}
					// Forced kinds: fewer rows (causal: whole squares up to
					// 2,048 columns, the first 2,048 rows beyond).
					if sh.Causal {
						c.sh.Rows = min(sh.Rows, 2*sh.Cols, 4096)
					} else {
						c.sh.Rows = min(sh.Rows, 64)
					}
				}
				seed++
				cs = append(cs, c)
			}
		}
	}
	for _, prec := range []Precision{F32, BF16} {
		for _, cols := range []int{16, 17, 33, 64, 100, 128, 256, 384, 1000, 1024, 1536, 2048, 3000, 4096, 8192} {
			add(SoftmaxShape{Rows: 512, Cols: cols, Scale: 0.125, Precision: prec})
		}
		for _, sq := range [][2]int{{512, 16}, {512, 32}, {256, 64}, {64, 128}, {16, 256}, {8, 512}, {4, 1024}, {2, 2048}, {1, 4096}, {1, 8192}} {
			bh, T := sq[0], sq[1]
			add(SoftmaxShape{Rows: bh * T, Cols: T, Scale: 0.125, Causal: true, Precision: prec})
		}
	}
	return cs
}

// TestSoftmaxMatchesReference: forward (P and lse) and backward on the
// device match the float64 references within softmaxTolerance (fp32:
// ‖err‖/‖ref‖ ≤ 2e-5, each entry ≤ 4e-5 of its row's largest; bf16:
// 6e-3 and 8e-3), masked entries exactly 0, every output written.
func TestSoftmaxMatchesReference(t *testing.T) {
	s := softmax0(t)
	for _, c := range softmaxGPUChecks() {
		t.Run(c.String(), func(t *testing.T) {
			if err := runSoftmaxCheck(deviceSoftmax{s}, c); err != nil {
				t.Fatal(err)
			}
		})
	}
}

// TestSoftmaxRepeatable: the same inputs give bit-identical outputs
// (no races between the threads of a row).
func TestSoftmaxRepeatable(t *testing.T) {
	s := softmax0(t)
	for _, c := range []softmaxCheck{
		{sh: SoftmaxShape{Rows: 4096, Cols: 1024, Scale: 0.1, Causal: true}, vector: true},
		{sh: SoftmaxShape{Rows: 300, Cols: 8192, Scale: 0.1}, vector: true},
		{sh: SoftmaxShape{Rows: 100, Cols: 40000, Scale: 0.1, Precision: BF16}, vector: true},
	} {
		r := rand.New(rand.NewPCG(5, 6))
		in, p, dp := softmaxInputs(r, c.sh)
		d := deviceSoftmax{s}
		var firstP, firstDS []float32
		for i := 0; i < 3; i++ {
			gotP, _, err := d.forward(c, in)
			if err != nil {
				t.Fatal(err)
			}
			gotDS, err := d.backward(c, p, dp)
			if err != nil {
				t.Fatal(err)
			}
			if i == 0 {
				firstP, firstDS = gotP, gotDS
				continue
			}
			if !slices.Equal(gotP, firstP) || !slices.Equal(gotDS, firstDS) {
				t.Fatalf("%v: run %d differs from run 0", c, i)
			}
		}
	}
}

// TestSoftmaxHostCalls: ForwardHost and BackwardHost (the model's path).
func TestSoftmaxHostCalls(t *testing.T) {
	s := softmax0(t)
	r := rand.New(rand.NewPCG(8, 9))
	for _, sh := range []SoftmaxShape{
		{Rows: 6 * 6, Cols: 6, Scale: 0.5, Causal: true},
		{Rows: 64 * 128, Cols: 128, Scale: 0.125, Causal: true},
		{Rows: 33, Cols: 3000, Scale: 0.3},
	} {
		in, p, dp := softmaxInputs(r, sh)
		got := make([]float32, sh.Elems())
		lse := make([]float32, sh.Rows)
		if err := s.ForwardHost(sh, got, in, lse); err != nil {
			t.Fatal(err)
		}
		want := make([]float32, sh.Elems())
		wantLSE := make([]float32, sh.Rows)
		SoftmaxForwardReference(want, in, wantLSE, sh)
		if err := compareRows(got, want, sh, "P", nil); err != nil {
			t.Fatalf("%+v: %v", sh, err)
		}
		// In place, without lse.
		inPlace := slices.Clone(in)
		if err := s.ForwardHost(sh, inPlace, inPlace, nil); err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(inPlace, got) {
			t.Fatalf("%+v: in-place forward differs", sh)
		}
		ds := make([]float32, sh.Elems())
		if err := s.BackwardHost(sh, ds, p, dp); err != nil {
			t.Fatal(err)
		}
		SoftmaxBackwardReference(want, p, dp, sh)
		if err := compareRows(ds, want, sh, "dS", backwardMagnitudes(p, dp, sh)); err != nil {
			t.Fatalf("%+v: %v", sh, err)
		}
	}
	sh := SoftmaxShape{Rows: 2, Cols: 3, Scale: 1}
	if err := s.ForwardHost(sh, make([]float32, 5), make([]float32, 6), nil); !errors.Is(err, ErrInvalid) {
		t.Errorf("short dst: %v", err)
	}
	sh.Precision = BF16
	if err := s.ForwardHost(sh, make([]float32, 6), make([]float32, 6), nil); !errors.Is(err, ErrInvalid) {
		t.Errorf("bf16 host call: %v", err)
	}
}

// softmaxBenchElems is the size of one benchmark matrix: 2^27 entries
// (512 MiB of fp32), ten times the H100's L2.
const softmaxBenchElems = 1 << 27

// BenchmarkSoftmaxGPU measures the effective bandwidth of the forward
// (read S, write P) and backward (read P and dP, write dS) kernels on
// matrices of 2^27 entries, rows of 128, 1,024 and 8,192 columns, fp32 and
// bf16, without the mask (as torch.softmax). Each iteration is one launch
// between two events, synchronized; GB/s is from the median launch.
func BenchmarkSoftmaxGPU(b *testing.B) {
	for _, dir := range []string{"fwd", "bwd"} {
		for _, prec := range []Precision{F32, BF16} {
			for _, cols := range []int{128, 1024, 8192} {
				b.Run(fmt.Sprintf("dir=%s/prec=%s/cols=%d", dir, prec, cols), func(b *testing.B) {
					benchSoftmax(b, dir == "bwd", SoftmaxShape{Rows: softmaxBenchElems / cols, Cols: cols, Scale: 0.125, Precision: prec}, kindAuto)
				})
			}
		}
	}
}

// BenchmarkSoftmaxGPUKind compares the kinds of kernel on the same rows
// (fp32), and the causal forward (bytes counted: the visible half read,
// all of P written).
func BenchmarkSoftmaxGPUKind(b *testing.B) {
	for _, dir := range []string{"fwd", "bwd"} {
		for _, cols := range []int{1024, 8192, 32768} {
			for _, kind := range []softmaxKind{kindWarp, kindBlock, kindOnline} {
				sh := SoftmaxShape{Rows: softmaxBenchElems / cols, Cols: cols, Scale: 0.125}
				if _, err := planSoftmax(dir == "bwd", sh, true, kind); err != nil {
					continue
				}
				b.Run(fmt.Sprintf("dir=%s/cols=%d/kind=%s", dir, cols, kind), func(b *testing.B) {
					benchSoftmax(b, dir == "bwd", sh, kind)
				})
			}
		}
		b.Run(fmt.Sprintf("dir=%s/cols=2048/causal", dir), func(b *testing.B) {
			benchSoftmax(b, dir == "bwd", SoftmaxShape{Rows: softmaxBenchElems / 2048, Cols: 2048, Scale: 0.125, Causal: true}, kindAuto)
		})
	}
}

func benchSoftmax(b *testing.B, bwd bool, sh SoftmaxShape, kind softmaxKind) {
	s := softmax0(b)
	c := s.c
	bytes := sh.Bytes()
	var bufs [3]DevicePtr
	for i := range bufs {
		p, err := c.Alloc(bytes)
		if err != nil {
			b.Fatal(err)
		}
		defer c.Free(p)
		bufs[i] = p
	}
	// Random inputs (never zeros): one random row block repeated.
	r := rand.New(rand.NewPCG(1, 2))
	chunkRows := max(1, (1<<22)/sh.Cols)
	chunk := SoftmaxShape{Rows: min(chunkRows, sh.Rows), Cols: sh.Cols, Scale: sh.Scale, Precision: sh.Precision}
	in, p, dp := softmaxInputs(r, chunk)
	fill := func(dst DevicePtr, v []float32) {
		enc := encodeElems(v, sh.Precision)
		for off := int64(0); off < bytes; off += int64(len(enc)) {
			n := min(int64(len(enc)), bytes-off)
			if err := c.CopyToDevice(dst+DevicePtr(off), enc[:n]); err != nil {
				b.Fatal(err)
			}
		}
	}
	run := func() error { return s.forward(nil, sh, bufs[1], bufs[0], 0, kind) }
	moved := 2 * bytes
	if sh.Causal {
		moved = bytes/2 + bytes // the visible half read (about), all written
	}
	if bwd {
		fill(bufs[0], p)
		fill(bufs[1], dp)
		run = func() error { return s.backward(nil, sh, bufs[2], bufs[0], bufs[1], kind) }
		moved = 3 * bytes
		if sh.Causal {
			moved = bytes + bytes
		}
	} else {
		fill(bufs[0], in)
	}
	start, err := c.NewEvent()
	if err != nil {
		b.Fatal(err)
	}
	defer start.Destroy()
	end, err := c.NewEvent()
	if err != nil {
		b.Fatal(err)
	}
	defer end.Destroy()
	st := s.Stream()
	once := func() time.Duration {
		if err := start.Record(st); err != nil {
			b.Fatal(err)
		}
		if err := run(); err != nil {
			b.Fatal(err)
		}
		if err := end.Record(st); err != nil {
			b.Fatal(err)
		}
		if err := end.Synchronize(); err != nil {
			b.Fatal(err)
		}
		d, err := start.Elapsed(end)
		if err != nil {
			b.Fatal(err)
		}
		return d
	}
	for i := 0; i < 5; i++ { // warm-up: module load, clocks
		once()
	}
	times := make([]time.Duration, 0, b.N)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		times = append(times, once())
	}
	b.StopTimer()
	slices.Sort(times)
	med := times[len(times)/2]
	b.ReportMetric(float64(moved)/med.Seconds()/1e9, "GB/s")
	b.ReportMetric(float64(med.Nanoseconds())/1e3, "us/launch")
}
