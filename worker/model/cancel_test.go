package model

import (
	"context"
	"errors"
	"math/rand/v2"
	"slices"
	"sync/atomic"
	"testing"
	"time"
)

// stopAfter is a context that is cancelled once Err has been asked n
// times: it lands a cancellation at an exact operator of a run.
type stopAfter struct {
	context.Context
	n     int64
	calls atomic.Int64
	done  chan struct{}
}

func newStopAfter(n int64) *stopAfter {
	return &stopAfter{Context: context.Background(), n: n, done: make(chan struct{})}
}

func (c *stopAfter) Done() <-chan struct{} { return c.done }

func (c *stopAfter) Err() error {
	if c.calls.Add(1) > c.n {
		return context.Canceled
	}
	return nil
}

// TestRunCancel: a cancelled ctx stops Forward and LossGrad at the next
// operator with ctx's error, and the model computes the same values
// afterwards as a model that was never interrupted.
func TestRunCancel(t *testing.T) {
	cfg := tinyGPT()
	const B, T = 2, 5
	w := perturbed(t, cfg, 3)
	rng := rand.New(rand.NewPCG(4, 4))
	in := randTokens(rng, B*T, cfg.Vocab)
	tg := randTokens(rng, B*T, cfg.Vocab)

	ref, err := NewGPT(cfg, B, T, true)
	if err != nil {
		t.Fatal(err)
	}
	defer ref.Close()
	wantGrad := make([]float32, len(w))
	wantLoss, err := ref.LossGrad(w, in, tg, wantGrad)
	if err != nil {
		t.Fatal(err)
	}
	// How many operator checks a whole run makes.
	full := newStopAfter(1 << 40)
	if _, err := ref.LossGradContext(full, w, in, tg, make([]float32, len(w))); err != nil {
		t.Fatal(err)
	}
	ops := full.calls.Load()
	if ops < 20 {
		t.Fatalf("a run checked ctx %d times; want once per operator", ops)
	}

	for _, c := range []struct {
		name  string
		grad  bool
		after int64 // Err answers nil this many times
	}{
		{"forward: cancelled before", false, 0},
		{"forward: first operator", false, 1},
		{"forward: mid-graph", false, ops / 4},
		{"lossgrad: cancelled before", true, 0},
		{"lossgrad: mid-forward", true, ops / 4},
		{"lossgrad: mid-backward", true, ops * 3 / 4},
	} {
		m, err := NewGPT(cfg, B, T, true)
		if err != nil {
			t.Fatal(err)
		}
		ctx := newStopAfter(c.after)
		grad := make([]float32, len(w))
		if c.grad {
			_, err = m.LossGradContext(ctx, w, in, tg, grad)
		} else {
			_, _, err = m.ForwardContext(ctx, w, in, tg)
		}
		if !errors.Is(err, context.Canceled) {
			t.Errorf("%s: err %v, want context.Canceled", c.name, err)
		}
		if got := ctx.calls.Load(); got > c.after+2 {
			t.Errorf("%s: ctx asked %d times after cancelling at %d: the run went on", c.name, got, c.after)
		}
		// The interrupted model is as good as new.
		loss, err := m.LossGrad(w, in, tg, grad)
		if err != nil || loss != wantLoss || !slices.Equal(grad, wantGrad) {
			t.Errorf("%s: after the cancelled run: loss %v (%v), want %v; same gradient %v", c.name, loss, err, wantLoss, slices.Equal(grad, wantGrad))
		}
		m.Close()
	}

	// A real cancellation from another goroutine also stops the run.
	m, err := NewGPT(cfg, B, T, false)
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	start := time.Now()
	if _, _, err := m.ForwardContext(ctx, w, in, tg); !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled context: %v", err)
	}
	if d := time.Since(start); d > time.Second {
		t.Errorf("cancelled run took %v", d)
	}
}
