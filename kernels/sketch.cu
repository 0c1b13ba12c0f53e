// Worker-side forward sketch y = S x (chain/sketch's Sketch.Apply), for a
// worker's own update: deterministic on the CPU but not consensus, so these
// kernels may sum in another order (and use float atomics for the private
// sketch of the sparse families); the GPU tests compare them with the CPU
// within a tolerance. The SRHT forward is in fwht.cu and is exact.
//
//   sk_sparse_global  CountSketch / SparseEmbedding1/2: y[row] += +-float32(x_j/sqrt t)
//                     with global float atomics (y zeroed by the host).
//   sk_sparse_shared  the same into a block-private sketch in shared memory
//                     (m floats of dynamic shared memory), added to y at the end.
//   sk_gauss_fwd      Gaussian, tiled like a matrix product: a block keeps a
//                     tile of 2048 x values in registers (8 per thread) and
//                     produces the partial row sums of SK_ROWS rows for it,
//                     entries regenerated from the counter, never stored.
//   sk_ams_fwd        AMS: a block stages 64 sign words' worth of x (4096
//                     values) in shared memory; each warp sums rows over it,
//                     one hash per 64 entries.
//   sk_reduce_rows    y_i = float32(sum of the partials of row i, in tile
//                     order) * scale): deterministic run to run.
#include "sketch_common.cuh"

struct SkArgs {
    SkGeom g;            // sketch geometry
    const float *x;      // input (length d)
    float *y;            // output (length m)
    double *partial;     // [ntiles][m] partial row sums (Gaussian, AMS)
    uint32_t ntiles;     // column tiles
    uint32_t row0;       // first row of this launch (grid.y blocks of SK_ROWS rows from here)
};
static_assert(sizeof(SkArgs) == 152, "SkArgs layout is fixed by gpu/sketch_params.go");

#define SK_ROWS 8          // rows per block (Gaussian, AMS)
#define SK_GAUSS_CPT 8     // columns per thread (Gaussian)
#define SK_AMS_WORDS 64    // sign words per tile (AMS)

extern "C" __global__ void __launch_bounds__(256) sk_sparse_global(const SkArgs a) {
    const uint32_t d = (uint32_t)a.g.d, t = a.g.t, stride = a.g.stride, span = a.g.span;
    const SkKey key = a.g.key;
    const uint32_t step = gridDim.x * blockDim.x;
    for (uint32_t j = blockIdx.x * blockDim.x + threadIdx.x; j < d; j += step) {
        const float v = __fmul_rn(a.x[j], a.g.nz_scale);
        const uint64_t base = (uint64_t)j * t;
        for (uint32_t k = 0; k < t; k++) {
            const uint64_t h = gc_hash(key, base + k);
            atomicAdd(&a.y[k * stride + gc_below(h, span)], (h & 1) ? -v : v);
        }
    }
}

extern "C" __global__ void __launch_bounds__(1024) sk_sparse_shared(const SkArgs a) {
    GC_DYN_SMEM(float, s);
    const uint32_t d = (uint32_t)a.g.d, m = (uint32_t)a.g.m, t = a.g.t, stride = a.g.stride, span = a.g.span;
    const SkKey key = a.g.key;
    for (uint32_t i = threadIdx.x; i < m; i += blockDim.x) {
        s[i] = 0.0f;
    }
    __syncthreads();
    const uint32_t step = gridDim.x * blockDim.x;
    for (uint32_t j = blockIdx.x * blockDim.x + threadIdx.x; j < d; j += step) {
        const float v = __fmul_rn(a.x[j], a.g.nz_scale);
        const uint64_t base = (uint64_t)j * t;
        for (uint32_t k = 0; k < t; k++) {
            const uint64_t h = gc_hash(key, base + k);
            atomicAdd(&s[k * stride + gc_below(h, span)], (h & 1) ? -v : v);
        }
    }
    __syncthreads();
    for (uint32_t i = threadIdx.x; i < m; i += blockDim.x) {
        const float v = s[i];
        if (v != 0.0f) {
            atomicAdd(&a.y[i], v);
        }
    }
}

// Block reduction of SK_ROWS float64 sums (fixed order: shuffles, then warps
// in order); thread 0 gets the totals.
__device__ __forceinline__ void sk_block_sums(double *acc, double (*red)[SK_ROWS]) {
    const uint32_t lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
#pragma unroll
    for (int r = 0; r < SK_ROWS; r++) {
        for (int off = 16; off > 0; off >>= 1) {
            acc[r] += __shfl_down_sync(0xffffffffu, acc[r], off);
        }
    }
    if (lane == 0) {
#pragma unroll
        for (int r = 0; r < SK_ROWS; r++) {
            red[warp][r] = acc[r];
        }
    }
    __syncthreads();
    if (threadIdx.x == 0) {
        for (uint32_t w = 1; w < blockDim.x / 32; w++) {
#pragma unroll
            for (int r = 0; r < SK_ROWS; r++) {
                acc[r] += red[w][r];
            }
        }
    }
}

