package gpu

import (
	"errors"
	"fmt"

	"github.com/gradientcoin/gradientcoin/chain/sketch"
)

// Error kinds. Every error the package returns is errors.Is-able to one of
// these (a *DriverError is also ErrDriver).
var (
	// ErrNoCUDA: the binary was built without the gccuda build tag; every
	// device call fails with it. Rebuild with -tags gccuda (make build-cuda).
	ErrNoCUDA = errors.New("gpu: built without CUDA support (rebuild with -tags gccuda)")
	// ErrNoDevice: the CUDA driver reports no device with that ordinal.
	ErrNoDevice = errors.New("gpu: no such CUDA device")
	// ErrDriver: a CUDA driver call failed; the *DriverError names the call.
	ErrDriver = errors.New("gpu: CUDA driver call failed")
	// ErrSelfTest: a device computed a wrong answer on a known-answer test
	// and must not be used.
	ErrSelfTest = errors.New("gpu: device failed its known-answer self-test")
	// ErrClosed: the Context or Searcher was closed.
	ErrClosed = errors.New("gpu: closed")
	// ErrInvalid: an argument is out of range (sizes, options, ranges).
	ErrInvalid = errors.New("gpu: invalid argument")
	// ErrUnsupported: the operation has no kernel for this sketch family
	// (the chunked top-k families run on the CPU: chain/sketch and
	// chain/state compute the same consensus bits).
	ErrUnsupported = errors.New("gpu: not supported for this sketch family")
)

// unsupported returns nil if the kernels implement family f, else an
// ErrUnsupported error naming op. The kernels mirror the sketch
// families bit for bit; a family they do not know (the chunked top-k
// families) must never reach them.
func unsupported(f sketch.Family, op string) error {
	if f.IsChunked() {
		return fmt.Errorf("%w: %s of %v", ErrUnsupported, op, f)
	}
	return nil
}

// DriverError is a failed CUDA driver call: Op names it (e.g.
// "cuModuleLoadData"), Err is the driver's error. It matches ErrDriver.
type DriverError struct {
	Op  string
	Err error
}

func (e *DriverError) Error() string { return fmt.Sprintf("gpu: %s: %v", e.Op, e.Err) }

// Unwrap returns ErrDriver and the driver's own error.
func (e *DriverError) Unwrap() []error { return []error{ErrDriver, e.Err} }

func driverErr(op string, err error) error {
	if err == nil {
		return nil
	}
	return &DriverError{Op: op, Err: err}
}

func invalid(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrInvalid, fmt.Sprintf(format, args...))
}
