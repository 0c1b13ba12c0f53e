// Fused attention, forward (FlashAttention-2 style): per (batch, head) and
// block of 64 queries, O = softmax(scale Q K^T [causal]) V and the per-row
// log-sum-exp, without writing the T x T scores: S = Q K^T on the tensor
// cores (mma.sync m16n8k16, bf16 in, fp32 accumulate), online softmax in
// registers (running max and sum per row, base-2 exponentials), P packed to
// bf16 and multiplied by V straight from registers; K and V tiles of 64 keys
// staged in shared memory by cp.async, two stages deep, the next tile in
// flight while the current one is used. With the causal mask, key tiles past
// the query tile's diagonal are skipped and the diagonal tile is masked
// from the indices. See attention_common.cuh for layouts and the math.
//
// Entry points (grid: T/64 x B*H blocks of 128 threads; dynamic shared
// memory (64 + 4*64) * (D + 8) * 2 bytes):
//   attn_fwd_d<D>_<o>    D = 32, 64, 128; <o> = bf16 or f32 (O's type)
// and the conversions the model's fp32 path needs (grid-stride, n elements):
//   attn_cvt_f32_bf16    dst (bf16) = src (fp32), round to nearest even
//   attn_cvt_bf16_f32    dst (fp32) = src (bf16)

#include "attention_common.cuh"

constexpr int ATTN_BR = 64;       // queries per block
constexpr int ATTN_BC = 64;       // keys per tile
constexpr int ATTN_THREADS = 128; // 4 warps, 16 queries each

template <typename OT> struct OutStore;
template <> struct OutStore<float> {
    __device__ __forceinline__ static void store2(float *p, float a, float b) {
        float2 v;
        v.x = a;
        v.y = b;
        *reinterpret_cast<float2 *>(p) = v;
    }
};
template <> struct OutStore<bf16_t> {
    __device__ __forceinline__ static void store2(bf16_t *p, float a, float b) {
        *reinterpret_cast<uint32_t *>(p) = pack_bf16(a, b);
    }
};

