#!/usr/bin/env python3
"""Procedural captioned scenes for sinter's bundled text-to-image model (issue 8).

256x256 pictures of one to three kinds of flat objects on a plain or gradient background,
each with a caption and its structured attributes. Everything is a pure function of
(seed, index): sample(seed, i) gives the same picture bytes and the same caption on every
machine (numpy's PCG64 and PIL's rasteriser; no floating-point state carried between
samples), so workers can render any slice of the stream independently.

Vocabulary
  colours     10 named, well-separated sRGB colours (PALETTE)
  shapes      circle, square, triangle, star, ring, cross, diamond
  sizes       small (~40 px), medium (~64 px), large (~96 px) bounding-box side
  positions   left, right, top, bottom, center (single objects)
  relations   left of, right of, above, below (two objects)
  counts      one, two, three (identical objects)
  backgrounds white, gray, beige, light blue (plain) and gradient (white to gray or blue)

Scene kinds: "single" (one object, optional size and position words), "count" (two or three
identical objects), "relation" (two objects of different colours and a spatial relation),
"group" (two or three objects of different colours joined by "and"; no relation).

Held-out split (never rendered by the training stream, see is_held_out):
  - HELD_OUT_PAIRS: 10 colour x shape pairs; no training object has these attributes;
  - HELD_OUT_TRIPLES: 8 (shape A, relation, shape B) spatial arrangements; a training
    relation scene never puts a shape-A object left of / above a shape-B object for these
    triples, in either caption direction ("A left of B" and "B right of A" are one scene).
held_out_prompts() lists 108 evaluation prompts built only from held-out combinations.

A prompt's attributes ("spec") are what the analyser (tools/eval/t2i_eval.py) checks:
  {"kind", "objects": [{"color", "shape", "count", "size"}], "relation": [a, rel, b] | None,
   "position": str | None, "background": str | None}
A rendered sample adds "caption" and "instances": one {"color", "shape", "cx", "cy", "side"}
per drawn object (pixels).

Command line (numpy + PIL only):
  dataset.py render --seed S --n N --out DIR   PNGs + attributes.jsonl
  dataset.py held-out [--out FILE]             the held-out prompts as JSON lines
  dataset.py stats --seed S --n N              caption/kind statistics and split check
  dataset.py render-caption --caption C --seed S --out PNG
                                               the held-out prompt C drawn as ground truth
"""
import argparse
import hashlib
import json
import math
import os
import sys

import numpy as np
from PIL import Image, ImageDraw

SIZE = 256
SS = 4  # supersampling factor for anti-aliased edges

PALETTE = {
    "red": (215, 25, 30),
    "orange": (250, 130, 0),
    "yellow": (240, 210, 0),
    "green": (25, 150, 50),
    "cyan": (0, 180, 200),
    "blue": (30, 60, 210),
    "purple": (125, 40, 175),
    "pink": (245, 110, 180),
    "brown": (125, 75, 25),
    "black": (25, 25, 25),
}
COLORS = list(PALETTE)
SHAPES = ["circle", "square", "triangle", "star", "ring", "cross", "diamond"]
PLURAL = {"cross": "crosses"}
SIZES = {"small": 40, "medium": 64, "large": 96}
POSITIONS = ["left", "right", "top", "bottom", "center"]
RELATIONS = ["left of", "right of", "above", "below"]
INVERSE = {"left of": "right of", "right of": "left of", "above": "below", "below": "above"}
COUNT_WORDS = {1: "one", 2: "two", 3: "three"}
BACKGROUNDS = {
    "white": ((255, 255, 255), None),
    "gray": ((222, 222, 222), None),
    "beige": ((243, 236, 218), None),
    "light blue": ((218, 232, 246), None),
    "gradient": ((255, 255, 255), "varies"),  # top white to bottom gray or light blue
}
BG_NAMES = list(BACKGROUNDS)

