#!/usr/bin/env python3
"""PyTorch peers of the GPU sketch kernels (gpu/sketch*.go, kernels/*.cu).

bench/gpu.sh runs this in the same device command as the Go GPU benchmarks
and turns both into RESULT lines with ratios. It prints one line per figure:

    TORCH <metric> <value> <unit>

with the bytes counted as the Go benchmarks count them (BenchmarkSketchGPU:
the 4*d input bytes; BenchmarkDesketchGPU: the 4*d output bytes; copies:
bytes read plus written), so that GB/s figures compare directly:

  sketch.sparse.t<T>.fwd.d<D>   index_add_ of x*sign into m = d/100 buckets,
                                T nonzeros per column, indices precomputed
  desketch.sparse.t<T>.d<D>     gather y[idx]*sign summed over the T nonzeros
  desketch.countsketch_topk.d<D> median of 5 gathered estimates, topk(m/2) by
                                magnitude, scattered into zeros
  sketch.dense.fwd.d<D>         materialised 16 x d Gaussian block @ x (torch.mv)
  desketch.dense.d<D>           its transpose @ y
  sketch.srht.fwd.d<D>          x*D, zero-pad, radix-2 Hadamard transform in
                                PyTorch (log2 d' passes), sample m rows
  desketch.srht.d<D>            index_add_ of y into the sampled rows, the
                                transform, *D
  fwht.d<D>                     the Hadamard transform alone, padded length
  copy.d<D>                     device-to-device copy of d floats
  axpy.d1.24e8                  w.add_(u, alpha) over 124,439,808 floats
                                (counting w read, u read, w written)

Times are CUDA-event medians after warm-up. Usage:
    python3 bench/torch_sketch.py [--dims 1e6,1e7,1e8] [--iters 20]
"""
import argparse
import sys

try:
    import torch
except ImportError:  # the caller reports the missing peer
    print("torch_sketch.py: PyTorch is not installed", file=sys.stderr)
    sys.exit(2)


def median_seconds(fn, iters, warmup=3):
    for _ in range(warmup):
        fn()
    torch.cuda.synchronize()
    start = torch.cuda.Event(enable_timing=True)
    end = torch.cuda.Event(enable_timing=True)
    times = []
    for _ in range(iters):
        start.record()
        fn()
        end.record()
        end.synchronize()
        times.append(start.elapsed_time(end) / 1e3)
    times.sort()
    return times[len(times) // 2]


def emit(metric, value, unit):
    print(f"TORCH {metric} {value:.4f} {unit}", flush=True)


def fwht_(z):
    """Unnormalised radix-2 Walsh-Hadamard transform of a power-of-two vector."""
    n = z.numel()
    h = 1
    while h < n:
        v = z.view(-1, 2, h)
        a, b = v[:, 0], v[:, 1]
        z = torch.stack((a + b, a - b), dim=1).view(-1)
        h *= 2
    return z


def run(dims, iters):
    dev = torch.device("cuda")
    torch.manual_seed(1)
    print(f"# torch {torch.__version__} on {torch.cuda.get_device_name(0)}", flush=True)
    for name, d in dims:
        x = torch.randn(d, device=dev)
        m = max(d // 100, 1)
        mb = 4 * d  # bytes counted: the d-vector

        # Sparse families: index_add_ (forward) and gather (de-sketch).
        for t in (1, 3, 4, 5):
            w = max(m // t, 1)
            rows = (torch.randint(0, w, (t, d), device=dev) + torch.arange(t, device=dev).view(t, 1) * w).reshape(-1)
            sign = (torch.randint(0, 2, (t * d,), device=dev) * 2 - 1).to(torch.float32)
            y = torch.zeros(t * w, device=dev)
            scale = t ** -0.5
            xs = torch.empty(t * d, device=dev)

            def fwd():
                y.zero_()
                torch.mul(x.repeat(t), sign, out=xs)
                y.index_add_(0, rows, xs, alpha=scale)

            emit(f"sketch.sparse.t{t}.fwd.d{name}", mb / median_seconds(fwd, iters) / 1e9, "GB/s")
            fwd()
            u = torch.empty(d, device=dev)

            def gather():
                torch.sum((y[rows] * sign).view(t, d), dim=0, out=u)
                u.mul_(scale)

            emit(f"desketch.sparse.t{t}.d{name}", mb / median_seconds(gather, iters) / 1e9, "GB/s")
            if t == 5:
                k = max(m // 2, 1)
                out = torch.zeros(d, device=dev)

                def topk():
                    est = torch.median((y[rows] * sign).view(t, d), dim=0).values * (t ** 0.5)
                    _, idx = torch.topk(est.abs(), k, sorted=False)
                    out.zero_()
                    out[idx] = est[idx]

                emit(f"desketch.countsketch_topk.d{name}", mb / median_seconds(topk, iters) / 1e9, "GB/s")
            del rows, sign, y, xs, u

        # Dense families: a materialised 16 x d block (Gaussian; AMS is the
        # same product with +-1 entries).
        S = torch.randn(16, d, device=dev)
        ys = torch.empty(16, device=dev)
        emit(f"sketch.dense.fwd.d{name}", mb / median_seconds(lambda: torch.mv(S, x, out=ys), iters) / 1e9, "GB/s")
        ud = torch.empty(d, device=dev)
        St = S.t()
        emit(f"desketch.dense.d{name}", mb / median_seconds(lambda: torch.mv(St, ys, out=ud), iters) / 1e9, "GB/s")
        del S, St, ud

        # SRHT: signs, pad, Hadamard transform, sample.
        pad = 1 << (d - 1).bit_length()
        D = (torch.randint(0, 2, (d,), device=dev) * 2 - 1).to(torch.float32)
        ridx = torch.randint(0, pad, (m,), device=dev)
        z = torch.zeros(pad, device=dev)
        sc = m ** -0.5

        def srht_fwd():
            z.zero_()
            torch.mul(x, D, out=z[:d])
            return fwht_(z)[ridx] * sc

        emit(f"sketch.srht.fwd.d{name}", mb / median_seconds(srht_fwd, iters) / 1e9, "GB/s")
        yr = srht_fwd()

        def srht_t():
            z.zero_()
            z.index_add_(0, ridx, yr)
            return fwht_(z)[:d] * sc * D

        emit(f"desketch.srht.d{name}", mb / median_seconds(srht_t, iters) / 1e9, "GB/s")
        emit(f"fwht.d{name}", 4 * pad / median_seconds(lambda: fwht_(z), iters) / 1e9, "GB/s")
        del D, ridx, z, yr

        dst = torch.empty_like(x)
        emit(f"copy.d{name}", 2 * mb / median_seconds(lambda: dst.copy_(x), iters) / 1e9, "GB/s")
        del x, dst
        torch.cuda.empty_cache()

    n = 124_439_808
    wv = torch.randn(n, device=dev)
    uv = torch.randn(n, device=dev)
    emit("axpy.d1.24e8", 12 * n / median_seconds(lambda: wv.add_(uv, alpha=0.25), iters) / 1e9, "GB/s")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--dims", default="1e6,1e7,1e8")
    ap.add_argument("--iters", type=int, default=20)
    a = ap.parse_args()
    dims = [(s, int(float(s))) for s in a.dims.split(",")]
    if not torch.cuda.is_available():
        print("torch_sketch.py: no CUDA device", file=sys.stderr)
        sys.exit(2)
    run(dims, a.iters)


if __name__ == "__main__":
    main()
