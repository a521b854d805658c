#!/usr/bin/env python3
"""Stage 3: the text encoder and the PixArt-alpha-style DiT, trained together by flow matching
on the VAE's latents.

Text encoder (--text): transformers' T5EncoderModel (bidirectional; the default, v3 of the
bundled model) or CLIPTextModel (causal; v1 and v2) with a small config (width 128, 4 layers,
2 heads), randomly initialised and trained jointly with the DiT through the diffusion loss,
plus (--layout-loss, default 0.2) an auxiliary loss that asks the encoder's output at each
object's colour word for where that object is drawn: without it the encoder never put the
relation ("left of") into the objects' words and the model drew relations at chance. Its last
hidden state (after the final layer norm, HF last_hidden_state) is the conditioning; padding
keys are masked in the DiT's cross-attention and in the encoder's self-attention.

Flow matching (rectified flow, noise at t = 1 as SD3): x_t = (1 - t) x0 + t eps, the model
predicts the velocity v = eps - x0 from (x_t, 1000 t, text); t ~ logit-normal(0, 1). Caption
dropout (10%, the empty prompt "" as the unconditional input) makes classifier-free guidance
possible: v = v(empty) + cfg (v(text) - v(empty)); sampling is Euler from t = 1 to 0.

Latents are the VAE's posterior means in sinter's model space ((z - shift) * scale, from the
VAE file's metadata), encoded once and cached (OUT/dit/latents.pt). Resumable through
OUT/dit/ckpt.pt. Exports OUT/dit/dit.safetensors and OUT/text/text_encoder.safetensors (fp16,
EMA weights), then samples a preview grid and scores the held-out prompts with the analyser
(tools/eval/t2i_eval.py) using this script's own sampler, as a first estimate before sinter
runs the model.
"""
import argparse
import json
import multiprocessing as mp
import os
import sys
import time

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image
from safetensors.torch import load_file, safe_open
from tokenizers import Tokenizer

import common
import dataset
from models import SmallVAE, TextDiT

sys.path.insert(0, os.path.join(common.HERE, "..", "eval"))


def load_vae(path, dev):
    with safe_open(path, "pt") as f:
        meta = f.metadata()
    cfg = json.loads(meta["config"])
    vae = SmallVAE(tuple(cfg["block_out_channels"]), cfg["layers_per_block"], cfg["latent_channels"],
                   int(meta["sinter.vae.norm_num_groups"]))
    vae.load_state_dict({k: v.float() for k, v in load_file(path).items()})
    vae.to(dev).eval().requires_grad_(False)
    return vae, float(meta["sinter.vae.scaling_factor"]), float(meta["sinter.vae.shift_factor"])


def encode_latents(images, vae, scale, shift, dev, path):
    if os.path.exists(path):
        lat = torch.load(path)
        if lat.shape[0] == len(images):
            return lat
    t0 = time.time()
    out = []
    with torch.no_grad(), torch.autocast("cuda", dtype=torch.bfloat16, enabled=dev == "cuda"):
        for s in range(0, len(images), 256):
            x = torch.from_numpy(np.ascontiguousarray(images[s:s + 256])).to(dev)
            x = x.permute(0, 3, 1, 2).float() / 127.5 - 1.0
            m, _ = vae.encode(x)
            out.append(((m.float() - shift) * scale).half().cpu())
    lat = torch.cat(out)
    torch.save(lat, path)
    common.log("latents: %s in %.1f s, mean %.3f std %.3f" % (
        tuple(lat.shape), time.time() - t0, lat.float().mean().item(), lat.float().std().item()))
    return lat


def make_text_encoder(kind, vocab, bos, eos, width, layers, heads):
    """kind "clip": transformers' CLIPTextModel (causal: a word sees only the words before it);
    "t5": T5EncoderModel (bidirectional, relative position buckets, gated GELU), where the
    first object's words also see the relation that follows them."""
    if kind == "t5":
        from transformers import T5Config, T5EncoderModel
        cfg = T5Config(vocab_size=vocab, d_model=width, d_kv=width // heads, d_ff=4 * width,
                       num_layers=layers, num_heads=heads, relative_attention_num_buckets=32,
                       relative_attention_max_distance=128, dropout_rate=0.0,
                       feed_forward_proj="gated-gelu", layer_norm_epsilon=1e-6,
                       pad_token_id=eos, eos_token_id=eos, decoder_start_token_id=bos)
        return T5EncoderModel(cfg)
    from transformers import CLIPTextConfig, CLIPTextModel
    cfg = CLIPTextConfig(vocab_size=vocab, hidden_size=width, intermediate_size=4 * width,
                         num_hidden_layers=layers, num_attention_heads=heads,
                         max_position_embeddings=32, hidden_act="gelu", layer_norm_eps=1e-5,
                         bos_token_id=bos, eos_token_id=eos, pad_token_id=eos, projection_dim=width)
    return CLIPTextModel(cfg)


