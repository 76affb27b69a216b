#!/usr/bin/env bash
# Bits/byte per compressor and file, from the results of bench/compare.sh (or the bench file given), as
# bench.png and bench.svg in figures/out/bench/; options: ../options.sh.
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(cd "$here/../.." && pwd)
source "$root/figures/options.sh"
in=${input:-$root/bench/results/compare.json}
for ext in png svg; do
  node --import tsx "$root/scripts/plotBench.ts" -i "$in" -o "$out/bench.$ext" --title "bits per byte (lower is better), bench/compare.sh"
done
echo "bench: wrote $out/bench.png and bench.svg" >&2
