package gpu

import (
	"encoding/binary"
	"fmt"
	"math"
	"runtime"
	"sync"
	"sync/atomic"

	"github.com/gradientcoin/gradientcoin/kernels"
)

// This file is the part of the fused attention that is the same in both
// builds: shapes, layouts and their validation, launch plans, the parameter
// block, and the float64 references (the specification of
// kernels/attention_fwd.cu and attention_bwd.cu).

// AttnShape is one fused attention: B batches of H heads, sequences of T
// positions, head width D, the softmax scale (usually 1/√D) and the causal
// mask (query i sees keys 0..i).
type AttnShape struct {
	B, H, T, D int
	Scale      float32
	Causal     bool
}

// AttnStrides addresses one matrix: element (b, h, t, d) is at base +
// b·Batch + h·Head + t·Token + d (in elements).
type AttnStrides struct{ Batch, Head, Token int64 }

// AttnLayout is where the matrices of an attention live: In for Q, K and V
// (which share strides, each with its own base pointer), Out for O and dO,
// Grad for dQ, dK and dV. OutF32 makes the forward write O in fp32 (and the
// backward read it so); otherwise O is bf16.
type AttnLayout struct {
	In, Out, Grad AttnStrides
	OutF32        bool
}

// DenseAttnLayout is the layout of separate [B, H, T, D] tensors.
func DenseAttnLayout(sh AttnShape) AttnLayout {
	s := AttnStrides{Batch: int64(sh.H) * int64(sh.T) * int64(sh.D), Head: int64(sh.T) * int64(sh.D), Token: int64(sh.D)}
	return AttnLayout{In: s, Out: s, Grad: s}
}

// PackedAttnLayout is the model's layout (worker/model.AttnShape): Q, K and
// V side by side in one (B·T) × 3C matrix (C = H·D; K at column C, V at 2C,
// head h at columns h·D.. of each), O and dO in a (B·T) × C matrix, and the
// gradients in a (B·T) × 3C matrix like the input. The K and V base
// pointers are the Q base plus C and 2C elements.
func PackedAttnLayout(sh AttnShape) AttnLayout {
	c := int64(sh.H) * int64(sh.D)
	in := AttnStrides{Batch: int64(sh.T) * 3 * c, Head: int64(sh.D), Token: 3 * c}
	out := AttnStrides{Batch: int64(sh.T) * c, Head: int64(sh.D), Token: c}
	return AttnLayout{In: in, Out: out, Grad: in, OutF32: true}
}

// Attention tile sizes (kernels/attention_*.cu).
const (
	attnBlockRows = 64
	attnThreads   = 128
)

// AttentionFits reports whether the fused kernels take the shape: T a
// multiple of 64, D one of 32, 64, 128, B·H at most 65,535.
func AttentionFits(sh AttnShape) bool { return sh.validate() == nil }

func (sh AttnShape) validate() error {
	switch {
	case sh.B < 1 || sh.H < 1 || sh.B*sh.H > 65535:
		return invalid("attention: B %d × H %d not in 1..65535", sh.B, sh.H)
	case sh.T < attnBlockRows || sh.T%attnBlockRows != 0 || sh.T > 1<<20:
		return invalid("attention: T %d is not a positive multiple of %d", sh.T, attnBlockRows)
	case sh.D != 32 && sh.D != 64 && sh.D != 128:
		return invalid("attention: head width %d not 32, 64 or 128", sh.D)
	case math.IsNaN(float64(sh.Scale)) || math.IsInf(float64(sh.Scale), 0):
		return invalid("attention: scale %v", sh.Scale)
	}
	return nil
}

func (l AttnLayout) validate() error {
	for _, s := range []AttnStrides{l.In, l.Out, l.Grad} {
		// bf16 rows are read 16 bytes at a time: strides of 8 elements.
		if s.Batch < 0 || s.Head < 0 || s.Token <= 0 || s.Batch%8 != 0 || s.Head%8 != 0 || s.Token%8 != 0 {
			return invalid("attention: strides %+v are not non-negative multiples of 8", s)
		}
	}
	return nil
}

func (sh AttnShape) rows() int64 { return int64(sh.B) * int64(sh.H) * int64(sh.T) }

// attnFLOPs is the conventional count of the forward's matrix products:
// 4·B·H·T²·D, halved with the causal mask. The backward is 2.5 times that.
func (sh AttnShape) attnFLOPs() float64 {
	f := 4 * float64(sh.B) * float64(sh.H) * float64(sh.T) * float64(sh.T) * float64(sh.D)
	if sh.Causal {
		f /= 2
	}
	return f
}

// attnLaunch is one planned launch.
type attnLaunch struct {
	module       string
	name         string
	gridX, gridY int
	block, smem  int
}

