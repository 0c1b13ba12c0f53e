//go:build gccuda

package gpu

import (
	"fmt"
	"unsafe"

	"gorgonia.org/cu"

	"github.com/gradientcoin/gradientcoin/kernels"
)

// Attention runs the fused attention kernels (kernels/attention_fwd.cu,
// attention_bwd.cu: bf16 tensor cores, fp32 accumulation) on one Context.
// Its methods may be called from any goroutine; the host-memory ones
// serialize on the Attention's scratch buffer. The kernels need compute
// capability 8.0 or later.
type Attention struct {
	kernelSet
}

// NewAttention loads the attention kernels on c.
func NewAttention(c *Context) (*Attention, error) {
	if c.info.Major < 8 {
		return nil, fmt.Errorf("%w: fused attention needs compute capability 8.0, %s has %d.%d", ErrInvalid, c.info.Name, c.info.Major, c.info.Minor)
	}
	a := &Attention{}
	if err := a.load(c, kernels.AttentionFwd, kernels.AttentionBwd); err != nil {
		return nil, err
	}
	return a, nil
}

// Device describes the device the kernels run on.
func (a *Attention) Device() DeviceInfo { return a.c.info }

// Stream is the Attention's own stream (used when a call passes nil).
func (a *Attention) Stream() *Stream { return a.stream }

// Close frees the scratch buffer and the stream (not the Context).
func (a *Attention) Close() error { return a.close() }

// function looks a kernel up once and raises its dynamic shared memory
// limit to what its plan needs (a.mu held).
func (a *Attention) function(l attnLaunch) (*Function, error) {
	if a.closed {
		return nil, ErrClosed
	}
	if f, ok := a.fns[l.name]; ok {
		return f, nil
	}
	f, err := a.mods[l.module].Function(l.name)
	if err != nil {
		return nil, err
	}
	// The largest plan of a kernel is fixed by D (its name): set it once.
	if l.smem > 48<<10 {
		if err := f.SetAttribute(FuncAttrMaxDynamicSharedBytes, l.smem); err != nil {
			return nil, err
		}
	}
	a.fns[l.name] = f
	return f, nil
}

func (a *Attention) launch(st *Stream, l attnLaunch, params []byte) error {
	a.mu.Lock()
	f, err := a.function(l)
	a.mu.Unlock()
	if err != nil {
		return err
	}
	if st == nil {
		st = a.stream
	}
	return st.Launch(f, Dim3{X: l.gridX, Y: l.gridY}, Dim3{X: l.block}, l.smem, params)
}

func aligned16(ptrs ...DevicePtr) bool {
	for _, p := range ptrs {
		if p%16 != 0 {
			return false
		}
	}
	return true
}

// Forward enqueues O = softmax(sh.Scale·Q Kᵀ [causal]) V and the per-row
// log-sum-exp (lse: B·H·T fp32, row (b·H + h)·T + t) on stream st (nil:
// the Attention's own stream). q, k, v are bf16 with strides l.In; o is
// written with strides l.Out, in fp32 if l.OutF32 else bf16. Shapes must
// fit (AttentionFits) and every pointer and row be 16-byte aligned.
func (a *Attention) Forward(st *Stream, sh AttnShape, l AttnLayout, q, k, v, o, lse DevicePtr) error {
	if err := sh.validate(); err != nil {
		return err
	}
	if err := l.validate(); err != nil {
		return err
	}
	if !aligned16(q, k, v, o, lse) || q == 0 || k == 0 || v == 0 || o == 0 || lse == 0 {
		return invalid("attention forward: pointers must be non-null and 16-byte aligned")
	}
	p := attnParams(sh, l, attnPtrs{q: uint64(q), k: uint64(k), v: uint64(v), o: uint64(o), lse: uint64(lse)})
	return a.launch(st, attnPlanFwd(sh, l.OutF32), p[:])
}

