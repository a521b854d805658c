#!/usr/bin/env bash
# Builds sinter with the CUDA backend and runs every test on a GPU machine that has CUDA,
# cuDNN, cmake and a compiler but not sinter's other build dependencies (OpenBLAS, libpng,
# stb, cJSON, libzip, utf8proc, pkg-config), such as the H200 machines this project borrows.
#
# The dependencies travel as Debian 12 packages in a folder of .deb files, fetched on a
# machine with apt (Debian 12 or close):
#   mkdir -p .deps && echo /.deps/ >> .git/info/exclude
#   (cd .deps && apt-get download libopenblas-dev libopenblas0 libopenblas-pthread-dev \
#      libopenblas0-pthread libgfortran5 libquadmath0 libpng-dev libpng16-16 zlib1g-dev \
#      libstb-dev libstb0 libcjson-dev libcjson1 libzip-dev libzip4 libutf8proc-dev \
#      libutf8proc2 pkgconf pkgconf-bin libpkgconf3)
#   cp -r ../shared/data .deps/shared_data     # optional: real weights and photographs
# They are unpacked into a private prefix (never into /), the pkg-config files are pointed
# at it, and the build and the tests find everything through the usual variables.
#
# Usage: [TESTS=0] [BENCH=1] [MODELS=1] [SANITIZE=0] [RUN=cmds] tools/device/build_and_test.sh [DEPS_DIR]
# (default .deps; TESTS=0 builds only; BENCH=1 also runs the f32 baselines of tools/bench;
# MODELS=1 runs tools/bench/bench_models beside its PyTorch peer, PARTS=dit,compile,vae,e2e
# choosing the peer's parts; SANITIZE=0 skips compute-sanitizer). Logs go to
# build-device/logs; when $OUT is set (the device tool's output folder), the summary and the
# CUDA parity log are copied there and everything else packed into $OUT/logs.tgz. Exits
# non-zero when the build or any test fails.
set -u -o pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
deps=$(cd "${1:-$root/.deps}" && pwd)
build=$root/build-device
logs=$build/logs
mkdir -p "$logs"
say() { echo "== $*" | tee -a "$logs/summary.txt"; }
: > "$logs/summary.txt"
pack() { # the device tool brings back at most 8 files
  if [ -n "${OUT:-}" ]; then
    cp "$logs/summary.txt" "$OUT/" 2> /dev/null
    cp "$logs/test_cuda_ops.log" "$OUT/" 2> /dev/null
    tar czf "$OUT/logs.tgz" -C "$build" logs 2> /dev/null
  fi
}
trap pack EXIT
trap "exit 143" TERM INT

# --- the dependencies (a private prefix) and cuDNN ------------------------------------------
. "$root/tools/device/deps.sh" "$deps"
say "GPU: $(nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader 2>&1 | head -1)"
say "nvcc: $(nvcc --version 2>&1 | tail -1); cuDNN: ${CUDNN_ROOT:-/usr/local/cuda}"

# --- build ----------------------------------------------------------------------------------
shared=()
if [ -d "$deps/shared_data" ]; then shared=(-DSINTER_SHARED_DATA=$deps/shared_data); fi
cmake -S "$root" -B "$build" -DCMAKE_BUILD_TYPE=Release -DCMAKE_CUDA_ARCHITECTURES=90a \
  "${sn_cmake_opts[@]}" "${shared[@]}" > "$logs/cmake.log" 2>&1
rc=$?
if [ $rc != 0 ]; then say "cmake failed ($rc)"; tail -30 "$logs/cmake.log"; exit 1; fi
cmake --build "$build" -j"$(nproc)" > "$logs/build.log" 2>&1
rc=$?
if [ $rc != 0 ]; then say "build failed ($rc)"; grep -E "error|Error" "$logs/build.log" | head -30; exit 1; fi
say "built"

status=0
# RUN='commands': run in the repository root with the build's environment (ad hoc checks)
if [ -n "${RUN:-}" ]; then (cd "$root" && B=$build bash -c "$RUN") 2>&1 | tee "$logs/run.log"; fi
if [ "${TESTS:-1}" = 1 ]; then
# --- tests: the CUDA parity test first, in full, then everything ---------------------------
export SINTER_BIN=$build/sinter SINTER_SRC=$root SINTER_TMP=$build/testtmp
export SINTER_SHARED=${shared:+$deps/shared_data}
mkdir -p "$SINTER_TMP"
(cd "$root/tests" && CUBLASLT_LOG_LEVEL=1 timeout 300 "$build/test_cuda_ops") > "$logs/test_cuda_ops.log" 2>&1
rc=$?
say "test_cuda_ops: exit $rc"
[ $rc = 0 ] || status=1
grep -E "^parity|passed|device:" "$logs/test_cuda_ops.log" | tee -a "$logs/summary.txt"
grep -E "CHECK failed" "$logs/test_cuda_ops.log" | head -40 | tee -a "$logs/summary.txt"

