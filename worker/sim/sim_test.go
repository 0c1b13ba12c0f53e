package sim

import (
	"context"
	"crypto/ed25519"
	"errors"
	"math"
	"math/rand/v2"
	"testing"

	"github.com/gradientcoin/gradientcoin/chain/sketch"
	"github.com/gradientcoin/gradientcoin/chain/state"
	"github.com/gradientcoin/gradientcoin/worker/data"
	"github.com/gradientcoin/gradientcoin/worker/model"
	"github.com/gradientcoin/gradientcoin/worker/train"
)

func rules(mc state.ModelConfig, sc sketch.Config, k int) state.Rules {
	r := state.Rules{Model: mc, Sketch: sc, GlobalLR: 1, LocalLR: 0.1, LocalSteps: k, MaxContributions: 16, ChunkSize: 64}
	r.MaxContributionBytes = state.ContributionSize(sc)
	return r
}

type regSetup struct {
	rules   state.Rules
	workers []*Worker
	xstar   []float64
	eval    Evaluator
}

func regression(t *testing.T, sc sketch.Config, n int, lr float32) regSetup {
	t.Helper()
	mc := state.ModelConfig{Kind: state.ModelSoftmaxRegression, Dim: 32, Rows: 8, Count: 16, Lambda: 0.05}
	p, err := model.NewSoftmaxRegression(mc, 1)
	if err != nil {
		t.Fatal(err)
	}
	xs, _, err := p.Solve(nil, 100000, 1e-10)
	if err != nil {
		t.Fatal(err)
	}
	parts, err := p.Split(n)
	if err != nil {
		t.Fatal(err)
	}
	var ws []*Worker
	for i, q := range parts {
		opt, _ := train.NewOptimizer(train.OptConfig{Kind: train.SGD, LR: lr}, mc.Dim, nil)
		ws = append(ws, &Worker{Key: NewKey(1, i), HashPower: float64(i + 1), Objective: train.RegressionObjective{Problem: q}, Optimizer: opt})
	}
	dist := func(_ int, w []float32) (float64, error) {
		var s float64
		for i, v := range w {
			d := float64(v) - xs[i]
			s += d * d
		}
		return math.Sqrt(s), nil
	}
	return regSetup{rules: rules(mc, sc, 2), workers: ws, xstar: xs, eval: dist}
}

