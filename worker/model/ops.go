package model

import (
	"context"
	"fmt"
	"hash"
	"hash/fnv"
	"sync"
	"sync/atomic"

	"github.com/chewxy/hm"
	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"
)

// kernel is the part of a graph operator that differs between operators:
// its identity, argument types, output shape, forward computation and
// symbolic gradient. graphOp adapts a kernel to gorgonia's Op and SDOp
// interfaces.
type kernel interface {
	// name identifies the operator and every parameter it captures; it is
	// the operator's hash.
	name() string
	// argDims gives the number of dimensions of each input (0 = scalar).
	argDims() []int
	// outShape infers the output shape from the input shapes; a nil or
	// empty shape means a scalar output.
	outShape(in []tensor.Shape) (tensor.Shape, error)
	// forward computes the output into out.
	forward(out []float32, in []arg) error
	// grads returns one gradient node per input (nil for inputs that are
	// not differentiable); nil diffWRT means not differentiable at all.
	diffWRT() []bool
	grads(in G.Nodes, output, grad *G.Node) (G.Nodes, error)
}

// arg is one input value as a flat slice with its shape.
type arg struct {
	data  []float32
	shape tensor.Shape
}

// graphOp wraps a kernel as a gorgonia operator. ctl, when set, is the
// run control of the model whose graph holds the operator: Do returns the
// run's context error before computing anything once it is cancelled, so
// a cancelled forward or backward pass stops at the next operator.
type graphOp struct {
	k   kernel
	ctl *runCtl
}

// runCtl carries the context of a model's current run to its operators.
type runCtl struct {
	ctx atomic.Pointer[context.Context]
}

// err is the current run's context error (nil outside a cancellable run).
func (c *runCtl) err() error {
	if c == nil {
		return nil
	}
	if p := c.ctx.Load(); p != nil {
		return (*p).Err()
	}
	return nil
}

// Graph construction (apply, and the gradient operators gorgonia's Grad
// creates through SymDiff) tags every operator with the run control of
// the model being built: buildMu serialises GPT builds, building is the
// control of the one in progress (nil otherwise, e.g. for the exported
// node constructors used on their own).
var (
	buildMu  sync.Mutex
	building atomic.Pointer[runCtl]
)

var (
	_ G.Op   = graphOp{}
	_ G.SDOp = graphOp{}
)

func (o graphOp) Arity() int { return len(o.k.argDims()) }

func dimsType(d int) hm.Type {
	if d == 0 {
		return tensor.Float32
	}
	return G.TensorType{Dims: d, Of: tensor.Float32}
}

func (o graphOp) Type() hm.Type {
	ad := o.k.argDims()
	ts := make([]hm.Type, 0, len(ad)+1)
	for _, d := range ad {
		ts = append(ts, dimsType(d))
	}
	ts = append(ts, dimsType(o.outDims()))
	return hm.NewFnType(ts...)
}

// outDims is the number of dimensions of the output, taken from a probe of
// outShape with the argument dims; kernels encode it in their shapes.
func (o graphOp) outDims() int {
	if d, ok := o.k.(interface{ retDims() int }); ok {
		return d.retDims()
	}
	return 2
}

func (o graphOp) InferShape(ds ...G.DimSizer) (tensor.Shape, error) {
	if len(ds) != o.Arity() {
		return nil, fmt.Errorf("%w: %s takes %d inputs, got %d", ErrShape, o.k.name(), o.Arity(), len(ds))
	}
	shapes := make([]tensor.Shape, len(ds))
	for i, d := range ds {
		s, ok := d.(tensor.Shape)
		if !ok {
			return nil, fmt.Errorf("%w: %s input %d has no shape", ErrShape, o.k.name(), i)
		}
		shapes[i] = s
	}
	s, err := o.k.outShape(shapes)
	if err != nil {
		return nil, err
	}
	if len(s) == 0 {
		return tensor.ScalarShape(), nil
	}
	return s, nil
}

func valueArg(v G.Value) (arg, error) {
	switch t := v.(type) {
	case *G.F32:
		return arg{data: []float32{float32(*t)}, shape: tensor.ScalarShape()}, nil
	case *tensor.Dense:
		if t.Dtype() != tensor.Float32 {
			return arg{}, fmt.Errorf("%w: want float32 input, got %v", ErrShape, t.Dtype())
		}
		if t.RequiresIterator() {
			m, ok := t.Materialize().(*tensor.Dense)
			if !ok {
				return arg{}, fmt.Errorf("%w: cannot materialize a %T view", ErrShape, t.Materialize())
			}
			t = m
		}
		return arg{data: t.Data().([]float32), shape: t.Shape()}, nil
	}
	return arg{}, fmt.Errorf("%w: unsupported input value %T", ErrShape, v)
}

