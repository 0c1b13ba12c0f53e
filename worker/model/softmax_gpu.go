//go:build gccuda

package model

import (
	"sync"
	"sync/atomic"

	"github.com/gradientcoin/gradientcoin/gpu"
)

// In the gccuda build the attention softmax operator (AttnSoftmaxNode) runs
// its forward and backward on GPU 0 with the kernels of package gpu
// (kernels/softmax_fwd.cu, softmax_bwd.cu); the rest of the graph stays on
// the CPU, so each call copies its scores in and its result out. The device
// is opened on first use and must pass the softmax self-test; if it cannot
// be opened or fails, the operator keeps the CPU kernels
// (SoftmaxForward/SoftmaxBackward) and AttnSoftmaxBackend reports why.

var attnGPU struct {
	once sync.Once
	sm   *gpu.Softmax
	desc string
	err  error
	// cpu forces the CPU kernels (tests compare the two in one binary).
	cpu atomic.Bool
}

func attnSoftmaxGPU() *gpu.Softmax {
	attnGPU.once.Do(func() {
		c, err := gpu.NewContext(0)
		if err != nil {
			attnGPU.err = err
			return
		}
		sm, err := gpu.NewSoftmax(c)
		if err == nil {
			err = sm.SelfTest()
		}
		if err != nil {
			if sm != nil {
				sm.Close()
			}
			c.Close()
			attnGPU.err = err
			return
		}
		attnGPU.sm, attnGPU.desc = sm, c.Device().String()
	})
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