func TestRunConverges(t *testing.T) {
	cases := []struct {
		name   string
		sc     sketch.Config
		mode   Mode
		rounds int
		lr     float32
		factor float64 // final distance must be below factor × initial
		pre    int
		block  bool    // BlockResidual
		decay  float64 // ResidualDecay
	}{
		{"pooled-identity", sketch.Config{Family: sketch.Identity, Rows: 32, QuantBits: 32}, Pooled, 100, 1, 0.1, 0, false, 0},
		{"paper-identity", sketch.Config{Family: sketch.Identity, Rows: 32, QuantBits: 32}, Paper, 100, 0.5, 0.5, 0, false, 0},
		{"pooled-countsketch-topk-int8-presparse", sketch.Config{Family: sketch.CountSketch, Rows: 30, NNZ: 3, TopK: 4, QuantBits: 8, QuantBlock: 8}, Pooled, 100, 1, 0.7, 4, false, 0},
		{"pooled-srht", sketch.Config{Family: sketch.SRHT, Rows: 16, QuantBits: 32}, Pooled, 100, 0.5, 0.7, 0, false, 0},
		{"pooled-countsketch-topk-block-residual", sketch.Config{Family: sketch.CountSketch, Rows: 30, NNZ: 3, TopK: 4, QuantBits: 8, QuantBlock: 8}, Pooled, 100, 1, 0.6, 1, true, 0},
		{"pooled-chunktopk-q2", sketch.Config{Family: sketch.ChunkTopK, Rows: 8, TopK: 2, QuantBits: 2, QuantBlock: 8}, Pooled, 100, 1, 0.1, 0, false, 0},
		{"pooled-chunktopk-wht-q1", sketch.Config{Family: sketch.ChunkTopKWHT, Rows: 8, TopK: 2, QuantBits: 1, QuantBlock: 8}, Pooled, 100, 1, 0.1, 0, false, 0},
		{"paper-chunktopk-wht-decay", sketch.Config{Family: sketch.ChunkTopKWHT, Rows: 4, TopK: 1, QuantBits: 32, QuantBlock: 8}, Paper, 100, 0.5, 0.5, 0, false, 0.1},
	}
	for _, c := range cases {
		s := regression(t, c.sc, 4, c.lr)
		cfg := Config{Rules: s.rules, Mode: c.mode, Rounds: c.rounds, Seed: 5, EvalEvery: 10, PreTopK: c.pre, BlockResidual: c.block, ResidualDecay: c.decay}
		w0 := make([]float32, s.rules.ParamCount())
		res, err := Run(context.Background(), cfg, w0, s.workers, s.eval)
		if err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		_, ev := res.Curve()
		if len(res.Rounds) != c.rounds+1 {
			t.Fatalf("%s: %d round stats", c.name, len(res.Rounds))
		}
		t.Logf("%s: distance ratio %.3f", c.name, ev[len(ev)-1]/ev[0])
		if !(ev[len(ev)-1] < c.factor*ev[0]) {
			t.Errorf("%s: distance to x* %.4g → %.4g, want below %.2g×", c.name, ev[0], ev[len(ev)-1], c.factor)
		}
		if c.mode == Paper {
			for _, st := range res.Rounds[1:] {
				if len(st.Contributors) != 1 {
					t.Fatalf("%s: round %d has %d contributors", c.name, st.Round, len(st.Contributors))
				}
			}
		}
	}
}

// TestReplayOptions: pooled runs with the chunked families, leaky error
// feedback and block residuals replay to identical roots.
func TestReplayOptions(t *testing.T) {
	cases := []struct {
		name string
		sc   sketch.Config
		cfg  Config
	}{
		{"chunktopk-wht", sketch.Config{Family: sketch.ChunkTopKWHT, Rows: 8, TopK: 2, QuantBits: 2, QuantBlock: 8}, Config{}},
		{"chunktopk-decay", sketch.Config{Family: sketch.ChunkTopK, Rows: 8, TopK: 2, QuantBits: 4, QuantBlock: 8}, Config{ResidualDecay: 0.2}},
		{"countsketch-block", sketch.Config{Family: sketch.CountSketch, Rows: 30, NNZ: 3, TopK: 4, QuantBits: 8, QuantBlock: 8}, Config{BlockResidual: true, PreTopK: 2}},
	}
	for _, c := range cases {
		run := func() *Result {
			s := regression(t, c.sc, 3, 1)
			cfg := c.cfg
			cfg.Rules, cfg.Mode, cfg.Rounds, cfg.Seed, cfg.EvalEvery = s.rules, Pooled, 20, 9, 10
			res, err := Run(context.Background(), cfg, make([]float32, 32), s.workers, s.eval)
			if err != nil {
				t.Fatalf("%s: %v", c.name, err)
			}
			return res
		}
		a, b := run(), run()
		for i := range a.Rounds {
			if a.Rounds[i].Root != b.Rounds[i].Root {
				t.Fatalf("%s: round %d: roots differ", c.name, i)
			}
		}
	}
}