# --- the CLI on the GPU ---------------------------------------------------------------------
if [ -n "$SINTER_SHARED" ]; then
  img=$SINTER_SHARED/images/crop256
  for dev in cpu cuda; do
    mkdir -p "$SINTER_TMP/recon_$dev"
    /usr/bin/time -f "%e s" "$build/sinter" recon --device $dev \
      --vae "$SINTER_SHARED/weights/taef2/taef2_encoder.pth" "$img/astronaut.png" "$img/grass.png" \
      -o "$SINTER_TMP/recon_$dev" > "$logs/recon_$dev.log" 2>&1
    say "recon --device $dev: exit $? $(grep -E 'PSNR' "$logs/recon_$dev.log" | tr '\n' ' ') $(tail -1 "$logs/recon_$dev.log")"
  done
fi
fx=$root/tests/fixtures
for dev in cpu cuda; do
  "$build/sinter" generate --device $dev --model "$fx/dit/dit.pt" --model-kind dit:heads=4 \
    --vae "$fx/vae_kl/sd.safetensors" --class 3,5 --steps 4 \
    --save-tensor "$SINTER_TMP/gen_$dev.safetensors" > "$logs/generate_$dev.log" 2>&1
  say "generate --device $dev: exit $?"
  if [ -n "$SINTER_SHARED" ]; then
    "$build/sinter" encode --device $dev --vae "$fx/vae_kl/sd.safetensors" \
      "$SINTER_SHARED/images/crop256/coffee.png" -o "$SINTER_TMP/enc_$dev.safetensors" \
      > "$logs/encode_$dev.log" 2>&1
    say "encode --device $dev: exit $? $(tail -1 "$logs/encode_$dev.log")"
    "$build/sinter" decode --device $dev --vae "$fx/vae_kl/sd.safetensors" \
      "$SINTER_TMP/enc_cpu.safetensors" -o "$SINTER_TMP/dec_$dev.png" > "$logs/decode_$dev.log" 2>&1
    say "decode --device $dev: exit $? $(tail -1 "$logs/decode_$dev.log")"
  fi
done
python3 - "$SINTER_TMP" << 'PY' 2>&1 | tee -a "$logs/summary.txt"
import sys
try:
    import numpy as np
    from safetensors.numpy import load_file
except Exception as e:
    print("compare skipped:", e); sys.exit(0)
d = sys.argv[1]
for name in ("gen", "enc"):
    try:
        a, b = load_file(f"{d}/{name}_cpu.safetensors"), load_file(f"{d}/{name}_cuda.safetensors")
    except Exception as e:
        print(name, "not compared:", e); continue
    for k in a:
        x, y = a[k].astype(np.float64), b[k].astype(np.float64)
        print(f"cli {name} {k}: max |cuda - cpu| / max |cpu| = {np.abs(x - y).max() / max(np.abs(x).max(), 1e-30):.2e}")
PY

(cd "$build" && ctest -j8 --output-on-failure --timeout 600) > "$logs/ctest.log" 2>&1
rc=$?
say "ctest: exit $rc"
[ $rc = 0 ] || status=1
grep -E "tests passed|tests failed|\*\*\*|Failed|Skipped|Not Run" "$logs/ctest.log" | tee -a "$logs/summary.txt"

fi # TESTS

# --- whole models, ours and PyTorch's on the same GPU and weights (MODELS=1) -------------------
if [ "${MODELS:-0}" = 1 ]; then
  mdir=/tmp/sinter-bench-models
  timeout 540 python3 "$root/tools/bench/bench_models_torch.py" "$mdir" --parts "${PARTS:-dit,vae,e2e}" \
    > "$logs/models_torch.log" 2>&1
  say "bench_models_torch.py: exit $?"
  timeout 300 "$build/bench_models" "$mdir" > "$logs/models.log" 2>&1
  say "bench_models: exit $?"
  cat "$logs/models_torch.log" "$logs/models.log" | tee -a "$logs/summary.txt"
fi

# --- f32 baselines, ours and PyTorch's on the same GPU (BENCH=1) ------------------------------
if [ "${BENCH:-0}" = 1 ]; then
  timeout 200 "$build/bench_cuda_f32" > "$logs/bench.log" 2>&1
  say "bench_cuda_f32: exit $?"
  timeout 200 python3 "$root/tools/bench/bench_cuda_f32_torch.py" >> "$logs/bench.log" 2>&1
  say "bench_cuda_f32_torch.py: exit $?"
  cat "$logs/bench.log" | tee -a "$logs/summary.txt"
fi

# --- memory errors in the CUDA kernels (compute-sanitizer, where the machine has it) ----------
if [ "${SANITIZE:-1}" = 1 ] && command -v compute-sanitizer > /dev/null; then
  (cd "$root/tests" && timeout 240 compute-sanitizer --tool memcheck --leak-check no \
    --error-exitcode 3 "$build/test_cuda_ops") > "$logs/memcheck.log" 2>&1
  rc=$?
  say "memcheck of test_cuda_ops: exit $rc, $(grep -E 'ERROR SUMMARY' "$logs/memcheck.log" | tail -1)"
  grep -E "Invalid|out of bounds|Address" "$logs/memcheck.log" | head -10 | tee -a "$logs/summary.txt"
fi
exit $status
