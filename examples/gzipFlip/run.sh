#!/usr/bin/env bash
# gzip -9 of a text, and of the same text with the case of the letter after each ". " flipped: a change a
# language model shrugs off costs a dictionary coder real bytes. FILE defaults to A Study in Scarlet.
set -euo pipefail
file=${1:-$(dirname "$0")/../compressor/AStudyInScarlet.txt}
plain=$(gzip -9c "$file" | wc -c)
flipped=$(perl -pe 's/\. (\w)/". " . ($1 eq uc $1 ? lc $1 : uc $1)/ge' "$file" | gzip -9c | wc -c)
size=$(wc -c < "$file")
printf 'original %d bytes\ngzip -9: %d bytes (%.3f bits/byte)\ngzip -9 after flipping the case after ". ": %d bytes (%.3f bits/byte), %+d bytes\n' \
  "$size" "$plain" "$(echo "8*$plain/$size" | bc -l)" "$flipped" "$(echo "8*$flipped/$size" | bc -l)" "$((flipped - plain))"
