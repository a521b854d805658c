#!/usr/bin/env python3
"""Stage 1: the small AutoencoderKL (f8, 4 latent channels) on the rendered scenes.

Objective: L1 + L2 on pixels, L1 on image gradients (edges stay sharp without LPIPS, whose
weights are not available offline), and a small KL term toward N(0, 1) on the posterior.
Trains on random 128x128 crops (the model is fully convolutional) with bf16 autocast; keeps an
EMA of the weights. Resumable: OUT/vae/ckpt.pt holds everything and is written every
--ckpt-every steps and at the end.

Exports OUT/vae/vae.safetensors (fp16) with metadata
  sinter.vae.family = sd, sinter.vae.norm_num_groups, sinter.vae.scaling_factor = 1/std and
  sinter.vae.shift_factor = mean of the posterior means over held-back samples (so sinter's
  model latents (z - shift) * scale have mean 0 and std 1), and `config` (diffusers-style).
"""
import argparse
import json
import os
import time

import numpy as np
import torch
import torch.nn.functional as F

import common
from models import SmallVAE


def batch_of(images, idx, crop, rng, device):
    x = torch.from_numpy(np.stack([images[i] for i in idx])).to(device, non_blocking=True)
    x = x.permute(0, 3, 1, 2).float() / 127.5 - 1.0
    if crop and crop < x.shape[-1]:
        oy, ox = rng.integers(0, x.shape[-1] - crop + 1, 2)
        x = x[:, :, oy:oy + crop, ox:ox + crop]
    return x


