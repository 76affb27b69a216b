#!/usr/bin/env bash
# Where in the text the model pays: cumulative bits (Σ −log2 p) along the text, with gzip -9's average slope
# and the local cost in bits/byte, as cumBits.png and .svg in figures/out/cumBits/; options: ../options.sh.
# Reads the compressor example's intermediates: run ./run.sh examples/compressor/AStudyInScarlet.txt first,
# or give another tt.json (the output of modelToInx).
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(cd "$here/../.." && pwd)
source "$root/figures/options.sh"
in=${input:-$root/examples/compressor/AStudyInScarlet/AStudyInScarlet.ttout.json}
[ -r "$in" ] || { echo "$0: cannot read $in: run ./run.sh examples/compressor/AStudyInScarlet.txt first, or give a tt.json" >&2; exit 1; }
for ext in png svg; do
  node --import tsx "$root/scripts/plotCumBits.ts" -i "$in" -o "$out/cumBits.$ext" --gzip --rate 100
done
echo "cumBits: wrote $out/cumBits.png and cumBits.svg" >&2
