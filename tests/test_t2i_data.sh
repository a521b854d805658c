#!/usr/bin/env bash
# The procedural text-to-image dataset (tools/train/dataset.py) and the prompt-adherence
# analyser (tools/eval/t2i_eval.py), with Python 3 + numpy + PIL only (Debian: python3,
# python3-numpy, python3-pil). Checked:
#   - determinism: the same seed renders the same PNG bytes and attributes twice; another
#     seed renders other pictures;
#   - the split: no held-out colour x shape pair or relation triple in 3000 training specs;
#     at least 100 held-out prompts, each built from held-out combinations; the mirrored
#     relation control (inverse relations) built only from combinations seen in training;
#   - the analyser on clean ground-truth renders (80 training scenes, 40 held-out prompts x 2
#     layouts): colour, shape, count and position all right on at least 98% of each set;
#   - the evaluation driver end to end, with a stand-in for `sinter t2i` that draws the
#     prompt's ground truth: every verdict right, results.jsonl and report.md written;
#     a failing t2i call stops the driver with its message.
# Skips (77) when no python3 with numpy and PIL is found ($PYTHON first).
set -u
src=${SINTER_SRC:-..}
py=""
for c in ${PYTHON:-} python3 /usr/bin/python3; do
  if command -v "$c" >/dev/null 2>&1 && "$c" -c "import numpy, PIL" >/dev/null 2>&1; then py=$c; break; fi
done
if [ -z "$py" ]; then
  echo "SKIP: no python3 with numpy and PIL (Debian: apt-get install python3-numpy python3-pil)"
  exit 77
fi
. "$(dirname "$0")/cli_lib.sh"
export PYTHONDONTWRITEBYTECODE=1
ds="$py $src/tools/train/dataset.py"
ev="$py $src/tools/eval/t2i_eval.py"

# --- determinism --------------------------------------------------------------------------
$ds render --seed 7 --n 24 --out "$tmp/a" || fail=$((fail + 1))
$ds render --seed 7 --n 24 --out "$tmp/b" || fail=$((fail + 1))
$ds render --seed 8 --n 4 --out "$tmp/c" || fail=$((fail + 1))
ok '[ "$(ls "$tmp/a" | wc -l)" = 25 ]' "24 PNGs and attributes.jsonl rendered"
ok 'diff -r "$tmp/a" "$tmp/b" >/dev/null' "the same seed renders the same bytes"
ok '! cmp -s "$tmp/a/000000.png" "$tmp/c/000000.png"' "another seed renders another picture"
ok '[ "$($py -c "import sys; from PIL import Image; print(Image.open(sys.argv[1]).size)" "$tmp/a/000003.png")" = "(256, 256)" ]' "256x256 pictures"
ok '[ "$(grep -c "\"caption\"" "$tmp/a/attributes.jsonl")" = 24 ]' "every sample has a caption"

