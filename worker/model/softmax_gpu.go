//go:build gccuda

package model

import (
	"os"
	"sync"
	"sync/atomic"

	"github.com/gradientcoin/gradientcoin/gpu"
)

// In the gccuda build the model's attention runs on GPU 0 with the kernels
// of package gpu; the rest of the graph stays on the CPU, so each operator
// call copies its inputs in and its result out.
//   - Layers whose shapes fit the fused kernels (head width 32, 64 or 128,
//     sequence length a multiple of 64) use one fused attention operator
//     (kernels/attention_*.cu: bf16 tensor cores, fp32 accumulation) in
//     place of scores, softmax and context. GRADIENTCOIN_FUSED_ATTENTION=0
//     turns this off.
//   - Otherwise the attention softmax operator runs its forward and
//     backward with kernels/softmax_*.cu (fp32).
// The device is opened on first use and each kernel family must pass its
// self-test; if the device cannot be opened or a self-test fails, that part
// stays on the CPU (SoftmaxForward/SoftmaxBackward, or the unfused
// operators) and AttnSoftmaxBackend reports why.

var attnGPU struct {
	once     sync.Once
	sm       *gpu.Softmax
	fused    *gpu.Attention
	desc     string
	err      error // why the softmax is not on the GPU
	fusedErr error // why the fused attention is not used
	// cpu forces the CPU kernels and noFused the unfused operators (tests
	// compare them in one binary); both are read when a graph is built.
	cpu, noFused atomic.Bool
}

func attnGPUInit() {
	attnGPU.once.Do(func() {
		c, err := gpu.NewContext(0)
		if err != nil {
			attnGPU.err, attnGPU.fusedErr = err, err
			return
		}
		attnGPU.desc = c.Device().String()
		sm, err := gpu.NewSoftmax(c)
		if err == nil {
			if err = sm.SelfTest(); err != nil {
				sm.Close()
			}
		}
		if err != nil {
			attnGPU.err = err
		} else {
			attnGPU.sm = sm
		}
		if os.Getenv("GRADIENTCOIN_FUSED_ATTENTION") == "0" {
			attnGPU.fusedErr = errFusedOff
			return
		}
		fa, err := gpu.NewAttention(c)
		if err == nil {
			if err = fa.SelfTest(); err != nil {
				fa.Close()
			}
		}
		if err != nil {
			attnGPU.fusedErr = err
		} else {
			attnGPU.fused = fa
		}
	})
}

func attnSoftmaxGPU() *gpu.Softmax {
	attnGPUInit()
	if attnGPU.cpu.Load() {
		return nil
	}
	return attnGPU.sm
}

// AttnSoftmaxBackend names where the attention softmax runs: the CUDA
// device (gccuda build, device 0 open and self-tested) or "cpu"; err says
// why a gccuda build fell back to the CPU.
func AttnSoftmaxBackend() (string, error) {
	if sm := attnSoftmaxGPU(); sm != nil {
		return attnGPU.desc, nil
	}
	return "cpu", attnGPU.err
}

// FusedAttentionBackend names the device that runs the fused attention
// operator, or "" (with the reason) when layers use the unfused operators.
func FusedAttentionBackend() (string, error) {
	attnGPUInit()
	if attnGPU.cpu.Load() || attnGPU.noFused.Load() {
		return "", errFusedOff
	}
	if attnGPU.fused == nil {
		return "", attnGPU.fusedErr
	}
	return attnGPU.desc, nil
}

func attnSoftmaxForward(dst, src []float32, rows, cols int, scale float32, causal bool) error {
	sm := attnSoftmaxGPU()
	if sm == nil {
		SoftmaxForward(dst, src, rows, cols, scale, causal, nil)
		return nil
	}
	return sm.ForwardHost(gpu.SoftmaxShape{Rows: rows, Cols: cols, Scale: scale, Causal: causal}, dst, src, nil)
}

func attnSoftmaxBackward(dsrc, p, dp []float32, rows, cols int, scale float32, causal bool) error {
	sm := attnSoftmaxGPU()
	if sm == nil {
		SoftmaxBackward(dsrc, p, dp, rows, cols, scale, causal)
		return nil
	}
	return sm.BackwardHost(gpu.SoftmaxShape{Rows: rows, Cols: cols, Scale: scale, Causal: causal}, dsrc, p, dp)
}

func fusedShape(a AttnShape, scale float32) gpu.AttnShape {
	return gpu.AttnShape{B: a.B, H: a.H, T: a.T, D: a.D, Scale: scale, Causal: a.Causal}
}

// fusedAttentionFits says whether a layer of this shape uses the fused
// operator (decided when the graph is built).
func fusedAttentionFits(a AttnShape, scale float32) bool {
	if name, _ := FusedAttentionBackend(); name == "" {
		return false
	}
	return gpu.AttentionFits(fusedShape(a, scale))
}

func fusedAttnForward(y, qkv []float32, a AttnShape, scale float32) error {
	attnGPUInit()
	if attnGPU.fused == nil {
		return attnGPU.fusedErr
	}
	return attnGPU.fused.ForwardPackedHost(fusedShape(a, scale), y, qkv)
}

func fusedAttnBackward(dqkv, qkv, dy []float32, a AttnShape, scale float32) error {
	attnGPUInit()
	if attnGPU.fused == nil {
		return attnGPU.fusedErr
	}
	return attnGPU.fused.BackwardPackedHost(fusedShape(a, scale), dqkv, qkv, dy)
}
