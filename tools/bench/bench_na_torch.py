#!/usr/bin/env python3
"""The peers of bench_na (neighborhood attention) on the same GPU: dense
torch.nn.functional.scaled_dot_product_attention (best of the cuDNN / flash backends), and
FlexAttention with NATTEN's mask as a mask_mod over the token-permuted order (tiles (16, 8) for
FLUX, (2, 8, 8) for HunyuanVideo, 128-token blocks), as in attention.md section 8. The block
mask is built ONCE per problem (create_block_mask(..., _compile=True)) outside the timing, and
flex_attention is compiled (torch.compile, dynamic=False). B = 1, 24 heads, d = 128, bf16.

Timing: inputs uniform in [-1, 1), two input sets alternated, warm-ups, then CUDA events
around each call, median. Prints a table and `RESULT name ms` lines for tools/device/na.sh.

Usage: bench_na_torch.py [--reps N] [--skip-flex] [--only CASE,...]"""
import argparse
import statistics
import sys
import time

import torch
import torch.nn.functional as F
from torch.nn.attention import SDPBackend, sdpa_kernel

from bench_attention_torch import timeit  # the same timing as the dense peer

H, D = 24, 128
CASES = [  # name, grid, window, stride, tile
    ("flux-na", (256, 256), (80, 80), (1, 1), (16, 8)),
    ("flux-gna", (256, 256), (80, 80), (16, 16), (16, 8)),
    ("hunyuan-na", (30, 48, 80), (18, 24, 24), (1, 1, 1), (2, 8, 8)),
    ("hunyuan-gna", (30, 48, 80), (18, 24, 24), (16, 8, 8), (2, 8, 8)),
]


def na_mask_mod(grid, window, stride, tile):
    """NATTEN's non-causal window (dilation 1) on the tile-permuted token order: permuted index
    -> (tile, offset) -> grid coordinates; separable AND over the axes."""
    n = len(grid)
    nt = [grid[a] // tile[a] for a in range(n)]
    tsz = 1
    for t in tile:
        tsz *= t

    def coords(idx):
        t, o = idx // tsz, idx % tsz
        tc, oc = [None] * n, [None] * n
        for a in range(n - 1, -1, -1):
            tc[a] = t % nt[a]
            t = t // nt[a]
            oc[a] = o % tile[a]
            o = o // tile[a]
        return [tc[a] * tile[a] + oc[a] for a in range(n)]

    def mask_mod(b, h, q_idx, kv_idx):
        qc, kc = coords(q_idx), coords(kv_idx)
        ok = None
        for a in range(n):
            L, k, s = grid[a], window[a], stride[a]
            leader = torch.clamp((qc[a] // s) * s + s // 2, max=L - 1)
            start = torch.clamp(leader - k // 2, min=0, max=L - k)
            m = (kc[a] >= start) & (kc[a] < start + k)
            ok = m if ok is None else ok & m
        return ok

    return mask_mod


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--reps", type=int, default=10)
    ap.add_argument("--skip-flex", action="store_true")
    ap.add_argument("--only", default="")
    args = ap.parse_args()
    print(f"device: {torch.cuda.get_device_name(0)}, torch {torch.__version__}")
    from torch.nn.attention.flex_attention import create_block_mask, flex_attention
    flex = torch.compile(flex_attention, dynamic=False)
    dense = {}
    print(f"{'case':<14} {'N':>7} {'ms':>9} {'TFLOP/s':>8} {'vs SDPA':>8} {'mask s':>7} {'sparsity':>8}")
    for name, grid, window, stride, tile in CASES:
        if args.only and name not in args.only.split(","):
            continue
        N = 1
        for g in grid:
            N *= g
        flops = 4.0 * H * N * N * D
        sets = [tuple(torch.rand(1, H, N, D, device="cuda", dtype=torch.bfloat16) * 2 - 1 for _ in range(3))
                for _ in range(2)]
        key = tuple(grid)
        if key not in dense:
            best = None
            for bname, be in (("cudnn", SDPBackend.CUDNN_ATTENTION), ("flash", SDPBackend.FLASH_ATTENTION)):
                try:
                    with sdpa_kernel([be]):
                        med, mn = timeit(lambda q, k, v: F.scaled_dot_product_attention(q, k, v), sets,
                                         max(3, args.reps // 2), warm=1)
                except Exception as e:
                    print(f"sdpa-{bname}: n/a ({str(e).splitlines()[0][:80]})")
                    continue
                print(f"{'sdpa-' + bname:<14} {N:>7} {med:9.3f} {flops / med * 1e-9:8.1f}   (min {mn:.3f})")
                if best is None or med < best[0]:
                    best = (med, bname)
            dense[key] = best[0]
            tag = "flux" if len(grid) == 2 else "hunyuan"
            print(f"RESULT sdpa-{tag} {best[0]:.4f} ({best[1]})")
            sys.stdout.flush()
        if args.skip_flex:
            continue
        mm = na_mask_mod(grid, window, stride, tile)
        torch.cuda.synchronize()
        t0 = time.time()
        bm = create_block_mask(mm, None, None, N, N, device="cuda", BLOCK_SIZE=128, _compile=True)
        torch.cuda.synchronize()
        build = time.time() - t0
        sparsity = bm.sparsity()
        t0 = time.time()
        fn = lambda q, k, v: flex(q, k, v, block_mask=bm)
        fn(*sets[0])
        torch.cuda.synchronize()
        comp = time.time() - t0
        med, mn = timeit(fn, sets, args.reps)
        print(f"{'flex-' + name:<14} {N:>7} {med:9.3f} {flops / med * 1e-9:8.1f} {dense[key] / med:7.2f}x "
              f"{build:7.1f} {sparsity:7.1f}%   (min {mn:.3f}; first call {comp:.1f} s)")
        print(f"RESULT flex-{name} {med:.4f}")
        sys.stdout.flush()
        del bm
        del sets
        torch.cuda.empty_cache()


if __name__ == "__main__":
    main()