HELD_OUT_PAIRS = [
    ("red", "star"), ("orange", "cross"), ("yellow", "square"), ("green", "ring"),
    ("cyan", "diamond"), ("blue", "triangle"), ("purple", "circle"), ("pink", "star"),
    ("brown", "ring"), ("black", "triangle"),
]
# (shape A, canonical relation, shape B): A is left of / above B.
HELD_OUT_TRIPLES = [
    ("circle", "left of", "square"), ("square", "above", "circle"),
    ("triangle", "above", "star"), ("star", "left of", "ring"),
    ("diamond", "above", "cross"), ("cross", "left of", "triangle"),
    ("ring", "above", "diamond"), ("square", "left of", "star"),
]
_HELD_PAIR_SET = set(HELD_OUT_PAIRS)
_HELD_TRIPLE_SET = set(HELD_OUT_TRIPLES)


def canonical_relation(a_shape, rel, b_shape):
    """(A, rel, B) as (X, 'left of'|'above', Y): the same arrangement said one way."""
    if rel in ("right of", "below"):
        return (b_shape, INVERSE[rel], a_shape)
    return (a_shape, rel, b_shape)


def is_held_out(spec):
    """True when a prompt spec uses a held-out colour x shape pair or relation triple."""
    for o in spec["objects"]:
        if (o["color"], o["shape"]) in _HELD_PAIR_SET:
            return True
    r = spec.get("relation")
    if r:
        a, rel, b = r
        t = canonical_relation(spec["objects"][a]["shape"], rel, spec["objects"][b]["shape"])
        if t in _HELD_TRIPLE_SET:
            return True
    return False


def train_pairs():
    return [(c, s) for c in COLORS for s in SHAPES if (c, s) not in _HELD_PAIR_SET]


# ------------------------------------------------------------------------------------------
# Captions

def _article(word):
    return "an" if word[0] in "aeiou" else "a"


def _plural(shape):
    return PLURAL.get(shape, shape + "s")


def _np(o, rng, allow_size=True, force_size=False):
    """Noun phrase of one object spec (count 1): 'a small red circle'."""
    words = []
    if o.get("size") and allow_size and (force_size or o.get("say_size")):
        words.append(o["size"])
    words += [o["color"], o["shape"]]
    return _article(words[0]) + " " + " ".join(words)


POS_PHRASES = {
    "left": ["on the left", "on the left side", "at the left"],
    "right": ["on the right", "on the right side", "at the right"],
    "top": ["at the top", "near the top", "at the top of the image"],
    "bottom": ["at the bottom", "near the bottom", "at the bottom of the image"],
    "center": ["in the center", "in the middle", "at the center"],
}
REL_PHRASES = {
    "left of": ["left of", "to the left of", "on the left of"],
    "right of": ["right of", "to the right of", "on the right of"],
    "above": ["above", "over"],
    "below": ["below", "under", "beneath"],
}


def _bg_phrase(bg, rng):
    if bg == "gradient":
        return ["on a gradient background", "with a gradient background"][rng.integers(2)]
    return ["on a %s background" % bg, "on %s" % bg, "against a %s background" % bg][rng.integers(3)]


def caption(spec, rng):
    """One caption of a spec, the template picked with rng."""
    k = spec["kind"]
    objs = spec["objects"]
    if k == "single":
        o = objs[0]
        np_ = _np(o, rng, force_size=o.get("say_size", False))
        t = rng.integers(4)
        if t == 1 and not o.get("say_size"):
            np_ = "one " + np_.split(" ", 1)[1]
        elif t == 2:
            np_ = ["a picture of ", "an image of ", "a drawing of "][rng.integers(3)] + np_
        s = np_
        if spec.get("position"):
            s += " " + POS_PHRASES[spec["position"]][rng.integers(3)]
    elif k == "count":
        o = objs[0]
        words = [COUNT_WORDS[o["count"]]]
        if o.get("say_size"):
            words.append(o["size"])
        words += [o["color"], _plural(o["shape"])]
        s = " ".join(words)
        if rng.integers(4) == 0:
            s = "a picture of " + s
    elif k == "relation":
        a, rel, b = spec["relation"]
        if rng.integers(2):  # say it the other way round
            a, rel, b = b, INVERSE[rel], a
        pa, pb = _np(objs[a], rng), _np(objs[b], rng)
        phr = REL_PHRASES[rel][rng.integers(len(REL_PHRASES[rel]))]
        t = rng.integers(3)
        if t == 0:
            s = "%s %s %s" % (pa, phr, pb)
        elif t == 1:
            s = "%s is %s %s" % (pa, phr, pb)
        else:
            s = "%s %s %s" % (pa, phr, pb)
            s = ["a picture of ", "an image with "][rng.integers(2)] + s
    elif k == "group":
        nps = [_np(o, rng) for o in objs]
        order = rng.permutation(len(nps))
        nps = [nps[i] for i in order]
        s = nps[0] if len(nps) == 1 else ", ".join(nps[:-1]) + " and " + nps[-1]
    else:
        raise ValueError(k)
    if spec.get("say_background") and spec.get("background"):
        s += " " + _bg_phrase(spec["background"], rng)
    return s


