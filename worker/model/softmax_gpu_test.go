//go:build gccuda

package model

// GPU tests of the attention softmax operator (gccuda build): they need a
// CUDA device; run them on the GPU machine with bench/gpu.sh.

import (
	"fmt"
	"math"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/gradientcoin/gradientcoin/chain/state"
)

func TestAttnSoftmaxBackendIsGPU(t *testing.T) {
	name, err := AttnSoftmaxBackend()
	if err != nil || !strings.HasPrefix(name, "cuda:") {
		t.Fatalf("attention softmax runs on %q (%v), want the GPU", name, err)
	}
	t.Logf("attention softmax on %s", name)
}

// TestAttnSoftmaxOperatorMatchesCPU: the operator's forward and backward
// kernels on the GPU against SoftmaxForward/SoftmaxBackward, over the
// (B·H)×T×T shapes the model makes (odd T takes the scalar path), within
// 1e-5 of each row's largest entry.
func TestAttnSoftmaxOperatorMatchesCPU(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	for _, c := range []struct{ bh, T int }{{4, 6}, {8, 5}, {16, 32}, {8, 64}, {32, 128}, {4, 256}, {2, 1024}, {1, 2048}} {
		for _, causal := range []bool{true, false} {
			rows, cols := c.bh*c.T, c.T
			scale := float32(1 / math.Sqrt(16))
			s := make([]float32, rows*cols)
			dp := make([]float32, rows*cols)
			for i := range s {
				s[i] = float32(r.NormFloat64() * 3)
				dp[i] = float32(r.NormFloat64())
			}
			want := make([]float32, len(s))
			SoftmaxForward(want, s, rows, cols, scale, causal, nil)
			got := make([]float32, len(s))
			if err := attnSoftmaxForward(got, s, rows, cols, scale, causal); err != nil {
				t.Fatal(err)
			}
			name := fmt.Sprintf("bh=%d/T=%d/causal=%v", c.bh, c.T, causal)
			if err := closeRows(got, want, rows, cols, 1e-5, nil); err != nil {
				t.Fatalf("%s: forward: %v", name, err)
			}
			wantDS := make([]float32, len(s))
			SoftmaxBackward(wantDS, want, dp, rows, cols, scale, causal)
			gotDS := make([]float32, len(s))
			if err := attnSoftmaxBackward(gotDS, want, dp, rows, cols, scale, causal); err != nil {
				t.Fatal(err)
			}
			// dS = scale·P ⊙ (dP − rowsum) cancels where one entry
			// dominates: compare against the size of the subtracted terms.
			mag := make([]float64, rows)
			for r := range mag {
				var dot float64
				for j := 0; j < cols; j++ {
					dot += float64(want[r*cols+j]) * float64(dp[r*cols+j])
				}
				for j := 0; j < cols; j++ {
					mag[r] = math.Max(mag[r], float64(scale)*math.Abs(float64(want[r*cols+j]))*(math.Abs(float64(dp[r*cols+j]))+math.Abs(dot)))
				}
			}
			if err := closeRows(gotDS, wantDS, rows, cols, 1e-5, mag); err != nil {
				t.Fatalf("%s: backward: %v", name, err)
			}
		}
	}
}

// closeRows: every entry within tol of its row's largest |want| (or of
// mag[row], where mag is given and larger).
func closeRows(got, want []float32, rows, cols int, tol float64, mag []float64) error {
	for r := 0; r < rows; r++ {
		var m float64
		for j := 0; j < cols; j++ {
			m = math.Max(m, math.Abs(float64(want[r*cols+j])))
		}
		if mag != nil {
			m = math.Max(m, mag[r])
		}
		for j := 0; j < cols; j++ {
			g, w := float64(got[r*cols+j]), float64(want[r*cols+j])
			if !(math.Abs(g-w) <= tol*m) {
				return fmt.Errorf("[%d,%d] = %v, want %v", r, j, g, w)
			}
		}
	}
	return nil
}

