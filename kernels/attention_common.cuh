// Shared parts of the fused attention kernels (attention_fwd.cu,
// attention_bwd.cu): the parameter block, the warp-level tensor-core
// primitives (ldmatrix, mma.sync m16n8k16 bf16 -> fp32, cp.async) and the
// tile loaders.
//
// Math (gpu/attention.go holds the float64 reference, the specification):
// for each batch b and head h, with Q, K, V of T x D,
//   O = softmax(scale * Q K^T [+ causal mask]) V,  lse = log-sum-exp of each
//   row of scale * Q K^T over its visible keys,
// and the backward from dO:
//   P = exp(scale Q K^T - lse), dV = P^T dO, dP = dO V^T,
//   delta = rowsum(dO (.) O), dS = P (.) (dP - delta),
//   dQ = scale dS K, dK = scale dS^T Q.
// Q, K, V, dO are bf16; O may be bf16 or fp32; lse, delta, dQ, dK, dV fp32.
// Every matrix is addressed as base + b*sb + h*sh + t*st + d (elements), so
// that both [B,H,T,D] tensors and the model's packed (B*T) x 3C qkv layout
// (heads side by side) can be used in place. T is a multiple of 64 and D is
// 32, 64 or 128; rows of D bf16 are 16-byte aligned (st, sh, sb multiples of
// 8 elements).
//
// Tiles: a block of 4 warps takes 64 rows of the "outer" operand (queries for
// the forward and dQ, keys for dK/dV), 16 per warp, and loops over tiles of
// the inner operand staged in shared memory by cp.async, two stages deep.
// Fragments follow the PTX ISA layouts of mma.m16n8k16 (groupID g = lane/4,
// t = lane%4: A registers hold rows g and g+8, columns 2t.. and 2t+8..; B
// registers hold k = 2t.. and 2t+8.., column g; C holds rows g and g+8,
// columns 2t and 2t+1), so that an accumulator tile, packed to bf16, is
// directly the A operand of the next product (P for P V, dS for dS K).
//
// The host emulation (gpu/testdata/cuda_emu.cc, GC_HOST_EMU) defines
// the warp primitives on the CPU from the same layouts.

#ifndef GC_ATTENTION_COMMON_CUH
#define GC_ATTENTION_COMMON_CUH

#include <math.h>
#include <stddef.h>
#include <stdint.h>

// The parameter block of every attention kernel, passed by value. Layout
// fixed by gpu/attention.go (attnParams).
struct AttnParams {
    const void *q, *k, *v;   // bf16 inputs (in strides)
    void *o;                 // forward output (out strides): bf16 or fp32 per kernel
    float *lse;              // [B*H*T]: forward output, backward input
    const void *dout;        // bf16 dO (out strides)
    float *delta;            // [B*H*T]: rowsum(dO (.) O)
    float *dq, *dk, *dv;     // fp32 gradients (grad strides)
    long long in_sb, in_sh, in_st;
    long long out_sb, out_sh, out_st;
    long long grad_sb, grad_sh, grad_st;
    int B, H, T, causal;
    float scale;             // softmax scale (1/sqrt(D))
    float scale_log2e;       // scale * log2(e)
    long long n;             // element count of the conversion kernels
    const void *src;         // conversion kernels: input
    void *dst;               // conversion kernels: output
};

static_assert(sizeof(AttnParams) == 200, "parameter block size is fixed by gpu/attention.go");
static_assert(offsetof(AttnParams, in_sb) == 80, "in_sb offset");
static_assert(offsetof(AttnParams, B) == 152, "B offset");
static_assert(offsetof(AttnParams, n) == 176, "n offset");

typedef uint16_t bf16_t;

#define GC_ATTN_LN2 0.693147180559945309f
#define GC_ATTN_LOG2E 1.442695040888963407f

#ifndef GC_HOST_EMU

__device__ __forceinline__ float attn_exp2(float x) {
    float y;
    asm("ex2.approx.ftz.f32 %0, %1;" : "=f"(y) : "f"(x));
    return y;
}

__device__ __forceinline__ float attn_log2(float x) {
    float y;
    asm("lg2.approx.ftz.f32 %0, %1;" : "=f"(y) : "f"(x));
    return y;
}

// Two floats to a bf16 pair (round to nearest even), lo in the low half.
__device__ __forceinline__ uint32_t pack_bf16(float lo, float hi) {
    uint32_t r;
    asm("cvt.rn.bf16x2.f32 %0, %1, %2;" : "=r"(r) : "f"(hi), "f"(lo));
    return r;
}

__device__ __forceinline__ uint32_t smem_addr(const void *p) {
    return static_cast<uint32_t>(__cvta_generic_to_shared(p));
}

// Four 8x8 b16 matrices; lane l gives the address of row l%8 of matrix l/8.
__device__ __forceinline__ void ldsm_x4(uint32_t r[4], const bf16_t *p) {
    asm volatile("ldmatrix.sync.aligned.m8n8.x4.shared.b16 {%0, %1, %2, %3}, [%4];"
                 : "=r"(r[0]), "=r"(r[1]), "=r"(r[2]), "=r"(r[3])
                 : "r"(smem_addr(p)));
}

