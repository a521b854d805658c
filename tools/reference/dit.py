#!/usr/bin/env python3
"""Parity fixtures for sinter's class-conditional diffusion transformers (dit/dit.c,
dit/lightningdit.c, tests/test_dit.c).

    python3 tools/reference/dit.py tests/fixtures/dit

Needs PyTorch, NumPy and safetensors (timm, if present, is used for one extra self-check).
The two models below are written from shared/reference/models.md sections 1 (DiT) and 2.1
(LightningDiT), with module names chosen so that the state-dict keys are the official ones
(`x_embedder.proj.weight`, `t_embedder.mlp.0.weight`, `blocks.0.adaLN_modulation.1.weight`,
`blocks.0.attn.q_norm.weight`, `feat_rope.freqs_cos`, `final_layer.linear.weight`, ...).

Each model gets random weights (fixed seeds, PyTorch's default init, NOT the zero init of
adaLN-Zero, so the gates and the final layer matter; norm weights jittered around 1), is run
in float64 on the CPU on the f32 values it saves, and the inputs and output are written as f32:

  file                          model                                          format
  dit.pt                        DiT: input 8, patch 2, 4 -> 8 channels          torch.save state dict
                                (learn_sigma), hidden 64, depth 2, 4 heads,
                                10 classes (+ null row)
  dit_p1.safetensors            DiT: input 6, patch 1, 4 -> 4 channels (no     safetensors, metadata
                                learn_sigma), hidden 64, depth 1, 4 heads;     sinter.dit.num_heads = 4
                                pos_embed NOT stored (must be computed)
  lightningdit.pt               LightningDiT as released (SwiGLU, RoPE,        torch.save of a nested
                                RMSNorm) plus qk-norm (RMSNorm): input 6,      dict {'ema', 'model',
                                patch 1, 32 channels, hidden 64, depth 2,      'steps'}; 'model' shares
                                4 heads, learn_sigma False                     all but two tensors with
                                                                               'ema' (the loader must
                                                                               pick 'ema')
  lightningdit_b.safetensors    LightningDiT, other flags: wo_shift (4-way     safetensors, no metadata
                                adaLN), qk-norm as LayerNorm (use_rmsnorm
                                False -> LayerNorm everywhere), GELU MLP, no
                                RoPE, learn_sigma True (the forward returns
                                the first half): input 8, patch 2, 32
                                channels, hidden 64, depth 1, 4 heads

and for each <name> a <name>_io.safetensors holding
    x      (N, C, H, W) f32 latents at the checkpoint's input size
    t      (N) f32 times: DiT in [0, 999], LightningDiT in [0, 1]
    y      (N) i32 labels, including the null class (= num_classes = 10)
    out    (N, C_out, H, W) f32, the float64 forward
    x_alt, out_alt (where present): the same t and y at another input size; the reference
           builds the model at that size (pos_embed and RoPE tables recomputed, everything else
           loaded), as the original code would be constructed for another resolution.

Numerics copied from the original code on purpose: the timestep frequency embedding is
computed in float32 (`t.float() * freqs`) and then fed to the float64 MLP; pos_embed is the
float64 NumPy table cast to float32; the RoPE tables are computed in float32 and saved as the
persistent buffers `feat_rope.freqs_cos/freqs_sin`. RMSNorm casts to float32 in the original
(`x.float()`); here it keeps float64 when the model runs in float64.
"""
import math
import os
import sys

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F
from safetensors.torch import save_file

NUM_CLASSES = 10


# --- position tables ---------------------------------------------------------------------------

