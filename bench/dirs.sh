#!/usr/bin/env bash
# Byte sizes of directory trees as XML (scripts/xmlOfDir.ts) against the usual archivers, as a markdown table.
#
#   bash bench/dirs.sh [DIR|toy ...]   default: the seed's toy tree ("toy"), this repo's src/, node_modules/yargs
#
# Columns: the XML itself, xz -9 of the XML, tar c | xz -9, tar c | zstd -19, and mksquashfs with gzip and with xz
# (Debian package squashfs-tools: apt-get install -y squashfs-tools; the columns say "n/a" without it).
# squashfs images are made with -nopad, so the size is the image's real end (96-byte superblock included) rather
# than the 4096-byte padded file; the seed measured "last non-zero byte - 96 bytes of superblock" instead.
#
# The language-model column: set LLMC_COMPRESS to a shell command that compresses stdin to stdout, e.g.
#   LLMC_COMPRESS='./run.sh compress -q' bash bench/dirs.sh
# and the column "LLM" holds the size of its output for the XML; unset, it shows "—".
set -euo pipefail
cd "$(dirname "$0")/.."

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

# (a) the seed's toy tree: one empty directory and one 14-byte file, dated as in the seed.
toy=$work/toy
mkdir -p "$toy/testdir"
printf 'hello llmfuse\n' >"$toy/testfile.txt"
chmod 755 "$toy" "$toy/testdir"
chmod 644 "$toy/testfile.txt"
touch -d '2025-01-01T00:00:01Z' "$toy/testfile.txt"
touch -d '2025-01-01T00:00:00Z' "$toy/testdir" "$toy"

trees=()
for tree in "${@:-toy}" ; do [ "$tree" = toy ] && trees+=("$toy") || trees+=("$tree"); done
[ $# -gt 0 ] || trees+=(src node_modules/yargs)

have() { command -v "$1" >/dev/null 2>&1; }
size() { wc -c <"$1" | tr -d ' '; }

llm_header='LLM'
[ -n "${LLMC_COMPRESS:-}" ] && llm_header="LLM (\`$LLMC_COMPRESS\`)"
echo "| Tree | Files | File bytes | XML | XML \| xz -9 | tar | tar \| xz -9 | tar \| zstd -19 | squashfs (gzip) | squashfs (xz) | $llm_header |"
echo "|------|------:|-----------:|----:|------------:|----:|------------:|---------------:|----------------:|--------------:|-----|"

for dir in "${trees[@]}"; do
  name=$dir
  [ "$dir" = "$toy" ] && name='seed toy tree'
  xml=$work/tree.xml
  node --import tsx scripts/xmlOfDir.ts -i "$dir" -o "$xml"
  files=$(find "$dir" -type f | wc -l | tr -d ' ')
  bytes=$(find "$dir" -type f -printf '%s\n' | awk '{ s += $1 } END { print s + 0 }')

  xz -9 -c "$xml" >"$work/xml.xz"
  tar --sort=name -cf "$work/tree.tar" -C "$dir" .
  xz -9 -c "$work/tree.tar" >"$work/tar.xz"
  zstd -19 -q -c "$work/tree.tar" >"$work/tar.zst"

  sq_gzip=n/a sq_xz=n/a
  if have mksquashfs; then
    for comp in gzip xz; do
      rm -f "$work/img.$comp"
      mksquashfs "$dir" "$work/img.$comp" -comp "$comp" -nopad -noappend -quiet -no-progress >/dev/null
    done
    sq_gzip=$(size "$work/img.gzip") sq_xz=$(size "$work/img.xz")
  fi

  llm='—'
  if [ -n "${LLMC_COMPRESS:-}" ]; then
    sh -c "$LLMC_COMPRESS" <"$xml" >"$work/xml.llm"
    llm=$(size "$work/xml.llm")
  fi

  echo "| $name | $files | $bytes | $(size "$xml") | $(size "$work/xml.xz") | $(size "$work/tree.tar") | $(size "$work/tar.xz") | $(size "$work/tar.zst") | $sq_gzip | $sq_xz | $llm |"
done
