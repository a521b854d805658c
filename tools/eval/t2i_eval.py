#!/usr/bin/env python3
"""Prompt adherence of text-to-image pictures of sinter's procedural scenes (issue 8).

A deterministic analyser (numpy + PIL only, no learned parts) reads a picture and the
structured attributes of its prompt (tools/train/dataset.py's "spec") and says whether the
picture has the prompt's colours, shapes, counts and positions:

  1. background: per row, the median colour of the left and right border strips (this follows
     the vertical gradients the dataset uses and any flat background a model draws);
  2. colour segmentation: each pixel takes the nearest palette colour when that colour is
     nearer than the row's background and within MAX_COLOR_DIST (RGB distance); anti-aliased
     or blurred edges, which blend two colours, are removed by a 1-pixel erosion before the
     connected components (8-connected) are found, then each component grows back by one
     pixel inside its colour; components under MIN_AREA pixels are dropped;
  3. shape, from geometry of each component: hole ratio (ring), extent (area / bounding box),
     solidity (area / convex-hull area), the radial signature r(theta) from the centroid
     (number of corners = its prominent maxima, their angles, its relative amplitude), the
     vertical offset of the centroid in its box (triangles are bottom-heavy) and the
     circularity 4 pi A / P^2 of the signature's polygon; a short decision list (classify)
     turns these into a shape name;
  4. verdicts per picture:
       colour   every prompted colour is present and no other palette colour forms an
                object (a component of at least EXTRA_FRACTION of the prompted objects'
                median area; smaller ones are blends where objects touch, or specks);
       shape    for each prompted object, the largest `count` components of its colour all
                have its shape;
       count    for each prompted object, the number of components of its colour equals its
                count;
       position absolute ('left': centroid x < 0.4 W, 'right' > 0.6 W, 'top' y < 0.4 H,
                'bottom' > 0.6 H, 'center' within 0.15 of the middle on both axes) or
                relative (the largest components of A and B: along the relation's axis A is
                on the right side of B by more than 4 px and by more than half the distance
                along the other axis); None when the prompt says nothing about position.

Uses:
  t2i_eval.py --sinter build/sinter --prompts held-out --seeds 4 --out DIR [-- t2i args]
        draws every held-out prompt for each seed S with one `sinter t2i --prompts FILE
        --seed S` run (the models loaded once a seed) into DIR/pNNN_sS.png, scores them,
        writes DIR/results.jsonl and DIR/report.md (a markdown
        table of colour, shape, count and position accuracy, overall and by prompt kind);
  t2i_eval.py --images DIR --prompts held-out --seeds 4 --out DIR
        scores pictures already made with those names;
  t2i_eval.py --validate N [--seed S] [--degrade]
        renders N training scenes (and, with --degrade, blurred + noisy + JPEG copies) and
        the held-out prompts with the dataset's renderer and reports the analyser's accuracy
        against the ground truth;
  t2i_eval.py --analyse IMAGE --spec JSON   prints the components and the verdicts.
"""
import argparse
import io
import json
import math
import os
import subprocess
import sys
import tempfile
from collections import deque

import numpy as np
from PIL import Image, ImageFilter

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "train"))
import dataset  # noqa: E402  (tools/train/dataset.py: palette, shapes, prompts)

MAX_COLOR_DIST = 110.0
MIN_BG_DIST = 45.0
MIN_AREA = 60
EXTRA_FRACTION = 0.3
N_ANGLES = 180


# ------------------------------------------------------------------------------------------
# Segmentation

def background_rows(img):
    """(H, 3) background colour per row: median of the 6-pixel left and right border strips,
    smoothed by a running median over 15 rows. A row whose border looks like an object
    (within 60 of a palette colour: an object touching the border) takes the median of the
    whole border ring instead."""
    strips = np.concatenate([img[:, :6], img[:, -6:]], axis=1)  # H x 12 x 3
    bg = np.median(strips, axis=1)
    h = bg.shape[0]
    out = np.empty_like(bg)
    for y in range(h):
        out[y] = np.median(bg[max(0, y - 7):y + 8], axis=0)
    pal = np.array([dataset.PALETTE[c] for c in dataset.COLORS], np.float32)
    near = np.sqrt(((out[:, None, :] - pal[None]) ** 2).sum(-1)).min(1) < 60
    if near.any():
        ring = np.concatenate([img[:6].reshape(-1, 3), img[-6:].reshape(-1, 3), strips.reshape(-1, 3)])
        out[near] = np.median(ring, axis=0)
    return out


