package gpu

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"
)

// hostEmu is a kernel module compiled as host C++ with
// testdata/softmax_host.cc (CUDA built-ins emulated, threads as fibers).
type hostEmu struct {
	bin string
}

var (
	hostEmuMu    sync.Mutex
	hostEmuCache = map[string]*hostEmu{}
)

// buildHostEmu compiles kernels/<module>.cu with the host emulation, once
// per test binary run. Skips the test when there is no host C++ compiler.
func buildHostEmu(t *testing.T, module string) *hostEmu {
	t.Helper()
	cxx := os.Getenv("CXX")
	if cxx == "" {
		cxx = "g++"
	}
	if _, err := exec.LookPath(cxx); err != nil {
		t.Skipf("no host C++ compiler (%s): %v", cxx, err)
	}
	hostEmuMu.Lock()
	defer hostEmuMu.Unlock()
	if e, ok := hostEmuCache[module]; ok {
		return e
	}
	src, err := filepath.Abs("../kernels/" + module + ".cu")
	if err != nil {
		t.Fatal(err)
	}
	dir, err := os.MkdirTemp("", "gc-emu-")
	if err != nil {
		t.Fatal(err)
	}
	bin := filepath.Join(dir, module)
	cmd := exec.Command(cxx, "-std=c++14", "-O1", "-Wall", "-Wno-unknown-pragmas", "-Werror",
		"-DGC_HOST_EMU", "-DKERNEL_CU=\""+src+"\"", "-o", bin, "testdata/softmax_host.cc")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("%s: %v\n%s", cmd, err, out)
	}
	e := &hostEmu{bin: bin}
	hostEmuCache[module] = e
	return e
}

// emuArena lays buffers out in one byte arena; offsets are the "device
// pointers" of the emulation (never 0, 16-byte aligned unless asked).
type emuArena struct {
	buf []byte
}

func (a *emuArena) add(b []byte, misalign int) uint64 {
	off := roundUp(len(a.buf)+1, 256) + misalign
	a.buf = append(a.buf, make([]byte, off-len(a.buf))...)
	a.buf = append(a.buf, b...)
	return uint64(off)
}

// run launches kernel name with the parameter block (its first nptr slots
// arena offsets) over the arena and returns the arena afterwards.
func (e *hostEmu) run(t *testing.T, name string, grid, block, nptr int, params []byte, arena []byte) []byte {
	t.Helper()
	var in bytes.Buffer
	fmt.Fprintf(&in, "%s %d %d %d %d %d\n", name, grid, block, nptr, len(params), len(arena))
	in.Write(params)
	in.Write(arena)
	cmd := exec.Command(e.bin)
	cmd.Stdin = &in
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("emulation of %s: %v\n%s", name, err, stderr.Bytes())
	}
	if len(out) != len(arena) {
		t.Fatalf("emulation of %s: %d bytes back, want %d", name, len(out), len(arena))
	}
	return out
}

// encode writes values in the shape's precision.
func encodeElems(v []float32, p Precision) []byte {
	b := make([]byte, len(v)*p.Size())
	for i, f := range v {
		if p == BF16 {
			binary.LittleEndian.PutUint16(b[2*i:], BF16FromFloat32(f))
		} else {
			binary.LittleEndian.PutUint32(b[4*i:], math.Float32bits(f))
		}
	}
	return b
}

func decodeElems(b []byte, n int, p Precision) []float32 {
	v := make([]float32, n)
	for i := range v {
		if p == BF16 {
			v[i] = Float32FromBF16(binary.LittleEndian.Uint16(b[2*i:]))
		} else {
			v[i] = math.Float32frombits(binary.LittleEndian.Uint32(b[4*i:]))
		}
	}
	return v
}

// roundTo rounds values to the precision (bf16 inputs are what the kernel
// sees; the reference starts from them).
func roundTo(v []float32, p Precision) []float32 {
	if p != BF16 {
		return v
	}
	out := make([]float32, len(v))
	for i, f := range v {
		out[i] = Float32FromBF16(BF16FromFloat32(f))
	}
	return out
}

// softmaxCase is one check of a softmax kernel against the reference.
type softmaxCase struct {
	sh      SoftmaxShape
	vector  bool
	force   softmaxKind
	inPlace bool
}

