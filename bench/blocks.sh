#!/usr/bin/env bash
# The default block size, by measurement (#13): one file compressed with each --block, its .bin bytes, bits/byte
# and the frames' coders, then decoded again and compared byte for byte. Wall times and each direction's peak
# resident memory (the process's own, from GNU time or Python's rusage) show what a larger frame costs.
# Block sizes run side by side, THREADS model threads each (default: the cores shared out evenly); DECODE=0
# measures the compressed size only (no decompress and compare). Rows print as runs end, then the table in order.
# usage: bash bench/blocks.sh FILE BLOCK... (e.g. bench/data/xml 262144 1048576 2097152 4194304)
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
file=$1; shift
threads=${THREADS:-$(( $(nproc) / $# > 0 ? $(nproc) / $# : 1 ))}
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
bytes=$(stat -c %s "$file")

# Runs a command with its stdout and stderr to files; prints "wall_s peak_kb".
measured() {  # OUT ERR COMMAND...
  python3 -c 'import resource, subprocess, sys, time
t = time.time(); subprocess.run(sys.argv[3:], check=True, stdout=open(sys.argv[1], "wb"), stderr=open(sys.argv[2], "wb"))
print(f"{time.time() - t:.1f} {resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss}")' "$@"
}

one() {  # BLOCK
  local b=$1 d=$tmp/$1; mkdir -p "$d"
  local c; c=$(measured "$d/bin" "$d/summary" "$here/run.sh" compress -q -v -l "$threads" --block "$b" -c "$file" 2> /dev/null) || { echo "| $b | compress failed: $(tail -1 "$d/summary") |"; return; }
  local x="- -"
  [ "${DECODE:-1}" = 0 ] || x=$(measured "$d/out" "$d/errors" "$here/run.sh" decompress -q -l "$threads" -c "$d/bin" 2> /dev/null) || { echo "| $b | decompress failed: $(tail -1 "$d/errors") |"; return; }
  [ "${DECODE:-1}" = 0 ] || cmp -s "$d/out" "$file" || { echo "| $b | ROUND TRIP FAILED |"; return; }
  local size; size=$(stat -c %s "$d/bin")
  awk -v b="$b" -v s="$size" -v n="$bytes" -v c="$c" -v x="$x" -v coders="$(grep -o '[0-9]* frames\? ([^)]*)' "$d/summary")" 'BEGIN {
    split(c, C, " "); split(x, X, " ");
    printf "| %d | %d | %.4f | %s | %.1f | %.0f | %s | %s |\n", b, s, 8 * s / n, coders, C[1], C[2] / 1024, X[1], X[2] == "-" ? "-" : sprintf("%.0f", X[2] / 1024) }'
}

echo "$(basename "$file"), $bytes bytes; $threads threads a run; $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ *//'), $(nproc) cores"
echo
echo "| --block | .bin bytes | bits/byte | frames | compress s | compress peak MB | decompress s | decompress peak MB |"
echo "|---:|---:|---:|---|---:|---:|---:|---:|"
for b in "$@"; do (one "$b" > "$tmp/row.$b"; cat "$tmp/row.$b" >&2) & done
wait
echo
for b in "$@"; do cat "$tmp/row.$b"; done
