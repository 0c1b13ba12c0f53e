package train

import (
	"errors"
	"math"
	"slices"
	"strings"
	"testing"

	"github.com/gradientcoin/gradientcoin/chain/state"
	"github.com/gradientcoin/gradientcoin/worker/data"
	"github.com/gradientcoin/gradientcoin/worker/model"
)

func TestOptimizerStep(t *testing.T) {
	cases := []struct {
		name string
		cfg  OptConfig
		mask []bool
		w, g []float32
		want []float32
	}{
		{"sgd", OptConfig{Kind: SGD, LR: 0.5}, nil, []float32{1, 2}, []float32{2, -4}, []float32{0, 4}},
		{"sgd-l2-masked", OptConfig{Kind: SGD, LR: 0.5, WeightDecay: 1}, []bool{true, false}, []float32{1, 2}, []float32{0, 0}, []float32{0.5, 2}},
		{"sgd-clip", OptConfig{Kind: SGD, LR: 1, ClipNorm: 1}, nil, []float32{0, 0}, []float32{3, 4}, []float32{-0.6, -0.8}},
		// First Adam step moves every entry by lr·sign(g) (bias-corrected).
		{"adamw-first-step", OptConfig{Kind: AdamW, LR: 0.1}, nil, []float32{1, 1}, []float32{5, -0.01}, []float32{0.9, 1.1}},
		// Decoupled decay: a zero gradient still shrinks masked weights.
		{"adamw-decay-only", OptConfig{Kind: AdamW, LR: 0.1, WeightDecay: 0.5}, []bool{false, true}, []float32{1, 1}, []float32{0, 0}, []float32{1, 0.95}},
	}
	for _, c := range cases {
		o, err := NewOptimizer(c.cfg, len(c.w), c.mask)
		if err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		w := slices.Clone(c.w)
		if err := o.Step(w, slices.Clone(c.g)); err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		for i := range w {
			if math.Abs(float64(w[i]-c.want[i])) > 1e-5 {
				t.Errorf("%s: w = %v, want %v", c.name, w, c.want)
				break
			}
		}
	}
}

func TestOptimizerErrors(t *testing.T) {
	cases := []struct {
		name string
		cfg  OptConfig
		n    int
		mask []bool
		want error
	}{
		{"no-kind", OptConfig{LR: 1}, 2, nil, ErrBadConfig},
		{"zero-lr", OptConfig{Kind: SGD}, 2, nil, ErrBadConfig},
		{"nan-lr", OptConfig{Kind: SGD, LR: float32(math.NaN())}, 2, nil, ErrBadConfig},
		{"beta-one", OptConfig{Kind: AdamW, LR: 1, Beta1: 1}, 2, nil, ErrBadConfig},
		{"neg-decay", OptConfig{Kind: AdamW, LR: 1, WeightDecay: -1}, 2, nil, ErrBadConfig},
		{"mask-length", OptConfig{Kind: AdamW, LR: 1}, 2, []bool{true}, ErrShape},
		{"no-params", OptConfig{Kind: SGD, LR: 1}, 0, nil, ErrShape},
	}
	for _, c := range cases {
		if _, err := NewOptimizer(c.cfg, c.n, c.mask); !errors.Is(err, c.want) {
			t.Errorf("%s: got %v, want %v", c.name, err, c.want)
		}
	}
	o, _ := NewOptimizer(OptConfig{Kind: AdamW, LR: 1}, 2, nil)
	w := []float32{1, 2}
	if err := o.Step(w, []float32{1, float32(math.Inf(1))}); !errors.Is(err, ErrNonFinite) || w[0] != 1 {
		t.Errorf("inf gradient: %v, w = %v", err, w)
	}
	if err := o.Step(w, []float32{1}); !errors.Is(err, ErrShape) {
		t.Errorf("short gradient: %v", err)
	}
	if _, err := ParseOptKind("rmsprop"); !errors.Is(err, ErrBadConfig) {
		t.Errorf("parse: %v", err)
	}
}

