package train

import (
	"context"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"

	"github.com/gradientcoin/gradientcoin/worker/data"
	"github.com/gradientcoin/gradientcoin/worker/model"
)

// Sentinel errors; every error of this package wraps one of them or an
// error of worker/model or worker/data.
var (
	// ErrBadConfig: an optimizer, sampling or evaluation setting out of range.
	ErrBadConfig = errors.New("train: bad config")
	// ErrShape: weights, gradients or batches of the wrong length.
	ErrShape = errors.New("train: shape mismatch")
	// ErrNonFinite: a NaN/Inf gradient, loss or weight during training.
	ErrNonFinite = errors.New("train: non-finite value")
)

// OptKind selects the local optimizer.
type OptKind uint8

const (
	// SGD: w ← w − lr·g (with optional momentum), the paper's local step.
	SGD OptKind = iota + 1
	// AdamW: Adam with bias correction and decoupled weight decay
	// w ← w − lr·wd·w (on DecayMask entries) before the Adam update.
	AdamW
)

func (k OptKind) String() string {
	switch k {
	case SGD:
		return "sgd"
	case AdamW:
		return "adamw"
	}
	return fmt.Sprintf("optimizer(%d)", uint8(k))
}

// ParseOptKind is the inverse of OptKind.String.
func ParseOptKind(s string) (OptKind, error) {
	switch s {
	case "sgd":
		return SGD, nil
	case "adamw":
		return AdamW, nil
	}
	return 0, fmt.Errorf("%w: unknown optimizer %q (want sgd or adamw)", ErrBadConfig, s)
}

// OptConfig configures an Optimizer. Zero Beta1/Beta2/Eps take the
// defaults 0.9, 0.95 and 1e-8.
type OptConfig struct {
	Kind        OptKind
	LR          float32
	Momentum    float32 // SGD only; 0 = plain SGD
	Beta1       float32
	Beta2       float32
	Eps         float32
	WeightDecay float32 // decoupled (AdamW) or L2 added to the gradient (SGD)
	ClipNorm    float32 // clip the gradient to this global L2 norm; 0 = off
}

func (c OptConfig) withDefaults() OptConfig {
	if c.Beta1 == 0 {
		c.Beta1 = 0.9
	}
	if c.Beta2 == 0 {
		c.Beta2 = 0.95
	}
	if c.Eps == 0 {
		c.Eps = 1e-8
	}
	return c
}

// Validate checks the ranges of every field.
func (c OptConfig) Validate() error {
	c = c.withDefaults()
	in := func(v, lo, hi float32) bool { return v >= lo && v <= hi }
	switch {
	case c.Kind != SGD && c.Kind != AdamW:
		return fmt.Errorf("%w: unknown optimizer kind %d", ErrBadConfig, c.Kind)
	case !(c.LR > 0) || c.LR > 1e3:
		return fmt.Errorf("%w: learning rate %v must be in (0, 1000]", ErrBadConfig, c.LR)
	case !in(c.Momentum, 0, 0.9999):
		return fmt.Errorf("%w: momentum %v must be in [0, 1)", ErrBadConfig, c.Momentum)
	case !in(c.Beta1, 0, 0.9999) || !in(c.Beta2, 0, 0.999999):
		return fmt.Errorf("%w: betas %v, %v must be in [0, 1)", ErrBadConfig, c.Beta1, c.Beta2)
	case !(c.Eps > 0) || c.Eps > 1:
		return fmt.Errorf("%w: eps %v must be in (0, 1]", ErrBadConfig, c.Eps)
	case !in(c.WeightDecay, 0, 10):
		return fmt.Errorf("%w: weight decay %v must be in [0, 10]", ErrBadConfig, c.WeightDecay)
	case !in(c.ClipNorm, 0, 1e9):
		return fmt.Errorf("%w: clip norm %v must be in [0, 1e9]", ErrBadConfig, c.ClipNorm)
	}
	return nil
}

// Optimizer updates a flat weight vector from its gradient. It keeps the
// moment estimates between steps (Reset clears them). Not safe for
// concurrent use.
type Optimizer struct {
	cfg  OptConfig
	mask []bool
	m, v []float32
	t    int
}

