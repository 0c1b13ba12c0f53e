// nvcc-flags: -fmad=false
//
// Consensus de-sketch kernels: u = S^T y for the sparse families, Gaussian
// and AMS (SRHT is in fwht.cu), and the count-sketch median estimate of
// heavy-hitter recovery. Each coordinate j is produced by one thread doing
// exactly the operations of (*sketch.Sketch).Transpose / estimate in the
// same order (chain/sketch/doc.go, "Consensus operations"), so the result is
// bit-identical to the CPU. The output stage (GcOut) either stores u or
// applies it to the weights (w' = w + coef*u), fusing Apply's update.
//
// Launch shapes (gpu/sketch_engine.go): 1-D grids of 256-thread blocks;
// ds_sparse and ds_estimate loop grid-stride over j; ds_gauss has one
// column per thread; ds_ams one 64-column sign word per warp (grid-stride).
#include "sketch_common.cuh"

struct DsArgs {
    SkGeom g;           // sketch geometry
    GcOut out;          // output stage
    const float *y;     // sketch (length m)
    float *u;           // ds_estimate: median estimates (length d)
    unsigned *hist1;    // ds_estimate: level-1 top-k histogram (GC_TOPK_BINS1), or null
};
static_assert(sizeof(DsArgs) == 184, "DsArgs layout is fixed by gpu/sketch_params.go");

// ds_sparse: CountSketch / SparseEmbedding1 / SparseEmbedding2 transpose.
//   acc = +0; for a = 0..t-1: acc = acc +- y[row_a(j)]; u_j = float32(acc * (1/sqrt t)).
extern "C" __global__ void __launch_bounds__(256) ds_sparse(const DsArgs a) {
    const uint32_t d = (uint32_t)a.g.d, t = a.g.t, stride = a.g.stride, span = a.g.span;
    const SkKey key = a.g.key;
    const uint32_t step = gridDim.x * blockDim.x;
    for (uint32_t j = blockIdx.x * blockDim.x + threadIdx.x; j < d; j += step) {
        float acc = 0.0f;
        const uint64_t base = (uint64_t)j * t;
        for (uint32_t k = 0; k < t; k++) {
            const uint64_t h = gc_hash(key, base + k);
            const float v = a.y[k * stride + gc_below(h, span)];
            acc = (h & 1) ? __fsub_rn(acc, v) : __fadd_rn(acc, v);
        }
        gc_out(a.out, j, __fmul_rn(acc, a.g.nz_scale));
    }
}

// ds_median is sketch.median over v[0..n-1] (n >= 4: insertion sort by <,
// then the middle value or float32(float32(lo+hi)*0.5)).
__device__ __forceinline__ float ds_median_sort(float *v, uint32_t n) {
    for (uint32_t i = 1; i < n; i++) {
        const float x = v[i];
        uint32_t k = i;
        while (k > 0 && x < v[k - 1]) {
            v[k] = v[k - 1];
            k--;
        }
        v[k] = x;
    }
    if (n & 1) {
        return v[n / 2];
    }
    return __fmul_rn(__fadd_rn(v[n / 2 - 1], v[n / 2]), 0.5f);
}

// ds_estimate: heavy-hitter estimate est_j = float32(median_a(+-y[row_a(j)]) * sqrt t),
// a zero median taken as +0, stored to u; with hist1 also counts the
// level-1 top-k bins of the estimates (integer atomics).
extern "C" __global__ void __launch_bounds__(256) ds_estimate(const DsArgs a) {
    __shared__ unsigned hist[GC_TOPK_BINS1];
    const bool want_hist = a.hist1 != nullptr;
    if (want_hist) {
        for (uint32_t i = threadIdx.x; i < GC_TOPK_BINS1; i += blockDim.x) {
            hist[i] = 0;
        }
    }
    __syncthreads();
    const uint32_t d = (uint32_t)a.g.d, t = a.g.t, stride = a.g.stride, span = a.g.span;
    const SkKey key = a.g.key;
    const uint32_t step = gridDim.x * blockDim.x;
    for (uint32_t j = blockIdx.x * blockDim.x + threadIdx.x; j < d; j += step) {
        const uint64_t base = (uint64_t)j * t;
        float med;
        if (t <= 3) {
            float v[3] = {0.0f, 0.0f, 0.0f};
#pragma unroll
            for (uint32_t k = 0; k < 3; k++) {
                if (k < t) {
                    const uint64_t h = gc_hash(key, base + k);
                    const float x = a.y[k * stride + gc_below(h, span)];
                    v[k] = (h & 1) ? -x : x;
                }
            }
            if (t == 1) {
                med = v[0];
            } else if (t == 2) {
                med = __fmul_rn(__fadd_rn(v[0], v[1]), 0.5f);
            } else {
                // sketch.median for 3: with lo <= hi, max(lo, min(hi, c)).
                float lo = v[0], hi = v[1];
                if (lo > hi) {
                    const float s = lo;
                    lo = hi;
                    hi = s;
                }
                if (v[2] < hi) {
                    hi = v[2];
                }
                med = (lo > hi) ? lo : hi;
            }
        } else {
            float v[64];
            for (uint32_t k = 0; k < t; k++) {
                const uint64_t h = gc_hash(key, base + k);
                const float x = a.y[k * stride + gc_below(h, span)];
                v[k] = (h & 1) ? -x : x;
            }
            med = ds_median_sort(v, t);
        }
        if ((__float_as_uint(med) & 0x7fffffffu) == 0) {
            med = 0.0f;  // canonical +0
        }
        const float est = __fmul_rn(med, a.g.sqrt_t);
        a.u[j] = est;
        if (want_hist) {
            atomicAdd(&hist[gc_topk_key(est) >> GC_TOPK_SHIFT1], 1u);
        }
    }
    if (want_hist) {
        __syncthreads();
        for (uint32_t i = threadIdx.x; i < GC_TOPK_BINS1; i += blockDim.x) {
            if (hist[i] != 0) {
                atomicAdd(&a.hist1[i], hist[i]);
            }
        }
    }
}