def color_labels(img):
    """Per pixel: palette index, or -1 for background / unclear."""
    x = img.astype(np.float32)
    pal = np.array([dataset.PALETTE[c] for c in dataset.COLORS], np.float32)
    d = np.sqrt(((x[:, :, None, :] - pal[None, None]) ** 2).sum(-1))  # H W K
    lab = d.argmin(-1)
    dmin = d.min(-1)
    bg = background_rows(x)
    dbg = np.sqrt(((x - bg[:, None, :]) ** 2).sum(-1))
    ok = (dmin < MAX_COLOR_DIST) & (dmin < dbg) & (dbg > MIN_BG_DIST)
    return np.where(ok, lab, -1)


def _shift_and(m):
    """3x3 erosion of a boolean mask (outside counts as empty)."""
    p = np.pad(m, 1)
    out = np.ones_like(m)
    h, w = m.shape
    for dy in range(3):
        for dx in range(3):
            out &= p[dy:dy + h, dx:dx + w]
    return out


def _shift_or(m):
    p = np.pad(m, 1)
    out = np.zeros_like(m)
    h, w = m.shape
    for dy in range(3):
        for dx in range(3):
            out |= p[dy:dy + h, dx:dx + w]
    return out


def components(mask):
    """8-connected components of a boolean mask: list of (ys, xs) index arrays, in scan order."""
    h, w = mask.shape
    seen = np.zeros_like(mask)
    comps = []
    ys0, xs0 = np.nonzero(mask)
    m = mask.tolist()
    s = seen.tolist()
    for y0, x0 in zip(ys0.tolist(), xs0.tolist()):
        if s[y0][x0]:
            continue
        s[y0][x0] = True
        q = deque([(y0, x0)])
        ys, xs = [], []
        while q:
            y, x = q.popleft()
            ys.append(y)
            xs.append(x)
            for dy in (-1, 0, 1):
                yy = y + dy
                if yy < 0 or yy >= h:
                    continue
                row, srow = m[yy], s[yy]
                for dx in (-1, 0, 1):
                    xx = x + dx
                    if 0 <= xx < w and row[xx] and not srow[xx]:
                        srow[xx] = True
                        q.append((yy, xx))
        comps.append((np.array(ys), np.array(xs)))
    return comps


# ------------------------------------------------------------------------------------------
# Shape geometry

def _convex_hull_area(points):
    """Area of the convex hull of (N, 2) points (Andrew's monotone chain)."""
    pts = sorted(set(map(tuple, points.tolist())))
    if len(pts) < 3:
        return 0.0

    def cross(o, a, b):
        return (a[0] - o[0]) * (b[1] - o[1]) - (a[1] - o[1]) * (b[0] - o[0])

    lower, upper = [], []
    for p in pts:
        while len(lower) >= 2 and cross(lower[-2], lower[-1], p) <= 0:
            lower.pop()
        lower.append(p)
    for p in reversed(pts):
        while len(upper) >= 2 and cross(upper[-2], upper[-1], p) <= 0:
            upper.pop()
        upper.append(p)
    hull = np.array(lower[:-1] + upper[:-1], np.float64)
    x, y = hull[:, 0], hull[:, 1]
    return 0.5 * abs(np.dot(x, np.roll(y, -1)) - np.dot(y, np.roll(x, -1)))


def _fill_holes(m):
    """Fills the holes of a mask (cropped with a 1-pixel empty margin)."""
    outside = np.zeros_like(m)
    h, w = m.shape
    free = (~m).tolist()
    o = outside.tolist()
    q = deque()
    for y in range(h):
        for x in (0, w - 1):
            if free[y][x] and not o[y][x]:
                o[y][x] = True
                q.append((y, x))
    for x in range(w):
        for y in (0, h - 1):
            if free[y][x] and not o[y][x]:
                o[y][x] = True
                q.append((y, x))
    while q:
        y, x = q.popleft()
        for yy, xx in ((y - 1, x), (y + 1, x), (y, x - 1), (y, x + 1)):
            if 0 <= yy < h and 0 <= xx < w and free[yy][xx] and not o[yy][xx]:
                o[yy][xx] = True
                q.append((yy, xx))
    return ~np.array(o)


