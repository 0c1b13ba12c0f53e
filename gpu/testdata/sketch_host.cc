// Host "device" for the sketch kernels: compiles kernels/{sketch,desketch,
// fwht,topk,quant,apply}.cu as plain C++ with the CUDA built-ins they use
// defined on the CPU, and serves a small binary protocol on stdin/stdout
// (allocate, copy, memset, launch by name) so that the Go tests drive the
// very launch sequences of gpu/sketch_engine.go against it and compare the
// results bit for bit with chain/sketch and chain/state
// (gpu/sketch_host_test.go). Built with -ffp-contract=off: on x86-64 every
// float and double operation is then one IEEE round-to-nearest operation,
// as the kernels' __fadd_rn etc. are on the GPU.
//
// Execution: one block at a time, so `static` stands in for __shared__; a
// block's threads run one after another (kernels without barriers), or as
// fibers that switch at every barrier (kernels with barriers or warp
// shuffles). Warp shuffles exchange through a per-warp slot array between
// two warp barriers. New device memory is
// filled with 0xff bytes (NaN floats, -1 ints) so that reads of memory no
// kernel wrote show up.
//
// Protocol (little-endian; every reply starts with a status byte, 0 = ok,
// 1 = error followed by u32 length and message):
//   'A' u64 bytes                 -> u64 address
//   'F' u64 address
//   'W' u64 address u64 n bytes[n]
//   'R' u64 address u64 n         -> bytes[n]
//   'M' u64 address u32 value u64 words
//   'C' u64 dst u64 src u64 n
//   'L' u16 len name u32 gx gy gz bx by bz smem 0 plen params[plen]
//   'S' u16 len name              -> u64 sizeof(the kernel's parameter struct)
//   'Q'                           (exit)
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <math.h>
#include <string>
#include <ucontext.h>
#include <vector>

#define __global__
#define __device__
#define __host__
#define __forceinline__ inline
#define __launch_bounds__(...)
#define __shared__ static
#define __restrict__

struct HostDim3 {
    unsigned x, y, z;
};
static HostDim3 gridDim, blockDim;
static HostDim3 blockIdx, threadIdx;  // of the running thread (set on every switch)
static unsigned g_tid;                // linear thread index in the block
static bool g_threaded;               // this launch runs a block's threads as fibers
static std::vector<unsigned char> g_dyn_smem;

struct alignas(16) uint4 {
    unsigned x, y, z, w;
};

[[noreturn]] static void die(const char *msg) {
    std::fprintf(stderr, "sketch_host: %s\n", msg);
    std::exit(3);
}

// ---- fibers, barriers, shuffles
//
// A kernel with barriers runs each block's threads as fibers (ucontext) on
// this one OS thread: a thread runs until it waits at a barrier, then the
// next one runs; a pass over the block resumes every thread not finished.

struct Fiber {
    ucontext_t ctx;
    char *stack = nullptr;
    bool done = false;
};
static ucontext_t g_sched;
static std::vector<Fiber> g_fibers;
static unsigned g_cur;
static const size_t kFiberStack = 256 << 10;

static void fiber_yield() { swapcontext(&g_fibers[g_cur].ctx, &g_sched); }

class Barrier {
   public:
    void reset(unsigned n) {
        n_ = n;
        count_ = 0;
    }
    void wait() {
        const unsigned gen = gen_;
        if (++count_ == n_) {
            count_ = 0;
            gen_++;
            return;
        }
        while (gen_ == gen) {
            fiber_yield();
        }
    }

   private:
    unsigned n_ = 0, count_ = 0, gen_ = 0;
};

static Barrier g_block_barrier;
static Barrier g_warp_barrier[32];
static uint64_t g_xchg[2][32][32];
static unsigned g_match[32][32];

static void __syncthreads() {
    if (!g_threaded) die("__syncthreads in a kernel registered as sequential");
    g_block_barrier.wait();
}

static void warp_wait() {
    if (!g_threaded) die("warp intrinsic in a kernel registered as sequential");
    g_warp_barrier[g_tid / 32].wait();
}

static void __syncwarp(unsigned = 0xffffffffu) { warp_wait(); }