func (o graphOp) Do(vs ...G.Value) (G.Value, error) {
	if err := o.ctl.err(); err != nil {
		return nil, err
	}
	if len(vs) != o.Arity() {
		return nil, fmt.Errorf("%w: %s takes %d inputs, got %d", ErrShape, o.k.name(), o.Arity(), len(vs))
	}
	in := make([]arg, len(vs))
	shapes := make([]tensor.Shape, len(vs))
	for i, v := range vs {
		a, err := valueArg(v)
		if err != nil {
			return nil, fmt.Errorf("%s input %d: %w", o.k.name(), i, err)
		}
		in[i] = a
		shapes[i] = a.shape
	}
	s, err := o.k.outShape(shapes)
	if err != nil {
		return nil, err
	}
	if len(s) == 0 || s.IsScalar() {
		out := make([]float32, 1)
		if err := o.k.forward(out, in); err != nil {
			return nil, err
		}
		return G.NewF32(out[0]), nil
	}
	out := make([]float32, s.TotalSize())
	if err := o.k.forward(out, in); err != nil {
		return nil, err
	}
	return tensor.New(tensor.WithShape(s.Clone()...), tensor.WithBacking(out)), nil
}

func (o graphOp) ReturnsPtr() bool      { return false }
func (o graphOp) CallsExtern() bool     { return false }
func (o graphOp) OverwritesInput() int  { return -1 }
func (o graphOp) WriteHash(h hash.Hash) { fmt.Fprint(h, o.k.name()) }
func (o graphOp) String() string        { return o.k.name() }

func (o graphOp) Hashcode() uint32 {
	h := fnv.New32a()
	o.WriteHash(h)
	return h.Sum32()
}

func (o graphOp) DiffWRT(n int) []bool {
	d := o.k.diffWRT()
	if d == nil {
		return make([]bool, n)
	}
	return d
}

func (o graphOp) SymDiff(in G.Nodes, output, grad *G.Node) (G.Nodes, error) {
	if o.k.diffWRT() == nil {
		return nil, fmt.Errorf("%w: %s is not differentiable", ErrShape, o.k.name())
	}
	return o.k.grads(in, output, grad)
}

func apply(k kernel, children ...*G.Node) (*G.Node, error) {
	for i, c := range children {
		if c == nil {
			return nil, shapeErr(k.name(), "input %d is a nil node", i)
		}
	}
	return G.ApplyOp(graphOp{k: k, ctl: building.Load()}, children...)
}

// applyAll applies each kernel to its children and collects the nodes,
// stopping at the first error.
func applyAll(items ...func() (*G.Node, error)) (G.Nodes, error) {
	out := make(G.Nodes, len(items))
	for i, f := range items {
		if f == nil {
			continue
		}
		n, err := f()
		if err != nil {
			return nil, err
		}
		out[i] = n
	}
	return out, nil
}

func shapeErr(op string, format string, a ...any) error {
	return fmt.Errorf("%w: %s: %s", ErrShape, op, fmt.Sprintf(format, a...))
}

func want2(op string, s tensor.Shape, i int) (int, int, error) {
	if len(s) != 2 {
		return 0, 0, shapeErr(op, "input %d has shape %v, want a matrix", i, s)
	}
	return s[0], s[1], nil
}

func want1(op string, s tensor.Shape, i int) (int, error) {
	if len(s) != 1 {
		return 0, shapeErr(op, "input %d has shape %v, want a vector", i, s)
	}
	return s[0], nil
}

// ----- Linear ---------------------------------------------------------------

type linearK struct {
	transW, bias bool
}

func (k linearK) name() string { return fmt.Sprintf("Linear{transW=%v,bias=%v}", k.transW, k.bias) }
func (k linearK) argDims() []int {
	if k.bias {
		return []int{2, 2, 1}
	}
	return []int{2, 2}
}

func (k linearK) dims(in []tensor.Shape) (n, kk, m int, err error) {
	n, kk, err = want2("Linear", in[0], 0)
	if err != nil {
		return
	}
	r, c, err := want2("Linear", in[1], 1)
	if err != nil {
		return
	}
	if k.transW {
		r, c = c, r
	}
	if r != kk {
		return 0, 0, 0, shapeErr("Linear", "x is %v but W is %v (transW=%v)", in[0], in[1], k.transW)
	}
	m = c
	if k.bias {
		bl, e := want1("Linear", in[2], 2)
		if e != nil {
			return 0, 0, 0, e
		}
		if bl != m {
			return 0, 0, 0, shapeErr("Linear", "bias has %d entries, want %d", bl, m)
		}
	}
	return
}

