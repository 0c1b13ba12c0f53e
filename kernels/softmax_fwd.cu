// Attention softmax, forward: P = softmax(scale * S) row by row, with the
// causal mask computed from the row index (masked columns are not read and
// are written as 0) and, when lse is not null, the per-row log-sum-exp of
// the scaled visible entries (so that a backward pass may recompute P).
// fp32 or bf16 in and out; all arithmetic in fp32. See softmax_common.cuh for
// the layout and gpu/softmax.go for the reference and the launch plans.
//
// Three shapes of kernel, picked by the host per row length:
//   softmax_fwd_<t>_<p>_w<LANES>x<NV>  LANES (1..32) lanes of a warp per
//                                      row, the row in registers (NV chunks
//                                      per lane); rows up to 32 * F columns.
//   softmax_fwd_<t>_<p>_b<F>           one block per row (blockDim.x from the
//                                      host, a multiple of 32, at most 1024;
//                                      512 on the scalar path), the row in
//                                      registers, F floats per thread.
//   softmax_fwd_<t>_<p>_online         one block per row of any length: one
//                                      pass for the running max and sum
//                                      (online softmax), one to write P.
// <t> is f32 or bf16, <p> is v (16-byte chunks) or s (scalar).
//
// Exponentials are base 2: t = scale*log2(e)*s, p = 2^(t - max) / sum, and
// lse = (max + log2(sum)) * ln 2.

#include "softmax_common.cuh"

// Rows in registers, LANES threads per row (LANES <= 32: the lanes of one
// warp; ROWS_PER_BLOCK = blockDim.x / LANES). Every lane of every warp runs
// the reductions, also those past the last row (they load and store
// nothing).
template <typename T, int W, int LANES, int NV>
__device__ __forceinline__ void fwd_warp(const SoftmaxParams &p) {
    const long long gt = static_cast<long long>(blockIdx.x) * blockDim.x + threadIdx.x;
    const bool active = gt / LANES < p.rows;
    const int row = active ? static_cast<int>(gt / LANES) : 0;
    const int lane = threadIdx.x % LANES;
    const int n = active ? visible_cols(p, row) : 0;
    const size_t base = static_cast<size_t>(row) * p.cols;
    const T *src = static_cast<const T *>(p.in0) + base;
    T *dst = static_cast<T *>(p.out) + base;

    float x[NV][W];
#pragma unroll
    for (int i = 0; i < NV; i++) {
        const int c = i * LANES + lane;
        if (c * W < n) {
            Chunk<T, W>::load(src, c, x[i]);
        }
    }
    float m = -INFINITY;
#pragma unroll
    for (int i = 0; i < NV; i++) {
        const int c = i * LANES + lane;
#pragma unroll
        for (int k = 0; k < W; k++) {
            x[i][k] = c * W + k < n ? x[i][k] * p.scale_log2e : -INFINITY;
            m = fmaxf(m, x[i][k]);
        }
    }
    m = group_reduce<LANES, OpMax>(m);
    float s = 0.0f;
#pragma unroll
    for (int i = 0; i < NV; i++) {
#pragma unroll
        for (int k = 0; k < W; k++) {
            x[i][k] = gc_exp2(x[i][k] - m); // 0 for masked entries
            s += x[i][k];
        }
    }
    s = group_reduce<LANES, OpSum>(s);
    const float inv = 1.0f / s;
    if (!active) {
        return; // after the last shuffle
    }
#pragma unroll
    for (int i = 0; i < NV; i++) {
        const int c = i * LANES + lane;
        if (c * W < p.cols) {
#pragma unroll
            for (int k = 0; k < W; k++) {
                x[i][k] *= inv;
            }
            Chunk<T, W>::store(dst, c, x[i]);
        }
    }
    if (p.lse != nullptr && lane == 0) {
        p.lse[row] = (m + gc_log2(s)) * GC_LN2;
    }
}