def sincos_1d(dim, pos):
    omega = np.arange(dim // 2, dtype=np.float64)
    omega /= dim / 2.0
    omega = 1.0 / 10000 ** omega
    out = np.einsum("m,d->md", pos.reshape(-1), omega)
    return np.concatenate([np.sin(out), np.cos(out)], axis=1)


def sincos_2d(dim, grid):
    """(grid*grid, dim): first half from the column index (np.meshgrid puts w first)."""
    gh = np.arange(grid, dtype=np.float32)
    gw = np.arange(grid, dtype=np.float32)
    g = np.stack(np.meshgrid(gw, gh), axis=0).reshape(2, 1, grid, grid)
    return np.concatenate([sincos_1d(dim // 2, g[0]), sincos_1d(dim // 2, g[1])], axis=1)


def rotate_half(x):
    """Adjacent pairs (x0, x1) -> (-x1, x0), as EVA's rotate_half."""
    x = x.reshape(*x.shape[:-1], -1, 2)
    x1, x2 = x.unbind(dim=-1)
    return torch.stack((-x2, x1), dim=-1).flatten(-2)


class VisionRotaryEmbeddingFast(nn.Module):
    """EVA-02's 2-D RoPE as LightningDiT builds it: dim = head_dim / 2 per axis, tables (G*G,
    head_dim) = [row frequencies | column frequencies], each pairwise repeated, float32."""

    def __init__(self, dim, pt_seq_len, theta=10000):
        super().__init__()
        freqs = 1.0 / (theta ** (torch.arange(0, dim, 2)[: (dim // 2)].float() / dim))
        t = torch.arange(pt_seq_len) / pt_seq_len * pt_seq_len
        freqs = torch.einsum("..., f -> ... f", t, freqs)
        freqs = freqs.repeat_interleave(2, dim=-1)  # einops '... n -> ... (n r)', r = 2
        g = pt_seq_len
        freqs = torch.cat([freqs[:, None, :].expand(g, g, dim), freqs[None, :, :].expand(g, g, dim)],
                          dim=-1)
        self.register_buffer("freqs_cos", freqs.cos().reshape(-1, freqs.shape[-1]))
        self.register_buffer("freqs_sin", freqs.sin().reshape(-1, freqs.shape[-1]))

    def forward(self, t):
        return t * self.freqs_cos + rotate_half(t) * self.freqs_sin


# --- layers ------------------------------------------------------------------------------------

def modulate(x, shift, scale):
    if shift is None:
        return x * (1 + scale.unsqueeze(1))
    return x * (1 + scale.unsqueeze(1)) + shift.unsqueeze(1)


class RMSNorm(nn.Module):
    def __init__(self, dim, eps=1e-6):
        super().__init__()
        self.eps = eps
        self.weight = nn.Parameter(torch.ones(dim))

    def forward(self, x):
        xf = x if x.dtype == torch.float64 else x.float()
        return (xf * torch.rsqrt(xf.pow(2).mean(-1, keepdim=True) + self.eps)).type_as(x) * self.weight


class PatchEmbed(nn.Module):
    """timm PatchEmbed: Conv2d(k = s = p), flatten, tokens in row-major (h, w) order."""

    def __init__(self, p, cin, d):
        super().__init__()
        self.proj = nn.Conv2d(cin, d, kernel_size=p, stride=p, bias=True)

    def forward(self, x):
        return self.proj(x).flatten(2).transpose(1, 2)


class TimestepEmbedder(nn.Module):
    def __init__(self, d, freq_dim=256):
        super().__init__()
        self.freq_dim = freq_dim
        self.mlp = nn.Sequential(nn.Linear(freq_dim, d), nn.SiLU(), nn.Linear(d, d))

    @staticmethod
    def frequency_embedding(t, dim, max_period=10000):
        half = dim // 2
        freqs = torch.exp(-math.log(max_period) * torch.arange(0, half, dtype=torch.float32) / half)
        args = t[:, None].float() * freqs[None]
        return torch.cat([torch.cos(args), torch.sin(args)], dim=-1)  # cos first

    def forward(self, t):
        return self.mlp(self.frequency_embedding(t, self.freq_dim).to(self.mlp[0].weight.dtype))


class LabelEmbedder(nn.Module):
    def __init__(self, num_classes, d):
        super().__init__()
        self.embedding_table = nn.Embedding(num_classes + 1, d)  # last row: the null class

    def forward(self, y):
        return self.embedding_table(y)


class Attention(nn.Module):
    """timm layout: qkv rows [q | k | v], each head a contiguous head_dim slice."""

    sdpa = False

    def __init__(self, d, heads, qk_norm=None):
        super().__init__()
        self.heads, self.hd = heads, d // heads
        self.qkv = nn.Linear(d, 3 * d, bias=True)
        if qk_norm == "rms":
            self.q_norm, self.k_norm = RMSNorm(self.hd), RMSNorm(self.hd)
        elif qk_norm == "ln":
            self.q_norm, self.k_norm = nn.LayerNorm(self.hd), nn.LayerNorm(self.hd)  # eps 1e-5
        else:
            self.q_norm = self.k_norm = nn.Identity()
        self.proj = nn.Linear(d, d)

    def forward(self, x, rope=None):
        b, n, c = x.shape
        qkv = self.qkv(x).reshape(b, n, 3, self.heads, self.hd).permute(2, 0, 3, 1, 4)
        q, k, v = qkv.unbind(0)
        q, k = self.q_norm(q), self.k_norm(k)
        if rope is not None:
            q, k = rope(q), rope(k)
        if self.sdpa:  # the fused kernel, as timm runs it (the benchmarks set this)
            o = F.scaled_dot_product_attention(q, k, v)
        else:
            o = torch.softmax((q * self.hd ** -0.5) @ k.transpose(-2, -1), dim=-1) @ v
        return self.proj(o.transpose(1, 2).reshape(b, n, c))


class Mlp(nn.Module):
    def __init__(self, d, hidden):
        super().__init__()
        self.fc1 = nn.Linear(d, hidden)
        self.fc2 = nn.Linear(hidden, d)

    def forward(self, x):
        return self.fc2(F.gelu(self.fc1(x), approximate="tanh"))


class SwiGLUFFN(nn.Module):
    def __init__(self, d, hidden):
        super().__init__()
        self.w12 = nn.Linear(d, 2 * hidden)
        self.w3 = nn.Linear(hidden, d)

    def forward(self, x):
        x1, x2 = self.w12(x).chunk(2, dim=-1)
        return self.w3(F.silu(x1) * x2)


class Block(nn.Module):
    """DiTBlock (all flags off) and LightningDiTBlock."""

    def __init__(self, d, heads, qk_norm=None, swiglu=False, rmsnorm=False, wo_shift=False):
        super().__init__()
        if rmsnorm:
            self.norm1, self.norm2 = RMSNorm(d), RMSNorm(d)
        else:
            self.norm1 = nn.LayerNorm(d, elementwise_affine=False, eps=1e-6)
            self.norm2 = nn.LayerNorm(d, elementwise_affine=False, eps=1e-6)
        self.attn = Attention(d, heads, qk_norm)
        self.mlp = SwiGLUFFN(d, int(2 / 3 * 4 * d)) if swiglu else Mlp(d, 4 * d)
        self.wo_shift = wo_shift
        self.adaLN_modulation = nn.Sequential(nn.SiLU(), nn.Linear(d, (4 if wo_shift else 6) * d))

    def forward(self, x, c, rope=None):
        if self.wo_shift:
            scale_msa, gate_msa, scale_mlp, gate_mlp = self.adaLN_modulation(c).chunk(4, dim=1)
            shift_msa = shift_mlp = None
        else:
            shift_msa, scale_msa, gate_msa, shift_mlp, scale_mlp, gate_mlp = \
                self.adaLN_modulation(c).chunk(6, dim=1)
        x = x + gate_msa.unsqueeze(1) * self.attn(modulate(self.norm1(x), shift_msa, scale_msa), rope)
        x = x + gate_mlp.unsqueeze(1) * self.mlp(modulate(self.norm2(x), shift_mlp, scale_mlp))
        return x


class FinalLayer(nn.Module):
    def __init__(self, d, p, cout, rmsnorm=False):
        super().__init__()
        self.norm_final = RMSNorm(d) if rmsnorm else nn.LayerNorm(d, elementwise_affine=False, eps=1e-6)
        self.linear = nn.Linear(d, p * p * cout)
        self.adaLN_modulation = nn.Sequential(nn.SiLU(), nn.Linear(d, 2 * d))

    def forward(self, x, c):
        shift, scale = self.adaLN_modulation(c).chunk(2, dim=1)
        return self.linear(modulate(self.norm_final(x), shift, scale))


class Model(nn.Module):
    """DiT (lightning=False: learn_sigma output kept whole) or LightningDiT (lightning=True:
    learn_sigma output cut to its first half, RoPE etc. by flag)."""

    def __init__(self, input_size, p, cin, d, depth, heads, learn_sigma, lightning=False,
                 qk_norm=None, swiglu=False, rope=False, rmsnorm=False, wo_shift=False):
        super().__init__()
        self.p, self.lightning, self.learn_sigma = p, lightning, learn_sigma
        self.cout = 2 * cin if learn_sigma else cin
        self.x_embedder = PatchEmbed(p, cin, d)
        self.t_embedder = TimestepEmbedder(d)
        self.y_embedder = LabelEmbedder(NUM_CLASSES, d)
        g = input_size // p
        self.pos_embed = nn.Parameter(torch.from_numpy(sincos_2d(d, g)).float().unsqueeze(0),
                                      requires_grad=False)
        self.feat_rope = VisionRotaryEmbeddingFast(d // heads // 2, g) if rope else None
        self.blocks = nn.ModuleList([Block(d, heads, qk_norm, swiglu, rmsnorm, wo_shift)
                                     for _ in range(depth)])
        self.final_layer = FinalLayer(d, p, self.cout, rmsnorm)

    def unpatchify(self, x):
        c, p = self.cout, self.p
        h = w = int(x.shape[1] ** 0.5)
        x = x.reshape(x.shape[0], h, w, p, p, c)
        return torch.einsum("nhwpqc->nchpwq", x).reshape(x.shape[0], c, h * p, w * p)

    def forward(self, x, t, y):
        x = self.x_embedder(x) + self.pos_embed
        c = self.t_embedder(t) + self.y_embedder(y)
        for block in self.blocks:
            x = block(x, c, self.feat_rope)
        x = self.unpatchify(self.final_layer(x, c))
        if self.lightning and self.learn_sigma:
            x, _ = x.chunk(2, dim=1)
        return x


# --- fixtures ----------------------------------------------------------------------------------

def jitter(model, gen):
    """Non-zero, non-trivial adaLN (default init, doubled) and norm weights around 1."""
    with torch.no_grad():
        for name, prm in model.named_parameters():
            if "adaLN_modulation" in name and name.endswith("weight"):
                prm.mul_(2.0)
            elif "adaLN_modulation" in name and name.endswith("bias"):
                prm.copy_(0.2 * torch.randn(prm.shape, generator=gen))
            elif ("norm" in name) and name.endswith("weight"):
                prm.copy_(1 + 0.2 * torch.randn(prm.shape, generator=gen))
            elif ("norm" in name) and name.endswith("bias"):
                prm.copy_(0.1 * torch.randn(prm.shape, generator=gen))


def run64(model, x, t, y):
    m = model.double().eval()
    with torch.no_grad():
        out = m(x.double(), t, y.long())
    model.float()
    return out.float().contiguous()


def at_size(cfg, sd, size):
    """The same weights in a model built for another input size (tables recomputed)."""
    m = Model(**dict(cfg, input_size=size))
    own = {k: v for k, v in sd.items() if k != "pos_embed" and not k.startswith("feat_rope.")}
    missing, unexpected = m.load_state_dict(own, strict=False)
    assert not unexpected and all(k == "pos_embed" or k.startswith("feat_rope.") for k in missing), \
        (missing, unexpected)
    return m


def make(name, cfg, seed, n, tvals, labels, alt_size=None):
    torch.manual_seed(seed)
    gen = torch.Generator().manual_seed(seed + 1)
    model = Model(**cfg)
    jitter(model, gen)
    cin, size = cfg["cin"], cfg["input_size"]
    x = torch.randn(n, cin, size, size, generator=gen)
    t = torch.tensor(tvals, dtype=torch.float32)
    y = torch.tensor(labels, dtype=torch.int32)
    sd = {k: v.detach().clone().contiguous() for k, v in model.state_dict().items()}
    io = {"x": x, "t": t, "y": y, "out": run64(model, x, t, y)}
    # f32 forward, for the record: how far f32 is from the float64 reference here
    with torch.no_grad():
        o32 = model.eval()(x, t, y.long())
    rel = ((o32 - io["out"]).abs().max() / io["out"].abs().max()).item()
    if alt_size:
        xa = torch.randn(n, cin, alt_size, alt_size, generator=gen)
        io["x_alt"], io["out_alt"] = xa, run64(at_size(cfg, sd, alt_size), xa, t, y)
    print(f"{name}: {sum(v.numel() for v in sd.values())} numbers, out {tuple(io['out'].shape)}, "
          f"|out|max {io['out'].abs().max().item():.3f}, f32 vs f64 rel {rel:.2e}")
    return model, sd, io


def timm_check(model):
    """Our Attention/Mlp against timm's, loaded from the same tensors (informative only)."""
    try:
        from timm.models.vision_transformer import Attention as TAttention, Mlp as TMlp
        blk = model.blocks[0]
        d = blk.attn.qkv.in_features
        ta = TAttention(d, num_heads=blk.attn.heads, qkv_bias=True).double().eval()
        ta.load_state_dict(blk.attn.state_dict())
        tm = TMlp(d, 4 * d, act_layer=lambda: nn.GELU(approximate="tanh")).double().eval()
        tm.load_state_dict(blk.mlp.state_dict())
        xx = torch.randn(2, 5, d, dtype=torch.float64)
        blk = blk.double()
        with torch.no_grad():
            ea = (ta(xx) - blk.attn(xx)).abs().max().item()
            em = (tm(xx) - blk.mlp(xx)).abs().max().item()
        blk.float()
        print(f"timm check: attention max diff {ea:.2e}, mlp max diff {em:.2e}")
    except Exception as e:  # noqa: BLE001 - a missing or different timm is not fatal
        print(f"timm check skipped: {e!r}")


def main(out):
    os.makedirs(out, exist_ok=True)
    dit_t = [0.0, 1.0, 250.5, 617.0, 999.0]
    dit_y = [0, 3, 9, NUM_CLASSES, 7]
    ldit_t = [0.0, 0.125, 0.6, 1.0]
    ldit_y = [0, NUM_CLASSES, 5, 9]

    # 1. DiT, plain torch.save state dict (as DiT-XL-2-256.pt)
    cfg = dict(input_size=8, p=2, cin=4, d=64, depth=2, heads=4, learn_sigma=True)
    model, sd, io = make("dit", cfg, 1, 5, dit_t, dit_y, alt_size=12)
    timm_check(model)
    torch.save(model.state_dict(), os.path.join(out, "dit.pt"))
    save_file(io, os.path.join(out, "dit_io.safetensors"))

    # 2. DiT, safetensors without pos_embed, heads in metadata
    cfg = dict(input_size=6, p=1, cin=4, d=64, depth=1, heads=4, learn_sigma=False)
    _, sd, io = make("dit_p1", cfg, 2, 3, dit_t[1:4], dit_y[1:4])
    del sd["pos_embed"]
    save_file(sd, os.path.join(out, "dit_p1.safetensors"), metadata={"sinter.dit.num_heads": "4"})
    save_file(io, os.path.join(out, "dit_p1_io.safetensors"))

    # 3. LightningDiT as released (+ qk-norm), nested {'ema', 'model', 'steps'}
    cfg = dict(input_size=6, p=1, cin=32, d=64, depth=2, heads=4, learn_sigma=False, lightning=True,
               qk_norm="rms", swiglu=True, rope=True, rmsnorm=True)
    model, sd, io = make("lightningdit", cfg, 3, 4, ldit_t, ldit_y, alt_size=8)
    ema = model.state_dict()
    raw = dict(ema)  # shares storages with 'ema' except the two replaced below
    raw["final_layer.linear.weight"] = -ema["final_layer.linear.weight"].clone()
    raw["blocks.0.adaLN_modulation.1.weight"] = 0.5 * ema["blocks.0.adaLN_modulation.1.weight"]
    torch.save({"model": raw, "ema": ema, "steps": 1000}, os.path.join(out, "lightningdit.pt"))
    save_file(io, os.path.join(out, "lightningdit_io.safetensors"))

    # 4. LightningDiT, the other flags, safetensors
    cfg = dict(input_size=8, p=2, cin=32, d=64, depth=1, heads=4, learn_sigma=True, lightning=True,
               qk_norm="ln", wo_shift=True)
    _, sd, io = make("lightningdit_b", cfg, 4, 3, ldit_t[:3], ldit_y[:3])
    save_file(sd, os.path.join(out, "lightningdit_b.safetensors"))
    save_file(io, os.path.join(out, "lightningdit_b_io.safetensors"))

    total = sum(os.path.getsize(os.path.join(out, f)) for f in os.listdir(out))
    print(f"wrote {len(os.listdir(out))} files, {total} bytes, to {out}")


if __name__ == "__main__":
    torch.set_num_threads(4)
    main(sys.argv[1] if len(sys.argv) > 1 else "tests/fixtures/dit")
