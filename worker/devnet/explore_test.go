package devnet

import (
	"context"
	"crypto/ed25519"
	"fmt"
	"os"
	"strconv"
	"testing"
	"time"

	"github.com/gradientcoin/gradientcoin/chain"
	"github.com/gradientcoin/gradientcoin/chain/sketch"
	"github.com/gradientcoin/gradientcoin/chain/state"
	"github.com/gradientcoin/gradientcoin/worker/data"
	"github.com/gradientcoin/gradientcoin/worker/model"
	"github.com/gradientcoin/gradientcoin/worker/sim"
	"github.com/gradientcoin/gradientcoin/worker/train"
)

// TestExploreDevnetRules compares candidate devnet training rules in the
// in-process simulation (paper mode, 3 workers). Manual: DEVNET_EXPLORE=1.
func TestExploreDevnetRules(t *testing.T) {
	if os.Getenv("DEVNET_EXPLORE") == "" {
		t.Skip("set DEVNET_EXPLORE=1")
	}
	rounds := 30
	if v, err := strconv.Atoi(os.Getenv("ROUNDS")); err == nil {
		rounds = v
	}
	corp, _ := data.Synthetic(data.SyntheticConfig{})
	base := chain.DevnetParams().Training
	mc := base.Model
	T := min(mc.Context, 32)
	d := mc.ParamCount()
	ev, _ := model.NewGPT(mc, 16, T, false)
	vb, _ := data.Windows(corp.Val, 16, T, 4)
	type cand struct {
		name string
		sk   sketch.Config
		glr  float32
		lr   float32
		k    int
		pre  int
	}
	var cands []cand
	for _, lr := range []float32{3e-3, 1e-2} {
		for _, k := range []int{8} {
			cands = append(cands,
				cand{"identity-int8", sketch.Config{Family: sketch.Identity, Rows: d, QuantBits: 8, QuantBlock: 256}, 1, lr, k, 0},
				cand{"cs10-int8", sketch.Config{Family: sketch.CountSketch, Rows: d / 10, NNZ: 1, QuantBits: 8, QuantBlock: 256}, 0.3, lr, k, 0},
				cand{"srht10-int8", sketch.Config{Family: sketch.SRHT, Rows: d / 10, QuantBits: 8, QuantBlock: 256}, 0.3, lr, k, 0},
				cand{"cstopk-cur", base.Sketch, 1, lr, k, base.Sketch.TopK},
			)
		}
	}
	for _, c := range cands {
		r := base
		r.Sketch, r.GlobalLR, r.LocalSteps = c.sk, c.glr, c.k
		r.MaxContributionBytes = state.ContributionSize(c.sk)
		w0, err := state.Genesis(r)
		if err != nil {
			t.Fatal(err)
		}
		mask, _ := model.DecayMask(mc)
		var ws []*sim.Worker
		for i := 0; i < 3; i++ {
			key := sim.NewKey(3, i)
			pages, _ := corp.Shard(key.Public().(ed25519.PublicKey), 16)
			m, _ := model.NewGPT(mc, 16, T, true)
			smp, _ := data.NewSampler(corp.Train, pages, 16, T)
			obj, _ := train.NewGPTObjective(m, smp)
			opt, _ := train.NewOptimizer(train.OptConfig{Kind: train.AdamW, LR: c.lr, WeightDecay: 0.1, ClipNorm: 1}, d, mask)
			ws = append(ws, &sim.Worker{Key: key, HashPower: 1, Objective: obj, Optimizer: opt})
		}
		eval := func(_ int, w []float32) (float64, error) { return train.EvalLoss(ev, w, vb) }
		start := time.Now()
		res, err := sim.Run(context.Background(), sim.Config{Rules: r, Mode: sim.Paper, Rounds: rounds, Seed: 1, EvalEvery: 10, PreTopK: c.pre}, w0, ws, eval)
		_, curve := res.Curve()
		fmt.Printf("%-14s lr=%g k=%d glr=%g bytes=%d: %v err=%v %.3f\n", c.name, c.lr, c.k, c.glr, res.Rounds[1].Bytes, time.Since(start).Round(time.Millisecond), err, curve)
	}
}
