#!/usr/bin/env bash
# Share of tokens at each rank of the model (the reference's figure 4), as symbolHist.png and .svg in
# figures/out/symbolHist/; options: ../options.sh.
# Reads the compressor example's intermediates: run ./run.sh examples/compressor/AStudyInScarlet.txt first,
# or give another tt.json (the output of modelToInx).
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(cd "$here/../.." && pwd)
source "$root/figures/options.sh"
in=${input:-$root/examples/compressor/AStudyInScarlet/AStudyInScarlet.ttout.json}
[ -r "$in" ] || { echo "$0: cannot read $in: run ./run.sh examples/compressor/AStudyInScarlet.txt first, or give a tt.json" >&2; exit 1; }
for ext in png svg; do
  node --import tsx "$root/scripts/plotTokenHist.ts" -i "$in" -o "$out/symbolHist.$ext"
done
echo "symbolHist: wrote $out/symbolHist.png and symbolHist.svg" >&2
