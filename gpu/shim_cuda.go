//go:build gccuda

package gpu

// The package's own cgo shim: the few driver calls gorgonia.org/cu lacks.
// Handles are passed as uintptr_t: cu.Function and cu.Stream are each one C
// pointer (checked at compile time below).

/*
#cgo LDFLAGS: -lcuda
#include <cuda.h>
#include <stddef.h>
#include <stdint.h>

static CUresult gc_func_set_attribute(uintptr_t fn, int attr, int value) {
	return cuFuncSetAttribute((CUfunction)fn, (CUfunction_attribute)attr, value);
}

static CUresult gc_mem_host_alloc(void **p, size_t bytes, unsigned int flags) {
	return cuMemHostAlloc(p, bytes, flags);
}

static CUresult gc_mem_free_host(void *p) {
	return cuMemFreeHost(p);
}

// Launch with the kernel's parameters packed in one buffer laid out as the
// kernel's parameter list (CU_LAUNCH_PARAM_BUFFER_POINTER). The driver copies
// the buffer during the call.
static CUresult gc_launch_packed(uintptr_t fn, unsigned gx, unsigned gy, unsigned gz,
		unsigned bx, unsigned by, unsigned bz, unsigned smem, uintptr_t stream,
		void *params, size_t size) {
	void *extra[] = {
		CU_LAUNCH_PARAM_BUFFER_POINTER, params,
		CU_LAUNCH_PARAM_BUFFER_SIZE, &size,
		CU_LAUNCH_PARAM_END,
	};
	return cuLaunchKernel((CUfunction)fn, gx, gy, gz, bx, by, bz, smem, (CUstream)stream, NULL, extra);
}

static const char *gc_error_name(CUresult r) {
	const char *name = NULL;
	if (cuGetErrorName(r, &name) != CUDA_SUCCESS || name == NULL) {
		return "CUDA_ERROR_UNKNOWN";
	}
	return name;
}
*/
import "C"

import (
	"fmt"
	"unsafe"

	"gorgonia.org/cu"
)

// cu.Function and cu.Stream must be exactly one pointer each.
var (
	_ [unsafe.Sizeof(cu.Function{}) - unsafe.Sizeof(uintptr(0))]byte
	_ [unsafe.Sizeof(uintptr(0)) - unsafe.Sizeof(cu.Function{})]byte
	_ [unsafe.Sizeof(cu.Stream{}) - unsafe.Sizeof(uintptr(0))]byte
	_ [unsafe.Sizeof(uintptr(0)) - unsafe.Sizeof(cu.Stream{})]byte
)

// Our FuncAttribute values are the driver's.
var (
	_ [int(FuncAttrNumRegs) - int(C.CU_FUNC_ATTRIBUTE_NUM_REGS)]byte
	_ [int(C.CU_FUNC_ATTRIBUTE_NUM_REGS) - int(FuncAttrNumRegs)]byte
	_ [int(FuncAttrMaxDynamicSharedBytes) - int(C.CU_FUNC_ATTRIBUTE_MAX_DYNAMIC_SHARED_SIZE_BYTES)]byte
	_ [int(C.CU_FUNC_ATTRIBUTE_MAX_DYNAMIC_SHARED_SIZE_BYTES) - int(FuncAttrMaxDynamicSharedBytes)]byte
	_ [int(FuncAttrPreferredSharedCarveout) - int(C.CU_FUNC_ATTRIBUTE_PREFERRED_SHARED_MEMORY_CARVEOUT)]byte
	_ [int(C.CU_FUNC_ATTRIBUTE_PREFERRED_SHARED_MEMORY_CARVEOUT) - int(FuncAttrPreferredSharedCarveout)]byte
)

// shimError is a CUresult from a shim call.
type shimError struct {
	code int
	name string
}

func (e shimError) Error() string { return fmt.Sprintf("%s (%d)", e.name, e.code) }

func shimResult(r C.CUresult) error {
	if r == C.CUDA_SUCCESS {
		return nil
	}
	return shimError{code: int(r), name: C.GoString(C.gc_error_name(r))}
}

func fnHandle(f cu.Function) C.uintptr_t {
	return C.uintptr_t(*(*uintptr)(unsafe.Pointer(&f)))
}

func streamHandle(s cu.Stream) C.uintptr_t {
	return C.uintptr_t(*(*uintptr)(unsafe.Pointer(&s)))
}

func shimFuncSetAttribute(f cu.Function, attr FuncAttribute, value int) error {
	return shimResult(C.gc_func_set_attribute(fnHandle(f), C.int(attr), C.int(value)))
}

// shimHostAlloc allocates page-locked host memory (cuMemHostAlloc, portable).
func shimHostAlloc(bytes int) (unsafe.Pointer, error) {
	var p unsafe.Pointer
	if err := shimResult(C.gc_mem_host_alloc(&p, C.size_t(bytes), C.CU_MEMHOSTALLOC_PORTABLE)); err != nil {
		return nil, err
	}
	return p, nil
}

func shimHostFree(p unsafe.Pointer) error {
	return shimResult(C.gc_mem_free_host(p))
}

func shimLaunch(f cu.Function, grid, block Dim3, smem int, s cu.Stream, params []byte) error {
	var p unsafe.Pointer
	if len(params) > 0 {
		p = unsafe.Pointer(&params[0])
	}
	return shimResult(C.gc_launch_packed(fnHandle(f),
		C.uint(grid.X), C.uint(grid.Y), C.uint(grid.Z),
		C.uint(block.X), C.uint(block.Y), C.uint(block.Z),
		C.uint(smem), streamHandle(s), p, C.size_t(len(params))))
}