def shape_features(ys, xs):
    """Geometry of one component given its pixel coordinates."""
    y0, y1, x0, x1 = ys.min(), ys.max(), xs.min(), xs.max()
    h, w = y1 - y0 + 1, x1 - x0 + 1
    m = np.zeros((h + 2, w + 2), bool)
    m[ys - y0 + 1, xs - x0 + 1] = True
    filled = _fill_holes(m)
    area = float(m.sum())
    farea = float(filled.sum())
    fy, fx = np.nonzero(filled)
    # hull of the pixel corners of the filled shape
    corners = np.concatenate([np.stack([fx + a, fy + b], 1) for a in (0, 1) for b in (0, 1)])
    hull = _convex_hull_area(corners)
    cy, cx = fy.mean() + 0.5, fx.mean() + 0.5  # centroid, in crop coordinates (pixel centres)
    # radial signature of the filled shape
    rmax = math.hypot(h, w)
    th = np.arange(N_ANGLES) * (2 * math.pi / N_ANGLES)
    rs = np.arange(0, rmax, 0.5)
    px = np.floor(cx + rs[None, :] * np.cos(th)[:, None]).astype(int)
    py = np.floor(cy - rs[None, :] * np.sin(th)[:, None]).astype(int)  # y up: angle CCW
    inside = (px >= 0) & (px < w + 2) & (py >= 0) & (py < h + 2)
    hit = np.zeros_like(inside)
    hit[inside] = filled[py[inside], px[inside]]
    idx = np.where(hit.any(1), hit.shape[1] - 1 - np.argmax(hit[:, ::-1], axis=1), 0)
    r = rs[idx] + 0.5
    # smooth circularly, then find the prominent maxima
    k = np.array([1, 2, 3, 2, 1], np.float64)
    k /= k.sum()
    rp = np.concatenate([r[-2:], r, r[:2]])
    rsm = np.convolve(rp, k, mode="valid")
    mean_r = max(rsm.mean(), 1e-6)
    peaks = []
    win, pwin = 9, 18  # 18 and 36 degrees
    for i in range(N_ANGLES):
        nb = rsm[np.arange(i - win, i + win + 1) % N_ANGLES]
        if rsm[i] < nb.max() or (rsm[i] == nb.max() and np.argmax(nb) != win):
            continue
        lo = rsm[np.arange(i - pwin, i + pwin + 1) % N_ANGLES].min()
        if rsm[i] - lo > 0.05 * mean_r:
            peaks.append(i)
    ang = th[peaks] if peaks else np.zeros(0)
    axis_align = float(np.mean(np.cos(4 * ang))) if len(peaks) else 0.0
    # circularity of the signature polygon
    vx, vy = r * np.cos(th), r * np.sin(th)
    parea = 0.5 * abs(np.dot(vx, np.roll(vy, -1)) - np.dot(vy, np.roll(vx, -1)))
    perim = np.hypot(np.diff(np.append(vx, vx[0])), np.diff(np.append(vy, vy[0]))).sum()
    return {
        "area": area,
        "hole": (farea - area) / max(farea, 1.0),
        "extent": farea / float(h * w),
        "solidity": farea / max(hull, 1.0),
        "amplitude": float((rsm.max() - rsm.min()) / mean_r),
        "corners": len(peaks),
        "axis_align": axis_align,
        "offset": float((cy - (h + 2) / 2) / h),
        "circularity": float(4 * math.pi * parea / max(perim * perim, 1e-6)),
        "aspect": float(w / h),
    }


def classify(f):
    """Shape name from shape_features (a decision list; see the module comment)."""
    if f["hole"] > 0.06:
        return "ring"
    if f["solidity"] < 0.84:
        # star (5 corners, none on the axes, extent ~0.43-0.52) or cross (4 arms: 4 or 8
        # corners around the axes, extent ~0.55, solidity ~0.71)
        score = (f["extent"] - 0.49) / 0.05 + (f["solidity"] - 0.66) / 0.05
        score += 2.0 * (f["axis_align"] - 0.25) / 0.25
        score += {5: -2.0, 4: 1.0, 8: 1.0}.get(f["corners"], 0.0)
        return "cross" if score > 0 else "star"
    if f["extent"] > 0.87:
        return "square"
    if f["extent"] < 0.66:
        # triangle (bottom-heavy, 3 corners) or diamond (symmetric, 4 axis corners)
        score = abs(f["offset"]) / 0.06 - 1.0
        if f["corners"] == 3:
            score += 1.0
        elif f["corners"] == 4:
            score -= 1.0
        return "triangle" if score > 0 else "diamond"
    # between: circle (extent 0.785, round) or a rounded square / blurred diamond
    if f["amplitude"] < 0.16 and f["circularity"] > 0.85:
        return "circle"
    if f["corners"] >= 3 and f["axis_align"] > 0.5:
        return "diamond"
    return "square" if f["extent"] > 0.76 and f["amplitude"] >= 0.16 else "circle"


