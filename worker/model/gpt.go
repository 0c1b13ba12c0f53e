package model

import (
	"context"
	"fmt"
	"math"

	"github.com/gradientcoin/gradientcoin/chain/state"
	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"
)

// GPT is a compiled byte-level decoder-only transformer for one batch
// shape: Batch sequences of Seq tokens. Its parameter nodes view the
// model's own flat weight vector; each call copies the caller's weights in
// (an O(params) copy, negligible next to the forward pass).
//
// Architecture (pre-norm, GPT-2 style): x = tok_emb[ids] + pos_emb; per
// layer x += proj(attn(ln1(x))), x += mlp(ln2(x)) with mlp = proj(GELU(fc));
// logits = ln_f(x)·tok_embᵀ (tied head); loss = mean cross-entropy.
type GPT struct {
	cfg      state.ModelConfig
	batch    int
	seq      int
	withGrad bool
	layout   []state.Tensor
	weights  []float32

	g        *G.ExprGraph
	params   G.Nodes
	ids, tgt *G.Node
	idsBuf   []float32
	tgtBuf   []float32
	logits   *G.Node
	loss     *G.Node
	grads    G.Nodes
	vm       G.VM
	ctl      *runCtl // the context of the current run, seen by the operators

	logitsCopy []float32
}

// builder threads the first error through graph construction: once an
// error is recorded every further step is skipped (so no nil node ever
// reaches gorgonia).
type builder struct {
	byName map[string]*G.Node
	err    error
}

func (b *builder) p(name string) *G.Node {
	n, ok := b.byName[name]
	if !ok && b.err == nil {
		b.err = fmt.Errorf("%w: layout has no tensor %q", ErrBadConfig, name)
	}
	return n
}

func (b *builder) do(f func() (*G.Node, error)) *G.Node {
	if b.err != nil {
		return nil
	}
	n, err := f()
	if err == nil && b.err != nil { // a missing parameter was looked up inside f
		return nil
	}
	if err != nil {
		b.err = err
		return nil
	}
	return n
}

// badConfig wraps an error as both ErrBadConfig and whatever it wraps.
func badConfig(err error) error { return fmt.Errorf("%w: %w", ErrBadConfig, err) }

// NewGPT compiles the model of cfg for batches of batch sequences of seq
// tokens (1 ≤ seq ≤ cfg.Context). With withGrad the graph also computes
// the gradient of the loss (LossGrad); without it only Forward is
// available and runs about three times faster.
func NewGPT(cfg state.ModelConfig, batch, seq int, withGrad bool) (*GPT, error) {
	if cfg.Kind != state.ModelGPT {
		return nil, fmt.Errorf("%w: kind %v is not %v", ErrBadConfig, cfg.Kind, state.ModelGPT)
	}
	layout, n, err := cfg.Layout()
	if err != nil {
		return nil, badConfig(err)
	}
	if batch < 1 || seq < 1 || seq > cfg.Context || batch*seq > 1<<24 {
		return nil, fmt.Errorf("%w: batch %d × seq %d does not fit context %d", ErrBadConfig, batch, seq, cfg.Context)
	}
	m := &GPT{
		cfg: cfg, batch: batch, seq: seq, withGrad: withGrad,
		layout:  layout,
		weights: make([]float32, n),
		idsBuf:  make([]float32, batch*seq),
		tgtBuf:  make([]float32, batch*seq),
		ctl:     new(runCtl),
	}
	if err := m.build(); err != nil {
		return nil, err
	}
	return m, nil
}

