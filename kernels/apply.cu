// nvcc-flags: -fmad=false
//
// Apply's last steps on the device, bit-exact with chain/state:
//
//   ap_update  u_j (optionally zeroed unless top-k keeps j) through the
//              output stage GcOut: store, or w'_j = float32(w_j + float32(coef*u_j))
//              with the lowest non-finite index in *bad.
//   ap_leaf    the leaf hashes of the state root (state.Root): leaf i is
//              SHA-256(0x00 || the little-endian bytes of w[i*chunk : min((i+1)*chunk, n)]),
//              one thread per leaf. The tree above the leaves is hashed on
//              the host (gpu/apply.go).
#include "sketch_common.cuh"

struct ApArgs {
    GcOut out;              // ap_update output stage
    const float *u;         // ap_update input (length n)
    const TopkState *st;    // ap_update: top-k mask, or null to keep every value
    const float *w;         // ap_leaf: weights (length n)
    uint8_t *leaves;        // ap_leaf: 32 bytes per leaf
    uint32_t n;
    uint32_t chunk;         // ap_leaf: floats per leaf
    uint32_t nleaves;       // ap_leaf
    uint32_t pad;
};
static_assert(sizeof(ApArgs) == 88, "ApArgs layout is fixed by gpu/sketch_params.go");

extern "C" __global__ void __launch_bounds__(256) ap_update(const ApArgs a) {
    const bool masked = a.st != nullptr;
    TopkState st;
    st.thr = 0;
    st.cutoff = 0xffffffffu;
    if (masked) {
        st = *a.st;
    }
    // Four values per thread per step, loaded before any is used (more
    // loads in flight for this memory-bound pass).
    const uint32_t step = gridDim.x * blockDim.x;
    uint32_t j = blockIdx.x * blockDim.x + threadIdx.x;
    for (; j + 3 * step < a.n; j += 4 * step) {
        float v[4], w[4];
#pragma unroll
        for (int i = 0; i < 4; i++) {
            v[i] = a.u[j + i * step];
            w[i] = a.out.mode == GC_OUT_APPLY ? a.out.w[j + i * step] : 0.0f;
        }
#pragma unroll
        for (int i = 0; i < 4; i++) {
            const uint32_t ji = j + i * step;
            if (masked && !gc_topk_keep(st, ji, v[i])) {
                v[i] = 0.0f;
            }
            if (a.out.mode == GC_OUT_APPLY) {
                const float nw = __fadd_rn(w[i], __fmul_rn(a.out.coef, v[i]));
                if (!gc_finite(nw)) {
                    atomicMin(a.out.bad, ji);
                }
                a.out.wout[ji] = nw;
            } else {
                a.out.dst[ji] = v[i];
            }
        }
    }
    for (; j < a.n; j += step) {
        float v = a.u[j];
        if (masked && !gc_topk_keep(st, j, v)) {
            v = 0.0f;
        }
        gc_out(a.out, j, v);
    }
}

__device__ __forceinline__ uint32_t ap_rotr(uint32_t x, uint32_t n) { return (x >> n) | (x << (32 - n)); }

__device__ __forceinline__ uint32_t ap_k(int t) {
    constexpr uint32_t k[64] = {
        0x428a2f98u, 0x71374491u, 0xb5c0fbcfu, 0xe9b5dba5u, 0x3956c25bu, 0x59f111f1u, 0x923f82a4u, 0xab1c5ed5u,
        0xd807aa98u, 0x12835b01u, 0x243185beu, 0x550c7dc3u, 0x72be5d74u, 0x80deb1feu, 0x9bdc06a7u, 0xc19bf174u,
        0xe49b69c1u, 0xefbe4786u, 0x0fc19dc6u, 0x240ca1ccu, 0x2de92c6fu, 0x4a7484aau, 0x5cb0a9dcu, 0x76f988dau,
        0x983e5152u, 0xa831c66du, 0xb00327c8u, 0xbf597fc7u, 0xc6e00bf3u, 0xd5a79147u, 0x06ca6351u, 0x14292967u,
        0x27b70a85u, 0x2e1b2138u, 0x4d2c6dfcu, 0x53380d13u, 0x650a7354u, 0x766a0abbu, 0x81c2c92eu, 0x92722c85u,
        0xa2bfe8a1u, 0xa81a664bu, 0xc24b8b70u, 0xc76c51a3u, 0xd192e819u, 0xd6990624u, 0xf40e3585u, 0x106aa070u,
        0x19a4c116u, 0x1e376c08u, 0x2748774cu, 0x34b0bcb5u, 0x391c0cb3u, 0x4ed8aa4au, 0x5b9cca4fu, 0x682e6ff3u,
        0x748f82eeu, 0x78a5636fu, 0x84c87814u, 0x8cc70208u, 0x90befffau, 0xa4506cebu, 0xbef9a3f7u, 0xc67178f2u,
    };
    return k[t];
}

