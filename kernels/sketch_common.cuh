// Shared by the sketch kernels (sketch.cu, desketch.cu, fwht.cu, topk.cu,
// quant.cu, apply.cu): the element generator of chain/sketch, the sketch
// geometry every launch receives, and the consensus output stage.
//
// The generator is chain/sketch's, bit for bit (see chain/sketch/doc.go):
//
//   H(c)        = fmix64(fmix64(c * 0x9E3779B97F4A7C15 + key.a) ^ key.b)   (mod 2^64)
//   below(h, n) = floor(h * n / 2^64)
//
// Determinism rules for everything on the consensus path (desketch.cu,
// fwht.cu, topk.cu, quant.cu, apply.cu, all built with -fmad=false): every
// float operation the Go reference rounds is written as an explicit
// round-to-nearest intrinsic (__fadd_rn, __fmul_rn, __dadd_rn, ...), which
// the compiler never contracts into an FMA; every sum runs in the Go
// reference's order inside one thread; no float atomics (integer atomics
// only, whose results do not depend on order); no fast-math.
//
// These files also compile as host C++ (gpu/testdata/sketch_host.cc defines
// the CUDA built-ins they use on the CPU), which is how their arithmetic is
// checked against chain/sketch and chain/state without a GPU.
#ifndef GC_SKETCH_COMMON_CUH
#define GC_SKETCH_COMMON_CUH

#include <stdint.h>
#include <stddef.h>

#ifdef __CUDACC__
// Dynamic shared memory of a launch (the host emulator provides its own).
#define GC_DYN_SMEM(T, name) extern __shared__ T name[]
#endif

// SkKey is a 128-bit generator key (sketch.Key).
struct SkKey {
    uint64_t a, b;
};

// SkGeom is the geometry of one sketch: everything a kernel needs to
// regenerate its entries. Layout mirrored by gpu/sketch_params.go (geom).
struct SkGeom {
    SkKey key;          // main stream: buckets and signs / entries
    SkKey keyD;         // SRHT: signs D
    SkKey keyP;         // SRHT: sampled rows P
    uint64_t d;         // dimension
    uint64_t m;         // rows
    uint64_t pad;       // SRHT: d' (a power of two); else d
    uint64_t words;     // AMS: ceil(d/64) sign words per row
    uint32_t t;         // NNZ (sparse families)
    uint32_t stride;    // row offset per nonzero: w (blocked) or 0 (SparseEmbedding1)
    uint32_t span;      // rows a nonzero ranges over: w or m
    float nz_scale;     // float32(1/sqrt(t))
    float sqrt_t;       // float32(sqrt(t))
    float srht_scale;   // float32(1/sqrt(m))
    uint32_t log2pad;   // SRHT: log2(d')
    uint32_t family;    // sketch.Family
    double dense;       // Gaussian 1/sqrt(Var[T] m), AMS 1/sqrt(m)
};
static_assert(sizeof(SkGeom) == 120, "SkGeom layout is fixed by gpu/sketch_params.go");
static_assert(offsetof(SkGeom, t) == 80, "SkGeom.t offset");
static_assert(offsetof(SkGeom, dense) == 112, "SkGeom.dense offset");

// Output stage of a consensus de-sketch (GcOut.mode):
//   GC_OUT_STORE: dst[j] = u
//   GC_OUT_APPLY: wout[j] = float32(w[j] + float32(coef * u)); the lowest j
//                 whose new weight is not finite goes to *bad (atomicMin;
//                 the host sets it to 0xffffffff first).
enum { GC_OUT_STORE = 0, GC_OUT_APPLY = 1 };

struct GcOut {
    float *dst;
    const float *w;
    float *wout;
    unsigned *bad;
    float coef;
    uint32_t mode;
};
static_assert(sizeof(GcOut) == 40, "GcOut layout is fixed by gpu/sketch_params.go");

__device__ __forceinline__ uint64_t gc_fmix64(uint64_t x) {
    x ^= x >> 33;
    x *= 0xff51afd7ed558ccdULL;
    x ^= x >> 33;
    x *= 0xc4ceb9fe1a85ec53ULL;
    x ^= x >> 33;
    return x;
}

