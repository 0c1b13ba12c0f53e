package gpu

import (
	"bytes"
	"fmt"
	"os"
	"testing"
)

// emuAttention runs attention programs in the host emulation
// (testdata/cuda_emu.cc), launch by launch.
type emuAttention struct {
	fwd, bwd *hostEmu
	t        *testing.T
}

func (e emuAttention) runProgram(pr *attnProgram, steps []int, inputs map[string][]byte, outputs []string) (map[string][]byte, error) {
	arena := bytes.Repeat([]byte{0xff}, int(pr.size))
	for name, data := range inputs {
		b := pr.buf(name)
		if int64(len(data)) != b.bytes {
			return nil, fmt.Errorf("input %s: %d bytes, buffer has %d", name, len(data), b.bytes)
		}
		copy(arena[b.off:], data)
	}
	if steps == nil {
		for i := range pr.steps {
			steps = append(steps, i)
		}
	}
	for _, i := range steps {
		l := pr.steps[i].l
		mod := e.fwd
		if l.module == "attention_bwd" {
			mod = e.bwd
		}
		params := pr.params(i, 0)
		arena = mod.run(e.t, emuLaunch{name: l.name, gridX: l.gridX, gridY: l.gridY, block: l.block, smem: l.smem, ptrMask: attnPtrMask}, params[:], arena)
	}
	// Nothing may be written between the buffers.
	used := make([]bool, len(arena))
	for _, b := range pr.bufs {
		for i := b.off; i < b.off+b.bytes; i++ {
			used[i] = true
		}
	}
	for i, u := range used {
		if !u && arena[i] != 0xff {
			return nil, fmt.Errorf("byte %d, outside every buffer, was written", i)
		}
	}
	out := map[string][]byte{}
	for _, name := range outputs {
		b := pr.buf(name)
		out[name] = arena[b.off : b.off+b.bytes]
	}
	return out, nil
}

// TestAttentionKernelsOnHost runs kernels/attention_fwd.cu and
// attention_bwd.cu in the host emulation (tensor-core fragments, ldmatrix
// and cp.async emulated from the PTX ISA's layouts) through the same
// programs as the device: every head width, with and without the causal
// mask, dense and packed layouts, O in fp32 and bf16.
func TestAttentionKernelsOnHost(t *testing.T) {
	e := emuAttention{buildHostEmu(t, "attention_fwd"), buildHostEmu(t, "attention_bwd"), t}
	// A quick set by default (the emulation runs every mma lane by lane);
	// GC_EMU_FULL=1 adds the device self-test's checks and more.
	checks := []attnCheck{
		{sh: AttnShape{B: 2, H: 1, T: 128, D: 32, Scale: 0.18, Causal: true}, seed: 1},
		{sh: AttnShape{B: 1, H: 2, T: 64, D: 32, Scale: 0.18}, packed: true, seed: 2},
		{sh: AttnShape{B: 1, H: 1, T: 128, D: 64, Scale: 0.125, Causal: true}, packed: true, seed: 3},
		{sh: AttnShape{B: 1, H: 1, T: 64, D: 128, Scale: 0.09}, outF32: true, seed: 4},
	}
	if os.Getenv("GC_EMU_FULL") == "1" {
		checks = append(checks, attnSelfTestChecks()...)
		checks = append(checks,
			attnCheck{sh: AttnShape{B: 1, H: 1, T: 192, D: 64, Scale: 0.125, Causal: true}, seed: 7},
			attnCheck{sh: AttnShape{B: 2, H: 1, T: 128, D: 128, Scale: 0.09, Causal: true}, packed: true, seed: 8},
		)
	}
	for _, c := range checks {
		t.Run(c.String(), func(t *testing.T) {
			e.t = t
			if err := runAttnCheck(e, c); err != nil {
				t.Fatal(err)
			}
		})
	}
}
