// Host emulation of CUDA kernels whose threads cooperate (warp shuffles,
// __syncthreads, __shared__ arrays, and the warp-wide tensor-core
// primitives ldmatrix / mma.sync m16n8k16 and cp.async): the .cu named by
// KERNEL_CU is compiled as plain C++ with GC_HOST_EMU defined and the CUDA
// built-ins it uses defined below, and one launch runs every block in turn,
// each block's threads as cooperative fibers (ucontext) on one OS thread: a
// fiber runs until it reaches a barrier (a shuffle, ldmatrix or mma is a
// warp barrier, __syncthreads a block barrier), so the emulation is
// deterministic and needs no locks. __shared__ arrays become function
// statics (shared by the threads of the block running now: blocks run one
// after another); dynamic shared memory is one buffer per launch, with a
// canary after it that must survive.
//
// The warp primitives are written from the PTX ISA's fragment layouts
// (groupID g = lane/4, t = lane%4):
//   mma m16n8k16 .row.col bf16: A reg r holds rows g + 8(r%2), columns
//   2t + 8(r/2) + {0,1}; B reg r holds k = 2t + 8r + {0,1}, column g; C/D
//   element i is row g + 8(i/2), column 2t + i%2.
//   ldmatrix .x4: lane 8m + i gives the address of row i of matrix m; lane l
//   receives, per matrix, row l/4 elements 2(l%4), 2(l%4)+1 (with .trans:
//   rows 2(l%4), 2(l%4)+1 of column l/4).
// The kernels are written against the same layouts, so a kernel that passes
// here and fails on a GPU points at a misreading of the ISA, in both.
//
// The Go tests (gpu/softmax_host_test.go, gpu/attention_host_test.go) build
// this once per .cu and run it launch by launch with exactly the kernel
// names, launch shapes and parameter blocks the Go launchers use.
//
// Protocol, stdin: one text line
//   "KERNEL GRIDX GRIDY BLOCK SMEM PTRMASK PARAMBYTES ARENABYTES\n"
// then PARAMBYTES bytes of the parameter block, then ARENABYTES bytes of
// arena. The 8-byte slots of the parameter block whose bit is set in
// PTRMASK (hex) are pointers given as arena offsets (0 = null); they are
// rebased onto the arena. SMEM is the dynamic shared memory in bytes. The
// kernel runs, and the whole arena is written to stdout.
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <ucontext.h>
#include <vector>

#define __global__
#define __device__
#define __forceinline__ inline
#define __launch_bounds__(...)
#define __shared__ static

struct HostDim3 {
    unsigned x, y, z;
};
static HostDim3 gridDim, blockDim, blockIdx, threadIdx;

struct float2 {
    float x, y;
};
struct float4 {
    float x, y, z, w;
};
struct uint4 {
    unsigned x, y, z, w;
};

static inline float __uint_as_float(uint32_t u) {
    float f;
    std::memcpy(&f, &u, 4);
    return f;
}
static inline uint32_t __float_as_uint(float f) {
    uint32_t u;
    std::memcpy(&u, &f, 4);
    return u;
}

// --- fibers -----------------------------------------------------------------

struct Fiber {
    ucontext_t ctx;
    char *stack;
    bool done;
};

static const size_t fiber_stack = 64 * 1024;
static ucontext_t sched_ctx;
static std::vector<Fiber> fibers;
static Fiber *cur_fiber;
static void (*cur_entry)(const void *);
static const void *cur_params;

static unsigned long long block_gen, block_arrived, progress;
static std::vector<unsigned long long> warp_gen, warp_arrived;
static const int xwords = 8;        // exchange words per thread
static std::vector<uint64_t> xchg;  // per thread: xwords 64-bit slots

static void yield_fiber() { swapcontext(&cur_fiber->ctx, &sched_ctx); }

static void warp_barrier() {
    const unsigned w = threadIdx.x / 32;
    const unsigned lanes = blockDim.x - 32 * w < 32 ? blockDim.x - 32 * w : 32;
    const unsigned long long g = warp_gen[w];
    progress++;
    if (++warp_arrived[w] == lanes) {
        warp_arrived[w] = 0;
        warp_gen[w]++;
        return;
    }
    while (warp_gen[w] == g) {
        yield_fiber();
    }
}

static void __syncthreads() {
    const unsigned long long g = block_gen;
    progress++;
    if (++block_arrived == blockDim.x) {
        block_arrived = 0;
        block_gen++;
        return;
    }
    while (block_gen == g) {
        yield_fiber();
    }
}

