"""Shared pieces of the training scripts: data on disk, checkpoints, export, logging."""
import json
import multiprocessing as mp
import os
import sys
import time

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import dataset  # noqa: E402


def log(*a):
    print(time.strftime("%H:%M:%S"), *a, flush=True)


# ------------------------------------------------------------------------------------------
# Pre-rendered data: OUT/data/images.u8 (N, 256, 256, 3) memmap + captions.json

def _render_chunk(args):
    seed, start, n, path, total, extra = args
    mm = np.memmap(path, np.uint8, "r+", shape=(total, dataset.SIZE, dataset.SIZE, 3))
    caps, objs = [], []
    for k in range(n):
        img, a = dataset.make_sample(seed, start + k)
        mm[start + k] = img
        caps.append([a["caption"]] + dataset.extra_captions([a], seed, extra)[0])
        objs.append([{"color": o["color"], "cx": o["cx"], "cy": o["cy"]} for o in a["instances"]])
    mm.flush()
    return start, caps, objs


def render_dataset(out_dir, n, seed=0, workers=None, extra_captions=3):
    """Renders n training samples once (skipped when complete); returns (images memmap,
    captions list of lists, objects: per sample its drawn objects' colour and centre)."""
    os.makedirs(out_dir, exist_ok=True)
    path = os.path.join(out_dir, "images.u8")
    cpath = os.path.join(out_dir, "captions.json")
    shape = (n, dataset.SIZE, dataset.SIZE, 3)
    if os.path.exists(cpath):
        with open(cpath) as f:
            meta = json.load(f)
        if meta["n"] == n and meta["seed"] == seed and "objects" in meta:
            return np.memmap(path, np.uint8, "r", shape=shape), meta["captions"], meta["objects"]
    t0 = time.time()
    mm = np.memmap(path, np.uint8, "w+", shape=shape)
    del mm
    chunk = 256
    jobs = [(seed, s, min(chunk, n - s), path, n, extra_captions) for s in range(0, n, chunk)]
    caps, objs = [None] * n, [None] * n
    workers = workers or max(1, (os.cpu_count() or 2) - 1)
    with mp.get_context("fork").Pool(workers) as pool:
        for start, c, o in pool.imap_unordered(_render_chunk, jobs):
            caps[start:start + len(c)] = c
            objs[start:start + len(o)] = o
    with open(cpath, "w") as f:
        json.dump({"n": n, "seed": seed, "captions": caps, "objects": objs}, f)
    log("rendered %d samples in %.1f s (%d workers)" % (n, time.time() - t0, workers))
    return np.memmap(path, np.uint8, "r", shape=shape), caps, objs


# ------------------------------------------------------------------------------------------
# Checkpoints (resumable training) and export

def save_ckpt(path, **state):
    import torch
    tmp = path + ".tmp"
    torch.save(state, tmp)
    os.replace(tmp, path)


def load_ckpt(path):
    import torch
    if os.path.exists(path):
        return torch.load(path, map_location="cpu", weights_only=False)
    return None


def export_safetensors(path, state_dict, metadata, dtype="float16"):
    """Writes tensors (floating ones cast to dtype) with string metadata, atomically."""
    import torch
    from safetensors.torch import save_file
    dt = {"float16": torch.float16, "bfloat16": torch.bfloat16, "float32": torch.float32}[dtype]
    out = {}
    for k, v in state_dict.items():
        v = v.detach().cpu()
        if v.is_floating_point():
            v = v.to(dt)
        out[k] = v.contiguous()
    tmp = path + ".tmp"
    save_file(out, tmp, metadata={k: str(v) for k, v in metadata.items()})
    os.replace(tmp, path)
    n = sum(v.numel() for v in out.values())
    log("exported %s: %d tensors, %.2f M parameters, %.2f MB" % (
        path, len(out), n / 1e6, os.path.getsize(path) / 1e6))


class Timer:
    """Stops a training loop at max_steps or after `minutes` of wall time."""

    def __init__(self, minutes):
        self.t0 = time.time()
        self.limit = minutes * 60 if minutes and minutes > 0 else float("inf")

    def elapsed(self):
        return time.time() - self.t0

    def done(self):
        return self.elapsed() >= self.limit