// Rows in registers, one block per row: thread t holds chunks t,
// t + blockDim.x, ... (NV = F / W of them).
template <typename T, int W, int F>
__device__ __forceinline__ void fwd_block(const SoftmaxParams &p) {
    constexpr int NV = F / W;
    __shared__ float red_max[32];
    __shared__ float red_sum[32];
    const int row = blockIdx.x;
    const int n = visible_cols(p, row);
    const size_t base = static_cast<size_t>(row) * p.cols;
    const T *src = static_cast<const T *>(p.in0) + base;
    T *dst = static_cast<T *>(p.out) + base;
    const int step = blockDim.x;

    float x[NV][W];
#pragma unroll
    for (int i = 0; i < NV; i++) {
        const int c = i * step + threadIdx.x;
        if (c * W < n) {
            Chunk<T, W>::load(src, c, x[i]);
        }
    }
    float m = -INFINITY;
#pragma unroll
    for (int i = 0; i < NV; i++) {
        const int c = i * step + threadIdx.x;
#pragma unroll
        for (int k = 0; k < W; k++) {
            x[i][k] = c * W + k < n ? x[i][k] * p.scale_log2e : -INFINITY;
            m = fmaxf(m, x[i][k]);
        }
    }
    m = block_reduce<OpMax>(m, red_max, -INFINITY);
    float s = 0.0f;
#pragma unroll
    for (int i = 0; i < NV; i++) {
#pragma unroll
        for (int k = 0; k < W; k++) {
            x[i][k] = gc_exp2(x[i][k] - m);
            s += x[i][k];
        }
    }
    s = block_reduce<OpSum>(s, red_sum, 0.0f);
    const float inv = 1.0f / s;
#pragma unroll
    for (int i = 0; i < NV; i++) {
        const int c = i * step + threadIdx.x;
        if (c * W < p.cols) {
#pragma unroll
            for (int k = 0; k < W; k++) {
                x[i][k] *= inv;
            }
            Chunk<T, W>::store(dst, c, x[i]);
        }
    }
    if (p.lse != nullptr && threadIdx.x == 0) {
        p.lse[row] = (m + gc_log2(s)) * GC_LN2;
    }
}

// (m, s) pairs of the online softmax: s = sum of 2^(t - m).
__device__ __forceinline__ void online_merge(float &m, float &s, float m2, float s2) {
    const float mm = fmaxf(m, m2);
    if (mm == -INFINITY) {
        return; // both empty
    }
    s = s * gc_exp2(m - mm) + s2 * gc_exp2(m2 - mm);
    m = mm;
}

// Any row length, one block per row: pass 1 keeps a running (max, sum) per
// thread over U chunks at a time and merges them across the block; pass 2
// reads the row again and writes 2^(t - lse2).
template <typename T, int W>
__device__ __forceinline__ void fwd_online(const SoftmaxParams &p) {
    constexpr int U = 4; // chunks in flight per thread
    __shared__ float red_m[32];
    __shared__ float red_s[32];
    const int row = blockIdx.x;
    const int n = visible_cols(p, row);
    const size_t base = static_cast<size_t>(row) * p.cols;
    const T *src = static_cast<const T *>(p.in0) + base;
    T *dst = static_cast<T *>(p.out) + base;
    const int step = blockDim.x;
    const int nvis = (n + W - 1) / W; // chunks holding visible columns
    const int nall = (p.cols + W - 1) / W;

    float m = -INFINITY, s = 0.0f;
    for (int c0 = threadIdx.x; c0 < nvis; c0 += U * step) {
        float x[U][W];
#pragma unroll
        for (int u = 0; u < U; u++) {
            const int c = c0 + u * step;
            if (c < nvis) {
                Chunk<T, W>::load(src, c, x[u]);
            }
        }
#pragma unroll
        for (int u = 0; u < U; u++) {
            const int c = c0 + u * step;
            float mc = -INFINITY;
#pragma unroll
            for (int k = 0; k < W; k++) {
                x[u][k] = c < nvis && c * W + k < n ? x[u][k] * p.scale_log2e : -INFINITY;
                mc = fmaxf(mc, x[u][k]);
            }
            if (mc > m) {
                s *= gc_exp2(m - mc);
                m = mc;
            }
            if (mc != -INFINITY) {
#pragma unroll
                for (int k = 0; k < W; k++) {
                    s += gc_exp2(x[u][k] - m);
                }
            }
        }
    }
    // Merge across the warp, then across warps.
#pragma unroll
    for (int off = 16; off > 0; off /= 2) {
        const float m2 = __shfl_xor_sync(0xffffffffu, m, off);
        const float s2 = __shfl_xor_sync(0xffffffffu, s, off);
        online_merge(m, s, m2, s2);
    }
    const int warp = threadIdx.x / 32, lane = threadIdx.x % 32;
    if (lane == 0) {
        red_m[warp] = m;
        red_s[warp] = s;
    }
    __syncthreads();
    const bool have = lane < static_cast<int>(blockDim.x / 32);
    m = have ? red_m[lane] : -INFINITY;
    s = have ? red_s[lane] : 0.0f;
#pragma unroll
    for (int off = 16; off > 0; off /= 2) {
        const float m2 = __shfl_xor_sync(0xffffffffu, m, off);
        const float s2 = __shfl_xor_sync(0xffffffffu, s, off);
        online_merge(m, s, m2, s2);
    }
    const float l2 = m + gc_log2(s);

    for (int c0 = threadIdx.x; c0 < nall; c0 += U * step) {
        float x[U][W];
#pragma unroll
        for (int u = 0; u < U; u++) {
            const int c = c0 + u * step;
            if (c < nvis) {
                Chunk<T, W>::load(src, c, x[u]);
            }
        }
#pragma unroll
        for (int u = 0; u < U; u++) {
            const int c = c0 + u * step;
            if (c < nall) {
#pragma unroll
                for (int k = 0; k < W; k++) {
                    x[u][k] = c * W + k < n ? gc_exp2(x[u][k] * p.scale_log2e - l2) : 0.0f;
                }
                Chunk<T, W>::store(dst, c, x[u]);
            }
        }
    }
    if (p.lse != nullptr && threadIdx.x == 0) {
        p.lse[row] = l2 * GC_LN2;
    }
}

