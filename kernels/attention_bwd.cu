// Fused attention, backward (FlashAttention-2 style, without atomics): the
// scores are recomputed from Q, K and the forward's log-sum-exp, never
// stored. Three kernels, run in this order:
//   attn_bwd_delta_d<D>_<o>  delta = rowsum(dO (.) O), one warp per row
//                            (grid B*H*T/4 blocks of 128 threads)
//   attn_bwd_dq_d<D>         per block of 64 queries, over key tiles:
//                            P = exp(scale Q K^T - lse), dP = dO V^T,
//                            dS = P (.) (dP - delta), dQ = scale dS K
//                            (grid T/64 x B*H, 128 threads)
//   attn_bwd_dkdv_d<D>       per block of 64 keys, over query tiles, all
//                            transposed so that every A operand comes from
//                            registers: P^T = exp(scale K Q^T - lse),
//                            dV = P^T dO, dP^T = V dO^T,
//                            dS^T = P^T (.) (dP^T - delta), dK = scale dS^T Q
//                            (grid T/64 x B*H, 128 threads)
// dQ, dK and dV are written once each (fp32), so the result does not depend
// on scheduling. The causal mask skips the tiles wholly above the diagonal
// and masks the diagonal ones from the indices. Layouts, fragments and the
// math: attention_common.cuh.
//
// Dynamic shared memory: dq: (2*64 + 4*64) * (D + 8) * 2 bytes; dkdv:
// (2*64 + 4*BQ) * (D + 8) * 2 + 16*BQ bytes with BQ = 32 queries per tile
// for D = 128 and 64 otherwise (gpu/attention.go computes both).

#include "attention_common.cuh"

constexpr int ATTN_BLK = 64;      // rows of the outer operand per block
constexpr int ATTN_THREADS = 128; // 4 warps x 16 rows

template <typename OT> struct OutLoad;
template <> struct OutLoad<float> {
    __device__ __forceinline__ static float at(const float *p, int i) { return p[i]; }
};
template <> struct OutLoad<bf16_t> {
    __device__ __forceinline__ static float at(const bf16_t *p, int i) { return bf16_lo(p[i]); }
};

// delta[bh*T + t] = sum_d dO[t][d] O[t][d]: one warp per row.
template <int D, typename OT>
__device__ __forceinline__ void bwd_delta(const AttnParams &p) {
    const long long rows = static_cast<long long>(p.B) * p.H * p.T;
    const long long row = (static_cast<long long>(blockIdx.x) * blockDim.x + threadIdx.x) / 32;
    const int lane = threadIdx.x % 32;
    float acc = 0.0f;
    if (row < rows) {
        const int t = static_cast<int>(row % p.T);
        const int bh = static_cast<int>(row / p.T);
        const int b = bh / p.H, h = bh % p.H;
        const long long off = b * p.out_sb + h * p.out_sh + t * p.out_st;
        const OT *O = static_cast<const OT *>(p.o) + off;
        const bf16_t *dO = static_cast<const bf16_t *>(p.dout) + off;
#pragma unroll
        for (int i = 0; i < D / 32; i++) {
            const int d = i * 32 + lane;
            acc += OutLoad<OT>::at(O, d) * bf16_lo(dO[d]);
        }
    }
    acc += __shfl_xor_sync(0xffffffffu, acc, 16);
    acc += __shfl_xor_sync(0xffffffffu, acc, 8);
    acc += __shfl_xor_sync(0xffffffffu, acc, 4);
    acc += __shfl_xor_sync(0xffffffffu, acc, 2);
    acc += __shfl_xor_sync(0xffffffffu, acc, 1);
    if (row < rows && lane == 0) {
        p.delta[row] = acc;
    }
}

