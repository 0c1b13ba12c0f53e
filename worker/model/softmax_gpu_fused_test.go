package model

import (
	"math"
	"math/rand/v2"
	"testing"

	"github.com/gradientcoin/gradientcoin/gpu"
)

// TestFusedAttentionLayoutContract: the model's unfused attention (scores,
// softmax, context and their backward) equals package gpu's fused attention
// references on the model's packed qkv layout (gpu.PackedAttnLayout:
// queries, keys, values side by side, head h at columns h·D.. of each), so
// the fused operator computes what it replaces. Runs in every build; the
// GPU tests then check the kernels against the same references.
func TestFusedAttentionLayoutContract(t *testing.T) {
	r := rand.New(rand.NewPCG(9, 9))
	a := AttnShape{B: 2, T: 7, H: 3, D: 4, Causal: true}
	scale := float32(0.5)
	C := a.H * a.D
	qkv := make([]float32, a.B*a.T*3*C)
	dy := make([]float32, a.B*a.T*C)
	for i := range qkv {
		qkv[i] = float32(r.NormFloat64())
	}
	for i := range dy {
		dy[i] = float32(r.NormFloat64())
	}
	n := a.B * a.H * a.T * a.T
	s, p, dp, ds := make([]float32, n), make([]float32, n), make([]float32, n), make([]float32, n)
	AttnScores(s, qkv, a)
	SoftmaxForward(p, s, a.B*a.H*a.T, a.T, scale, a.Causal, nil)
	y := make([]float32, a.B*a.T*C)
	AttnContext(y, p, qkv, a)
	AttnContextBackwardP(dp, dy, qkv, a)
	SoftmaxBackward(ds, p, dp, a.B*a.H*a.T, a.T, scale, a.Causal)
	g := make([]float32, len(qkv))
	AttnScoresBackward(g, ds, qkv, a)
	gv := make([]float32, len(qkv))
	AttnContextBackwardV(gv, p, dy, a)

	// Dense [B,H,T,D] views of the packed matrices, as gpu's layout says.
	dense := func(src []float32, ld, off int) []float32 {
		out := make([]float32, a.B*a.H*a.T*a.D)
		for b := 0; b < a.B; b++ {
			for h := 0; h < a.H; h++ {
				for i := 0; i < a.T; i++ {
					for d := 0; d < a.D; d++ {
						out[((b*a.H+h)*a.T+i)*a.D+d] = src[(b*a.T+i)*ld+off+h*a.D+d]
					}
				}
			}
		}
		return out
	}
	sh := gpu.AttnShape{B: a.B, H: a.H, T: a.T, D: a.D, Scale: scale, Causal: a.Causal}
	q, k, v := dense(qkv, 3*C, 0), dense(qkv, 3*C, C), dense(qkv, 3*C, 2*C)
	o := make([]float32, len(q))
	gpu.AttentionForwardReference(o, make([]float32, a.B*a.H*a.T), q, k, v, sh)
	dq, dk, dv := make([]float32, len(q)), make([]float32, len(q)), make([]float32, len(q))
	gpu.AttentionBackwardReference(dq, dk, dv, q, k, v, dense(dy, C, 0), sh)
	for _, c := range []struct {
		name      string
		got, want []float32
	}{
		{"y", dense(y, C, 0), o},
		{"dq", dense(g, 3*C, 0), dq},
		{"dk", dense(g, 3*C, C), dk},
		{"dv", dense(gv, 3*C, 2*C), dv},
	} {
		for i := range c.want {
			if math.Abs(float64(c.got[i]-c.want[i])) > 1e-5*math.Max(1, math.Abs(float64(c.want[i]))) {
				t.Fatalf("%s[%d]: model kernels %v, gpu reference %v", c.name, i, c.got[i], c.want[i])
			}
		}
	}
	if fusedAttentionFits(a, scale) && !gpu.Available() {
		t.Error("fused attention chosen without CUDA")
	}
}