template <typename T> static T __shfl_xor_sync(unsigned mask, T v, int lane_mask, int width = 32) {
    (void)mask;
    static_assert(sizeof(T) <= 8, "shuffle of a wide type");
    const unsigned t = threadIdx.x;
    uint64_t slot = 0;
    std::memcpy(&slot, &v, sizeof v);
    xchg[t * xwords] = slot;
    warp_barrier();
    const unsigned lane = t % 32;
    unsigned src = lane ^ static_cast<unsigned>(lane_mask);
    if (src / width != lane / static_cast<unsigned>(width)) {
        src = lane; // outside the segment: own value (as the hardware does)
    }
    T r;
    slot = xchg[(t - lane + src) * xwords];
    std::memcpy(&r, &slot, sizeof r);
    warp_barrier();
    return r;
}

// --- tensor-core primitives ----------------------------------------------------

static inline float emu_bf16(uint32_t h16) { return __uint_as_float(h16 << 16); }

static inline uint32_t emu_bf16_rn(float f) {
    const uint32_t u = __float_as_uint(f);
    if ((u & 0x7fffffffu) > 0x7f800000u) {
        return 0x7fffu;
    }
    return (u + 0x7fffu + ((u >> 16) & 1u)) >> 16;
}

static inline float attn_exp2(float x) { return exp2f(x); }
static inline float attn_log2(float x) { return log2f(x); }
static inline uint32_t pack_bf16(float lo, float hi) { return emu_bf16_rn(lo) | (emu_bf16_rn(hi) << 16); }

static inline void ldsm_impl(uint32_t r[4], const uint16_t *p, bool trans) {
    const unsigned t = threadIdx.x, lane = t % 32, base = t - lane;
    xchg[t * xwords] = reinterpret_cast<uint64_t>(p);
    warp_barrier();
    for (int m = 0; m < 4; m++) {
        uint32_t e[2];
        for (int h = 0; h < 2; h++) {
            const int row = trans ? 2 * (lane % 4) + h : lane / 4;
            const int col = trans ? lane / 4 : 2 * (lane % 4) + h;
            const uint16_t *rp = reinterpret_cast<const uint16_t *>(xchg[(base + 8 * m + row) * xwords]);
            e[h] = rp[col];
        }
        r[m] = e[0] | (e[1] << 16);
    }
    warp_barrier();
}
static inline void ldsm_x4(uint32_t r[4], const uint16_t *p) { ldsm_impl(r, p, false); }
static inline void ldsm_x4_t(uint32_t r[4], const uint16_t *p) { ldsm_impl(r, p, true); }

static inline void mma_16816(float c[4], const uint32_t a[4], uint32_t b0, uint32_t b1) {
    const unsigned t = threadIdx.x, lane = t % 32, base = t - lane;
    for (int i = 0; i < 4; i++) {
        xchg[t * xwords + i] = a[i];
    }
    xchg[t * xwords + 4] = b0;
    xchg[t * xwords + 5] = b1;
    warp_barrier();
    auto A = [&](int row, int k) {
        const int reg = (row >= 8 ? 1 : 0) + (k >= 8 ? 2 : 0);
        const uint32_t w = static_cast<uint32_t>(xchg[(base + (row % 8) * 4 + (k % 8) / 2) * xwords + reg]);
        return emu_bf16(k % 2 ? w >> 16 : w & 0xffffu);
    };
    auto B = [&](int k, int n) {
        const int reg = k >= 8 ? 1 : 0;
        const uint32_t w = static_cast<uint32_t>(xchg[(base + n * 4 + (k % 8) / 2) * xwords + 4 + reg]);
        return emu_bf16(k % 2 ? w >> 16 : w & 0xffffu);
    };
    const int g = lane / 4, t4 = lane % 4;
    float d[4];
    for (int i = 0; i < 4; i++) {
        const int row = g + 8 * (i / 2), col = 2 * t4 + i % 2;
        float acc = c[i];
        for (int k = 0; k < 16; k++) {
            acc += A(row, k) * B(k, col);
        }
        d[i] = acc;
    }
    warp_barrier();
    for (int i = 0; i < 4; i++) {
        c[i] = d[i];
    }
}

// cp.async: the copy happens at once (a valid schedule of the real thing).
static inline void cp_async16(void *smem, const void *gmem) { std::memcpy(smem, gmem, 16); }
static inline void cp_async_commit() {}
template <int N> static inline void cp_async_wait() {}

static std::vector<unsigned char> dyn_smem;
static size_t dyn_smem_bytes;
static const size_t smem_canary = 256;
#define GC_ATTN_SMEM(name) uint4 *name = reinterpret_cast<uint4 *>(dyn_smem.data())

// --- launch --------------------------------------------------------------------

static void fiber_main() {
    Fiber *self = cur_fiber;
    cur_entry(cur_params);
    self->done = true;
    // Returning resumes uc_link (the scheduler).
}

