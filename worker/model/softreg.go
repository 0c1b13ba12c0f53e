package model

import (
	"fmt"
	"math"
	"math/rand/v2"

	"github.com/gradientcoin/gradientcoin/chain/state"
	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"
)

// SoftmaxRegression is the paper's softmax-attention regression problem
//
//	L(x) = Σ_j ½‖⟨exp(A_j x), 1⟩⁻¹ exp(A_j x) − b_j‖² + (λ/2)‖x‖²,
//
// with Count matrices A_j ∈ R^{Rows×Dim} and targets b_j ∈ R^{Rows}. A_j
// has i.i.d. N(0, 1/Dim) entries and b_j = softmax(A_j x_p) for a planted
// x_p with i.i.d. N(0, PlantedScale²) entries, so every b_j lies inside
// the probability simplex and the unregularised loss is 0 at x_p. The λ
// term makes L strongly convex near its optimum x* (which differs from x_p
// by the shrinkage of the regulariser; Solve computes it).
//
// All arithmetic is float64; the float32 methods convert at the boundary.
// A SoftmaxRegression is immutable after construction and safe for
// concurrent use.
type SoftmaxRegression struct {
	dim, rows, count int
	lambda           float64
	a                []float64 // count × rows × dim
	b                []float64 // count × rows
	planted          []float64
}

// PlantedScale is the standard deviation of the planted solution's entries.
const PlantedScale = 2.0

// NewSoftmaxRegression generates the problem of cfg (kind
// ModelSoftmaxRegression) deterministically from seed.
func NewSoftmaxRegression(cfg state.ModelConfig, seed uint64) (*SoftmaxRegression, error) {
	if cfg.Kind != state.ModelSoftmaxRegression {
		return nil, fmt.Errorf("%w: kind %v is not %v", ErrBadConfig, cfg.Kind, state.ModelSoftmaxRegression)
	}
	if err := cfg.Validate(); err != nil {
		return nil, badConfig(err)
	}
	if n := cfg.Count * cfg.Rows * cfg.Dim; n > 1<<28 {
		return nil, fmt.Errorf("%w: count·rows·dim = %d entries exceeds 2^28", ErrBadConfig, n)
	}
	p := &SoftmaxRegression{
		dim: cfg.Dim, rows: cfg.Rows, count: cfg.Count, lambda: float64(cfg.Lambda),
		a:       make([]float64, cfg.Count*cfg.Rows*cfg.Dim),
		b:       make([]float64, cfg.Count*cfg.Rows),
		planted: make([]float64, cfg.Dim),
	}
	rng := rand.New(rand.NewPCG(seed, 0x736f66746d6178))
	sd := 1 / math.Sqrt(float64(cfg.Dim))
	for i := range p.a {
		p.a[i] = rng.NormFloat64() * sd
	}
	for i := range p.planted {
		p.planted[i] = rng.NormFloat64() * PlantedScale
	}
	u := make([]float64, cfg.Rows)
	for j := 0; j < cfg.Count; j++ {
		p.matVec(u, j, p.planted)
		softmax64(p.b[j*cfg.Rows:(j+1)*cfg.Rows], u)
	}
	return p, nil
}

// Dim is the parameter count d.
func (p *SoftmaxRegression) Dim() int { return p.dim }

// Lambda is the L2 weight λ.
func (p *SoftmaxRegression) Lambda() float64 { return p.lambda }

// Planted returns a copy of the planted solution x_p.
func (p *SoftmaxRegression) Planted() []float64 { return append([]float64(nil), p.planted...) }

// Data returns A_j (Rows×Dim, row-major) and b_j; the slices alias the
// problem and must not be modified.
func (p *SoftmaxRegression) Data(j int) (a, b []float64) {
	return p.a[j*p.rows*p.dim : (j+1)*p.rows*p.dim], p.b[j*p.rows : (j+1)*p.rows]
}

func (p *SoftmaxRegression) matVec(u []float64, j int, x []float64) {
	a := p.a[j*p.rows*p.dim:]
	for r := range u {
		row := a[r*p.dim : (r+1)*p.dim]
		var s float64
		for i, v := range row {
			s += v * x[i]
		}
		u[r] = s
	}
}

func softmax64(dst, u []float64) {
	m := math.Inf(-1)
	for _, v := range u {
		m = math.Max(m, v)
	}
	var z float64
	for i, v := range u {
		dst[i] = math.Exp(v - m)
		z += dst[i]
	}
	for i := range dst {
		dst[i] /= z
	}
}