func regression(t *testing.T) RegressionObjective {
	t.Helper()
	p, err := model.NewSoftmaxRegression(state.ModelConfig{Kind: state.ModelSoftmaxRegression, Dim: 20, Rows: 6, Count: 10, Lambda: 0.05}, 2)
	if err != nil {
		t.Fatal(err)
	}
	return RegressionObjective{Problem: p}
}

func TestLocalSGDRegression(t *testing.T) {
	obj := regression(t)
	opt, _ := NewOptimizer(OptConfig{Kind: SGD, LR: 0.5}, obj.NumParams(), nil)
	parent := make([]float32, obj.NumParams())
	w, losses, err := Local(obj, parent, opt, 50, 1)
	if err != nil {
		t.Fatal(err)
	}
	for i := 1; i < len(losses); i++ {
		if losses[i] > losses[i-1] {
			t.Fatalf("loss rose at step %d: %v → %v", i, losses[i-1], losses[i])
		}
	}
	if slices.Equal(w, parent) || parent[0] != 0 {
		t.Error("weights did not move or parent was modified")
	}
}

func tinyCfg() state.ModelConfig {
	return state.ModelConfig{Kind: state.ModelGPT, Vocab: 256, Context: 16, Layers: 1, Width: 16, Heads: 2, MLPMult: 2, InitStd: 0.02}
}

func TestLocalGPTDeterministicAndLearns(t *testing.T) {
	cfg := tinyCfg()
	corp, err := data.Synthetic(data.SyntheticConfig{Problems: 2000})
	if err != nil {
		t.Fatal(err)
	}
	m, err := model.NewGPT(cfg, 4, 16, true)
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	s, _ := data.NewSampler(corp.Train, nil, 4, 16)
	obj, err := NewGPTObjective(m, s)
	if err != nil {
		t.Fatal(err)
	}
	w0, _ := model.InitWeights(cfg, 1)
	mask, _ := model.DecayMask(cfg)
	run := func(seed uint64) ([]float32, []float32) {
		opt, _ := NewOptimizer(OptConfig{Kind: AdamW, LR: 1e-2, WeightDecay: 0.1, ClipNorm: 1}, len(w0), mask)
		w, losses, err := Local(obj, w0, opt, 40, seed)
		if err != nil {
			t.Fatal(err)
		}
		return w, losses
	}
	a, la := run(7)
	b, _ := run(7)
	c, _ := run(8)
	if !slices.Equal(a, b) {
		t.Error("same seed, different weights")
	}
	if slices.Equal(a, c) {
		t.Error("different seeds, same weights")
	}
	first := (la[0] + la[1] + la[2]) / 3
	last := (la[37] + la[38] + la[39]) / 3
	if !(last < first-1) {
		t.Errorf("loss did not fall: %.3f → %.3f", first, last)
	}
	ev, _ := model.NewGPT(cfg, 8, 16, false)
	defer ev.Close()
	vb, err := data.Windows(corp.Val, 8, 16, 4)
	if err != nil {
		t.Fatal(err)
	}
	l0, err := EvalLoss(ev, w0, vb)
	if err != nil {
		t.Fatal(err)
	}
	l1, _ := EvalLoss(ev, a, vb)
	if !(l1 < l0-1) || math.Abs(l0-math.Log(256)) > 0.1 {
		t.Errorf("validation loss %.3f → %.3f", l0, l1)
	}
	if _, err := NewGPTObjective(m, mustSampler(t, corp.Train, 3, 16)); !errors.Is(err, ErrShape) {
		t.Errorf("mismatched sampler: %v", err)
	}
}

