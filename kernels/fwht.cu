// nvcc-flags: -fmad=false
//
// Fast Walsh-Hadamard transform and the SRHT around it (consensus for the
// de-sketch, and the worker's forward sketch, which is exact too).
//
// sketch.FWHT defines the transform as the radix-2 network: for h = 1, 2,
// 4, ..., every pair (k, k+h) with k mod 2h < h becomes (z[k]+z[k+h],
// z[k]-z[k+h]) in float32. Every output is the same expression tree
// whatever the schedule, so a pass may run any group of consecutive stages
// on a tile that holds whole butterflies: the result is bit-identical.
//
// fwht_pass runs stages s0 .. s0+k-1 of an n = 2^L transform. A tile is
// 2^k positions along the transform axis (stride 2^s0) times 2^c consecutive
// columns (c <= s0, so that reads are 2^c floats long), 2^(k+c) floats in
// dynamic shared memory; one block per tile. Stages run two at a time
// (radix 4, the same network) between barriers.
//
// The first pass reads its input through in_mode, the last writes through
// out_mode, so that the SRHT needs no separate passes:
//   IN_PLAIN  z (positions >= zlimit read as +0: tiles never written)
//   IN_SIGNED D x: -x_j if D_j = -1, x_j, +0 for j >= d    (forward)
//   IN_GATHER z_p = (+0 + y_r1) + y_r2 ... over the rows r1 < r2 < ... that
//             sample position p, in row order (transpose: "z[row_r] += y_r"
//             serially)
//   OUT_PLAIN   z
//   OUT_FINAL   u_j = +-float32(z_j * (1/sqrt m)) for j < d, through GcOut (transpose)
//   OUT_SAMPLE  dst_r = float32(z_p * (1/sqrt m)) for every row r sampling p (forward)
//
// Which rows sample a position comes from srht_link_init / srht_link: a bit
// per position (bitmap) and, per sampled position, a list through head/next
// built with atomicExch. The list order depends on scheduling; IN_GATHER
// sums it in increasing row order, so the result does not.
#include "sketch_common.cuh"

enum { FW_IN_PLAIN = 0, FW_IN_SIGNED = 1, FW_IN_GATHER = 2 };
enum { FW_OUT_PLAIN = 0, FW_OUT_FINAL = 1, FW_OUT_SAMPLE = 2 };

struct FwhtArgs {
    SkGeom g;              // sketch geometry (d, m, pad, keys, scale)
    GcOut out;             // OUT_FINAL output stage
    const float *src;      // IN_PLAIN input (may equal z: a block reads its tile before writing it)
    float *z;              // OUT_PLAIN output (length pad)
    const float *x;        // IN_SIGNED input (length d)
    const float *y;        // IN_GATHER sketch (length m)
    float *dst;            // OUT_SAMPLE sketch (length m)
    int *head;             // per position: a row sampling it, the list head (valid where the bit is set)
    int *next;             // per row: the next row of the same position, -1 at the end
    unsigned *bitmap;      // pad bits: position sampled by some row
    uint32_t s0;           // first stage: butterfly distance 2^s0
    uint32_t k;            // stages in this pass
    uint32_t c;            // log2 of the columns of a tile (c <= s0)
    uint32_t in_mode;
    uint32_t out_mode;
    uint32_t zlimit;       // IN_PLAIN: positions >= zlimit read as +0
};
static_assert(sizeof(FwhtArgs) == 248, "FwhtArgs layout is fixed by gpu/sketch_params.go");

__device__ __forceinline__ bool fw_sampled(const FwhtArgs &a, uint32_t p) {
    return (a.bitmap[p >> 5] >> (p & 31)) & 1u;
}

// fw_gather is z_p: the sketch values of the rows sampling p, summed in
// increasing row order starting from +0. Lists are short (a few rows).
__device__ float fw_gather(const FwhtArgs &a, uint32_t p) {
    float acc = 0.0f;
    if (!fw_sampled(a, p)) {
        return acc;
    }
    const int first = a.head[p];
    int prev = -1;
    for (;;) {
        int best = 0x7fffffff;
        for (int r = first; r >= 0; r = a.next[r]) {
            if (r > prev && r < best) {
                best = r;
            }
        }
        if (best == 0x7fffffff) {
            break;
        }
        acc = __fadd_rn(acc, a.y[best]);
        prev = best;
    }
    return acc;
}

__device__ __forceinline__ float fw_load(const FwhtArgs &a, uint32_t p) {
    switch (a.in_mode) {
    case FW_IN_SIGNED:
        if (p >= a.g.d) {
            return 0.0f;
        }
        return gc_srht_neg(a.g, p) ? -a.x[p] : a.x[p];
    case FW_IN_GATHER:
        return fw_gather(a, p);
    default:
        return p < a.zlimit ? a.src[p] : 0.0f;
    }
}