func attnPlanFwd(sh AttnShape, outF32 bool) attnLaunch {
	o := "bf16"
	if outF32 {
		o = "f32"
	}
	return attnLaunch{
		module: kernels.AttentionFwd, name: fmt.Sprintf("attn_fwd_d%d_%s", sh.D, o),
		gridX: sh.T / attnBlockRows, gridY: sh.B * sh.H, block: attnThreads,
		smem: (attnBlockRows + 4*64) * (sh.D + 8) * 2,
	}
}

func attnPlanDelta(sh AttnShape, outF32 bool) attnLaunch {
	o := "bf16"
	if outF32 {
		o = "f32"
	}
	return attnLaunch{
		module: kernels.AttentionBwd, name: fmt.Sprintf("attn_bwd_delta_d%d_%s", sh.D, o),
		gridX: int((sh.rows() + attnThreads/32 - 1) / (attnThreads / 32)), gridY: 1, block: attnThreads,
	}
}

func attnPlanDQ(sh AttnShape) attnLaunch {
	return attnLaunch{
		module: kernels.AttentionBwd, name: fmt.Sprintf("attn_bwd_dq_d%d", sh.D),
		gridX: sh.T / attnBlockRows, gridY: sh.B * sh.H, block: attnThreads,
		smem: (2*attnBlockRows + 4*64) * (sh.D + 8) * 2,
	}
}

// attnDKDVQueries is the query tile of the dK/dV kernel (registers: dK and
// dV accumulate D columns each).
func attnDKDVQueries(d int) int {
	if d > 64 {
		return 32
	}
	return 64
}

func attnPlanDKDV(sh AttnShape) attnLaunch {
	bq := attnDKDVQueries(sh.D)
	return attnLaunch{
		module: kernels.AttentionBwd, name: fmt.Sprintf("attn_bwd_dkdv_d%d", sh.D),
		gridX: sh.T / attnBlockRows, gridY: sh.B * sh.H, block: attnThreads,
		smem: (2*attnBlockRows+4*bq)*(sh.D+8)*2 + 16*bq,
	}
}

// attnPlanCvt plans an elementwise conversion of n elements.
func attnPlanCvt(toBF16 bool, n int64) attnLaunch {
	name := "attn_cvt_bf16_f32"
	if toBF16 {
		name = "attn_cvt_f32_bf16"
	}
	return attnLaunch{module: kernels.AttentionFwd, name: name, gridX: int(min((n+255)/256, 4096)), gridY: 1, block: 256}
}

// attnParamsSize is sizeof(AttnParams) (kernels/attention_common.cuh).
const attnParamsSize = 200

// attnPtrMask marks the pointer slots of AttnParams (for the emulation).
const attnPtrMask = 0x3ff | 1<<23 | 1<<24

// attnPtrs are the pointers of one attention launch (0 = unused).
type attnPtrs struct {
	q, k, v, o, lse, dout, delta, dq, dk, dv, src, dst uint64
	n                                                  int64
}

func attnParams(sh AttnShape, l AttnLayout, p attnPtrs) [attnParamsSize]byte {
	var b [attnParamsSize]byte
	le := binary.LittleEndian
	for i, v := range []uint64{p.q, p.k, p.v, p.o, p.lse, p.dout, p.delta, p.dq, p.dk, p.dv} {
		le.PutUint64(b[8*i:], v)
	}
	for i, v := range []int64{l.In.Batch, l.In.Head, l.In.Token, l.Out.Batch, l.Out.Head, l.Out.Token, l.Grad.Batch, l.Grad.Head, l.Grad.Token} {
		le.PutUint64(b[80+8*i:], uint64(v))
	}
	le.PutUint32(b[152:], uint32(sh.B))
	le.PutUint32(b[156:], uint32(sh.H))
	le.PutUint32(b[160:], uint32(sh.T))
	if sh.Causal {
		le.PutUint32(b[164:], 1)
	}
	le.PutUint32(b[168:], math.Float32bits(sh.Scale))
	le.PutUint32(b[172:], math.Float32bits(float32(float64(sh.Scale)*math.Log2E)))
	le.PutUint64(b[176:], uint64(p.n))
	le.PutUint64(b[184:], p.src)
	le.PutUint64(b[192:], p.dst)
	return b
}