// shfl_from exchanges through one of two slot sets, alternating (each
// thread counts its shuffles; a warp's lanes shuffle together), so that one
// barrier per shuffle suffices: a set is rewritten only after the next
// shuffle's barrier, which every lane reaches after its last read of it.
static unsigned g_shfl_count[1024];
template <class T>
static T shfl_from(T v, unsigned src) {
    const unsigned w = g_tid / 32, l = g_tid % 32;
    const unsigned set = g_shfl_count[g_tid]++ & 1;
    uint64_t bits = 0;
    std::memcpy(&bits, &v, sizeof(T));
    g_xchg[set][w][l] = bits;
    warp_wait();
    const uint64_t r = g_xchg[set][w][src & 31];
    T out;
    std::memcpy(&out, &r, sizeof(T));
    return out;
}

template <class T>
static T __shfl_sync(unsigned, T v, int src, int = 32) {
    return shfl_from(v, (unsigned)src);
}

template <class T>
static T __shfl_down_sync(unsigned, T v, unsigned delta, int = 32) {
    const unsigned l = g_tid % 32;
    const unsigned src = l + delta < 32 ? l + delta : l;
    return shfl_from(v, src);
}

template <class T>
static T __shfl_xor_sync(unsigned, T v, int mask, int = 32) {
    return shfl_from(v, (g_tid % 32) ^ (unsigned)mask);
}

static unsigned __match_any_sync(unsigned, unsigned v) {
    const unsigned w = g_tid / 32, l = g_tid % 32;
    g_match[w][l] = v;
    warp_wait();
    unsigned mask = 0;
    const unsigned n = blockDim.x * blockDim.y * blockDim.z - w * 32 < 32 ? blockDim.x * blockDim.y * blockDim.z - w * 32 : 32;
    for (unsigned i = 0; i < n; i++) {
        if (g_match[w][i] == v) mask |= 1u << i;
    }
    warp_wait();
    return mask;
}

// ---- arithmetic and bit intrinsics

static inline float __fadd_rn(float a, float b) { return a + b; }
static inline float __fsub_rn(float a, float b) { return a - b; }
static inline float __fmul_rn(float a, float b) { return a * b; }
static inline double __dadd_rn(double a, double b) { return a + b; }
static inline double __dsub_rn(double a, double b) { return a - b; }
static inline double __dmul_rn(double a, double b) { return a * b; }
static inline double __ddiv_rn(double a, double b) { return a / b; }
static inline float __double2float_rn(double x) { return (float)x; }
static inline unsigned __float_as_uint(float x) {
    unsigned u;
    std::memcpy(&u, &x, 4);
    return u;
}
static inline float __uint_as_float(unsigned u) {
    float x;
    std::memcpy(&x, &u, 4);
    return x;
}
static inline uint64_t __umul64hi(uint64_t a, uint64_t b) {
    return (uint64_t)(((unsigned __int128)a * b) >> 64);
}
static inline unsigned __popc(unsigned x) { return (unsigned)__builtin_popcount(x); }
static inline unsigned __byte_perm(unsigned x, unsigned y, unsigned s) {
    const uint64_t v = ((uint64_t)y << 32) | x;
    unsigned r = 0;
    for (int i = 0; i < 4; i++) {
        const unsigned sel = (s >> (4 * i)) & 7;
        r |= (unsigned)((v >> (8 * sel)) & 0xff) << (8 * i);
    }
    return r;
}

// ---- atomics (also correct when a block's threads run concurrently)

static inline unsigned atomicAdd(unsigned *p, unsigned v) { return __atomic_fetch_add(p, v, __ATOMIC_SEQ_CST); }
static inline unsigned atomicOr(unsigned *p, unsigned v) { return __atomic_fetch_or(p, v, __ATOMIC_SEQ_CST); }
static inline int atomicExch(int *p, int v) { return __atomic_exchange_n(p, v, __ATOMIC_SEQ_CST); }
static inline unsigned atomicMin(unsigned *p, unsigned v) {
    unsigned old = __atomic_load_n(p, __ATOMIC_SEQ_CST);
    while (v < old && !__atomic_compare_exchange_n(p, &old, v, false, __ATOMIC_SEQ_CST, __ATOMIC_SEQ_CST)) {
    }
    return old;
}
static inline float atomicAdd(float *p, float v) {
    unsigned *u = reinterpret_cast<unsigned *>(p);
    unsigned old = __atomic_load_n(u, __ATOMIC_SEQ_CST);
    for (;;) {
        const unsigned nw = __float_as_uint(__uint_as_float(old) + v);
        if (__atomic_compare_exchange_n(u, &old, nw, false, __ATOMIC_SEQ_CST, __ATOMIC_SEQ_CST)) {
            return __uint_as_float(old);
        }
    }
}

