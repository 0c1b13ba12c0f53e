// SHA-256d nonce search for GradientCoin block headers.
//
// A header is 160 bytes; SHA-256 of it is three 64-byte chunks. The host
// hashes chunks 0 and 1 once (the midstate), and also everything of chunk 2
// that does not depend on the nonce (rounds 0..5, fixed parts of the message
// schedule, fixed parts of rounds 6..8). See gpu/precompute.go: its newPrecomp
// builds the parameter block below and its try() is this kernel, round for
// round, in Go. Keep the three in step.
//
// Chunk 2 as big-endian words: W0..W5 header bytes 128..151 (fixed),
// W6 = bswap(nonce low word), W7 = bswap(nonce high word), W8 = 0x80000000,
// W9..W14 = 0, W15 = 1280. A launch never crosses a multiple of 2^32 nonces,
// so W7 is fixed per launch and folded in by the host.
//
// A nonce is valid iff the digest, read as a little-endian 256-bit integer,
// is <= the target. Its most significant 32 bits are bswap(H7) of the second
// hash, and H7 = IV7 + (the e produced by round 60): threads reject there and
// only survivors run rounds 61..63 and the full comparison.
//
// Each valid nonce is appended to out[1..hit_cap] (as the full 64-bit nonce)
// and counted in the low 32 bits of out[0]; the count may exceed hit_cap,
// which the host reports as an overflow. The host clears out[0] before a
// launch and reads it after: that count is the "found" flag it polls between
// short launches.
//
// Two entry points share the one kernel body: sha256d_search does its
// additions as plain adds (IADD3, integer pipe) and sha256d_search_mad as
// multiply-adds by a parameter equal to 1 (IMAD, FMA pipe), which leaves the
// integer pipe to the rotates and logic ops. The host times both and keeps
// the faster (gpu.VariantAuto).

#include <stdint.h>
#include <stddef.h>

struct Sha256dParams {
    uint32_t ms[8];                       // midstate (chunk-2 feed-forward)
    uint32_t a5, b5, c5, d5, e5, f5;      // state after rounds 0..5 of chunk 2
    uint32_t p6;                          // h5 + S1(e5) + Ch(e5,f5,g5) + K6
    uint32_t t26;                         // S0(a5) + Maj(a5,b5,c5)
    uint32_t p7;                          // g5 + K7 + W7
    uint32_t p8;                          // f5 + K8 + W8
    uint32_t w18, w19, w20;               // schedule words read per nonce
    uint32_t kw[5];                       // K[t] + W[t], t = 16..20
    uint32_t c21, c22, c23, c24;          // fixed parts of W21..W24
    uint32_t c31[5];                      // fixed parts of W31..W35
    uint32_t target[8];                   // little-endian limbs, [7] most significant
    uint32_t hi;                          // nonce high word of this launch
    uint32_t lo;                          // first nonce low word
    uint32_t count;                       // nonces in this launch (<= 2^31)
    uint32_t iters;                       // nonces per thread
    uint32_t hit_cap;                     // capacity of out[1..]
    uint32_t one;                         // 1 (opaque to the compiler: see add)
    uint32_t pad;
    unsigned long long *out;              // hit buffer (device memory)
};

static_assert(sizeof(Sha256dParams) == 208, "parameter block size is fixed by gpu/precompute.go");
static_assert(offsetof(Sha256dParams, target) == 140, "target offset");
static_assert(offsetof(Sha256dParams, hi) == 172, "hi offset");
static_assert(offsetof(Sha256dParams, one) == 192, "one offset");
static_assert(offsetof(Sha256dParams, out) == 200, "out offset");

