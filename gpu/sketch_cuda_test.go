//go:build gccuda

package gpu

// GPU tests and benchmarks of the sketch kernels. They need a CUDA device
// (CI only compiles them); bench/gpu.sh runs them on the GPU machine and
// turns the benchmarks into RESULT lines beside bench/torch_sketch.py's
// PyTorch figures from the same run.

import (
	"crypto/sha256"
	"fmt"
	"math"
	"sync"
	"testing"
	"time"

	"github.com/gradientcoin/gradientcoin/chain/sketch"
	"github.com/gradientcoin/gradientcoin/chain/state"
)

func newGPUSketch(t testing.TB) *SketchBackend {
	t.Helper()
	b, err := NewSketchBackend(device0(t))
	if err != nil {
		t.Fatalf("NewSketchBackend: %v", err)
	}
	t.Cleanup(func() { b.Close() })
	return b
}

// gpuFamilies are chain/sketch's benchmark configurations (sparse families
// and SRHT at m = d/100, the dense Gaussian and AMS at m = 16, whose cost
// is m·d), plus the development network's count-sketch shape (t = 3).
var gpuFamilies = []string{"countsketch", "countsketch-t3", "countsketch-topk", "sparse1", "sparse2", "srht", "gaussian", "ams", "identity"}

func gpuConfig(family string, d int) sketch.Config {
	m := d / 100
	switch family {
	case "gaussian":
		return sketch.Config{Family: sketch.Gaussian, Rows: 16, QuantBits: 32}
	case "ams":
		return sketch.Config{Family: sketch.AMS, Rows: 16, QuantBits: 32}
	case "srht":
		return sketch.Config{Family: sketch.SRHT, Rows: m, QuantBits: 32}
	case "countsketch":
		return sketch.Config{Family: sketch.CountSketch, Rows: m, NNZ: 1, QuantBits: 32}
	case "countsketch-t3":
		return sketch.Config{Family: sketch.CountSketch, Rows: m / 3 * 3, NNZ: 3, QuantBits: 32}
	case "countsketch-topk":
		return sketch.Config{Family: sketch.CountSketch, Rows: m / 5 * 5, NNZ: 5, TopK: m / 2, QuantBits: 32}
	case "sparse1":
		return sketch.Config{Family: sketch.SparseEmbedding1, Rows: m, NNZ: 4, QuantBits: 32}
	case "sparse2":
		return sketch.Config{Family: sketch.SparseEmbedding2, Rows: m / 4 * 4, NNZ: 4, QuantBits: 32}
	case "identity":
		return sketch.Config{Family: sketch.Identity, Rows: d, QuantBits: 32}
	}
	panic("unknown family " + family)
}

var gpuDims = []struct {
	name string
	d    int
}{{"1e5", 100_000}, {"1e6", 1_000_000}, {"1e7", 10_000_000}, {"1e8", 100_000_000}}

// normalVec is n pinned normal variates of stream (in parallel).
func normalVec(n int, stream uint64) []float32 {
	v := make([]float32, n)
	k := sketch.Key{A: stream, B: 0x9e57}
	sketch.ParallelFor(n, 1<<16, func(lo, hi int) {
		for i := lo; i < hi; i++ {
			v[i] = k.Normal(uint64(i))
		}
	})
	return v
}

func TestSketchSelfTestGPU(t *testing.T) {
	if err := newGPUSketch(t).SelfTest(); err != nil {
		t.Fatal(err)
	}
}