// LossGrad64 returns L(x) and, if grad is not nil, writes ∇L(x) into it:
// ∇L = Σ_j A_jᵀ (f_j ⊙ r_j − f_j ⟨f_j, r_j⟩) + λx with f_j = softmax(A_j x),
// r_j = f_j − b_j. x and grad must have length Dim.
func (p *SoftmaxRegression) LossGrad64(x, grad []float64) float64 {
	u := make([]float64, p.rows)
	f := make([]float64, p.rows)
	var loss, xx float64
	for i, v := range x {
		xx += v * v
		if grad != nil {
			grad[i] = p.lambda * v
		}
	}
	loss = 0.5 * p.lambda * xx
	for j := 0; j < p.count; j++ {
		p.matVec(u, j, x)
		softmax64(f, u)
		bj := p.b[j*p.rows : (j+1)*p.rows]
		var fr float64
		for r := range f {
			d := f[r] - bj[r]
			loss += 0.5 * d * d
			fr += f[r] * d
		}
		if grad == nil {
			continue
		}
		a := p.a[j*p.rows*p.dim:]
		for r := range f {
			c := f[r]*(f[r]-bj[r]) - f[r]*fr
			if c == 0 {
				continue
			}
			row := a[r*p.dim : (r+1)*p.dim]
			for i, v := range row {
				grad[i] += c * v
			}
		}
	}
	return loss
}

// LossGrad is LossGrad64 for float32 vectors; it rejects wrong lengths
// (ErrShape) and non-finite x or loss (ErrNonFinite). grad may be nil.
func (p *SoftmaxRegression) LossGrad(x, grad []float32) (float64, error) {
	if len(x) != p.dim || (grad != nil && len(grad) != p.dim) {
		return 0, fmt.Errorf("%w: x has %d entries, gradient %d, want %d", ErrShape, len(x), len(grad), p.dim)
	}
	if err := CheckFinite(x, nil); err != nil {
		return 0, err
	}
	x64 := make([]float64, p.dim)
	for i, v := range x {
		x64[i] = float64(v)
	}
	var g64 []float64
	if grad != nil {
		g64 = make([]float64, p.dim)
	}
	loss := p.LossGrad64(x64, g64)
	if !isFinite(loss) {
		return loss, fmt.Errorf("%w: loss is %v", ErrNonFinite, loss)
	}
	for i, v := range g64 {
		grad[i] = float32(v)
	}
	return loss, nil
}

// Solve returns the regularised optimum x* = argmin L by gradient descent
// with Armijo backtracking from x0 (nil: zeros), stopping when ‖∇L‖ ≤ tol
// or after maxIter iterations; it also returns the final gradient norm.
func (p *SoftmaxRegression) Solve(x0 []float64, maxIter int, tol float64) ([]float64, float64, error) {
	x := make([]float64, p.dim)
	if x0 != nil {
		if len(x0) != p.dim {
			return nil, 0, fmt.Errorf("%w: x0 has %d entries, want %d", ErrShape, len(x0), p.dim)
		}
		copy(x, x0)
	}
	g := make([]float64, p.dim)
	xn := make([]float64, p.dim)
	step := 1.0
	loss := p.LossGrad64(x, g)
	var gn float64
	for it := 0; it < maxIter; it++ {
		gn = norm64(g)
		if gn <= tol {
			return x, gn, nil
		}
		for {
			for i := range x {
				xn[i] = x[i] - step*g[i]
			}
			ln := p.LossGrad64(xn, nil)
			// Armijo, or (near the optimum, where the decrease is below
			// float64 resolution of the loss) no measurable increase.
			if ln <= loss-0.5*step*gn*gn || ln-loss <= 1e-15*math.Abs(loss) || step < 1e-12 {
				break
			}
			step /= 2
		}
		copy(x, xn)
		loss = p.LossGrad64(x, g)
		step *= 1.5
	}
	gn = norm64(g)
	if !isFinite(loss) {
		return nil, gn, fmt.Errorf("%w: loss diverged to %v", ErrNonFinite, loss)
	}
	return x, gn, nil
}

func norm64(v []float64) float64 {
	var s float64
	for _, x := range v {
		s += x * x
	}
	return math.Sqrt(s)
}

