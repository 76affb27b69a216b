#!/usr/bin/env bash
# llm-compression driver, with gzip's habits:
#   ./run.sh compress [options] [FILE]      FILE -> FILE.bin   (no FILE: stdin -> stdout)
#   ./run.sh decompress [options] [FILE.bin] FILE.bin -> FILE  (no FILE: stdin -> stdout)
#   ./run.sh [options] FILE.txt             every stage, intermediates in FILE/, FILE.decomp.txt, byte check
# Options: -f overwrite, -n MODEL, --coder exact|rank (default exact), -w WINDOW, -l THREADS,
#          --dtype fp32|q8, --device cpu|webgpu|cuda, --graph integer|stepper|coder, --segment N, --batch N, -q (no progress),
#          -v (say how many bytes were escaped as byte tokens: input that is not UTF-8 text),
#          --block BYTES (compress: code the input in independent frames of at most this size, cut at line ends;
#          memory stays bounded by it; default 1048576)
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# tsx is resolved from here, not from the caller's folder, so run.sh works from anywhere
stage() { node --import "$here/node_modules/tsx/dist/loader.mjs" "$here/scripts/$1.ts" "${@:2}"; }
die() { echo "run.sh: $*" >&2; exit 1; }

force=0 coder=exact model=() run=() tok=() mode=example file= block=1048576
case "${1:-}" in compress|decompress) mode=$1; shift ;; -h|--help) sed -n '2,10p' "$0" | cut -c3-; exit 0 ;; esac
while [ $# -gt 0 ]; do
  case $1 in
    -f|--force) force=1 ;;
    -n|--model) model=(-n "$2"); shift ;;
    --coder) coder=$2; shift ;;
    -w|-l|--dtype|--device|--graph|--segment|--batch) run+=("$1" "$2"); shift ;;
    -q|--quiet) run+=(--quiet) ;;
    -v|--verbose) tok+=(--verbose) ;;
    --block) block=$2; shift ;;
    -*) die "unknown option $1" ;;
    *) [ -z "$file" ] || die "one file at a time"; file=$1 ;;
  esac
  shift
done
[ "$coder" = exact ] || [ "$coder" = rank ] || die "--coder must be exact or rank"
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT

# encode IN PREFIX [tokenized]: writes PREFIX.toks.json (unless already tokenized), .ttout.json, .ranged.json, .bin
encode() {
  [ -n "${3:-}" ] || stage tokensOfStr "${model[@]}" "${tok[@]}" -i "$1" -o "$2.toks.json"
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
# compress_blocks IN OUT.bin: one frame per block of IN (one frame for an empty or small input), concatenated.
# A block that is mostly not UTF-8 text, or whose coded frame comes out larger, is stored as it is instead.
compress_blocks() {
  mkdir -p "$tmp/blocks"
  split -C "$block" -a 6 -d "$1" "$tmp/blocks/b"
  [ -n "$(ls "$tmp/blocks")" ] || : > "$tmp/blocks/b000000"
  : > "$2"
  for b in "$tmp/blocks"/b*; do
    stage tokensOfStr "${model[@]}" "${tok[@]}" -i "$b" -o "$tmp/x.toks.json"
    escaped=$(grep -o '"escapedBytes": [0-9]*' "$tmp/x.toks.json" | grep -o '[0-9]*$')
    size=$(stat -c %s "$b")
    if [ $((2 * escaped)) -le "$size" ]; then
      encode "$b" "$tmp/x" tokenized
      # a stored frame is the bytes, padded to an even count, plus a 97-byte header (docs/FORMAT.md)
      [ "$(stat -c %s "$tmp/x.bin")" -le $((size + size % 2 + 97)) ] || rm "$tmp/x.bin"
    fi
    if [ -f "$tmp/x.bin" ]; then cat "$tmp/x.bin" >> "$2"; rm "$tmp/x.bin"
    else
      [ ${#tok[@]} = 0 ] || echo "run.sh: $(basename "$b"): stored as it is (the model would not help)" >&2
      stage binOfBytes -i "$b" >> "$2"
    fi
    rm "$b"
  done
}
# decompress_frames IN.bin OUT: decodes frame after frame (binFrames checks them all first), concatenated
decompress_frames() {
  stage binFrames -i "$1" -o "$tmp/frames" > /dev/null
  : > "$2"
  for f in "$tmp/frames"/*.bin; do
    # byte 6 of a frame is its coder mode; 2 = stored (docs/FORMAT.md)
    if [ "$(od -An -tu1 -j6 -N1 "$f" | tr -d ' ')" = 2 ]; then stage bytesOfBin -i "$f" -o "$tmp/x.decomp"; else decode "$f" "$tmp/x"; fi
    cat "$tmp/x.decomp" >> "$2"; rm "$f"
  done
}
# place SRC DEST: moves a finished output into place, refusing to overwrite without -f
place() {
  if [ -e "$2" ] && [ $force = 0 ]; then die "$2 already exists (use -f to overwrite)"; fi
  mv "$1" "$2"
}

case $mode in
  compress)
    [[ $block =~ ^[1-9][0-9]*$ ]] || die "--block must be a positive number of bytes"
    if [ -z "$file" ]; then cat > "$tmp/in"; compress_blocks "$tmp/in" "$tmp/out.bin"; cat "$tmp/out.bin"; exit 0; fi
    [ -r "$file" ] && [ -f "$file" ] || die "cannot read $file"
    [ ! -e "$file.bin" ] || [ $force = 1 ] || die "$file.bin already exists (use -f to overwrite)"
    compress_blocks "$file" "$tmp/out.bin"; place "$tmp/out.bin" "$file.bin" ;;
  decompress)
    if [ -z "$file" ]; then cat > "$tmp/in.bin"; decompress_frames "$tmp/in.bin" "$tmp/out"; cat "$tmp/out"; exit 0; fi
    [ -r "$file" ] && [ -f "$file" ] || die "cannot read $file"
    [ "${file%.bin}" != "$file" ] || die "$file: unknown suffix, expected .bin"
    [ ! -e "${file%.bin}" ] || [ $force = 1 ] || die "${file%.bin} already exists (use -f to overwrite)"
    decompress_frames "$file" "$tmp/out"; place "$tmp/out" "${file%.bin}" ;;
  example)
    [ -n "$file" ] || die "usage: ./run.sh FILE.txt | compress [FILE] | decompress [FILE.bin] (see --help)"
    [ -r "$file" ] && [ -f "$file" ] || die "cannot read $file"
    name=$(basename "${file%.*}"); dir=$(dirname "$file")/$name
    mkdir -p "$dir"
    start=$(date +%s.%N); encode "$file" "$dir/$name"; mid=$(date +%s.%N)
    cp "$dir/$name.bin" "$(dirname "$file")/$name.bin"
    decode "$dir/$name.bin" "$dir/$name"; end=$(date +%s.%N)
    mv "$dir/$name.decomp" "$(dirname "$file")/$name.decomp.txt"
    cmp "$file" "$(dirname "$file")/$name.decomp.txt" || die "round trip FAILED: $name.decomp.txt differs from $file"
    in=$(stat -c %s "$file"); out=$(stat -c %s "$dir/$name.bin")
    awk -v f="$file" -v i="$in" -v o="$out" -v s="$start" -v t="$mid" -v e="$end" -v m="$coder" 'BEGIN {
      printf "%s: %d bytes -> %d bytes (%.1f%%, %.3f bits/byte, %s coder); compress %.1f s, decompress %.1f s; round trip OK\n",
        f, i, o, 100 * o / (i ? i : 1), 8 * o / (i ? i : 1), m, t - s, e - t }' ;;
esac
