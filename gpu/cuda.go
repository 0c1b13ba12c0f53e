//go:build gccuda

package gpu

import (
	"errors"
	"fmt"
	"runtime"
	"sync"
	"time"
	"unsafe"

	"gorgonia.org/cu"

	"github.com/gradientcoin/gradientcoin/kernels"
)

// Available reports whether this binary was built with CUDA support. It
// says nothing about devices: see Devices.
func Available() bool { return true }

// Devices lists the CUDA devices the driver sees.
func Devices() ([]DeviceInfo, error) {
	n, err := cu.NumDevices()
	if err != nil {
		return nil, driverErr("cuDeviceGetCount", err)
	}
	out := make([]DeviceInfo, 0, n)
	for i := 0; i < n; i++ {
		d, err := deviceInfo(i)
		if err != nil {
			return nil, err
		}
		out = append(out, d)
	}
	return out, nil
}

func deviceInfo(ordinal int) (DeviceInfo, error) {
	n, err := cu.NumDevices()
	if err != nil {
		return DeviceInfo{}, driverErr("cuDeviceGetCount", err)
	}
	if ordinal < 0 || ordinal >= n {
		return DeviceInfo{}, fmt.Errorf("%w: ordinal %d (%d devices)", ErrNoDevice, ordinal, n)
	}
	dev, err := cu.GetDevice(ordinal)
	if err != nil {
		return DeviceInfo{}, driverErr("cuDeviceGet", err)
	}
	info := DeviceInfo{Ordinal: ordinal, Driver: cu.Version()}
	if info.Name, err = dev.Name(); err != nil {
		return DeviceInfo{}, driverErr("cuDeviceGetName", err)
	}
	if info.TotalMem, err = dev.TotalMem(); err != nil {
		return DeviceInfo{}, driverErr("cuDeviceTotalMem", err)
	}
	attrs, err := dev.Attributes(cu.ComputeCapabilityMajor, cu.ComputeCapabilityMinor,
		cu.MultiprocessorCount, cu.ClockRate)
	if err != nil {
		return DeviceInfo{}, driverErr("cuDeviceGetAttribute", err)
	}
	info.Major, info.Minor, info.SMs, info.ClockKHz = attrs[0], attrs[1], attrs[2], attrs[3]
	return info, nil
}

// Context is one CUDA context on one device, owned by one goroutine locked
// to its OS thread: every driver call for the context runs on that thread
// (through Do), so callers may use a Context from any goroutine. Calls are
// serialized.
type Context struct {
	info  DeviceInfo
	calls chan func()
	done  chan struct{}

	mu     sync.RWMutex // guards closed against sends on calls
	closed bool

	// Owned by the context thread.
	ctx     cu.CUContext
	modules map[string]*Module
}

// NewContext creates a context on device ordinal, on a new locked OS thread.
// Close it when done.
func NewContext(ordinal int) (*Context, error) {
	info, err := deviceInfo(ordinal)
	if err != nil {
		return nil, err
	}
	c := &Context{
		info:    info,
		calls:   make(chan func()),
		done:    make(chan struct{}),
		modules: map[string]*Module{},
	}
	ready := make(chan error, 1)
	go c.loop(ordinal, ready)
	if err := <-ready; err != nil {
		return nil, err
	}
	return c, nil
}

func (c *Context) loop(ordinal int, ready chan<- error) {
	// Never unlocked: the thread ends with this goroutine, taking its
	// driver state with it.
	runtime.LockOSThread()
	defer close(c.done)
	dev, err := cu.GetDevice(ordinal)
	if err != nil {
		ready <- driverErr("cuDeviceGet", err)
		return
	}
	// Blocking sync: a host thread waiting on the GPU sleeps instead of
	// spinning, leaving the CPU to training.
	ctx, err := dev.MakeContext(cu.SchedBlockingSync)
	if err != nil {
		ready <- driverErr("cuCtxCreate", err)
		return
	}
	c.ctx = ctx
	ready <- nil
	for fn := range c.calls {
		fn()
	}
	for _, m := range c.modules {
		_ = m.m.Unload()
	}
	_ = c.ctx.Destroy()
}

// Device describes the context's device.
func (c *Context) Device() DeviceInfo { return c.info }

// Do runs fn on the context's thread with the context current and returns
// its error. fn must not call Do (or any method of this Context) itself.
// A panic in fn is returned as an error.
func (c *Context) Do(fn func() error) error {
	c.mu.RLock()
	if c.closed {
		c.mu.RUnlock()
		return ErrClosed
	}
	errc := make(chan error, 1)
	c.calls <- func() {
		defer func() {
			if r := recover(); r != nil {
				errc <- fmt.Errorf("gpu: panic on context thread: %v", r)
			}
		}()
		errc <- fn()
	}
	c.mu.RUnlock()
	return <-errc
}

// Close waits for calls in progress, then unloads modules and destroys the
// context. Memory, streams and events not freed are released with it.
func (c *Context) Close() error {
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return nil
	}
	c.closed = true
	close(c.calls)
	c.mu.Unlock()
	<-c.done
	return nil
}

