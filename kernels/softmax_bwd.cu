// Attention softmax, backward: the gradient with respect to the scores S of
// P = softmax(scale * S), from P and its incoming gradient dP:
//   dS = scale * P (.) (dP - rowsum(dP (.) P)),
// accumulated in fp32. With the causal mask, masked columns are not read and
// dS there is written as 0. fp32 or bf16 in and out. dS may be written over
// dP. See softmax_common.cuh for the layout and gpu/softmax.go for the
// reference and the launch plans.
//
// The same three shapes of kernel as the forward pass:
//   softmax_bwd_<t>_<p>_w<LANES>x<NV>  LANES lanes per row, rows in registers
//   softmax_bwd_<t>_<p>_b<F>           one block per row, rows in registers
//                                      (at most 1024 threads for v_b16, 256
//                                      for s_b32, 512 for the others)
//   softmax_bwd_<t>_<p>_online         one block per row of any length (at
//                                      most 512 threads): one pass for the
//                                      row sum, one for dS.

#include "softmax_common.cuh"

template <typename T, int W, int LANES, int NV>
__device__ __forceinline__ void bwd_warp(const SoftmaxParams &p) {
    const long long gt = static_cast<long long>(blockIdx.x) * blockDim.x + threadIdx.x;
    const bool active = gt / LANES < p.rows;
    const int row = active ? static_cast<int>(gt / LANES) : 0;
    const int lane = threadIdx.x % LANES;
    const int n = active ? visible_cols(p, row) : 0;
    const size_t base = static_cast<size_t>(row) * p.cols;
    const T *pr = static_cast<const T *>(p.in0) + base;
    const T *gr = static_cast<const T *>(p.in1) + base;
    T *out = static_cast<T *>(p.out) + base;

    float x[NV][W], g[NV][W];
#pragma unroll
    for (int i = 0; i < NV; i++) {
        const int c = i * LANES + lane;
        if (c * W < n) {
            Chunk<T, W>::load(pr, c, x[i]);
            Chunk<T, W>::load(gr, c, g[i]);
        }
    }
    float dot = 0.0f;
#pragma unroll
    for (int i = 0; i < NV; i++) {
        const int c = i * LANES + lane;
#pragma unroll
        for (int k = 0; k < W; k++) {
            const bool vis = c * W + k < n;
            x[i][k] = vis ? x[i][k] : 0.0f;
            g[i][k] = vis ? g[i][k] : 0.0f;
            dot += x[i][k] * g[i][k];
        }
    }
    dot = group_reduce<LANES, OpSum>(dot);
    if (!active) {
        return;
    }
#pragma unroll
    for (int i = 0; i < NV; i++) {
        const int c = i * LANES + lane;
        if (c * W < p.cols) {
#pragma unroll
            for (int k = 0; k < W; k++) {
                x[i][k] = c * W + k < n ? p.scale * x[i][k] * (g[i][k] - dot) : 0.0f;
            }
            Chunk<T, W>::store(out, c, x[i]);
        }
    }
}

template <typename T, int W, int F>
__device__ __forceinline__ void bwd_block(const SoftmaxParams &p) {
    constexpr int NV = F / W;
    __shared__ float red_sum[32];
    const int row = blockIdx.x;
    const int n = visible_cols(p, row);
    const size_t base = static_cast<size_t>(row) * p.cols;
    const T *pr = static_cast<const T *>(p.in0) + base;
    const T *gr = static_cast<const T *>(p.in1) + base;
    T *out = static_cast<T *>(p.out) + base;
    const int step = blockDim.x;

    float x[NV][W], g[NV][W];
#pragma unroll
    for (int i = 0; i < NV; i++) {
        const int c = i * step + threadIdx.x;
        if (c * W < n) {
            Chunk<T, W>::load(pr, c, x[i]);
            Chunk<T, W>::load(gr, c, g[i]);
        }
    }
    float dot = 0.0f;
#pragma unroll
    for (int i = 0; i < NV; i++) {
        const int c = i * step + threadIdx.x;
#pragma unroll
        for (int k = 0; k < W; k++) {
            const bool vis = c * W + k < n;
            x[i][k] = vis ? x[i][k] : 0.0f;
            g[i][k] = vis ? g[i][k] : 0.0f;
            dot += x[i][k] * g[i][k];
        }
    }
    dot = block_reduce<OpSum>(dot, red_sum, 0.0f);
#pragma unroll
    for (int i = 0; i < NV; i++) {
        const int c = i * step + threadIdx.x;
        if (c * W < p.cols) {
#pragma unroll
            for (int k = 0; k < W; k++) {
                x[i][k] = c * W + k < n ? p.scale * x[i][k] * (g[i][k] - dot) : 0.0f;
            }
            Chunk<T, W>::store(out, c, x[i]);
        }
    }
}

