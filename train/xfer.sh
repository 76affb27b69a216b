#!/usr/bin/env bash
# Packs into the ignored .xfer/ what a training run on the GPU machine carries (train/README.md, "Moving the data"):
# corpus v2's archive in 57 MiB parts (.xfer/part-a …: the new shards, the prose shards, the held-out hashes and
# Debian's zstd, with SHA256SUMS, for `receive` and `unpack`), and v3's and v4's config, tokenizer and int8 graph
# (.xfer/v3, .xfer/v4: what `data3`, `init4` and `init5` read as V2, V3 and V4).
# Run it after `python3 train/corpus.py` (about 15 minutes on the 2-core machine), then set models/ aside
# (`mv models /tmp/models-aside`) so that each call carries a whole part.
set -euo pipefail
cd "$(dirname "$0")/.."
grep -qx '/.xfer/' .git/info/exclude 2>/dev/null || echo '/.xfer/' >> .git/info/exclude
stage=.xfer/stage
rm -rf "$stage" .xfer/part-* && mkdir -p "$stage/shared/corpus" "$stage/shards" "$stage/debs"
ln -f train/data/shards/*.zst "$stage/shards/"
ln -f train/data/heldout.npz train/data/kept-exact.npy "$stage/"
cp ../shared/corpus/*.zst "$stage/shared/corpus/"
lists=$(mktemp -d); mkdir -p "$lists/partial"
apt=(-o APT::Architecture=amd64 -o APT::Sandbox::User=root -o "Dir::State::Lists=$lists")
apt-get "${apt[@]}" update -qq > /dev/null
(cd "$stage/debs" && apt-get -qq "${apt[@]}" download zstd libzstd1 > /dev/null)
rm -rf "$lists"
(cd "$stage" && sha256sum shards/* shared/corpus/* heldout.npz kept-exact.npy debs/* > SHA256SUMS)
tar cf - -C "$stage" . | split -b 57M -a 1 - .xfer/part-
rm -rf "$stage"
for version in v3 v4; do
  from=models/llmc-base-$version to=.xfer/$version
  rm -rf "$to" && mkdir -p "$to/onnx"
  cp "$from/config.json" "$from/tokenizer.json" "$from/tokenizer_config.json" "$to/"
  cp "$from/onnx/model_quantized.onnx" "$from/onnx/model_quantized.onnx_data" "$to/onnx/"
done
du -sh .xfer/part-* .xfer/v3 .xfer/v4
