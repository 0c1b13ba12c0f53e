//go:build !gccuda

package gpu

import "github.com/gradientcoin/gradientcoin/chain/state"

// NewSketchBackend returns a SketchBackend on c's device (gccuda build
// only).
func NewSketchBackend(c *Context) (*SketchBackend, error) { return nil, ErrNoCUDA }

// NewApplier uploads the weights w to c's device and returns an Applier
// (gccuda build only).
func NewApplier(c *Context, r state.Rules, w []float32) (*Applier, error) {
	return nil, ErrNoCUDA
}
