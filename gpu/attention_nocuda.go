//go:build !gccuda

package gpu

// The default build's twin of attention_cuda.go: the same exported API,
// every call returns ErrNoCUDA (after validating what can be validated).

// Attention runs the fused attention kernels on one Context (gccuda build
// only).
type Attention struct{ c *Context }

// NewAttention loads the attention kernels on c.
func NewAttention(c *Context) (*Attention, error) { return nil, ErrNoCUDA }

// Device describes the device the kernels run on.
func (a *Attention) Device() DeviceInfo { return DeviceInfo{} }

// Stream is the Attention's own stream.
func (a *Attention) Stream() *Stream { return nil }

// Close frees the scratch buffer and the stream.
func (a *Attention) Close() error { return ErrNoCUDA }

// Forward enqueues the fused attention forward.
func (a *Attention) Forward(st *Stream, sh AttnShape, l AttnLayout, q, k, v, o, lse DevicePtr) error {
	if err := sh.validate(); err != nil {
		return err
	}
	return ErrNoCUDA
}

// AttnGrads are the buffers of a backward pass.
type AttnGrads struct {
	DO, O, LSE, Delta DevicePtr
	DQ, DK, DV        DevicePtr
}

// Backward enqueues the fused attention backward.
func (a *Attention) Backward(st *Stream, sh AttnShape, l AttnLayout, q, k, v DevicePtr, g AttnGrads) error {
	if err := sh.validate(); err != nil {
		return err
	}
	return ErrNoCUDA
}

// ForwardPackedHost is the model's forward on host memory.
func (a *Attention) ForwardPackedHost(sh AttnShape, y, qkv []float32) error {
	if err := sh.validate(); err != nil {
		return err
	}
	return ErrNoCUDA
}

// BackwardPackedHost is the model's backward on host memory.
func (a *Attention) BackwardPackedHost(sh AttnShape, dqkv, qkv, dy []float32) error {
	if err := sh.validate(); err != nil {
		return err
	}
	return ErrNoCUDA
}

// SelfTest runs the attention known-answer checks on the device.
func (a *Attention) SelfTest() error { return ErrNoCUDA }
