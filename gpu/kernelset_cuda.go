//go:build gccuda

package gpu

import "sync"

// kernelSet is what Softmax and Attention share: the modules of their
// kernels on one Context, their own stream, looked-up functions and a
// scratch buffer that grows on demand (guarded by mu).
type kernelSet struct {
	c      *Context
	stream *Stream
	mods   map[string]*Module

	mu           sync.Mutex
	fns          map[string]*Function
	scratch      DevicePtr
	scratchBytes int64
	closed       bool
}

// load loads modules on c and creates the set's stream.
func (ks *kernelSet) load(c *Context, modules ...string) error {
	ks.c, ks.mods, ks.fns = c, map[string]*Module{}, map[string]*Function{}
	for _, m := range modules {
		mod, err := c.LoadModule(m)
		if err != nil {
			return err
		}
		ks.mods[m] = mod
	}
	st, err := c.NewStream()
	if err != nil {
		return err
	}
	ks.stream = st
	return nil
}

// close frees the scratch buffer and the stream (not the Context).
func (ks *kernelSet) close() error {
	ks.mu.Lock()
	defer ks.mu.Unlock()
	if ks.closed {
		return nil
	}
	ks.closed = true
	var first error
	if ks.scratch != 0 {
		first = ks.c.Free(ks.scratch)
		ks.scratch, ks.scratchBytes = 0, 0
	}
	if err := ks.stream.Destroy(); first == nil {
		first = err
	}
	return first
}

// ensureScratch grows the scratch buffer to at least n bytes, rounded up
// to a MiB (mu held).
func (ks *kernelSet) ensureScratch(n int64) error {
	if ks.closed {
		return ErrClosed
	}
	if ks.scratchBytes >= n {
		return nil
	}
	if ks.scratch != 0 {
		if err := ks.c.Free(ks.scratch); err != nil {
			return err
		}
		ks.scratch, ks.scratchBytes = 0, 0
	}
	n = (n + 1<<20 - 1) &^ (1<<20 - 1)
	p, err := ks.c.Alloc(n)
	if err != nil {
		return err
	}
	ks.scratch, ks.scratchBytes = p, n
	return nil
}
