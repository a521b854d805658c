#!/usr/bin/env bash
# Continues training the bundled text-to-image model (weights/default) on a GPU machine, in
# calls that fit the device tool's 10-minute limit. The first call renders the data, encodes
# the latents with the bundled VAE and starts the DiT and text encoder from the bundled
# weights; later calls on the same (still warm) machine resume from the checkpoint in $W.
# Each call exports the EMA weights and scores the held-out prompts with the training
# script's own sampler; the files come back under $OUT.
#
#   MIN=5.5 DECAY=0 tools/device/train_t2i.sh      first call: constant learning rate
#   MIN=7.3 DECAY=0.4 tools/device/train_t2i.sh    last call: decay to the end
# (v3, the bundled model, is these two calls.) Knobs: N_DATA (80000), LR (3e-4), MIN (minutes
# of training), DECAY (fraction of the call over which the learning rate decays), TEXT (t5 or
# clip: the text encoder family; weights of another family in weights/default are not used),
# LAYOUT (0.2: the weight of the text encoder's auxiliary layout loss, 0 turns it off), EXTRA
# (more train_dit.py options), BUILD=1 (also build sinter with CUDA in the background, for a
# later call that runs `sinter t2i` on the GPU), W (/tmp/t2i).
set -u -o pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
W=${W:-/tmp/t2i}
OUT=${OUT:-$W/out}
mkdir -p "$W/vae" "$W/text" "$OUT"
export PYTHONUNBUFFERED=1
if [ "${BUILD:-0}" = 1 ] && [ ! -x "$root/build-device/sinter" ]; then
  (cd "$root" && setsid nohup nice -n 10 env TESTS=0 tools/device/build_and_test.sh \
     > /tmp/build_t2i.log 2>&1 &)
fi
cp "$root/weights/default/vae.safetensors" "$W/vae/"
cp "$root/weights/default/tokenizer.json" "$W/text/"
python3 "$root/tools/train/train_dit.py" --out "$W" --n-data "${N_DATA:-80000}" \
  --steps 1000000 --minutes "${MIN:-5}" --decay "${DECAY:-0}" --lr "${LR:-3e-4}" \
  --text "${TEXT:-t5}" --layout-loss "${LAYOUT:-0.2}" --init "$root/weights/default" --compile \
  --eval-seeds 4 ${EXTRA:-} \
  2>&1 | tee "$OUT/train.log"
rc=$?
cp "$W/dit/dit.safetensors" "$W/text/text_encoder.safetensors" "$W/dit/eval_python.md" \
   "$W/dit/heldout_grid.png" "$W/dit/heldout_grid.txt" "$OUT/" 2> /dev/null
exit $rc
