//go:build gccuda

package gpu

import (
	"fmt"
	"unsafe"

	"gorgonia.org/cu"

	"github.com/gradientcoin/gradientcoin/kernels"
)

// Softmax runs the attention softmax kernels (kernels/softmax_fwd.cu,
// softmax_bwd.cu) on one Context. Its methods may be called from any
// goroutine; the host-memory ones (ForwardHost, BackwardHost) serialize on
// the Softmax's scratch buffer.
type Softmax struct {
	kernelSet
}

// NewSoftmax loads the softmax kernels on c and creates the stream that
// calls with a nil stream use.
func NewSoftmax(c *Context) (*Softmax, error) {
	s := &Softmax{}
	if err := s.load(c, kernels.SoftmaxFwd, kernels.SoftmaxBwd); err != nil {
		return nil, err
	}
	return s, nil
}

// Device describes the device the kernels run on.
func (s *Softmax) Device() DeviceInfo { return s.c.info }

// Stream is the Softmax's own stream (used when a call passes nil).
func (s *Softmax) Stream() *Stream { return s.stream }

// Close frees the scratch buffer and the stream (not the Context).
func (s *Softmax) Close() error { return s.close() }

func (s *Softmax) function(p softmaxPlan) (*Function, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil, ErrClosed
	}
	if f, ok := s.fns[p.name]; ok {
		return f, nil
	}
	f, err := s.mods[p.module].Function(p.name)
	if err != nil {
		return nil, err
	}
	s.fns[p.name] = f
	return f, nil
}

// vectorOK: the 16-byte path needs whole chunks per row and aligned rows.
func vectorOK(sh SoftmaxShape, ptrs ...DevicePtr) bool {
	if sh.Cols%chunkWidth(sh.Precision, true) != 0 {
		return false
	}
	for _, p := range ptrs {
		if p%16 != 0 {
			return false
		}
	}
	return true
}

// Forward enqueues P = softmax(sh.Scale · S) on stream st (nil: the
// Softmax's own stream): src holds S and dst receives P (sh.Rows × sh.Cols
// elements of sh.Precision each; dst may equal src); lse, if not 0,
// receives sh.Rows fp32 log-sum-exps of the scaled rows. With sh.Causal
// the masked entries of P are written as 0 and their scores are not read.
// The call returns once the launch is queued.
func (s *Softmax) Forward(st *Stream, sh SoftmaxShape, dst, src, lse DevicePtr) error {
	return s.forward(st, sh, dst, src, lse, kindAuto)
}

func (s *Softmax) forward(st *Stream, sh SoftmaxShape, dst, src, lse DevicePtr, force softmaxKind) error {
	if dst == 0 || src == 0 {
		return invalid("softmax forward: null matrix")
	}
	plan, err := planSoftmax(false, sh, vectorOK(sh, dst, src), force)
	if err != nil {
		return err
	}
	params := softmaxParams(sh, uint64(dst), uint64(src), 0, uint64(lse))
	return s.launch(st, plan, params[:])
}

// Backward enqueues dS = sh.Scale · P ⊙ (dP − rowsum(dP ⊙ P)) on stream st
// (nil: the Softmax's own stream), from the forward output p and its
// gradient dp, into dsrc (which may equal dp). Masked entries (sh.Causal)
// are written as 0 and not read.
func (s *Softmax) Backward(st *Stream, sh SoftmaxShape, dsrc, p, dp DevicePtr) error {
	return s.backward(st, sh, dsrc, p, dp, kindAuto)
}

func (s *Softmax) backward(st *Stream, sh SoftmaxShape, dsrc, p, dp DevicePtr, force softmaxKind) error {
	if dsrc == 0 || p == 0 || dp == 0 {
		return invalid("softmax backward: null matrix")
	}
	plan, err := planSoftmax(true, sh, vectorOK(sh, dsrc, p, dp), force)
	if err != nil {
		return err
	}
	params := softmaxParams(sh, uint64(dsrc), uint64(p), uint64(dp), 0)
	return s.launch(st, plan, params[:])
}

func (s *Softmax) launch(st *Stream, plan softmaxPlan, params []byte) error {
	fn, err := s.function(plan)
	if err != nil {
		return err
	}
	if st == nil {
		st = s.stream
	}
	return st.Launch(fn, Dim3{X: plan.grid}, Dim3{X: plan.block}, 0, params)
}

func f32Bytes(v []float32) unsafe.Pointer { return unsafe.Pointer(unsafe.SliceData(v)) }

