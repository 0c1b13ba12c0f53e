// Shared parts of the attention softmax kernels (softmax_fwd.cu,
// softmax_bwd.cu): the parameter block, element types, 16-byte chunk loads
// and stores, and warp / block reductions.
//
// Layout and semantics (the pure-Go references in gpu/softmax.go are the
// specification): a rows x cols row-major matrix; with causal set the rows
// are grouped in square cols x cols matrices, row r is query position
// q = r mod cols and its visible columns are 0..q (the others are masked:
// never read, written as 0).
//
// A row is cut into chunks of W consecutive elements: W = 16 bytes of
// elements (4 fp32, 8 bf16) on the vector path, used when cols is a multiple
// of W and every pointer is 16-byte aligned, or W = 1 on the scalar path.
// Thread t of the LANES threads that share a row holds chunks t, t + LANES,
// t + 2 LANES, ... (NV of them, F = NV * W floats), so that a warp's loads
// of one chunk index are contiguous.
//
// The host emulation (gpu/testdata/cuda_emu.cc) compiles these files as
// plain C++ with GC_HOST_EMU defined and the CUDA built-ins they use defined
// on the CPU; keep to those built-ins (or add them there).

#ifndef GC_SOFTMAX_COMMON_CUH
#define GC_SOFTMAX_COMMON_CUH

#include <math.h>
#include <stdint.h>
#include <stddef.h>

// The parameter block of every softmax kernel, passed by value. Its layout
// is fixed by gpu/softmax.go (softmaxParams): keep the two in step.
struct SoftmaxParams {
    void *out;          // forward: P; backward: dS
    const void *in0;    // forward: S (may equal out); backward: P
    const void *in1;    // backward: dP (may equal out); forward: unused
    float *lse;         // forward: per-row log-sum-exp of the scaled row, or null
    int rows;
    int cols;
    float scale;        // the softmax's scale (1/sqrt(d))
    float scale_log2e;  // scale * log2(e): exponentials are taken base 2
    int causal;
    int pad;
};

static_assert(sizeof(SoftmaxParams) == 56, "parameter block size is fixed by gpu/softmax.go");
static_assert(offsetof(SoftmaxParams, rows) == 32, "rows offset");
static_assert(offsetof(SoftmaxParams, causal) == 48, "causal offset");

#define GC_LN2 0.693147180559945309f

typedef uint16_t bf16_t; // bfloat16 bits

__device__ __forceinline__ float gc_exp2(float x) {
#ifdef GC_HOST_EMU
    return exp2f(x);
#else
    float y;
    asm("ex2.approx.ftz.f32 %0, %1;" : "=f"(y) : "f"(x));
    return y;
#endif
}

__device__ __forceinline__ float gc_log2(float x) {
#ifdef GC_HOST_EMU
    return log2f(x);
#else
    float y;
    asm("lg2.approx.ftz.f32 %0, %1;" : "=f"(y) : "f"(x));
    return y;
#endif
}

__device__ __forceinline__ float bf16_to_f32(uint32_t bits16) {
    return __uint_as_float(bits16 << 16);
}

// Two floats to two bf16 (round to nearest even), lo in the low half.
__device__ __forceinline__ uint32_t f32x2_to_bf16x2(float lo, float hi) {
#ifdef GC_HOST_EMU
    uint32_t r[2];
    const float f[2] = {lo, hi};
    for (int i = 0; i < 2; i++) {
        const uint32_t u = __float_as_uint(f[i]);
        if ((u & 0x7fffffffu) > 0x7f800000u) {
            r[i] = 0x7fffu; // NaN (the device's canonical bf16 NaN)
        } else {
            r[i] = (u + 0x7fffu + ((u >> 16) & 1u)) >> 16;
        }
    }
    return r[0] | (r[1] << 16);
#else
    uint32_t r;
    asm("cvt.rn.bf16x2.f32 %0, %1, %2;" : "=r"(r) : "f"(hi), "f"(lo));
    return r;
#endif
}

