#!/usr/bin/env bash
# Bits/byte per compressor and file, from the results of bench/compare.sh, as bench.png and bench.svg here.
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(cd "$here/../.." && pwd)
in=${1:-$root/bench/results/compare.json}
for ext in png svg; do
  node --import tsx "$root/scripts/plotBench.ts" -i "$in" -o "$here/bench.$ext" --title "bits per byte (lower is better), bench/compare.sh"
done