// TestSketchFamiliesGPU: for every family and d = 1e5 … 1e8 the GPU's
// de-sketch (Transpose, and Desketch with top-k recovery) is bit-identical
// to the CPU's, and its forward sketch equals the CPU's (SRHT, Identity) or
// is within float rounding of it (‖gpu − cpu‖/‖cpu‖ ≤ 1e-5).
func TestSketchFamiliesGPU(t *testing.T) {
	b := newGPUSketch(t)
	for _, dd := range gpuDims {
		x := normalVec(dd.d, 1)
		for _, f := range gpuFamilies {
			t.Run(fmt.Sprintf("family=%s/d=%s", f, dd.name), func(t *testing.T) {
				cfg := gpuConfig(f, dd.d)
				s, err := sketch.New(cfg, dd.d, sha256.Sum256([]byte("gpu test "+f)))
				if err != nil {
					t.Fatal(err)
				}
				t0 := time.Now()
				want := make([]float32, cfg.Rows)
				if err := s.Apply(want, x); err != nil {
					t.Fatal(err)
				}
				cpuFwd := time.Since(t0)
				got := make([]float32, cfg.Rows)
				for i := range got {
					got[i] = float32(math.NaN()) // poison
				}
				t0 = time.Now()
				if err := b.Sketch(s, got, x); err != nil {
					t.Fatal(err)
				}
				gpuFwd := time.Since(t0)
				if cfg.Family == sketch.SRHT || cfg.Family == sketch.Identity {
					sameBits(t, "sketch", got, want)
				} else if e := relErr(got, want); !(e <= 1e-5) {
					t.Fatalf("sketch: relative error %g", e)
				}
				// De-sketch the CPU's sketch: bit-exact.
				y := want
				wantU := make([]float32, dd.d)
				gotU := make([]float32, dd.d)
				t0 = time.Now()
				if err := s.Desketch(wantU, y); err != nil {
					t.Fatal(err)
				}
				cpuDs := time.Since(t0)
				for i := range gotU {
					gotU[i] = float32(math.NaN())
				}
				t0 = time.Now()
				if err := b.Desketch(s, gotU, y); err != nil {
					t.Fatal(err)
				}
				gpuDs := time.Since(t0)
				sameBits(t, "desketch", gotU, wantU)
				if cfg.TopK > 0 {
					if err := s.Transpose(wantU, y); err != nil {
						t.Fatal(err)
					}
					if err := b.Transpose(s, gotU, y); err != nil {
						t.Fatal(err)
					}
					sameBits(t, "transpose", gotU, wantU)
				}
				t.Logf("cpu sketch %v desketch %v; gpu (with host copies) sketch %v desketch %v", cpuFwd, cpuDs, gpuFwd, gpuDs)
			})
		}
	}
}

// TestSketchTopKGPU: sketch.TopK exactly at large n, with heavy ties and
// the candidate list's overflow path.
func TestSketchTopKGPU(t *testing.T) {
	b := newGPUSketch(t)
	for _, tc := range []struct{ n, k, levels int }{
		{10_000_000, 1000, 0}, {10_000_000, 5_000_000, 0}, {10_000_000, 12345, 7}, {100_000_000, 100_000, 0},
	} {
		v := normalVec(tc.n, uint64(tc.n+tc.k))
		if tc.levels > 0 {
			for j := range v {
				v[j] = float32(int(v[j]*4)%tc.levels) * 0.5
			}
		}
		want := append([]float32(nil), v...)
		sketch.TopK(want, tc.k)
		if err := b.TopK(v, tc.k); err != nil {
			t.Fatal(err)
		}
		sameBits(t, fmt.Sprintf("topk n=%d k=%d", tc.n, tc.k), v, want)
	}
}

// TestApplyReplayGPU: 50 blocks of 3 contributions, applied by state.Apply
// on the CPU, by state.ApplyWith with the GPU backend and by the GPU
// Applier: the same state root after every block, for every family (on a
// 5,248-parameter model), the development rules and a 9.6M-parameter
// model with the development network's sketch shape.
func TestApplyReplayGPU(t *testing.T) {
	rules := replayRules()
	big := state.DevRules()
	big.Model = state.ModelConfig{Kind: state.ModelGPT, Vocab: 256, Context: 256, Layers: 12, Width: 256, Heads: 4, MLPMult: 4, InitStd: 0.02}
	big.Sketch = sketch.Config{Family: sketch.CountSketch, Rows: 3 << 17, NNZ: 3, TopK: 1 << 16, QuantBits: 8, QuantBlock: 256}
	big.MaxContributionBytes = state.ContributionSize(big.Sketch)
	rules = append(rules, struct {
		name string
		r    state.Rules
	}{"gpt-9.6M-countsketch-topk", big})
	for _, rc := range rules {
		t.Run(rc.name, func(t *testing.T) {
			c := device0(t)
			b := newGPUSketch(t)
			w, err := state.Genesis(rc.r)
			if err != nil {
				t.Fatal(err)
			}
			a, err := NewApplier(c, rc.r, w)
			if err != nil {
				t.Fatal(err)
			}
			defer a.Close()
			replayCompare(t, rc.r, 50, 3, b, a)
		})
	}
}

