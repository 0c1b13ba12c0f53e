package kernels

// Fused attention modules (attention_fwd.cu, attention_bwd.cu): bf16 tensor
// cores (mma.sync), fp32 accumulation. Entry points: attn_fwd_d<D>_<bf16|f32>
// and the conversions attn_cvt_f32_bf16, attn_cvt_bf16_f32 in the forward
// module; attn_bwd_delta_d<D>_<bf16|f32>, attn_bwd_dq_d<D> and
// attn_bwd_dkdv_d<D> in the backward module (D = 32, 64, 128). All take one
// parameter, struct AttnParams by value (layout in gpu/attention.go).
const (
	// AttentionFwd is the fused attention forward module.
	AttentionFwd = "attention_fwd"
	// AttentionBwd is the fused attention backward module.
	AttentionBwd = "attention_bwd"
)
