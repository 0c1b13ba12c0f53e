package gpu

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"
)

// hostEmu is a kernel module compiled as host C++ with testdata/cuda_emu.cc
// (CUDA built-ins emulated, threads as fibers).
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
		"-DGC_HOST_EMU", "-DKERNEL_CU=\""+src+"\"", "-o", bin, "testdata/cuda_emu.cc")
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

// emuLaunch is one launch in the emulation: kernel name, grid, block,
// dynamic shared memory, and which 8-byte slots of the parameter block are
// pointers (given as arena offsets).
type emuLaunch struct {
	name         string
	gridX, gridY int
	block, smem  int
	ptrMask      uint64
}

// run launches l with the parameter block over the arena and returns the
// arena afterwards.
func (e *hostEmu) run(t *testing.T, l emuLaunch, params []byte, arena []byte) []byte {
	t.Helper()
	name := l.name
	var in bytes.Buffer
	fmt.Fprintf(&in, "%s %d %d %d %d %x %d %d\n", name, l.gridX, max(l.gridY, 1), l.block, l.smem, l.ptrMask, len(params), len(arena))
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

// emuSoftmax runs softmax checks in the host emulation.
type emuSoftmax struct {
	fwd, bwd *hostEmu
	t        *testing.T
}

func (e emuSoftmax) misalign(c softmaxCheck) int {
	if c.vector {
		return 0
	}
	return c.sh.Precision.Size() // the scalar path must not need alignment
}

func (e emuSoftmax) forward(c softmaxCheck, s []float32) (p, lse []float32, err error) {
	sh := c.sh
	plan, err := planSoftmax(false, sh, c.vector, c.force)
	if err != nil {
		return nil, nil, err
	}
	var a emuArena
	srcOff := a.add(encodeElems(s, sh.Precision), e.misalign(c))
	dstOff := srcOff
	if !c.inPlace {
		dstOff = a.add(poisonBytes(int(sh.Bytes())), e.misalign(c))
	}
	lseOff := a.add(poisonBytes(4*sh.Rows), 0)
	params := softmaxParams(sh, dstOff, srcOff, 0, lseOff)
	out := e.fwd.run(e.t, emuLaunch{name: plan.name, gridX: plan.grid, block: plan.block, ptrMask: 0xf}, params[:], a.buf)
	return decodeElems(out[dstOff:], int(sh.Elems()), sh.Precision), decodeElems(out[lseOff:], sh.Rows, F32), nil
}

func (e emuSoftmax) backward(c softmaxCheck, p, dp []float32) ([]float32, error) {
	sh := c.sh
	plan, err := planSoftmax(true, sh, c.vector, c.force)
	if err != nil {
		return nil, err
	}
	var a emuArena
	pOff := a.add(encodeElems(p, sh.Precision), e.misalign(c))
	dpOff := a.add(encodeElems(dp, sh.Precision), e.misalign(c))
	outOff := dpOff
	if !c.inPlace {
		outOff = a.add(poisonBytes(int(sh.Bytes())), e.misalign(c))
	}
	params := softmaxParams(sh, outOff, pOff, dpOff, 0)
	out := e.bwd.run(e.t, emuLaunch{name: plan.name, gridX: plan.grid, block: plan.block, ptrMask: 0xf}, params[:], a.buf)
	return decodeElems(out[outOff:], int(sh.Elems()), sh.Precision), nil
}

// TestSoftmaxKernelsOnHost runs kernels/softmax_fwd.cu and softmax_bwd.cu
// in the host emulation, launch for launch as the Go launcher plans them,
// over every kind of kernel (warp, block, online), both load paths, both
// precisions, with and without the mask, out of place and in place. The
// GPU tests run the compiled fatbins the same way on a device.
func TestSoftmaxKernelsOnHost(t *testing.T) {
	fwd := buildHostEmu(t, "softmax_fwd")
	bwd := buildHostEmu(t, "softmax_bwd")
	// Row lengths that reach every warp shape, both block kernels and the
	// vector/scalar split; GC_EMU_FULL=1 adds more (and the whole 1,024-row
	// causal square below), -short fewer.
	cols := []int{1, 3, 16, 40, 136, 264, 1024, 2056}
	full := os.Getenv("GC_EMU_FULL") == "1"
	switch {
	case full:
		cols = append(cols, 8, 24, 128, 1000, 8192)
	case testing.Short():
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
						c := softmaxCheck{sh: sh, vector: vector, force: force, inPlace: ran%3 == 1, seed: uint64(ran)}
						if causal && n == 1024 && force == kindAuto && full {
							// Long causal rows (the whole square) on the
							// planned kernel only: the emulation is slow.
							c.sh.Rows = n + 1
						}
						t.Run(c.String(), func(t *testing.T) {
							if err := runSoftmaxCheck(emuSoftmax{fwd, bwd, t}, c); err != nil {
								t.Fatal(err)
							}
						})
						ran++
					}
				}
			}
		}
	}
	t.Logf("%d emulated cases", ran)
}

// TestSoftmaxSelfTestOnHost runs the device self-test's checks in the
// host emulation.
func TestSoftmaxSelfTestOnHost(t *testing.T) {
	e := emuSoftmax{buildHostEmu(t, "softmax_fwd"), buildHostEmu(t, "softmax_bwd"), t}
	for _, c := range softmaxSelfTestChecks() {
		if err := runSoftmaxCheck(e, c); err != nil {
			t.Error(err)
		}
	}
}