func (k linearK) outShape(in []tensor.Shape) (tensor.Shape, error) {
	n, _, m, err := k.dims(in)
	return tensor.Shape{n, m}, err
}

func (k linearK) forward(out []float32, in []arg) error {
	n, kk, m, err := k.dims([]tensor.Shape{in[0].shape, in[1].shape, argShape(in, 2)})
	if err != nil {
		return err
	}
	var b []float32
	if k.bias {
		b = in[2].data
	}
	Linear(out, in[0].data, in[1].data, b, n, kk, m, k.transW)
	return nil
}

func argShape(in []arg, i int) tensor.Shape {
	if i < len(in) {
		return in[i].shape
	}
	return nil
}

func (k linearK) diffWRT() []bool {
	if k.bias {
		return []bool{true, true, true}
	}
	return []bool{true, true}
}

func (k linearK) grads(in G.Nodes, _, dy *G.Node) (G.Nodes, error) {
	fs := []func() (*G.Node, error){
		func() (*G.Node, error) { return apply(linGradXK{k.transW}, in[1], dy) },
		func() (*G.Node, error) { return apply(linGradWK{k.transW}, in[0], dy) },
	}
	if k.bias {
		fs = append(fs, func() (*G.Node, error) { return apply(colSumK{}, dy) })
	}
	return applyAll(fs...)
}

type linGradXK struct{ transW bool }

func (k linGradXK) name() string                                     { return fmt.Sprintf("LinearGradX{transW=%v}", k.transW) }
func (k linGradXK) argDims() []int                                   { return []int{2, 2} }
func (k linGradXK) diffWRT() []bool                                  { return nil }
func (k linGradXK) grads(G.Nodes, *G.Node, *G.Node) (G.Nodes, error) { return nil, nil }
func (k linGradXK) outShape(in []tensor.Shape) (tensor.Shape, error) {
	r, c, err := want2("LinearGradX", in[0], 0)
	if err != nil {
		return nil, err
	}
	n, m, err := want2("LinearGradX", in[1], 1)
	if err != nil {
		return nil, err
	}
	kk := r
	if k.transW {
		r, c = c, r
		kk = r
	}
	if c != m {
		return nil, shapeErr("LinearGradX", "W %v does not fit dy %v", in[0], in[1])
	}
	return tensor.Shape{n, kk}, nil
}
func (k linGradXK) forward(out []float32, in []arg) error {
	s, err := k.outShape([]tensor.Shape{in[0].shape, in[1].shape})
	if err != nil {
		return err
	}
	LinearBackwardX(out, in[0].data, in[1].data, s[0], s[1], in[1].shape[1], k.transW)
	return nil
}

type linGradWK struct{ transW bool }

func (k linGradWK) name() string                                     { return fmt.Sprintf("LinearGradW{transW=%v}", k.transW) }
func (k linGradWK) argDims() []int                                   { return []int{2, 2} }
func (k linGradWK) diffWRT() []bool                                  { return nil }
func (k linGradWK) grads(G.Nodes, *G.Node, *G.Node) (G.Nodes, error) { return nil, nil }
func (k linGradWK) outShape(in []tensor.Shape) (tensor.Shape, error) {
	n, kk, err := want2("LinearGradW", in[0], 0)
	if err != nil {
		return nil, err
	}
	n2, m, err := want2("LinearGradW", in[1], 1)
	if err != nil {
		return nil, err
	}
	if n != n2 {
		return nil, shapeErr("LinearGradW", "x %v does not fit dy %v", in[0], in[1])
	}
	if k.transW {
		return tensor.Shape{m, kk}, nil
	}
	return tensor.Shape{kk, m}, nil
}
func (k linGradWK) forward(out []float32, in []arg) error {
	if _, err := k.outShape([]tensor.Shape{in[0].shape, in[1].shape}); err != nil {
		return err
	}
	LinearBackwardW(out, in[0].data, in[1].data, in[0].shape[0], in[0].shape[1], in[1].shape[1], k.transW)
	return nil
}

type colSumK struct{}

func (colSumK) name() string                                     { return "ColSum" }
func (colSumK) argDims() []int                                   { return []int{2} }
func (colSumK) retDims() int                                     { return 1 }
func (colSumK) diffWRT() []bool                                  { return nil }
func (colSumK) grads(G.Nodes, *G.Node, *G.Node) (G.Nodes, error) { return nil, nil }
func (colSumK) outShape(in []tensor.Shape) (tensor.Shape, error) {
	_, c, err := want2("ColSum", in[0], 0)
	return tensor.Shape{c}, err
}
func (colSumK) forward(out []float32, in []arg) error {
	ColSum(out, in[0].data, in[0].shape[0], in[0].shape[1])
	return nil
}

