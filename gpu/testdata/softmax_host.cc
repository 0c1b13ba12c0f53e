// Host emulation for kernels whose threads cooperate (warp shuffles,
// __syncthreads, __shared__ arrays): the .cu named by KERNEL_CU is compiled
// as plain C++ with GC_HOST_EMU defined and the CUDA built-ins it uses
// defined below, and one launch runs every block in turn, each block's
// threads as cooperative fibers (ucontext) on one OS thread: a fiber runs
// until it reaches a barrier (a shuffle is a warp barrier, __syncthreads a
// block barrier), so the emulation is deterministic and needs no locks.
// __shared__ arrays become function statics: shared by the threads of the
// block running now (blocks run one after the other).
//
// The Go test (gpu/softmax_host_test.go) builds this once per .cu and runs
// it launch by launch with exactly the kernel names, launch shapes and
// parameter blocks the Go launcher would use.
//
// Protocol, stdin: one text line "KERNEL GRID BLOCK NPTR PARAMBYTES ARENABYTES\n",
// then PARAMBYTES bytes of the parameter block, then ARENABYTES bytes of
// arena. The first NPTR 8-byte slots of the parameter block are pointers
// given as arena offsets (0 = null); they are rebased onto the arena. The
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
static std::vector<uint64_t> xchg; // one shuffle slot per thread

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
    xchg[t] = slot;
    warp_barrier();
    const unsigned lane = t % 32;
    unsigned src = lane ^ static_cast<unsigned>(lane_mask);
    if (src / width != lane / static_cast<unsigned>(width)) {
        src = lane; // outside the segment: own value (as the hardware does)
    }
    T r;
    slot = xchg[t - lane + src];
    std::memcpy(&r, &slot, sizeof r);
    warp_barrier();
    return r;
}

static void fiber_main() {
    Fiber *self = cur_fiber;
    cur_entry(cur_params);
    self->done = true;
    // Returning resumes uc_link (the scheduler).
}

static void run_block(unsigned b) {
    blockIdx = {b, 0, 0};
    const unsigned n = blockDim.x;
    block_gen = block_arrived = 0;
    warp_gen.assign((n + 31) / 32, 0);
    warp_arrived.assign((n + 31) / 32, 0);
    xchg.assign(n, 0);
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
            std::fprintf(stderr, "emulation: block %u does not finish (barrier deadlock?)\n", b);
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
    unsigned grid, block, nptr;
    unsigned long long pbytes, abytes;
    if (std::scanf("%255s %u %u %u %llu %llu", name, &grid, &block, &nptr, &pbytes, &abytes) != 6 || std::getchar() != '\n') {
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
    if (pbytes != sizeof(KernelParams) || nptr * 8 > pbytes) {
        std::fprintf(stderr, "emulation: parameter block of %llu bytes, kernel takes %zu\n", pbytes, sizeof(KernelParams));
        return 2;
    }
    std::vector<unsigned char> params(pbytes);
    std::vector<unsigned char> arena(abytes + 16);
    if (std::fread(params.data(), 1, pbytes, stdin) != pbytes || std::fread(arena.data(), 1, abytes, stdin) != abytes) {
        std::fprintf(stderr, "emulation: short input\n");
        return 2;
    }
    for (unsigned i = 0; i < nptr; i++) {
        uint64_t off;
        std::memcpy(&off, &params[8 * i], 8);
        if (off == 0) {
            continue;
        }
        if (off >= abytes) {
            std::fprintf(stderr, "emulation: pointer %u at offset %llu outside the arena\n", i, static_cast<unsigned long long>(off));
            return 2;
        }
        const uint64_t p = reinterpret_cast<uint64_t>(arena.data() + off);
        std::memcpy(&params[8 * i], &p, 8);
    }
    KernelParams kp;
    std::memcpy(&kp, params.data(), sizeof kp);
    cur_entry = entry;
    cur_params = &kp;
    gridDim = {grid, 1, 1};
    blockDim = {block, 1, 1};
    for (unsigned b = 0; b < grid; b++) {
        run_block(b);
    }
    if (std::fwrite(arena.data(), 1, abytes, stdout) != abytes) {
        return 2;
    }
    return 0;
}
