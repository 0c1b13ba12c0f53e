//go:build !gccuda

package model

// The default build runs the attention on the CPU: the softmax operator
// with SoftmaxForward/SoftmaxBackward, and never the fused operator. The
// gccuda build's twin of this file (softmax_gpu.go) runs them on the GPU.

// AttnSoftmaxBackend names where the attention softmax runs: "cpu" in this
// build.
func AttnSoftmaxBackend() (string, error) { return "cpu", nil }

// FusedAttentionBackend names the device that runs the fused attention
// operator: none in this build.
func FusedAttentionBackend() (string, error) { return "", errFusedOff }

func attnSoftmaxForward(dst, src []float32, rows, cols int, scale float32, causal bool) error {
	SoftmaxForward(dst, src, rows, cols, scale, causal, nil)
	return nil
}

func attnSoftmaxBackward(dsrc, p, dp []float32, rows, cols int, scale float32, causal bool) error {
	SoftmaxBackward(dsrc, p, dp, rows, cols, scale, causal)
	return nil
}

func fusedAttentionFits(a AttnShape, scale float32) bool { return false }

func fusedAttnForward(y, qkv []float32, a AttnShape, scale float32) error { return errFusedOff }

func fusedAttnBackward(dqkv, qkv, dy []float32, a AttnShape, scale float32) error {
	return errFusedOff
}