// ----- LayerNorm ------------------------------------------------------------

type layerNormK struct{}

func (layerNormK) name() string   { return "LayerNorm" }
func (layerNormK) argDims() []int { return []int{2, 1, 1} }
func (layerNormK) outShape(in []tensor.Shape) (tensor.Shape, error) {
	r, c, err := want2("LayerNorm", in[0], 0)
	if err != nil {
		return nil, err
	}
	for i := 1; i < 3; i++ {
		n, err := want1("LayerNorm", in[i], i)
		if err != nil {
			return nil, err
		}
		if n != c {
			return nil, shapeErr("LayerNorm", "x is %v but input %d has %d entries", in[0], i, n)
		}
	}
	return tensor.Shape{r, c}, nil
}
func (k layerNormK) forward(out []float32, in []arg) error {
	s, err := k.outShape([]tensor.Shape{in[0].shape, in[1].shape, in[2].shape})
	if err != nil {
		return err
	}
	LayerNormForward(out, in[0].data, in[1].data, in[2].data, s[0], s[1], LayerNormEps)
	return nil
}
func (layerNormK) diffWRT() []bool { return []bool{true, true, true} }
func (layerNormK) grads(in G.Nodes, _, dy *G.Node) (G.Nodes, error) {
	return applyAll(
		func() (*G.Node, error) { return apply(lnGradK{which: 0}, in[0], in[1], dy) },
		func() (*G.Node, error) { return apply(lnGradK{which: 1}, in[0], in[1], dy) },
		func() (*G.Node, error) { return apply(colSumK{}, dy) },
	)
}

// lnGradK computes dx (which=0) or dg (which=1) of LayerNorm from (x, g, dy).
type lnGradK struct{ which int }

func (k lnGradK) name() string                                     { return fmt.Sprintf("LayerNormGrad{%d}", k.which) }
func (k lnGradK) argDims() []int                                   { return []int{2, 1, 2} }
func (k lnGradK) diffWRT() []bool                                  { return nil }
func (k lnGradK) grads(G.Nodes, *G.Node, *G.Node) (G.Nodes, error) { return nil, nil }
func (k lnGradK) retDims() int {
	if k.which == 0 {
		return 2
	}
	return 1
}
func (k lnGradK) outShape(in []tensor.Shape) (tensor.Shape, error) {
	if !in[0].Eq(in[2]) || len(in[0]) != 2 || len(in[1]) != 1 || in[1][0] != in[0][1] {
		return nil, shapeErr("LayerNormGrad", "shapes x %v g %v dy %v do not fit", in[0], in[1], in[2])
	}
	if k.which == 0 {
		return in[0].Clone(), nil
	}
	return tensor.Shape{in[0][1]}, nil
}
func (k lnGradK) forward(out []float32, in []arg) error {
	if _, err := k.outShape([]tensor.Shape{in[0].shape, in[1].shape, in[2].shape}); err != nil {
		return err
	}
	r, c := in[0].shape[0], in[0].shape[1]
	if k.which == 0 {
		LayerNormBackward(out, nil, nil, in[0].data, in[1].data, in[2].data, r, c, LayerNormEps)
	} else {
		LayerNormBackward(nil, out, nil, in[0].data, in[1].data, in[2].data, r, c, LayerNormEps)
	}
	return nil
}

// ----- GELU -----------------------------------------------------------------

type geluOpK struct{}

func (geluOpK) name() string   { return "GELU" }
func (geluOpK) argDims() []int { return []int{2} }
func (geluOpK) outShape(in []tensor.Shape) (tensor.Shape, error) {
	_, _, err := want2("GELU", in[0], 0)
	return in[0].Clone(), err
}
func (geluOpK) forward(out []float32, in []arg) error {
	GELUForward(out, in[0].data)
	return nil
}
func (geluOpK) diffWRT() []bool { return []bool{true} }
func (geluOpK) grads(in G.Nodes, _, dy *G.Node) (G.Nodes, error) {
	n, err := apply(geluGradOpK{}, in[0], dy)
	return G.Nodes{n}, err
}

type geluGradOpK struct{}

