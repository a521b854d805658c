#!/usr/bin/env python3
"""PyTorch peers of tools/bench/bench_models.c, on the same GPU and the same weights.

    python3 tools/bench/bench_models_torch.py DIR [--parts dit,compile,vae,e2e]

First writes DIR/dit_xl2.safetensors (DiT-XL/2, 256px: input 32, patch 2, 4 -> 8 channels,
width 1152, depth 28, 16 heads, 1000 classes; PyTorch's default init) and DIR/sd_vae.safetensors
(the SD AutoencoderKL: 128-256-512-512, 2 resnets per level, 32 groups, diffusers names), both
f32 and seeded, unless they exist. The models are tools/reference/dit.py and
tools/reference/autoencoder_kl.py (the parity references, official key names) with their
attention switched to torch.nn.functional.scaled_dot_product_attention, as timm's DiT and
diffusers' VAE run it, and run in bf16 on the GPU:

  dit      the denoiser step at batch 1, 8, 64, 256, eager
  compile  the same under torch.compile (default mode), compile time excluded
  vae      decode of a 512x512 and a 1024x1024 image (latents 64x64, 128x128), batch 1,
           cudnn.benchmark on (its fastest convolutions)
  e2e      50 DDIM steps (eta 0, DiT's linear betas, respaced "ddim50") with classifier-free
           guidance 4 on 3 channels (DiT's forward_with_cfg: batch 64 doubled), then the decode

Timing: CUDA events around each repetition after warm-up, median in ms.
"""
import math
import os
import statistics
import sys
import time

import torch
import torch.nn.functional as F
from safetensors.torch import save_file

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "reference"))
import autoencoder_kl as ae  # noqa: E402
import dit  # noqa: E402

DEV = "cuda"
DT = torch.bfloat16


def frequency_embedding(t, dim, max_period=10000):
    half = dim // 2
    freqs = torch.exp(-math.log(max_period) * torch.arange(0, half, dtype=torch.float32,
                                                           device=t.device) / half)
    args = t[:, None].float() * freqs[None]
    return torch.cat([torch.cos(args), torch.sin(args)], dim=-1)


def vae_attention_sdpa(self, x):
    n, c, h, w = x.shape
    t = self.group_norm(x).reshape(n, c, h * w).transpose(1, 2)
    q, k, v = self.to_q(t), self.to_k(t), self.to_v(t)
    o = F.scaled_dot_product_attention(q[:, None], k[:, None], v[:, None])[:, 0]
    return x + self.to_out[0](o).transpose(1, 2).reshape(n, c, h, w)


dit.Attention.sdpa = True
dit.TimestepEmbedder.frequency_embedding = staticmethod(frequency_embedding)
ae.Attention.forward = vae_attention_sdpa
dit.NUM_CLASSES = 1000

SD_VAE = dict(family="sd", seed=7, block_out_channels=[128, 256, 512, 512], layers_per_block=2,
              norm_num_groups=32, latent_channels=4, use_quant_conv=True, mid_attention=True,
              attn_levels=[], scale=0.18215, shift=0.0)


def make_models(out):
    os.makedirs(out, exist_ok=True)
    torch.manual_seed(0)
    m = dit.Model(32, 2, 4, 1152, 28, 16, learn_sigma=True)
    v = ae.build(SD_VAE)
    pd, pv = os.path.join(out, "dit_xl2.safetensors"), os.path.join(out, "sd_vae.safetensors")
    if not os.path.exists(pd):
        save_file({k: t.contiguous() for k, t in m.state_dict().items()}, pd,
                  metadata={"sinter.dit.num_heads": "16"})
    else:
        from safetensors.torch import load_file
        m.load_state_dict(load_file(pd))
    if not os.path.exists(pv):
        save_file({k: t.contiguous() for k, t in v.state_dict().items()}, pv)
    else:
        from safetensors.torch import load_file
        v.load_state_dict(load_file(pv))
    return m.to(DEV, DT).eval(), v.to(DEV, DT).eval()


def median_ms(fn, warm=3, reps=20, budget_s=3.0):
    for _ in range(warm):
        fn()
    torch.cuda.synchronize()
    times, start = [], time.time()
    while len(times) < reps and (len(times) < 3 or time.time() - start < budget_s):
        a, b = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        a.record()
        fn()
        b.record()
        b.synchronize()
        times.append(a.elapsed_time(b))
    return statistics.median(times)


