package gpu

import (
	"encoding/binary"
	"errors"
	"math"
	"math/rand/v2"
	"os"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/gradientcoin/gradientcoin/kernels"
)

// TestSoftmaxPlans checks the launch plans over many shapes: every planned
// entry point is in its embedded fatbin, blocks respect the kernels' launch
// bounds, and a plan's threads cover every chunk of every row.
func TestSoftmaxPlans(t *testing.T) {
	images := map[string]string{}
	for _, m := range []string{kernels.SoftmaxFwd, kernels.SoftmaxBwd} {
		b, err := kernels.Fatbin(m)
		if err != nil {
			t.Fatal(err)
		}
		images[m] = string(b)
	}
	seen := map[string]bool{}
	colsList := []int{1, 2, 3, 4, 5, 7, 8, 16, 31, 32, 33, 64, 100, 128, 129, 256, 512, 768, 1000, 1024,
		1025, 1032, 2048, 4096, 4100, 8192, 12288, 16384, 16385, 32768, 32776, 65536, 1 << 20}
	for _, bwd := range []bool{false, true} {
		for _, prec := range []Precision{F32, BF16} {
			for _, cols := range colsList {
				for _, vector := range []bool{false, true} {
					W := chunkWidth(prec, vector)
					if cols%W != 0 {
						continue
					}
					for _, force := range []softmaxKind{kindAuto, kindWarp, kindBlock, kindOnline} {
						sh := SoftmaxShape{Rows: 1000, Cols: cols, Scale: 1, Precision: prec}
						p, err := planSoftmax(bwd, sh, vector, force)
						if err != nil {
							if force == kindAuto || force == kindOnline {
								t.Fatalf("%+v vector=%v: %v", sh, vector, err)
							}
							continue
						}
						seen[p.name] = true
						if !strings.Contains(images[p.module], p.name+"\x00") {
							t.Errorf("%s is not in %s.fatbin", p.name, p.module)
						}
						if force != kindAuto && p.kind != force {
							t.Errorf("forced %v, got %v", force, p.kind)
						}
						if p.block%32 != 0 || p.block < 32 || p.grid < 1 {
							t.Errorf("%s: block %d grid %d", p.name, p.block, p.grid)
						}
						chunks := (cols + W - 1) / W
						switch p.kind {
						case kindWarp:
							if p.block != softmaxWarpThreads || p.lanes*p.nv < chunks || p.nv*W > softmaxRegFloats ||
								p.grid*p.block < sh.Rows*p.lanes || (p.grid-1)*p.block >= sh.Rows*p.lanes {
								t.Errorf("%s cols %d: bad warp plan %+v", p.name, cols, p)
							}
						case kindBlock:
							if p.block > blockMaxThreads(bwd, kindBlock, vector, p.floats) || p.block*p.floats/W < chunks || p.grid != sh.Rows {
								t.Errorf("%s cols %d: bad block plan %+v", p.name, cols, p)
							}
						case kindOnline:
							if p.block > 512 || p.grid != sh.Rows {
								t.Errorf("%s cols %d: bad online plan %+v", p.name, cols, p)
							}
						}
						if force == kindAuto {
							// The register kernels take every row that fits them.
							want := kindOnline
							switch {
							case chunks <= 32*softmaxRegFloats/W:
								want = kindWarp
							case chunks*W <= 16*blockMaxThreads(bwd, kindBlock, vector, 16) ||
								chunks*W <= 32*blockMaxThreads(bwd, kindBlock, vector, 32):
								want = kindBlock
							}
							if p.kind != want {
								t.Errorf("%s cols %d vector %v: auto plan %v, want %v", p.name, cols, vector, p.kind, want)
							}
						}
					}
				}
			}
		}
	}
	if len(seen) < 60 {
		t.Errorf("only %d distinct entry points planned", len(seen))
	}
	// Spot checks of the shapes the benchmarks use.
	for _, c := range []struct {
		bwd  bool
		prec Precision
		cols int
		want string
		blk  int
	}{
		{false, F32, 128, "softmax_fwd_f32_v_w16x2", 128},
		{false, F32, 1024, "softmax_fwd_f32_v_w32x8", 128},
		{false, F32, 8192, "softmax_fwd_f32_v_b32", 256},
		{true, F32, 8192, "softmax_bwd_f32_v_b32", 256},
		{false, BF16, 8192, "softmax_fwd_bf16_v_b32", 256},
		{false, F32, 16, "softmax_fwd_f32_v_w2x2", 128},
		{false, F32, 1 << 20, "softmax_fwd_f32_v_online", 512},
	} {
		p, err := planSoftmax(c.bwd, SoftmaxShape{Rows: 7, Cols: c.cols, Scale: 1, Precision: c.prec}, true, kindAuto)
		if err != nil || p.name != c.want || p.block != c.blk {
			t.Errorf("plan(bwd=%v, %s, %d) = %s block %d (%v), want %s block %d", c.bwd, c.prec, c.cols, p.name, p.block, err, c.want, c.blk)
		}
	}
}