func (m *GPT) build() error {
	buildMu.Lock()
	building.Store(m.ctl)
	defer func() {
		building.Store(nil)
		buildMu.Unlock()
	}()
	g := G.NewGraph()
	m.g = g
	byName := make(map[string]*G.Node, len(m.layout))
	for _, t := range m.layout {
		view := tensor.New(tensor.WithShape(t.Shape...), tensor.WithBacking(m.weights[t.Offset:t.Offset+t.Size()]))
		var n *G.Node
		switch len(t.Shape) {
		case 1:
			n = G.NewVector(g, tensor.Float32, G.WithShape(t.Shape...), G.WithName(t.Name), G.WithValue(view))
		case 2:
			n = G.NewMatrix(g, tensor.Float32, G.WithShape(t.Shape...), G.WithName(t.Name), G.WithValue(view))
		default:
			return fmt.Errorf("%w: tensor %s has shape %v", ErrBadConfig, t.Name, t.Shape)
		}
		m.params = append(m.params, n)
		byName[t.Name] = n
	}
	N := m.batch * m.seq
	m.ids = G.NewVector(g, tensor.Float32, G.WithShape(N), G.WithName("ids"),
		G.WithValue(tensor.New(tensor.WithShape(N), tensor.WithBacking(m.idsBuf))))
	m.tgt = G.NewVector(g, tensor.Float32, G.WithShape(N), G.WithName("targets"),
		G.WithValue(tensor.New(tensor.WithShape(N), tensor.WithBacking(m.tgtBuf))))

	b := &builder{byName: byName}
	c := m.cfg
	a := AttnShape{B: m.batch, T: m.seq, H: c.Heads, D: c.Width / c.Heads, Causal: true}
	scale := float32(1 / math.Sqrt(float64(a.D)))
	x := b.do(func() (*G.Node, error) { return EmbedNode(b.p("tok_emb"), b.p("pos_emb"), m.ids, m.seq) })
	for i := 0; i < c.Layers; i++ {
		pre := fmt.Sprintf("h.%d.", i)
		h := b.do(func() (*G.Node, error) { return LayerNormNode(x, b.p(pre+"ln1.g"), b.p(pre+"ln1.b")) })
		qkv := b.do(func() (*G.Node, error) { return LinearNode(h, b.p(pre+"attn.qkv.w"), b.p(pre+"attn.qkv.b"), false) })
		// Scores, softmax, context; or one fused operator (gccuda build,
		// shapes that fit: softmax_gpu_fused.go).
		y := b.do(func() (*G.Node, error) { return attentionNode(qkv, a, scale) })
		y = b.do(func() (*G.Node, error) { return LinearNode(y, b.p(pre+"attn.proj.w"), b.p(pre+"attn.proj.b"), false) })
		x = b.do(func() (*G.Node, error) { return G.Add(x, y) })
		h = b.do(func() (*G.Node, error) { return LayerNormNode(x, b.p(pre+"ln2.g"), b.p(pre+"ln2.b")) })
		f := b.do(func() (*G.Node, error) { return LinearNode(h, b.p(pre+"mlp.fc.w"), b.p(pre+"mlp.fc.b"), false) })
		f = b.do(func() (*G.Node, error) { return GELUNode(f) })
		f = b.do(func() (*G.Node, error) { return LinearNode(f, b.p(pre+"mlp.proj.w"), b.p(pre+"mlp.proj.b"), false) })
		x = b.do(func() (*G.Node, error) { return G.Add(x, f) })
	}
	h := b.do(func() (*G.Node, error) { return LayerNormNode(x, b.p("ln_f.g"), b.p("ln_f.b")) })
	m.logits = b.do(func() (*G.Node, error) { return LinearNode(h, b.p("tok_emb"), nil, true) })
	m.loss = b.do(func() (*G.Node, error) { return CrossEntropyNode(m.logits, m.tgt) })
	if b.err != nil {
		return fmt.Errorf("%w: building graph: %w", ErrBadConfig, b.err)
	}
	var err error
	if m.withGrad {
		if m.grads, err = G.Grad(m.loss, m.params...); err != nil {
			return fmt.Errorf("%w: differentiating graph: %w", ErrBadConfig, err)
		}
	}
	m.vm = G.NewTapeMachine(g)
	return nil
}

// Config returns the model config.
func (m *GPT) Config() state.ModelConfig { return m.cfg }

// NumParams is the length of the flat weight vector.
func (m *GPT) NumParams() int { return len(m.weights) }

// Batch returns the batch shape: sequences per batch and tokens per sequence.
func (m *GPT) Batch() (batch, seq int) { return m.batch, m.seq }

// Close releases the compiled graph.
func (m *GPT) Close() error {
	if m.vm != nil {
		return m.vm.Close()
	}
	return nil
}

// CheckFinite returns ErrNonFinite naming the first NaN/Inf entry of w
// (with its tensor name when layout is given).
func CheckFinite(w []float32, layout []state.Tensor) error {
	for i, v := range w {
		if math.IsNaN(float64(v)) || math.IsInf(float64(v), 0) {
			for _, t := range layout {
				if i >= t.Offset && i < t.Offset+t.Size() {
					return fmt.Errorf("%w: weight %d (%s[%d]) is %v", ErrNonFinite, i, t.Name, i-t.Offset, v)
				}
			}
			return fmt.Errorf("%w: entry %d is %v", ErrNonFinite, i, v)
		}
	}
	return nil
}

