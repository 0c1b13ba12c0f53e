// nvcc-flags: -fmad=false
//
// Top-k selection of sketch.TopK, exactly: keep the k values of largest
// magnitude key = bits(|v|) (an unsigned integer), ties to the lower index.
// The kept set is fixed by two numbers, found here with integer counts only
// (their values do not depend on scheduling):
//   thr    the k-th largest key;
//   cutoff the index of the need2-th lowest-index value whose key == thr,
//          where need2 = k - #{key > thr}.
// Keep j iff key_j > thr, or key_j == thr and j <= cutoff (gc_topk_keep).
//
// Steps (one stream, no host round trip; gpu/sketch_engine.go topk):
//   topk_hist1     level-1 histogram of key >> 20 (ds_estimate can fuse it)
//   topk_select    level 1: the bin holding the k-th largest key, and how
//                  many are still needed from it (need1)
//   topk_pass2     level-2 histogram of key & 0xfffff over that bin, and a
//                  list of its indices (capacity cap)
//   topk_select    level 2: thr and need2
//   topk_ties      cutoff by bisection over the listed indices, or flag an
//                  overflowing list
//   topk_tiecount, topk_tiefind  only after an overflow: cutoff by a scan of
//                  fixed chunks in index order
#include "sketch_common.cuh"

struct TopkArgs {
    const float *u;       // values (length n)
    TopkState *st;        // state; the host sets k and zeroes the rest
    unsigned *hist1;      // GC_TOPK_BINS1 counts, zeroed by the host
    unsigned *hist2;      // GC_TOPK_BINS2 counts, zeroed by the host
    uint32_t *list;       // candidate indices (cap)
    uint32_t *chunks;     // tie counts per chunk (overflow path)
    uint32_t n;
    uint32_t cap;
    uint32_t level;       // topk_select: 1 or 2
    uint32_t chunk_len;   // overflow path: values per chunk (one block each)
};
static_assert(sizeof(TopkArgs) == 64, "TopkArgs layout is fixed by gpu/sketch_params.go");

extern "C" __global__ void __launch_bounds__(256) topk_hist1(const TopkArgs a) {
    __shared__ unsigned hist[GC_TOPK_BINS1];
    for (uint32_t i = threadIdx.x; i < GC_TOPK_BINS1; i += blockDim.x) {
        hist[i] = 0;
    }
    __syncthreads();
    const uint32_t step = gridDim.x * blockDim.x;
    for (uint32_t j = blockIdx.x * blockDim.x + threadIdx.x; j < a.n; j += step) {
        atomicAdd(&hist[gc_topk_key(a.u[j]) >> GC_TOPK_SHIFT1], 1u);
    }
    __syncthreads();
    for (uint32_t i = threadIdx.x; i < GC_TOPK_BINS1; i += blockDim.x) {
        if (hist[i] != 0) {
            atomicAdd(&a.hist1[i], hist[i]);
        }
    }
}

// topk_select (one block of 32 to 1024 threads, a power of two) scans a
// histogram from the top bin down for the bin where the count still needed
// is reached, as sketch.TopK does bin by bin; here each thread first sums a
// segment of bins so that thread 0 skips whole segments (a segment whose
// total is below the need cannot hold the bin).
#define TOPK_SELECT_THREADS 1024
extern "C" __global__ void __launch_bounds__(TOPK_SELECT_THREADS) topk_select(const TopkArgs a) {
    __shared__ uint32_t seg[TOPK_SELECT_THREADS];
    const bool first = a.level == 1;
    const unsigned *h = first ? a.hist1 : a.hist2;
    const uint32_t nb = first ? GC_TOPK_BINS1 : GC_TOPK_BINS2;
    const uint32_t nt = blockDim.x;
    const uint32_t per = nb / nt;
    // Segment sums, one warp per segment at a time (coalesced reads).
    const uint32_t lane = threadIdx.x & 31, nwarps = nt >> 5;
    for (uint32_t sg = threadIdx.x >> 5; sg < nt; sg += nwarps) {
        uint32_t sum = 0;
        for (uint32_t b = sg * per + lane; b < (sg + 1) * per; b += 32) {
            sum += h[b];
        }
        for (int off = 16; off > 0; off >>= 1) {
            sum += __shfl_xor_sync(0xffffffffu, sum, off);
        }
        if (lane == 0) {
            seg[sg] = sum;
        }
    }
    __syncthreads();
    if (threadIdx.x == 0) {
        TopkState *st = a.st;
        uint32_t need = first ? st->k : st->need1;
        uint32_t t = nt - 1;
        for (; t > 0; t--) {
            if (seg[t] >= need) {
                break;
            }
            need -= seg[t];
        }
        uint32_t b = (t + 1) * per - 1;
        for (; b > t * per; b--) {
            if (h[b] >= need) {
                break;
            }
            need -= h[b];
        }
        if (first) {
            st->bin1 = b;
            st->need1 = need;
        } else {
            st->thr = (st->bin1 << GC_TOPK_SHIFT1) | b;
            st->need2 = need;
        }
    }
}