#define GC_DYN_SMEM(T, name) T *name = reinterpret_cast<T *>(g_dyn_smem.data())

#include "../../kernels/apply.cu"
#include "../../kernels/desketch.cu"
#include "../../kernels/fwht.cu"
#include "../../kernels/quant.cu"
#include "../../kernels/sketch.cu"
#include "../../kernels/topk.cu"

// ---- kernel table

struct Kernel {
    const char *name;
    size_t argsize;
    bool threaded;  // uses barriers or warp intrinsics
    void (*run)(const void *);
};

#define K(fn, T, thr) {#fn, sizeof(T), thr, [](const void *p) { fn(*static_cast<const T *>(p)); }}

static const Kernel kernels[] = {
    K(ds_sparse, DsArgs, false),
    K(ds_estimate, DsArgs, true),
    K(ds_gauss, DsArgs, true),
    K(ds_ams, DsArgs, true),
    K(fwht_pass, FwhtArgs, true),
    K(fwht_pass_reg, FwhtArgs, true),
    K(srht_link_init, FwhtArgs, false),
    K(srht_link, FwhtArgs, false),
    K(topk_hist1, TopkArgs, true),
    K(topk_select, TopkArgs, true),
    K(topk_pass2, TopkArgs, false),
    K(topk_ties, TopkArgs, true),
    K(topk_tiecount, TopkArgs, true),
    K(topk_tiefind, TopkArgs, false),
    K(q_quantize, QArgs, true),
    K(q_pack4, QArgs, false),
    K(q_raw, QArgs, false),
    K(q_dequant_agg, QArgs, false),
    K(ef_combine, QArgs, false),
    K(ap_update, ApArgs, false),
    K(ap_leaf, ApArgs, false),
    K(sk_sparse_global, SkArgs, false),
    K(sk_sparse_shared, SkArgs, true),
    K(sk_gauss_fwd, SkArgs, true),
    K(sk_ams_fwd, SkArgs, true),
    K(sk_reduce_rows, SkArgs, false),
};

static const Kernel *find_kernel(const std::string &name) {
    for (const Kernel &k : kernels) {
        if (name == k.name) return &k;
    }
    return nullptr;
}

static void set_thread(unsigned t, unsigned b) {
    g_tid = t;
    threadIdx = {t % blockDim.x, (t / blockDim.x) % blockDim.y, t / (blockDim.x * blockDim.y)};
    blockIdx = {b % gridDim.x, (b / gridDim.x) % gridDim.y, b / (gridDim.x * gridDim.y)};
}

static const Kernel *g_kernel;
static const void *g_params;

static void fiber_main() {
    g_kernel->run(g_params);
    g_fibers[g_cur].done = true;
}  // returns to g_sched through uc_link

static void run_launch(const Kernel &k, const void *params) {
    const unsigned nthreads = blockDim.x * blockDim.y * blockDim.z;
    const unsigned nblocks = gridDim.x * gridDim.y * gridDim.z;
    g_threaded = k.threaded;
    if (!k.threaded) {
        for (unsigned b = 0; b < nblocks; b++) {
            for (unsigned t = 0; t < nthreads; t++) {
                set_thread(t, b);
                k.run(params);
            }
        }
        return;
    }
    g_kernel = &k;
    g_params = params;
    if (g_fibers.size() < nthreads) g_fibers.resize(nthreads);
    for (unsigned t = 0; t < nthreads; t++) {
        if (g_fibers[t].stack == nullptr) {
            g_fibers[t].stack = static_cast<char *>(std::malloc(kFiberStack));
            if (g_fibers[t].stack == nullptr) die("out of memory for fiber stacks");
        }
    }
    for (unsigned b = 0; b < nblocks; b++) {
        g_block_barrier.reset(nthreads);
        for (unsigned w = 0; w < (nthreads + 31) / 32; w++) {
            g_warp_barrier[w].reset(nthreads - 32 * w < 32 ? nthreads - 32 * w : 32);
        }
        for (unsigned t = 0; t < nthreads; t++) {
            g_shfl_count[t] = 0;
            Fiber &f = g_fibers[t];
            f.done = false;
            getcontext(&f.ctx);
            f.ctx.uc_stack.ss_sp = f.stack;
            f.ctx.uc_stack.ss_size = kFiberStack;
            f.ctx.uc_link = &g_sched;
            makecontext(&f.ctx, fiber_main, 0);
        }
        for (unsigned left = nthreads; left > 0;) {
            left = 0;
            for (unsigned t = 0; t < nthreads; t++) {
                if (g_fibers[t].done) continue;
                g_cur = t;
                set_thread(t, b);
                swapcontext(&g_sched, &g_fibers[t].ctx);
                if (!g_fibers[t].done) left++;
            }
        }
    }
}