func (geluGradOpK) name() string                                     { return "GELUGrad" }
func (geluGradOpK) argDims() []int                                   { return []int{2, 2} }
func (geluGradOpK) diffWRT() []bool                                  { return nil }
func (geluGradOpK) grads(G.Nodes, *G.Node, *G.Node) (G.Nodes, error) { return nil, nil }
func (geluGradOpK) outShape(in []tensor.Shape) (tensor.Shape, error) {
	if !in[0].Eq(in[1]) {
		return nil, shapeErr("GELUGrad", "x %v and dy %v differ", in[0], in[1])
	}
	return in[0].Clone(), nil
}
func (geluGradOpK) forward(out []float32, in []arg) error {
	GELUBackward(out, in[0].data, in[1].data)
	return nil
}

// ----- attention ------------------------------------------------------------

func (a AttnShape) qkvShape() tensor.Shape    { return tensor.Shape{a.B * a.T, 3 * a.c()} }
func (a AttnShape) scoreShape() tensor.Shape  { return tensor.Shape{a.B * a.H, a.T, a.T} }
func (a AttnShape) outputShape() tensor.Shape { return tensor.Shape{a.B * a.T, a.c()} }

func (a AttnShape) check(op string, got tensor.Shape, want tensor.Shape, i int) error {
	if !got.Eq(want) {
		return shapeErr(op, "input %d has shape %v, want %v for %+v", i, got, want, a)
	}
	return nil
}

type attnScoresK struct{ a AttnShape }

func (k attnScoresK) name() string   { return fmt.Sprintf("AttnScores%+v", k.a) }
func (k attnScoresK) argDims() []int { return []int{2} }
func (k attnScoresK) retDims() int   { return 3 }
func (k attnScoresK) outShape(in []tensor.Shape) (tensor.Shape, error) {
	return k.a.scoreShape(), k.a.check("AttnScores", in[0], k.a.qkvShape(), 0)
}
func (k attnScoresK) forward(out []float32, in []arg) error {
	if err := k.a.check("AttnScores", in[0].shape, k.a.qkvShape(), 0); err != nil {
		return err
	}
	AttnScores(out, in[0].data, k.a)
	return nil
}
func (k attnScoresK) diffWRT() []bool { return []bool{true} }
func (k attnScoresK) grads(in G.Nodes, _, ds *G.Node) (G.Nodes, error) {
	n, err := apply(attnScoresGradK(k), in[0], ds)
	return G.Nodes{n}, err
}

type attnScoresGradK struct{ a AttnShape }

func (k attnScoresGradK) name() string                                     { return fmt.Sprintf("AttnScoresGrad%+v", k.a) }
func (k attnScoresGradK) argDims() []int                                   { return []int{2, 3} }
func (k attnScoresGradK) diffWRT() []bool                                  { return nil }
func (k attnScoresGradK) grads(G.Nodes, *G.Node, *G.Node) (G.Nodes, error) { return nil, nil }
func (k attnScoresGradK) outShape(in []tensor.Shape) (tensor.Shape, error) {
	if err := k.a.check("AttnScoresGrad", in[0], k.a.qkvShape(), 0); err != nil {
		return nil, err
	}
	return k.a.qkvShape(), k.a.check("AttnScoresGrad", in[1], k.a.scoreShape(), 1)
}
func (k attnScoresGradK) forward(out []float32, in []arg) error {
	if _, err := k.outShape([]tensor.Shape{in[0].shape, in[1].shape}); err != nil {
		return err
	}
	AttnScoresBackward(out, in[1].data, in[0].data, k.a)
	return nil
}

// softmaxK is the attention softmax operator: a scaled, optionally causal
// row softmax over the last axis of a (B·H)×T×T score tensor.
type softmaxK struct {
	scale  float32
	causal bool
}

func (k softmaxK) name() string {
	return fmt.Sprintf("AttnSoftmax{scale=%g,causal=%v}", k.scale, k.causal)
}
func (k softmaxK) argDims() []int { return []int{3} }
func (k softmaxK) retDims() int   { return 3 }
func (k softmaxK) outShape(in []tensor.Shape) (tensor.Shape, error) {
	s := in[0]
	if len(s) != 3 || (k.causal && s[1] != s[2]) {
		return nil, shapeErr("AttnSoftmax", "input has shape %v, want (B·H)×T×T", s)
	}
	return s.Clone(), nil
}
func (k softmaxK) forward(out []float32, in []arg) error {
	s, err := k.outShape([]tensor.Shape{in[0].shape})
	if err != nil {
		return err
	}
	// attnSoftmaxForward: SoftmaxForward, or its GPU kernel in the gccuda
	// build (softmax_gpu.go).
	return attnSoftmaxForward(out, in[0].data, s[0]*s[1], s[2], k.scale, k.causal)
}
func (k softmaxK) diffWRT() []bool { return []bool{true} }
func (k softmaxK) grads(_ G.Nodes, p, dp *G.Node) (G.Nodes, error) {
	n, err := apply(softmaxGradK(k), p, dp)
	return G.Nodes{n}, err
}