func (m *GPT) load(w []float32, inputs, targets []int32) error {
	if len(w) != len(m.weights) {
		return fmt.Errorf("%w: %d weights, model has %d", ErrShape, len(w), len(m.weights))
	}
	if err := CheckFinite(w, m.layout); err != nil {
		return err
	}
	n := m.batch * m.seq
	if len(inputs) != n {
		return fmt.Errorf("%w: %d input tokens, want batch %d × seq %d = %d", ErrShape, len(inputs), m.batch, m.seq, n)
	}
	if targets != nil && len(targets) != n {
		return fmt.Errorf("%w: %d targets, want %d", ErrShape, len(targets), n)
	}
	for i, t := range inputs {
		if t < 0 || int(t) >= m.cfg.Vocab {
			return fmt.Errorf("%w: input token %d is %d, want [0, %d)", ErrBadInput, i, t, m.cfg.Vocab)
		}
		m.idsBuf[i] = float32(t)
	}
	for i := range m.tgtBuf {
		if targets == nil {
			m.tgtBuf[i] = -1
			continue
		}
		t := targets[i]
		if int(t) >= m.cfg.Vocab {
			return fmt.Errorf("%w: target %d is %d, want [0, %d) or negative (ignored)", ErrBadInput, i, t, m.cfg.Vocab)
		}
		if t < 0 {
			t = -1
		}
		m.tgtBuf[i] = float32(t)
	}
	copy(m.weights, w)
	return nil
}

// run executes the graph. A cancellable ctx is checked before every
// operator; once it is done the run stops there and returns ctx.Err()
// (the model stays usable: the next run starts over).
func (m *GPT) run(ctx context.Context) (float32, error) {
	if err := ctx.Err(); err != nil {
		return 0, err
	}
	if ctx.Done() != nil {
		m.ctl.ctx.Store(&ctx)
		defer m.ctl.ctx.Store(nil)
	}
	if err := m.vm.RunAll(); err != nil {
		m.vm.Reset()
		if cerr := ctx.Err(); cerr != nil {
			return 0, cerr
		}
		return 0, fmt.Errorf("running graph: %w", err)
	}
	lv, ok := m.loss.Value().(*G.F32)
	if !ok {
		return 0, fmt.Errorf("%w: loss value is %T", ErrShape, m.loss.Value())
	}
	loss := float32(*lv)
	if math.IsNaN(float64(loss)) || math.IsInf(float64(loss), 0) {
		return loss, fmt.Errorf("%w: loss is %v", ErrNonFinite, loss)
	}
	return loss, nil
}

// LossGrad computes the mean cross-entropy of predicting targets from
// inputs (both batch·seq token ids, row-major [batch][seq]; negative
// targets are ignored) under weights w, and writes its gradient into grad
// (same layout as w). The model must have been built withGrad.
func (m *GPT) LossGrad(w []float32, inputs, targets []int32, grad []float32) (float32, error) {
	return m.LossGradContext(context.Background(), w, inputs, targets, grad)
}

// LossGradContext is LossGrad that stops between operators once ctx is
// done and then returns ctx.Err() (grad is then unspecified).
func (m *GPT) LossGradContext(ctx context.Context, w []float32, inputs, targets []int32, grad []float32) (float32, error) {
	if !m.withGrad {
		return 0, fmt.Errorf("%w: model was built without gradients", ErrBadConfig)
	}
	if len(grad) != len(m.weights) {
		return 0, fmt.Errorf("%w: gradient has %d entries, model has %d", ErrShape, len(grad), len(m.weights))
	}
	if err := m.load(w, inputs, targets); err != nil {
		return 0, err
	}
	defer m.vm.Reset()
	loss, err := m.run(ctx)
	if err != nil {
		return loss, err
	}
	for i, t := range m.layout {
		dst := grad[t.Offset : t.Offset+t.Size()]
		switch v := m.grads[i].Value().(type) {
		case *tensor.Dense:
			src, ok := v.Data().([]float32)
			if !ok || len(src) != len(dst) {
				return 0, fmt.Errorf("%w: gradient of %s has %d entries, want %d", ErrShape, t.Name, len(src), len(dst))
			}
			copy(dst, src)
		default:
			return 0, fmt.Errorf("%w: gradient of %s is %T", ErrShape, t.Name, v)
		}
	}
	return loss, nil
}

// Forward runs the model on inputs and returns the loss against targets
// (nil targets: loss 0) and the logits, batch·seq rows of Vocab entries.
// The logits slice belongs to the model and is valid until the next call.
func (m *GPT) Forward(w []float32, inputs, targets []int32) (float32, []float32, error) {
	return m.ForwardContext(context.Background(), w, inputs, targets)
}

// ForwardContext is Forward that stops between operators once ctx is done
// and then returns ctx.Err().
func (m *GPT) ForwardContext(ctx context.Context, w []float32, inputs, targets []int32) (float32, []float32, error) {
	if err := m.load(w, inputs, targets); err != nil {
		return 0, nil, err
	}
	defer m.vm.Reset()
	loss, err := m.run(ctx)
	if err != nil {
		return loss, nil, err
	}
	lt, ok := m.logits.Value().(*tensor.Dense)
	if !ok {
		return 0, nil, fmt.Errorf("%w: logits value is %T", ErrShape, m.logits.Value())
	}
	data, _ := lt.Data().([]float32)
	if m.logitsCopy == nil {
		m.logitsCopy = make([]float32, len(data))
	}
	copy(m.logitsCopy, data)
	return loss, m.logitsCopy, nil
}