# ------------------------------------------------------------------------------------------
# Specs (what a caption says)

def _pick_pair(rng, avoid_colors=()):
    pairs = [p for p in train_pairs() if p[0] not in avoid_colors]
    return pairs[rng.integers(len(pairs))]


# Share of each scene kind in the training stream. Relations get the largest share: binding
# two colour-shape pairs to the right sides is the hardest thing the captions ask for (v1's
# stream had 0.30/0.25/0.35/0.10 and drew relations worst).
KIND_MIX = (("single", 0.22), ("count", 0.25), ("relation", 0.45), ("group", 0.08))
assert [k for k, _ in KIND_MIX] == ["single", "count", "relation", "group"]  # random_spec's order


def random_spec(rng):
    """A training prompt spec (never held out)."""
    u = rng.random()
    edges = np.cumsum([share for _, share in KIND_MIX])
    bg = BG_NAMES[rng.choice(len(BG_NAMES), p=[0.4, 0.15, 0.15, 0.15, 0.15])]
    spec = {"background": bg, "say_background": bool(rng.random() < 0.25), "relation": None,
            "position": None}
    if u < edges[0]:
        c, s = _pick_pair(rng)
        size = ["small", "medium", "large"][rng.integers(3)]
        spec["kind"] = "single"
        spec["objects"] = [{"color": c, "shape": s, "count": 1, "size": size,
                            "say_size": bool(rng.random() < 0.5)}]
        if rng.random() < 0.55:
            spec["position"] = POSITIONS[rng.integers(5)]
    elif u < edges[1]:
        c, s = _pick_pair(rng)
        n = 2 + int(rng.integers(2))
        size = ["small", "medium", "large"][rng.integers(3 if n == 2 else 2)]
        spec["kind"] = "count"
        spec["objects"] = [{"color": c, "shape": s, "count": n, "size": size,
                            "say_size": bool(rng.random() < 0.4)}]
    elif u < edges[2]:
        while True:
            ca, sa = _pick_pair(rng)
            cb, sb = _pick_pair(rng, avoid_colors=(ca,))
            rel = RELATIONS[rng.integers(4)]
            if canonical_relation(sa, rel, sb) not in _HELD_TRIPLE_SET:
                break
        size = lambda: ["small", "medium", "large"][rng.choice(3, p=[0.25, 0.5, 0.25])]
        spec["kind"] = "relation"
        spec["objects"] = [{"color": ca, "shape": sa, "count": 1, "size": size()},
                           {"color": cb, "shape": sb, "count": 1, "size": size()}]
        spec["relation"] = [0, rel, 1]
    else:
        n = 2 + int(rng.integers(2))
        objs, used = [], []
        for _ in range(n):
            c, s = _pick_pair(rng, avoid_colors=used)
            used.append(c)
            objs.append({"color": c, "shape": s, "count": 1,
                         "size": ["small", "medium"][rng.integers(2)]})
        spec["kind"] = "group"
        spec["objects"] = objs
    return spec


# ------------------------------------------------------------------------------------------
# Layout and drawing