extern "C" __global__ void __launch_bounds__(256) topk_pass2(const TopkArgs a) {
    const uint32_t bin1 = a.st->bin1;
    const uint32_t step = gridDim.x * blockDim.x;
    for (uint32_t j = blockIdx.x * blockDim.x + threadIdx.x; j < a.n; j += step) {
        const uint32_t key = gc_topk_key(a.u[j]);
        if ((key >> GC_TOPK_SHIFT1) == bin1) {
            atomicAdd(&a.hist2[key & (GC_TOPK_BINS2 - 1)], 1u);
            const uint32_t slot = atomicAdd(&a.st->count, 1u);
            if (slot < a.cap) {
                a.list[slot] = j;
            }
        }
    }
}

// topk_ties (one block of up to 1024 threads): the cutoff is the least x such that
// #{listed j : key_j == thr, j <= x} >= need2, found by bisection over x.
#define TOPK_TIES_THREADS 1024
extern "C" __global__ void __launch_bounds__(TOPK_TIES_THREADS) topk_ties(const TopkArgs a) {
    __shared__ uint32_t total;
    TopkState *st = a.st;
    const uint32_t count = st->count;
    if (count > a.cap) {
        if (threadIdx.x == 0) {
            st->overflow = 1;
        }
        return;
    }
    const uint32_t thr = st->thr, need = st->need2;
    uint32_t lo = 0, hi = a.n - 1;
    while (lo < hi) {
        const uint32_t mid = lo + (hi - lo) / 2;
        if (threadIdx.x == 0) {
            total = 0;
        }
        __syncthreads();
        uint32_t c = 0;
        for (uint32_t i = threadIdx.x; i < count; i += blockDim.x) {
            const uint32_t j = a.list[i];
            if (j <= mid && gc_topk_key(a.u[j]) == thr) {
                c++;
            }
        }
        if (c != 0) {
            atomicAdd(&total, c);
        }
        __syncthreads();
        if (total >= need) {
            hi = mid;
        } else {
            lo = mid + 1;
        }
        __syncthreads();  // everyone has read total before it is reset
    }
    if (threadIdx.x == 0) {
        st->cutoff = lo;
    }
}

// topk_tiecount: after an overflow, block b counts the keys equal to thr in
// chunk b (chunk_len values); otherwise it returns at once.
extern "C" __global__ void __launch_bounds__(256) topk_tiecount(const TopkArgs a) {
    __shared__ uint32_t total;
    if (a.st->overflow == 0) {
        return;
    }
    const uint32_t thr = a.st->thr;
    if (threadIdx.x == 0) {
        total = 0;
    }
    __syncthreads();
    const uint64_t lo = (uint64_t)blockIdx.x * a.chunk_len;
    const uint64_t hi = (lo + a.chunk_len < a.n) ? lo + a.chunk_len : a.n;
    uint32_t c = 0;
    for (uint64_t j = lo + threadIdx.x; j < hi; j += blockDim.x) {
        if (gc_topk_key(a.u[j]) == thr) {
            c++;
        }
    }
    if (c != 0) {
        atomicAdd(&total, c);
    }
    __syncthreads();
    if (threadIdx.x == 0) {
        a.chunks[blockIdx.x] = total;
    }
}

// topk_tiefind (one thread): after an overflow, walks the chunk counts in
// order to the chunk holding the need2-th tie, then that chunk's values.
extern "C" __global__ void topk_tiefind(const TopkArgs a) {
    TopkState *st = a.st;
    if (st->overflow == 0 || threadIdx.x != 0 || blockIdx.x != 0) {
        return;
    }
    const uint32_t thr = st->thr;
    uint32_t need = st->need2;
    const uint32_t nchunks = (uint32_t)(((uint64_t)a.n + a.chunk_len - 1) / a.chunk_len);
    uint32_t c = 0;
    for (; c + 1 < nchunks; c++) {
        if (a.chunks[c] >= need) {
            break;
        }
        need -= a.chunks[c];
    }
    const uint64_t lo = (uint64_t)c * a.chunk_len;
    const uint64_t hi = (lo + a.chunk_len < a.n) ? lo + a.chunk_len : a.n;
    uint32_t cutoff = (uint32_t)(hi - 1);
    for (uint64_t j = lo; j < hi; j++) {
        if (gc_topk_key(a.u[j]) == thr) {
            if (--need == 0) {
                cutoff = (uint32_t)j;
                break;
            }
        }
    }
    st->cutoff = cutoff;
}