#define DS_GAUSS_TILE 1024

// ds_gauss: Gaussian transpose, one column per thread:
//   acc = 0 (float64); for i = 0..m-1: acc += float64(T_ij) * float64(y_i)
//   u_j = float32(acc * scale)
// The product of a 20-bit integer and a float32 is exact in float64; the sum
// is rounded once per step, in row order, as on the CPU. y is staged
// through shared memory; the entries are regenerated, never stored.
extern "C" __global__ void __launch_bounds__(256) ds_gauss(const DsArgs a) {
    __shared__ float ys[DS_GAUSS_TILE];
    const uint64_t d = a.g.d;
    const uint32_t m = (uint32_t)a.g.m;
    const uint32_t j = blockIdx.x * blockDim.x + threadIdx.x;
    const SkKey key = a.g.key;
    const bool live = j < d;
    double acc = 0.0;
    uint64_t ctr = 2 * (uint64_t)j;  // 2c for c = i*d + j
    const uint64_t step = 2 * d;
    for (uint32_t i0 = 0; i0 < m; i0 += DS_GAUSS_TILE) {
        const uint32_t n = (m - i0 < DS_GAUSS_TILE) ? m - i0 : DS_GAUSS_TILE;
        __syncthreads();
        for (uint32_t k = threadIdx.x; k < n; k += blockDim.x) {
            ys[k] = a.y[i0 + k];
        }
        __syncthreads();
        if (live) {
            for (uint32_t k = 0; k < n; k++) {
                const int32_t T = gc_ih(gc_hash(key, ctr), gc_hash(key, ctr + 1));
                acc = __dadd_rn(acc, __dmul_rn((double)T, (double)ys[k]));
                ctr += step;
            }
        }
    }
    if (live) {
        gc_out(a.out, j, __double2float_rn(__dmul_rn(acc, a.g.dense)));
    }
}

// ds_ams: AMS transpose. A warp owns one sign word g (columns 64g..64g+63;
// lane l holds columns 64g+l and 64g+32+l); for each group of 32 rows every
// lane hashes one row's word and the warp shares them by shuffles:
//   acc = 0 (float64); for i = 0..m-1: acc = acc -+ float64(y_i) (minus iff the bit is 1)
//   u_j = float32(acc * (1/sqrt m))
extern "C" __global__ void __launch_bounds__(256) ds_ams(const DsArgs a) {
    const uint32_t lane = threadIdx.x & 31;
    const uint64_t words = a.g.words, d = a.g.d;
    const uint32_t m = (uint32_t)a.g.m;
    const SkKey key = a.g.key;
    const uint64_t nwarps = ((uint64_t)gridDim.x * blockDim.x) >> 5;
    for (uint64_t g = ((uint64_t)blockIdx.x * blockDim.x + threadIdx.x) >> 5; g < words; g += nwarps) {
        double acc0 = 0.0, acc1 = 0.0;
        for (uint32_t i0 = 0; i0 < m; i0 += 32) {
            const uint32_t i = i0 + lane;
            uint64_t hl = 0;
            float yl = 0.0f;
            if (i < m) {
                hl = gc_hash(key, (uint64_t)i * words + g);
                yl = a.y[i];
            }
            const uint32_t n = (m - i0 < 32) ? m - i0 : 32;
            for (uint32_t k = 0; k < n; k++) {
                const uint64_t h = __shfl_sync(0xffffffffu, hl, k);
                const double v = (double)__shfl_sync(0xffffffffu, yl, k);
                acc0 = ((h >> lane) & 1) ? __dsub_rn(acc0, v) : __dadd_rn(acc0, v);
                acc1 = ((h >> (lane + 32)) & 1) ? __dsub_rn(acc1, v) : __dadd_rn(acc1, v);
            }
        }
        const uint64_t j0 = g * 64 + lane, j1 = j0 + 32;
        if (j0 < d) {
            gc_out(a.out, (uint32_t)j0, __double2float_rn(__dmul_rn(acc0, a.g.dense)));
        }
        if (j1 < d) {
            gc_out(a.out, (uint32_t)j1, __double2float_rn(__dmul_rn(acc1, a.g.dense)));
        }
    }
}