// TestReplayIdenticalRoots runs the same 50-round simulation twice from
// scratch (fresh workers) and requires identical state roots every round.
func TestReplayIdenticalRoots(t *testing.T) {
	sc := sketch.Config{Family: sketch.CountSketch, Rows: 30, NNZ: 3, TopK: 4, QuantBits: 8, QuantBlock: 8}
	run := func() *Result {
		s := regression(t, sc, 3, 1)
		res, err := Run(context.Background(), Config{Rules: s.rules, Mode: Paper, Rounds: 50, Seed: 9, EvalEvery: 25, PreTopK: 4}, make([]float32, 32), s.workers, s.eval)
		if err != nil {
			t.Fatal(err)
		}
		return res
	}
	a, b := run(), run()
	for i := range a.Rounds {
		if a.Rounds[i].Root != b.Rounds[i].Root {
			t.Fatalf("round %d: roots differ", i)
		}
	}
	if a.Rounds[50].Root == a.Rounds[0].Root {
		t.Error("weights never changed")
	}
}

func TestPickProportional(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 1))
	hp := []float64{1, 0, 3}
	counts := make([]int, 3)
	for i := 0; i < 40000; i++ {
		counts[pick(rng, hp, 4)]++
	}
	if counts[1] != 0 || math.Abs(float64(counts[2])/40000-0.75) > 0.01 {
		t.Errorf("picks %v for hash power %v", counts, hp)
	}
}