// Elements of type T in chunks of W (W = 1: scalar path).
template <typename T, int W> struct Chunk;

template <> struct Chunk<float, 1> {
    __device__ __forceinline__ static void load(const float *row, int c, float *f) { f[0] = row[c]; }
    __device__ __forceinline__ static void store(float *row, int c, const float *f) { row[c] = f[0]; }
};

template <> struct Chunk<float, 4> {
    __device__ __forceinline__ static void load(const float *row, int c, float *f) {
        const float4 v = reinterpret_cast<const float4 *>(row)[c];
        f[0] = v.x;
        f[1] = v.y;
        f[2] = v.z;
        f[3] = v.w;
    }
    __device__ __forceinline__ static void store(float *row, int c, const float *f) {
        float4 v;
        v.x = f[0];
        v.y = f[1];
        v.z = f[2];
        v.w = f[3];
        reinterpret_cast<float4 *>(row)[c] = v;
    }
};

template <> struct Chunk<bf16_t, 1> {
    __device__ __forceinline__ static void load(const bf16_t *row, int c, float *f) { f[0] = bf16_to_f32(row[c]); }
    __device__ __forceinline__ static void store(bf16_t *row, int c, const float *f) {
        row[c] = static_cast<bf16_t>(f32x2_to_bf16x2(f[0], 0.0f) & 0xffffu);
    }
};

template <> struct Chunk<bf16_t, 8> {
    __device__ __forceinline__ static void load(const bf16_t *row, int c, float *f) {
        const uint4 v = reinterpret_cast<const uint4 *>(row)[c];
        const uint32_t w[4] = {v.x, v.y, v.z, v.w};
#pragma unroll
        for (int i = 0; i < 4; i++) {
            f[2 * i] = __uint_as_float(w[i] << 16);
            f[2 * i + 1] = __uint_as_float(w[i] & 0xffff0000u);
        }
    }
    __device__ __forceinline__ static void store(bf16_t *row, int c, const float *f) {
        uint4 v;
        v.x = f32x2_to_bf16x2(f[0], f[1]);
        v.y = f32x2_to_bf16x2(f[2], f[3]);
        v.z = f32x2_to_bf16x2(f[4], f[5]);
        v.w = f32x2_to_bf16x2(f[6], f[7]);
        reinterpret_cast<uint4 *>(row)[c] = v;
    }
};

// The number of visible columns of a row.
__device__ __forceinline__ int visible_cols(const SoftmaxParams &p, int row) {
    return p.causal ? row % p.cols + 1 : p.cols;
}

struct OpMax {
    __device__ __forceinline__ static float apply(float a, float b) { return fmaxf(a, b); }
};
struct OpSum {
    __device__ __forceinline__ static float apply(float a, float b) { return a + b; }
};

// Reduction over the LANES consecutive lanes (a power of two <= 32) that
// share a row: every lane of the group gets the result. All 32 lanes of the
// warp must call it.
template <int LANES, class Op> __device__ __forceinline__ float group_reduce(float v) {
#pragma unroll
    for (int off = LANES / 2; off > 0; off /= 2) {
        v = Op::apply(v, __shfl_xor_sync(0xffffffffu, v, off));
    }
    return v;
}

// Reduction over the whole block (blockDim.x a multiple of 32, at most
// 1024): every thread gets the result. red is this reduction's own 32-slot
// shared array (not reused by another reduction of the same launch, so that
// no second barrier is needed).
template <class Op> __device__ __forceinline__ float block_reduce(float v, float *red, float identity) {
    v = group_reduce<32, Op>(v);
    const int warp = threadIdx.x / 32, lane = threadIdx.x % 32;
    if (lane == 0) {
        red[warp] = v;
    }
    __syncthreads();
    v = lane < static_cast<int>(blockDim.x / 32) ? red[lane] : identity;
    return group_reduce<32, Op>(v);
}

#endif // GC_SOFTMAX_COMMON_CUH
