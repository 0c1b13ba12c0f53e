//go:build gccuda

package gpu

import (
	"unsafe"

	"gorgonia.org/cu"

	"github.com/gradientcoin/gradientcoin/chain/state"
)

// NewSketchBackend returns a SketchBackend on c's device, with a stream of
// its own. It loads the sketch kernel modules on first use. The worker
// selects it in the gccuda build:
//
//	b, err := gpu.NewSketchBackend(ctx)   // ctx from gpu.NewContext(ordinal)
//	state.ApplyWith(b, rules, w, parent, contributions) // GPU de-sketch
//	c, residual, err := b.MakeContribution(rules, parent, delta, residual, key, digest)
func NewSketchBackend(c *Context) (*SketchBackend, error) {
	dev, err := newCUDADev(c)
	if err != nil {
		return nil, err
	}
	return newSketchBackend(dev, dev.close), nil
}

// NewApplier uploads the weights w (length r.Model.ParamCount()) to c's
// device and returns an Applier that applies blocks to them there.
func NewApplier(c *Context, r state.Rules, w []float32) (*Applier, error) {
	dev, err := newCUDADev(c)
	if err != nil {
		return nil, err
	}
	a, err := newApplier(dev, dev.close, r, w)
	if err != nil {
		dev.close()
		return nil, err
	}
	return a, nil
}

// cudaDev is the engine's kdev on a Context: one non-blocking stream, every
// copy and launch in its order. Each method hops to the context thread
// (Context.Do), except inside run, which is on it already: an operation's
// whole launch sequence then costs one hop.
type cudaDev struct {
	c       *Context
	s       *Stream
	fns     map[string]*Function
	smemSet map[string]int // dynamic shared memory limit raised to
	optin   int
	direct  bool // inside run: on the context thread, call the driver directly
}

// attrMaxSharedOptin is CU_DEVICE_ATTRIBUTE_MAX_SHARED_MEMORY_PER_BLOCK_OPTIN,
// which gorgonia.org/cu does not name.
const attrMaxSharedOptin = cu.DeviceAttribute(97)

func newCUDADev(c *Context) (*cudaDev, error) {
	d := &cudaDev{c: c, fns: map[string]*Function{}, smemSet: map[string]int{}, optin: 48 << 10}
	err := c.Do(func() error {
		dev, err := cu.GetDevice(c.info.Ordinal)
		if err != nil {
			return driverErr("cuDeviceGet", err)
		}
		v, err := dev.Attribute(attrMaxSharedOptin)
		if err != nil {
			return driverErr("cuDeviceGetAttribute", err)
		}
		d.optin = max(d.optin, v)
		return nil
	})
	if err != nil {
		return nil, err
	}
	// Every entry point up front: module loading goes through Context.Do,
	// which run must not call.
	for name, mod := range sketchKernels {
		m, err := c.LoadModule(mod)
		if err != nil {
			return nil, err
		}
		if d.fns[name], err = m.Function(name); err != nil {
			return nil, err
		}
	}
	if d.s, err = c.NewStream(); err != nil {
		return nil, err
	}
	return d, nil
}

func (d *cudaDev) close() error { return d.s.Destroy() }

func (d *cudaDev) do(op func() error) error {
	if d.direct {
		return op()
	}
	return d.c.Do(op)
}

func (d *cudaDev) run(fn func() error) error {
	if d.direct {
		return fn()
	}
	return d.c.Do(func() error {
		d.direct = true
		defer func() { d.direct = false }()
		return fn()
	})
}

func (d *cudaDev) sms() int     { return d.c.info.SMs }
func (d *cudaDev) maxSmem() int { return d.optin }

func (d *cudaDev) alloc(bytes int64) (DevicePtr, error) {
	if bytes <= 0 {
		return 0, invalid("alloc(%d)", bytes)
	}
	var p cu.DevicePtr
	err := d.do(func() error {
		var e error
		p, e = cu.MemAlloc(bytes)
		return driverErr("cuMemAlloc", e)
	})
	return DevicePtr(p), err
}

func (d *cudaDev) free(p DevicePtr) error {
	return d.do(func() error {
		// Work queued on the stream may still use p.
		if err := driverErr("cuStreamSynchronize", d.s.s.Synchronize()); err != nil {
			return err
		}
		return driverErr("cuMemFree", cu.MemFree(cu.DevicePtr(p)))
	})
}

func (d *cudaDev) upload(dst DevicePtr, src []byte) error {
	if len(src) == 0 {
		return nil
	}
	// From pageable memory the driver stages the copy before returning, so
	// src may change afterwards; the copy is in stream order.
	return d.do(func() error {
		return driverErr("cuMemcpyHtoDAsync", cu.MemcpyHtoDAsync(cu.DevicePtr(dst), unsafe.Pointer(&src[0]), int64(len(src)), d.s.s))
	})
}

func (d *cudaDev) download(dst []byte, src DevicePtr) error {
	if len(dst) == 0 {
		return d.sync()
	}
	return d.do(func() error {
		if err := driverErr("cuMemcpyDtoHAsync", cu.MemcpyDtoHAsync(unsafe.Pointer(&dst[0]), cu.DevicePtr(src), int64(len(dst)), d.s.s)); err != nil {
			return err
		}
		// dst is Go memory: the copy must be over before this call returns.
		return driverErr("cuStreamSynchronize", d.s.s.Synchronize())
	})
}

func (d *cudaDev) memset32(dst DevicePtr, v uint32, words int) error {
	if words == 0 {
		return nil
	}
	return d.do(func() error { return d.s.memsetD32(dst, v, words) })
}

func (d *cudaDev) copyDtoD(dst, src DevicePtr, bytes int64) error {
	if bytes == 0 {
		return nil
	}
	return d.do(func() error {
		return driverErr("cuMemcpyDtoDAsync", cu.MemcpyDtoDAsync(cu.DevicePtr(dst), cu.DevicePtr(src), bytes, d.s.s))
	})
}

func (d *cudaDev) sync() error {
	return d.do(func() error { return driverErr("cuStreamSynchronize", d.s.s.Synchronize()) })
}

func (d *cudaDev) launch(name string, grid, block Dim3, smem int, params []byte) error {
	f, ok := d.fns[name]
	if !ok {
		return invalid("no sketch kernel %q", name)
	}
	return d.do(func() error {
		if smem > 48<<10 && d.smemSet[name] < smem {
			if smem > d.optin {
				return invalid("%s: %d bytes of shared memory, device allows %d", name, smem, d.optin)
			}
			if err := driverErr("cuFuncSetAttribute", shimFuncSetAttribute(f.f, FuncAttrMaxDynamicSharedBytes, smem)); err != nil {
				return err
			}
			d.smemSet[name] = smem
		}
		return d.s.launch(f, grid, block, smem, params)
	})
}