def _region(pos, side):
    """Box (x0, x1, y0, y1) where an object's centre may go for an absolute position."""
    m = side / 2 + 6
    lo, hi = m, SIZE - m
    third = SIZE * 0.30
    if pos == "left":
        return lo, max(lo, third), SIZE * 0.35, SIZE * 0.65
    if pos == "right":
        return min(hi, SIZE - third), hi, SIZE * 0.35, SIZE * 0.65
    if pos == "top":
        return SIZE * 0.35, SIZE * 0.65, lo, max(lo, third)
    if pos == "bottom":
        return SIZE * 0.35, SIZE * 0.65, min(hi, SIZE - third), hi
    if pos == "center":
        return SIZE * 0.44, SIZE * 0.56, SIZE * 0.44, SIZE * 0.56
    return lo, hi, lo, hi


def _uniform(rng, a, b):
    return a + (b - a) * rng.random()


def _side(rng, size):
    return SIZES[size] * _uniform(rng, 0.9, 1.1)


def _free(placed, cx, cy, side, gap=8):
    for (x, y, s) in placed:
        if abs(x - cx) < (s + side) / 2 + gap and abs(y - cy) < (s + side) / 2 + gap:
            return False
    return True


def layout(spec, rng):
    """Instances (colour, shape, centre, side) for a spec; None if no layout was found."""
    objs = spec["objects"]
    inst = []
    if spec["kind"] == "relation":
        a, rel, b = spec["relation"]
        sa, sb = _side(rng, objs[a]["size"]), _side(rng, objs[b]["size"])
        for _ in range(200):
            horiz = rel in ("left of", "right of")
            gap = (sa + sb) / 2 + _uniform(rng, 14, 60)
            off = _uniform(rng, -0.25, 0.25) * gap  # along the other axis
            # centre of the pair
            mx, my = _uniform(rng, 70, SIZE - 70), _uniform(rng, 70, SIZE - 70)
            d = gap if rel in ("right of", "below") else -gap  # A minus B along the axis
            if horiz:
                ax, bx = mx + d / 2, mx - d / 2
                ay, by = my + off / 2, my - off / 2
            else:
                ay, by = my + d / 2, my - d / 2
                ax, bx = mx + off / 2, mx - off / 2
            ok = all(s / 2 + 4 <= v <= SIZE - s / 2 - 4
                     for v, s in ((ax, sa), (ay, sa), (bx, sb), (by, sb)))
            if ok:
                inst = [(a, ax, ay, sa), (b, bx, by, sb)]
                break
        else:
            return None
    else:
        placed = []
        for i, o in enumerate(objs):
            for _ in range(o["count"]):
                side = _side(rng, o["size"])
                x0, x1, y0, y1 = _region(spec.get("position") if spec["kind"] == "single" else None,
                                         side)
                for _ in range(200):
                    cx, cy = _uniform(rng, x0, x1), _uniform(rng, y0, y1)
                    if _free(placed, cx, cy, side):
                        break
                else:
                    return None
                placed.append((cx, cy, side))
                inst.append((i, cx, cy, side))
    return [{"color": objs[i]["color"], "shape": objs[i]["shape"], "object": i,
             "cx": round(float(cx), 2), "cy": round(float(cy), 2), "side": round(float(side), 2)}
            for (i, cx, cy, side) in inst]


