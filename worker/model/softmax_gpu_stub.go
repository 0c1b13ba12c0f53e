//go:build !gccuda

package model

// The default build's attention softmax operator runs the CPU kernels; the
// gccuda build's twin of this file (softmax_gpu.go) runs them on the GPU.

// AttnSoftmaxBackend names where the attention softmax runs: "cpu" in this
// build.
func AttnSoftmaxBackend() (string, error) { return "cpu", nil }

func attnSoftmaxForward(dst, src []float32, rows, cols int, scale float32, causal bool) error {
	SoftmaxForward(dst, src, rows, cols, scale, causal, nil)
	return nil
}

func attnSoftmaxBackward(dsrc, p, dp []float32, rows, cols int, scale float32, causal bool) error {
	SoftmaxBackward(dsrc, p, dp, rows, cols, scale, causal)
	return nil
}