// ap_compress is one SHA-256 compression of the 16 big-endian words w.
__device__ __forceinline__ void ap_compress(uint32_t *hs, uint32_t *w) {
    uint32_t a = hs[0], b = hs[1], c = hs[2], d = hs[3], e = hs[4], f = hs[5], g = hs[6], h = hs[7];
#pragma unroll
    for (int t = 0; t < 64; t++) {
        uint32_t wt;
        if (t < 16) {
            wt = w[t];
        } else {
            const uint32_t w15 = w[(t - 15) & 15], w2 = w[(t - 2) & 15];
            const uint32_t s0 = ap_rotr(w15, 7) ^ ap_rotr(w15, 18) ^ (w15 >> 3);
            const uint32_t s1 = ap_rotr(w2, 17) ^ ap_rotr(w2, 19) ^ (w2 >> 10);
            wt = w[t & 15] + s0 + w[(t - 7) & 15] + s1;
            w[t & 15] = wt;
        }
        const uint32_t S1 = ap_rotr(e, 6) ^ ap_rotr(e, 11) ^ ap_rotr(e, 25);
        const uint32_t ch = g ^ (e & (f ^ g));
        const uint32_t t1 = h + S1 + ch + ap_k(t) + wt;
        const uint32_t S0 = ap_rotr(a, 2) ^ ap_rotr(a, 13) ^ ap_rotr(a, 22);
        const uint32_t mj = (a & b) | (c & (a | b));
        const uint32_t t2 = S0 + mj;
        h = g;
        g = f;
        f = e;
        e = d + t1;
        d = c;
        c = b;
        b = a;
        a = t1 + t2;
    }
    hs[0] += a;
    hs[1] += b;
    hs[2] += c;
    hs[3] += d;
    hs[4] += e;
    hs[5] += f;
    hs[6] += g;
    hs[7] += h;
}

// Message word p of a leaf is bytes 4p..4p+3 of 0x00 || data || padding,
// big-endian: the last byte of data word p-1 and the first three of data
// word p. Data word len (just past the data) is 0x80 (the padding's first
// byte), later ones 0; the bit length goes in the last two words.
extern "C" __global__ void __launch_bounds__(128) ap_leaf(const ApArgs a) {
    const uint32_t leaf = blockIdx.x * blockDim.x + threadIdx.x;
    if (leaf >= a.nleaves) {
        return;
    }
    const uint64_t off = (uint64_t)leaf * a.chunk;
    const uint32_t len = (uint32_t)((a.n - off < a.chunk) ? a.n - off : a.chunk);
    const uint32_t *data = reinterpret_cast<const uint32_t *>(a.w) + off;
    const uint64_t bytes = 1 + 4 * (uint64_t)len;
    const uint32_t nblocks = (uint32_t)((bytes + 72) / 64);
    const bool aligned = (off & 3) == 0;
    uint32_t hs[8] = {0x6a09e667u, 0xbb67ae85u, 0x3c6ef372u, 0xa54ff53au,
                      0x510e527fu, 0x9b05688cu, 0x1f83d9abu, 0x5be0cd19u};
    // Full 64-byte blocks of aligned data are loaded one block ahead, so that
    // the loads overlap the previous compression (few threads: one per leaf).
    const uint32_t nfull = aligned ? len / 16 : 0;
    uint4 nx[4];
    if (nfull > 0) {
        const uint4 *p = reinterpret_cast<const uint4 *>(data);
#pragma unroll
        for (int i = 0; i < 4; i++) {
            nx[i] = p[i];
        }
    }
    uint32_t prev = 0;
    for (uint32_t blk = 0; blk < nblocks; blk++) {
        uint32_t w[16];
        const uint32_t q0 = blk * 16;
        if (blk < nfull) {
            uint4 x[4];
#pragma unroll
            for (int i = 0; i < 4; i++) {
                x[i] = nx[i];
            }
            if (blk + 1 < nfull) {
                const uint4 *p = reinterpret_cast<const uint4 *>(data + q0 + 16);
#pragma unroll
                for (int i = 0; i < 4; i++) {
                    nx[i] = p[i];
                }
            }
#pragma unroll
            for (int i = 0; i < 4; i++) {
                w[4 * i + 0] = __byte_perm(prev, x[i].x, 0x3456);
                w[4 * i + 1] = __byte_perm(x[i].x, x[i].y, 0x3456);
                w[4 * i + 2] = __byte_perm(x[i].y, x[i].z, 0x3456);
                w[4 * i + 3] = __byte_perm(x[i].z, x[i].w, 0x3456);
                prev = x[i].w;
            }
        } else {
#pragma unroll
            for (int t = 0; t < 16; t++) {
                const uint32_t q = q0 + t;
                const uint32_t cur = q < len ? data[q] : (q == len ? 0x80u : 0u);
                w[t] = __byte_perm(prev, cur, 0x3456);
                prev = cur;
            }
            if (blk + 1 == nblocks) {
                const uint64_t bits = bytes * 8;
                w[14] = (uint32_t)(bits >> 32);
                w[15] = (uint32_t)bits;
            }
        }
        ap_compress(hs, w);
    }
    uint8_t *out = a.leaves + 32 * (uint64_t)leaf;
#pragma unroll
    for (int i = 0; i < 8; i++) {
        out[4 * i + 0] = (uint8_t)(hs[i] >> 24);
        out[4 * i + 1] = (uint8_t)(hs[i] >> 16);
        out[4 * i + 2] = (uint8_t)(hs[i] >> 8);
        out[4 * i + 3] = (uint8_t)hs[i];
    }
}