def shape_polygon(shape, cx, cy, side):
    """Vertices (x, y) of the polygonal shapes, in the coordinates given."""
    h = side / 2
    if shape == "square":
        q = h * 0.88
        return [(cx - q, cy - q), (cx + q, cy - q), (cx + q, cy + q), (cx - q, cy + q)]
    if shape == "diamond":
        return [(cx, cy - h), (cx + h, cy), (cx, cy + h), (cx - h, cy)]
    if shape == "triangle":
        return [(cx, cy - h), (cx + h, cy + h * 0.8), (cx - h, cy + h * 0.8)]
    if shape == "star":
        pts = []
        ri = 0.45
        # centre the star's bounding box: its points reach h above, cos(36 deg) h below
        oy = h * (1 - math.cos(math.pi / 5)) / 2
        for k in range(10):
            r = h if k % 2 == 0 else h * ri
            a = -math.pi / 2 + k * math.pi / 5
            pts.append((cx + r * math.cos(a), cy + oy + r * math.sin(a)))
        return pts
    if shape == "cross":
        w = side / 6  # half the arm width: arms are a third of the side
        return [(cx - w, cy - h), (cx + w, cy - h), (cx + w, cy - w), (cx + h, cy - w),
                (cx + h, cy + w), (cx + w, cy + w), (cx + w, cy + h), (cx - w, cy + h),
                (cx - w, cy + w), (cx - h, cy + w), (cx - h, cy - w), (cx - w, cy - w)]
    raise ValueError(shape)


def background(name, rng):
    """(H, W, 3) uint8 background at the output size, and a description."""
    base, kind = BACKGROUNDS[name]
    if kind is None:
        return np.broadcast_to(np.array(base, np.uint8), (SIZE, SIZE, 3)).copy()
    end = np.array([(222, 222, 222), (218, 232, 246)][rng.integers(2)], np.float64)
    top = np.array(base, np.float64)
    t = (np.arange(SIZE, dtype=np.float64) + 0.5) / SIZE
    rows = np.rint(top[None] * (1 - t[:, None]) + end[None] * t[:, None]).astype(np.uint8)
    return np.broadcast_to(rows[:, None, :], (SIZE, SIZE, 3)).copy()


def draw(bg_rgb, instances):
    """Draws instances over a background (H, W, 3 uint8), anti-aliased by supersampling."""
    big = Image.fromarray(bg_rgb).resize((SIZE * SS, SIZE * SS), Image.NEAREST)
    mask = Image.new("L", big.size, 0)
    d = ImageDraw.Draw(mask)
    layer = Image.new("RGB", big.size, (0, 0, 0))
    dl = ImageDraw.Draw(layer)
    for o in instances:
        col = PALETTE[o["color"]]
        cx, cy, side = o["cx"] * SS, o["cy"] * SS, o["side"] * SS
        h = side / 2
        if o["shape"] == "circle":
            box = [cx - h, cy - h, cx + h, cy + h]
            d.ellipse(box, fill=255)
            dl.ellipse(box, fill=col)
        elif o["shape"] == "ring":
            box = [cx - h, cy - h, cx + h, cy + h]
            w = max(1, int(round(h * 0.42)))
            d.ellipse(box, outline=255, width=w)
            dl.ellipse(box, outline=col, width=w)
        else:
            poly = shape_polygon(o["shape"], cx, cy, side)
            d.polygon(poly, fill=255)
            dl.polygon(poly, fill=col)
    out = Image.composite(layer, big, mask)
    return np.asarray(out.reduce(SS))


# ------------------------------------------------------------------------------------------
# Samples

def sample_rng(seed, index):
    return np.random.default_rng([int(seed) & 0xFFFFFFFF, int(index) & 0xFFFFFFFF, 0x51A7])


def make_sample(seed, index, spec=None):
    """(image uint8 HxWx3, attributes dict) of sample `index` of the stream `seed`.
    With a spec (e.g. a held-out prompt), renders that spec instead of a random one."""
    rng = sample_rng(seed, index)
    for _ in range(50):
        s = random_spec(rng) if spec is None else json.loads(json.dumps(spec))
        inst = layout(s, rng)
        if inst is not None:
            break
    else:
        raise RuntimeError("no layout for sample %d" % index)
    bg = s.get("background") or "white"
    img = draw(background(bg, rng), inst)
    if spec is None or "caption" not in s:
        s["caption"] = caption(s, rng)
    s["instances"] = inst
    return img, s


def render_batch(seed, start, n):
    """n consecutive samples as (uint8 array (n, H, W, 3), list of attributes)."""
    imgs = np.empty((n, SIZE, SIZE, 3), np.uint8)
    attrs = []
    for k in range(n):
        img, a = make_sample(seed, start + k)
        imgs[k] = img
        attrs.append(a)
    return imgs, attrs