func TestSoftmaxShapeValidate(t *testing.T) {
	for _, sh := range []SoftmaxShape{
		{Rows: 0, Cols: 4, Scale: 1},
		{Rows: 4, Cols: 0, Scale: 1},
		{Rows: 4, Cols: MaxSoftmaxCols + 1, Scale: 1},
		{Rows: 4, Cols: 4, Scale: float32(math.NaN())},
		{Rows: 4, Cols: 4, Scale: float32(math.Inf(1))},
		{Rows: 4, Cols: 4, Scale: 1, Precision: 7},
	} {
		if _, err := planSoftmax(false, sh, false, kindAuto); !errors.Is(err, ErrInvalid) {
			t.Errorf("%+v: %v, want ErrInvalid", sh, err)
		}
	}
	if _, err := planSoftmax(false, SoftmaxShape{Rows: 4, Cols: 6, Scale: 1}, true, kindAuto); !errors.Is(err, ErrInvalid) {
		t.Errorf("vector path with 6 fp32 columns: %v, want ErrInvalid", err)
	}
	if _, err := planSoftmax(false, SoftmaxShape{Rows: 4, Cols: 4096, Scale: 1}, true, kindWarp); !errors.Is(err, ErrInvalid) {
		t.Errorf("forced warp kernel for 4096 columns: %v, want ErrInvalid", err)
	}
}

// TestSoftmaxParamsLayout pins the parameter block to struct SoftmaxParams.
func TestSoftmaxParamsLayout(t *testing.T) {
	sh := SoftmaxShape{Rows: 0x01020304, Cols: 77, Scale: 0.125, Causal: true}
	b := softmaxParams(sh, 0x1111, 0x2222, 0x3333, 0x4444)
	le := binary.LittleEndian
	if le.Uint64(b[0:]) != 0x1111 || le.Uint64(b[8:]) != 0x2222 || le.Uint64(b[16:]) != 0x3333 || le.Uint64(b[24:]) != 0x4444 {
		t.Error("pointers")
	}
	if le.Uint32(b[32:]) != 0x01020304 || le.Uint32(b[36:]) != 77 || le.Uint32(b[48:]) != 1 || le.Uint32(b[52:]) != 0 {
		t.Error("rows, cols, causal")
	}
	if math.Float32frombits(le.Uint32(b[40:])) != 0.125 || math.Float32frombits(le.Uint32(b[44:])) != float32(0.125*math.Log2E) {
		t.Error("scales")
	}
}

// TestSoftmaxReferences checks the references' own properties: rows of P
// sum to 1, masked entries are 0, lse reproduces P, and the backward is the
// gradient of ⟨dP, P(S)⟩ (central differences).
func TestSoftmaxReferences(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	for _, causal := range []bool{false, true} {
		sh := SoftmaxShape{Rows: 14, Cols: 7, Scale: 0.7, Causal: causal}
		s, _, dp := softmaxInputs(r, sh)
		p := make([]float32, sh.Elems())
		lse := make([]float32, sh.Rows)
		SoftmaxForwardReference(p, s, lse, sh)
		for row := 0; row < sh.Rows; row++ {
			var sum float64
			for j := 0; j < sh.Cols; j++ {
				v := float64(p[row*sh.Cols+j])
				if j >= sh.visible(row) {
					if v != 0 {
						t.Fatalf("masked P[%d,%d] = %v", row, j, v)
					}
					continue
				}
				sum += v
				if want := math.Exp(float64(sh.Scale)*float64(s[row*sh.Cols+j]) - float64(lse[row])); math.Abs(v-want) > 1e-6 {
					t.Fatalf("P[%d,%d] = %v, exp(scale·s − lse) = %v", row, j, v, want)
				}
			}
			if math.Abs(sum-1) > 1e-6 {
				t.Fatalf("row %d sums to %v", row, sum)
			}
		}
		ds := make([]float32, sh.Elems())
		SoftmaxBackwardReference(ds, p, dp, sh)
		objective := func(s []float32) float64 {
			p := make([]float32, len(s))
			SoftmaxForwardReference(p, s, nil, sh)
			var o float64
			for i := range p {
				o += float64(p[i]) * float64(dp[i])
			}
			return o
		}
		for i := 0; i < int(sh.Elems()); i += 3 {
			const h = 1e-2
			sp := append([]float32(nil), s...)
			sm := append([]float32(nil), s...)
			sp[i] += h
			sm[i] -= h
			num := (objective(sp) - objective(sm)) / (2 * h)
			if math.Abs(num-float64(ds[i])) > 2e-3*math.Max(1, math.Abs(num)) {
				t.Fatalf("causal=%v: dS[%d] = %v, central difference %v", causal, i, ds[i], num)
			}
		}
	}
}

