#!/usr/bin/env python3
"""The peer of bench_attention: torch.nn.functional.scaled_dot_product_attention in bf16 at
the same shapes, once per SDPA backend (cuDNN, flash, efficient), timed the same way: inputs
uniform in [-1, 1), several input sets rotated so that L2 holds none of them, 3 warm-ups, then
CUDA events around each call, median of the timed calls. Prints the same table as
bench_attention, plus a `best` row per shape. FLOPs = 4 B H L^2 d (two products).

Usage: bench_attention_torch.py [--causal] [--reps N]"""
import argparse
import statistics

import torch
import torch.nn.functional as F
from torch.nn.attention import SDPBackend, sdpa_kernel

SHAPES = [(8, 16, 1024, 72), (4, 16, 4096, 72), (1, 24, 4096, 128), (1, 24, 16384, 128), (1, 12, 32760, 128)]
BACKENDS = [("cudnn", SDPBackend.CUDNN_ATTENTION), ("flash", SDPBackend.FLASH_ATTENTION),
            ("efficient", SDPBackend.EFFICIENT_ATTENTION)]


def timeit(fn, sets, reps, warm=3):
    """fn(q, k, v) over the input sets in turn: warm-ups, then CUDA events around each call.
    Returns (median, min) in ms. bench_na_torch.py times its peers with this too."""
    for i in range(warm):
        fn(*sets[i % len(sets)])
    torch.cuda.synchronize()
    ms = []
    a, b = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
    for i in range(reps):
        a.record()
        fn(*sets[i % len(sets)])
        b.record()
        b.synchronize()
        ms.append(a.elapsed_time(b))
    return statistics.median(ms), min(ms)


def time_one(backend, sets, causal, reps):
    with sdpa_kernel([backend]):
        return timeit(lambda q, k, v: F.scaled_dot_product_attention(q, k, v, is_causal=causal),
                      sets, reps)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--causal", action="store_true")
    ap.add_argument("--reps", type=int, default=0)
    args = ap.parse_args()
    dev = torch.cuda.get_device_name(0)
    print(f"device: {dev}, torch {torch.__version__}, causal={int(args.causal)}")
    print(f"{'kernel':<12} {'B x H x L x d':<22} {'ms':>10} {'TFLOP/s':>10}")
    for (B, H, L, d) in SHAPES:
        nbytes = B * H * L * d * 2 * 4
        nsets = max(2, (400 << 20) // nbytes + 1)
        # (B, H, L, d) contiguous: the same memory layout as sinter's (BH, L, D)
        sets = [tuple(torch.rand(B, H, L, d, device="cuda", dtype=torch.bfloat16) * 2 - 1 for _ in range(3))
                for _ in range(nsets)]
        flops = 4.0 * B * H * L * L * d
        if args.causal:
            flops /= 2
        reps = args.reps or (20 if flops > 1e12 else 60)
        shape = f"{B}x{H}x{L}x{d}"
        best = None
        for name, be in BACKENDS:
            try:
                med, mn = time_one(be, sets, args.causal, reps)
            except Exception as e:  # a backend that refuses the shape
                print(f"{'sdpa-' + name:<12} {shape:<22} {'n/a':>10} {'':>10}   ({str(e).splitlines()[0][:60]})")
                continue
            print(f"{'sdpa-' + name:<12} {shape:<22} {med:10.3f} {flops / med * 1e-9:10.1f}   (min {mn:.3f})")
            if best is None or med < best[0]:
                best = (med, name)
        if best:
            print(f"{'sdpa-best':<12} {shape:<22} {best[0]:10.3f} {flops / best[0] * 1e-9:10.1f}   ({best[1]})")
        del sets
        torch.cuda.empty_cache()


if __name__ == "__main__":
    main()