// softmaxGradK computes dS from (P, dP) with SoftmaxBackward.
type softmaxGradK softmaxK

func (k softmaxGradK) name() string {
	return fmt.Sprintf("AttnSoftmaxGrad{scale=%g,causal=%v}", k.scale, k.causal)
}
func (k softmaxGradK) argDims() []int                                   { return []int{3, 3} }
func (k softmaxGradK) retDims() int                                     { return 3 }
func (k softmaxGradK) diffWRT() []bool                                  { return nil }
func (k softmaxGradK) grads(G.Nodes, *G.Node, *G.Node) (G.Nodes, error) { return nil, nil }
func (k softmaxGradK) outShape(in []tensor.Shape) (tensor.Shape, error) {
	if !in[0].Eq(in[1]) || len(in[0]) != 3 {
		return nil, shapeErr("AttnSoftmaxGrad", "P %v and dP %v do not fit", in[0], in[1])
	}
	return in[0].Clone(), nil
}
func (k softmaxGradK) forward(out []float32, in []arg) error {
	s, err := k.outShape([]tensor.Shape{in[0].shape, in[1].shape})
	if err != nil {
		return err
	}
	return attnSoftmaxBackward(out, in[0].data, in[1].data, s[0]*s[1], s[2], k.scale, k.causal)
}

type attnContextK struct{ a AttnShape }

func (k attnContextK) name() string   { return fmt.Sprintf("AttnContext%+v", k.a) }
func (k attnContextK) argDims() []int { return []int{3, 2} }
func (k attnContextK) outShape(in []tensor.Shape) (tensor.Shape, error) {
	if err := k.a.check("AttnContext", in[0], k.a.scoreShape(), 0); err != nil {
		return nil, err
	}
	return k.a.outputShape(), k.a.check("AttnContext", in[1], k.a.qkvShape(), 1)
}
func (k attnContextK) forward(out []float32, in []arg) error {
	if _, err := k.outShape([]tensor.Shape{in[0].shape, in[1].shape}); err != nil {
		return err
	}
	AttnContext(out, in[0].data, in[1].data, k.a)
	return nil
}
func (k attnContextK) diffWRT() []bool { return []bool{true, true} }
func (k attnContextK) grads(in G.Nodes, _, dy *G.Node) (G.Nodes, error) {
	return applyAll(
		func() (*G.Node, error) { return apply(attnContextGradK{k.a, 0}, in[1], dy) },
		func() (*G.Node, error) { return apply(attnContextGradK{k.a, 1}, in[0], dy) },
	)
}

// attnContextGradK computes dP from (qkv, dy) (which=0) or the value
// gradient dqkv from (P, dy) (which=1).
type attnContextGradK struct {
	a     AttnShape
	which int
}

func (k attnContextGradK) name() string    { return fmt.Sprintf("AttnContextGrad{%d}%+v", k.which, k.a) }
func (k attnContextGradK) diffWRT() []bool { return nil }
func (k attnContextGradK) grads(G.Nodes, *G.Node, *G.Node) (G.Nodes, error) {
	return nil, nil
}
func (k attnContextGradK) argDims() []int {
	if k.which == 0 {
		return []int{2, 2}
	}
	return []int{3, 2}
}
func (k attnContextGradK) retDims() int {
	if k.which == 0 {
		return 3
	}
	return 2
}
func (k attnContextGradK) outShape(in []tensor.Shape) (tensor.Shape, error) {
	if err := k.a.check("AttnContextGrad", in[1], k.a.outputShape(), 1); err != nil {
		return nil, err
	}
	if k.which == 0 {
		return k.a.scoreShape(), k.a.check("AttnContextGrad", in[0], k.a.qkvShape(), 0)
	}
	return k.a.qkvShape(), k.a.check("AttnContextGrad", in[0], k.a.scoreShape(), 0)
}
func (k attnContextGradK) forward(out []float32, in []arg) error {
	if _, err := k.outShape([]tensor.Shape{in[0].shape, in[1].shape}); err != nil {
		return err
	}
	if k.which == 0 {
		AttnContextBackwardP(out, in[1].data, in[0].data, k.a)
	} else {
		AttnContextBackwardV(out, in[0].data, in[1].data, k.a)
	}
	return nil
}

// ----- embedding ------------------------------------------------------------