func TestBF16(t *testing.T) {
	for _, c := range []struct {
		f    float32
		want uint16
	}{
		{0, 0}, {1, 0x3f80}, {-2, 0xc000},
		{math.Float32frombits(0x3f808000), 0x3f80}, // tie: to even (down)
		{math.Float32frombits(0x3f818000), 0x3f82}, // tie: to even (up)
		{math.Float32frombits(0x3f808001), 0x3f81}, // above the tie
		{float32(math.Inf(1)), 0x7f80},
		{math.Float32frombits(0x7f7fffff), 0x7f80}, // rounds to +Inf
		{float32(math.NaN()), 0x7fff},
	} {
		if got := BF16FromFloat32(c.f); got != c.want {
			t.Errorf("BF16FromFloat32(%v = %#x) = %#x, want %#x", c.f, math.Float32bits(c.f), got, c.want)
		}
	}
	for h := 0; h < 1<<16; h++ {
		f := Float32FromBF16(uint16(h))
		if f != f { // NaN
			continue
		}
		if back := BF16FromFloat32(f); back != uint16(h) {
			t.Fatalf("bf16 %#x → %v → %#x", h, f, back)
		}
	}
	if Precision(9).String() != "precision(9)" || F32.Size() != 4 || BF16.Size() != 2 || BF16.String() != "bf16" {
		t.Error("Precision methods")
	}
}

// TestSoftmaxLaunchBounds: the planner's thread limits are the kernels'
// __launch_bounds__ (a larger block would fail to launch), read from the
// entry-point lists in the .cu sources.
func TestSoftmaxLaunchBounds(t *testing.T) {
	block := regexp.MustCompile(`BLOCK\(softmax_(fwd|bwd)_\w+_([vs])_b(\d+), \w+, \d+, (\d+), (\d+)\)`)
	online := regexp.MustCompile(`(?s)GC_(FWD|BWD)_ONLINE\(name, T, W\)\s*\\\s*extern "C" __global__ void __launch_bounds__\((\d+)\)`)
	warp := regexp.MustCompile(`GC_(FWD|BWD)_WARP\(name, T, W, LANES, NV\)\s*\\\s*extern "C" __global__ void __launch_bounds__\((\d+)\)`)
	n := 0
	for _, dir := range []string{"fwd", "bwd"} {
		src, err := os.ReadFile("../kernels/softmax_" + dir + ".cu")
		if err != nil {
			t.Fatal(err)
		}
		bwd := dir == "bwd"
		for _, m := range block.FindAllStringSubmatch(string(src), -1) {
			f, _ := strconv.Atoi(m[4])
			maxT, _ := strconv.Atoi(m[5])
			if got := blockMaxThreads(bwd, kindBlock, m[2] == "v", f); got != maxT {
				t.Errorf("%s: planner allows %d threads, kernel is bounded at %d", m[0], got, maxT)
			}
			n++
		}
		if m := online.FindStringSubmatch(string(src)); m == nil {
			t.Errorf("%s: no online launch bound found", dir)
		} else if b, _ := strconv.Atoi(m[2]); b < blockMaxThreads(bwd, kindOnline, true, 0) {
			t.Errorf("%s online kernels bounded at %d threads, planner uses up to %d", dir, b, blockMaxThreads(bwd, kindOnline, true, 0))
		}
		if m := warp.FindStringSubmatch(string(src)); m == nil || m[2] != strconv.Itoa(softmaxWarpThreads) {
			t.Errorf("%s warp kernels: launch bound %v, planner uses %d threads", dir, m, softmaxWarpThreads)
		}
	}
	if n != 16 {
		t.Errorf("found %d block kernels in the sources, want 16", n)
	}
}
