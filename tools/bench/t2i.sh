#!/usr/bin/env bash
# Time of one 256x256 image with the bundled model at its default settings (issue 8's
# "at most 15 s on the 2-core CI machine"): the median of 3 runs of `sinter t2i`, model
# loading included. Usage: tools/bench/t2i_cpu.sh [build/sinter]
set -euo pipefail
bin=${1:-build/sinter}
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2), load $(cut -d' ' -f1 /proc/loadavg)"
echo "commit: $(git rev-parse --short HEAD 2>/dev/null || echo unknown)"
times=()
for i in 1 2 3; do
  start=$(date +%s.%N)
  "$bin" t2i -q "a red circle above a blue square" --seed "$i" -o "$out/$i.png"
  times+=("$(echo "$(date +%s.%N) - $start" | bc)")
done
printf '%s\n' "${times[@]}" | sort -n | awk '{ t[NR] = $1 } END { printf "t2i 256x256, default settings: median %.2f s (runs: %.2f %.2f %.2f s)\n", t[2], t[1], t[2], t[3] }'