func mustSampler(t *testing.T, d []byte, b, T int) *data.Sampler {
	s, err := data.NewSampler(d, nil, b, T)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// TestExactMatchOverfit trains a tiny model on a corpus of three problems
// until it knows them, then checks the metric reaches 100%, and that a
// fresh model scores 0.
func TestExactMatchOverfit(t *testing.T) {
	cfg := tinyCfg()
	probs := []data.Problem{{Prompt: "c:ab=", Answer: "ab\n"}, {Prompt: "3+4=", Answer: "7\n"}, {Prompt: "r:cd=", Answer: "dc\n"}}
	var text strings.Builder
	for i := 0; i < 300; i++ {
		text.WriteString(probs[i%3].Text())
	}
	m, _ := model.NewGPT(cfg, 8, 16, true)
	defer m.Close()
	s := mustSampler(t, []byte(text.String()), 8, 16)
	obj, _ := NewGPTObjective(m, s)
	w, _ := model.InitWeights(cfg, 3)
	ev, _ := model.NewGPT(cfg, 2, 16, false)
	defer ev.Close()
	before, err := ExactMatch(ev, w, probs, 0)
	if err != nil {
		t.Fatal(err)
	}
	if before.Total != 3 || before.Correct != 0 {
		t.Errorf("untrained model: %v", before)
	}
	opt, _ := NewOptimizer(OptConfig{Kind: AdamW, LR: 2e-2}, len(w), nil)
	if _, err := Steps(obj, w, opt, 120, NewRand(1)); err != nil {
		t.Fatal(err)
	}
	// Many copies force packing across rows and batches.
	many := slices.Repeat(probs, 7)
	after, err := ExactMatch(ev, w, many, 0)
	if err != nil {
		t.Fatal(err)
	}
	if after.Total != 21 || after.Correct != 21 || after.ByTask[data.TaskAdd] != [2]int{7, 7} {
		t.Errorf("trained model: %v", after)
	}
	g1, _ := model.NewGPT(cfg, 1, 16, false)
	defer g1.Close()
	out, err := Generate(g1, w, []byte("ab\nc:ab="), 3, SampleConfig{})
	if err != nil || string(out) != "ab\n" {
		t.Errorf("greedy generation %q, %v", out, err)
	}
	s1, _ := Generate(g1, w, []byte("c:"), 20, SampleConfig{Temperature: 1, TopK: 5, Seed: 4})
	s2, _ := Generate(g1, w, []byte("c:"), 20, SampleConfig{Temperature: 1, TopK: 5, Seed: 4})
	k1, _ := Generate(g1, w, []byte("c:ab="), 3, SampleConfig{Temperature: 1, TopK: 1, Seed: 9})
	if string(s1) != string(s2) || len(s1) != 20 {
		t.Errorf("seeded sampling not repeatable: %q vs %q", s1, s2)
	}
	if string(k1) != "ab\n" {
		t.Errorf("top-1 sampling %q, want the greedy answer", k1)
	}
	cases := []struct {
		name string
		f    func() error
		want error
	}{
		{"generate-batch-2", func() error { _, err := Generate(ev, w, []byte("x"), 1, SampleConfig{}); return err }, ErrBadConfig},
		{"generate-neg-n", func() error { _, err := Generate(g1, w, []byte("x"), -1, SampleConfig{}); return err }, ErrBadConfig},
		{"generate-nan-temp", func() error {
			_, err := Generate(g1, w, []byte("x"), 1, SampleConfig{Temperature: float32(math.NaN())})
			return err
		}, ErrBadConfig},
		{"problem-too-long", func() error {
			_, err := ExactMatch(ev, w, []data.Problem{{Prompt: strings.Repeat("a", 20) + "=", Answer: "b\n"}}, 0)
			return err
		}, ErrBadConfig},
		{"eval-no-batches", func() error { _, err := EvalLoss(ev, w, nil); return err }, ErrBadConfig},
		{"short-weights", func() error { _, err := Steps(obj, w[1:], opt, 1, NewRand(1)); return err }, ErrShape},
	}
	for _, c := range cases {
		if err := c.f(); !errors.Is(err, c.want) {
			t.Errorf("%s: got %v, want %v", c.name, err, c.want)
		}
	}
}