template <int D>
__device__ __forceinline__ void bwd_dq(const AttnParams &p) {
    constexpr int LDS = D + 8;
    constexpr int BC = 64;      // keys per tile
    constexpr int NT = BC / 8;  // n8 tiles of S
    constexpr int DT = D / 8;   // n8 tiles of dQ
    GC_ATTN_SMEM(smem);
    bf16_t *sQ = reinterpret_cast<bf16_t *>(smem);
    bf16_t *sdO = sQ + ATTN_BLK * LDS;
    bf16_t *sK = sdO + ATTN_BLK * LDS; // 2 stages
    bf16_t *sV = sK + 2 * BC * LDS;

    // Causal: the longest rows (last query blocks) first, so that the
    // short ones fill the tail of the grid.
    const int qb = p.causal ? gridDim.x - 1 - blockIdx.x : blockIdx.x;
    const int bh = blockIdx.y;
    const int b = bh / p.H, h = bh % p.H;
    const int warp = threadIdx.x / 32, lane = threadIdx.x % 32;
    const int g = lane / 4, t4 = lane % 4;
    const long long in_base = b * p.in_sb + h * p.in_sh;
    const long long out_base = b * p.out_sb + h * p.out_sh;
    const bf16_t *Q = static_cast<const bf16_t *>(p.q) + in_base + static_cast<long long>(qb) * ATTN_BLK * p.in_st;
    const bf16_t *dO = static_cast<const bf16_t *>(p.dout) + out_base + static_cast<long long>(qb) * ATTN_BLK * p.out_st;
    const bf16_t *K = static_cast<const bf16_t *>(p.k) + in_base;
    const bf16_t *V = static_cast<const bf16_t *>(p.v) + in_base;
    const int nkb = p.causal ? qb + 1 : p.T / BC;

    load_tile<ATTN_BLK, D, LDS, ATTN_THREADS>(sQ, Q, p.in_st);
    load_tile<ATTN_BLK, D, LDS, ATTN_THREADS>(sdO, dO, p.out_st);
    load_tile<BC, D, LDS, ATTN_THREADS>(sK, K, p.in_st);
    load_tile<BC, D, LDS, ATTN_THREADS>(sV, V, p.in_st);
    cp_async_commit();

    const int q0 = qb * ATTN_BLK + warp * 16 + g;
    const float *lse = p.lse + static_cast<long long>(bh) * p.T;
    const float *delta = p.delta + static_cast<long long>(bh) * p.T;
    const float lse2[2] = {lse[q0] * GC_ATTN_LOG2E, lse[q0 + 8] * GC_ATTN_LOG2E};
    const float dl[2] = {delta[q0], delta[q0 + 8]};

    float dq[DT][4];
#pragma unroll
    for (int i = 0; i < DT; i++) {
        dq[i][0] = dq[i][1] = dq[i][2] = dq[i][3] = 0.0f;
    }

    for (int j = 0; j < nkb; j++) {
        const int stage = j & 1;
        if (j + 1 < nkb) {
            const long long off = static_cast<long long>(j + 1) * BC * p.in_st;
            load_tile<BC, D, LDS, ATTN_THREADS>(sK + (stage ^ 1) * BC * LDS, K + off, p.in_st);
            load_tile<BC, D, LDS, ATTN_THREADS>(sV + (stage ^ 1) * BC * LDS, V + off, p.in_st);
            cp_async_commit();
            cp_async_wait<1>();
        } else {
            cp_async_wait<0>();
        }
        __syncthreads();
        const bf16_t *k = sK + stage * BC * LDS;
        const bf16_t *v = sV + stage * BC * LDS;

        // S = Q K^T and dP = dO V^T, 16 queries x 64 keys per warp.
        float s[NT][4], dp[NT][4];
#pragma unroll
        for (int i = 0; i < NT; i++) {
#pragma unroll
            for (int r = 0; r < 4; r++) {
                s[i][r] = 0.0f;
                dp[i][r] = 0.0f;
            }
        }
#pragma unroll
        for (int ks = 0; ks < D / 16; ks++) {
            uint32_t qa[4], da[4];
            frag_a<LDS>(qa, sQ, warp * 16, ks * 16);
            frag_a<LDS>(da, sdO, warp * 16, ks * 16);
#pragma unroll
            for (int np = 0; np < NT / 2; np++) {
                uint32_t bk[4], bv[4];
                frag_b_nk<LDS>(bk, k, np * 16, ks * 16);
                mma_16816(s[2 * np], qa, bk[0], bk[1]);
                mma_16816(s[2 * np + 1], qa, bk[2], bk[3]);
                frag_b_nk<LDS>(bv, v, np * 16, ks * 16);
                mma_16816(dp[2 * np], da, bv[0], bv[1]);
                mma_16816(dp[2 * np + 1], da, bv[2], bv[3]);
            }
        }
        // dS = P (.) (dP - delta), in s.
        const bool diag = p.causal && j == qb;
#pragma unroll
        for (int i = 0; i < NT; i++) {
#pragma unroll
            for (int r = 0; r < 4; r++) {
                const int e = r >> 1;
                float pr = attn_exp2(s[i][r] * p.scale_log2e - lse2[e]);
                if (diag && j * BC + 8 * i + 2 * t4 + (r & 1) > q0 + 8 * e) {
                    pr = 0.0f;
                }
                s[i][r] = pr * (dp[i][r] - dl[e]);
            }
        }
        // dQ += dS K.
#pragma unroll
        for (int kk = 0; kk < NT / 2; kk++) {
            uint32_t a[4];
            a[0] = pack_bf16(s[2 * kk][0], s[2 * kk][1]);
            a[1] = pack_bf16(s[2 * kk][2], s[2 * kk][3]);
            a[2] = pack_bf16(s[2 * kk + 1][0], s[2 * kk + 1][1]);
            a[3] = pack_bf16(s[2 * kk + 1][2], s[2 * kk + 1][3]);
#pragma unroll
            for (int dpi = 0; dpi < DT / 2; dpi++) {
                uint32_t bf[4];
                frag_b_kn<LDS>(bf, k, kk * 16, dpi * 16);
                mma_16816(dq[2 * dpi], a, bf[0], bf[1]);
                mma_16816(dq[2 * dpi + 1], a, bf[2], bf[3]);
            }
        }
        __syncthreads();
    }

    float *dQ = p.dq + b * p.grad_sb + h * p.grad_sh;
#pragma unroll
    for (int i = 0; i < DT; i++) {
        const int d = 8 * i + 2 * t4;
        float2 lo, hi;
        lo.x = dq[i][0] * p.scale;
        lo.y = dq[i][1] * p.scale;
        hi.x = dq[i][2] * p.scale;
        hi.y = dq[i][3] * p.scale;
        *reinterpret_cast<float2 *>(dQ + q0 * p.grad_st + d) = lo;
        *reinterpret_cast<float2 *>(dQ + (q0 + 8) * p.grad_st + d) = hi;
    }
}