// ---- protocol

static void read_exact(void *p, size_t n) {
    if (n > 0 && std::fread(p, 1, n, stdin) != n) std::exit(0);  // the test closed the pipe
}
template <class T>
static T rd() {
    T v;
    read_exact(&v, sizeof v);
    return v;
}
static void write_exact(const void *p, size_t n) {
    if (n > 0 && std::fwrite(p, 1, n, stdout) != n) std::exit(4);
}
static void ok() {
    const unsigned char z = 0;
    write_exact(&z, 1);
}
static void fail(const std::string &msg) {
    const unsigned char one = 1;
    const uint32_t n = (uint32_t)msg.size();
    write_exact(&one, 1);
    write_exact(&n, 4);
    write_exact(msg.data(), n);
}
static std::string rd_name() {
    const uint16_t n = rd<uint16_t>();
    std::string s(n, '\0');
    read_exact(&s[0], n);
    return s;
}

int main() {
    for (;;) {
        const int op = std::fgetc(stdin);
        if (op == EOF || op == 'Q') return 0;
        switch (op) {
        case 'A': {
            const uint64_t n = rd<uint64_t>();
            void *p = std::aligned_alloc(256, (n + 255) & ~(uint64_t)255);
            if (p == nullptr) {
                fail("out of memory");
                break;
            }
            std::memset(p, 0xff, n);
            ok();
            const uint64_t addr = (uint64_t)(uintptr_t)p;
            write_exact(&addr, 8);
            break;
        }
        case 'F':
            std::free((void *)(uintptr_t)rd<uint64_t>());
            ok();
            break;
        case 'W': {
            const uint64_t addr = rd<uint64_t>(), n = rd<uint64_t>();
            read_exact((void *)(uintptr_t)addr, n);
            ok();
            break;
        }
        case 'R': {
            const uint64_t addr = rd<uint64_t>(), n = rd<uint64_t>();
            ok();
            write_exact((const void *)(uintptr_t)addr, n);
            break;
        }
        case 'M': {
            const uint64_t addr = rd<uint64_t>();
            const uint32_t v = rd<uint32_t>();
            const uint64_t words = rd<uint64_t>();
            uint32_t *p = (uint32_t *)(uintptr_t)addr;
            for (uint64_t i = 0; i < words; i++) p[i] = v;
            ok();
            break;
        }
        case 'C': {
            const uint64_t dst = rd<uint64_t>(), src = rd<uint64_t>(), n = rd<uint64_t>();
            std::memmove((void *)(uintptr_t)dst, (const void *)(uintptr_t)src, n);
            ok();
            break;
        }
        case 'L': {
            const std::string name = rd_name();
            uint32_t dims[8];
            read_exact(dims, sizeof dims);
            const uint32_t plen = rd<uint32_t>();
            std::vector<uint64_t> params((plen + 7) / 8 + 1);
            read_exact(params.data(), plen);
            const Kernel *k = find_kernel(name);
            if (k == nullptr) {
                fail("no kernel " + name);
                break;
            }
            if (plen != k->argsize) {
                fail(name + ": parameter block of " + std::to_string(plen) + " bytes, kernel takes " + std::to_string(k->argsize));
                break;
            }
            gridDim = {dims[0], dims[1], dims[2]};
            blockDim = {dims[3], dims[4], dims[5]};
            if (blockDim.x * blockDim.y * blockDim.z > 1024 || blockDim.x * blockDim.y * blockDim.z == 0) {
                fail(name + ": bad block size");
                break;
            }
            g_dyn_smem.assign(dims[6] + 16, 0xff);
            run_launch(*k, params.data());
            ok();
            break;
        }
        case 'S': {
            const Kernel *k = find_kernel(rd_name());
            if (k == nullptr) {
                fail("no such kernel");
                break;
            }
            ok();
            const uint64_t n = k->argsize;
            write_exact(&n, 8);
            break;
        }
        default:
            fail("unknown op");
        }
        std::fflush(stdout);
    }
}
