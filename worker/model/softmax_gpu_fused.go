package model

import (
	"errors"
	"fmt"

	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"
)

// The fused attention operator (gccuda build, shapes that fit; see
// softmax_gpu.go): y = softmax(scale·QKᵀ [causal]) V per head, from the
// fused qkv projection, with its gradient with respect to qkv in one more
// operator. In the default build attentionNode always builds the unfused
// operators (scores, softmax, context), whose math this is.

var errFusedOff = errors.New("model: fused attention not in use")

// attentionNode is one layer's attention, (B·T)×3C qkv in, (B·T)×C out.
func attentionNode(qkv *G.Node, a AttnShape, scale float32) (*G.Node, error) {
	if fusedAttentionFits(a, scale) {
		return apply(attnFusedK{a: a, scale: scale}, qkv)
	}
	s, err := AttnScoresNode(qkv, a)
	if err != nil {
		return nil, err
	}
	p, err := AttnSoftmaxNode(s, scale, a.Causal)
	if err != nil {
		return nil, err
	}
	return AttnContextNode(p, qkv, a)
}

type attnFusedK struct {
	a     AttnShape
	scale float32
}

func (k attnFusedK) name() string   { return fmt.Sprintf("AttnFused{scale=%g}%+v", k.scale, k.a) }
func (k attnFusedK) argDims() []int { return []int{2} }
func (k attnFusedK) outShape(in []tensor.Shape) (tensor.Shape, error) {
	if err := k.a.check("AttnFused", in[0], k.a.qkvShape(), 0); err != nil {
		return nil, err
	}
	return k.a.outputShape(), nil
}
func (k attnFusedK) forward(out []float32, in []arg) error {
	if _, err := k.outShape([]tensor.Shape{in[0].shape}); err != nil {
		return err
	}
	return fusedAttnForward(out, in[0].data, k.a, k.scale)
}
func (k attnFusedK) diffWRT() []bool { return []bool{true} }
func (k attnFusedK) grads(in G.Nodes, _, dy *G.Node) (G.Nodes, error) {
	n, err := apply(attnFusedGradK(k), in[0], dy)
	return G.Nodes{n}, err
}

// attnFusedGradK computes dqkv from (qkv, dy).
type attnFusedGradK attnFusedK

func (k attnFusedGradK) name() string {
	return fmt.Sprintf("AttnFusedGrad{scale=%g}%+v", k.scale, k.a)
}
func (k attnFusedGradK) argDims() []int                                   { return []int{2, 2} }
func (k attnFusedGradK) diffWRT() []bool                                  { return nil }
func (k attnFusedGradK) grads(G.Nodes, *G.Node, *G.Node) (G.Nodes, error) { return nil, nil }
func (k attnFusedGradK) outShape(in []tensor.Shape) (tensor.Shape, error) {
	if err := k.a.check("AttnFusedGrad", in[0], k.a.qkvShape(), 0); err != nil {
		return nil, err
	}
	if err := k.a.check("AttnFusedGrad", in[1], k.a.outputShape(), 1); err != nil {
		return nil, err
	}
	return k.a.qkvShape(), nil
}
func (k attnFusedGradK) forward(out []float32, in []arg) error {
	if _, err := k.outShape([]tensor.Shape{in[0].shape, in[1].shape}); err != nil {
		return err
	}
	return fusedAttnBackward(out, in[0].data, in[1].data, k.a, k.scale)
}