template <int D>
__device__ __forceinline__ void bwd_dkdv(const AttnParams &p) {
    constexpr int LDS = D + 8;
    constexpr int BQ = D > 64 ? 32 : 64; // queries per tile (register budget)
    constexpr int NT = BQ / 8;           // n8 tiles of S^T
    constexpr int DT = D / 8;            // n8 tiles of dK, dV
    GC_ATTN_SMEM(smem);
    bf16_t *sK = reinterpret_cast<bf16_t *>(smem);
    bf16_t *sV = sK + ATTN_BLK * LDS;
    bf16_t *sQ = sV + ATTN_BLK * LDS;   // 2 stages
    bf16_t *sdO = sQ + 2 * BQ * LDS;    // 2 stages
    float *sL = reinterpret_cast<float *>(sdO + 2 * BQ * LDS); // lse, 2 stages
    float *sD = sL + 2 * BQ;                                    // delta, 2 stages

    const int kb = blockIdx.x, bh = blockIdx.y;
    const int b = bh / p.H, h = bh % p.H;
    const int warp = threadIdx.x / 32, lane = threadIdx.x % 32;
    const int g = lane / 4, t4 = lane % 4;
    const long long in_base = b * p.in_sb + h * p.in_sh;
    const long long out_base = b * p.out_sb + h * p.out_sh;
    const bf16_t *K = static_cast<const bf16_t *>(p.k) + in_base + static_cast<long long>(kb) * ATTN_BLK * p.in_st;
    const bf16_t *V = static_cast<const bf16_t *>(p.v) + in_base + static_cast<long long>(kb) * ATTN_BLK * p.in_st;
    const bf16_t *Q = static_cast<const bf16_t *>(p.q) + in_base;
    const bf16_t *dO = static_cast<const bf16_t *>(p.dout) + out_base;
    const float *lse = p.lse + static_cast<long long>(bh) * p.T;
    const float *delta = p.delta + static_cast<long long>(bh) * p.T;
    const int first = p.causal ? kb * ATTN_BLK / BQ : 0; // first query tile with a visible query
    const int ntiles = p.T / BQ;

    load_tile<ATTN_BLK, D, LDS, ATTN_THREADS>(sK, K, p.in_st);
    load_tile<ATTN_BLK, D, LDS, ATTN_THREADS>(sV, V, p.in_st);
    {
        const long long off = static_cast<long long>(first) * BQ;
        load_tile<BQ, D, LDS, ATTN_THREADS>(sQ, Q + off * p.in_st, p.in_st);
        load_tile<BQ, D, LDS, ATTN_THREADS>(sdO, dO + off * p.out_st, p.out_st);
        load_vec<BQ, ATTN_THREADS>(sL, lse + off);
        load_vec<BQ, ATTN_THREADS>(sD, delta + off);
    }
    cp_async_commit();

    const int k0 = kb * ATTN_BLK + warp * 16 + g; // this lane's first key row
    float dk[DT][4], dv[DT][4];
#pragma unroll
    for (int i = 0; i < DT; i++) {
#pragma unroll
        for (int r = 0; r < 4; r++) {
            dk[i][r] = 0.0f;
            dv[i][r] = 0.0f;
        }
    }

    for (int it = first; it < ntiles; it++) {
        const int stage = (it - first) & 1;
        if (it + 1 < ntiles) {
            const int ns = stage ^ 1;
            const long long off = static_cast<long long>(it + 1) * BQ;
            load_tile<BQ, D, LDS, ATTN_THREADS>(sQ + ns * BQ * LDS, Q + off * p.in_st, p.in_st);
            load_tile<BQ, D, LDS, ATTN_THREADS>(sdO + ns * BQ * LDS, dO + off * p.out_st, p.out_st);
            load_vec<BQ, ATTN_THREADS>(sL + ns * BQ, lse + off);
            load_vec<BQ, ATTN_THREADS>(sD + ns * BQ, delta + off);
            cp_async_commit();
            cp_async_wait<1>();
        } else {
            cp_async_wait<0>();
        }
        __syncthreads();
        const bf16_t *q = sQ + stage * BQ * LDS;
        const bf16_t *dout = sdO + stage * BQ * LDS;
        const float *ls = sL + stage * BQ;
        const float *dls = sD + stage * BQ;

        // S^T = K Q^T and dP^T = V dO^T: 16 keys x BQ queries per warp.
        float s[NT][4], dp[NT][4];
#pragma unroll
        for (int i = 0; i < NT; i++) {
#pragma unroll
            for (int r = 0; r < 4; r++) {
                s[i][r] = 0.0f;
                dp[i][r] = 0.0f;
            }
        }
#pragma unroll
        for (int ks = 0; ks < D / 16; ks++) {
            uint32_t ka[4], va[4];
            frag_a<LDS>(ka, sK, warp * 16, ks * 16);
            frag_a<LDS>(va, sV, warp * 16, ks * 16);
#pragma unroll
            for (int np = 0; np < NT / 2; np++) {
                uint32_t bq[4], bo[4];
                frag_b_nk<LDS>(bq, q, np * 16, ks * 16);
                mma_16816(s[2 * np], ka, bq[0], bq[1]);
                mma_16816(s[2 * np + 1], ka, bq[2], bq[3]);
                frag_b_nk<LDS>(bo, dout, np * 16, ks * 16);
                mma_16816(dp[2 * np], va, bo[0], bo[1]);
                mma_16816(dp[2 * np + 1], va, bo[2], bo[3]);
            }
        }
        // P^T in s, dS^T in dp. Element r of tile i: key k0 + 8*(r/2),
        // query it*BQ + 8i + 2*t4 + r%2.
        const bool diag = p.causal && it * BQ < kb * ATTN_BLK + ATTN_BLK;
#pragma unroll
        for (int i = 0; i < NT; i++) {
#pragma unroll
            for (int r = 0; r < 4; r++) {
                const int qc = 8 * i + 2 * t4 + (r & 1);
                float pr = attn_exp2(s[i][r] * p.scale_log2e - ls[qc] * GC_ATTN_LOG2E);
                if (diag && k0 + 8 * (r >> 1) > it * BQ + qc) {
                    pr = 0.0f;
                }
                s[i][r] = pr;
                dp[i][r] = pr * (dp[i][r] - dls[qc]);
            }
        }
        // dV += P^T dO and dK += dS^T Q.
#pragma unroll
        for (int kk = 0; kk < NT / 2; kk++) {
            uint32_t pa[4], sa[4];
            pa[0] = pack_bf16(s[2 * kk][0], s[2 * kk][1]);
            pa[1] = pack_bf16(s[2 * kk][2], s[2 * kk][3]);
            pa[2] = pack_bf16(s[2 * kk + 1][0], s[2 * kk + 1][1]);
            pa[3] = pack_bf16(s[2 * kk + 1][2], s[2 * kk + 1][3]);
            sa[0] = pack_bf16(dp[2 * kk][0], dp[2 * kk][1]);
            sa[1] = pack_bf16(dp[2 * kk][2], dp[2 * kk][3]);
            sa[2] = pack_bf16(dp[2 * kk + 1][0], dp[2 * kk + 1][1]);
            sa[3] = pack_bf16(dp[2 * kk + 1][2], dp[2 * kk + 1][3]);
#pragma unroll
            for (int dpi = 0; dpi < DT / 2; dpi++) {
                uint32_t bo[4], bq[4];
                frag_b_kn<LDS>(bo, dout, kk * 16, dpi * 16);
                mma_16816(dv[2 * dpi], pa, bo[0], bo[1]);
                mma_16816(dv[2 * dpi + 1], pa, bo[2], bo[3]);
                frag_b_kn<LDS>(bq, q, kk * 16, dpi * 16);
                mma_16816(dk[2 * dpi], sa, bq[0], bq[1]);
                mma_16816(dk[2 * dpi + 1], sa, bq[2], bq[3]);
            }
        }
        __syncthreads();
    }

    float *dK = p.dk + b * p.grad_sb + h * p.grad_sh;
    float *dV = p.dv + b * p.grad_sb + h * p.grad_sh;
#pragma unroll
    for (int i = 0; i < DT; i++) {
        const int d = 8 * i + 2 * t4;
        float2 v;
        v.x = dk[i][0] * p.scale;
        v.y = dk[i][1] * p.scale;
        *reinterpret_cast<float2 *>(dK + k0 * p.grad_st + d) = v;
        v.x = dk[i][2] * p.scale;
        v.y = dk[i][3] * p.scale;
        *reinterpret_cast<float2 *>(dK + (k0 + 8) * p.grad_st + d) = v;
        v.x = dv[i][0];
        v.y = dv[i][1];
        *reinterpret_cast<float2 *>(dV + k0 * p.grad_st + d) = v;
        v.x = dv[i][2];
        v.y = dv[i][3];
        *reinterpret_cast<float2 *>(dV + (k0 + 8) * p.grad_st + d) = v;
    }
}