__device__ __forceinline__ void fw_store(const FwhtArgs &a, uint32_t p, float v) {
    switch (a.out_mode) {
    case FW_OUT_FINAL:
        if (p < a.g.d) {
            float u = __fmul_rn(v, a.g.srht_scale);
            if (gc_srht_neg(a.g, p)) {
                u = -u;
            }
            gc_out(a.out, p, u);
        }
        break;
    case FW_OUT_SAMPLE:
        if (fw_sampled(a, p)) {
            const float s = __fmul_rn(v, a.g.srht_scale);
            for (int r = a.head[p]; r >= 0; r = a.next[r]) {
                a.dst[r] = s;
            }
        }
        break;
    default:
        a.z[p] = v;
    }
}

extern "C" __global__ void __launch_bounds__(1024) fwht_pass(const FwhtArgs a) {
    GC_DYN_SMEM(float, s);
    const uint32_t c = a.c, kk = a.k, s0 = a.s0;
    const uint32_t tile = 1u << (kk + c), cmask = (1u << c) - 1;
    // Tile number -> first position: the column-block bits [c, s0) and the
    // bits above the transform axis [s0+k, L).
    const uint32_t lowbits = s0 - c;
    const uint32_t lb = blockIdx.x & ((1u << lowbits) - 1);
    const uint32_t hb = blockIdx.x >> lowbits;
    const uint32_t base = (hb << (s0 + kk)) | (lb << c);
    for (uint32_t e = threadIdx.x; e < tile; e += blockDim.x) {
        s[e] = fw_load(a, base + ((e >> c) << s0) + (e & cmask));
    }
    __syncthreads();
    uint32_t st = 0;
    for (; st + 2 <= kk; st += 2) {
        // Stages st and st+1 on quads (q, q+h, q+2h, q+3h): sketch's radix4Pass.
        const uint32_t h = 1u << st, hc = h << c;
        for (uint32_t p = threadIdx.x; p < tile / 4; p += blockDim.x) {
            const uint32_t col = p & cmask, r = p >> c;
            const uint32_t q0 = ((r >> st) << (st + 2)) | (r & (h - 1));
            const uint32_t i0 = (q0 << c) | col;
            const float a0 = s[i0], a1 = s[i0 + hc], a2 = s[i0 + 2 * hc], a3 = s[i0 + 3 * hc];
            const float b0 = __fadd_rn(a0, a1), b1 = __fsub_rn(a0, a1);
            const float b2 = __fadd_rn(a2, a3), b3 = __fsub_rn(a2, a3);
            s[i0] = __fadd_rn(b0, b2);
            s[i0 + 2 * hc] = __fsub_rn(b0, b2);
            s[i0 + hc] = __fadd_rn(b1, b3);
            s[i0 + 3 * hc] = __fsub_rn(b1, b3);
        }
        __syncthreads();
    }
    if (st < kk) {
        const uint32_t h = 1u << st, hc = h << c;
        for (uint32_t p = threadIdx.x; p < tile / 2; p += blockDim.x) {
            const uint32_t col = p & cmask, r = p >> c;
            const uint32_t q0 = ((r >> st) << (st + 1)) | (r & (h - 1));
            const uint32_t i0 = (q0 << c) | col;
            const float a0 = s[i0], a1 = s[i0 + hc];
            s[i0] = __fadd_rn(a0, a1);
            s[i0 + hc] = __fsub_rn(a0, a1);
        }
        __syncthreads();
    }
    for (uint32_t e = threadIdx.x; e < tile; e += blockDim.x) {
        fw_store(a, base + ((e >> c) << s0) + (e & cmask), s[e]);
    }
}

// fwht_pass_reg is fwht_pass with the stages in registers: each thread
// holds 32 values of a tile whose transform-axis index q differs in a window
// of 5 bits, runs up to 5 stages on them, and the block exchanges values
// through shared memory between rounds (windows [0,5), [5,10), ..., the last
// one ending at bit k; a stage is never run twice). Stages still run in
// increasing order, each as the network's butterflies, so the result is
// fwht_pass's. Needs k >= 5; 2^(k+c-5) threads per block. Shared memory:
// the tile with one float of padding per 32 (bank-conflict-free strides).
// A contiguous tile (c = 0, the first pass) is staged through shared memory
// so that global reads stay coalesced; other tiles read 2^c-float rows
// directly.
#define FW_LR 5
#define FW_R (1 << FW_LR)
__device__ __forceinline__ uint32_t fw_pad(uint32_t e) { return e + (e >> 5); }

