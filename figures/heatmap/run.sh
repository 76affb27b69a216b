#!/usr/bin/env bash
# The text three times, each token coloured by its rank, by 1 − √p and by its bits (the reference's figure 5),
# as heatmap.html (self-contained: open it in a browser and hover the tokens) and heatmap.png, a screenshot
# by headless Chromium ($CHROMIUM, or chromium on $PATH: apt-get install chromium).
# Reads the compressor example's intermediates: run ./run.sh examples/compressor/AStudyInScarlet.txt first,
# or give another tt.json (the output of modelToInx) as the first argument.
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(cd "$here/../.." && pwd)
in=${1:-$root/examples/compressor/AStudyInScarlet/AStudyInScarlet.ttout.json}
[ -r "$in" ] || { echo "$0: cannot read $in: run ./run.sh examples/compressor/AStudyInScarlet.txt first, or give a tt.json" >&2; exit 1; }
node --import tsx "$root/scripts/plotHeatmap.ts" -i "$in" -o "$here/heatmap.html" --png "$here/heatmap.png"
