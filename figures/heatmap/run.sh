#!/usr/bin/env bash
# The text three times, each token coloured by its rank, by 1 − √p and by its bits (the reference's figure 5),
# as heatmap.html (self-contained: open it in a browser and hover the tokens) and heatmap.png, a screenshot
# by headless Chromium ($CHROMIUM, or chromium on $PATH: apt-get install chromium; without it, the HTML only),
# in figures/out/heatmap/; options: ../options.sh.
# Reads the compressor example's intermediates: run ./run.sh examples/compressor/AStudyInScarlet.txt first,
# or give another tt.json (the output of modelToInx).
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(cd "$here/../.." && pwd)
source "$root/figures/options.sh"
in=${input:-$root/examples/compressor/AStudyInScarlet/AStudyInScarlet.ttout.json}
[ -r "$in" ] || { echo "$0: cannot read $in: run ./run.sh examples/compressor/AStudyInScarlet.txt first, or give a tt.json" >&2; exit 1; }
# The same search as findChromium in src/heatmap.ts.
chromium=${CHROMIUM:-$(command -v chromium chromium-browser google-chrome | head -n 1 || true)}
if [ -n "$chromium" ]; then
  node --import tsx "$root/scripts/plotHeatmap.ts" -i "$in" -o "$out/heatmap.html" --png "$out/heatmap.png"
  echo "heatmap: wrote $out/heatmap.html and heatmap.png" >&2
else
  node --import tsx "$root/scripts/plotHeatmap.ts" -i "$in" -o "$out/heatmap.html"
  echo "heatmap: wrote $out/heatmap.html; skipped heatmap.png: no Chromium for the screenshot (apt-get install chromium, or set CHROMIUM to its path)" >&2
fi