def extra_captions(attrs, seed, k):
    """k more captions of each sample's spec (other templates), deterministic."""
    out = []
    for a in attrs:
        h = int(hashlib.sha256(a["caption"].encode() + str(seed).encode()).hexdigest()[:8], 16)
        rng = np.random.default_rng([h, len(out)])
        out.append([caption(a, rng) for _ in range(k)])
    return out


# ------------------------------------------------------------------------------------------
# Held-out evaluation prompts

def held_out_prompts():
    """The evaluation prompts: 108 specs with captions, all from held-out combinations:
    60 from the 10 held-out colour x shape pairs (6 phrasings each: plain, sized, placed,
    two, three, with a background) and 48 relation prompts from the 8 held-out triples
    (6 each: colour pairs from the training pairs, both caption directions)."""
    rng = np.random.default_rng(20260810)
    out = []
    for k, (c, s) in enumerate(HELD_OUT_PAIRS):
        base = {"relation": None, "position": None, "background": None, "say_background": False}
        o = {"color": c, "shape": s, "count": 1, "size": "medium"}
        size = ["small", "large"][k % 2]
        pos = POSITIONS[k % 5]
        bg = ["gray", "beige", "light blue", "white", "gradient"][k % 5]
        variants = [
            dict(base, kind="single", objects=[dict(o)], caption="%s %s %s" % (_article(c), c, s)),
            dict(base, kind="single", objects=[dict(o, size=size)],
                 caption="%s %s %s %s" % (_article(size), size, c, s)),
            dict(base, kind="single", objects=[dict(o)], position=pos,
                 caption="%s %s %s %s" % (_article(c), c, s, POS_PHRASES[pos][0])),
            dict(base, kind="count", objects=[dict(o, count=2)],
                 caption="two %s %s" % (c, _plural(s))),
            dict(base, kind="count", objects=[dict(o, count=3, size="small")],
                 caption="three small %s %s" % (c, _plural(s))),
            dict(base, kind="single", objects=[dict(o)], background=bg, say_background=True,
                 caption="%s %s %s %s" % (_article(c), c, s, _bg_phrase(bg, np.random.default_rng(k)))),
        ]
        out += variants
    for k, (sa, rel, sb) in enumerate(HELD_OUT_TRIPLES):
        for j in range(6):
            while True:
                ca = COLORS[rng.integers(len(COLORS))]
                cb = COLORS[rng.integers(len(COLORS))]
                if ca != cb and (ca, sa) not in _HELD_PAIR_SET and (cb, sb) not in _HELD_PAIR_SET:
                    break
            objs = [{"color": ca, "shape": sa, "count": 1, "size": "medium"},
                    {"color": cb, "shape": sb, "count": 1, "size": "medium"}]
            if j % 2 == 0:
                r = [0, rel, 1]
                cap = "%s %s %s %s" % (_np(objs[0], rng), rel, _np(objs[1], rng), "")
            else:
                r = [1, INVERSE[rel], 0]
                cap = "%s %s %s" % (_np(objs[1], rng), INVERSE[rel], _np(objs[0], rng))
            out.append({"kind": "relation", "objects": objs, "relation": r, "position": None,
                        "background": None, "say_background": False, "caption": cap.strip()})
    for i, p in enumerate(out):
        p["id"] = i
        assert is_held_out(p), p
    return out


def word_positions(caption, instances):
    """Where the caption's objects are drawn, word by word: for a word naming an object's colour
    (not a background's, as the "blue" of "light blue"), the mean centre of the drawn objects
    of that colour in [-1, 1] (x to the right, y down); None for every other word (a comma
    counts as a word, as the tokenizer makes it a token). The target of the text encoder's
    auxiliary layout loss (train_dit.py --layout-loss): it asks the encoder to put into an
    object's words where the caption puts the object."""
    centres = {}
    for o in instances:
        centres.setdefault(o["color"], []).append((o["cx"], o["cy"]))
    words = caption.replace(",", " ,").split()
    out = []
    for i, w in enumerate(words):
        c = centres.get(w)
        if c is None or (i > 0 and words[i - 1] == "light"):
            out.append(None)
            continue
        out.append((2.0 * sum(x for x, _ in c) / len(c) / SIZE - 1.0,
                    2.0 * sum(y for _, y in c) / len(c) / SIZE - 1.0))
    return out


