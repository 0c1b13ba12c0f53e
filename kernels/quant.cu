// nvcc-flags: -fmad=false
//
// Sketch payloads (chain/sketch quant.go) and error feedback, bit-exact:
//
//   q_quantize      8/4-bit: per block of QuantBlock values,
//                   scale = float32(float64(max|y|) / Q), code = RoundToEven(
//                   float64(y) / float64(scale)) clamped to [-Q, Q], all codes
//                   0 when scale is 0 (Q = 127 or 7). Writes the scales
//                   (float32 little-endian) at the payload's start and int8
//                   codes after them (8 bits) or into a scratch array (4 bits).
//   q_pack4         4 bits: two codes per byte, low nibble first, padding 0.
//   q_raw           32 bits: the payload is y itself (checks finiteness).
//   q_dequant_agg   op 0, Apply's aggregate: agg_i = (((+0 + v_1i) + v_2i) + ...)
//                   in block order; op 1, Dequantize: agg_i = v_1i. v_ci =
//                   float32(float32(code) * scale) or the raw float32. Any
//                   non-finite result sets *flag.
//   ef_combine      out = a + b (op 0), a - b (op 1) or a (op 2), float32; a
//                   non-finite result sets *flag.
//
// Non-finite inputs to q_quantize / q_raw set *flag; the host reports
// sketch.ErrNonFinite and discards the output.
#include "sketch_common.cuh"

struct QArgs {
    const float *y;          // q_quantize / q_raw input (length m)
    uint8_t *payload;        // output payload
    int8_t *codes;           // 4 bits: unpacked codes (length m)
    const uint8_t *payloads; // q_dequant_agg: n payloads, pstride bytes apart
    float *agg;              // q_dequant_agg output (length m)
    unsigned *flag;          // set to 1 on a non-finite value
    const float *a;          // ef_combine operands and output (length m)
    const float *b;
    float *out;
    uint32_t m;              // values
    uint32_t bits;           // 32, 8 or 4
    uint32_t block;          // QuantBlock
    uint32_t nblocks;        // ceil(m / block)
    uint32_t n;              // contributions
    uint32_t op;             // ef_combine: 0 add, 1 subtract, 2 copy; q_dequant_agg: 0 sum, 1 first
    uint64_t pstride;        // bytes between payloads (a multiple of 16)
};
static_assert(sizeof(QArgs) == 104, "QArgs layout is fixed by gpu/sketch_params.go");

#define Q_THREADS 256

// q_quantize: one block per quantization block (grid-stride over blocks).
extern "C" __global__ void __launch_bounds__(Q_THREADS) q_quantize(const QArgs a) {
    __shared__ float wmax[Q_THREADS / 32];
    __shared__ float sscale;
    const double q = a.bits == 8 ? 127.0 : 7.0;
    uint8_t *codes8 = a.payload + 4 * (uint64_t)a.nblocks;
    for (uint32_t b = blockIdx.x; b < a.nblocks; b += gridDim.x) {
        const uint32_t lo = b * a.block;
        const uint32_t hi = (a.m - lo < a.block) ? a.m : lo + a.block;
        // max|y| over the block: exact whatever the order (max of finite floats).
        float amax = 0.0f;
        bool bad = false;
        for (uint32_t i = lo + threadIdx.x; i < hi; i += blockDim.x) {
            const float v = a.y[i];
            bad |= !gc_finite(v);
            amax = fmaxf(amax, fabsf(v));
        }
        if (bad) {
            atomicOr(a.flag, 1u);
        }
        for (int off = 16; off > 0; off >>= 1) {
            amax = fmaxf(amax, __shfl_xor_sync(0xffffffffu, amax, off));
        }
        if ((threadIdx.x & 31) == 0) {
            wmax[threadIdx.x >> 5] = amax;
        }
        __syncthreads();
        if (threadIdx.x == 0) {
            float mx = 0.0f;
            for (uint32_t w = 0; w < (blockDim.x + 31) / 32; w++) {
                mx = fmaxf(mx, wmax[w]);
            }
            const float scale = __double2float_rn(__ddiv_rn((double)mx, q));
            sscale = scale;
            reinterpret_cast<float *>(a.payload)[b] = scale;
        }
        __syncthreads();
        const float scale = sscale;
        for (uint32_t i = lo + threadIdx.x; i < hi; i += blockDim.x) {
            int8_t code = 0;
            if (scale != 0.0f) {
                double c = rint(__ddiv_rn((double)a.y[i], (double)scale));
                c = fmax(-q, fmin(q, c));
                code = (int8_t)(int)c;
            }
            if (a.bits == 8) {
                codes8[i] = (uint8_t)code;
            } else {
                a.codes[i] = code;
            }
        }
        __syncthreads();  // sscale and wmax are reused by the next block
    }
}

