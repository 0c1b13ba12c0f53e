package train

import (
	"context"
	"errors"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/gradientcoin/gradientcoin/worker/data"
	"github.com/gradientcoin/gradientcoin/worker/model"
)

// cancelAfterSteps is an objective that cancels ctx when its LossGrad has
// run n times (the cancellation lands inside step n's gradient).
type cancelAfterSteps struct {
	*GPTObjective
	n      int
	calls  int
	cancel context.CancelFunc
}

func (o *cancelAfterSteps) LossGradContext(ctx context.Context, w, grad []float32, rng *rand.Rand) (float32, error) {
	o.calls++
	if o.calls > o.n {
		o.cancel()
	}
	return o.GPTObjective.LossGradContext(ctx, w, grad, rng)
}

// TestContextCancel: StepsContext and EvalLossContext stop once ctx is
// done, with ctx's error; the weights are those after the last completed
// step (equal to an uninterrupted run of that many steps).
func TestContextCancel(t *testing.T) {
	cfg := tinyCfg()
	corp, err := data.Synthetic(data.SyntheticConfig{Problems: 200})
	if err != nil {
		t.Fatal(err)
	}
	m, err := model.NewGPT(cfg, 4, 16, true)
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	obj, err := NewGPTObjective(m, mustSampler(t, corp.Train, 4, 16))
	if err != nil {
		t.Fatal(err)
	}
	w0, _ := model.InitWeights(cfg, 1)
	newOpt := func() *Optimizer {
		o, err := NewOptimizer(OptConfig{Kind: SGD, LR: 0.1}, len(w0), nil)
		if err != nil {
			t.Fatal(err)
		}
		return o
	}
	for _, c := range []struct {
		name  string
		after int // steps that complete
	}{
		{"cancelled before", 0},
		{"during step 2", 2},
		{"during the last step", 4},
	} {
		ctx, cancel := context.WithCancel(context.Background())
		if c.after == 0 {
			cancel()
		}
		co := &cancelAfterSteps{GPTObjective: obj, n: c.after, cancel: cancel}
		w := slices.Clone(w0)
		losses, err := StepsContext(ctx, co, w, newOpt(), 5, NewRand(9))
		cancel()
		if !errors.Is(err, context.Canceled) {
			t.Errorf("%s: err %v, want context.Canceled", c.name, err)
		}
		if len(losses) != c.after {
			t.Errorf("%s: %d losses, want %d", c.name, len(losses), c.after)
		}
		want := slices.Clone(w0)
		if _, err := Steps(obj, want, newOpt(), c.after, NewRand(9)); err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(w, want) {
			t.Errorf("%s: weights differ from %d uninterrupted steps", c.name, c.after)
		}
	}

	ev, err := model.NewGPT(cfg, 8, 16, false)
	if err != nil {
		t.Fatal(err)
	}
	defer ev.Close()
	vb, err := data.Windows(corp.Val, 8, 16, 4)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := EvalLossContext(ctx, ev, w0, vb); !errors.Is(err, context.Canceled) {
		t.Errorf("EvalLossContext with a cancelled ctx: %v", err)
	}
	if _, err := EvalLoss(ev, w0, vb); err != nil {
		t.Errorf("EvalLoss after a cancelled evaluation: %v", err)
	}
}