template <typename T, int W>
__device__ __forceinline__ void bwd_online(const SoftmaxParams &p) {
    constexpr int U = 4;
    __shared__ float red_sum[32];
    const int row = blockIdx.x;
    const int n = visible_cols(p, row);
    const size_t base = static_cast<size_t>(row) * p.cols;
    const T *pr = static_cast<const T *>(p.in0) + base;
    const T *gr = static_cast<const T *>(p.in1) + base;
    T *out = static_cast<T *>(p.out) + base;
    const int step = blockDim.x;
    const int nvis = (n + W - 1) / W;
    const int nall = (p.cols + W - 1) / W;

    float dot = 0.0f;
    for (int c0 = threadIdx.x; c0 < nvis; c0 += U * step) {
        float x[U][W], g[U][W];
#pragma unroll
        for (int u = 0; u < U; u++) {
            const int c = c0 + u * step;
            if (c < nvis) {
                Chunk<T, W>::load(pr, c, x[u]);
                Chunk<T, W>::load(gr, c, g[u]);
            }
        }
#pragma unroll
        for (int u = 0; u < U; u++) {
            const int c = c0 + u * step;
#pragma unroll
            for (int k = 0; k < W; k++) {
                if (c < nvis && c * W + k < n) {
                    dot += x[u][k] * g[u][k];
                }
            }
        }
    }
    dot = block_reduce<OpSum>(dot, red_sum, 0.0f);

    for (int c0 = threadIdx.x; c0 < nall; c0 += U * step) {
        float x[U][W], g[U][W];
#pragma unroll
        for (int u = 0; u < U; u++) {
            const int c = c0 + u * step;
            if (c < nvis) {
                Chunk<T, W>::load(pr, c, x[u]);
                Chunk<T, W>::load(gr, c, g[u]);
            }
        }
#pragma unroll
        for (int u = 0; u < U; u++) {
            const int c = c0 + u * step;
            if (c < nall) {
#pragma unroll
                for (int k = 0; k < W; k++) {
                    x[u][k] = c * W + k < n ? p.scale * x[u][k] * (g[u][k] - dot) : 0.0f;
                }
                Chunk<T, W>::store(out, c, x[u]);
            }
        }
    }
}

#define GC_BWD_WARP(name, T, W, LANES, NV)                                               \
    extern "C" __global__ void __launch_bounds__(128) name(const SoftmaxParams p) { \
        bwd_warp<T, W, LANES, NV>(p);                                                \
    }
#define GC_BWD_BLOCK(name, T, W, F, MAXT)                                                \
    extern "C" __global__ void __launch_bounds__(MAXT) name(const SoftmaxParams p) { \
        bwd_block<T, W, F>(p);                                                        \
    }
#define GC_BWD_ONLINE(name, T, W)                                                         \
    extern "C" __global__ void __launch_bounds__(512) name(const SoftmaxParams p) { \
        bwd_online<T, W>(p);                                                          \
    }