func (c softmaxCase) String() string {
	return fmt.Sprintf("%s/rows=%d/cols=%d/causal=%v/vec=%v/kind=%s/inplace=%v",
		c.sh.Precision, c.sh.Rows, c.sh.Cols, c.sh.Causal, c.vector, c.force, c.inPlace)
}

// softmaxInputs draws scores, a forward output and an incoming gradient.
func softmaxInputs(r *rand.Rand, sh SoftmaxShape) (s, p, dp []float32) {
	n := int(sh.Elems())
	s = make([]float32, n)
	for i := range s {
		s[i] = float32(r.NormFloat64() * 4)
	}
	s = roundTo(s, sh.Precision)
	p = make([]float32, n)
	SoftmaxForwardReference(p, s, nil, sh)
	p = roundTo(p, sh.Precision)
	dp = make([]float32, n)
	for i := range dp {
		dp[i] = float32(r.NormFloat64())
	}
	dp = roundTo(dp, sh.Precision)
	return s, p, dp
}

// softmaxTolerance is the bound on ‖got − want‖/‖want‖ and on the largest
// elementwise error relative to the row's largest |want|: fp32 arithmetic
// with approximate exp2/log2 lands near 1e-6; bf16 outputs are rounded to 8
// bits of mantissa (relative 2^-9 each).
func softmaxTolerance(p Precision) (norm, elem float64) {
	if p == BF16 {
		return 6e-3, 8e-3
	}
	return 2e-5, 4e-5
}

// compareRows checks got against want row by row and returns an error
// describing the first violation.
func compareRows(got, want []float32, sh SoftmaxShape, what string) error {
	normTol, elemTol := softmaxTolerance(sh.Precision)
	var num, den float64
	for r := 0; r < sh.Rows; r++ {
		var rowMax float64
		for j := 0; j < sh.Cols; j++ {
			rowMax = math.Max(rowMax, math.Abs(float64(want[r*sh.Cols+j])))
		}
		for j := 0; j < sh.Cols; j++ {
			g, w := float64(got[r*sh.Cols+j]), float64(want[r*sh.Cols+j])
			if math.IsNaN(g) || math.IsInf(g, 0) {
				return fmt.Errorf("%s[%d,%d] = %v (want %v)", what, r, j, g, w)
			}
			if j >= sh.visible(r) && g != 0 {
				return fmt.Errorf("%s[%d,%d] = %v in the masked part", what, r, j, g)
			}
			if d := math.Abs(g - w); d > elemTol*rowMax+1e-30 {
				return fmt.Errorf("%s[%d,%d] = %v, want %v (error %.3g of row max %.3g)", what, r, j, g, w, d, rowMax)
			}
			num += (g - w) * (g - w)
			den += w * w
		}
	}
	if den > 0 && math.Sqrt(num/den) > normTol {
		return fmt.Errorf("%s: relative error %.3g > %.3g", what, math.Sqrt(num/den), normTol)
	}
	return nil
}