# --- the split ----------------------------------------------------------------------------
st=$($ds stats --seed 3 --n 3000)
echo "$st" | grep -v vocabulary
ok 'echo "$st" | grep -q "held-out specs in the training stream: 0$"' "no held-out combination in training"
nh=$($ds held-out | wc -l)
ok '[ "$nh" -ge 100 ]' "at least 100 held-out prompts ($nh)"
ok '$py -c "
import sys; sys.path.insert(0, \"$src/tools/train\")
import dataset
ps = dataset.held_out_prompts()
assert all(dataset.is_held_out(p) for p in ps)
assert len({p[\"caption\"] for p in ps}) == len(ps)
"' "held-out prompts are held out and distinct"
ok '$py -c "
import sys; sys.path.insert(0, \"$src/tools/train\")
import dataset
held = [p for p in dataset.held_out_prompts() if p[\"kind\"] == \"relation\"]
ms = dataset.mirrored_relation_prompts()
assert len(ms) == len(held) == 48 and not any(dataset.is_held_out(m) for m in ms)
for h, m in zip(held, ms):
    assert h[\"objects\"] == m[\"objects\"] and m[\"relation\"][1] == dataset.INVERSE[h[\"relation\"][1]]
    assert len(set(h[\"caption\"].split()) ^ set(m[\"caption\"].split())) == 2, (h, m)
"' "the mirrored control: the same objects, the inverse relation, arrangements seen in training"
ok '$py -c "
import sys; sys.path.insert(0, \"$src/tools/train\")
import dataset
inst = [dict(color=\"blue\", cx=64.0, cy=128.0), dict(color=\"red\", cx=192.0, cy=64.0)]
p = dataset.word_positions(\"a blue star, a red ring on light blue\", inst)
assert p == [None, (-0.5, 0.0), None, None, None, (0.5, -0.5), None, None, None, None], p
for i in range(60):
    img, a = dataset.make_sample(3, i)
    if a[\"kind\"] != \"relation\": continue
    o, rel, q = a[\"relation\"]
    pos = dict((w, p) for w, p in zip(a[\"caption\"].replace(\",\", \" ,\").split(),
               dataset.word_positions(a[\"caption\"], a[\"instances\"])) if p)
    pa, pb = pos[a[\"objects\"][o][\"color\"]], pos[a[\"objects\"][q][\"color\"]]
    ax, sign = {\"left of\": (0, -1), \"right of\": (0, 1), \"above\": (1, -1), \"below\": (1, 1)}[rel]
    assert (pa[ax] - pb[ax]) * sign > 0, a
"' "layout targets: colour words get their object's centre (commas are words, light blue is a background)"

# --- the analyser on ground truth -----------------------------------------------------------
out=$($ev --validate 80 --seed 11 --held-out-limit 40 --min-accuracy 0.98 2>&1)
status=$?
echo "$out"
ok '[ $status = 0 ]' "analyser at least 98% right on clean renders"

# --- the driver, with a stand-in for sinter t2i -----------------------------------------------
$ds held-out | head -6 > "$tmp/prompts.jsonl"
cat > "$tmp/fake_sinter" <<EOF
#!/bin/sh
# fake 'sinter t2i --prompts FILE --seed S -o DIR': draws each line's held-out prompt's
# ground truth into DIR/LLLL.png
[ "\$1" = t2i ] && [ "\$2" = --prompts ] || exit 2
n=0
while IFS= read -r caption; do
  n=\$((n + 1))
  $py $src/tools/train/dataset.py render-caption --caption "\$caption" --seed "\$5" \
    --out "\$7/\$(printf %04d \$n).png" || exit 1
done < "\$3"
EOF
chmod +x "$tmp/fake_sinter"
drv=$($ev --sinter "$tmp/fake_sinter" --prompts "$tmp/prompts.jsonl" --seeds 2 --out "$tmp/eval" 2>&1)
status=$?
echo "$drv"
ok '[ $status = 0 ]' "driver runs"
ok '[ "$(ls "$tmp/eval"/p*_s*.png 2>/dev/null | wc -l)" = 12 ]' "driver made 6 prompts x 2 seeds pictures"
ok '[ "$(wc -l < "$tmp/eval/results.jsonl")" = 12 ]' "driver wrote results.jsonl"
ok 'grep -q "^| all (12 images) | 100.0% (12/12) | 100.0% (12/12) | 100.0% (12/12) | 100.0% (2/2) | 100.0% (12/12) |" "$tmp/eval/report.md"' "report.md: every verdict right on ground truth"
printf '#!/bin/sh\necho "no model here" >&2\nexit 1\n' > "$tmp/bad_sinter"
chmod +x "$tmp/bad_sinter"
bad=$($ev --sinter "$tmp/bad_sinter" --prompts "$tmp/prompts.jsonl" --seeds 1 --out "$tmp/eval2" 2>&1)
status=$?
ok '[ $status != 0 ] && echo "$bad" | grep -q "no model here"' "a failing t2i call stops the driver with its message"

finish test_t2i_data
