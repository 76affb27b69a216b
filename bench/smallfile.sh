#!/usr/bin/env bash
# Wall time of `./run.sh compress` and `./run.sh decompress` on a tiny file (the first 300 bytes of A Study in
# Scarlet: start-up alone), a small file (its first 30,000 bytes) and Scarlet whole, for the committed code and for
# an earlier commit (default 57fe198: run.sh before llmc, five Node processes a frame), each round trip checked.
# One run each, in turn, on this machine; ROUNDS=N runs each pair N times in turn (this machine's speed moves by a
# quarter from one run to the next, so compare medians).
# usage: [ROUNDS=N] bash bench/smallfile.sh [BEFORE_COMMIT] [run.sh options, e.g. -l 2]
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
before=${1:-57fe198}; shift || true
tmp=$(mktemp -d); trap 'git -C "$here" worktree remove --force "$tmp/before" >/dev/null 2>&1; rm -rf "$tmp"' EXIT
git -C "$here" worktree add -q --detach "$tmp/before" "$before"
ln -s "$here/node_modules" "$tmp/before/node_modules"
scarlet=$here/../shared/data/texts/AStudyInScarlet.txt
head -c 300 "$scarlet" > "$tmp/tiny.txt"; head -c 30000 "$scarlet" > "$tmp/small.txt"; cp "$scarlet" "$tmp/scarlet.txt"
echo "| file | bytes | code | compress s | decompress s | .bin bytes |"
echo "|---|---:|---|---:|---:|---:|"
for name in tiny small scarlet; do
  for code in $(for round in $(seq "${ROUNDS:-1}"); do echo "$before now"; done); do
    root=$here; [ "$code" = now ] || root=$tmp/before
    rm -f "$tmp/$name.txt.bin"; cp "$tmp/$name.txt" "$tmp/orig"
    s=$(date +%s.%N); "$root/run.sh" compress -q "$@" "$tmp/$name.txt"; m=$(date +%s.%N)
    mv "$tmp/$name.txt" "$tmp/keep"; "$root/run.sh" decompress -q "$@" "$tmp/$name.txt.bin"; e=$(date +%s.%N)
    cmp -s "$tmp/$name.txt" "$tmp/orig" || { echo "ROUND TRIP FAILED: $name, $code" >&2; exit 1; }
    awk -v n="$name.txt" -v b="$(stat -c %s "$tmp/orig")" -v c="$code" -v s="$s" -v m="$m" -v e="$e" -v o="$(stat -c %s "$tmp/$name.txt.bin")" \
      'BEGIN { printf "| %s | %d | %s | %.1f | %.1f | %d |\n", n, b, c, m - s, e - m, o }'
  done
done