// toIDs converts a float32 vector of token ids to int32, checking range.
func toIDs(op string, f []float32, vocab int) ([]int32, error) {
	ids := make([]int32, len(f))
	for i, v := range f {
		if !(v >= 0 && v < float32(vocab)) || v != float32(int32(v)) {
			return nil, fmt.Errorf("%w: %s: token %d is %v, want an integer in [0, %d)", ErrBadInput, op, i, v, vocab)
		}
		ids[i] = int32(v)
	}
	return ids, nil
}

// embedK sums token and position embeddings for sequences of length T.
type embedK struct{ T int }

func (k embedK) name() string   { return fmt.Sprintf("Embed{T=%d}", k.T) }
func (k embedK) argDims() []int { return []int{2, 2, 1} }
func (k embedK) outShape(in []tensor.Shape) (tensor.Shape, error) {
	_, c, err := want2("Embed", in[0], 0)
	if err != nil {
		return nil, err
	}
	ctx, c2, err := want2("Embed", in[1], 1)
	if err != nil {
		return nil, err
	}
	n, err := want1("Embed", in[2], 2)
	if err != nil {
		return nil, err
	}
	if c != c2 || k.T < 1 || k.T > ctx || n%k.T != 0 {
		return nil, shapeErr("Embed", "tok %v, pos %v, ids %v do not fit T=%d", in[0], in[1], in[2], k.T)
	}
	return tensor.Shape{n, c}, nil
}
func (k embedK) forward(out []float32, in []arg) error {
	if _, err := k.outShape([]tensor.Shape{in[0].shape, in[1].shape, in[2].shape}); err != nil {
		return err
	}
	ids, err := toIDs("Embed", in[2].data, in[0].shape[0])
	if err != nil {
		return err
	}
	EmbedForward(out, in[0].data, in[1].data, ids, k.T, in[0].shape[1])
	return nil
}
func (k embedK) diffWRT() []bool { return []bool{true, true, false} }
func (k embedK) grads(in G.Nodes, _, dy *G.Node) (G.Nodes, error) {
	return applyAll(
		func() (*G.Node, error) { return apply(embedGradK{T: k.T, tok: true}, in[0], in[2], dy) },
		func() (*G.Node, error) { return apply(embedGradK{T: k.T}, in[1], in[2], dy) },
		nil,
	)
}

// embedGradK computes the token (tok) or position gradient from (table,
// ids, dy); the table input only supplies the output shape.
type embedGradK struct {
	T   int
	tok bool
}

func (k embedGradK) name() string                                     { return fmt.Sprintf("EmbedGrad{T=%d,tok=%v}", k.T, k.tok) }
func (k embedGradK) argDims() []int                                   { return []int{2, 1, 2} }
func (k embedGradK) diffWRT() []bool                                  { return nil }
func (k embedGradK) grads(G.Nodes, *G.Node, *G.Node) (G.Nodes, error) { return nil, nil }
func (k embedGradK) outShape(in []tensor.Shape) (tensor.Shape, error) {
	if len(in[0]) != 2 || len(in[1]) != 1 || len(in[2]) != 2 || in[1][0] != in[2][0] || in[0][1] != in[2][1] {
		return nil, shapeErr("EmbedGrad", "table %v, ids %v, dy %v do not fit", in[0], in[1], in[2])
	}
	return in[0].Clone(), nil
}
func (k embedGradK) forward(out []float32, in []arg) error {
	if _, err := k.outShape([]tensor.Shape{in[0].shape, in[1].shape, in[2].shape}); err != nil {
		return err
	}
	c := in[0].shape[1]
	if k.tok {
		ids, err := toIDs("EmbedGrad", in[1].data, in[0].shape[0])
		if err != nil {
			return err
		}
		EmbedBackwardTok(out, in[2].data, ids, c)
		return nil
	}
	EmbedBackwardPos(out, in[2].data, in[1].shape[0], k.T, c)
	return nil
}

// ----- cross-entropy ----------------------------------------------------------

// xentK is the mean cross-entropy of logits against integer targets
// (negative targets are ignored).
type xentK struct{}

func (xentK) name() string   { return "CrossEntropy" }
func (xentK) argDims() []int { return []int{2, 1} }
func (xentK) retDims() int   { return 0 }
func (xentK) outShape(in []tensor.Shape) (tensor.Shape, error) {
	n, _, err := want2("CrossEntropy", in[0], 0)
	if err != nil {
		return nil, err
	}
	m, err := want1("CrossEntropy", in[1], 1)
	if err != nil {
		return nil, err
	}
	if m != n {
		return nil, shapeErr("CrossEntropy", "logits %v but %d targets", in[0], m)
	}
	return tensor.ScalarShape(), nil
}