// Synchronize waits for all work in the context.
func (c *Context) Synchronize() error {
	return c.Do(func() error { return driverErr("cuCtxSynchronize", cu.Synchronize()) })
}

// MemInfo returns the device's free and total memory in bytes.
func (c *Context) MemInfo() (free, total int64, err error) {
	err = c.Do(func() error {
		var e error
		free, total, e = cu.MemInfo()
		return driverErr("cuMemGetInfo", e)
	})
	return free, total, err
}

// DevicePtr is a device memory address.
type DevicePtr uintptr

// Alloc allocates bytes of device memory.
func (c *Context) Alloc(bytes int64) (DevicePtr, error) {
	if bytes <= 0 {
		return 0, invalid("Alloc(%d)", bytes)
	}
	var p cu.DevicePtr
	err := c.Do(func() error {
		var e error
		p, e = cu.MemAlloc(bytes)
		return driverErr("cuMemAlloc", e)
	})
	return DevicePtr(p), err
}

// Free releases device memory from Alloc.
func (c *Context) Free(p DevicePtr) error {
	return c.Do(func() error { return driverErr("cuMemFree", cu.MemFree(cu.DevicePtr(p))) })
}

// CopyToDevice copies src to device memory at dst (synchronous).
func (c *Context) CopyToDevice(dst DevicePtr, src []byte) error {
	if len(src) == 0 {
		return nil
	}
	return c.Do(func() error {
		return driverErr("cuMemcpyHtoD", cu.MemcpyHtoD(cu.DevicePtr(dst), unsafe.Pointer(&src[0]), int64(len(src))))
	})
}

// CopyFromDevice copies len(dst) bytes from device memory at src
// (synchronous).
func (c *Context) CopyFromDevice(dst []byte, src DevicePtr) error {
	if len(dst) == 0 {
		return nil
	}
	return c.Do(func() error {
		return driverErr("cuMemcpyDtoH", cu.MemcpyDtoH(unsafe.Pointer(&dst[0]), cu.DevicePtr(src), int64(len(dst))))
	})
}

// HostBuffer is page-locked ("pinned") host memory, for asynchronous copies.
type HostBuffer struct {
	c *Context
	p unsafe.Pointer
	n int
}

// AllocHost allocates n bytes of pinned host memory.
func (c *Context) AllocHost(n int) (*HostBuffer, error) {
	if n <= 0 {
		return nil, invalid("AllocHost(%d)", n)
	}
	h := &HostBuffer{c: c, n: n}
	err := c.Do(func() error {
		var e error
		h.p, e = shimHostAlloc(n)
		return driverErr("cuMemHostAlloc", e)
	})
	if err != nil {
		return nil, err
	}
	return h, nil
}

// Bytes is the buffer's memory. It is invalid after Free.
func (h *HostBuffer) Bytes() []byte { return unsafe.Slice((*byte)(h.p), h.n) }

// Free releases the buffer.
func (h *HostBuffer) Free() error {
	if h.p == nil {
		return nil
	}
	err := h.c.Do(func() error { return driverErr("cuMemFreeHost", shimHostFree(h.p)) })
	h.p, h.n = nil, 0
	return err
}

// Module is a loaded kernel module (one embedded fatbin).
type Module struct {
	c    *Context
	m    cu.Module
	name string
}

// LoadModule loads the embedded kernel module name (see package kernels),
// once per context.
func (c *Context) LoadModule(name string) (*Module, error) {
	image, err := kernels.Fatbin(name)
	if err != nil {
		return nil, err
	}
	var mod *Module
	err = c.Do(func() error {
		if m, ok := c.modules[name]; ok {
			mod = m
			return nil
		}
		m, e := cu.LoadData(string(image))
		if e != nil {
			return driverErr("cuModuleLoadData("+name+")", e)
		}
		mod = &Module{c: c, m: m, name: name}
		c.modules[name] = mod
		return nil
	})
	return mod, err
}

// Function is a kernel entry point of a module.
type Function struct {
	c    *Context
	f    cu.Function
	name string
}

// Function looks up a kernel by its (extern "C") name.
func (m *Module) Function(name string) (*Function, error) {
	var fn *Function
	err := m.c.Do(func() error {
		f, e := m.m.Function(name)
		if e != nil {
			return driverErr("cuModuleGetFunction("+m.name+"."+name+")", e)
		}
		fn = &Function{c: m.c, f: f, name: name}
		return nil
	})
	return fn, err
}

// Attribute reads a kernel attribute.
func (f *Function) Attribute(attr FuncAttribute) (int, error) {
	var v int
	err := f.c.Do(func() error {
		var e error
		v, e = f.f.Attribute(cu.FunctionAttribute(attr))
		return driverErr("cuFuncGetAttribute", e)
	})
	return v, err
}

// SetAttribute sets a kernel attribute (cuFuncSetAttribute), e.g. the
// dynamic shared memory limit above 48 KiB.
func (f *Function) SetAttribute(attr FuncAttribute, value int) error {
	return f.c.Do(func() error { return driverErr("cuFuncSetAttribute", shimFuncSetAttribute(f.f, attr, value)) })
}