# ------------------------------------------------------------------------------------------
# The analyser

def find_objects(img):
    """Objects in a picture (H, W, 3 uint8): list of dicts with colour, shape, centroid,
    area and the features."""
    img = np.asarray(img)[:, :, :3]
    lab = color_labels(img)
    objs = []
    for k, cname in enumerate(dataset.COLORS):
        m = lab == k
        if m.sum() < MIN_AREA:
            continue
        core = _shift_and(m)
        for ys, xs in components(core):
            if len(ys) < MIN_AREA // 2:
                continue
            # grow back one pixel inside the colour
            y0, y1 = max(ys.min() - 1, 0), min(ys.max() + 2, m.shape[0])
            x0, x1 = max(xs.min() - 1, 0), min(xs.max() + 2, m.shape[1])
            c = np.zeros((y1 - y0, x1 - x0), bool)
            c[ys - y0, xs - x0] = True
            c = _shift_or(c) & m[y0:y1, x0:x1]
            gy, gx = np.nonzero(c)
            if len(gy) < MIN_AREA:
                continue
            gy, gx = gy + y0, gx + x0
            f = shape_features(gy, gx)
            objs.append({"color": cname, "shape": classify(f), "cx": float(gx.mean() + 0.5),
                         "cy": float(gy.mean() + 0.5), "area": int(len(gy)), "features": f})
    return objs


def _relation_ok(a, b, rel, min_px=4.0):
    dx, dy = a["cx"] - b["cx"], a["cy"] - b["cy"]
    along, other = {"left of": (-dx, dy), "right of": (dx, dy),
                    "above": (-dy, dx), "below": (dy, dx)}[rel]
    return along > min_px and along > 0.5 * abs(other)


def _position_ok(o, pos, w, h):
    x, y = o["cx"] / w, o["cy"] / h
    return {"left": x < 0.4, "right": x > 0.6, "top": y < 0.4, "bottom": y > 0.6,
            "center": abs(x - 0.5) < 0.15 and abs(y - 0.5) < 0.15}[pos]