// targetIDs converts float32 targets to int32 (negative = ignored).
func targetIDs(f []float32, vocab int) ([]int32, error) {
	ids := make([]int32, len(f))
	for i, v := range f {
		if v < 0 {
			ids[i] = -1
			continue
		}
		if !(v < float32(vocab)) || v != float32(int32(v)) {
			return nil, fmt.Errorf("%w: CrossEntropy: target %d is %v, want an integer in [0, %d) or negative", ErrBadInput, i, v, vocab)
		}
		ids[i] = int32(v)
	}
	return ids, nil
}

func (k xentK) forward(out []float32, in []arg) error {
	if _, err := k.outShape([]tensor.Shape{in[0].shape, in[1].shape}); err != nil {
		return err
	}
	n, v := in[0].shape[0], in[0].shape[1]
	ids, err := targetIDs(in[1].data, v)
	if err != nil {
		return err
	}
	out[0] = CrossEntropy(in[0].data, ids, n, v)
	return nil
}
func (xentK) diffWRT() []bool { return []bool{true, false} }
func (xentK) grads(in G.Nodes, _, g *G.Node) (G.Nodes, error) {
	n, err := apply(xentGradK{}, in[0], in[1], g)
	return G.Nodes{n, nil}, err
}

type xentGradK struct{}

func (xentGradK) name() string                                     { return "CrossEntropyGrad" }
func (xentGradK) argDims() []int                                   { return []int{2, 1, 0} }
func (xentGradK) diffWRT() []bool                                  { return nil }
func (xentGradK) grads(G.Nodes, *G.Node, *G.Node) (G.Nodes, error) { return nil, nil }
func (xentGradK) outShape(in []tensor.Shape) (tensor.Shape, error) {
	if len(in[0]) != 2 || len(in[1]) != 1 || in[0][0] != in[1][0] || !in[2].IsScalar() {
		return nil, shapeErr("CrossEntropyGrad", "logits %v, targets %v, grad %v do not fit", in[0], in[1], in[2])
	}
	return in[0].Clone(), nil
}
func (k xentGradK) forward(out []float32, in []arg) error {
	if _, err := k.outShape([]tensor.Shape{in[0].shape, in[1].shape, in[2].shape}); err != nil {
		return err
	}
	n, v := in[0].shape[0], in[0].shape[1]
	ids, err := targetIDs(in[1].data, v)
	if err != nil {
		return err
	}
	CrossEntropyBackward(out, in[0].data, ids, n, v, in[2].data[0])
	return nil
}

// ----- exported graph builders ----------------------------------------------

// LinearNode returns x·W + b (b may be nil). With transW, W is stored
// transposed (out×in) and the result is x·Wᵀ + b, which is how the output
// head reuses the token embedding.
func LinearNode(x, w, b *G.Node, transW bool) (*G.Node, error) {
	if b == nil {
		return apply(linearK{transW: transW}, x, w)
	}
	return apply(linearK{transW: transW, bias: true}, x, w, b)
}

// LayerNormNode returns the row layer norm of x with gain g and bias b.
func LayerNormNode(x, g, b *G.Node) (*G.Node, error) { return apply(layerNormK{}, x, g, b) }

// GELUNode returns GELU(x) (tanh approximation) of a matrix.
func GELUNode(x *G.Node) (*G.Node, error) { return apply(geluOpK{}, x) }

// AttnScoresNode returns the per-head dot products QKᵀ of the fused qkv
// matrix, shape (B·H)×T×T.
func AttnScoresNode(qkv *G.Node, a AttnShape) (*G.Node, error) {
	return apply(attnScoresK{a}, qkv)
}

// AttnSoftmaxNode applies the attention softmax operator (scaled,
// optionally causal row softmax; kernels SoftmaxForward/SoftmaxBackward)
// to a (B·H)×T×T score tensor.
func AttnSoftmaxNode(s *G.Node, scale float32, causal bool) (*G.Node, error) {
	return apply(softmaxK{scale: scale, causal: causal}, s)
}

// AttnContextNode returns P·V per head with the heads concatenated,
// shape (B·T)×C.
func AttnContextNode(p, qkv *G.Node, a AttnShape) (*G.Node, error) {
	return apply(attnContextK{a}, p, qkv)
}

// EmbedNode returns tok[ids] + pos[position] for ids holding B·T token
// ids (as float32) of sequences of length T.
func EmbedNode(tok, pos, ids *G.Node, T int) (*G.Node, error) {
	return apply(embedK{T: T}, tok, pos, ids)
}

// CrossEntropyNode returns the mean cross-entropy of logits (N×V) against
// targets (N float32 ids; negative ids are ignored).
func CrossEntropyNode(logits, targets *G.Node) (*G.Node, error) {
	return apply(xentK{}, logits, targets)
}
