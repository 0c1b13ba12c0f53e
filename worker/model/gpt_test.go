package model

import (
	"errors"
	"math"
	"math/rand/v2"
	"testing"

	"github.com/gradientcoin/gradientcoin/chain/state"
)

func tinyGPT() state.ModelConfig {
	return state.ModelConfig{Kind: state.ModelGPT, Vocab: 13, Context: 6, Layers: 2, Width: 8, Heads: 2, MLPMult: 2, InitStd: 0.3}
}

// perturbed returns initial weights with noise on every entry, so that
// gains, biases and all paths carry gradient.
func perturbed(t *testing.T, cfg state.ModelConfig, seed uint64) []float32 {
	t.Helper()
	w, err := InitWeights(cfg, seed)
	if err != nil {
		t.Fatal(err)
	}
	rng := rand.New(rand.NewPCG(seed, 99))
	for i := range w {
		w[i] += float32(rng.NormFloat64() * 0.1)
	}
	return w
}

func randTokens(rng *rand.Rand, n, vocab int) []int32 {
	ids := make([]int32, n)
	for i := range ids {
		ids[i] = int32(rng.IntN(vocab))
	}
	return ids
}

// TestGPTLossGradient checks the whole-model gradient, tensor by tensor,
// against central finite differences of the loss along a random unit
// direction supported on that tensor.
func TestGPTLossGradient(t *testing.T) {
	cfg := tinyGPT()
	const B, T = 2, 5
	m, err := NewGPT(cfg, B, T, true)
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	w := perturbed(t, cfg, 1)
	rng := rand.New(rand.NewPCG(2, 2))
	in := randTokens(rng, B*T, cfg.Vocab)
	tg := randTokens(rng, B*T, cfg.Vocab)
	tg[3] = -1 // an ignored position
	grad := make([]float32, len(w))
	loss, err := m.LossGrad(w, in, tg, grad)
	if err != nil {
		t.Fatal(err)
	}
	layout, _, _ := cfg.Layout()
	lossAt := func(w2 []float32) float64 {
		l, _, err := m.Forward(w2, in, tg)
		if err != nil {
			t.Fatal(err)
		}
		return float64(l)
	}
	if l0 := lossAt(w); math.Abs(l0-float64(loss)) > 1e-6 {
		t.Fatalf("Forward loss %v differs from LossGrad loss %v", l0, loss)
	}
	for _, ten := range layout {
		dir := make([]float32, len(w))
		var norm float64
		for i := ten.Offset; i < ten.Offset+ten.Size(); i++ {
			dir[i] = float32(rng.NormFloat64())
			norm += float64(dir[i]) * float64(dir[i])
		}
		norm = math.Sqrt(norm)
		var analytic float64
		for i := range dir {
			dir[i] = float32(float64(dir[i]) / norm)
			analytic += float64(dir[i]) * float64(grad[i])
		}
		const eps = 1e-2
		wp := make([]float32, len(w))
		wm := make([]float32, len(w))
		for i := range w {
			wp[i] = w[i] + eps*dir[i]
			wm[i] = w[i] - eps*dir[i]
		}
		fd := (lossAt(wp) - lossAt(wm)) / (2 * eps)
		if d := math.Abs(fd - analytic); d > 2e-3+0.02*math.Abs(fd) {
			t.Errorf("tensor %s: directional derivative %.6f, finite differences %.6f", ten.Name, analytic, fd)
		}
	}
}