template <int D, typename OT>
__device__ __forceinline__ void attn_fwd(const AttnParams &p) {
    constexpr int LDS = D + 8; // padded shared rows: conflict-free ldmatrix
    constexpr int NT = ATTN_BC / 8; // n8 tiles of S per warp
    constexpr int DT = D / 8;       // n8 tiles of O per warp
    GC_ATTN_SMEM(smem);
    bf16_t *sQ = reinterpret_cast<bf16_t *>(smem);
    bf16_t *sK = sQ + ATTN_BR * LDS; // 2 stages
    bf16_t *sV = sK + 2 * ATTN_BC * LDS;

    // Causal: the longest rows (last query blocks) first, so that the
    // short ones fill the tail of the grid.
    const int qb = p.causal ? gridDim.x - 1 - blockIdx.x : blockIdx.x;
    const int bh = blockIdx.y;
    const int b = bh / p.H, h = bh % p.H;
    const int warp = threadIdx.x / 32, lane = threadIdx.x % 32;
    const int g = lane / 4, t4 = lane % 4;
    const long long in_base = b * p.in_sb + h * p.in_sh;
    const bf16_t *Q = static_cast<const bf16_t *>(p.q) + in_base + static_cast<long long>(qb) * ATTN_BR * p.in_st;
    const bf16_t *K = static_cast<const bf16_t *>(p.k) + in_base;
    const bf16_t *V = static_cast<const bf16_t *>(p.v) + in_base;
    const int nkb = p.causal ? qb + 1 : p.T / ATTN_BC;

    load_tile<ATTN_BR, D, LDS, ATTN_THREADS>(sQ, Q, p.in_st);
    cp_async_commit();
    load_tile<ATTN_BC, D, LDS, ATTN_THREADS>(sK, K, p.in_st);
    load_tile<ATTN_BC, D, LDS, ATTN_THREADS>(sV, V, p.in_st);
    cp_async_commit();

    cp_async_wait<1>(); // Q has landed
    __syncthreads();
    uint32_t qf[D / 16][4];
#pragma unroll
    for (int ks = 0; ks < D / 16; ks++) {
        frag_a<LDS>(qf[ks], sQ, warp * 16, ks * 16);
    }

    float o[DT][4];
#pragma unroll
    for (int i = 0; i < DT; i++) {
        o[i][0] = o[i][1] = o[i][2] = o[i][3] = 0.0f;
    }
    float m[2] = {-INFINITY, -INFINITY}, l[2] = {0.0f, 0.0f};
    const int q0 = qb * ATTN_BR + warp * 16 + g; // this lane's first query row

    for (int j = 0; j < nkb; j++) {
        const int stage = j & 1;
        if (j + 1 < nkb) {
            const long long off = static_cast<long long>(j + 1) * ATTN_BC * p.in_st;
            load_tile<ATTN_BC, D, LDS, ATTN_THREADS>(sK + (stage ^ 1) * ATTN_BC * LDS, K + off, p.in_st);
            load_tile<ATTN_BC, D, LDS, ATTN_THREADS>(sV + (stage ^ 1) * ATTN_BC * LDS, V + off, p.in_st);
            cp_async_commit();
            cp_async_wait<1>();
        } else {
            cp_async_wait<0>();
        }
        __syncthreads();
        const bf16_t *k = sK + stage * ATTN_BC * LDS;
        const bf16_t *v = sV + stage * ATTN_BC * LDS;

        // S = Q K^T for this warp's 16 queries x 64 keys.
        float s[NT][4];
#pragma unroll
        for (int i = 0; i < NT; i++) {
            s[i][0] = s[i][1] = s[i][2] = s[i][3] = 0.0f;
        }
#pragma unroll
        for (int ks = 0; ks < D / 16; ks++) {
#pragma unroll
            for (int np = 0; np < NT / 2; np++) {
                uint32_t bf[4];
                frag_b_nk<LDS>(bf, k, np * 16, ks * 16);
                mma_16816(s[2 * np], qf[ks], bf[0], bf[1]);
                mma_16816(s[2 * np + 1], qf[ks], bf[2], bf[3]);
            }
        }

        // Scale (base 2), mask, online softmax. Element r of tile i is row
        // q0 + 8*(r/2), key j*64 + 8i + 2*t4 + r%2.
        const bool diag = p.causal && j == qb;
        float mx[2] = {m[0], m[1]};
#pragma unroll
        for (int i = 0; i < NT; i++) {
#pragma unroll
            for (int r = 0; r < 4; r++) {
                float x = s[i][r] * p.scale_log2e;
                if (diag && j * ATTN_BC + 8 * i + 2 * t4 + (r & 1) > q0 + 8 * (r >> 1)) {
                    x = -INFINITY;
                }
                s[i][r] = x;
                mx[r >> 1] = fmaxf(mx[r >> 1], x);
            }
        }
        float corr[2];
#pragma unroll
        for (int e = 0; e < 2; e++) {
            mx[e] = quad_max(mx[e]); // finite: key 0 of tile 0 is visible to every row
            corr[e] = attn_exp2(m[e] - mx[e]);
            m[e] = mx[e];
            l[e] *= corr[e];
        }
#pragma unroll
        for (int i = 0; i < DT; i++) {
            o[i][0] *= corr[0];
            o[i][1] *= corr[0];
            o[i][2] *= corr[1];
            o[i][3] *= corr[1];
        }
#pragma unroll
        for (int i = 0; i < NT; i++) {
#pragma unroll
            for (int r = 0; r < 4; r++) {
                s[i][r] = attn_exp2(s[i][r] - m[r >> 1]);
                l[r >> 1] += s[i][r];
            }
        }

        // O += P V: P's accumulator tiles 2kk, 2kk+1 are the A operand of
        // keys 16kk..16kk+15.
#pragma unroll
        for (int kk = 0; kk < NT / 2; kk++) {
            uint32_t a[4];
            a[0] = pack_bf16(s[2 * kk][0], s[2 * kk][1]);
            a[1] = pack_bf16(s[2 * kk][2], s[2 * kk][3]);
            a[2] = pack_bf16(s[2 * kk + 1][0], s[2 * kk + 1][1]);
            a[3] = pack_bf16(s[2 * kk + 1][2], s[2 * kk + 1][3]);
#pragma unroll
            for (int dp = 0; dp < DT / 2; dp++) {
                uint32_t bf[4];
                frag_b_kn<LDS>(bf, v, kk * 16, dp * 16);
                mma_16816(o[2 * dp], a, bf[0], bf[1]);
                mma_16816(o[2 * dp + 1], a, bf[2], bf[3]);
            }
        }
        __syncthreads(); // this stage is free for the load two tiles on
    }

    // Normalise, write O and the log-sum-exp (natural log).
    float inv[2];
#pragma unroll
    for (int e = 0; e < 2; e++) {
        l[e] = quad_sum(l[e]);
        inv[e] = 1.0f / l[e];
    }
    OT *O = static_cast<OT *>(p.o) + b * p.out_sb + h * p.out_sh;
#pragma unroll
    for (int i = 0; i < DT; i++) {
        const int d = 8 * i + 2 * t4;
        OutStore<OT>::store2(O + q0 * p.out_st + d, o[i][0] * inv[0], o[i][1] * inv[0]);
        OutStore<OT>::store2(O + (q0 + 8) * p.out_st + d, o[i][2] * inv[1], o[i][3] * inv[1]);
    }
    if (t4 == 0) {
        float *lse = p.lse + static_cast<long long>(bh) * p.T;
        lse[q0] = (m[0] + attn_log2(l[0])) * GC_ATTN_LN2;
        lse[q0 + 8] = (m[1] + attn_log2(l[1])) * GC_ATTN_LN2;
    }
}