#define GC_ATTN_DELTA(name, D, OT)                                                                   \
    extern "C" __global__ void __launch_bounds__(ATTN_THREADS) name(const AttnParams p) { \
        bwd_delta<D, OT>(p);                                                                \
    }
#define GC_ATTN_DQ(name, D)                                                                          \
    extern "C" __global__ void __launch_bounds__(ATTN_THREADS) name(const AttnParams p) { \
        bwd_dq<D>(p);                                                                       \
    }
#define GC_ATTN_DKDV(name, D)                                                                        \
    extern "C" __global__ void __launch_bounds__(ATTN_THREADS) name(const AttnParams p) { \
        bwd_dkdv<D>(p);                                                                     \
    }

#define GC_ATTENTION_BWD_KERNELS(DELTA, DQ, DKDV) \
    DELTA(attn_bwd_delta_d32_bf16, 32, bf16_t)    \
    DELTA(attn_bwd_delta_d64_bf16, 64, bf16_t)    \
    DELTA(attn_bwd_delta_d128_bf16, 128, bf16_t)  \
    DELTA(attn_bwd_delta_d32_f32, 32, float)      \
    DELTA(attn_bwd_delta_d64_f32, 64, float)      \
    DELTA(attn_bwd_delta_d128_f32, 128, float)    \
    DQ(attn_bwd_dq_d32, 32)                       \
    DQ(attn_bwd_dq_d64, 64)                       \
    DQ(attn_bwd_dq_d128, 128)                     \
    DKDV(attn_bwd_dkdv_d32, 32)                   \
    DKDV(attn_bwd_dkdv_d64, 64)                   \
    DKDV(attn_bwd_dkdv_d128, 128)

GC_ATTENTION_BWD_KERNELS(GC_ATTN_DELTA, GC_ATTN_DQ, GC_ATTN_DKDV)

#ifdef GC_HOST_EMU
#define GC_ATTN_ENTRY2(name, A) {#name, name},
#define GC_ATTN_ENTRY3(name, A, B) {#name, name},
static const struct {
    const char *name;
    void (*fn)(AttnParams);
} gc_host_kernels[] = {GC_ATTENTION_BWD_KERNELS(GC_ATTN_ENTRY3, GC_ATTN_ENTRY2, GC_ATTN_ENTRY2){nullptr, nullptr}};
#endif
