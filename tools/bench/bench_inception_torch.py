#!/usr/bin/env python3
"""pytorch-fid's feature pipeline in PyTorch, the peer of tools/bench/bench_inception.c.

    python3 tools/bench/bench_inception_torch.py FOLDER [N]

Writes N (default 2000) 256x256 formula PNGs into FOLDER if it holds none, then times the FID
Inception (tools/reference/fid_fixtures.py's network: torchvision's Inception3 with the FID
blocks, the formula weights sinter's SN_INCEPTION_FORMULA also builds) on the GPU in f32 as
pytorch-fid runs it (cuDNN's TF32 default left on), batch 50:
  decode excluded: uint8 images already on the GPU -> ToTensor scaling -> bilinear 299 -> 2x-1
                   -> pool3;
  decode included: pytorch-fid's loop: a DataLoader (8 workers) opening the PNGs with PIL.
"""
import os
import sys
import time

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "reference"))
import fid_fixtures as ff  # noqa: E402

BATCH = 50


class Files(torch.utils.data.Dataset):
    def __init__(self, paths):
        self.paths = paths

    def __len__(self):
        return len(self.paths)

    def __getitem__(self, i):
        a = np.asarray(Image.open(self.paths[i]).convert("RGB"))
        return torch.from_numpy(a.copy()).permute(2, 0, 1).float() / 255  # ToTensor


def features(net, x01):
    x = F.interpolate(x01, size=(299, 299), mode="bilinear", align_corners=False) * 2 - 1
    return ff.pool3(net, x)


def main():
    folder = sys.argv[1]
    n = int(sys.argv[2]) if len(sys.argv) > 2 else 2000
    os.makedirs(folder, exist_ok=True)
    paths = sorted(os.path.join(folder, f) for f in os.listdir(folder) if f.endswith(".png"))
    if not paths:
        for i in range(n):
            Image.fromarray(ff.formula_image(f"bench{i}", 256, 256)).save(
                os.path.join(folder, f"{i:05d}.png"))
        paths = sorted(os.path.join(folder, f) for f in os.listdir(folder) if f.endswith(".png"))
    net, _ = ff.fid_inception()
    net = net.cuda().eval()
    print(f"PyTorch {torch.__version__} FID Inception (pytorch-fid pipeline), "
          f"{torch.cuda.get_device_name()}, f32 (cuDNN TF32 {torch.backends.cudnn.allow_tf32}), "
          f"{len(paths)} images, batch {BATCH}")
    imgs = torch.from_numpy(np.stack([np.asarray(Image.open(p).convert("RGB")) for p in paths]))
    imgs = imgs.cuda().permute(0, 3, 1, 2)
    with torch.inference_mode():
        features(net, imgs[:BATCH].float() / 255)  # warm-up
        torch.cuda.synchronize()
        t0 = time.time()
        for at in range(0, len(paths), BATCH):
            features(net, imgs[at:at + BATCH].float() / 255).cpu()
        torch.cuda.synchronize()
        t1 = time.time()
        print(f"  decode excluded: {len(paths) / (t1 - t0):8.1f} images/s ({t1 - t0:.3f} s)")
        loader = torch.utils.data.DataLoader(Files(paths), batch_size=BATCH, num_workers=8)
        t0 = time.time()
        for x in loader:
            features(net, x.cuda()).cpu()
        torch.cuda.synchronize()
        t1 = time.time()
        print(f"  decode included: {len(paths) / (t1 - t0):8.1f} images/s ({t1 - t0:.3f} s, "
              f"DataLoader with 8 workers)")


if __name__ == "__main__":
    main()