func TestGPTRepeatable(t *testing.T) {
	cfg := tinyGPT()
	m, err := NewGPT(cfg, 3, 6, true)
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	w := perturbed(t, cfg, 3)
	orig := append([]float32(nil), w...)
	rng := rand.New(rand.NewPCG(4, 4))
	in := randTokens(rng, 18, cfg.Vocab)
	tg := randTokens(rng, 18, cfg.Vocab)
	g1 := make([]float32, len(w))
	g2 := make([]float32, len(w))
	l1, err := m.LossGrad(w, in, tg, g1)
	if err != nil {
		t.Fatal(err)
	}
	// A different batch in between must not leak into the next call.
	if _, err := m.LossGrad(w, randTokens(rng, 18, cfg.Vocab), randTokens(rng, 18, cfg.Vocab), g2); err != nil {
		t.Fatal(err)
	}
	l2, err := m.LossGrad(w, in, tg, g2)
	if err != nil {
		t.Fatal(err)
	}
	if l1 != l2 {
		t.Errorf("loss %v then %v on the same batch", l1, l2)
	}
	for i := range g1 {
		if g1[i] != g2[i] {
			t.Fatalf("gradient entry %d: %v then %v", i, g1[i], g2[i])
		}
	}
	for i := range w {
		if w[i] != orig[i] {
			t.Fatalf("caller's weights modified at %d", i)
		}
	}
	// Initial loss of a small-init model is near ln(vocab).
	w0, _ := InitWeights(state.ModelConfig{Kind: state.ModelGPT, Vocab: 13, Context: 6, Layers: 2, Width: 8, Heads: 2, MLPMult: 2, InitStd: 0.02}, 1)
	l0, _, err := m.Forward(w0, in, tg)
	if err != nil {
		t.Fatal(err)
	}
	if math.Abs(float64(l0)-math.Log(13)) > 0.05 {
		t.Errorf("initial loss %v, want about ln 13 = %v", l0, math.Log(13))
	}
}

func TestGPTErrors(t *testing.T) {
	cfg := tinyGPT()
	m, err := NewGPT(cfg, 2, 3, true)
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	ev, err := NewGPT(cfg, 1, 6, false)
	if err != nil {
		t.Fatal(err)
	}
	defer ev.Close()
	w := perturbed(t, cfg, 5)
	nan := append([]float32(nil), w...)
	nan[17] = float32(math.NaN())
	ok := []int32{1, 2, 3, 4, 5, 6}
	grad := make([]float32, len(w))
	bad := cfg
	bad.Heads = 3
	cases := []struct {
		name string
		f    func() error
		want error
	}{
		{"config-heads", func() error { _, err := NewGPT(bad, 1, 1, true); return err }, ErrBadConfig},
		{"config-heads-state-sentinel", func() error { _, err := NewGPT(bad, 1, 1, true); return err }, state.ErrBadModelConfig},
		{"config-kind", func() error {
			_, err := NewGPT(state.ModelConfig{Kind: state.ModelSoftmaxRegression, Dim: 3, Rows: 2, Count: 1, Lambda: 1}, 1, 1, true)
			return err
		}, ErrBadConfig},
		{"seq-over-context", func() error { _, err := NewGPT(cfg, 1, 7, true); return err }, ErrBadConfig},
		{"short-weights", func() error { _, err := m.LossGrad(w[1:], ok, ok, grad); return err }, ErrShape},
		{"short-grad", func() error { _, err := m.LossGrad(w, ok, ok, grad[1:]); return err }, ErrShape},
		{"short-batch", func() error { _, err := m.LossGrad(w, ok[1:], ok[1:], grad); return err }, ErrShape},
		{"token-out-of-vocab", func() error { _, err := m.LossGrad(w, []int32{1, 2, 13, 4, 5, 6}, ok, grad); return err }, ErrBadInput},
		{"negative-input", func() error { _, err := m.LossGrad(w, []int32{1, 2, -1, 4, 5, 6}, ok, grad); return err }, ErrBadInput},
		{"target-out-of-vocab", func() error { _, err := m.LossGrad(w, ok, []int32{1, 2, 99, 4, 5, 6}, grad); return err }, ErrBadInput},
		{"nan-weights", func() error { _, err := m.LossGrad(nan, ok, ok, grad); return err }, ErrNonFinite},
		{"eval-model-no-grad", func() error { _, err := ev.LossGrad(w, ok, ok, grad); return err }, ErrBadConfig},
	}
	for _, c := range cases {
		err := c.f()
		if !errors.Is(err, c.want) {
			t.Errorf("%s: got %v, want %v", c.name, err, c.want)
		}
	}
	// Huge weights overflow to a non-finite loss: an error, not a panic.
	huge := append([]float32(nil), w...)
	for i := range huge {
		huge[i] = 3e38
	}
	if _, err := m.LossGrad(huge, ok, ok, grad); !errors.Is(err, ErrNonFinite) {
		t.Errorf("huge-weights: got %v, want ErrNonFinite", err)
	}
}

