#!/usr/bin/env bash
# llm-compression driver:
#   ./run.sh compress [options] [FILE]       FILE -> FILE.bin, FILE kept (no FILE: stdin -> stdout)
#   ./run.sh decompress [options] [FILE.bin] FILE.bin -> FILE, FILE.bin kept (no FILE: stdin -> stdout)
#   ./run.sh [options] FILE.txt              every stage, intermediates in FILE/, FILE.decomp.txt, byte check
# compress and decompress are `llmc` (llmc --help lists its options); they also take -l THREADS (llmc's -T).
# The example's options: -n MODEL, --coder exact|rank (default exact), -w WINDOW, -l THREADS, --dtype fp32|q8,
#          --device cpu|webgpu|cuda, --graph integer|stepper|coder|transformers, --segment N, --batch N, -q (no progress),
#          -v (say how many bytes were escaped as byte tokens: input that is not UTF-8 text)
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# tsx is resolved from here, not from the caller's folder, so run.sh works from anywhere
stage() { node --import "$here/node_modules/tsx/dist/loader.mjs" "$here/scripts/$1.ts" "${@:2}"; }
die() { echo "run.sh: $*" >&2; exit 1; }

case "${1:-}" in
  compress|decompress)
    args=(); [ "$1" = compress ] || args=(-d); shift
    while [ $# -gt 0 ]; do
      case $1 in -l) [ $# -ge 2 ] || die "-l needs a number of threads"; args+=(-T "$2"); shift ;; *) args+=("$1") ;; esac
      shift
    done
    exec node --import "$here/node_modules/tsx/dist/loader.mjs" "$here/scripts/llmc.ts" "${args[@]}" ;;
  -h|--help) sed -n '2,9p' "$0" | cut -c3-; exit 0 ;;
esac

coder=exact model=() run=() tok=() file=
while [ $# -gt 0 ]; do
  [ $# -ge 2 ] || [[ ! $1 =~ ^(-n|--model|--coder|-w|-l|--dtype|--device|--graph|--segment|--batch)$ ]] || die "$1 needs a value"
  case $1 in
    -n|--model) model=(-n "$2"); shift ;;
    --coder) coder=$2; shift ;;
    -w|-l|--dtype|--device|--graph|--segment|--batch) run+=("$1" "$2"); shift ;;
    -q|--quiet) run+=(--quiet) ;;
    -v|--verbose) tok+=(--verbose) ;;
    -*) die "unknown option $1" ;;
    *) [ -z "$file" ] || die "one file at a time"; file=$1 ;;
  esac
  shift
done
[ "$coder" = exact ] || [ "$coder" = rank ] || die "--coder must be exact or rank"

# encode IN PREFIX: writes PREFIX.toks.json, .ttout.json, .ranged.json, .bin
encode() {
  stage tokensOfStr "${model[@]}" "${tok[@]}" -i "$1" -o "$2.toks.json"
  stage modelToInx "${model[@]}" "${run[@]}" --coder "$coder" -i "$2.toks.json" -o "$2.ttout.json"
  stage rangeEncode -i "$2.ttout.json" -o "$2.ranged.json"
  stage binOfRange -i "$2.ranged.json" -o "$2.bin"
}
# decode IN.bin PREFIX: writes PREFIX.binranged.json, (.ttin.json), .toksout.json, .decomp
decode() {
  stage binToRange -i "$1" -o "$2.binranged.json"
  if grep -q '"mode": "rank"' "$2.binranged.json"; then
    stage rangeDecode -i "$2.binranged.json" -o "$2.ttin.json"
    stage modelOfInx "${model[@]}" "${run[@]}" -i "$2.ttin.json" -o "$2.toksout.json"
  else
    stage tokensOfRange "${model[@]}" "${run[@]}" -i "$2.binranged.json" -o "$2.toksout.json"
  fi
  stage tokensToStr "${model[@]}" -i "$2.toksout.json" -o "$2.decomp"
}
[ -n "$file" ] || die "usage: ./run.sh FILE.txt | compress [FILE] | decompress [FILE.bin] (see --help)"
[ -r "$file" ] && [ -f "$file" ] || die "cannot read $file"
name=$(basename "${file%.*}"); dir=$(dirname "$file")/$name
bin=$(dirname "$file")/$name.bin decomp=$(dirname "$file")/$name.decomp.txt
for out in "$bin" "$decomp"; do [ ! "$file" -ef "$out" ] || die "refusing to overwrite the input: $file is where the example writes $out"; done
mkdir -p "$dir"
start=$(date +%s.%N); encode "$file" "$dir/$name"; mid=$(date +%s.%N)
cp "$dir/$name.bin" "$bin"
decode "$dir/$name.bin" "$dir/$name"; end=$(date +%s.%N)
mv "$dir/$name.decomp" "$decomp"
cmp "$file" "$decomp" || die "round trip FAILED: $name.decomp.txt differs from $file"
in=$(stat -c %s "$file"); out=$(stat -c %s "$dir/$name.bin")
awk -v f="$file" -v i="$in" -v o="$out" -v s="$start" -v t="$mid" -v e="$end" -v m="$coder" 'BEGIN {
  printf "%s: %d bytes -> %d bytes (%.1f%%, %.3f bits/byte, %s coder); compress %.1f s, decompress %.1f s; round trip OK\n",
    f, i, o, 100 * o / (i ? i : 1), 8 * o / (i ? i : 1), m, t - s, e - t }'