static void run_block(unsigned bx, unsigned by) {
    blockIdx = {bx, by, 0};
    const unsigned n = blockDim.x;
    block_gen = block_arrived = 0;
    warp_gen.assign((n + 31) / 32, 0);
    warp_arrived.assign((n + 31) / 32, 0);
    xchg.assign(static_cast<size_t>(n) * xwords, 0);
    while (fibers.size() < n) {
        fibers.push_back(Fiber{});
        fibers.back().stack = static_cast<char *>(std::malloc(fiber_stack));
    }
    for (unsigned t = 0; t < n; t++) {
        Fiber &f = fibers[t];
        f.done = false;
        getcontext(&f.ctx);
        f.ctx.uc_stack.ss_sp = f.stack;
        f.ctx.uc_stack.ss_size = fiber_stack;
        f.ctx.uc_link = &sched_ctx;
        makecontext(&f.ctx, fiber_main, 0);
    }
    unsigned live = n;
    while (live > 0) {
        live = 0;
        const unsigned long long before = progress;
        unsigned finished = 0;
        for (unsigned t = 0; t < n; t++) {
            Fiber &f = fibers[t];
            if (f.done) {
                continue;
            }
            cur_fiber = &f;
            threadIdx = {t, 0, 0};
            swapcontext(&sched_ctx, &f.ctx);
            if (!f.done) {
                live++;
            } else {
                finished++;
            }
        }
        if (live > 0 && progress == before && finished == 0) {
            std::fprintf(stderr, "emulation: block (%u,%u) does not finish (barrier deadlock?)\n", bx, by);
            std::exit(3);
        }
    }
}

#include KERNEL_CU

// The parameter block type, from the kernels' own signature.
template <typename P> static P param_type(void (*)(P));
typedef decltype(param_type(gc_host_kernels[0].fn)) KernelParams;

static void (*typed_kernel)(KernelParams);
static void entry(const void *params) { typed_kernel(*static_cast<const KernelParams *>(params)); }

int main() {
    char name[256];
    unsigned gx, gy, block;
    unsigned long long smem, mask, pbytes, abytes;
    if (std::scanf("%255s %u %u %u %llu %llx %llu %llu", name, &gx, &gy, &block, &smem, &mask, &pbytes, &abytes) != 8 ||
        std::getchar() != '\n') {
        std::fprintf(stderr, "emulation: bad header line\n");
        return 2;
    }
    typed_kernel = nullptr;
    for (const auto *k = gc_host_kernels; k->name != nullptr; k++) {
        if (std::strcmp(k->name, name) == 0) {
            typed_kernel = k->fn;
        }
    }
    if (typed_kernel == nullptr) {
        std::fprintf(stderr, "emulation: no kernel %s in " KERNEL_CU "\n", name);
        return 2;
    }
    if (pbytes != sizeof(KernelParams)) {
        std::fprintf(stderr, "emulation: parameter block of %llu bytes, kernel takes %zu\n", pbytes, sizeof(KernelParams));
        return 2;
    }
    std::vector<unsigned char> params(pbytes);
    // A canary after the arena catches writes past its end.
    const size_t guard = 1 << 16;
    std::vector<unsigned char> arena(abytes + guard, 0xa5);
    if (std::fread(params.data(), 1, pbytes, stdin) != pbytes || std::fread(arena.data(), 1, abytes, stdin) != abytes) {
        std::fprintf(stderr, "emulation: short input\n");
        return 2;
    }
    for (unsigned i = 0; i < pbytes / 8 && i < 64; i++) {
        if (!(mask >> i & 1)) {
            continue;
        }
        uint64_t off;
        std::memcpy(&off, &params[8 * i], 8);
        if (off == 0) {
            continue;
        }
        if (off >= abytes) {
            std::fprintf(stderr, "emulation: pointer slot %u at offset %llu outside the arena\n", i, static_cast<unsigned long long>(off));
            return 2;
        }
        const uint64_t p = reinterpret_cast<uint64_t>(arena.data() + off);
        std::memcpy(&params[8 * i], &p, 8);
    }
    KernelParams kp;
    std::memcpy(&kp, params.data(), sizeof kp);
    cur_entry = entry;
    cur_params = &kp;
    gridDim = {gx, gy, 1};
    blockDim = {block, 1, 1};
    dyn_smem_bytes = smem;
    dyn_smem.assign(smem + smem_canary, 0xa5);
    for (unsigned by = 0; by < gy; by++) {
        for (unsigned bx = 0; bx < gx; bx++) {
            run_block(bx, by);
        }
    }
    for (size_t i = abytes; i < abytes + guard; i++) {
        if (arena[i] != 0xa5) {
            std::fprintf(stderr, "emulation: %s wrote past the end of the arena (byte %llu)\n", name, static_cast<unsigned long long>(i - abytes));
            return 3;
        }
    }
    for (size_t i = smem; i < smem + smem_canary; i++) {
        if (dyn_smem[i] != 0xa5) {
            std::fprintf(stderr, "emulation: %s wrote past its %llu bytes of dynamic shared memory\n", name, smem);
            return 3;
        }
    }
    if (std::fwrite(arena.data(), 1, abytes, stdout) != abytes) {
        return 2;
    }
    return 0;
}