// NewOptimizer returns an optimizer for n parameters. decayMask (nil: all
// parameters) selects the entries weight decay applies to
// (model.DecayMask).
func NewOptimizer(cfg OptConfig, n int, decayMask []bool) (*Optimizer, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if n < 1 || (decayMask != nil && len(decayMask) != n) {
		return nil, fmt.Errorf("%w: %d parameters with a decay mask of %d", ErrShape, n, len(decayMask))
	}
	o := &Optimizer{cfg: cfg.withDefaults(), mask: decayMask}
	switch cfg.Kind {
	case AdamW:
		o.m, o.v = make([]float32, n), make([]float32, n)
	case SGD:
		if cfg.Momentum > 0 {
			o.m = make([]float32, n)
		}
	}
	return o, nil
}

// Config returns the optimizer's config (defaults filled in).
func (o *Optimizer) Config() OptConfig { return o.cfg }

// Reset clears the moment estimates and the step count.
func (o *Optimizer) Reset() {
	clear(o.m)
	clear(o.v)
	o.t = 0
}

// Step applies one update to w in place from gradient g (which it may
// scale when clipping). A non-finite gradient is rejected before anything
// changes.
func (o *Optimizer) Step(w, g []float32) error {
	n := len(w)
	if len(g) != n || (o.m != nil && len(o.m) != n) || (o.mask != nil && len(o.mask) != n) {
		return fmt.Errorf("%w: %d weights, %d gradients", ErrShape, n, len(g))
	}
	var ss float64
	for i, v := range g {
		if math.IsNaN(float64(v)) || math.IsInf(float64(v), 0) {
			return fmt.Errorf("%w: gradient entry %d is %v", ErrNonFinite, i, v)
		}
		ss += float64(v) * float64(v)
	}
	if c := o.cfg.ClipNorm; c > 0 {
		if nrm := math.Sqrt(ss); nrm > float64(c) {
			s := float32(float64(c) / nrm)
			for i := range g {
				g[i] *= s
			}
		}
	}
	o.t++
	lr, wd := o.cfg.LR, o.cfg.WeightDecay
	decays := func(i int) bool { return wd > 0 && (o.mask == nil || o.mask[i]) }
	switch o.cfg.Kind {
	case SGD:
		mu := o.cfg.Momentum
		for i := range w {
			gi := g[i]
			if decays(i) {
				gi += wd * w[i]
			}
			if o.m != nil {
				o.m[i] = mu*o.m[i] + gi
				gi = o.m[i]
			}
			w[i] -= lr * gi
		}
	case AdamW:
		b1, b2, eps := o.cfg.Beta1, o.cfg.Beta2, o.cfg.Eps
		c1 := float32(1 - math.Pow(float64(b1), float64(o.t)))
		c2 := float32(1 - math.Pow(float64(b2), float64(o.t)))
		for i := range w {
			if decays(i) {
				w[i] -= lr * wd * w[i]
			}
			gi := g[i]
			o.m[i] = b1*o.m[i] + (1-b1)*gi
			o.v[i] = b2*o.v[i] + (1-b2)*gi*gi
			mh := o.m[i] / c1
			vh := o.v[i] / c2
			w[i] -= lr * mh / (float32(math.Sqrt(float64(vh))) + eps)
		}
	}
	return nil
}

// Objective is what local training minimises: the loss of weights w on a
// batch the objective draws itself with rng (so a seed fixes the data
// order), with the gradient written into grad.
type Objective interface {
	NumParams() int
	LossGrad(w, grad []float32, rng *rand.Rand) (float32, error)
}

// ContextObjective is an Objective whose LossGrad can stop part-way once
// ctx is done (returning ctx.Err()); StepsContext uses it when it can.
type ContextObjective interface {
	Objective
	LossGradContext(ctx context.Context, w, grad []float32, rng *rand.Rand) (float32, error)
}

// GPTObjective is the language-model loss of a GPT on batches from a
// sampler (whose batch shape must match the model's).
type GPTObjective struct {
	model   *model.GPT
	sampler *data.Sampler
	batch   data.Batch
}

// NewGPTObjective pairs a model built with gradients and a sampler.
func NewGPTObjective(m *model.GPT, s *data.Sampler) (*GPTObjective, error) {
	mb, mt := m.Batch()
	sb, st := s.Shape()
	if mb != sb || mt != st {
		return nil, fmt.Errorf("%w: model batch %d×%d, sampler batch %d×%d", ErrShape, mb, mt, sb, st)
	}
	return &GPTObjective{model: m, sampler: s, batch: data.Batch{B: sb, T: st, Inputs: make([]int32, sb*st), Targets: make([]int32, sb*st)}}, nil
}

