// Package gpu is the project's only cgo: CUDA devices, contexts, kernel
// modules, launches, memory, streams and events on the driver API
// (gorgonia.org/cu plus a small shim of our own), and the launchers of the
// kernels in package kernels. It imports only the standard library, cu,
// kernels, and chain/sketch and chain/state (whose types the sketch
// launchers take and whose functions are their reference), and never logs:
// results and errors are returned.
//
// # Builds
//
// With the build tag gccuda the package links libcuda.so.1 (and nothing else
// from CUDA: no cudart, cuBLAS or NVRTC). Without it, the default build has
// the same exported API (TestTwinAPI checks) and every device call returns
// ErrNoCUDA; the pure-Go parts (job preparation, the kernels' references,
// launch geometry, known-answer vectors) are the same in both builds and are
// tested in the default build. The tag is gccuda rather than cuda because
// gorgonia.org/gorgonia, which the model uses, has a cuda tag of its own that
// turns on its cuDNN + cuBLAS engine (cudnn.h at build time, libcublas and
// libcudnn at link time). Note that gorgonia.org/cu calls cuInit in its
// package init and exits the process when there is no device, so a cuda
// binary (and its test binary) only starts on a machine with a GPU.
//
// # Threads
//
// A Context is one CUDA context on one device, owned by one goroutine locked
// to its OS thread; every driver call for it runs there (Context.Do), so a
// Context, and everything made from it, may be used from any goroutine.
// Calls on one Context are serialized.
//
// # SHA-256d nonce search
//
// A Job holds what a search needs from a 160-byte header: the SHA-256
// midstate after bytes 0..127, the words W0..W5 of the third chunk (bytes
// 128..151) and the target as little-endian limbs. NewJob builds it from an
// encoded header and a 32-byte little-endian target. Searcher.Search tries a
// 64-bit nonce range (wrapping at 2^64) in short launches (about
// SearchOptions.BatchTime each, two in flight), checking a stop channel and
// the launches' hit counters between them: a stop takes effect within about
// two launches. A launch never crosses a multiple of 2^32 nonces, so the
// high nonce word is fixed per launch and precomputed on the host with
// everything else that does not depend on the nonce (precompute.go). The
// kernel rejects a nonce after round 60 of the second hash when the most
// significant digest limb exceeds the target's; survivors get the full
// 256-bit comparison, so the GPU reports exactly the valid nonces. The
// kernel comes in two variants (SearchOptions.Variant): additions on the
// integer pipe or as multiply-adds on the FMA pipe; by default NewSearcher
// times both on the device and keeps the faster.
// SearchReference is the same search in pure Go, and it and the kernel are
// tested against crypto/sha256. Callers must still re-check any nonce they
// use with the chain's own proof-of-work check.
//
// SelfTest runs known-answer searches (vectors anchored in crypto/sha256,
// covering the 2^32 carry, the 2^64 wrap and a target equal to a digest); a
// device that fails it must not be used.
//
// # Sketches and Apply
//
// SketchBackend (NewSketchBackend(ctx)) runs chain/sketch on the GPU: every
// family's de-sketch (Desketch, Transpose, Estimate), TopK and Quantize
// bit-identical to the CPU, so it is a state.Backend:
// state.ApplyWith(b, rules, w, parent, contributions) validates a block with
// the de-sketch on the GPU. Sketch (S·x) and MakeContribution are the
// worker side (exact for Identity and SRHT, float rounding of the CPU's
// order for the other families). Applier (NewApplier(ctx, rules, w)) keeps
// the weights on the device and runs all of state.Apply there (aggregate,
// de-sketch, scale, add, non-finite check) plus the state root's leaf
// hashes; only the contributions' checks and the root's tree run on the
// CPU. SketchBackend.SelfTest checks the device against the CPU reference.
// The kernels' arithmetic rules are in kernels/sketch_common.cuh; their
// sources are also compiled for the CPU in the tests (sketch_host_test.go),
// which replay blocks through the same launch sequences and compare with
// chain/state bit for bit.
//
// # Attention softmax
//
// Softmax (NewSoftmax) runs kernels/softmax_fwd.cu and softmax_bwd.cu: the
// attention softmax P = softmax(scale·S) over the rows of a Rows×Cols
// matrix, with the causal mask computed from the row index (rows grouped in
// Cols×Cols squares; masked entries are not read and are written as 0) and
// an optional per-row log-sum-exp, and its backward dS = scale·P ⊙ (dP −
// rowsum(dP ⊙ P)); fp32 or bf16 in and out, fp32 arithmetic (SoftmaxShape).
// Launch plans are pure Go (planSoftmax): rows of up to 1,024 entries in
// the registers of 1..32 lanes of a warp, longer rows in the registers of a
// block, and an online (two-pass) kernel beyond; 16-byte loads when the row
// length and the pointers allow. SoftmaxForwardReference and
// SoftmaxBackwardReference (float64) are the specification. Softmax.SelfTest
// checks every kind of kernel on poisoned outputs.
//
// # Fused attention
//
// Attention (NewAttention; compute capability 8.0 or later) runs
// kernels/attention_fwd.cu and attention_bwd.cu: O = softmax(scale·Q Kᵀ
// [causal]) V and the log-sum-exp, and the gradients dQ, dK, dV, without
// materializing the T×T scores (FlashAttention-2 style, bf16 tensor cores
// through mma.sync, fp32 accumulation; the backward writes every gradient
// once, so results are bit-for-bit repeatable). T must be a multiple of 64
// and the head width 32, 64 or 128 (AttentionFits). Matrices are addressed
// by strides (AttnLayout), so both [B,H,T,D] tensors (DenseAttnLayout) and
// the model's packed qkv matrix (PackedAttnLayout, with the fp32 host
// calls ForwardPackedHost/BackwardPackedHost) work in place.
// AttentionForwardReference and AttentionBackwardReference (float64) are
// the specification; Attention.SelfTest checks every head width.
//
// Both kernel families are also checked without a GPU: the tests compile
// the .cu sources as host C++ with the CUDA built-ins they use emulated
// (warps and blocks as fibers; ldmatrix, mma.sync and cp.async from the PTX
// ISA's layouts; testdata/cuda_emu.cc) and run them launch by launch as the
// launchers plan them.
//
// # Errors
//
// Every error is errors.Is-able to one of: ErrNoCUDA (default build),
// ErrNoDevice (no such ordinal), ErrDriver (a failed driver call; the
// *DriverError names it and wraps the driver's error), ErrSelfTest (wrong
// known answer), ErrClosed (use after Close), ErrInvalid (bad argument or
// option), or kernels.ErrUnknownKernel (no such embedded module).
package gpu