// emulateSoftmax runs the forward and the backward kernel of a case in the
// host emulation (poisoned outputs) and checks them against the references.
func emulateSoftmax(t *testing.T, r *rand.Rand, fwd, bwd *hostEmu, c softmaxCase) {
	t.Helper()
	sh := c.sh
	s, p, dp := softmaxInputs(r, sh)
	n := int(sh.Elems())
	poison := make([]float32, n)
	for i := range poison {
		poison[i] = float32(math.NaN())
	}

	// Forward.
	plan, err := planSoftmax(false, sh, c.vector, c.force)
	if err != nil {
		t.Fatalf("%v: plan: %v", c, err)
	}
	misalign := 0
	if !c.vector {
		misalign = sh.Precision.Size() // the scalar path must not need alignment
	}
	var a emuArena
	srcOff := a.add(encodeElems(s, sh.Precision), misalign)
	dstOff := srcOff
	if !c.inPlace {
		dstOff = a.add(encodeElems(poison, sh.Precision), misalign)
	}
	lseOff := a.add(encodeElems(poison[:sh.Rows], F32), 0)
	params := softmaxParams(sh, dstOff, srcOff, 0, lseOff)
	out := fwd.run(t, plan.name, plan.grid, plan.block, 4, params[:], a.buf)
	got := decodeElems(out[dstOff:], n, sh.Precision)
	gotLSE := decodeElems(out[lseOff:], sh.Rows, F32)
	want := make([]float32, n)
	wantLSE := make([]float32, sh.Rows)
	SoftmaxForwardReference(want, s, wantLSE, sh)
	if err := compareRows(got, want, sh, "P"); err != nil {
		t.Fatalf("%v (%s grid %d block %d): %v", c, plan.name, plan.grid, plan.block, err)
	}
	for i := range wantLSE {
		if d := math.Abs(float64(gotLSE[i] - wantLSE[i])); !(d <= 1e-5*math.Max(1, math.Abs(float64(wantLSE[i])))) {
			t.Fatalf("%v (%s): lse[%d] = %v, want %v", c, plan.name, i, gotLSE[i], wantLSE[i])
		}
	}

	// Backward.
	plan, err = planSoftmax(true, sh, c.vector, c.force)
	if err != nil {
		t.Fatalf("%v: plan: %v", c, err)
	}
	a = emuArena{}
	pOff := a.add(encodeElems(p, sh.Precision), misalign)
	dpOff := a.add(encodeElems(dp, sh.Precision), misalign)
	outOff := dpOff
	if !c.inPlace {
		outOff = a.add(encodeElems(poison, sh.Precision), misalign)
	}
	params = softmaxParams(sh, outOff, pOff, dpOff, 0)
	out = bwd.run(t, plan.name, plan.grid, plan.block, 4, params[:], a.buf)
	got = decodeElems(out[outOff:], n, sh.Precision)
	SoftmaxBackwardReference(want, p, dp, sh)
	if err := compareRows(got, want, sh, "dS"); err != nil {
		t.Fatalf("%v (%s grid %d block %d): %v", c, plan.name, plan.grid, plan.block, err)
	}
}

// TestSoftmaxKernelsOnHost runs kernels/softmax_fwd.cu and softmax_bwd.cu
// in the host emulation, launch for launch as the Go launcher plans them,
// over every kind of kernel (warp, block, online), both load paths, both
// precisions, with and without the mask, out of place and in place. The
// GPU tests run the compiled fatbins the same way on a device.
func TestSoftmaxKernelsOnHost(t *testing.T) {
	fwd := buildHostEmu(t, "softmax_fwd")
	bwd := buildHostEmu(t, "softmax_bwd")
	r := rand.New(rand.NewPCG(7, 7))
	cols := []int{1, 3, 8, 16, 24, 40, 128, 136, 264, 1000, 1024, 2056, 8192}
	if testing.Short() {
		cols = []int{3, 16, 136, 1024, 2056}
	}
	ran := 0
	for _, prec := range []Precision{F32, BF16} {
		for _, n := range cols {
			for _, causal := range []bool{false, true} {
				rows := 5
				if causal && n <= 264 {
					rows = n + 3 // a whole square and a bit of the next
				}
				sh := SoftmaxShape{Rows: rows, Cols: n, Scale: 0.35, Causal: causal, Precision: prec}
				for _, vector := range []bool{false, true} {
					if vector && n%chunkWidth(prec, true) != 0 {
						continue
					}
					for _, force := range []softmaxKind{kindAuto, kindWarp, kindBlock, kindOnline} {
						if _, err := planSoftmax(false, sh, vector, force); err != nil {
							continue // does not fit that kind
						}
						c := softmaxCase{sh: sh, vector: vector, force: force, inPlace: ran%3 == 1}
						t.Run(c.String(), func(t *testing.T) { emulateSoftmax(t, r, fwd, bwd, c) })
						ran++
						if causal && n == 1024 && force == kindAuto && !testing.Short() {
							// Long causal rows (the whole square) on the
							// planned kernel only: the emulation is slow.
							c.sh.Rows = n + 1
							t.Run(c.String(), func(t *testing.T) { emulateSoftmax(t, r, fwd, bwd, c) })
						}
					}
				}
			}
		}
	}
	t.Logf("%d emulated cases", ran)
}