// AttnGrads are the buffers of a backward pass: inputs dO (bf16, strides
// l.Out), O and lse from the forward; Delta is scratch (B·H·T fp32);
// outputs dQ, dK, dV (fp32, strides l.Grad).
type AttnGrads struct {
	DO, O, LSE, Delta DevicePtr
	DQ, DK, DV        DevicePtr
}

// Backward enqueues the gradients of the forward with respect to q, k and v
// on stream st: three kernels (row sums of dO ⊙ O, then dQ per query block
// and dK, dV per key block, each written once: no atomics).
func (a *Attention) Backward(st *Stream, sh AttnShape, l AttnLayout, q, k, v DevicePtr, g AttnGrads) error {
	if err := sh.validate(); err != nil {
		return err
	}
	if err := l.validate(); err != nil {
		return err
	}
	ptrs := []DevicePtr{q, k, v, g.DO, g.O, g.LSE, g.Delta, g.DQ, g.DK, g.DV}
	for _, p := range ptrs {
		if p == 0 || p%16 != 0 {
			return invalid("attention backward: pointers must be non-null and 16-byte aligned")
		}
	}
	p := attnParams(sh, l, attnPtrs{q: uint64(q), k: uint64(k), v: uint64(v), o: uint64(g.O), lse: uint64(g.LSE),
		dout: uint64(g.DO), delta: uint64(g.Delta), dq: uint64(g.DQ), dk: uint64(g.DK), dv: uint64(g.DV)})
	for _, pl := range []attnLaunch{attnPlanDelta(sh, l.OutF32), attnPlanDQ(sh), attnPlanDKDV(sh)} {
		if err := a.launch(st, pl, p[:]); err != nil {
			return err
		}
	}
	return nil
}

// runProgram runs an attention program on the scratch buffer: poison,
// inputs in, steps, outputs out, all in stream order, synchronously.
func (a *Attention) runProgram(pr *attnProgram, steps []int, inputs map[string][]byte, outputs []string) (map[string][]byte, error) {
	out := map[string][]byte{}
	for _, name := range outputs {
		out[name] = make([]byte, pr.buf(name).bytes)
	}
	err := a.runProgramInto(pr, steps, func(name string) unsafe.Pointer {
		if b, ok := inputs[name]; ok && len(b) > 0 {
			return unsafe.Pointer(&b[0])
		}
		return nil
	}, func(name string) unsafe.Pointer {
		if b, ok := out[name]; ok && len(b) > 0 {
			return unsafe.Pointer(&b[0])
		}
		return nil
	}, names(inputs), outputs, true)
	return out, err
}

func names(m map[string][]byte) []string {
	var n []string
	for k := range m {
		n = append(n, k)
	}
	return n
}

// runProgramInto copies the named inputs in from host memory (src(name)
// points at the buffer's size in bytes), runs the steps (all when nil) and
// copies the named outputs out (dst(name)), within one call on the context
// thread. With poison the whole scratch buffer is first set to 0xff.
func (a *Attention) runProgramInto(pr *attnProgram, steps []int, src, dst func(string) unsafe.Pointer, inputs, outputs []string, poison bool) error {
	a.mu.Lock()
	defer a.mu.Unlock()
	if err := a.ensureScratch(pr.size); err != nil {
		return err
	}
	if steps == nil {
		for i := range pr.steps {
			steps = append(steps, i)
		}
	}
	type launch struct {
		f      *Function
		l      attnLaunch
		params [attnParamsSize]byte
	}
	var ls []launch
	for _, i := range steps {
		f, err := a.function(pr.steps[i].l)
		if err != nil {
			return err
		}
		ls = append(ls, launch{f, pr.steps[i].l, pr.params(i, uint64(a.scratch))})
	}
	base, st := a.scratch, a.stream
	return a.c.Do(func() error {
		if poison {
			if err := driverErr("cuMemsetD8Async", cu.MemsetD8Async(cu.DevicePtr(base), 0xff, pr.size, st.s)); err != nil {
				return err
			}
		}
		for _, name := range inputs {
			b := pr.buf(name)
			if err := driverErr("cuMemcpyHtoDAsync", cu.MemcpyHtoDAsync(cu.DevicePtr(base+DevicePtr(b.off)), src(name), b.bytes, st.s)); err != nil {
				return err
			}
		}
		for _, l := range ls {
			if err := st.launch(l.f, Dim3{X: l.l.gridX, Y: l.l.gridY}, Dim3{X: l.l.block}, l.l.smem, l.params[:]); err != nil {
				return err
			}
		}
		for _, name := range outputs {
			b := pr.buf(name)
			if err := driverErr("cuMemcpyDtoHAsync", cu.MemcpyDtoHAsync(dst(name), cu.DevicePtr(base+DevicePtr(b.off)), b.bytes, st.s)); err != nil {
				return err
			}
		}
		return driverErr("cuStreamSynchronize", st.s.Synchronize())
	})
}

