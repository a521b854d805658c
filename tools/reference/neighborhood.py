#!/usr/bin/env python3
"""Neighborhood attention fixtures for tests/test_neighborhood.c: NATTEN's NA/GNA mask and the
masked attention output, in float64, for a handful of small configurations.

    /usr/bin/python3 tools/reference/neighborhood.py tests/fixtures/neighborhood

Needs only NumPy (no torch, no safetensors package: the file is written by hand). The mask is
written from NATTEN's FlexAttention `mask_mod` (src/natten/backends/flex.py,
single_dim_tiling_mask; attention.md 2.3-2.5): the window is a clamped *centre* with left and
right radii, where core/neighborhood.h computes window start/end; the script also checks it
against the start/end form of attention.md 2.12, so the fixture rests on two independent
writings of the definition. The output is "SDPA with attn_mask" (2.12): softmax over the
allowed keys in float64; extra tokens (NATTEN's additional KV, 2.6) are appended after the
grid keys with all-True mask columns.

Writes neighborhood.safetensors. Metadata "cases" lists the case names; per case NAME:
  NAME/config  I32 [axes, extra, heads, d, dv, size[3], window[3], stride[3], dilation[3],
               causal[3]] (unused axes 0)
  NAME/q       F32 (heads, lq, d)     lq = prod(size), grid tokens row-major
  NAME/k       F32 (heads, lk, d)     lk = lq + extra
  NAME/v       F32 (heads, lk, dv)
  NAME/mask    U8  (lq, lk)           1 = query attends key
  NAME/y       F64 (heads, lq, dv)    softmax(q k^T * scale + log(mask)) v, scale the float32
                                      value of d**-0.5, computed in float64 from the f32 inputs
"""
import json
import os
import struct
import sys

import numpy as np

# name, size, window, stride, dilation, causal, extra tokens
CASES = [
    ("1d_causal", (37,), (8,), (3,), (2,), (1,), 0),
    ("1d_strided_extra", (37,), (8,), (3,), (2,), (0,), 3),
    ("1d_full", (16,), (16,), (1,), (1,), (0,), 2),
    ("2d_dilated", (9, 13), (4, 5), (2, 3), (1, 2), (0, 0), 4),
    ("2d_causal_row", (9, 13), (3, 4), (3, 2), (2, 1), (1, 0), 0),
    ("2d_blocked", (8, 12), (4, 4), (4, 4), (1, 1), (0, 0), 0),
    ("3d_causal_t", (5, 6, 7), (2, 3, 4), (1, 2, 4), (2, 1, 1), (1, 0, 0), 5),
    ("3d_mixed", (4, 6, 7), (4, 3, 2), (2, 3, 1), (1, 2, 3), (0, 0, 0), 0),
]
HEADS, D, DV = 2, 4, 3  # small: the fixture stays under 300 KB