func hostShape(sh SoftmaxShape, lens ...int) error {
	if err := sh.validate(); err != nil {
		return err
	}
	if sh.Precision != F32 {
		return invalid("softmax host call in %s: only f32", sh.Precision)
	}
	for _, n := range lens {
		if int64(n) != sh.Elems() {
			return invalid("softmax host call: slice of %d, want %d×%d", n, sh.Rows, sh.Cols)
		}
	}
	return nil
}

// ForwardHost is Forward on host slices (fp32 only): it copies src to the
// device, runs the kernel and copies P (and lse, if not nil: len sh.Rows)
// back before returning. dst may be src.
func (s *Softmax) ForwardHost(sh SoftmaxShape, dst, src, lse []float32) error {
	if err := hostShape(sh, len(dst), len(src)); err != nil {
		return err
	}
	if lse != nil && len(lse) != sh.Rows {
		return invalid("softmax host call: lse of %d, want %d", len(lse), sh.Rows)
	}
	bytes := sh.Bytes()
	lseOff := (bytes + 255) &^ 255
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.ensureScratch(lseOff + int64(sh.Rows)*4); err != nil {
		return err
	}
	buf := s.scratch
	var lseDev DevicePtr
	if lse != nil {
		lseDev = buf + DevicePtr(lseOff)
	}
	plan, err := planSoftmax(false, sh, vectorOK(sh, buf), kindAuto)
	if err != nil {
		return err
	}
	fn, err := s.functionLocked(plan)
	if err != nil {
		return err
	}
	params := softmaxParams(sh, uint64(buf), uint64(buf), 0, uint64(lseDev))
	st := s.stream
	return s.c.Do(func() error {
		if err := driverErr("cuMemcpyHtoDAsync", cu.MemcpyHtoDAsync(cu.DevicePtr(buf), f32Bytes(src), bytes, st.s)); err != nil {
			return err
		}
		if err := st.launch(fn, Dim3{X: plan.grid}, Dim3{X: plan.block}, 0, params[:]); err != nil {
			return err
		}
		if err := driverErr("cuMemcpyDtoHAsync", cu.MemcpyDtoHAsync(f32Bytes(dst), cu.DevicePtr(buf), bytes, st.s)); err != nil {
			return err
		}
		if lse != nil {
			if err := driverErr("cuMemcpyDtoHAsync", cu.MemcpyDtoHAsync(f32Bytes(lse), cu.DevicePtr(lseDev), int64(len(lse))*4, st.s)); err != nil {
				return err
			}
		}
		return driverErr("cuStreamSynchronize", st.s.Synchronize())
	})
}

// BackwardHost is Backward on host slices (fp32 only), copying in and out
// before returning. dsrc may be dp.
func (s *Softmax) BackwardHost(sh SoftmaxShape, dsrc, p, dp []float32) error {
	if err := hostShape(sh, len(dsrc), len(p), len(dp)); err != nil {
		return err
	}
	bytes := sh.Bytes()
	off := (bytes + 255) &^ 255
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.ensureScratch(off + bytes); err != nil {
		return err
	}
	pDev, dpDev := s.scratch, s.scratch+DevicePtr(off)
	plan, err := planSoftmax(true, sh, vectorOK(sh, pDev, dpDev), kindAuto)
	if err != nil {
		return err
	}
	fn, err := s.functionLocked(plan)
	if err != nil {
		return err
	}
	params := softmaxParams(sh, uint64(dpDev), uint64(pDev), uint64(dpDev), 0)
	st := s.stream
	return s.c.Do(func() error {
		if err := driverErr("cuMemcpyHtoDAsync", cu.MemcpyHtoDAsync(cu.DevicePtr(pDev), f32Bytes(p), bytes, st.s)); err != nil {
			return err
		}
		if err := driverErr("cuMemcpyHtoDAsync", cu.MemcpyHtoDAsync(cu.DevicePtr(dpDev), f32Bytes(dp), bytes, st.s)); err != nil {
			return err
		}
		if err := st.launch(fn, Dim3{X: plan.grid}, Dim3{X: plan.block}, 0, params[:]); err != nil {
			return err
		}
		if err := driverErr("cuMemcpyDtoHAsync", cu.MemcpyDtoHAsync(f32Bytes(dsrc), cu.DevicePtr(dpDev), bytes, st.s)); err != nil {
			return err
		}
		return driverErr("cuStreamSynchronize", st.s.Synchronize())
	})
}

// functionLocked is function with s.mu already held.
func (s *Softmax) functionLocked(p softmaxPlan) (*Function, error) {
	if f, ok := s.fns[p.name]; ok {
		return f, nil
	}
	f, err := s.mods[p.module].Function(p.name)
	if err != nil {
		return nil, err
	}
	s.fns[p.name] = f
	return f, nil
}