// NumParams is the model's parameter count.
func (o *GPTObjective) NumParams() int { return o.model.NumParams() }

// LossGrad draws a batch and returns its loss and gradient.
func (o *GPTObjective) LossGrad(w, grad []float32, rng *rand.Rand) (float32, error) {
	return o.LossGradContext(context.Background(), w, grad, rng)
}

// LossGradContext is LossGrad that stops between the model's operators
// once ctx is done (returning ctx.Err()).
func (o *GPTObjective) LossGradContext(ctx context.Context, w, grad []float32, rng *rand.Rand) (float32, error) {
	o.sampler.Fill(rng, &o.batch)
	return o.model.LossGradContext(ctx, w, o.batch.Inputs, o.batch.Targets, grad)
}

// RegressionObjective is the full-batch softmax-regression loss (the
// paper's gradient descent; rng is unused).
type RegressionObjective struct{ Problem *model.SoftmaxRegression }

// NumParams is the problem's dimension.
func (o RegressionObjective) NumParams() int { return o.Problem.Dim() }

// LossGrad returns L(w) and ∇L(w).
func (o RegressionObjective) LossGrad(w, grad []float32, _ *rand.Rand) (float32, error) {
	l, err := o.Problem.LossGrad(w, grad)
	return float32(l), err
}

// Steps runs k optimizer steps on w in place and returns the loss before
// each step. On error w holds the weights after the last good step.
func Steps(obj Objective, w []float32, opt *Optimizer, k int, rng *rand.Rand) ([]float32, error) {
	return StepsContext(context.Background(), obj, w, opt, k, rng)
}

// StepsContext is Steps that stops once ctx is done: it checks ctx before
// every step and, for a ContextObjective, inside the step's gradient
// computation; it then returns the losses so far and an error matching
// ctx.Err(), with w holding the weights after the last completed step.
func StepsContext(ctx context.Context, obj Objective, w []float32, opt *Optimizer, k int, rng *rand.Rand) ([]float32, error) {
	if len(w) != obj.NumParams() {
		return nil, fmt.Errorf("%w: %d weights, objective has %d parameters", ErrShape, len(w), obj.NumParams())
	}
	if k < 0 {
		return nil, fmt.Errorf("%w: %d steps", ErrBadConfig, k)
	}
	grad := make([]float32, len(w))
	losses := make([]float32, 0, k)
	cobj, _ := obj.(ContextObjective)
	for i := 0; i < k; i++ {
		if err := ctx.Err(); err != nil {
			return losses, fmt.Errorf("step %d: %w", i, err)
		}
		var (
			l   float32
			err error
		)
		if cobj != nil {
			l, err = cobj.LossGradContext(ctx, w, grad, rng)
		} else {
			l, err = obj.LossGrad(w, grad, rng)
		}
		if err != nil {
			return losses, fmt.Errorf("step %d: %w", i, err)
		}
		losses = append(losses, l)
		if err := opt.Step(w, grad); err != nil {
			return losses, fmt.Errorf("step %d: %w", i, err)
		}
	}
	return losses, nil
}

// Local is one round of local training: starting from a copy of the
// parent block's weights, k optimizer steps with batches drawn from a PCG
// generator seeded by seed. It returns the new weights (parent is not
// modified) and the loss before each step.
func Local(obj Objective, parent []float32, opt *Optimizer, k int, seed uint64) ([]float32, []float32, error) {
	return LocalContext(context.Background(), obj, parent, opt, k, seed)
}

// LocalContext is Local that stops once ctx is done (see StepsContext).
func LocalContext(ctx context.Context, obj Objective, parent []float32, opt *Optimizer, k int, seed uint64) ([]float32, []float32, error) {
	w := append([]float32(nil), parent...)
	losses, err := StepsContext(ctx, obj, w, opt, k, NewRand(seed))
	if err != nil {
		return nil, losses, err
	}
	return w, losses, nil
}

// NewRand returns the package's deterministic generator for a seed.
func NewRand(seed uint64) *rand.Rand { return rand.New(rand.NewPCG(seed, 0x747261696e)) }
