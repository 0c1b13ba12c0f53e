//go:build !gccuda

package gpu

// The default build's twin of softmax_cuda.go: the same exported API, every
// call returns ErrNoCUDA (after validating what can be validated here).

// Softmax runs the attention softmax kernels on one Context (gccuda build
// only).
type Softmax struct{ c *Context }

// NewSoftmax loads the softmax kernels on c.
func NewSoftmax(c *Context) (*Softmax, error) { return nil, ErrNoCUDA }

// Device describes the device the kernels run on.
func (s *Softmax) Device() DeviceInfo { return DeviceInfo{} }

// Stream is the Softmax's own stream.
func (s *Softmax) Stream() *Stream { return nil }

// Close frees the scratch buffer and the stream.
func (s *Softmax) Close() error { return ErrNoCUDA }

// Forward enqueues P = softmax(sh.Scale · S) on stream st.
func (s *Softmax) Forward(st *Stream, sh SoftmaxShape, dst, src, lse DevicePtr) error {
	if err := sh.validate(); err != nil {
		return err
	}
	return ErrNoCUDA
}

// Backward enqueues dS = sh.Scale · P ⊙ (dP − rowsum(dP ⊙ P)) on stream st.
func (s *Softmax) Backward(st *Stream, sh SoftmaxShape, dsrc, p, dp DevicePtr) error {
	if err := sh.validate(); err != nil {
		return err
	}
	return ErrNoCUDA
}

// ForwardHost is Forward on host slices (fp32 only).
func (s *Softmax) ForwardHost(sh SoftmaxShape, dst, src, lse []float32) error {
	if err := sh.validate(); err != nil {
		return err
	}
	return ErrNoCUDA
}

// BackwardHost is Backward on host slices (fp32 only).
func (s *Softmax) BackwardHost(sh SoftmaxShape, dsrc, p, dp []float32) error {
	if err := sh.validate(); err != nil {
		return err
	}
	return ErrNoCUDA
}

// SelfTest runs the softmax known-answer checks on the device.
func (s *Softmax) SelfTest() error { return ErrNoCUDA }
