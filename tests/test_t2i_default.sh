#!/usr/bin/env bash
# The main job as the README gives it: `sinter t2i PROMPT -o out.png` with the bundled model
# (weights/default), no model options. Checked: a 256x256 PNG with the generation parameters,
# the same bytes for the same prompt and seed, different bytes for another seed, and the
# model folder found through SINTER_MODEL_DIR too; --prompts FILE draws the same pictures as
# one run a prompt, and refuses a prompt beside it, an empty file and a missing one. (How well
# the pictures follow prompts is measured by tools/eval/t2i_eval.py and recorded in
# weights/default/README.md, not asserted here: that is a measurement, and exact pixels depend
# on the CPU's floating-point kernels.)
set -u
. "$(dirname "$0")/cli_lib.sh"
src=${SINTER_SRC:-..}
[ -f "$src/weights/default/dit.safetensors" ] || { echo "SKIP: no bundled model in $src/weights/default"; exit 77; }
prompt="a red circle above a blue square"
expect 0 "wrote" -- "$bin" t2i "$prompt" -o "$tmp/a.png"
expect 0 "PNG image, 256x256, 3 channels" -- "$bin" info "$tmp/a.png"
expect 0 "^a red circle above a blue square$" -- "$bin" info "$tmp/a.png"
expect 0 "Steps: 20, Sampler: euler, CFG scale: 4, Seed: 0, Size: 256x256, Model: dit.safetensors" -- "$bin" info "$tmp/a.png"
"$bin" t2i -q "$prompt" -o "$tmp/b.png"
ok 'cmp -s "$tmp/a.png" "$tmp/b.png"' "same prompt and seed gave different bytes"
"$bin" t2i -q "$prompt" --seed 1 -o "$tmp/c.png"
ok '! cmp -s "$tmp/a.png" "$tmp/c.png"' "another seed gave the same picture"
expect 0 "wrote" -- env SINTER_MODEL_DIR="$src/weights/default" "$bin" t2i "two green stars" -o "$tmp/d.png"
expect 2 "no bundled model in .*missing-dir" -- env SINTER_MODEL_DIR="$tmp/missing-dir" "$bin" t2i "two green stars" -o "$tmp/e.png"
ok '[ ! -e "$tmp/e.png" ]' "a failed run left an output file"
expect 2 "expects one PROMPT" -- "$bin" t2i -o "$tmp/f.png"

# --prompts: a line a prompt, the models loaded once, the same pictures as one run a prompt
printf '%s\n\n%s\r\n' "$prompt" "two green stars" > "$tmp/prompts.txt"
expect 0 "2 prompts in" -- "$bin" t2i --prompts "$tmp/prompts.txt" -o "$tmp/many"
ok 'cmp -s "$tmp/a.png" "$tmp/many/0001.png"' "--prompts line 1 differs from the single run"
ok 'cmp -s "$tmp/d.png" "$tmp/many/0003.png"' "--prompts line 3 differs from the single run"
ok '[ "$(ls "$tmp/many" | wc -l)" = 2 ]' "--prompts wrote other than 2 files: $(ls "$tmp/many")"
expect 2 "not both" -- "$bin" t2i --prompts "$tmp/prompts.txt" "$prompt" -o "$tmp/g"
printf '\n  \n' > "$tmp/blank.txt"
expect 1 "holds no prompt" -- "$bin" t2i --prompts "$tmp/blank.txt" -o "$tmp/h"
expect 1 "prompts.*missing.txt" -- "$bin" t2i --prompts "$tmp/missing.txt" -o "$tmp/h"
ok '[ ! -e "$tmp/h" ]' "a failed --prompts run made its folder"
finish test_t2i_default