// AttentionForwardReference is the specification of the forward kernels,
// in float64, on dense [B, H, T, D] matrices: o = softmax(Scale·q kᵀ
// [causal]) v and lse (len B·H·T) = the log-sum-exp of each row of Scale·q
// kᵀ over its visible keys. Callers round bf16 inputs themselves.
func AttentionForwardReference(o, lse, q, k, v []float32, sh AttnShape) {
	T, D := sh.T, sh.D
	parallelHeads(sh, func(bh int) {
		s := make([]float64, T)
		acc := make([]float64, D)
		base := bh * T * D
		for i := 0; i < T; i++ {
			n := T
			if sh.Causal {
				n = i + 1
			}
			m := math.Inf(-1)
			for j := 0; j < n; j++ {
				var dot float64
				for d := 0; d < D; d++ {
					dot += float64(q[base+i*D+d]) * float64(k[base+j*D+d])
				}
				s[j] = dot * float64(sh.Scale)
				m = math.Max(m, s[j])
			}
			var sum float64
			clear(acc)
			for j := 0; j < n; j++ {
				p := math.Exp(s[j] - m)
				sum += p
				for d := 0; d < D; d++ {
					acc[d] += p * float64(v[base+j*D+d])
				}
			}
			for d := 0; d < D; d++ {
				o[base+i*D+d] = float32(acc[d] / sum)
			}
			lse[bh*T+i] = float32(m + math.Log(sum))
		}
	})
}

// parallelHeads runs fn for every batch·head, over the CPUs when the work
// is large (heads are independent).
func parallelHeads(sh AttnShape, fn func(bh int)) {
	n := sh.B * sh.H
	workers := min(runtime.GOMAXPROCS(0), n)
	if workers < 2 || int64(sh.T)*int64(sh.T)*int64(sh.D)*int64(n) < 1<<22 {
		for bh := 0; bh < n; bh++ {
			fn(bh)
		}
		return
	}
	var next atomic.Int64
	var wg sync.WaitGroup
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for bh := int(next.Add(1) - 1); bh < n; bh = int(next.Add(1) - 1) {
				fn(bh)
			}
		}()
	}
	wg.Wait()
}

// AttentionBackwardReference is the specification of the backward kernels,
// in float64, on dense [B, H, T, D] matrices: from the incoming gradient
// do of o, dq = Scale·dS k, dk = Scale·dSᵀ q, dv = Pᵀ do, with P the
// attention probabilities and dS = P ⊙ (do vᵀ − rowsum(do ⊙ o)).
func AttentionBackwardReference(dq, dk, dv, q, k, v, do []float32, sh AttnShape) {
	attentionBackwardRef(dq, dk, dv, q, k, v, do, sh, nil)
}

// attentionBackwardRef is AttentionBackwardReference; with stored not nil
// (dense, like o) the row sums rowsum(do ⊙ o) use it instead of the exact
// o: the backward kernels' own input is the O the forward stored.
func attentionBackwardRef(dq, dk, dv, q, k, v, do []float32, sh AttnShape, stored []float32) {
	T, D := sh.T, sh.D
	parallelHeads(sh, func(bh int) {
		p := make([]float64, T)
		o := make([]float64, D)
		gq := make([]float64, T*D)
		gk := make([]float64, T*D)
		gv := make([]float64, T*D)
		base := bh * T * D
		for i := 0; i < T; i++ {
			n := T
			if sh.Causal {
				n = i + 1
			}
			m := math.Inf(-1)
			for j := 0; j < n; j++ {
				var dot float64
				for d := 0; d < D; d++ {
					dot += float64(q[base+i*D+d]) * float64(k[base+j*D+d])
				}
				p[j] = dot * float64(sh.Scale)
				m = math.Max(m, p[j])
			}
			var sum float64
			for j := 0; j < n; j++ {
				p[j] = math.Exp(p[j] - m)
				sum += p[j]
			}
			clear(o)
			for j := 0; j < n; j++ {
				p[j] /= sum
				for d := 0; d < D; d++ {
					o[d] += p[j] * float64(v[base+j*D+d])
				}
			}
			var delta float64
			for d := 0; d < D; d++ {
				od := o[d]
				if stored != nil {
					od = float64(stored[base+i*D+d])
				}
				delta += float64(do[base+i*D+d]) * od
			}
			for j := 0; j < n; j++ {
				var dp float64
				for d := 0; d < D; d++ {
					g := float64(do[base+i*D+d])
					dp += g * float64(v[base+j*D+d])
					gv[j*D+d] += p[j] * g
				}
				ds := p[j] * (dp - delta) * float64(sh.Scale)
				for d := 0; d < D; d++ {
					gq[i*D+d] += ds * float64(k[base+j*D+d])
					gk[j*D+d] += ds * float64(q[base+i*D+d])
				}
			}
		}
		for i := range gq {
			dq[base+i] = float32(gq[i])
			dk[base+i] = float32(gk[i])
			dv[base+i] = float32(gv[i])
		}
	})
}