def judge(img, spec):
    """Verdicts of a picture against a prompt spec: dict with colour, shape, count, position
    (True/False; position None when the prompt has none) and the objects found."""
    img = np.asarray(img)
    h, w = img.shape[:2]
    found = find_objects(img)
    by_color = {}
    for o in found:
        by_color.setdefault(o["color"], []).append(o)
    for v in by_color.values():
        v.sort(key=lambda o: -o["area"])
    want = spec["objects"]
    colors = {o["color"] for o in want}
    # an unprompted colour counts when it forms an object, not a fringe: a component of at
    # least EXTRA_FRACTION of the prompted objects' median area (blends where two objects
    # touch, e.g. blue between cyan and purple, stay below it)
    areas = sorted(o["area"] for c in colors for o in by_color.get(c, []))
    floor = EXTRA_FRACTION * areas[len(areas) // 2] if areas else 0
    extra = [o for c, v in by_color.items() if c not in colors for o in v if o["area"] >= floor]
    color_ok = all(c in by_color for c in colors) and not extra
    shape_ok = True
    count_ok = True
    for o in want:
        have = by_color.get(o["color"], [])
        n = o.get("count", 1)
        # objects sharing a colour in one prompt would be counted together
        n_same = sum(p.get("count", 1) for p in want if p["color"] == o["color"])
        if len(have) != n_same:
            count_ok = False
        top = have[:n]
        if not top or any(t["shape"] != o["shape"] for t in top):
            shape_ok = False
    pos_ok = None
    if spec.get("relation"):
        a, rel, b = spec["relation"]
        ha, hb = by_color.get(want[a]["color"]), by_color.get(want[b]["color"])
        pos_ok = bool(ha and hb and _relation_ok(ha[0], hb[0], rel))
    elif spec.get("position"):
        ha = by_color.get(want[0]["color"])
        pos_ok = bool(ha and _position_ok(ha[0], spec["position"], w, h))
    return {"color": color_ok, "shape": shape_ok, "count": count_ok, "position": pos_ok,
            "objects": [{k: (round(v, 2) if isinstance(v, float) else v)
                         for k, v in o.items() if k != "features"} for o in found]}


# ------------------------------------------------------------------------------------------
# Accuracy tables

KEYS = ["color", "shape", "count", "position"]


def accuracy(verdicts):
    out = {}
    for k in KEYS:
        v = [r[k] for r in verdicts if r[k] is not None]
        out[k] = (sum(v), len(v))
    allv = [all(r[k] is not False for k in KEYS) for r in verdicts]
    out["all"] = (sum(allv), len(allv))
    return out


def _pct(t):
    return "%.1f%% (%d/%d)" % (100.0 * t[0] / t[1], t[0], t[1]) if t[1] else "-"


def markdown_table(rows, title="prompt adherence"):
    """rows: list of (label, verdicts). A markdown table of accuracies."""
    lines = ["| %s | colour | shape | count | position | all four |" % title,
             "|---|---|---|---|---|---|"]
    for label, v in rows:
        a = accuracy(v)
        lines.append("| %s | %s |" % (label, " | ".join(_pct(a[k]) for k in KEYS + ["all"])))
    return "\n".join(lines) + "\n"


def _by_kind(results):
    rows = [("all (%d images)" % len(results), results)]
    kinds = sorted({r["kind"] for r in results})
    for k in kinds:
        rows.append((k, [r for r in results if r["kind"] == k]))
    return rows


# ------------------------------------------------------------------------------------------
# Degradation (for validation)

def degrade(img, rng):
    """Blur + noise + JPEG quantisation, the way a generator's output may look."""
    im = Image.fromarray(img).filter(ImageFilter.GaussianBlur(radius=1.2 + rng.random()))
    x = np.asarray(im).astype(np.float32) + rng.normal(0, 8.0, img.shape)
    im = Image.fromarray(np.clip(np.rint(x), 0, 255).astype(np.uint8))
    buf = io.BytesIO()
    im.save(buf, format="JPEG", quality=int(25 + 20 * rng.random()))
    return np.asarray(Image.open(io.BytesIO(buf.getvalue())).convert("RGB"))


def validate(n, seed, do_degrade, show_errors=0, held_limit=None):
    """Analyser accuracy on dataset renders (ground truth) of n training samples and of the
    held-out prompts; returns the markdown report."""
    rng = np.random.default_rng(seed + 1)
    clean, bad = [], []
    shown = 0
    for i in range(n):
        img, spec = dataset.make_sample(seed, i)
        v = judge(img, spec)
        v["kind"] = spec["kind"]
        clean.append(v)
        if shown < show_errors and not all(v[k] is not False for k in KEYS):
            shown += 1
            print("error:", i, spec["caption"], {k: v[k] for k in KEYS}, v["objects"],
                  file=sys.stderr)
        if do_degrade:
            d = judge(degrade(img, rng), spec)
            d["kind"] = spec["kind"]
            bad.append(d)
    held, held_bad = [], []
    for p in dataset.held_out_prompts()[:held_limit]:
        for s in range(2):
            img, spec = dataset.make_sample(1000 + s, p["id"], spec=p)
            v = judge(img, spec)
            v["kind"] = p["kind"]
            held.append(v)
            if do_degrade:
                d = judge(degrade(img, rng), spec)
                d["kind"] = p["kind"]
                held_bad.append(d)
    rows = [("training stream, clean (%d)" % len(clean), clean)]
    rows += [("  " + k, [r for r in clean if r["kind"] == k]) for k in sorted({r["kind"] for r in clean})]
    rows.append(("held-out prompts x 2 layouts, clean (%d)" % len(held), held))
    if do_degrade:
        rows.append(("training stream, degraded (%d)" % len(bad), bad))
        rows.append(("held-out prompts, degraded (%d)" % len(held_bad), held_bad))
    return markdown_table(rows, "renders"), clean, held


# ------------------------------------------------------------------------------------------
# The driver

def load_prompts(which):
    if which == "held-out":
        return dataset.held_out_prompts()
    with open(which) as f:  # JSON lines of specs with "caption"
        ps = [json.loads(l) for l in f if l.strip()]
    for i, p in enumerate(ps):
        p.setdefault("id", i)
    return ps


def image_name(p, seed):
    return "p%03d_s%d.png" % (p["id"], seed)


def draw_prompts(a, extra, todo, seed, img_dir):
    """Draws the prompts `todo` for one seed with one `sinter t2i --prompts` run, then names
    the pictures as image_name does."""
    with tempfile.TemporaryDirectory(dir=a.out) as tmp:
        listing = os.path.join(tmp, "prompts.txt")
        with open(listing, "w") as f:
            for p in todo:
                assert p["caption"].strip() and "\n" not in p["caption"], p
                f.write(p["caption"] + "\n")
        cmd = [a.sinter, "t2i", "--prompts", listing, "--seed", str(seed), "-o", tmp] + list(extra)
        r = subprocess.run(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        if r.returncode != 0:
            sys.exit("t2i_eval: %s failed (%d): %s" % (" ".join(cmd), r.returncode,
                                                    r.stderr.strip()[-500:]))
        for line, p in enumerate(todo, 1):
            os.replace(os.path.join(tmp, "%04d.png" % line), os.path.join(img_dir, image_name(p, seed)))


def run_eval(a, extra):
    prompts = load_prompts(a.prompts)
    os.makedirs(a.out, exist_ok=True)
    img_dir = a.images or a.out
    results = []
    for s in range(a.seeds if a.sinter else 0):
        todo = [p for p in prompts if a.force or not os.path.exists(os.path.join(img_dir, image_name(p, s)))]
        if todo:
            draw_prompts(a, extra, todo, s, img_dir)
    for p in prompts:
        for s in range(a.seeds):
            path = os.path.join(img_dir, image_name(p, s))
            img = np.asarray(Image.open(path).convert("RGB"))
            v = judge(img, p)
            v.update(kind=p["kind"], id=p["id"], seed=s, caption=p["caption"], file=os.path.basename(path))
            results.append(v)
            if a.verbose:
                print("%-60s seed %d  %s" % (p["caption"], s,
                                             " ".join("%s=%s" % (k, v[k]) for k in KEYS)))
    with open(os.path.join(a.out, "results.jsonl"), "w") as f:
        for r in results:
            f.write(json.dumps(r, sort_keys=True) + "\n")
    table = markdown_table(_by_kind(results), "held-out prompts" if a.prompts == "held-out" else "prompts")
    hdr = "# Prompt adherence\n\n%d prompts x %d seeds, scored by tools/eval/t2i_eval.py.\n\n" % (
        len(prompts), a.seeds)
    with open(os.path.join(a.out, "report.md"), "w") as f:
        f.write(hdr + table)
    print(table, end="")
    return results


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0],
                                 epilog="arguments after -- go to every `sinter t2i` call")
    ap.add_argument("--sinter", help="the sinter program; makes the pictures with `sinter t2i`")
    ap.add_argument("--images", help="folder of pictures already made (pNNN_sS.png)")
    ap.add_argument("--prompts", default="held-out", help="'held-out' or a JSON-lines file of specs")
    ap.add_argument("--seeds", type=int, default=4)
    ap.add_argument("--out", default="t2i_eval_out")
    ap.add_argument("--force", action="store_true", help="remake pictures that exist")
    ap.add_argument("--verbose", action="store_true")
    ap.add_argument("--validate", type=int, metavar="N", help="check the analyser on N renders")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--degrade", action="store_true")
    ap.add_argument("--show-errors", type=int, default=0)
    ap.add_argument("--held-out-limit", type=int, help="--validate: only the first N held-out prompts")
    ap.add_argument("--min-accuracy", type=float,
                    help="--validate: exit 1 unless all four verdicts hold on at least this "
                         "fraction of the clean renders (training stream and held-out prompts)")
    ap.add_argument("--analyse", metavar="IMAGE")
    ap.add_argument("--spec", help="JSON spec (or @file) for --analyse")
    argv = sys.argv[1:]
    extra = []
    if "--" in argv:
        k = argv.index("--")
        argv, extra = argv[:k], argv[k + 1:]
    a = ap.parse_args(argv)
    if a.analyse:
        spec = json.load(open(a.spec[1:])) if a.spec and a.spec.startswith("@") else json.loads(a.spec)
        img = np.asarray(Image.open(a.analyse).convert("RGB"))
        print(json.dumps(judge(img, spec), indent=1))
        return
    if a.validate:
        table, clean, held = validate(a.validate, a.seed, a.degrade, a.show_errors, a.held_out_limit)
        print(table, end="")
        if a.min_accuracy is not None:
            for name, rows in (("training stream", clean), ("held-out prompts", held)):
                ok, n = accuracy(rows)["all"]
                if n and ok < a.min_accuracy * n:
                    sys.exit("t2i_eval: the analyser is right on %d/%d clean %s renders, under %.1f%%"
                             % (ok, n, name, 100 * a.min_accuracy))
        return
    if not a.sinter and not a.images:
        ap.error("give --sinter (to make the pictures), --images, --validate or --analyse")
    run_eval(a, extra)


if __name__ == "__main__":
    main()
