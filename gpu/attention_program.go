package gpu

import "fmt"

// An attnProgram is a fixed sequence of attention launches over one scratch
// buffer, planned in pure Go: the device (Attention) and the host emulation
// run the same programs, so the emulation checks the launch sequence, the
// offsets and the parameter blocks as well as the kernels.

// attnBuf is a named region of the scratch buffer.
type attnBuf struct{ off, bytes int64 }

// attnStep is one launch; the pointers in p are offsets into the scratch
// buffer (0: none), rebased when the parameter block is built.
type attnStep struct {
	l attnLaunch
	p attnPtrs
}

type attnProgram struct {
	sh     AttnShape
	layout AttnLayout
	size   int64
	bufs   map[string]attnBuf
	steps  []attnStep
}

func newAttnProgram(sh AttnShape, l AttnLayout) *attnProgram {
	// Offsets start at 256 so that no buffer is at offset 0 (= null).
	return &attnProgram{sh: sh, layout: l, size: 256, bufs: map[string]attnBuf{}}
}

// alloc reserves a 256-byte aligned region.
func (pr *attnProgram) alloc(name string, bytes int64) uint64 {
	off := (pr.size + 255) &^ 255
	pr.bufs[name] = attnBuf{off: off, bytes: bytes}
	pr.size = off + bytes
	return uint64(off)
}

func (pr *attnProgram) buf(name string) attnBuf {
	b, ok := pr.bufs[name]
	if !ok {
		panic(fmt.Sprintf("attention program has no buffer %q", name))
	}
	return b
}

// params builds step i's parameter block with the scratch buffer at base
// (the emulation passes 0: its pointers are arena offsets).
func (pr *attnProgram) params(i int, base uint64) [attnParamsSize]byte {
	p := pr.steps[i].p
	for _, f := range []*uint64{&p.q, &p.k, &p.v, &p.o, &p.lse, &p.dout, &p.delta, &p.dq, &p.dk, &p.dv, &p.src, &p.dst} {
		if *f != 0 {
			*f += base
		}
	}
	return attnParams(pr.sh, pr.layout, p)
}

// attnDenseProgram: separate [B, H, T, D] tensors, bf16 q, k, v and dout
// (inputs), o (bf16, or fp32 with outF32), lse, delta and fp32 dq, dk, dv.
// Steps: [0] forward; [1..3] backward (delta, dq, dk/dv) from o and lse.
func attnDenseProgram(sh AttnShape, outF32 bool) *attnProgram {
	l := DenseAttnLayout(sh)
	l.OutF32 = outF32
	pr := newAttnProgram(sh, l)
	n := sh.rows() * int64(sh.D)
	osize := int64(2)
	if outF32 {
		osize = 4
	}
	var p attnPtrs
	p.q = pr.alloc("q", 2*n)
	p.k = pr.alloc("k", 2*n)
	p.v = pr.alloc("v", 2*n)
	p.o = pr.alloc("o", osize*n)
	p.lse = pr.alloc("lse", 4*sh.rows())
	p.dout = pr.alloc("dout", 2*n)
	p.delta = pr.alloc("delta", 4*sh.rows())
	p.dq = pr.alloc("dq", 4*n)
	p.dk = pr.alloc("dk", 4*n)
	p.dv = pr.alloc("dv", 4*n)
	pr.steps = []attnStep{
		{attnPlanFwd(sh, outF32), p},
		{attnPlanDelta(sh, outF32), p},
		{attnPlanDQ(sh), p},
		{attnPlanDKDV(sh), p},
	}
	return pr
}

// attnPackedForward is the model's forward: qkv32 ((B·T) × 3C fp32, input)
// is converted to bf16, and the fused forward writes y ((B·T) × C fp32,
// output) and lse.
func attnPackedForward(sh AttnShape) *attnProgram {
	pr := newAttnProgram(sh, PackedAttnLayout(sh))
	c := int64(sh.H) * int64(sh.D)
	nqkv := int64(sh.B) * int64(sh.T) * 3 * c
	src := pr.alloc("qkv32", 4*nqkv)
	q := pr.alloc("qkv16", 2*nqkv)
	var p attnPtrs
	p.q, p.k, p.v = q, q+uint64(2*c), q+uint64(4*c)
	p.o = pr.alloc("y", 4*int64(sh.B)*int64(sh.T)*c)
	p.lse = pr.alloc("lse", 4*sh.rows())
	pr.steps = []attnStep{
		{attnPlanCvt(true, nqkv), attnPtrs{src: src, dst: q, n: nqkv}},
		{attnPlanFwd(sh, true), p},
	}
	return pr
}

// attnPackedBackward is the model's backward: from qkv32 and dy32 ((B·T) × C
// fp32) it recomputes the forward (y, lse), then delta, and writes dqkv32
// ((B·T) × 3C fp32, output).
func attnPackedBackward(sh AttnShape) *attnProgram {
	pr := newAttnProgram(sh, PackedAttnLayout(sh))
	c := int64(sh.H) * int64(sh.D)
	nqkv := int64(sh.B) * int64(sh.T) * 3 * c
	ny := int64(sh.B) * int64(sh.T) * c
	src := pr.alloc("qkv32", 4*nqkv)
	dy := pr.alloc("dy32", 4*ny)
	q := pr.alloc("qkv16", 2*nqkv)
	var p attnPtrs
	p.q, p.k, p.v = q, q+uint64(2*c), q+uint64(4*c)
	p.dout = pr.alloc("dy16", 2*ny)
	p.o = pr.alloc("y", 4*ny)
	p.lse = pr.alloc("lse", 4*sh.rows())
	p.delta = pr.alloc("delta", 4*sh.rows())
	g := pr.alloc("dqkv32", 4*nqkv)
	p.dq, p.dk, p.dv = g, g+uint64(4*c), g+uint64(8*c)
	pr.steps = []attnStep{
		{attnPlanCvt(true, nqkv), attnPtrs{src: src, dst: q, n: nqkv}},
		{attnPlanCvt(true, ny), attnPtrs{src: dy, dst: p.dout, n: ny}},
		{attnPlanFwd(sh, true), p},
		{attnPlanDelta(sh, true), p},
		{attnPlanDQ(sh), p},
		{attnPlanDKDV(sh), p},
	}
	return pr
}