// sk_gauss_fwd: grid (ntiles, ceil(rows / SK_ROWS)), 256 threads.
extern "C" __global__ void __launch_bounds__(256) sk_gauss_fwd(const SkArgs a) {
    __shared__ double red[256 / 32][SK_ROWS];
    const uint64_t d = a.g.d;
    const uint32_t m = (uint32_t)a.g.m;
    const SkKey key = a.g.key;
    const uint64_t col0 = (uint64_t)blockIdx.x * blockDim.x * SK_GAUSS_CPT + threadIdx.x;
    float xs[SK_GAUSS_CPT];
#pragma unroll
    for (int k = 0; k < SK_GAUSS_CPT; k++) {
        const uint64_t j = col0 + (uint64_t)k * blockDim.x;
        xs[k] = j < d ? a.x[j] : 0.0f;
    }
    const uint32_t i0 = a.row0 + blockIdx.y * SK_ROWS;
    double acc[SK_ROWS];
#pragma unroll
    for (int r = 0; r < SK_ROWS; r++) {
        acc[r] = 0.0;
        const uint32_t i = i0 + r;
        if (i < m) {
#pragma unroll
            for (int k = 0; k < SK_GAUSS_CPT; k++) {
                const uint64_t j = col0 + (uint64_t)k * blockDim.x;
                if (j < d) {
                    const uint64_t c = 2 * ((uint64_t)i * d + j);
                    const int32_t T = gc_ih(gc_hash(key, c), gc_hash(key, c + 1));
                    acc[r] += (double)T * (double)xs[k];
                }
            }
        }
    }
    sk_block_sums(acc, red);
    if (threadIdx.x == 0) {
#pragma unroll
        for (int r = 0; r < SK_ROWS; r++) {
            if (i0 + r < m) {
                a.partial[(uint64_t)blockIdx.x * m + i0 + r] = acc[r];
            }
        }
    }
}

// sk_ams_fwd: grid (ntiles, ceil(rows / SK_ROWS)), 256 threads: warp w sums
// row i0+w over the tile, lane l over sign words l and l+32, then the lanes
// by shuffles (fixed order).
extern "C" __global__ void __launch_bounds__(256) sk_ams_fwd(const SkArgs a) {
    __shared__ float xs[SK_AMS_WORDS * 65];  // word w at 65*w: conflict-free columns
    const uint64_t d = a.g.d, words = a.g.words;
    const uint32_t m = (uint32_t)a.g.m;
    const SkKey key = a.g.key;
    const uint64_t g0 = (uint64_t)blockIdx.x * SK_AMS_WORDS;
    for (uint32_t e = threadIdx.x; e < SK_AMS_WORDS * 64; e += blockDim.x) {
        const uint64_t j = g0 * 64 + e;
        xs[(e >> 6) * 65 + (e & 63)] = j < d ? a.x[j] : 0.0f;
    }
    __syncthreads();
    const uint32_t lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
    const uint32_t i = a.row0 + blockIdx.y * SK_ROWS + warp;
    double sum = 0.0;
    if (i < m) {
        for (uint32_t ww = lane; ww < SK_AMS_WORDS; ww += 32) {
            const uint64_t g = g0 + ww;
            if (g < words) {
                const uint64_t h = gc_hash(key, (uint64_t)i * words + g);
                const float *xw = xs + ww * 65;
                double part[4] = {0.0, 0.0, 0.0, 0.0};  // four chains of adds
#pragma unroll
                for (int b = 0; b < 64; b++) {
                    const double v = (double)xw[b];
                    part[b & 3] += ((h >> b) & 1) ? -v : v;
                }
                sum += (part[0] + part[1]) + (part[2] + part[3]);
            }
        }
    }
    for (int off = 16; off > 0; off >>= 1) {
        sum += __shfl_down_sync(0xffffffffu, sum, off);
    }
    if (lane == 0 && i < m) {
        a.partial[(uint64_t)blockIdx.x * m + i] = sum;
    }
}

extern "C" __global__ void __launch_bounds__(256) sk_reduce_rows(const SkArgs a) {
    const uint32_t m = (uint32_t)a.g.m;
    const uint32_t step = gridDim.x * blockDim.x;
    for (uint32_t i = blockIdx.x * blockDim.x + threadIdx.x; i < m; i += step) {
        double acc = 0.0;
        for (uint32_t t = 0; t < a.ntiles; t++) {
            acc += a.partial[(uint64_t)t * m + i];
        }
        a.y[i] = __double2float_rn(acc * a.g.dense);
    }
}
