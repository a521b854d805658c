#!/usr/bin/env bash
# The fused attention kernel on a GPU machine, in one call: correctness and speed of
# core/cuda/flash_attention.cuh beside PyTorch's scaled_dot_product_attention (every backend).
#
# Usage: tools/device/attention.sh [dev|full] [DEPS_DIR]
#   dev  (default): the standalone harness tools/bench/fa_dev.cu (nvcc only; uses a prebuilt
#        build-fa/fa_dev when one is carried), its checks and timings of both kernels, the SASS
#        census (HGMMA / HMMA), then tools/bench/bench_attention_torch.py.
#   full: also builds sinter (tools/device/build_and_test.sh's dependency setup: carry .deps)
#        and runs tests/test_flash_attention and tools/bench/bench_attention.
# Logs go to $OUT (the device tool's output folder) or build-fa/logs; the table is printed last.
set -u -o pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
mode=${1:-dev}
out=${OUT:-$root/build-fa/logs}
mkdir -p "$out" "$root/build-fa"
cd "$root"
nvidia-smi --query-gpu=name,driver_version,clocks.sm,clocks.max.sm,temperature.gpu,power.draw --format=csv,noheader > "$out/gpu.txt" 2>&1
cat "$out/gpu.txt"

bin=$root/build-fa/fa_dev
if [ -f "$root/build-fa/carry/fa_dev.gz" ]; then # prebuilt here, gzipped to travel
  gunzip -c "$root/build-fa/carry/fa_dev.gz" > /tmp/fa_dev && chmod +x /tmp/fa_dev && bin=/tmp/fa_dev
fi
if [ ! -x "$bin" ]; then
  echo "== building fa_dev"
  nvcc -O3 -std=c++17 -gencode=arch=compute_90a,code=sm_90a -lineinfo -Xptxas -v -o "$bin" \
    tools/bench/fa_dev.cu > "$out/fa_dev_build.log" 2>&1 || { tail -30 "$out/fa_dev_build.log"; exit 1; }
fi
if command -v cuobjdump > /dev/null; then
  cuobjdump -sass "$bin" > "$root/build-fa/fa_dev.sass" 2>&1
  echo "== SASS: HGMMA $(grep -c HGMMA "$root/build-fa/fa_dev.sass"), HMMA $(grep -c 'HMMA' "$root/build-fa/fa_dev.sass"), LDL/STL $(grep -cE 'LDL|STL' "$root/build-fa/fa_dev.sass")" | tee "$out/sass.txt"
fi

echo "== fa_dev check + bench"
timeout 240 "$bin" ${FA_ARGS:-} > "$out/fa_dev.log" 2>&1
echo "fa_dev: exit $?" >> "$out/fa_dev.log"
grep -E "FAIL|checks failed|exit" "$out/fa_dev.log"

if [ "$mode" = full ]; then
  deps=$(cd "${2:-$root/.deps}" && pwd)
  echo "== full build"
  # the dependency setup of build_and_test.sh: Debian packages unpacked into a private prefix
  . "$root/tools/device/deps.sh" "$deps"
  b=$root/build-device
  cmake -S "$root" -B "$b" -DCMAKE_BUILD_TYPE=Release -DCMAKE_CUDA_ARCHITECTURES=90a "${sn_cmake_opts[@]}" > "$out/cmake.log" 2>&1 &&
    cmake --build "$b" -j"$(nproc)" --target test_flash_attention bench_attention > "$out/build.log" 2>&1
  rc=$?
  if [ $rc != 0 ]; then echo "build failed"; grep -E "error" "$out/build.log" | head -20; else
    (cd tests && timeout 200 "$b/test_flash_attention") > "$out/test_flash_attention.log" 2>&1
    echo "test_flash_attention: exit $?" | tee -a "$out/test_flash_attention.log"
    tail -3 "$out/test_flash_attention.log"
    timeout 200 "$b/bench_attention" > "$out/bench_attention.log" 2>&1
    echo "bench_attention: exit $?" >> "$out/bench_attention.log"
  fi
fi

echo "== torch"
PYTHONUNBUFFERED=1 timeout 200 python3 tools/bench/bench_attention_torch.py > "$out/torch.log" 2>&1
echo "torch: exit $?" >> "$out/torch.log"

echo "== tables"
grep -E "^check.*(FAIL)" "$out/fa_dev.log" | head -20
sed -n '/^kernel/,$p' "$out/fa_dev.log"
[ -f "$out/bench_attention.log" ] && cat "$out/bench_attention.log"
cat "$out/torch.log"