def grad_l1(a, b):
    dxa, dya = a[..., :, 1:] - a[..., :, :-1], a[..., 1:, :] - a[..., :-1, :]
    dxb, dyb = b[..., :, 1:] - b[..., :, :-1], b[..., 1:, :] - b[..., :-1, :]
    return (dxa - dxb).abs().mean() + (dya - dyb).abs().mean()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", required=True)
    ap.add_argument("--n-data", type=int, default=60000)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--steps", type=int, default=6000)
    ap.add_argument("--minutes", type=float, default=5.0)
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--crop", type=int, default=128)
    ap.add_argument("--lr", type=float, default=1e-3)
    ap.add_argument("--kl", type=float, default=1e-6)
    ap.add_argument("--channels", default="32,64,96,96")
    ap.add_argument("--groups", type=int, default=16)
    ap.add_argument("--ckpt-every", type=int, default=1000)
    a = ap.parse_args()

    dev = "cuda" if torch.cuda.is_available() else "cpu"
    torch.backends.cuda.matmul.allow_tf32 = True
    torch.backends.cudnn.allow_tf32 = True
    torch.backends.cudnn.benchmark = True
    images, _, _ = common.render_dataset(os.path.join(a.out, "data"), a.n_data, a.seed)
    out = os.path.join(a.out, "vae")
    os.makedirs(out, exist_ok=True)
    ch = tuple(int(c) for c in a.channels.split(","))
    torch.manual_seed(a.seed)
    model = SmallVAE(ch, 1, 4, a.groups).to(dev)
    ema = SmallVAE(ch, 1, 4, a.groups).to(dev)
    ema.load_state_dict(model.state_dict())
    ema.requires_grad_(False)
    opt = torch.optim.AdamW(model.parameters(), lr=a.lr, betas=(0.9, 0.99), weight_decay=0.0)
    n_params = sum(p.numel() for p in model.parameters())
    common.log("vae: %.2f M parameters, channels %s, groups %d" % (n_params / 1e6, ch, a.groups))

    step = 0
    ck = common.load_ckpt(os.path.join(out, "ckpt.pt"))
    if ck:
        model.load_state_dict(ck["model"])
        ema.load_state_dict(ck["ema"])
        opt.load_state_dict(ck["opt"])
        step = ck["step"]
        common.log("vae: resumed at step %d" % step)

    n_train = len(images) - 512  # the last 512 are held back for the statistics
    rng = np.random.default_rng(a.seed * 7919 + step)
    timer = common.Timer(a.minutes)
    t_last, hist = time.time(), []
    while step < a.steps and not timer.done():
        lr = a.lr * min(1.0, (step + 1) / 200) * (0.1 + 0.9 * 0.5 * (1 + np.cos(np.pi * step / a.steps)))
        for g in opt.param_groups:
            g["lr"] = lr
        x = batch_of(images, rng.integers(0, n_train, a.batch), a.crop, rng, dev)
        with torch.autocast("cuda", dtype=torch.bfloat16, enabled=dev == "cuda"):
            m, lv = model.encode(x)
            z = m + torch.exp(0.5 * lv) * torch.randn_like(m)
            r = model.decode(z).float()
        m, lv = m.float(), lv.float()
        rec = (r - x).abs().mean() + ((r - x) ** 2).mean()
        edge = grad_l1(r, x)
        kl = 0.5 * (m ** 2 + lv.exp() - 1 - lv).mean()
        loss = rec + 0.5 * edge + a.kl * kl * m[0].numel()
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        with torch.no_grad():
            d = min(0.999, (1 + step) / (10 + step))
            for pe, pm in zip(ema.parameters(), model.parameters()):
                pe.lerp_(pm, 1 - d)
        step += 1
        hist.append([rec.item(), edge.item(), kl.item()]) if step % 10 == 0 else None
        if step % 100 == 0 or step == 1:
            h = np.mean(hist, 0) if hist else [rec.item(), edge.item(), kl.item()]
            hist = []
            dt = time.time() - t_last
            t_last = time.time()
            common.log("vae step %d  rec %.4f  edge %.4f  kl %.3f  lr %.2e  %.1f it/s" % (
                step, h[0], h[1], h[2], lr, (100 if step > 1 else 1) / max(dt, 1e-6)))
        if step % a.ckpt_every == 0:
            common.save_ckpt(os.path.join(out, "ckpt.pt"), model=model.state_dict(),
                             ema=ema.state_dict(), opt=opt.state_dict(), step=step)
    common.save_ckpt(os.path.join(out, "ckpt.pt"), model=model.state_dict(),
                     ema=ema.state_dict(), opt=opt.state_dict(), step=step)
    common.log("vae: %d steps in %.1f s" % (step, timer.elapsed()))

    # statistics and quality on held-back full-size pictures
    ema.eval()
    with torch.no_grad():
        ms, psnr = [], []
        for s in range(n_train, len(images), 64):
            x = batch_of(images, range(s, min(s + 64, len(images))), 0, None, dev)
            m, _ = ema.encode(x)
            r = ema.decode(m).clamp(-1, 1)
            ms.append(m.float().cpu())
            mse = ((r - x) ** 2).mean(dim=(1, 2, 3)) / 4.0  # in [0, 1] units
            psnr.append((10 * torch.log10(1.0 / mse)).cpu())
        ms = torch.cat(ms)
        mean, std = ms.mean().item(), ms.std().item()
        psnr = torch.cat(psnr).mean().item()
    scale = 1.0 / std
    common.log("vae: held-back PSNR %.2f dB; latent mean %.4f std %.4f -> scaling_factor %.5f" % (
        psnr, mean, std, scale))
    cfg = dict(ema.config, _class_name="AutoencoderKL", in_channels=3, out_channels=3,
               down_block_types=["DownEncoderBlock2D"] * len(ch),
               up_block_types=["UpDecoderBlock2D"] * len(ch), mid_block_add_attention=False,
               sample_size=256, scaling_factor=scale, shift_factor=mean, act_fn="silu")
    meta = {"sinter.vae.family": "sd", "sinter.vae.norm_num_groups": str(a.groups),
            "sinter.vae.scaling_factor": "%.6f" % scale, "sinter.vae.shift_factor": "%.6f" % mean,
            "config": json.dumps(cfg), "sinter.train.steps": str(step),
            "sinter.train.psnr": "%.2f" % psnr}
    common.export_safetensors(os.path.join(out, "vae.safetensors"), ema.state_dict(), meta)
    with open(os.path.join(out, "stats.json"), "w") as f:
        json.dump({"mean": mean, "std": std, "scale": scale, "psnr": psnr, "steps": step,
                   "seconds": timer.elapsed()}, f)


if __name__ == "__main__":
    main()
