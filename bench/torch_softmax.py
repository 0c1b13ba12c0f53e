#!/usr/bin/env python3
"""PyTorch peers of the GPU attention softmax and fused attention benchmarks.

Run on the GPU machine in the same command as the Go benchmarks (bench/gpu.sh
run does), so that both see the same GPU in the same state. Prints one line
per figure:

    TORCH <metric> <value> <unit>

  softmax.fwd.<f32|bf16>.c<cols>   GB/s   torch.softmax(x, -1): read x, write y
  softmax.bwd.<f32|bf16>.c<cols>   GB/s   aten._softmax_backward_data: read y
                                          and dy, write dx
  attention.<fwd|bwd>.d<hdim>.t<seq>[.causal]  TFLOP/s
                                          scaled_dot_product_attention (bf16),
                                          batch x seq = 16k tokens, 2048/hdim
                                          heads; FLOPs 4·B·H·T²·D forward
                                          (half with the causal mask), 2.5×
                                          that backward

The softmax matrices have 2^27 entries, as in gpu.BenchmarkSoftmaxGPU. Each
figure is the median of --reps timed calls (CUDA events around each) after
warm-up. Inputs are random normal, never zeros.
"""

import argparse
import math
import sys

import torch
import torch.nn.functional as F


def time_ms(fn, reps, warmup=5):
    for _ in range(warmup):
        fn()
    torch.cuda.synchronize()
    times = []
    for _ in range(reps):
        start = torch.cuda.Event(enable_timing=True)
        end = torch.cuda.Event(enable_timing=True)
        start.record()
        fn()
        end.record()
        end.synchronize()
        times.append(start.elapsed_time(end))
    times.sort()
    return times[len(times) // 2]


def softmax_bench(reps, elems):
    out = []
    for name, dtype in (("f32", torch.float32), ("bf16", torch.bfloat16)):
        size = torch.finfo(dtype).bits // 8
        for cols in (128, 1024, 8192):
            rows = elems // cols
            x = torch.randn(rows, cols, device="cuda", dtype=dtype) * 4
            y = torch.softmax(x, dim=-1)
            ms = time_ms(lambda: torch.softmax(x, dim=-1), reps)
            out.append((f"softmax.fwd.{name}.c{cols}", 2 * rows * cols * size / ms / 1e6, "GB/s"))
            dy = torch.randn_like(y)
            bwd = torch.ops.aten._softmax_backward_data.default
            ms = time_ms(lambda: bwd(dy, y, -1, dtype), reps)
            out.append((f"softmax.bwd.{name}.c{cols}", 3 * rows * cols * size / ms / 1e6, "GB/s"))
            del x, y, dy
            torch.cuda.empty_cache()
    return out


def attention_bench(reps, seqs):
    out = []
    tokens = 16384
    for hdim in (64, 128):
        heads = 2048 // hdim
        for seq in seqs:
            batch = max(1, tokens // seq)
            for causal in (False, True):
                q, k, v = (torch.randn(batch, heads, seq, hdim, device="cuda", dtype=torch.bfloat16, requires_grad=True)
                           for _ in range(3))
                flops = 4 * batch * heads * seq * seq * hdim * (0.5 if causal else 1.0)
                tag = f"attention.%s.d{hdim}.t{seq}" + (".causal" if causal else "")

                def fwd():
                    return F.scaled_dot_product_attention(q, k, v, is_causal=causal)

                with torch.no_grad():
                    ms = time_ms(fwd, reps)
                out.append((tag % "fwd", flops / ms / 1e9, "TFLOP/s"))
                o = fwd()
                do = torch.randn_like(o)

                def bwd():
                    torch.autograd.grad(o, (q, k, v), do, retain_graph=True)

                ms = time_ms(bwd, reps)
                out.append((tag % "bwd", 2.5 * flops / ms / 1e9, "TFLOP/s"))
                del q, k, v, o, do
                torch.cuda.empty_cache()
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--reps", type=int, default=50)
    ap.add_argument("--elems", type=int, default=1 << 27)
    ap.add_argument("--seqs", default="512,1024,2048,4096,8192")
    ap.add_argument("--no-attention", action="store_true")
    args = ap.parse_args()
    if not torch.cuda.is_available():
        print("torch_softmax.py: no CUDA device", file=sys.stderr)
        return 1
    print(f"# torch {torch.__version__} on {torch.cuda.get_device_name(0)}", flush=True)
    results = softmax_bench(args.reps, args.elems)
    if not args.no_attention:
        results += attention_bench(args.reps, [int(s) for s in args.seqs.split(",") if s])
    for metric, value, unit in results:
        if not math.isfinite(value):
            continue
        print(f"TORCH {metric} {value:.3f} {unit}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
