package kernels

// Attention softmax modules (softmax_fwd.cu, softmax_bwd.cu). Each exports
// many entry points, one per element type, load path and row shape, named
// softmax_<fwd|bwd>_<f32|bf16>_<v|s>_<w<LANES>x<NV>|b<F>|online>; all take
// one parameter, struct SoftmaxParams by value (layout in gpu/softmax.go).
// gpu/softmax.go picks the entry point per shape.
const (
	// SoftmaxFwd is the forward module: P = softmax(scale·S), causal mask,
	// log-sum-exp.
	SoftmaxFwd = "softmax_fwd"
	// SoftmaxBwd is the backward module: dS = scale·P ⊙ (dP − rowsum(dP ⊙ P)).
	SoftmaxBwd = "softmax_bwd"
)