// Elementwise conversions (grid-stride over p.n elements).
__device__ __forceinline__ void cvt_f32_bf16(const AttnParams &p) {
    const float *src = static_cast<const float *>(p.src);
    bf16_t *dst = static_cast<bf16_t *>(p.dst);
    const long long stride = static_cast<long long>(gridDim.x) * blockDim.x;
    for (long long i = static_cast<long long>(blockIdx.x) * blockDim.x + threadIdx.x; i < p.n; i += stride) {
        dst[i] = static_cast<bf16_t>(pack_bf16(src[i], 0.0f) & 0xffffu);
    }
}

__device__ __forceinline__ void cvt_bf16_f32(const AttnParams &p) {
    const bf16_t *src = static_cast<const bf16_t *>(p.src);
    float *dst = static_cast<float *>(p.dst);
    const long long stride = static_cast<long long>(gridDim.x) * blockDim.x;
    for (long long i = static_cast<long long>(blockIdx.x) * blockDim.x + threadIdx.x; i < p.n; i += stride) {
        dst[i] = bf16_lo(src[i]);
    }
}

#define GC_ATTN_FWD(name, D, OT)                                                                    \
    extern "C" __global__ void __launch_bounds__(ATTN_THREADS) name(const AttnParams p) { \
        attn_fwd<D, OT>(p);                                                                 \
    }
#define GC_ATTN_CVT(name, fn)                                                        \
    extern "C" __global__ void __launch_bounds__(256) name(const AttnParams p) { \
        fn(p);                                                                   \
    }

#define GC_ATTENTION_FWD_KERNELS(FWD, CVT) \
    FWD(attn_fwd_d32_bf16, 32, bf16_t)     \
    FWD(attn_fwd_d64_bf16, 64, bf16_t)     \
    FWD(attn_fwd_d128_bf16, 128, bf16_t)   \
    FWD(attn_fwd_d32_f32, 32, float)       \
    FWD(attn_fwd_d64_f32, 64, float)       \
    FWD(attn_fwd_d128_f32, 128, float)     \
    CVT(attn_cvt_f32_bf16, cvt_f32_bf16)   \
    CVT(attn_cvt_bf16_f32, cvt_bf16_f32)

GC_ATTENTION_FWD_KERNELS(GC_ATTN_FWD, GC_ATTN_CVT)

#ifdef GC_HOST_EMU
#define GC_ATTN_ENTRY2(name, A) {#name, name},
#define GC_ATTN_ENTRY3(name, A, B) {#name, name},
static const struct {
    const char *name;
    void (*fn)(AttnParams);
} gc_host_kernels[] = {GC_ATTENTION_FWD_KERNELS(GC_ATTN_ENTRY3, GC_ATTN_ENTRY2){nullptr, nullptr}};
#endif
