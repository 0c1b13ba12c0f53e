package model

import (
	"errors"
	"math"
	"math/rand/v2"
	"testing"

	"github.com/gradientcoin/gradientcoin/chain/state"
)

func srConfig(dim, rows, count int, lambda float32) state.ModelConfig {
	return state.ModelConfig{Kind: state.ModelSoftmaxRegression, Dim: dim, Rows: rows, Count: count, Lambda: lambda}
}

func TestSoftmaxRegressionGradients(t *testing.T) {
	cases := []struct {
		name string
		cfg  state.ModelConfig
		at   string // "random", "planted", "zero"
	}{
		{"small-random", srConfig(7, 4, 3, 0.1), "random"},
		{"wide-random", srConfig(40, 8, 5, 0.01), "random"},
		{"one-row-zero", srConfig(5, 1, 2, 1), "zero"},
		{"at-planted", srConfig(12, 6, 4, 0.05), "planted"},
	}
	for _, c := range cases {
		p, err := NewSoftmaxRegression(c.cfg, 11)
		if err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		x := make([]float64, p.Dim())
		switch c.at {
		case "random":
			rng := rand.New(rand.NewPCG(3, 3))
			for i := range x {
				x[i] = rng.NormFloat64()
			}
		case "planted":
			copy(x, p.Planted())
		}
		g := make([]float64, len(x))
		l := p.LossGrad64(x, g)
		// gorgonia graph
		gl, gg, err := p.GraphLossGrad(x)
		if err != nil {
			t.Fatalf("%s: graph: %v", c.name, err)
		}
		if math.Abs(gl-l) > 1e-12*math.Max(1, math.Abs(l)) {
			t.Errorf("%s: analytic loss %v, gorgonia %v", c.name, l, gl)
		}
		for i := range g {
			if math.Abs(gg[i]-g[i]) > 1e-12 {
				t.Errorf("%s: gradient %d: analytic %v, gorgonia %v", c.name, i, g[i], gg[i])
				break
			}
		}
		// finite differences
		for i := range x {
			const eps = 1e-6
			o := x[i]
			x[i] = o + eps
			fp := p.LossGrad64(x, nil)
			x[i] = o - eps
			fm := p.LossGrad64(x, nil)
			x[i] = o
			fd := (fp - fm) / (2 * eps)
			if math.Abs(fd-g[i]) > 1e-7*math.Max(1, math.Abs(fd)) {
				t.Errorf("%s: gradient %d: analytic %v, finite differences %v", c.name, i, g[i], fd)
			}
		}
		// float32 API agrees
		x32 := make([]float32, len(x))
		for i, v := range x {
			x32[i] = float32(v)
		}
		g32 := make([]float32, len(x))
		if _, err := p.LossGrad(x32, g32); err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
	}
}

func TestSoftmaxRegressionSolve(t *testing.T) {
	p, err := NewSoftmaxRegression(srConfig(30, 8, 20, 1e-2), 5)
	if err != nil {
		t.Fatal(err)
	}
	// b_j lies inside the simplex and the data loss is 0 at the planted point.
	for j := 0; j < 20; j++ {
		_, b := p.Data(j)
		var s float64
		for _, v := range b {
			if !(v > 0) {
				t.Fatalf("b_%d has a non-positive entry %v", j, v)
			}
			s += v
		}
		if math.Abs(s-1) > 1e-12 {
			t.Fatalf("b_%d sums to %v", j, s)
		}
	}
	xs, gn, err := p.Solve(nil, 20000, 1e-10)
	if err != nil {
		t.Fatal(err)
	}
	if gn > 1e-10 {
		t.Errorf("Solve stopped with gradient norm %v", gn)
	}
	// Strong convexity: the loss at x* is below the loss at nearby points.
	l := p.LossGrad64(xs, nil)
	for _, d := range []float64{1e-3, -1e-3} {
		y := append([]float64(nil), xs...)
		y[0] += d
		if p.LossGrad64(y, nil) < l {
			t.Errorf("loss at x*+%v e0 is below the loss at x*", d)
		}
	}
}

func TestSoftmaxRegressionErrors(t *testing.T) {
	cases := []struct {
		name string
		f    func() error
		want error
	}{
		{"gpt-kind", func() error { _, err := NewSoftmaxRegression(tinyGPT(), 1); return err }, ErrBadConfig},
		{"zero-lambda", func() error { _, err := NewSoftmaxRegression(srConfig(3, 2, 1, 0), 1); return err }, state.ErrBadModelConfig},
		{"short-x", func() error {
			p, _ := NewSoftmaxRegression(srConfig(3, 2, 1, 1), 1)
			_, err := p.LossGrad(make([]float32, 2), nil)
			return err
		}, ErrShape},
		{"inf-x", func() error {
			p, _ := NewSoftmaxRegression(srConfig(3, 2, 1, 1), 1)
			_, err := p.LossGrad([]float32{0, float32(math.Inf(1)), 0}, nil)
			return err
		}, ErrNonFinite},
	}
	for _, c := range cases {
		if err := c.f(); !errors.Is(err, c.want) {
			t.Errorf("%s: got %v, want %v", c.name, err, c.want)
		}
	}
}

func TestSoftmaxRegressionSplit(t *testing.T) {
	p, _ := NewSoftmaxRegression(srConfig(9, 3, 7, 0.3), 4)
	rng := rand.New(rand.NewPCG(1, 1))
	x := make([]float64, 9)
	for i := range x {
		x[i] = rng.NormFloat64()
	}
	g := make([]float64, 9)
	want := p.LossGrad64(x, g)
	for _, n := range []int{1, 2, 7} {
		parts, err := p.Split(n)
		if err != nil {
			t.Fatalf("split %d: %v", n, err)
		}
		var sum float64
		gs := make([]float64, 9)
		for _, q := range parts {
			gq := make([]float64, 9)
			sum += q.LossGrad64(x, gq)
			for i := range gs {
				gs[i] += gq[i]
			}
		}
		if math.Abs(sum-want) > 1e-12 {
			t.Errorf("split %d: parts sum to %v, want %v", n, sum, want)
		}
		for i := range g {
			if math.Abs(gs[i]-g[i]) > 1e-12 {
				t.Errorf("split %d: gradient %d sums to %v, want %v", n, i, gs[i], g[i])
			}
		}
	}
	if _, err := p.Split(8); !errors.Is(err, ErrBadConfig) {
		t.Errorf("split 8 of 7: %v", err)
	}
}