// SelfTest runs the softmax known-answer checks on the device (every kind
// of kernel, both load paths and precisions, with and without the mask, in
// place and not, on seeded inputs) and compares with the float64
// references within the stated tolerances (softmaxTolerance). Any
// difference is an ErrSelfTest naming the device and the check; a device
// that fails must not be used for training.
func (s *Softmax) SelfTest() error {
	for _, c := range softmaxSelfTestChecks() {
		if err := runSoftmaxCheck(deviceSoftmax{s}, c); err != nil {
			return fmt.Errorf("%w: softmax on %s: %w", ErrSelfTest, s.c.info, err)
		}
	}
	return nil
}

// deviceSoftmax runs softmax checks on the device: each call allocates its
// buffers (16 bytes of slack, so that the scalar path's checks can use
// pointers that are not 16-byte aligned), poisons the outputs, runs the
// forced kernel and copies the results back.
type deviceSoftmax struct{ s *Softmax }

func (d deviceSoftmax) misalign(c softmaxCheck) DevicePtr {
	if c.vector {
		return 0
	}
	return DevicePtr(c.sh.Precision.Size())
}

// buffers allocates n matrices and one lse vector in one allocation.
func (d deviceSoftmax) buffers(c softmaxCheck, n int) (base DevicePtr, mats []DevicePtr, lse DevicePtr, err error) {
	stride := (c.sh.Bytes() + 16 + 255) &^ 255
	base, err = d.s.c.Alloc(int64(n)*stride + int64(c.sh.Rows)*4)
	if err != nil {
		return 0, nil, 0, err
	}
	for i := 0; i < n; i++ {
		mats = append(mats, base+DevicePtr(int64(i)*stride)+d.misalign(c))
	}
	return base, mats, base + DevicePtr(int64(n)*stride), nil
}

func (d deviceSoftmax) forward(c softmaxCheck, s []float32) (p, lse []float32, err error) {
	sh, ctx := c.sh, d.s.c
	base, m, lseDev, err := d.buffers(c, 2)
	if err != nil {
		return nil, nil, err
	}
	defer ctx.Free(base)
	src, dst := m[0], m[1]
	if c.inPlace {
		dst = src
	}
	if err := ctx.CopyToDevice(dst, poisonBytes(int(sh.Bytes()))); err != nil {
		return nil, nil, err
	}
	if err := ctx.CopyToDevice(lseDev, poisonBytes(4*sh.Rows)); err != nil {
		return nil, nil, err
	}
	if err := ctx.CopyToDevice(src, encodeElems(s, sh.Precision)); err != nil {
		return nil, nil, err
	}
	if err := ctx.Synchronize(); err != nil {
		return nil, nil, err
	}
	if err := d.s.forward(nil, sh, dst, src, lseDev, c.force); err != nil {
		return nil, nil, err
	}
	if err := d.s.stream.Synchronize(); err != nil {
		return nil, nil, err
	}
	out := make([]byte, sh.Bytes())
	lb := make([]byte, 4*sh.Rows)
	if err := ctx.CopyFromDevice(out, dst); err != nil {
		return nil, nil, err
	}
	if err := ctx.CopyFromDevice(lb, lseDev); err != nil {
		return nil, nil, err
	}
	return decodeElems(out, int(sh.Elems()), sh.Precision), decodeElems(lb, sh.Rows, F32), nil
}

func (d deviceSoftmax) backward(c softmaxCheck, p, dp []float32) ([]float32, error) {
	sh, ctx := c.sh, d.s.c
	base, m, _, err := d.buffers(c, 3)
	if err != nil {
		return nil, err
	}
	defer ctx.Free(base)
	pDev, dpDev, out := m[0], m[1], m[2]
	if c.inPlace {
		out = dpDev
	} else if err := ctx.CopyToDevice(out, poisonBytes(int(sh.Bytes()))); err != nil {
		return nil, err
	}
	if err := ctx.CopyToDevice(pDev, encodeElems(p, sh.Precision)); err != nil {
		return nil, err
	}
	if err := ctx.CopyToDevice(dpDev, encodeElems(dp, sh.Precision)); err != nil {
		return nil, err
	}
	if err := ctx.Synchronize(); err != nil {
		return nil, err
	}
	if err := d.s.backward(nil, sh, out, pDev, dpDev, c.force); err != nil {
		return nil, err
	}
	if err := d.s.stream.Synchronize(); err != nil {
		return nil, err
	}
	b := make([]byte, sh.Bytes())
	if err := ctx.CopyFromDevice(b, out); err != nil {
		return nil, err
	}
	return decodeElems(b, int(sh.Elems()), sh.Precision), nil
}
