// Package model holds the learnable models of GradientCoin: the byte-level
// decoder-only transformer (GPT) built as a gorgonia graph, and the paper's
// softmax-attention regression loss used to check the convergence theorem.
//
// # Contract
//
// Every model's parameters are ONE flat []float32 vector whose layout is
// fixed by chain/state.ModelConfig.Layout(). The GPT's graph parameter
// nodes are views (tensor.WithBacking) of sub-slices of a flat vector owned
// by the model; gradients come back in a flat vector of the same layout.
// A GPT value is built for a fixed batch shape (B sequences of T tokens)
// and is not safe for concurrent use; build one per goroutine.
//
// The attention softmax is its own gorgonia operator (AttnSoftmaxNode)
// whose forward and backward call the plain kernels SoftmaxForward and
// SoftmaxBackward, so that a GPU implementation can replace them one for
// one. LayerNorm, GELU, the fused linear layer, the per-head attention
// products, the embedding lookup and the cross-entropy are operators of
// the same kind (see kernels.go for their pure-Go kernels; the linear
// layers call gonum's pure-Go sgemm, the BLAS gorgonia itself uses). Gorgonia
// supplies the graph, symbolic differentiation (gradient accumulation of
// the tied token embedding included) and the tape machine.
//
// ForwardContext and LossGradContext stop a run between operators once
// their context is done and return ctx.Err() (a node shutting down does
// not wait for a whole pass of a large model); the model stays usable.
// Every operator of a GPT's graph checks the context of its model's
// current run; GPT builds are serialised so that each graph's operators
// are tagged with their own model.
//
// The package is silent (no logging) and never panics on bad input.
//
// # Errors
//
// ErrBadConfig (a config whose shapes do not fit; also matches
// chain/state.ErrBadModelConfig), ErrShape (wrong lengths of weights,
// gradients or batches), ErrBadInput (token ids outside the vocabulary,
// sequences longer than the model's T), ErrNonFinite (NaN/Inf weights or
// loss).
package model