// trainCurve runs steps of plain SGD on the GPT from fixed initial weights
// and a fixed stream of batches (each sequence counts up by a random stride
// mod Vocab, which the model learns quickly), with the attention on the GPU
// (fused where the shapes fit, unless noFused) or forced onto the CPU, and
// returns the loss of every step and the first step's gradient.
func trainCurve(t *testing.T, cfg state.ModelConfig, B, T, steps int, lr float32, onGPU, noFused bool) ([]float64, []float32) {
	t.Helper()
	attnGPU.cpu.Store(!onGPU)
	attnGPU.noFused.Store(noFused)
	defer func() {
		attnGPU.cpu.Store(false)
		attnGPU.noFused.Store(false)
	}()
	m, err := NewGPT(cfg, B, T, true)
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	w, err := InitWeights(cfg, 7)
	if err != nil {
		t.Fatal(err)
	}
	g := make([]float32, len(w))
	var g0 []float32
	rng := rand.New(rand.NewPCG(11, 12))
	in := make([]int32, B*T)
	tg := make([]int32, B*T)
	var losses []float64
	for step := 0; step < steps; step++ {
		for b := 0; b < B; b++ {
			x, stride := rng.IntN(cfg.Vocab), 1+rng.IntN(3)
			for i := 0; i < T; i++ {
				in[b*T+i] = int32(x)
				x = (x + stride) % cfg.Vocab
				tg[b*T+i] = int32(x)
			}
		}
		loss, err := m.LossGrad(w, in, tg, g)
		if err != nil {
			t.Fatal(err)
		}
		if step == 0 {
			g0 = append([]float32(nil), g...)
		}
		losses = append(losses, float64(loss))
		for i := range w {
			w[i] -= lr * g[i]
		}
	}
	return losses, g0
}

// TestGPUTrainingMatchesCPU: training the model with the attention on the
// GPU gives the CPU's loss curve. With the fp32 softmax kernels: the first
// step's loss within a relative 1e-5 and its gradient within 1e-4
// (‖Δ‖/‖g‖), every later loss within a relative 2e-3 (rounding differences
// grow slowly through SGD). With the fused bf16 attention (head widths 32
// and 64, T = 64 and 128): 2e-3, 2e-2 and 2e-2. The loss must fall.
func TestGPUTrainingMatchesCPU(t *testing.T) {
	if name, err := AttnSoftmaxBackend(); !strings.HasPrefix(name, "cuda:") {
		t.Fatalf("no GPU softmax: %v", err)
	}
	if name, err := FusedAttentionBackend(); !strings.HasPrefix(name, "cuda:") {
		t.Fatalf("no fused attention: %v", err)
	}
	for _, c := range []struct {
		name                string
		cfg                 state.ModelConfig
		B, T                int
		steps               int
		lr                  float32
		fused               bool
		loss0, grad0, curve float64
	}{
		{"tiny-T6", state.ModelConfig{Kind: state.ModelGPT, Vocab: 13, Context: 6, Layers: 2, Width: 8, Heads: 2, MLPMult: 2, InitStd: 0.3}, 4, 6, 60, 0.3, false, 1e-5, 1e-4, 2e-3},
		{"small-T64", state.ModelConfig{Kind: state.ModelGPT, Vocab: 32, Context: 64, Layers: 2, Width: 32, Heads: 4, MLPMult: 4, InitStd: 0.05}, 4, 64, 40, 0.5, false, 1e-5, 1e-4, 2e-3},
		{"T128", state.ModelConfig{Kind: state.ModelGPT, Vocab: 64, Context: 128, Layers: 1, Width: 32, Heads: 2, MLPMult: 2, InitStd: 0.05}, 2, 128, 80, 0.5, false, 1e-5, 1e-4, 2e-3},
		{"fused-d32-T64", state.ModelConfig{Kind: state.ModelGPT, Vocab: 32, Context: 64, Layers: 2, Width: 64, Heads: 2, MLPMult: 2, InitStd: 0.05}, 4, 64, 40, 0.5, true, 2e-3, 2e-2, 2e-2},
		{"fused-d64-T128", state.ModelConfig{Kind: state.ModelGPT, Vocab: 64, Context: 128, Layers: 1, Width: 128, Heads: 2, MLPMult: 2, InitStd: 0.05}, 2, 128, 60, 0.3, true, 2e-3, 2e-2, 2e-2},
	} {
		t.Run(c.name, func(t *testing.T) {
			a := AttnShape{B: c.B, T: c.T, H: c.cfg.Heads, D: c.cfg.Width / c.cfg.Heads, Causal: true}
			if fits := fusedAttentionFits(a, 1/float32(math.Sqrt(float64(a.D)))); fits != c.fused {
				t.Fatalf("fused attention used: %v, want %v", fits, c.fused)
			}
			gpuLoss, gpuG := trainCurve(t, c.cfg, c.B, c.T, c.steps, c.lr, true, false)
			cpuLoss, cpuG := trainCurve(t, c.cfg, c.B, c.T, c.steps, c.lr, false, false)
			if d := math.Abs(gpuLoss[0]-cpuLoss[0]) / cpuLoss[0]; d > c.loss0 {
				t.Errorf("step 0: GPU loss %v, CPU %v", gpuLoss[0], cpuLoss[0])
			}
			var num, den float64
			for i := range cpuG {
				d := float64(gpuG[i] - cpuG[i])
				num += d * d
				den += float64(cpuG[i]) * float64(cpuG[i])
			}
			if rel := math.Sqrt(num / den); rel > c.grad0 {
				t.Errorf("step 0 gradient: relative difference %.3g", rel)
			}
			var worst float64
			for i := range cpuLoss {
				d := math.Abs(gpuLoss[i]-cpuLoss[i]) / cpuLoss[i]
				worst = math.Max(worst, d)
				if d > c.curve {
					t.Errorf("step %d: GPU loss %v, CPU %v", i, gpuLoss[i], cpuLoss[i])
				}
			}
			last := len(cpuLoss) - 1
			if cpuLoss[last] > 0.8*cpuLoss[0] || gpuLoss[last] > 0.8*gpuLoss[0] {
				t.Errorf("loss did not fall: CPU %v → %v, GPU %v → %v", cpuLoss[0], cpuLoss[last], gpuLoss[0], gpuLoss[last])
			}
			t.Logf("loss %.4f → %.4f over %d steps; largest GPU/CPU difference %.2g", cpuLoss[0], cpuLoss[last], last+1, worst)
		})
	}
}