#define GC_SOFTMAX_BWD_KERNELS(WARP, BLOCK, ONLINE)                 \
    WARP(softmax_bwd_f32_v_w1x1, float, 4, 1, 1)                    \
    WARP(softmax_bwd_f32_v_w1x2, float, 4, 1, 2)                    \
    WARP(softmax_bwd_f32_v_w2x2, float, 4, 2, 2)                    \
    WARP(softmax_bwd_f32_v_w4x2, float, 4, 4, 2)                    \
    WARP(softmax_bwd_f32_v_w8x2, float, 4, 8, 2)                    \
    WARP(softmax_bwd_f32_v_w16x2, float, 4, 16, 2)                  \
    WARP(softmax_bwd_f32_v_w32x2, float, 4, 32, 2)                  \
    WARP(softmax_bwd_f32_v_w32x4, float, 4, 32, 4)                  \
    WARP(softmax_bwd_f32_v_w32x8, float, 4, 32, 8)                  \
    WARP(softmax_bwd_f32_s_w1x1, float, 1, 1, 1)                    \
    WARP(softmax_bwd_f32_s_w1x2, float, 1, 1, 2)                    \
    WARP(softmax_bwd_f32_s_w2x2, float, 1, 2, 2)                    \
    WARP(softmax_bwd_f32_s_w4x2, float, 1, 4, 2)                    \
    WARP(softmax_bwd_f32_s_w8x2, float, 1, 8, 2)                    \
    WARP(softmax_bwd_f32_s_w16x2, float, 1, 16, 2)                  \
    WARP(softmax_bwd_f32_s_w32x2, float, 1, 32, 2)                  \
    WARP(softmax_bwd_f32_s_w32x4, float, 1, 32, 4)                  \
    WARP(softmax_bwd_f32_s_w32x8, float, 1, 32, 8)                  \
    WARP(softmax_bwd_f32_s_w32x16, float, 1, 32, 16)                \
    WARP(softmax_bwd_f32_s_w32x32, float, 1, 32, 32)                \
    WARP(softmax_bwd_bf16_v_w1x1, bf16_t, 8, 1, 1)                  \
    WARP(softmax_bwd_bf16_v_w1x2, bf16_t, 8, 1, 2)                  \
    WARP(softmax_bwd_bf16_v_w2x2, bf16_t, 8, 2, 2)                  \
    WARP(softmax_bwd_bf16_v_w4x2, bf16_t, 8, 4, 2)                  \
    WARP(softmax_bwd_bf16_v_w8x2, bf16_t, 8, 8, 2)                  \
    WARP(softmax_bwd_bf16_v_w16x2, bf16_t, 8, 16, 2)                \
    WARP(softmax_bwd_bf16_v_w32x2, bf16_t, 8, 32, 2)                \
    WARP(softmax_bwd_bf16_v_w32x4, bf16_t, 8, 32, 4)                \
    WARP(softmax_bwd_bf16_s_w1x1, bf16_t, 1, 1, 1)                  \
    WARP(softmax_bwd_bf16_s_w1x2, bf16_t, 1, 1, 2)                  \
    WARP(softmax_bwd_bf16_s_w2x2, bf16_t, 1, 2, 2)                  \
    WARP(softmax_bwd_bf16_s_w4x2, bf16_t, 1, 4, 2)                  \
    WARP(softmax_bwd_bf16_s_w8x2, bf16_t, 1, 8, 2)                  \
    WARP(softmax_bwd_bf16_s_w16x2, bf16_t, 1, 16, 2)                \
    WARP(softmax_bwd_bf16_s_w32x2, bf16_t, 1, 32, 2)                \
    WARP(softmax_bwd_bf16_s_w32x4, bf16_t, 1, 32, 4)                \
    WARP(softmax_bwd_bf16_s_w32x8, bf16_t, 1, 32, 8)                \
    WARP(softmax_bwd_bf16_s_w32x16, bf16_t, 1, 32, 16)              \
    WARP(softmax_bwd_bf16_s_w32x32, bf16_t, 1, 32, 32)              \
    BLOCK(softmax_bwd_f32_v_b16, float, 4, 16, 1024)                \
    BLOCK(softmax_bwd_f32_v_b32, float, 4, 32, 512)                 \
    BLOCK(softmax_bwd_f32_s_b16, float, 1, 16, 512)                 \
    BLOCK(softmax_bwd_f32_s_b32, float, 1, 32, 256)                 \
    BLOCK(softmax_bwd_bf16_v_b16, bf16_t, 8, 16, 1024)              \
    BLOCK(softmax_bwd_bf16_v_b32, bf16_t, 8, 32, 512)               \
    BLOCK(softmax_bwd_bf16_s_b16, bf16_t, 1, 16, 512)               \
    BLOCK(softmax_bwd_bf16_s_b32, bf16_t, 1, 32, 256)               \
    ONLINE(softmax_bwd_f32_v_online, float, 4)                      \
    ONLINE(softmax_bwd_f32_s_online, float, 1)                      \
    ONLINE(softmax_bwd_bf16_v_online, bf16_t, 8)                    \
    ONLINE(softmax_bwd_bf16_s_online, bf16_t, 1)

GC_SOFTMAX_BWD_KERNELS(GC_BWD_WARP, GC_BWD_BLOCK, GC_BWD_ONLINE)

#ifdef GC_HOST_EMU
#define GC_BWD_ENTRY3(name, T, W) {#name, name},
#define GC_BWD_ENTRY5(name, T, W, A, B) {#name, name},
static const struct {
    const char *name;
    void (*fn)(SoftmaxParams);
} gc_host_kernels[] = {
    GC_SOFTMAX_BWD_KERNELS(GC_BWD_ENTRY5, GC_BWD_ENTRY5, GC_BWD_ENTRY3){nullptr, nullptr}};
#endif