// refGPTLoss is an independent float64 forward pass of the whole model
// built from the naive reference functions of ops_test.go.
func refGPTLoss(cfg state.ModelConfig, w []float32, in, tg []int32, B, T int) float64 {
	layout, _, _ := cfg.Layout()
	p := map[string][]float64{}
	for _, t := range layout {
		p[t.Name] = to64(w[t.Offset : t.Offset+t.Size()])
	}
	C, N := cfg.Width, B*T
	ids := make([]float64, N)
	for i, v := range in {
		ids[i] = float64(v)
	}
	x := refEmbed(p["tok_emb"], p["pos_emb"], ids, T, C)
	a := AttnShape{B: B, T: T, H: cfg.Heads, D: C / cfg.Heads, Causal: true}
	add := func(x, y []float64) []float64 {
		o := make([]float64, len(x))
		for i := range x {
			o[i] = x[i] + y[i]
		}
		return o
	}
	for l := 0; l < cfg.Layers; l++ {
		pre := "h." + string(rune('0'+l)) + "."
		h := refLayerNorm(x, p[pre+"ln1.g"], p[pre+"ln1.b"], N, C)
		qkv := refLinear(h, p[pre+"attn.qkv.w"], p[pre+"attn.qkv.b"], N, C, 3*C, false)
		s := refScores(qkv, a)
		pr := refSoftmax(s, B*a.H*T, T, 1/math.Sqrt(float64(a.D)), true)
		y := refContext(pr, qkv, a)
		y = refLinear(y, p[pre+"attn.proj.w"], p[pre+"attn.proj.b"], N, C, C, false)
		x = add(x, y)
		h = refLayerNorm(x, p[pre+"ln2.g"], p[pre+"ln2.b"], N, C)
		M := cfg.MLPMult * C
		f := refLinear(h, p[pre+"mlp.fc.w"], p[pre+"mlp.fc.b"], N, C, M, false)
		f = refGELU(f)
		f = refLinear(f, p[pre+"mlp.proj.w"], p[pre+"mlp.proj.b"], N, M, C, false)
		x = add(x, f)
	}
	h := refLayerNorm(x, p["ln_f.g"], p["ln_f.b"], N, C)
	logits := refLinear(h, p["tok_emb"], nil, N, C, cfg.Vocab, true)
	t64 := make([]float64, N)
	for i, v := range tg {
		t64[i] = float64(v)
	}
	return refXent(logits, t64, N, cfg.Vocab)[0]
}

func TestGPTForwardMatchesReference(t *testing.T) {
	cases := []struct {
		name string
		cfg  state.ModelConfig
		B, T int
	}{
		{"tiny", tinyGPT(), 2, 5},
		{"one-head-one-layer", state.ModelConfig{Kind: state.ModelGPT, Vocab: 7, Context: 4, Layers: 1, Width: 6, Heads: 1, MLPMult: 1, InitStd: 0.5}, 3, 4},
		{"short-seq", state.ModelConfig{Kind: state.ModelGPT, Vocab: 20, Context: 9, Layers: 3, Width: 12, Heads: 3, MLPMult: 3, InitStd: 0.4}, 1, 7},
	}
	for _, c := range cases {
		m, err := NewGPT(c.cfg, c.B, c.T, true)
		if err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		w := perturbed(t, c.cfg, 8)
		rng := rand.New(rand.NewPCG(9, 9))
		in := randTokens(rng, c.B*c.T, c.cfg.Vocab)
		tg := randTokens(rng, c.B*c.T, c.cfg.Vocab)
		got, _, err := m.Forward(w, in, tg)
		if err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		want := refGPTLoss(c.cfg, w, in, tg, c.B, c.T)
		if math.Abs(float64(got)-want) > 1e-5*math.Max(1, math.Abs(want)) {
			t.Errorf("%s: loss %v, float64 reference %v", c.name, got, want)
		}
		m.Close()
	}
}