// TestMakeContributionGPU: the worker path on the device (see
// TestHostMakeContribution).
func TestMakeContributionGPU(t *testing.T) {
	b := newGPUSketch(t)
	for _, rc := range replayRules() {
		r := rc.r
		w, _ := state.Genesis(r)
		parent := sha256.Sum256([]byte("parent"))
		key := edKey(sha256.Sum256([]byte("worker")))
		delta := fakeDelta(w, 0, 0)
		cc, _, err := state.MakeContribution(r, parent, delta, nil, key, [32]byte{})
		if err != nil {
			t.Fatal(err)
		}
		gc, _, err := b.MakeContribution(r, parent, delta, nil, key, [32]byte{})
		if err != nil {
			t.Fatalf("%s: %v", rc.name, err)
		}
		if err := state.CheckContribution(r, gc.Encode()); err != nil {
			t.Fatalf("%s: %v", rc.name, err)
		}
		if f := r.Sketch.Family; (f == sketch.SRHT || f == sketch.Identity) && string(gc.Encode()) != string(cc.Encode()) {
			t.Fatalf("%s: contribution differs from the CPU's", rc.name)
		}
	}
}

// ---------------------------------------------------------------- benchmarks

// gpuBench is a device-resident benchmark fixture: x (length d) and y
// (length m) on the device, filled with the CPU's values.
type gpuBench struct {
	e    *engine
	g    geom
	x, y DevicePtr
}

var (
	benchBackendOnce sync.Once
	benchBackend     *SketchBackend
	benchX           = map[int][]float32{} // host inputs by d (made once)
	benchXOnDevice   int                   // d of the input in "bench.x"
)

func newGPUBench(b *testing.B, cfg sketch.Config, d int) *gpuBench {
	b.Helper()
	benchBackendOnce.Do(func() {
		var err error
		if benchBackend, err = NewSketchBackend(device0(b)); err != nil {
			b.Fatal(err)
		}
	})
	s, err := sketch.New(cfg, d, sha256.Sum256([]byte("gpu bench")))
	if err != nil {
		b.Fatal(err)
	}
	e := benchBackend.e
	f := &gpuBench{e: e, g: geomOf(s)}
	x, ok := benchX[d]
	if !ok {
		x = normalVec(d, 3)
		benchX[d] = x
	}
	if f.x, err = e.buf("bench.x", int64(4*d)); err != nil {
		b.Fatal(err)
	}
	if f.y, err = e.buf("bench.y", int64(4*cfg.Rows)); err != nil {
		b.Fatal(err)
	}
	if benchXOnDevice != d {
		benchXOnDevice = 0
		if err := e.dev.upload(f.x, f32bytes(x)); err != nil {
			b.Fatal(err)
		}
		benchXOnDevice = d
	}
	if err := e.forward(&f.g, f.x, f.y); err != nil { // y: a realistic sketch
		b.Fatal(err)
	}
	return f
}