def mirrored_relation_prompts():
    """The control set of the held-out relation prompts: the same objects and words with the
    inverse relation ("a red circle left of a blue square" -> "... right of ..."), so that
    the arrangement is the mirrored one, which the training stream does show. Scoring both
    sets tells a model that reads the relation from the words (both high) from one that
    recalls the arrangement it saw for a pair of shapes (high here, low on the held-out set)."""
    out = []
    for p in held_out_prompts():
        if p["kind"] != "relation":
            continue
        q = json.loads(json.dumps(p))
        i, rel, j = q["relation"]
        q["relation"] = [i, INVERSE[rel], j]
        q["caption"] = q["caption"].replace(" %s " % rel, " %s " % INVERSE[rel], 1)
        q["id"] = len(out)
        assert not is_held_out(q) and q["caption"] != p["caption"], q
        out.append(q)
    return out


# ------------------------------------------------------------------------------------------

def _cmd_render(a):
    os.makedirs(a.out, exist_ok=True)
    with open(os.path.join(a.out, "attributes.jsonl"), "w") as f:
        for i in range(a.start, a.start + a.n):
            img, at = make_sample(a.seed, i)
            name = "%06d.png" % i
            Image.fromarray(img).save(os.path.join(a.out, name))
            at["file"] = name
            f.write(json.dumps(at, sort_keys=True) + "\n")


def _cmd_held_out(a):
    f = open(a.out, "w") if a.out else sys.stdout
    for p in (mirrored_relation_prompts() if a.mirrored else held_out_prompts()):
        f.write(json.dumps(p, sort_keys=True) + "\n")


def _cmd_render_caption(a):
    """Renders the held-out prompt with this caption (a stand-in for `sinter t2i` in tests)."""
    for p in held_out_prompts():
        if p["caption"] == a.caption:
            img, _ = make_sample(a.seed, p["id"], spec=p)
            Image.fromarray(img).save(a.out)
            return
    sys.exit("dataset.py: no held-out prompt reads %r" % a.caption)


def _cmd_stats(a):
    kinds, words, held = {}, set(), 0
    for i in range(a.n):
        rng = sample_rng(a.seed, i)
        s = random_spec(rng)
        c = caption(s, rng)
        kinds[s["kind"]] = kinds.get(s["kind"], 0) + 1
        words.update(c.split())
        held += is_held_out(s)
    print("kinds", kinds)
    print("vocabulary (%d words): %s" % (len(words), " ".join(sorted(words))))
    print("held-out specs in the training stream:", held)
    print("held-out prompts:", len(held_out_prompts()))


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    sub = p.add_subparsers(dest="cmd", required=True)
    r = sub.add_parser("render")
    r.add_argument("--seed", type=int, default=0)
    r.add_argument("--start", type=int, default=0)
    r.add_argument("--n", type=int, default=16)
    r.add_argument("--out", required=True)
    h = sub.add_parser("held-out")
    h.add_argument("--out")
    h.add_argument("--mirrored", action="store_true",
                   help="the relation prompts with the inverse relation (a seen-arrangement control)")
    rc = sub.add_parser("render-caption")
    rc.add_argument("--caption", required=True)
    rc.add_argument("--seed", type=int, default=0)
    rc.add_argument("--out", required=True)
    s = sub.add_parser("stats")
    s.add_argument("--seed", type=int, default=0)
    s.add_argument("--n", type=int, default=20000)
    a = p.parse_args()
    {"render": _cmd_render, "held-out": _cmd_held_out, "stats": _cmd_stats,
     "render-caption": _cmd_render_caption}[a.cmd](a)


if __name__ == "__main__":
    main()