func packedLens(sh AttnShape) (nqkv, ny int) {
	c := sh.H * sh.D
	return sh.B * sh.T * 3 * c, sh.B * sh.T * c
}

// ForwardPackedHost is the model's forward on host memory (fp32): qkv is
// the (B·T) × 3C matrix of queries, keys and values side by side (C = H·D,
// head h at columns h·D.. of each third), y receives the (B·T) × C output
// with the heads side by side. Q, K and V are rounded to bf16 on the
// device; O is accumulated and written in fp32.
func (a *Attention) ForwardPackedHost(sh AttnShape, y, qkv []float32) error {
	if err := sh.validate(); err != nil {
		return err
	}
	nqkv, ny := packedLens(sh)
	if len(qkv) != nqkv || len(y) != ny {
		return invalid("attention host call: qkv %d, y %d, want %d, %d", len(qkv), len(y), nqkv, ny)
	}
	return a.runProgramInto(attnPackedForward(sh), nil,
		func(string) unsafe.Pointer { return unsafe.Pointer(&qkv[0]) },
		func(string) unsafe.Pointer { return unsafe.Pointer(&y[0]) },
		[]string{"qkv32"}, []string{"y"}, false)
}

// BackwardPackedHost is the model's backward on host memory (fp32): from
// qkv and the gradient dy of ForwardPackedHost's y it writes dqkv (same
// layout as qkv), recomputing the forward on the device.
func (a *Attention) BackwardPackedHost(sh AttnShape, dqkv, qkv, dy []float32) error {
	if err := sh.validate(); err != nil {
		return err
	}
	nqkv, ny := packedLens(sh)
	if len(qkv) != nqkv || len(dqkv) != nqkv || len(dy) != ny {
		return invalid("attention host call: qkv %d, dqkv %d, dy %d, want %d, %d, %d", len(qkv), len(dqkv), len(dy), nqkv, nqkv, ny)
	}
	return a.runProgramInto(attnPackedBackward(sh), nil,
		func(name string) unsafe.Pointer {
			if name == "dy32" {
				return unsafe.Pointer(&dy[0])
			}
			return unsafe.Pointer(&qkv[0])
		},
		func(string) unsafe.Pointer { return unsafe.Pointer(&dqkv[0]) },
		[]string{"qkv32", "dy32"}, []string{"dqkv32"}, false)
}

// SelfTest runs the attention known-answer checks on the device (every
// head width, with and without the causal mask, both layouts, poisoned
// scratch) against the float64 references (tolerances: attnNormTol,
// attnElemTol, attnLSETol). A failure is an ErrSelfTest.
func (a *Attention) SelfTest() error {
	for _, c := range attnSelfTestChecks() {
		if err := runAttnCheck(a, c); err != nil {
			return fmt.Errorf("%w: attention on %s: %w", ErrSelfTest, a.c.info, err)
		}
	}
	return nil
}
