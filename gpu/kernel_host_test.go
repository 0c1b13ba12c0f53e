package gpu

import (
	"bufio"
	"bytes"
	"encoding/hex"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"testing"
)

// TestKernelSourceOnHost compiles kernels/sha256d.cu as host C++ (with the
// CUDA built-ins it uses defined on the CPU, testdata/kernel_host.cc), runs
// it launch by launch exactly as the Searcher would (same spans, parameter
// blocks and launch shapes, squeezed onto few threads so that every thread
// loops), and checks it finds the known answers. This checks the kernel's
// source without a GPU; the GPU tests check the compiled fatbin on a device.
// Skipped when no host C++ compiler is installed.
func TestKernelSourceOnHost(t *testing.T) {
	cxx := os.Getenv("CXX")
	if cxx == "" {
		cxx = "g++"
	}
	if _, err := exec.LookPath(cxx); err != nil {
		t.Skipf("no host C++ compiler (%s): %v", cxx, err)
	}
	src, err := filepath.Abs("../kernels/sha256d.cu")
	if err != nil {
		t.Fatal(err)
	}
	bin := filepath.Join(t.TempDir(), "kernel_host")
	cmd := exec.Command(cxx, "-std=c++14", "-O2", "-Wall", "-Wno-unknown-pragmas", "-Werror",
		"-DSHA256D_CU=\""+src+"\"", "-o", bin, "testdata/kernel_host.cc")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("%s: %v\n%s", cmd, err, out)
	}
	const block = 64
	for _, variant := range []string{"alu", "mad"} {
		for _, resident := range []int{block, 4 * block, 1 << 20} {
			hostKnownAnswers(t, bin, variant, block, resident)
		}
	}
}

func hostKnownAnswers(t *testing.T, bin, variant string, block, resident int) {
	t.Helper()
	for _, ka := range knownAnswers() {
		var hits []uint64
		start, left := ka.start, ka.count
		for left > 0 {
			sp := nextSpan(start, left, 3000) // several launches per vector
			p := newPrecomp(&ka.job, sp.hi)
			g := launchGeometry(sp.n, block, resident)
			params := p.params(sp.lo, sp.n, g.iters, 64, 0)
			hits = append(hits, runHost(t, bin, variant, g, params[:])...)
			start += uint64(sp.n)
			left -= uint64(sp.n)
		}
		if !slices.Equal(hits, ka.hits) {
			t.Fatalf("%s (%s, resident %d): kernel source on host found %#x, want %#x", ka.name, variant, resident, hits, ka.hits)
		}
	}
}

func runHost(t *testing.T, bin, variant string, g geometry, params []byte) []uint64 {
	t.Helper()
	cmd := exec.Command(bin, strconv.Itoa(int(g.grid)), strconv.Itoa(int(g.block)), variant)
	cmd.Stdin = bytes.NewReader([]byte(hex.EncodeToString(params)))
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("%s: %v", bin, err)
	}
	sc := bufio.NewScanner(bytes.NewReader(out))
	var vals []uint64
	for sc.Scan() {
		v, err := strconv.ParseUint(sc.Text(), 10, 64)
		if err != nil {
			t.Fatalf("harness output %q: %v", sc.Text(), err)
		}
		vals = append(vals, v)
	}
	if len(vals) == 0 || vals[0] != uint64(len(vals)-1) {
		t.Fatalf("harness output %q", out)
	}
	hits := vals[1:]
	slices.Sort(hits)
	return hits
}