// run times op (its launches queued in one hop to the context thread, as
// the public methods do, and synchronized after each call inside the timed
// loop) after two warm-up calls and reports GB/s for bytes per call.
func (f *gpuBench) run(b *testing.B, bytes float64, op func() error) {
	call := func() error {
		return f.e.dev.run(func() error {
			if err := op(); err != nil {
				return err
			}
			return f.e.dev.sync()
		})
	}
	for i := 0; i < 2; i++ {
		if err := call(); err != nil {
			b.Fatal(err)
		}
	}
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if err := call(); err != nil {
			b.Fatal(err)
		}
	}
	sec := b.Elapsed().Seconds() / float64(b.N)
	b.ReportMetric(bytes/sec/1e9, "GB/s")
	b.ReportMetric(sec*1e3, "ms")
}

var benchDimsGPU = []struct {
	name string
	d    int
}{{"1e6", 1_000_000}, {"1e7", 10_000_000}, {"1e8", 100_000_000}}

// BenchmarkSketchGPU: the worker's S·x on device buffers; GB/s counts the
// 4·d input bytes (as chain/sketch's BenchmarkSketch).
func BenchmarkSketchGPU(b *testing.B) {
	for _, f := range gpuFamilies {
		for _, dd := range benchDimsGPU {
			b.Run(fmt.Sprintf("family=%s/d=%s", f, dd.name), func(b *testing.B) {
				fx := newGPUBench(b, gpuConfig(f, dd.d), dd.d)
				fx.run(b, float64(4*dd.d), func() error { return fx.e.forward(&fx.g, fx.x, fx.y) })
			})
		}
	}
}

// BenchmarkDesketchGPU: the consensus de-sketch (top-k recovery included)
// into a device buffer; GB/s counts the 4·d output bytes.
func BenchmarkDesketchGPU(b *testing.B) {
	for _, f := range gpuFamilies {
		for _, dd := range benchDimsGPU {
			b.Run(fmt.Sprintf("family=%s/d=%s", f, dd.name), func(b *testing.B) {
				fx := newGPUBench(b, gpuConfig(f, dd.d), dd.d)
				u, err := fx.e.buf("bench.u", int64(4*dd.d))
				if err != nil {
					b.Fatal(err)
				}
				fx.run(b, float64(4*dd.d), func() error { return fx.e.desketch(&fx.g, fx.y, out{mode: outStore, dst: u}) })
			})
		}
	}
}

// BenchmarkCopyGPU is the memory roof: a device-to-device copy of d
// floats; GB/s counts bytes read plus bytes written (8·d).
func BenchmarkCopyGPU(b *testing.B) {
	for _, dd := range benchDimsGPU {
		b.Run("d="+dd.name, func(b *testing.B) {
			fx := newGPUBench(b, sketch.Config{Family: sketch.Identity, Rows: dd.d, QuantBits: 32}, dd.d)
			fx.run(b, float64(8*dd.d), func() error { return fx.e.dev.copyDtoD(fx.y, fx.x, int64(4*dd.d)) })
		})
	}
}

// gpt2Small is GPT-2 small's shape with a 50,257-token vocabulary:
// 124,439,808 parameters.
var gpt2Small = state.ModelConfig{Kind: state.ModelGPT, Vocab: 50257, Context: 1024, Layers: 12, Width: 768, Heads: 12, MLPMult: 4, InitStd: 0.02}

// applyBenchRules are Apply's benchmark configurations on gpt2Small: the
// practical count-sketch with top-k recovery (t = 3, ~0.1% of the
// coordinates kept), a linear count-sketch (t = 1, fused de-sketch and
// update), and the SRHT, each at about 100× compression, int8 payloads.
func applyBenchRules(family string) state.Rules {
	r := state.DevRules()
	r.Model = gpt2Small
	d := r.Model.ParamCount()
	m := d / 100 / 3 * 3
	switch family {
	case "countsketch-topk":
		r.Sketch = sketch.Config{Family: sketch.CountSketch, Rows: m, NNZ: 3, TopK: d / 1000, QuantBits: 8, QuantBlock: 256}
	case "countsketch":
		r.Sketch = sketch.Config{Family: sketch.CountSketch, Rows: m, NNZ: 1, QuantBits: 8, QuantBlock: 256}
	case "srht":
		r.Sketch = sketch.Config{Family: sketch.SRHT, Rows: m, QuantBits: 8, QuantBlock: 256}
	}
	r.MaxContributions = 16
	r.MaxContributionBytes = state.ContributionSize(r.Sketch)
	return r
}