__device__ __forceinline__ void ldsm_x4_t(uint32_t r[4], const bf16_t *p) {
    asm volatile("ldmatrix.sync.aligned.m8n8.x4.trans.shared.b16 {%0, %1, %2, %3}, [%4];"
                 : "=r"(r[0]), "=r"(r[1]), "=r"(r[2]), "=r"(r[3])
                 : "r"(smem_addr(p)));
}

// c += A B for one m16n8k16 tile (bf16 in, fp32 accumulate).
__device__ __forceinline__ void mma_16816(float c[4], const uint32_t a[4], uint32_t b0, uint32_t b1) {
    asm volatile("mma.sync.aligned.m16n8k16.row.col.f32.bf16.bf16.f32 "
                 "{%0, %1, %2, %3}, {%4, %5, %6, %7}, {%8, %9}, {%0, %1, %2, %3};"
                 : "+f"(c[0]), "+f"(c[1]), "+f"(c[2]), "+f"(c[3])
                 : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b0), "r"(b1));
}

__device__ __forceinline__ void cp_async16(void *smem, const void *gmem) {
    asm volatile("cp.async.cg.shared.global [%0], [%1], 16;" ::"r"(smem_addr(smem)), "l"(gmem));
}

__device__ __forceinline__ void cp_async_commit() { asm volatile("cp.async.commit_group;"); }

template <int N> __device__ __forceinline__ void cp_async_wait() {
    asm volatile("cp.async.wait_group %0;" ::"n"(N));
}

#define GC_ATTN_SMEM(name) extern __shared__ uint4 name[]

#endif // !GC_HOST_EMU

__device__ __forceinline__ float bf16_lo(uint32_t w) { return __uint_as_float(w << 16); }
__device__ __forceinline__ float bf16_hi(uint32_t w) { return __uint_as_float(w & 0xffff0000u); }

// Copies ROWS x D bf16 (global rows st elements apart) into shared memory
// rows of LDS elements, 16 bytes per cp.async, all threads of the block.
template <int ROWS, int D, int LDS, int THREADS>
__device__ __forceinline__ void load_tile(bf16_t *s, const bf16_t *g, long long st) {
    constexpr int CHUNKS = D / 8; // 16-byte chunks per row
#pragma unroll
    for (int i = threadIdx.x; i < ROWS * CHUNKS; i += THREADS) {
        const int r = i / CHUNKS, c = i % CHUNKS;
        cp_async16(s + r * LDS + c * 8, g + r * st + c * 8);
    }
}

// Copies n (a multiple of 4) floats into shared memory, 16 bytes at a time.
template <int N, int THREADS>
__device__ __forceinline__ void load_vec(float *s, const float *g) {
    for (int i = threadIdx.x; i < N / 4; i += THREADS) {
        cp_async16(s + 4 * i, g + 4 * i);
    }
}

// A fragments of rows r0..r0+15, k = k0..k0+15 of a row-major shared tile.
template <int LDS>
__device__ __forceinline__ void frag_a(uint32_t a[4], const bf16_t *s, int r0, int k0) {
    const int lane = threadIdx.x % 32;
    ldsm_x4(a, s + (r0 + lane % 16) * LDS + k0 + (lane / 16) * 8);
}

// B fragments of two n8 tiles (n = n0..n0+15) with k = k0..k0+15, from a
// shared tile stored [n][k] (rows are n): b[0], b[1] for n0..n0+7, b[2],
// b[3] for n0+8..n0+15.
template <int LDS>
__device__ __forceinline__ void frag_b_nk(uint32_t b[4], const bf16_t *s, int n0, int k0) {
    const int lane = threadIdx.x % 32, m = lane / 8;
    ldsm_x4(b, s + (n0 + (m / 2) * 8 + lane % 8) * LDS + k0 + (m % 2) * 8);
}

// The same from a shared tile stored [k][n] (rows are k): transposed loads.
template <int LDS>
__device__ __forceinline__ void frag_b_kn(uint32_t b[4], const bf16_t *s, int k0, int n0) {
    const int lane = threadIdx.x % 32, m = lane / 8;
    ldsm_x4_t(b, s + (k0 + (m % 2) * 8 + lane % 8) * LDS + n0 + (m / 2) * 8);
}

// Row reductions of an accumulator's rows across the 4 lanes that hold them.
__device__ __forceinline__ float quad_max(float v) {
    v = fmaxf(v, __shfl_xor_sync(0xffffffffu, v, 1));
    return fmaxf(v, __shfl_xor_sync(0xffffffffu, v, 2));
}
__device__ __forceinline__ float quad_sum(float v) {
    v += __shfl_xor_sync(0xffffffffu, v, 1);
    return v + __shfl_xor_sync(0xffffffffu, v, 2);
}

#endif // GC_ATTENTION_COMMON_CUH
