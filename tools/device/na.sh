#!/usr/bin/env bash
# Neighborhood attention on a GPU machine, in one call: builds what it needs (sinter with the
# CUDA backend; the Debian dependencies travel as .deps, see build_and_test.sh: carry [".deps"]),
# runs tests/test_na_cuda and tests/test_flash_attention, tools/bench/bench_na (ours: NA and our
# dense kernel) and tools/bench/bench_na_torch.py (dense SDPA, FlexAttention), and prints one
# table. The PyTorch peer starts first, in the background (its compiles and block-mask builds
# overlap our build); our GPU work starts only after it has finished, so timings never overlap.
#
# Usage: [REPS=10] [TORCH=1] [TESTS=1] tools/device/na.sh [DEPS_DIR]
# Logs go to $OUT (the device tool's output folder) or build-device/na-logs.
set -u -o pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
out=${OUT:-$root/build-device/na-logs}
mkdir -p "$out"
cd "$root"
nvidia-smi --query-gpu=name,driver_version,clocks.sm,clocks.max.sm,temperature.gpu,power.draw --format=csv,noheader > "$out/gpu.txt" 2>&1
cat "$out/gpu.txt"
date -u +"%F %T UTC" | tee -a "$out/gpu.txt"
start=$(date +%s)

tpid=
if [ "${TORCH:-1}" = 1 ]; then
  PYTHONUNBUFFERED=1 timeout ${TORCH_TIMEOUT:-330} python3 tools/bench/bench_na_torch.py --reps "${REPS:-10}" ${TORCH_ARGS:-} > "$out/torch.log" 2>&1 &
  tpid=$!
fi

# --- build (build_and_test.sh's dependency setup) -----------------------------------------------
deps=$(cd "${1:-$root/.deps}" && pwd)
. "$root/tools/device/deps.sh" "$deps"
b=$root/build-device
cmake -S "$root" -B "$b" -DCMAKE_BUILD_TYPE=Release -DCMAKE_CUDA_ARCHITECTURES=90a "${sn_cmake_opts[@]}" > "$out/cmake.log" 2>&1 &&
  cmake --build "$b" -j"$(nproc)" --target test_na_cuda test_flash_attention bench_na > "$out/build.log" 2>&1
rc=$?
echo "== build: exit $rc ($(($(date +%s) - start)) s)"
[ $rc = 0 ] || grep -E "error" "$out/build.log" | head -20

if [ -n "$tpid" ]; then
  wait "$tpid"
  echo "torch: exit $?" >> "$out/torch.log"
  echo "== torch done ($(($(date +%s) - start)) s)"
fi

if [ $rc = 0 ]; then
  if [ "${TESTS:-1}" = 1 ]; then
    (cd tests && timeout 200 "$b/test_na_cuda") > "$out/test_na_cuda.log" 2>&1
    echo "test_na_cuda: exit $?" | tee -a "$out/test_na_cuda.log"
    grep -E "FAIL|failed|worst|  [123]-D|passed" "$out/test_na_cuda.log" | head -30
    (cd tests && timeout 120 "$b/test_flash_attention") > "$out/test_flash_attention.log" 2>&1
    echo "test_flash_attention: exit $?" | tee -a "$out/test_flash_attention.log"
    tail -2 "$out/test_flash_attention.log"
    echo "== tests done ($(($(date +%s) - start)) s)"
  fi
  timeout ${BENCH_TIMEOUT:-150} "$b/bench_na" "${REPS:-10}" > "$out/bench_na.log" 2>&1
  echo "bench_na: exit $?" >> "$out/bench_na.log"
fi

echo "== logs"
[ -f "$out/torch.log" ] && grep -vE "^RESULT" "$out/torch.log" | tail -20
[ -f "$out/bench_na.log" ] && grep -vE "^RESULT" "$out/bench_na.log"

echo "== table (ms; speedup = dense SDPA ms / ms)"
cat "$out"/bench_na.log "$out"/torch.log 2> /dev/null | python3 -c '
import sys
r = {}
for line in sys.stdin:
    if line.startswith("RESULT "):
        f = line.split()
        r[f[1]] = float(f[2])
bound = {"flux": 65536 / 6400, "hunyuan": 115200 / 10368}
print("%-12s %10s %10s %10s %12s %8s %8s %8s" % ("case", "ours", "flex", "sdpa", "ours-dense", "ours x", "flex x", "FLOPbnd"))
for c in ("flux-na", "flux-gna", "hunyuan-na", "hunyuan-gna"):
    g = c.split("-")[0]
    o, fl, sd, od = (r.get(k) for k in ("sinter-" + c, "flex-" + c, "sdpa-" + g, "sinter-dense-" + g))
    fmt = lambda x: "%.3f" % x if x else "-"
    sp = lambda x: "%.2fx" % (sd / x) if x and sd else "-"
    print("%-12s %10s %10s %10s %12s %8s %8s %8s" % (c, fmt(o), fmt(fl), fmt(sd), fmt(od), sp(o), sp(fl), "%.1fx" % bound[g]))
'
echo "== total $(($(date +%s) - start)) s"
