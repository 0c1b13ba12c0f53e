// Package kernels holds the project's CUDA kernels: one kernel per .cu
// source file, each compiled ahead of time to a .fatbin (sm_80, sm_86, sm_89
// and sm_90 machine code plus compute_90 PTX, CUDA 11.8) that is committed
// beside its source and embedded here with //go:embed.
//
// Contract:
//   - Every kernel has a pure-Go reference with the same semantics in the
//     package that launches it (gpu/): the reference is the specification.
//   - A .fatbin is rebuilt only by kernels/build.sh (make kernels); the build
//     is reproducible, and CI fails when a committed .fatbin differs from a
//     fresh build of its source.
//   - Entry points are extern "C" so that their names are stable; the name
//     constants below are the ones the loader looks up. A .cu file may
//     export variants of its kernel (same body and parameters, e.g.
//     sha256d_search and sha256d_search_mad) for the host to choose from.
//
// The package is data only: no cgo, no CUDA needed to build or import it. It
// imports nothing but the standard library.
//
// Errors: Fatbin returns ErrUnknownKernel (errors.Is-able) for a name that
// has no embedded image.
package kernels