// TestFusedAttentionOperatorMatchesCPU: the fused operator's forward and
// backward kernels against the model's CPU attention kernels (scores,
// softmax, context and their backward) on random qkv and dy, within the
// bf16 tolerances (‖Δ‖/‖ref‖ ≤ 1e-2).
func TestFusedAttentionOperatorMatchesCPU(t *testing.T) {
	if name, err := FusedAttentionBackend(); !strings.HasPrefix(name, "cuda:") {
		t.Fatalf("no fused attention: %v", err)
	}
	r := rand.New(rand.NewPCG(3, 4))
	for _, a := range []AttnShape{
		{B: 2, T: 64, H: 2, D: 32, Causal: true},
		{B: 1, T: 128, H: 3, D: 64, Causal: true},
		{B: 2, T: 192, H: 1, D: 128, Causal: true},
		{B: 1, T: 128, H: 2, D: 64},
	} {
		scale := 1 / float32(math.Sqrt(float64(a.D)))
		C := a.H * a.D
		qkv := make([]float32, a.B*a.T*3*C)
		dy := make([]float32, a.B*a.T*C)
		for i := range qkv {
			qkv[i] = float32(r.NormFloat64() * 1.2)
		}
		for i := range dy {
			dy[i] = float32(r.NormFloat64())
		}
		// CPU: the unfused operators' kernels.
		n := a.B * a.H * a.T * a.T
		s, p, dp := make([]float32, n), make([]float32, n), make([]float32, n)
		AttnScores(s, qkv, a)
		SoftmaxForward(p, s, a.B*a.H*a.T, a.T, scale, a.Causal, nil)
		want := make([]float32, a.B*a.T*C)
		AttnContext(want, p, qkv, a)
		AttnContextBackwardP(dp, dy, qkv, a)
		ds := make([]float32, n)
		SoftmaxBackward(ds, p, dp, a.B*a.H*a.T, a.T, scale, a.Causal)
		wantG := make([]float32, len(qkv))
		AttnScoresBackward(wantG, ds, qkv, a)
		dv := make([]float32, len(qkv))
		AttnContextBackwardV(dv, p, dy, a)
		for i := range wantG {
			wantG[i] += dv[i]
		}
		got := make([]float32, len(want))
		if err := fusedAttnForward(got, qkv, a, scale); err != nil {
			t.Fatal(err)
		}
		gotG := make([]float32, len(qkv))
		if err := fusedAttnBackward(gotG, qkv, dy, a, scale); err != nil {
			t.Fatal(err)
		}
		for _, c := range []struct {
			name      string
			got, want []float32
		}{{"y", got, want}, {"dqkv", gotG, wantG}} {
			var num, den float64
			for i := range c.want {
				d := float64(c.got[i] - c.want[i])
				if math.IsNaN(d) {
					t.Fatalf("%+v: %s[%d] is NaN", a, c.name, i)
				}
				num += d * d
				den += float64(c.want[i]) * float64(c.want[i])
			}
			if rel := math.Sqrt(num / den); rel > 1e-2 {
				t.Errorf("%+v: %s relative error %.3g", a, c.name, rel)
			} else {
				t.Logf("%+v: %s relative error %.3g", a, c.name, rel)
			}
		}
	}
}