extern "C" __global__ void __launch_bounds__(1024) fwht_pass_reg(const FwhtArgs a) {
    GC_DYN_SMEM(float, s);
    const uint32_t c = a.c, kk = a.k, s0 = a.s0;
    const uint32_t tile = 1u << (kk + c), cmask = (1u << c) - 1;
    const uint32_t lowbits = s0 - c;
    const uint32_t lb = blockIdx.x & ((1u << lowbits) - 1);
    const uint32_t hb = blockIdx.x >> lowbits;
    const uint32_t base = (hb << (s0 + kk)) | (lb << c);
    const uint32_t t = threadIdx.x;
    const uint32_t col = t & cmask, qo = t >> c;  // qo: the k-5 bits of q outside the window
    const uint32_t nrounds = (kk + FW_LR - 1) / FW_LR;
    if (c == 0) {
        for (uint32_t e = t; e < tile; e += blockDim.x) {
            s[fw_pad(e)] = fw_load(a, base + (e << s0));
        }
        __syncthreads();
    }
    float v[FW_R];
    for (uint32_t rd = 0; rd < nrounds; rd++) {
        const uint32_t st0 = rd * FW_LR, st1 = (st0 + FW_LR < kk) ? st0 + FW_LR : kk;
        const uint32_t lo = (st0 < kk - FW_LR) ? st0 : kk - FW_LR;  // window [lo, lo+5)
        const uint32_t qlow = qo & ((1u << lo) - 1), qhigh = (qo >> lo) << (lo + FW_LR);
        if (rd == 0 && c != 0) {
#pragma unroll
            for (int j = 0; j < FW_R; j++) {
                const uint32_t q = qhigh | ((uint32_t)j << lo) | qlow;
                v[j] = fw_load(a, base + (q << s0) + col);
            }
        } else {
            if (rd > 0) {
                __syncthreads();  // the previous round's values are all written
            }
#pragma unroll
            for (int j = 0; j < FW_R; j++) {
                const uint32_t q = qhigh | ((uint32_t)j << lo) | qlow;
                v[j] = s[fw_pad((q << c) | col)];
            }
        }
#pragma unroll
        for (int b = 0; b < FW_LR; b++) {
            if (lo + b >= st0 && lo + b < st1) {
#pragma unroll
                for (int j = 0; j < FW_R; j++) {
                    if ((j & (1 << b)) == 0) {
                        const float x = v[j], y = v[j | (1 << b)];
                        v[j] = __fadd_rn(x, y);
                        v[j | (1 << b)] = __fsub_rn(x, y);
                    }
                }
            }
        }
        if (rd + 1 < nrounds) {
            __syncthreads();  // everyone has read this round's values
#pragma unroll
            for (int j = 0; j < FW_R; j++) {
                const uint32_t q = qhigh | ((uint32_t)j << lo) | qlow;
                s[fw_pad((q << c) | col)] = v[j];
            }
        } else {
#pragma unroll
            for (int j = 0; j < FW_R; j++) {
                const uint32_t q = qhigh | ((uint32_t)j << lo) | qlow;
                fw_store(a, base + (q << s0) + col, v[j]);
            }
        }
    }
}

// srht_link_init marks every sampled position (bitmap, zeroed by the host)
// and resets its list head. Rows sampling the same position all write -1.
extern "C" __global__ void __launch_bounds__(256) srht_link_init(const FwhtArgs a) {
    const uint32_t m = (uint32_t)a.g.m, pad = (uint32_t)a.g.pad;
    const uint32_t step = gridDim.x * blockDim.x;
    for (uint32_t r = blockIdx.x * blockDim.x + threadIdx.x; r < m; r += step) {
        const uint32_t p = gc_below(gc_hash(a.g.keyP, r), pad);
        a.head[p] = -1;
        atomicOr(&a.bitmap[p >> 5], 1u << (p & 31));
    }
}

// srht_link pushes every row onto its position's list (after srht_link_init).
extern "C" __global__ void __launch_bounds__(256) srht_link(const FwhtArgs a) {
    const uint32_t m = (uint32_t)a.g.m, pad = (uint32_t)a.g.pad;
    const uint32_t step = gridDim.x * blockDim.x;
    for (uint32_t r = blockIdx.x * blockDim.x + threadIdx.x; r < m; r += step) {
        const uint32_t p = gc_below(gc_hash(a.g.keyP, r), pad);
        a.next[r] = atomicExch(&a.head[p], (int)r);
    }
}
