// Host harness for kernels/sha256d.cu: compiles the kernel source as plain
// C++ with the few CUDA built-ins it uses defined on the CPU, then runs one
// launch (every block and thread, in turn) and prints the hits. The Go test
// TestKernelSourceOnHost (gpu/kernel_host_test.go) builds it with the host
// C++ compiler and compares its hits with the known answers, so the .cu
// source itself is checked without a GPU.
//
// usage: kernel_host GRID BLOCK alu|mad < params.hex   (the parameter block)
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <vector>

#define __global__
#define __device__
#define __forceinline__ inline
#define __launch_bounds__(n)

struct HostDim3 {
    unsigned x, y, z;
};
static HostDim3 gridDim, blockDim, blockIdx, threadIdx;

// __funnelshift_r(lo, hi, s): the low 32 bits of (hi:lo) >> (s & 31).
static inline uint32_t __funnelshift_r(uint32_t lo, uint32_t hi, uint32_t s) {
    const uint64_t v = (static_cast<uint64_t>(hi) << 32) | lo;
    return static_cast<uint32_t>(v >> (s & 31));
}

// __byte_perm(x, y, s): result byte i is byte (s >> 4i) & 7 of y:x.
static inline uint32_t __byte_perm(uint32_t x, uint32_t y, uint32_t s) {
    const uint64_t v = (static_cast<uint64_t>(y) << 32) | x;
    uint32_t r = 0;
    for (int i = 0; i < 4; i++) {
        const unsigned sel = (s >> (4 * i)) & 7;
        r |= static_cast<uint32_t>((v >> (8 * sel)) & 0xff) << (8 * i);
    }
    return r;
}

static inline unsigned atomicAdd(unsigned *p, unsigned v) {
    const unsigned old = *p;
    *p = old + v;
    return old;
}

#include SHA256D_CU

int main(int argc, char **argv) {
    if (argc != 4) {
        std::fprintf(stderr, "usage: %s GRID BLOCK alu|mad < params.hex\n", argv[0]);
        return 2;
    }
    const bool mad = std::strcmp(argv[3], "mad") == 0;
    unsigned char raw[sizeof(Sha256dParams)];
    for (size_t i = 0; i < sizeof raw; i++) {
        unsigned v;
        if (std::scanf("%2x", &v) != 1) {
            std::fprintf(stderr, "short parameter block at byte %zu\n", i);
            return 2;
        }
        raw[i] = static_cast<unsigned char>(v);
    }
    Sha256dParams p;
    std::memcpy(&p, raw, sizeof p);
    std::vector<unsigned long long> out(1 + p.hit_cap, 0);
    p.out = out.data();
    gridDim = {static_cast<unsigned>(std::atoi(argv[1])), 1, 1};
    blockDim = {static_cast<unsigned>(std::atoi(argv[2])), 1, 1};
    for (unsigned b = 0; b < gridDim.x; b++) {
        for (unsigned t = 0; t < blockDim.x; t++) {
            blockIdx = {b, 0, 0};
            threadIdx = {t, 0, 0};
            if (mad) {
                sha256d_search_mad(p);
            } else {
                sha256d_search(p);
            }
        }
    }
    const unsigned count = static_cast<unsigned>(out[0]);
    std::printf("%u\n", count);
    for (unsigned i = 0; i < count && i < p.hit_cap; i++) {
        std::printf("%llu\n", out[1 + i]);
    }
    return 0;
}