// BenchmarkApplyGPU: the Applier's Apply of a block of 4 contributions to
// the 124M-parameter weights on the device; GB/s counts the weights read
// and written (8·d). part=device is the device work alone (upload of the
// payloads, aggregate, de-sketch, update, flags read back); part=all adds
// the contributions' checks on the CPU (decoding, canonical payloads,
// ed25519 signatures).
func BenchmarkApplyGPU(b *testing.B) {
	for _, f := range []string{"countsketch-topk", "countsketch", "srht"} {
		b.Run("family="+f+"/d=1.24e8", func(b *testing.B) {
			r := applyBenchRules(f)
			d := r.Model.ParamCount()
			w, err := state.Genesis(r)
			if err != nil {
				b.Fatal(err)
			}
			c := device0(b)
			sb, err := NewSketchBackend(c)
			if err != nil {
				b.Fatal(err)
			}
			defer sb.Close()
			parent := sha256.Sum256([]byte("bench parent"))
			var raws [][]byte
			for i := 0; i < 4; i++ {
				key := edKey(sha256.Sum256([]byte(fmt.Sprintf("bench worker %d", i))))
				ct, _, err := sb.MakeContribution(r, parent, normalVec(d, uint64(10+i)), nil, key, [32]byte{})
				if err != nil {
					b.Fatal(err)
				}
				raws = append(raws, ct.Encode())
			}
			a, err := NewApplier(c, r, w)
			if err != nil {
				b.Fatal(err)
			}
			defer a.Close()
			cs, err := verifyContributions(r, raws)
			if err != nil {
				b.Fatal(err)
			}
			for _, part := range []string{"device", "all"} {
				b.Run("part="+part, func(b *testing.B) {
					apply := func() error { return a.applyChecked(parent, cs) }
					if part == "all" {
						apply = func() error { return a.Apply(parent, raws) }
					}
					for i := 0; i < 2; i++ {
						if err := apply(); err != nil {
							b.Fatal(err)
						}
					}
					b.ResetTimer()
					for i := 0; i < b.N; i++ {
						if err := apply(); err != nil {
							b.Fatal(err)
						}
					}
					sec := b.Elapsed().Seconds() / float64(b.N)
					b.ReportMetric(float64(8*d)/sec/1e9, "GB/s")
					b.ReportMetric(sec*1e3, "ms")
				})
			}
		})
	}
}

// BenchmarkRootGPU: the state root of the 124M-parameter weights on the
// device (leaves on the GPU, the tree on the CPU), and the CPU's state.Root
// of the same weights in host memory for comparison.
func BenchmarkRootGPU(b *testing.B) {
	r := applyBenchRules("countsketch")
	d := r.Model.ParamCount()
	w := normalVec(d, 5)
	a, err := NewApplier(device0(b), r, w)
	if err != nil {
		b.Fatal(err)
	}
	defer a.Close()
	want := state.Root(w, r.ChunkSize)
	got, err := a.Root()
	if err != nil {
		b.Fatal(err)
	}
	if got != want {
		b.Fatalf("GPU root %x, CPU %x", got, want)
	}
	b.Run("where=gpu/d=1.24e8", func(b *testing.B) {
		for i := 0; i < b.N; i++ {
			if _, err := a.Root(); err != nil {
				b.Fatal(err)
			}
		}
		b.ReportMetric(b.Elapsed().Seconds()/float64(b.N)*1e3, "ms")
	})
	b.Run("where=cpu/d=1.24e8", func(b *testing.B) {
		for i := 0; i < b.N; i++ {
			state.Root(w, r.ChunkSize)
		}
		b.ReportMetric(b.Elapsed().Seconds()/float64(b.N)*1e3, "ms")
	})
}