// MaxActiveBlocksPerSM is the occupancy of the kernel at that block size
// and dynamic shared memory.
func (f *Function) MaxActiveBlocksPerSM(block, dynamicShared int) (int, error) {
	var n int
	err := f.c.Do(func() error {
		var e error
		n, e = f.f.MaxActiveBlocksPerMultiProcessor(block, int64(dynamicShared))
		return driverErr("cuOccupancyMaxActiveBlocksPerMultiprocessor", e)
	})
	return n, err
}

// Stream is a CUDA stream of the context. Streams are non-blocking: they
// do not synchronize with the legacy default stream.
type Stream struct {
	c *Context
	s cu.Stream
}

// NewStream creates a stream.
func (c *Context) NewStream() (*Stream, error) {
	st := &Stream{c: c}
	err := c.Do(func() error {
		var e error
		st.s, e = cu.MakeStream(cu.NonBlocking)
		return driverErr("cuStreamCreate", e)
	})
	if err != nil {
		return nil, err
	}
	return st, nil
}

// Synchronize waits for the stream's work.
func (s *Stream) Synchronize() error {
	return s.c.Do(func() error { return driverErr("cuStreamSynchronize", s.s.Synchronize()) })
}

// Destroy releases the stream.
func (s *Stream) Destroy() error {
	return s.c.Do(func() error { return driverErr("cuStreamDestroy", s.s.Destroy()) })
}

// Launch enqueues kernel f on the stream. params is the kernel's parameter
// list packed as the kernel lays it out (each parameter at its natural
// alignment); the driver copies it before Launch returns.
func (s *Stream) Launch(f *Function, grid, block Dim3, dynamicShared int, params []byte) error {
	return s.c.Do(func() error { return s.launch(f, grid, block, dynamicShared, params) })
}

func (s *Stream) launch(f *Function, grid, block Dim3, dynamicShared int, params []byte) error {
	grid, block = grid.norm(), block.norm()
	return driverErr("cuLaunchKernel("+f.name+")", shimLaunch(f.f, grid, block, dynamicShared, s.s, params))
}

// MemsetD32Async sets n 32-bit words at dst to v, in stream order.
func (s *Stream) MemsetD32Async(dst DevicePtr, v uint32, n int) error {
	return s.c.Do(func() error { return s.memsetD32(dst, v, n) })
}

func (s *Stream) memsetD32(dst DevicePtr, v uint32, n int) error {
	return driverErr("cuMemsetD32Async", cu.MemsetD32Async(cu.DevicePtr(dst), uint(v), int64(n), s.s))
}

// CopyFromDeviceAsync copies n bytes from src into dst at offset off, in
// stream order. Wait on the stream (or an event recorded after it) before
// reading dst.
func (s *Stream) CopyFromDeviceAsync(dst *HostBuffer, off int, src DevicePtr, n int) error {
	return s.c.Do(func() error { return s.copyFromDevice(dst, off, src, n) })
}

func (s *Stream) copyFromDevice(dst *HostBuffer, off int, src DevicePtr, n int) error {
	if off < 0 || n < 0 || off+n > dst.n {
		return invalid("copy of %d bytes at %d into a %d-byte host buffer", n, off, dst.n)
	}
	p := unsafe.Add(dst.p, off)
	return driverErr("cuMemcpyDtoHAsync", cu.MemcpyDtoHAsync(p, cu.DevicePtr(src), int64(n), s.s))
}

// Event is a CUDA event (with timing).
type Event struct {
	c *Context
	e cu.Event
}

// NewEvent creates a timing event that waits by blocking.
func (c *Context) NewEvent() (*Event, error) {
	ev := &Event{c: c}
	err := c.Do(func() error {
		var e error
		ev.e, e = cu.MakeEvent(cu.BlockingSyncEvent)
		return driverErr("cuEventCreate", e)
	})
	if err != nil {
		return nil, err
	}
	return ev, nil
}

// Record records the event on the stream.
func (e *Event) Record(s *Stream) error {
	return e.c.Do(func() error { return driverErr("cuEventRecord", e.e.Record(s.s)) })
}

// Synchronize waits for the event.
func (e *Event) Synchronize() error {
	return e.c.Do(func() error { return driverErr("cuEventSynchronize", e.e.Synchronize()) })
}

// Done reports whether the work before the event has finished.
func (e *Event) Done() (bool, error) {
	var done bool
	err := e.c.Do(func() error {
		err := e.e.Query()
		if err == nil {
			done = true
			return nil
		}
		if errors.Is(err, cu.NotReady) {
			return nil
		}
		return driverErr("cuEventQuery", err)
	})
	return done, err
}

// Elapsed is the GPU time from e to end (both recorded and complete).
func (e *Event) Elapsed(end *Event) (time.Duration, error) {
	var d time.Duration
	err := e.c.Do(func() error {
		ms, err := e.e.Elapsed(end.e)
		d = time.Duration(ms * float64(time.Millisecond))
		return driverErr("cuEventElapsedTime", err)
	})
	return d, err
}

// Destroy releases the event.
func (e *Event) Destroy() error {
	return e.c.Do(func() error { return driverErr("cuEventDestroy", cu.DestroyEvent(&e.e)) })
}