// gc_hash is sketch.Key.Hash.
__device__ __forceinline__ uint64_t gc_hash(const SkKey k, uint64_t ctr) {
    return gc_fmix64(gc_fmix64(ctr * 0x9E3779B97F4A7C15ULL + k.a) ^ k.b);
}

// gc_below is floor(h * n / 2^64) for n < 2^32, as two 32x32->64 products:
// floor((hi*n*2^32 + lo*n) / 2^64) = floor((hi*n + floor(lo*n / 2^32)) / 2^32),
// and hi*n + floor(lo*n / 2^32) < 2^64.
__device__ __forceinline__ uint32_t gc_below(uint64_t h, uint32_t n) {
    const uint64_t lo = (uint64_t)(uint32_t)h * n;
    const uint64_t hi = (h >> 32) * n + (lo >> 32);
    return (uint32_t)(hi >> 32);
}

// gc_ih is the Irwin-Hall integer T of a Gaussian entry (sketch.ihLanes):
// the eight 16-bit lanes u of h1, h2 summed as odd integers 2u+1-65536.
__device__ __forceinline__ int32_t gc_ih(uint64_t h1, uint64_t h2) {
    const uint32_t a = (uint32_t)h1, b = (uint32_t)(h1 >> 32);
    const uint32_t c = (uint32_t)h2, e = (uint32_t)(h2 >> 32);
    const int32_t s = (int32_t)((a & 0xffffu) + (a >> 16) + (b & 0xffffu) + (b >> 16) +
                                (c & 0xffffu) + (c >> 16) + (e & 0xffffu) + (e >> 16));
    return 2 * s + 8 - 8 * 65536;
}

// gc_srht_neg reports whether D_j = -1 (sketch.srhtNeg).
__device__ __forceinline__ bool gc_srht_neg(const SkGeom &g, uint32_t j) {
    return (gc_hash(g.keyD, (uint64_t)(j >> 6)) >> (j & 63)) & 1;
}

// gc_finite: not NaN or +-Inf.
__device__ __forceinline__ bool gc_finite(float x) {
    return (__float_as_uint(x) & 0x7f800000u) != 0x7f800000u;
}

// gc_out writes de-sketched value u of coordinate j through the output stage.
__device__ __forceinline__ void gc_out(const GcOut &o, uint32_t j, float u) {
    if (o.mode == GC_OUT_APPLY) {
        const float nw = __fadd_rn(o.w[j], __fmul_rn(o.coef, u));
        if (!gc_finite(nw)) {
            atomicMin(o.bad, j);
        }
        o.wout[j] = nw;
    } else {
        o.dst[j] = u;
    }
}

// gc_topk_key is the magnitude key of TopK: the IEEE bits of |v|.
__device__ __forceinline__ uint32_t gc_topk_key(float v) { return __float_as_uint(v) & 0x7fffffffu; }

// TopkState is the result of a top-k selection (topk.cu), kept on the device:
// keep coordinate j iff key > thr, or key == thr and j <= cutoff.
struct TopkState {
    uint32_t k;         // how many to keep
    uint32_t need1;     // after level 1: how many still to take from bin1
    uint32_t bin1;      // level-1 bin (key >> 20) holding the threshold
    uint32_t thr;       // the threshold key
    uint32_t need2;     // how many keys equal to thr to keep (lowest indices)
    uint32_t count;     // candidates listed in level 2
    uint32_t cutoff;    // largest index kept among keys equal to thr
    uint32_t overflow;  // candidate list overflowed: ties are found by a full scan
};
static_assert(sizeof(TopkState) == 32, "TopkState layout is fixed by gpu/sketch_params.go");

__device__ __forceinline__ bool gc_topk_keep(const TopkState &s, uint32_t j, float v) {
    const uint32_t key = gc_topk_key(v);
    return key > s.thr || (key == s.thr && j <= s.cutoff);
}

// Level-1 bins: key >> 20 (11 bits); level 2: key & 0xfffff (20 bits).
#define GC_TOPK_BINS1 2048
#define GC_TOPK_SHIFT1 20
#define GC_TOPK_BINS2 (1u << 20)

#endif  // GC_SKETCH_COMMON_CUH