// GraphLossGrad computes L(x) and ∇L(x) with a gorgonia float64 graph
// built from gorgonia's own operators (Mul, Exp, Sum, Div, Sub, Square),
// an independent check of LossGrad64.
func (p *SoftmaxRegression) GraphLossGrad(x []float64) (float64, []float64, error) {
	if len(x) != p.dim {
		return 0, nil, fmt.Errorf("%w: x has %d entries, want %d", ErrShape, len(x), p.dim)
	}
	g := G.NewGraph()
	xv := append([]float64(nil), x...)
	xn := G.NewVector(g, tensor.Float64, G.WithShape(p.dim), G.WithName("x"),
		G.WithValue(tensor.New(tensor.WithShape(p.dim), tensor.WithBacking(xv))))
	var terms G.Nodes
	var err error
	step := func(f func() (*G.Node, error)) *G.Node {
		if err != nil {
			return nil
		}
		var n *G.Node
		n, err = f()
		return n
	}
	for j := 0; j < p.count && err == nil; j++ {
		aj, bj := p.Data(j)
		an := G.NewMatrix(g, tensor.Float64, G.WithShape(p.rows, p.dim), G.WithName(fmt.Sprintf("A%d", j)),
			G.WithValue(tensor.New(tensor.WithShape(p.rows, p.dim), tensor.WithBacking(append([]float64(nil), aj...)))))
		bn := G.NewVector(g, tensor.Float64, G.WithShape(p.rows), G.WithName(fmt.Sprintf("b%d", j)),
			G.WithValue(tensor.New(tensor.WithShape(p.rows), tensor.WithBacking(append([]float64(nil), bj...)))))
		u := step(func() (*G.Node, error) { return G.Mul(an, xn) })
		e := step(func() (*G.Node, error) { return G.Exp(u) })
		s := step(func() (*G.Node, error) { return G.Sum(e) })
		f := step(func() (*G.Node, error) { return G.Div(e, s) })
		r := step(func() (*G.Node, error) { return G.Sub(f, bn) })
		q := step(func() (*G.Node, error) { return G.Square(r) })
		t := step(func() (*G.Node, error) { return G.Sum(q) })
		terms = append(terms, t)
	}
	xx := step(func() (*G.Node, error) { return G.Square(xn) })
	reg := step(func() (*G.Node, error) { return G.Sum(xx) })
	total := step(func() (*G.Node, error) { return G.ReduceAdd(terms) })
	half := G.NewConstant(0.5)
	lam := G.NewConstant(0.5 * p.lambda)
	data := step(func() (*G.Node, error) { return G.Mul(half, total) })
	regT := step(func() (*G.Node, error) { return G.Mul(lam, reg) })
	loss := step(func() (*G.Node, error) { return G.Add(data, regT) })
	if err != nil {
		return 0, nil, fmt.Errorf("building softmax regression graph: %w", err)
	}
	grads, err := G.Grad(loss, xn)
	if err != nil {
		return 0, nil, fmt.Errorf("differentiating softmax regression graph: %w", err)
	}
	vm := G.NewTapeMachine(g)
	defer vm.Close()
	if err := vm.RunAll(); err != nil {
		return 0, nil, fmt.Errorf("running softmax regression graph: %w", err)
	}
	lv, ok := loss.Value().(*G.F64)
	if !ok {
		return 0, nil, fmt.Errorf("%w: loss value is %T", ErrShape, loss.Value())
	}
	gd, ok := grads[0].Value().Data().([]float64)
	if !ok {
		return 0, nil, fmt.Errorf("%w: gradient value is %T", ErrShape, grads[0].Value())
	}
	return float64(*lv), append([]float64(nil), gd...), nil
}

// Split divides the problem among n workers: worker c gets the terms j
// with j mod n == c and the L2 weight λ/n, so the workers' losses sum to
// L exactly (Σ_c L_c = L). The parts share the matrices of p.
func (p *SoftmaxRegression) Split(n int) ([]*SoftmaxRegression, error) {
	if n < 1 || n > p.count {
		return nil, fmt.Errorf("%w: cannot split %d terms among %d workers", ErrBadConfig, p.count, n)
	}
	parts := make([]*SoftmaxRegression, n)
	for c := range parts {
		q := &SoftmaxRegression{dim: p.dim, rows: p.rows, lambda: p.lambda / float64(n), planted: p.planted}
		for j := c; j < p.count; j += n {
			a, b := p.Data(j)
			q.a = append(q.a, a...)
			q.b = append(q.b, b...)
			q.count++
		}
		parts[c] = q
	}
	return parts, nil
}
