//go:build !gccuda

package gpu

import (
	"time"
	"unsafe"
)

// This file is the default build's twin of the cuda build: the same exported
// API (TestTwinAPI checks), where every call that would touch a device fails
// with ErrNoCUDA. Nothing here can construct a Context, so the methods are
// only reachable on nil receivers.

// Available reports whether this binary was built with CUDA support. It
// says nothing about devices: see Devices.
func Available() bool { return false }

// Devices lists the CUDA devices the driver sees.
func Devices() ([]DeviceInfo, error) { return nil, ErrNoCUDA }

// Context is one CUDA context on one device (cuda build only).
type Context struct{ info DeviceInfo }

// NewContext creates a context on device ordinal.
func NewContext(ordinal int) (*Context, error) { return nil, ErrNoCUDA }

// Device describes the context's device.
func (c *Context) Device() DeviceInfo { return DeviceInfo{} }

// Do runs fn on the context's thread.
func (c *Context) Do(fn func() error) error { return ErrNoCUDA }

// Close destroys the context.
func (c *Context) Close() error { return ErrNoCUDA }

// Synchronize waits for all work in the context.
func (c *Context) Synchronize() error { return ErrNoCUDA }

// MemInfo returns the device's free and total memory in bytes.
func (c *Context) MemInfo() (free, total int64, err error) { return 0, 0, ErrNoCUDA }

// DevicePtr is a device memory address.
type DevicePtr uintptr

// Alloc allocates bytes of device memory.
func (c *Context) Alloc(bytes int64) (DevicePtr, error) { return 0, ErrNoCUDA }

// Free releases device memory from Alloc.
func (c *Context) Free(p DevicePtr) error { return ErrNoCUDA }

// CopyToDevice copies src to device memory at dst.
func (c *Context) CopyToDevice(dst DevicePtr, src []byte) error { return ErrNoCUDA }

// CopyFromDevice copies len(dst) bytes from device memory at src.
func (c *Context) CopyFromDevice(dst []byte, src DevicePtr) error { return ErrNoCUDA }

// HostBuffer is page-locked host memory.
type HostBuffer struct{ p unsafe.Pointer }

// AllocHost allocates n bytes of pinned host memory.
func (c *Context) AllocHost(n int) (*HostBuffer, error) { return nil, ErrNoCUDA }

// Bytes is the buffer's memory.
func (h *HostBuffer) Bytes() []byte { return nil }

// Free releases the buffer.
func (h *HostBuffer) Free() error { return ErrNoCUDA }

// Module is a loaded kernel module.
type Module struct{ name string }

// LoadModule loads the embedded kernel module name.
func (c *Context) LoadModule(name string) (*Module, error) { return nil, ErrNoCUDA }

// Function is a kernel entry point of a module.
type Function struct{ name string }

// Function looks up a kernel by name.
func (m *Module) Function(name string) (*Function, error) { return nil, ErrNoCUDA }

// Attribute reads a kernel attribute.
func (f *Function) Attribute(attr FuncAttribute) (int, error) { return 0, ErrNoCUDA }

// SetAttribute sets a kernel attribute.
func (f *Function) SetAttribute(attr FuncAttribute, value int) error { return ErrNoCUDA }

// MaxActiveBlocksPerSM is the occupancy of the kernel.
func (f *Function) MaxActiveBlocksPerSM(block, dynamicShared int) (int, error) {
	return 0, ErrNoCUDA
}

// Stream is a CUDA stream.
type Stream struct{ c *Context }

// NewStream creates a stream.
func (c *Context) NewStream() (*Stream, error) { return nil, ErrNoCUDA }

// Synchronize waits for the stream's work.
func (s *Stream) Synchronize() error { return ErrNoCUDA }

// Destroy releases the stream.
func (s *Stream) Destroy() error { return ErrNoCUDA }

// Launch enqueues kernel f on the stream.
func (s *Stream) Launch(f *Function, grid, block Dim3, dynamicShared int, params []byte) error {
	return ErrNoCUDA
}

// MemsetD32Async sets n 32-bit words at dst to v, in stream order.
func (s *Stream) MemsetD32Async(dst DevicePtr, v uint32, n int) error { return ErrNoCUDA }

// CopyFromDeviceAsync copies n bytes from src into dst at offset off.
func (s *Stream) CopyFromDeviceAsync(dst *HostBuffer, off int, src DevicePtr, n int) error {
	return ErrNoCUDA
}

// Event is a CUDA event.
type Event struct{ c *Context }

// NewEvent creates a timing event.
func (c *Context) NewEvent() (*Event, error) { return nil, ErrNoCUDA }

// Record records the event on the stream.
func (e *Event) Record(s *Stream) error { return ErrNoCUDA }

// Synchronize waits for the event.
func (e *Event) Synchronize() error { return ErrNoCUDA }

// Done reports whether the work before the event has finished.
func (e *Event) Done() (bool, error) { return false, ErrNoCUDA }

// Elapsed is the GPU time from e to end.
func (e *Event) Elapsed(end *Event) (time.Duration, error) { return 0, ErrNoCUDA }

// Destroy releases the event.
func (e *Event) Destroy() error { return ErrNoCUDA }

// Searcher runs SHA-256d nonce searches on one Context.
type Searcher struct{ opts SearchOptions }

// NewSearcher loads the sha256d kernel on c.
func NewSearcher(c *Context, opts SearchOptions) (*Searcher, error) {
	if _, err := opts.withDefaults(); err != nil {
		return nil, err
	}
	return nil, ErrNoCUDA
}

// Device describes the searcher's device.
func (s *Searcher) Device() DeviceInfo { return DeviceInfo{} }

// Variant is the kernel variant the searcher uses.
func (s *Searcher) Variant() KernelVariant { return VariantAuto }

// Close frees the searcher's buffers.
func (s *Searcher) Close() error { return ErrNoCUDA }

// Search tries the nonces start .. start+count-1 (mod 2^64) for job.
func (s *Searcher) Search(job Job, start, count uint64, stop <-chan struct{}) (SearchResult, error) {
	return SearchResult{}, ErrNoCUDA
}

// SelfTest runs the known-answer nonce searches on c's device.
func SelfTest(c *Context) error { return ErrNoCUDA }