def layout_targets(caps, objs, enc, length):
    """Per caption token, where its object is drawn (dataset.word_positions): targets (N, K,
    length, 2) and a mask of the tokens that have one. Each caption word is one token of the
    project's tokenizer, after the start token; a caption where that does not hold gets no
    targets (counted in the log)."""
    n, k = len(caps), len(caps[0])
    tgt = np.zeros((n, k, length, 2), np.float16)
    has = np.zeros((n, k, length), bool)
    skipped = 0
    for i in range(n):
        for j in range(k):
            e = enc[i * k + j]
            pos = dataset.word_positions(caps[i][j], objs[i])
            if sum(e.attention_mask) != len(pos) + 2:  # start + words + end
                skipped += 1
                continue
            for w, p in enumerate(pos):
                if p is not None:
                    tgt[i, j, w + 1] = p
                    has[i, j, w + 1] = True
    common.log("layout targets: %d tokens in %d captions (%d captions not one token a word)" % (
        int(has.sum()), n * k, skipped))
    return torch.from_numpy(tgt), torch.from_numpy(has)


def encode_text(te, ids, mask):
    return te(input_ids=ids, attention_mask=mask).last_hidden_state


@torch.no_grad()
def sample(dit, te, tok, prompts, seeds, dev, steps=20, cfg=4.0, shift=1.0, shape=(4, 32, 32)):
    """Euler flow sampling with CFG; returns latents (len(prompts), C, H, W)."""
    enc = tok.encode_batch(list(prompts) + [""])
    ids = torch.tensor([e.ids for e in enc], device=dev)
    mask = torch.tensor([e.attention_mask for e in enc], device=dev).bool()
    y = encode_text(te, ids, mask.long())
    yc, mc = y[:-1], mask[:-1]
    yu, mu = y[-1:].expand_as(yc), mask[-1:].expand_as(mc)
    g = [torch.Generator(device="cpu").manual_seed(int(s)) for s in seeds]
    x = torch.stack([torch.randn(shape, generator=gi) for gi in g]).to(dev)
    ts = torch.linspace(1, 0, steps + 1, dtype=torch.float64)
    if shift != 1.0:
        ts = shift * ts / (1 + (shift - 1) * ts)
    n = x.shape[0]
    for i in range(steps):
        t = torch.full((2 * n,), float(ts[i]) * 1000, device=dev)
        with torch.autocast("cuda", dtype=torch.bfloat16, enabled=dev == "cuda"):
            v = dit(torch.cat([x, x]), t, torch.cat([yc, yu]), torch.cat([mc, mu])).float()
        vc, vu = v[:n], v[n:]
        x = x + float(ts[i + 1] - ts[i]) * (vu + cfg * (vc - vu))
    return x


@torch.no_grad()
def decode(vae, lat, scale, shift):
    x = vae.decode(lat.float() / scale + shift).clamp(-1, 1)
    return ((x + 1) * 127.5).round().byte().permute(0, 2, 3, 1).cpu().numpy()


def _judge(args):
    import t2i_eval
    img, spec = args
    v = t2i_eval.judge(img, spec)
    v["kind"] = spec["kind"]
    return v


def seen_relation_prompts(n=96, seed=777):
    """n relation prompts of the training stream's kind (no held-out pair or arrangement): how
    well the model draws relations it was taught, beside the held-out ones."""
    rng = np.random.default_rng(seed)
    out = []
    while len(out) < n:
        spec = dataset.random_spec(rng)
        if spec["kind"] == "relation":
            spec["caption"] = dataset.caption(spec, rng)
            out.append(spec)
    return out


