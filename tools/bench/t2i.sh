#!/usr/bin/env bash
# Time of one 256x256 image with the bundled model at its default settings (issue 8: at most
# 15 s on the 2-core CI machine, well under a second on the H200): the median of RUNS (3) runs of
# `sinter t2i` as a user runs it (process start, model loading and PNG writing included),
# then the program's own stage times of one more run. Extra arguments go to `sinter t2i`
# (e.g. --device cpu).  Usage: tools/bench/t2i.sh [build/sinter [T2I OPTIONS...]]
set -euo pipefail
bin=${1:-build/sinter}
shift || true
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2), load $(cut -d' ' -f1 /proc/loadavg)"
command -v nvidia-smi > /dev/null && echo "gpu: $(nvidia-smi --query-gpu=name --format=csv,noheader 2>&1 | head -1)"
echo "commit: $(git rev-parse --short HEAD 2>/dev/null || echo unknown)"
runs=${RUNS:-3}
times=()
for i in $(seq 1 "$runs"); do
  start=$(date +%s%N)
  "$bin" t2i -q "a red circle above a blue square" --seed "$i" -o "$out/$i.png" "$@"
  times+=("$(( $(date +%s%N) - start ))")
done
printf '%s\n' "${times[@]}" | sort -n | awk '{ t[NR] = $1 / 1e9; all = all sprintf(" %.2f", t[NR]) }
  END { printf "t2i 256x256, default settings: median %.2f s (%d runs:%s s)\n", t[int((NR + 1) / 2)], NR, all }'
"$bin" t2i "a red circle above a blue square" --seed 0 -o "$out/0.png" "$@" 2>&1 | tail -1