// Entry points. The lists are X-macros so that the host emulation can build
// its name table from the same lists. Warp kernels run 128 threads a block.
#define GC_FWD_WARP(name, T, W, LANES, NV)                                               \
    extern "C" __global__ void __launch_bounds__(128) name(const SoftmaxParams p) { \
        fwd_warp<T, W, LANES, NV>(p);                                                \
    }
#define GC_FWD_BLOCK(name, T, W, F, MAXT)                                                \
    extern "C" __global__ void __launch_bounds__(MAXT) name(const SoftmaxParams p) { \
        fwd_block<T, W, F>(p);                                                        \
    }
#define GC_FWD_ONLINE(name, T, W)                                                         \
    extern "C" __global__ void __launch_bounds__(1024) name(const SoftmaxParams p) { \
        fwd_online<T, W>(p);                                                          \
    }

#define GC_SOFTMAX_FWD_KERNELS(WARP, BLOCK, ONLINE)                 \
    WARP(softmax_fwd_f32_v_w1x1, float, 4, 1, 1)                    \
    WARP(softmax_fwd_f32_v_w1x2, float, 4, 1, 2)                    \
    WARP(softmax_fwd_f32_v_w2x2, float, 4, 2, 2)                    \
    WARP(softmax_fwd_f32_v_w4x2, float, 4, 4, 2)                    \
    WARP(softmax_fwd_f32_v_w8x2, float, 4, 8, 2)                    \
    WARP(softmax_fwd_f32_v_w16x2, float, 4, 16, 2)                  \
    WARP(softmax_fwd_f32_v_w32x2, float, 4, 32, 2)                  \
    WARP(softmax_fwd_f32_v_w32x4, float, 4, 32, 4)                  \
    WARP(softmax_fwd_f32_v_w32x8, float, 4, 32, 8)                  \
    WARP(softmax_fwd_f32_s_w1x1, float, 1, 1, 1)                    \
    WARP(softmax_fwd_f32_s_w1x2, float, 1, 1, 2)                    \
    WARP(softmax_fwd_f32_s_w2x2, float, 1, 2, 2)                    \
    WARP(softmax_fwd_f32_s_w4x2, float, 1, 4, 2)                    \
    WARP(softmax_fwd_f32_s_w8x2, float, 1, 8, 2)                    \
    WARP(softmax_fwd_f32_s_w16x2, float, 1, 16, 2)                  \
    WARP(softmax_fwd_f32_s_w32x2, float, 1, 32, 2)                  \
    WARP(softmax_fwd_f32_s_w32x4, float, 1, 32, 4)                  \
    WARP(softmax_fwd_f32_s_w32x8, float, 1, 32, 8)                  \
    WARP(softmax_fwd_f32_s_w32x16, float, 1, 32, 16)                \
    WARP(softmax_fwd_f32_s_w32x32, float, 1, 32, 32)                \
    WARP(softmax_fwd_bf16_v_w1x1, bf16_t, 8, 1, 1)                  \
    WARP(softmax_fwd_bf16_v_w1x2, bf16_t, 8, 1, 2)                  \
    WARP(softmax_fwd_bf16_v_w2x2, bf16_t, 8, 2, 2)                  \
    WARP(softmax_fwd_bf16_v_w4x2, bf16_t, 8, 4, 2)                  \
    WARP(softmax_fwd_bf16_v_w8x2, bf16_t, 8, 8, 2)                  \
    WARP(softmax_fwd_bf16_v_w16x2, bf16_t, 8, 16, 2)                \
    WARP(softmax_fwd_bf16_v_w32x2, bf16_t, 8, 32, 2)                \
    WARP(softmax_fwd_bf16_v_w32x4, bf16_t, 8, 32, 4)                \
    WARP(softmax_fwd_bf16_s_w1x1, bf16_t, 1, 1, 1)                  \
    WARP(softmax_fwd_bf16_s_w1x2, bf16_t, 1, 1, 2)                  \
    WARP(softmax_fwd_bf16_s_w2x2, bf16_t, 1, 2, 2)                  \
    WARP(softmax_fwd_bf16_s_w4x2, bf16_t, 1, 4, 2)                  \
    WARP(softmax_fwd_bf16_s_w8x2, bf16_t, 1, 8, 2)                  \
    WARP(softmax_fwd_bf16_s_w16x2, bf16_t, 1, 16, 2)                \
    WARP(softmax_fwd_bf16_s_w32x2, bf16_t, 1, 32, 2)                \
    WARP(softmax_fwd_bf16_s_w32x4, bf16_t, 1, 32, 4)                \
    WARP(softmax_fwd_bf16_s_w32x8, bf16_t, 1, 32, 8)                \
    WARP(softmax_fwd_bf16_s_w32x16, bf16_t, 1, 32, 16)              \
    WARP(softmax_fwd_bf16_s_w32x32, bf16_t, 1, 32, 32)              \
    BLOCK(softmax_fwd_f32_v_b16, float, 4, 16, 1024)                \
    BLOCK(softmax_fwd_f32_v_b32, float, 4, 32, 1024)                \
    BLOCK(softmax_fwd_f32_s_b16, float, 1, 16, 512)                 \
    BLOCK(softmax_fwd_f32_s_b32, float, 1, 32, 512)                 \
    BLOCK(softmax_fwd_bf16_v_b16, bf16_t, 8, 16, 1024)              \
    BLOCK(softmax_fwd_bf16_v_b32, bf16_t, 8, 32, 1024)              \
    BLOCK(softmax_fwd_bf16_s_b16, bf16_t, 1, 16, 512)               \
    BLOCK(softmax_fwd_bf16_s_b32, bf16_t, 1, 32, 512)               \
    ONLINE(softmax_fwd_f32_v_online, float, 4)                      \
    ONLINE(softmax_fwd_f32_s_online, float, 1)                      \
    ONLINE(softmax_fwd_bf16_v_online, bf16_t, 8)                    \
    ONLINE(softmax_fwd_bf16_s_online, bf16_t, 1)

GC_SOFTMAX_FWD_KERNELS(GC_FWD_WARP, GC_FWD_BLOCK, GC_FWD_ONLINE)

#ifdef GC_HOST_EMU
#define GC_FWD_ENTRY3(name, T, W) {#name, name},
#define GC_FWD_ENTRY5(name, T, W, A, B) {#name, name},
static const struct {
    const char *name;
    void (*fn)(SoftmaxParams);
} gc_host_kernels[] = {
    GC_SOFTMAX_FWD_KERNELS(GC_FWD_ENTRY5, GC_FWD_ENTRY5, GC_FWD_ENTRY3){nullptr, nullptr}};
#endif