def draw_and_judge(dit, te, tok, vae, scale, shift, dev, prompts, seeds, steps, cfg, tshift):
    imgs, specs = [], []
    for s in range(seeds):
        for k in range(0, len(prompts), 128):
            ps = prompts[k:k + 128]
            lat = sample(dit, te, tok, [p["caption"] for p in ps], [s] * len(ps),
                         dev, steps, cfg, tshift)
            imgs += list(decode(vae, lat, scale, shift))
            specs += ps
    with mp.get_context("fork").Pool(max(1, (os.cpu_count() or 2) - 1)) as pool:
        return imgs, pool.map(_judge, list(zip(imgs, specs)), chunksize=8)


def evaluate(dit, te, tok, vae, scale, shift, dev, out, seeds=4, steps=20, cfg=4.0, tshift=1.0):
    """The held-out prompts, then two relation controls: the held-out relation prompts with the
    inverse relation (arrangements training shows) and relation prompts of the training kind."""
    import t2i_eval
    prompts = dataset.held_out_prompts()
    imgs, res = draw_and_judge(dit, te, tok, vae, scale, shift, dev, prompts, seeds, steps, cfg, tshift)
    table = t2i_eval.markdown_table(t2i_eval._by_kind(res), "held-out (python sampler)")
    controls = [(name, draw_and_judge(dit, te, tok, vae, scale, shift, dev, ps, seeds, steps, cfg,
                                      tshift)[1])
                for name, ps in (("held-out relations, mirrored", dataset.mirrored_relation_prompts()),
                                 ("relations of the training kind", seen_relation_prompts()))]
    table += "\n" + t2i_eval.markdown_table(controls, "relation controls")
    with open(os.path.join(out, "eval_python.md"), "w") as f:
        f.write("%d held-out prompts x %d seeds, %d Euler steps, cfg %.1f\n\n" % (
            len(prompts), seeds, steps, cfg) + table)
    grid = np.zeros((4 * 256, 8 * 256, 3), np.uint8)
    for i in range(min(32, len(imgs) // seeds)):
        grid[(i // 8) * 256:(i // 8 + 1) * 256, (i % 8) * 256:(i % 8 + 1) * 256] = imgs[i * 3 % len(prompts)]
    Image.fromarray(grid).save(os.path.join(out, "heldout_grid.png"))
    with open(os.path.join(out, "heldout_grid.txt"), "w") as f:
        for i in range(min(32, len(imgs) // seeds)):
            f.write("%d %s\n" % (i, prompts[i * 3 % len(prompts)]["caption"]))
    common.log("python-sampler evaluation:\n" + table)
    return res


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", required=True)
    ap.add_argument("--n-data", type=int, default=60000)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--steps", type=int, default=20000)
    ap.add_argument("--minutes", type=float, default=13.0)
    ap.add_argument("--batch", type=int, default=256)
    ap.add_argument("--lr", type=float, default=4e-4)
    ap.add_argument("--hidden", type=int, default=256)
    ap.add_argument("--depth", type=int, default=6)
    ap.add_argument("--heads", type=int, default=4)
    ap.add_argument("--mlp-ratio", type=float, default=3.0)
    ap.add_argument("--text", choices=("clip", "t5"), default="t5",
                    help="text encoder family (v1 and v2 of the bundled model: clip)")
    ap.add_argument("--te-width", type=int, default=128)
    ap.add_argument("--te-layers", type=int, default=4)
    ap.add_argument("--te-heads", type=int, default=2)
    ap.add_argument("--drop", type=float, default=0.1, help="caption dropout")
    ap.add_argument("--ema", type=float, default=0.999)
    ap.add_argument("--decay", type=float, default=0.2,
                    help="linear learning-rate decay over this last fraction of the run (of --steps "
                         "or --minutes, whichever ends first); 0 keeps it constant")
    ap.add_argument("--init", metavar="DIR",
                    help="start from exported weights (DIR/dit.safetensors, DIR/text_encoder."
                         "safetensors) instead of random ones; ignored when resuming a checkpoint")
    ap.add_argument("--layout-loss", type=float, default=0.2, metavar="W",
                    help="weight of the auxiliary layout loss on the text encoder: from its state at "
                         "each object's colour word, predict where that object is drawn (0: off, as "
                         "for v1 and v2 of the bundled model)")
    ap.add_argument("--compile", action="store_true")
    ap.add_argument("--ckpt-every", type=int, default=2000)
    ap.add_argument("--eval-seeds", type=int, default=4)
    ap.add_argument("--sample-steps", type=int, default=20)
    ap.add_argument("--cfg", type=float, default=4.0)
    ap.add_argument("--shift", type=float, default=1.0, help="recommended flow time shift")
    a = ap.parse_args()

    dev = "cuda" if torch.cuda.is_available() else "cpu"
    torch.backends.cuda.matmul.allow_tf32 = True
    torch.backends.cudnn.allow_tf32 = True
    out = os.path.join(a.out, "dit")
    tdir = os.path.join(a.out, "text")
    os.makedirs(out, exist_ok=True)
    images, caps, objs = common.render_dataset(os.path.join(a.out, "data"), a.n_data, a.seed)
    vae, scale, shift = load_vae(os.path.join(a.out, "vae", "vae.safetensors"), dev)
    lat = encode_latents(images, vae, scale, shift, dev, os.path.join(out, "latents.pt")).to(dev)
    tok = Tokenizer.from_file(os.path.join(tdir, "tokenizer.json"))
    bos, eos = tok.token_to_id("<|startoftext|>"), tok.token_to_id("<|endoftext|>")
    K = len(caps[0])
    t0 = time.time()
    enc = tok.encode_batch([c for cs in caps for c in cs] + [""])
    ids = torch.tensor([e.ids for e in enc], dtype=torch.int32)
    msk = torch.tensor([e.attention_mask for e in enc], dtype=torch.bool)
    empty_ids, empty_mask = ids[-1].to(dev), msk[-1].to(dev)
    ids, msk = ids[:-1].view(len(caps), K, -1).to(dev), msk[:-1].view(len(caps), K, -1).to(dev)
    common.log("tokenized %d captions in %.1f s; longest %d tokens" % (
        len(enc), time.time() - t0, int(msk.sum(-1).max())))
    if a.layout_loss > 0:
        lay, lay_mask = layout_targets(caps, objs, enc[:-1], ids.shape[-1])
        lay, lay_mask = lay.to(dev), lay_mask.to(dev)

    torch.manual_seed(a.seed)
    te = make_text_encoder(a.text, tok.get_vocab_size(), bos, eos, a.te_width, a.te_layers, a.te_heads).to(dev)
    dit = TextDiT(lat.shape[-1], 2, lat.shape[1], a.hidden, a.depth, a.heads, a.mlp_ratio, a.te_width).to(dev)
    te_ema = make_text_encoder(a.text, tok.get_vocab_size(), bos, eos, a.te_width, a.te_layers, a.te_heads).to(dev)
    dit_ema = TextDiT(lat.shape[-1], 2, lat.shape[1], a.hidden, a.depth, a.heads, a.mlp_ratio, a.te_width).to(dev)
    te_ema.load_state_dict(te.state_dict())
    dit_ema.load_state_dict(dit.state_dict())
    for m in (te_ema, dit_ema):
        m.eval().requires_grad_(False)
    # the auxiliary layout head (training only): the text encoder's state at an object's colour
    # word -> where that object is drawn
    head = torch.nn.Linear(a.te_width, 2).to(dev)
    params = list(dit.parameters()) + list(te.parameters())
    if a.layout_loss > 0:
        params += list(head.parameters())
    opt = torch.optim.AdamW(params, lr=a.lr, betas=(0.9, 0.99), weight_decay=0.0)
    common.log("dit: %.2f M parameters; text encoder: %.2f M" % (
        sum(p.numel() for p in dit.parameters()) / 1e6, sum(p.numel() for p in te.parameters()) / 1e6))
    step = 0
    ck = common.load_ckpt(os.path.join(out, "ckpt.pt"))
    if ck:
        dit.load_state_dict(ck["dit"]), te.load_state_dict(ck["te"])
        dit_ema.load_state_dict(ck["dit_ema"]), te_ema.load_state_dict(ck["te_ema"])
        if a.layout_loss > 0 and "head" in ck:
            head.load_state_dict(ck["head"])
        try:
            opt.load_state_dict(ck["opt"])
        except ValueError:  # the checkpoint's run had another parameter set (--layout-loss)
            common.log("dit: the optimizer state does not fit these parameters; starting it afresh")
        step = ck["step"]
        common.log("dit: resumed at step %d" % step)
    elif a.init:
        for m, e, name in ((dit, dit_ema, "dit"), (te, te_ema, "text_encoder")):
            sd = {k: v.float() for k, v in load_file(os.path.join(a.init, name + ".safetensors")).items()}
            own = set(k for k in m.state_dict() if not k.endswith("position_ids"))
            if name == "text_encoder" and not own & set(sd):  # another family: a new encoder
                common.log("text encoder: %s holds another family; random initial weights" % a.init)
                continue
            missing, extra = m.load_state_dict(sd, strict=False)
            if extra or [k for k in missing if not k.endswith(("position_ids", "pos_embed"))]:
                sys.exit("--init %s: %s does not match (missing %s, unexpected %s)" % (
                    a.init, name, missing, extra))
            e.load_state_dict(m.state_dict())
            common.log("%s: initial weights from %s" % (name, a.init))
    fwd = dit
    if a.compile:  # tried once on a batch of the training shape; eager when it fails
        try:
            fwd = torch.compile(dit)
            rows = torch.arange(a.batch, device=dev) % ids.shape[0]
            xs = torch.zeros((a.batch,) + tuple(lat.shape[1:]), device=dev)
            with torch.autocast("cuda", dtype=torch.bfloat16, enabled=dev == "cuda"):
                y0 = encode_text(te, ids[rows, 0].long(), msk[rows, 0].long())
                fwd(xs, torch.full((a.batch,), 500.0, device=dev), y0, msk[rows, 0]).float().mean().backward()
            common.log("dit: compiled")
        except Exception as e:  # noqa: BLE001 (any compiler failure)
            common.log("dit: torch.compile failed (%s: %s); training eagerly" % (type(e).__name__, e))
            fwd = dit
        opt.zero_grad(set_to_none=True)  # the trial's gradients
    ema_pairs = list(zip(list(dit_ema.parameters()) + list(te_ema.parameters()), params))

    gen = torch.Generator(device=dev)
    gen.manual_seed(a.seed * 1000003 + step)
    timer = common.Timer(a.minutes)
    t_last, hist, hist_lay = time.time(), [], []
    N = lat.shape[0]
    while step < a.steps and not timer.done():
        lr = a.lr * min(1.0, (step + 1) / 500)
        # progress through this run, by steps or by time, whichever is further
        done = max(step / a.steps, timer.elapsed() / timer.limit)
        if a.decay > 0 and done > 1 - a.decay:
            lr *= max(0.05, (1 - done) / a.decay)
        for g in opt.param_groups:
            g["lr"] = lr
        idx = torch.randint(0, N, (a.batch,), device=dev, generator=gen)
        k = torch.randint(0, K, (a.batch,), device=dev, generator=gen)
        bi, bm = ids[idx, k].long(), msk[idx, k]
        drop = torch.rand(a.batch, device=dev, generator=gen) < a.drop
        bi = torch.where(drop[:, None], empty_ids[None].long(), bi)
        bm = torch.where(drop[:, None], empty_mask[None], bm)
        x0 = lat[idx].float()
        eps = torch.randn(x0.shape, device=dev, generator=gen)
        t = torch.sigmoid(torch.randn(a.batch, device=dev, generator=gen))
        xt = (1 - t[:, None, None, None]) * x0 + t[:, None, None, None] * eps
        with torch.autocast("cuda", dtype=torch.bfloat16, enabled=dev == "cuda"):
            y = encode_text(te, bi, bm.long())
            v = fwd(xt, t * 1000, y, bm)
        loss = loss_flow = F.mse_loss(v.float(), eps - x0)
        if a.layout_loss > 0:
            lm = lay_mask[idx, k] & ~drop[:, None]
            err = ((head(y.float()) - lay[idx, k].float()) ** 2).sum(-1)
            loss_lay = (err * lm).sum() / lm.sum().clamp(min=1)
            hist_lay.append(loss_lay.detach())
            loss = loss + a.layout_loss * loss_lay
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, 1.0)
        opt.step()
        with torch.no_grad():
            d = min(a.ema, (1 + step) / (10 + step))
            torch._foreach_lerp_([p for p, _ in ema_pairs], [q for _, q in ema_pairs], 1 - d)
        step += 1
        if step % 10 == 0:
            hist.append(loss_flow.item())
        if step % 200 == 0 or step == 1:
            dt = time.time() - t_last
            t_last = time.time()
            lay_s = "  layout %.4f" % torch.stack(hist_lay).mean().item() if hist_lay else ""
            common.log("dit step %d  loss %.4f%s  lr %.2e  %.1f it/s  (%.0f s)" % (
                step, np.mean(hist) if hist else loss.item(), lay_s, lr,
                (200 if step > 1 else 1) / max(dt, 1e-6), timer.elapsed()))
            hist, hist_lay = [], []
        if step % a.ckpt_every == 0:
            common.save_ckpt(os.path.join(out, "ckpt.pt"), dit=dit.state_dict(), te=te.state_dict(),
                             dit_ema=dit_ema.state_dict(), te_ema=te_ema.state_dict(),
                             opt=opt.state_dict(), step=step, head=head.state_dict())
    common.save_ckpt(os.path.join(out, "ckpt.pt"), dit=dit.state_dict(), te=te.state_dict(),
                     dit_ema=dit_ema.state_dict(), te_ema=te_ema.state_dict(), opt=opt.state_dict(),
                     step=step, head=head.state_dict())
    train_s = timer.elapsed()
    common.log("dit: %d steps in %.1f s" % (step, train_s))

    # export
    c = dit_ema.config
    meta = {  # the keys dit/dit.h lists for the "textdit" family and `sinter t2i`
        "sinter.dit.family": "textdit",
        "sinter.dit.num_heads": str(c["num_heads"]),
        "sinter.dit.prediction": "flow",   # velocity dx/dt = noise - x0
        "sinter.dit.time": "sigma",        # x_t = (1 - t) x0 + t noise: 1 noise -> 0 data
        "sinter.dit.time_scale": "1000",   # the model was given 1000 t
        "sinter.t2i.sampler": "euler",
        "sinter.t2i.steps": str(a.sample_steps),
        "sinter.t2i.cfg": "%g" % a.cfg,
        "sinter.t2i.shift": "%g" % a.shift,
        "sinter.t2i.size": "256",
        "sinter.t2i.text_mask": "1",       # padding keys hidden in cross-attention
        "sinter.t2i.text_skip": "0",       # the encoder's last hidden state (final norm)
        "config": json.dumps(dict(c, _class_name="PixArt-alpha (sinter textdit)",
                                  prediction="flow", time="sigma", time_scale=1000,
                                  learn_sigma=False)),
        "sinter.train.steps": str(step),
    }
    common.export_safetensors(os.path.join(out, "dit.safetensors"), dit_ema.state_dict(), meta)
    te_sd = {k: v for k, v in te_ema.state_dict().items() if not k.endswith("position_ids")}
    common.export_safetensors(os.path.join(tdir, "text_encoder.safetensors"), te_sd,
                              {"config": te_ema.config.to_json_string(), "sinter.train.steps": str(step)})
    # reference outputs for checking sinter's forward later (prompt, seed 0, 2 steps)
    with torch.no_grad():
        enc1 = tok.encode("a red circle above a blue square")
        i1 = torch.tensor([enc1.ids], device=dev)
        m1 = torch.tensor([enc1.attention_mask], device=dev)
        y1 = encode_text(te_ema, i1, m1)
        torch.save({"ids": i1.cpu(), "mask": m1.cpu(), "hidden": y1.cpu()}, os.path.join(out, "reference.pt"))
        # seed 0's noise is torch.randn((1, 4, 32, 32)) of a CPU generator, as `sinter t2i
        # --seed 0` draws it: this picture is what sinter should make at these settings
        z = sample(dit_ema, te_ema, tok, ["a red circle above a blue square"], [0], dev,
                   a.sample_steps, a.cfg, a.shift)
        Image.fromarray(decode(vae, z, scale, shift)[0]).save(os.path.join(out, "reference_seed0.png"))
    t1 = time.time()
    evaluate(dit_ema, te_ema, tok, vae, scale, shift, dev, out, a.eval_seeds, a.sample_steps, a.cfg, a.shift)
    common.log("evaluation in %.1f s" % (time.time() - t1))
    with open(os.path.join(out, "stats.json"), "w") as f:
        json.dump({"steps": step, "seconds": train_s}, f)


if __name__ == "__main__":
    main()