extern "C" __global__ void __launch_bounds__(256) q_pack4(const QArgs a) {
    uint8_t *out = a.payload + 4 * (uint64_t)a.nblocks;
    const uint32_t nbytes = (a.m + 1) / 2;
    const uint32_t step = gridDim.x * blockDim.x;
    for (uint32_t k = blockIdx.x * blockDim.x + threadIdx.x; k < nbytes; k += step) {
        const uint32_t lo = (uint8_t)a.codes[2 * k] & 0x0fu;
        const uint32_t hi = (2 * k + 1 < a.m) ? ((uint8_t)a.codes[2 * k + 1] & 0x0fu) : 0u;
        out[k] = (uint8_t)(lo | (hi << 4));
    }
}

extern "C" __global__ void __launch_bounds__(256) q_raw(const QArgs a) {
    float *out = reinterpret_cast<float *>(a.payload);
    const uint32_t step = gridDim.x * blockDim.x;
    bool bad = false;
    for (uint32_t i = blockIdx.x * blockDim.x + threadIdx.x; i < a.m; i += step) {
        const float v = a.y[i];
        bad |= !gc_finite(v);
        out[i] = v;
    }
    if (bad) {
        atomicOr(a.flag, 1u);
    }
}

// q_decode is value i of the payload at p (sketch.dequantize).
__device__ __forceinline__ float q_decode(const QArgs &a, const uint8_t *p, uint32_t i) {
    if (a.bits == 32) {
        return reinterpret_cast<const float *>(p)[i];
    }
    const float scale = reinterpret_cast<const float *>(p)[i / a.block];
    const uint8_t *codes = p + 4 * (uint64_t)a.nblocks;
    int code;
    if (a.bits == 8) {
        code = (int8_t)codes[i];
    } else {
        uint32_t nib = codes[i >> 1];
        if (i & 1) {
            nib >>= 4;
        }
        code = (int)(int8_t)(uint8_t)(nib << 4) >> 4;
    }
    return __fmul_rn((float)code, scale);
}

extern "C" __global__ void __launch_bounds__(256) q_dequant_agg(const QArgs a) {
    const uint32_t step = gridDim.x * blockDim.x;
    bool bad = false;
    for (uint32_t i = blockIdx.x * blockDim.x + threadIdx.x; i < a.m; i += step) {
        // op 1: Dequantize (the first value itself); op 0: Apply's sum from +0.
        float acc = a.op == 1 ? q_decode(a, a.payloads, i) : 0.0f;
        for (uint32_t c = a.op == 1 ? 1 : 0; c < a.n; c++) {
            acc = __fadd_rn(acc, q_decode(a, a.payloads + c * a.pstride, i));
        }
        bad |= !gc_finite(acc);
        a.agg[i] = acc;
    }
    if (bad) {
        atomicOr(a.flag, 1u);
    }
}

extern "C" __global__ void __launch_bounds__(256) ef_combine(const QArgs a) {
    const uint32_t step = gridDim.x * blockDim.x;
    bool bad = false;
    for (uint32_t i = blockIdx.x * blockDim.x + threadIdx.x; i < a.m; i += step) {
        const float v = a.op == 0 ? __fadd_rn(a.a[i], a.b[i]) : a.op == 1 ? __fsub_rn(a.a[i], a.b[i]) : a.a[i];
        bad |= !gc_finite(v);
        a.out[i] = v;
    }
    if (bad) {
        atomicOr(a.flag, 1u);
    }
}