def dit_inputs(b):
    g = torch.Generator(device=DEV).manual_seed(b)
    x = torch.rand(b, 4, 32, 32, generator=g, device=DEV, dtype=DT) * 2 - 1
    t = torch.full((b,), 500.0, device=DEV)
    y = (torch.arange(b, device=DEV) * 37) % 1000
    return x, t, y


def bench_dit(m, compiled):
    name = "torch.compile" if compiled else "eager"
    f = torch.compile(m) if compiled else m
    print(f"\n1. DiT-XL/2 256px denoiser step, PyTorch {torch.__version__} {name}, bf16, SDPA")
    print(f"{'batch':<6} {'ms':>12} {'compile s':>10}")
    for b in (1, 8, 64, 256):
        x, t, y = dit_inputs(b)
        with torch.inference_mode():
            t0 = time.time()
            f(x, t, y)
            torch.cuda.synchronize()
            first = time.time() - t0
            ms = median_ms(lambda: f(x, t, y))
        print(f"{b:<6} {ms:12.3f} {first if compiled else 0:10.1f}", flush=True)


def bench_vae(v):
    torch.backends.cudnn.benchmark = True
    print("\n2. SD-VAE decode, batch 1, PyTorch bf16 (cuDNN, benchmark mode)")
    print(f"{'image':<10} {'ms':>12}")
    for side in (512, 1024):
        z = torch.rand(1, 4, side // 8, side // 8, device=DEV, dtype=DT) * 4 - 2
        with torch.inference_mode():
            ms = median_ms(lambda: v.decode_raw(z / 0.18215), warm=2, reps=10)
        print(f"{side}x{side:<5} {ms:12.3f}", flush=True)


def ddim_sample(m, v, n, steps, scale=4.0):
    betas = torch.linspace(1e-4, 0.02, 1000, dtype=torch.float64)
    abar = torch.cumprod(1 - betas, 0)
    use = list(range(0, 1000, 1000 // steps))  # space_timesteps(1000, "ddimN")
    y = torch.cat([(torch.arange(n, device=DEV) * 97) % 1000, torch.full((n,), 1000, device=DEV)])
    x = torch.rand(n, 4, 32, 32, device=DEV) * 2 - 1
    for i in reversed(range(len(use))):
        a_t = abar[use[i]].item()
        a_p = abar[use[i - 1]].item() if i > 0 else 1.0
        t = torch.full((2 * n,), float(use[i]), device=DEV)
        out = m(torch.cat([x, x]).to(DT), t, y).float()
        eps, rest = out[:, :3], out[:, 3:]
        c, u = eps.chunk(2)
        eps = u + scale * (c - u)
        eps = torch.cat([eps, rest[:n, :1]], dim=1)  # the 4th eps channel unguided
        x0 = (x - math.sqrt(1 - a_t) * eps) / math.sqrt(a_t)
        x = math.sqrt(a_p) * x0 + math.sqrt(1 - a_p) * eps
    return v.decode_raw((x / 0.18215).to(DT))


def bench_e2e(m, v):
    torch.backends.cudnn.benchmark = True
    print("\n3. end to end: DDIM 50 steps, cfg 4 (batch 64 doubled), DiT-XL/2 + SD-VAE decode, "
          "PyTorch eager bf16")
    with torch.inference_mode():
        ddim_sample(m, v, 64, 2)
        ms = median_ms(lambda: ddim_sample(m, v, 64, 50), warm=0, reps=3, budget_s=1)
    print(f"{'batch 64':<10} {ms:12.1f} ms  {64e3 / ms:8.1f} images/s", flush=True)


def main():
    out = sys.argv[1]
    parts = "dit,compile,vae,e2e"
    if "--parts" in sys.argv:
        parts = sys.argv[sys.argv.index("--parts") + 1]
    parts = parts.split(",")
    print(f"PyTorch {torch.__version__}, {torch.cuda.get_device_name()}")
    m, v = make_models(out)
    if "dit" in parts:
        bench_dit(m, False)
    if "vae" in parts:
        bench_vae(v)
    if "e2e" in parts:
        bench_e2e(m, v)
    if "compile" in parts:
        bench_dit(m, True)


if __name__ == "__main__":
    main()