def axis_mask_flex(L, k, s, d, causal):
    """NATTEN flex.py single_dim_tiling_mask along one axis: (L, L) bool, [query, key]."""
    x = np.arange(L)[:, None]  # query coordinate
    y = np.arange(L)[None, :]  # key coordinate
    xi, yi = x // d, y // d  # coordinates within the dilation group
    xg, yg = x % d, y % d  # dilation group
    # group length: x // d + 1 - ((g + d - x % d) // d), NATTEN's "dilation group padding"
    Lg = (L // d) + 1 - ((xg + (d - (L % d))) // d)
    if causal:
        leader = np.minimum((xi // s) * s + s - 1, Lg - 1)  # last query of the stride group
        m = (xi - yi >= 0) & (leader - yi < k)
    else:
        wl, wr = k // 2, k // 2 + (k % 2 - 1)
        leader = np.minimum((xi // s) * s + s // 2, Lg - 1)  # centre, right-hand for even s
        centre = np.clip(leader, wl, Lg - 1 - wr)
        w0, w1 = centre - yi, yi - centre
        m = ((0 <= w0) & (w0 <= wl)) | ((0 <= w1) & (w1 <= wr))
    return m & (xg == yg)


def axis_mask_startend(L, k, s, d, causal):
    """attention.md 2.12 na1d_allowed, a loop per query: the window as [start, end)."""
    m = np.zeros((L, L), bool)
    for x in range(L):
        g, xi = x % d, x // d
        Lg = -(-(L - g) // d)
        if causal:
            lead = min((xi // s) * s + s - 1, Lg - 1)
            start, end = max(lead - k + 1, 0), min(xi + 1, Lg)
        else:
            lead = min((xi // s) * s + s // 2, Lg - 1)
            start = min(max(lead - k // 2, 0), Lg - k)
            end = start + k
        for y in range(L):
            m[x, y] = y % d == g and start <= y // d < end
    return m


def grid_mask(size, window, stride, dilation, causal):
    """Kronecker-AND of the per-axis masks over row-major flattened coordinates."""
    m = np.ones((1, 1), bool)
    for L, k, s, d, c in zip(size, window, stride, dilation, causal):
        a = axis_mask_flex(L, k, s, d, c)
        assert np.array_equal(a, axis_mask_startend(L, k, s, d, c)), (L, k, s, d, c)
        assert k * d <= L and 1 <= s <= k and k >= 2
        m = (m[:, None, :, None] & a[None, :, None, :]).reshape(m.shape[0] * L, m.shape[1] * L)
    return m


def attention(q, k, v, allowed, scale):
    """Masked SDPA in float64."""
    s = np.einsum("hid,hjd->hij", q, k) * scale
    s = np.where(allowed[None], s, -np.inf)
    s -= s.max(axis=-1, keepdims=True)
    p = np.exp(s)
    p /= p.sum(axis=-1, keepdims=True)
    return np.einsum("hij,hjd->hid", p, v)


def pad3(t):
    return list(t) + [0] * (3 - len(t))


def save_safetensors(path, tensors, metadata):
    dt = {np.float32: "F32", np.float64: "F64", np.int32: "I32", np.uint8: "U8"}
    header, blobs, off = {"__metadata__": metadata}, [], 0
    for name, a in tensors.items():
        a = np.ascontiguousarray(a)
        b = a.astype(a.dtype.newbyteorder("<")).tobytes()
        header[name] = {"dtype": dt[a.dtype.type], "shape": list(a.shape),
                        "data_offsets": [off, off + len(b)]}
        blobs.append(b)
        off += len(b)
    h = json.dumps(header, separators=(",", ":")).encode()
    h += b" " * (-len(h) % 8)
    tmp = path + ".tmp"
    with open(tmp, "wb") as f:
        f.write(struct.pack("<Q", len(h)) + h + b"".join(blobs))
    os.replace(tmp, path)


def main(out):
    os.makedirs(out, exist_ok=True)
    rng = np.random.default_rng(6)
    tensors = {}
    for name, size, window, stride, dilation, causal, extra in CASES:
        lq = int(np.prod(size))
        lk = lq + extra
        allowed = np.ones((lq, lk), bool)
        allowed[:, :lq] = grid_mask(size, window, stride, dilation, causal)
        q = rng.uniform(-1, 1, (HEADS, lq, D)).astype(np.float32)
        k = rng.uniform(-1, 1, (HEADS, lk, D)).astype(np.float32)
        v = rng.uniform(-1, 1, (HEADS, lk, DV)).astype(np.float32)
        scale = float(np.float32(1.0 / np.sqrt(D)))
        y = attention(q.astype(np.float64), k.astype(np.float64), v.astype(np.float64),
                      allowed, scale)
        cfg = [len(size), extra, HEADS, D, DV] + pad3(size) + pad3(window) + pad3(stride) + \
            pad3(dilation) + pad3(causal)
        tensors[f"{name}/config"] = np.array(cfg, np.int32)
        tensors[f"{name}/q"], tensors[f"{name}/k"], tensors[f"{name}/v"] = q, k, v
        tensors[f"{name}/mask"] = allowed.astype(np.uint8)
        tensors[f"{name}/y"] = y
    path = os.path.join(out, "neighborhood.safetensors")
    save_safetensors(path, tensors, {"cases": ",".join(c[0] for c in CASES),
                                     "generator": "tools/reference/neighborhood.py",
                                     "numpy": np.__version__})
    print("wrote", path, os.path.getsize(path), "bytes")


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "tests/fixtures/neighborhood")