__device__ __forceinline__ uint32_t rotr(uint32_t x, uint32_t n) { return __funnelshift_r(x, x, n); }
__device__ __forceinline__ uint32_t bsig0(uint32_t x) { return rotr(x, 2) ^ rotr(x, 13) ^ rotr(x, 22); }
__device__ __forceinline__ uint32_t bsig1(uint32_t x) { return rotr(x, 6) ^ rotr(x, 11) ^ rotr(x, 25); }
__device__ __forceinline__ uint32_t ssig0(uint32_t x) { return rotr(x, 7) ^ rotr(x, 18) ^ (x >> 3); }
__device__ __forceinline__ uint32_t ssig1(uint32_t x) { return rotr(x, 17) ^ rotr(x, 19) ^ (x >> 10); }
__device__ __forceinline__ uint32_t ch(uint32_t e, uint32_t f, uint32_t g) { return g ^ (e & (f ^ g)); }
__device__ __forceinline__ uint32_t maj(uint32_t a, uint32_t b, uint32_t c) { return (a & b) | (c & (a | b)); }
__device__ __forceinline__ uint32_t bswap(uint32_t x) { return __byte_perm(x, 0, 0x0123); }

// Round constants as a function of a compile-time index, so that every
// K[t] (+ a constant W[t]) folds into an immediate once loops are unrolled.
__device__ __forceinline__ uint32_t K(const int t) {
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

// add(x, y) is x + y. In the MAD variant it is mad.lo.u32 x * one + y with
// `one` a kernel parameter equal to 1, which the compiler cannot fold: an
// IMAD on the FMA pipe instead of an IADD3 on the integer pipe. SHA-256 is
// bound by the integer pipe (rotates and LOP3 only run there), so moving the
// additions can raise the rate; which variant is faster is measured on the
// device (BenchmarkNonceSearchGPUVariant). Off the GPU (the host harness in
// gpu/testdata) it is plain arithmetic.
template <bool MAD>
__device__ __forceinline__ uint32_t add(uint32_t x, uint32_t y, uint32_t one) {
#ifdef __CUDA_ARCH__
    if (MAD) {
        uint32_t d;
        asm("mad.lo.u32 %0, %1, %2, %3;" : "=r"(d) : "r"(x), "r"(one), "r"(y));
        return d;
    }
#endif
    return MAD ? x * one + y : x + y;
}

#define ADD(x, y) add<MAD>((x), (y), one)
#define ADD3(x, y, z) ADD(ADD((x), (y)), (z))

// One round; the caller's state names rotate (a..h -> h,a..g) by assignment,
// which the compiler turns into register renaming once unrolled.
#define ROUND(KW)                                                              \
    do {                                                                       \
        const uint32_t t1_ = ADD3(ADD(h, (KW)), bsig1(e), ch(e, f, g));        \
        const uint32_t a_ = ADD3(t1_, bsig0(a), maj(a, b, c));                 \
        h = g; g = f; f = e; e = ADD(d, t1_); d = c; c = b; b = a; a = a_;      \
    } while (0)

#define SCHEDULE(t) ADD(ADD3(ssig1(w[(t) - 2]), w[(t) - 7], ssig0(w[(t) - 15])), w[(t) - 16])

template <bool MAD>
__device__ __forceinline__ void search(const Sha256dParams &P)
{
    const uint32_t one = P.one;
    const uint32_t stride = gridDim.x * blockDim.x;
    uint32_t off = blockIdx.x * blockDim.x + threadIdx.x;

    for (uint32_t it = 0; it < P.iters; ++it, off += stride) {
        if (off >= P.count) {
            return;
        }
        const uint32_t lo = P.lo + off;
        const uint32_t w6 = bswap(lo);
        uint32_t w[64];

        // Chunk 2, rounds 6..8, from the host's precomputed words.
        uint32_t t1 = P.p6 + w6;
        const uint32_t a6 = t1 + P.t26, e6 = P.d5 + t1;
        t1 = P.p7 + bsig1(e6) + ch(e6, P.e5, P.f5);
        const uint32_t a7 = t1 + bsig0(a6) + maj(a6, P.a5, P.b5), e7 = P.c5 + t1;
        t1 = P.p8 + bsig1(e7) + ch(e7, e6, P.e5);
        const uint32_t a8 = t1 + bsig0(a7) + maj(a7, a6, P.a5), e8 = P.b5 + t1;

        uint32_t a = a8, b = a7, c = a6, d = P.a5, e = e8, f = e7, g = e6, h = P.e5;
        // Rounds 9..15: W9..W14 = 0, W15 = 1280.
#pragma unroll
        for (int t = 9; t < 15; t++) {
            ROUND(K(t));
        }
        ROUND(K(15) + 1280u);
#pragma unroll
        for (int t = 16; t <= 20; t++) {
            ROUND(P.kw[t - 16]);
        }
        w[18] = P.w18; w[19] = P.w19; w[20] = P.w20;
        w[21] = P.c21 + ssig0(w6);
        w[22] = P.c22 + w6;
        w[23] = ssig1(w[21]) + P.c23;
        w[24] = ssig1(w[22]) + P.c24;
        w[25] = ssig1(w[23]) + w[18];
        w[26] = ssig1(w[24]) + w[19];
        w[27] = ssig1(w[25]) + w[20];
        w[28] = ssig1(w[26]) + w[21];
        w[29] = ssig1(w[27]) + w[22];
        w[30] = ssig1(w[28]) + w[23] + 0x014000AAu; // ssig0(W15 = 1280)
#pragma unroll
        for (int t = 31; t <= 35; t++) {
            w[t] = ADD3(ssig1(w[t - 2]), w[t - 7], P.c31[t - 31]);
        }
#pragma unroll
        for (int t = 36; t < 64; t++) {
            w[t] = SCHEDULE(t);
        }
#pragma unroll
        for (int t = 21; t < 64; t++) {
            ROUND(ADD(K(t), w[t]));
        }

        // Second hash: the first digest plus padding (W8 = 0x80000000,
        // W9..W14 = 0, W15 = 256), from the IV.
        w[0] = P.ms[0] + a; w[1] = P.ms[1] + b; w[2] = P.ms[2] + c; w[3] = P.ms[3] + d;
        w[4] = P.ms[4] + e; w[5] = P.ms[5] + f; w[6] = P.ms[6] + g; w[7] = P.ms[7] + h;
        w[8] = 0x80000000u;
#pragma unroll
        for (int t = 9; t < 15; t++) {
            w[t] = 0;
        }
        w[15] = 256u;
#pragma unroll
        for (int t = 16; t < 64; t++) {
            w[t] = SCHEDULE(t);
        }
        a = 0x6a09e667u; b = 0xbb67ae85u; c = 0x3c6ef372u; d = 0xa54ff53au;
        e = 0x510e527fu; f = 0x9b05688cu; g = 0x1f83d9abu; h = 0x5be0cd19u;
#pragma unroll
        for (int t = 0; t <= 60; t++) {
            ROUND(ADD(K(t), w[t]));
        }
        // The e made by round 60 ends in h after round 63: H7 = IV7 + e.
        if (bswap(0x5be0cd19u + e) > P.target[7]) {
            continue;
        }
#pragma unroll
        for (int t = 61; t < 64; t++) {
            ROUND(ADD(K(t), w[t]));
        }
        const uint32_t hs[8] = {
            0x6a09e667u + a, 0xbb67ae85u + b, 0x3c6ef372u + c, 0xa54ff53au + d,
            0x510e527fu + e, 0x9b05688cu + f, 0x1f83d9abu + g, 0x5be0cd19u + h,
        };
        bool ok = true;
#pragma unroll
        for (int i = 7; i >= 0; i--) {
            const uint32_t v = bswap(hs[i]);
            if (v != P.target[i]) {
                ok = v < P.target[i];
                break;
            }
        }
        if (ok) {
            const uint32_t slot = atomicAdd(reinterpret_cast<unsigned int *>(P.out), 1u);
            if (slot < P.hit_cap) {
                P.out[1 + slot] = (static_cast<unsigned long long>(P.hi) << 32) | lo;
            }
        }
    }
}

extern "C" __global__ void __launch_bounds__(256) sha256d_search(const Sha256dParams P)
{
    search<false>(P);
}

extern "C" __global__ void __launch_bounds__(256) sha256d_search_mad(const Sha256dParams P)
{
    search<true>(P);
}