func TestRunErrors(t *testing.T) {
	sc := sketch.Config{Family: sketch.Identity, Rows: 32, QuantBits: 32}
	s := regression(t, sc, 2, 1)
	w0 := make([]float32, 32)
	zero := regression(t, sc, 2, 1)
	for _, w := range zero.workers {
		w.HashPower = 0
	}
	bad := s.rules
	bad.GlobalLR = 0
	tooMany := s.rules
	tooMany.MaxContributions = 1
	other := regression(t, sc, 2, 1)
	p, _ := model.NewSoftmaxRegression(state.ModelConfig{Kind: state.ModelSoftmaxRegression, Dim: 5, Rows: 2, Count: 2, Lambda: 1}, 1)
	other.workers[1].Objective = train.RegressionObjective{Problem: p}
	cases := []struct {
		name    string
		cfg     Config
		w0      []float32
		workers []*Worker
		eval    Evaluator
	}{
		{"bad-rules", Config{Rules: bad, Mode: Pooled, Rounds: 1}, w0, s.workers, s.eval},
		{"no-mode", Config{Rules: s.rules, Rounds: 1}, w0, s.workers, s.eval},
		{"no-workers", Config{Rules: s.rules, Mode: Pooled, Rounds: 1}, w0, nil, s.eval},
		{"short-weights", Config{Rules: s.rules, Mode: Pooled, Rounds: 1}, w0[1:], s.workers, s.eval},
		{"pooled-over-max", Config{Rules: tooMany, Mode: Pooled, Rounds: 1}, w0, s.workers, s.eval},
		{"zero-hash-power", Config{Rules: s.rules, Mode: Paper, Rounds: 1}, w0, zero.workers, s.eval},
		{"objective-size", Config{Rules: s.rules, Mode: Pooled, Rounds: 1}, w0, other.workers, s.eval},
		{"no-evaluator", Config{Rules: s.rules, Mode: Pooled, Rounds: 1}, w0, s.workers, nil},
		{"nil-worker", Config{Rules: s.rules, Mode: Pooled, Rounds: 1}, w0, []*Worker{nil}, s.eval},
		{"residual-decay-1", Config{Rules: s.rules, Mode: Pooled, Rounds: 1, ResidualDecay: 1}, w0, s.workers, s.eval},
		{"residual-decay-nan", Config{Rules: s.rules, Mode: Pooled, Rounds: 1, ResidualDecay: math.NaN()}, w0, s.workers, s.eval},
		{"block-residual-identity", Config{Rules: s.rules, Mode: Pooled, Rounds: 1, BlockResidual: true}, w0, s.workers, s.eval},
	}
	for _, c := range cases {
		if _, err := Run(context.Background(), c.cfg, c.w0, c.workers, c.eval); !errors.Is(err, ErrBadConfig) {
			t.Errorf("%s: got %v, want ErrBadConfig", c.name, err)
		}
	}
	// Without error feedback no residual survives a round.
	ef := regression(t, sketch.Config{Family: sketch.CountSketch, Rows: 30, NNZ: 3, TopK: 4, QuantBits: 32}, 2, 1)
	if _, err := Run(context.Background(), Config{Rules: ef.rules, Mode: Pooled, Rounds: 2, NoErrorFeedback: true}, w0, ef.workers, ef.eval); err != nil {
		t.Fatal(err)
	}
	for i, w := range ef.workers {
		if w.residual != nil {
			t.Errorf("worker %d kept a residual without error feedback", i)
		}
	}
	if _, err := Run(context.Background(), Config{Rules: ef.rules, Mode: Pooled, Rounds: 2}, w0, ef.workers, ef.eval); err != nil {
		t.Fatal(err)
	}
	if ef.workers[0].residual == nil {
		t.Error("error feedback kept no residual")
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	res, err := Run(ctx, Config{Rules: s.rules, Mode: Pooled, Rounds: 3}, w0, s.workers, s.eval)
	if !errors.Is(err, ErrCanceled) || res == nil || len(res.Rounds) != 1 {
		t.Errorf("canceled: %v", err)
	}
}

func TestRunGPTPooled(t *testing.T) {
	mc := state.ModelConfig{Kind: state.ModelGPT, Vocab: 256, Context: 16, Layers: 1, Width: 16, Heads: 2, MLPMult: 2, InitStd: 0.02}
	d := mc.ParamCount()
	corp, _ := data.Synthetic(data.SyntheticConfig{Problems: 2000})
	m, _ := model.NewGPT(mc, 8, 16, true)
	defer m.Close()
	ev, _ := model.NewGPT(mc, 8, 16, false)
	defer ev.Close()
	vb, _ := data.Windows(corp.Val, 8, 16, 2)
	cases := []struct {
		name   string
		sc     sketch.Config
		pre    int
		minDec float64 // required fall of the validation loss
	}{
		{"identity-int8", sketch.Config{Family: sketch.Identity, Rows: d, QuantBits: 8, QuantBlock: 256}, 0, 0.5},
		{"countsketch-topk-presparse", sketch.Config{Family: sketch.CountSketch, Rows: 3 * (d / 12), NNZ: 3, TopK: d / 16, QuantBits: 8, QuantBlock: 256}, d / 16, 0},
	}
	for _, c := range cases {
		r := rules(mc, c.sc, 4)
		r.InitSeed = [32]byte{1}
		w0, err := state.Genesis(r)
		if err != nil {
			t.Fatal(err)
		}
		var ws []*Worker
		for i := 0; i < 3; i++ {
			key := NewKey(2, i)
			pages, err := corp.Shard(key.Public().(ed25519.PublicKey), 3)
			if err != nil {
				t.Fatal(err)
			}
			smp, err := data.NewSampler(corp.Train, pages, 8, 16)
			if err != nil {
				t.Fatal(err)
			}
			obj, err := train.NewGPTObjective(m, smp)
			if err != nil {
				t.Fatal(err)
			}
			opt, _ := train.NewOptimizer(train.OptConfig{Kind: train.AdamW, LR: 1e-2}, d, nil)
			ws = append(ws, &Worker{Key: key, HashPower: 1, Objective: obj, Optimizer: opt})
		}
		eval := func(_ int, w []float32) (float64, error) { return train.EvalLoss(ev, w, vb) }
		res, err := Run(context.Background(), Config{Rules: r, Mode: Pooled, Rounds: 4, Seed: 1, PreTopK: c.pre}, w0, ws, eval)
		if err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		_, curve := res.Curve()
		last := curve[len(curve)-1]
		if math.IsNaN(last) || !(last < curve[0]-c.minDec) {
			t.Errorf("%s: validation loss %v did not fall by %v", c.name, curve, c.minDec)
		}
		if res.Rounds[1].Bytes != 3*state.ContributionSize(c.sc) {
			t.Errorf("%s: round bytes %d", c.name, res.Rounds[1].Bytes)
		}
	}
}
