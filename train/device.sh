#!/bin/bash
# Steps of the model recipe as run on the GPU machine (see train/README.md). Usage: train/device.sh STEP...
# Work files go to work/ (ignored, kept while the machine stays warm); results to $OUT.
set -euo pipefail
cd "$(dirname "$0")"
export PYTHONUNBUFFERED=1
OUT=${OUT:-../work/out}
mkdir -p ../work "$OUT"
# the two sizes trained for the default model; both use the 16k data and a 512-token window
sizes() {
  local common='--data_dir=../work/data16k --block_size=512 --batch_size=128'
  case $1 in
    S) echo "$common --n_layer=6 --n_embd=256 --n_head=4 --n_kv_head=2 --ffn=704 --learning_rate=2e-3 --max_iters=12000" ;;
    M) echo "$common --n_layer=8 --n_embd=384 --n_head=6 --n_kv_head=2 --ffn=1024 --learning_rate=1.5e-3 --max_iters=10000" ;;
  esac
}
for step in "$@"; do
  echo "== $step $(date +%T)"
  case $step in
    tiny)  # the test twin: 2k vocabulary, 2 layers of width 64, ~0.25M parameters
      python prepare.py --shards='../.data*/shard-00.*' --vocab_size=2048 --out_dir=../work/tiny-data \
        --tokenizer_sample_mb=30 --max_train_mb=100
      python train.py --data_dir=../work/tiny-data --out_dir=../work/tiny-out --n_layer=2 --n_head=4 \
        --n_kv_head=2 --n_embd=64 --ffn=192 --block_size=256 --batch_size=64 --max_iters=3000 \
        --learning_rate=3e-3 --min_lr=3e-4 --compile=0 --eval_interval=1000
      python export.py --out_dir=../work/tiny-out --data_dir=../work/tiny-data --model_dir="$OUT/tiny" \
        --name=llmc-tiny --window=256 ;;
    data)  # the default models' data: 16k vocabulary over every carried shard
      python prepare.py --out_dir=../work/data16k --vocab_size=16384 ;;
    tokens)  # tokenize the shards carried in this call with train/tokenizer-16k.json, adding to work/data16k
      new=../work/data16k-$(date +%s)
      python prepare.py --out_dir=$new --vocab_size=16384 --tokenizer=tokenizer-16k.json
      if [ ! -d ../work/data16k ]; then mv $new ../work/data16k; else
        cat $new/train.bin >> ../work/data16k/train.bin
        python -c "import json,os;m=json.load(open('../work/data16k/meta.json'));m['train_tokens']=os.path.getsize('../work/data16k/train.bin')//2;json.dump(m,open('../work/data16k/meta.json','w'),indent=1);print(m)"
      fi ;;
    vocabs)  # bytes per token of other vocabulary sizes, on the same validation documents
      for v in 8192 32768; do
        python prepare.py --out_dir=../work/data$v --vocab_size=$v --max_train_mb=50 --tokenizer_sample_mb=200
      done ;;
    probe)  # throughput of the two default sizes, a few hundred steps each
      for size in S M; do python train.py $(sizes $size) --max_iters=400 --eval_interval=400 --eval_iters=5 \
        --out_dir=../work/probe-$size; done ;;
    trainS|trainM)  # continues from its checkpoint when one is there (a second call goes on where the first stopped)
      size=${step#train}
      python train.py $(sizes $size) --out_dir=../work/out-$size --resume=1 ;;
    fresh)  # forget earlier checkpoints (a retrain on more data)
      rm -rf ../work/out-S ../work/out-M ;;
    exportS|exportM)
      size=${step#export}
      python export.py --out_dir=../work/out-$size --data_dir=../work/data16k --model_dir=../work/model-$size \
        --name=llmc-$size --window=512
      tar cf - -C ../work --exclude=model.onnx model-$size | split -b 15M - "$OUT/model-$size-int8.tar.part-"
      python -c "import torch;c=torch.load('../work/out-$size/ckpt.pt',map_location='cpu');torch.save({'model':{k:v.half() for k,v in c['model'].items()},'config':c['config'],'settings':c['settings'],'iter':c['iter'],'val_loss':c['val_loss'],'val_bpb':c['val_bpb']},'../work/weights-$size.pt')"
      split -b 15M ../work/weights-$size.pt "$OUT/weights-$size.pt.part-" ;;
    fetchfp32S|fetchfp32M)  # the fp32 graph, in parts small enough to come back from the GPU machine
      size=${step#fetchfp32}
      split -b 15M ../work/model-$size/onnx/model.onnx "$OUT/model-$size.onnx.part-" ;;
    *) echo "unknown step $step"; exit 1 ;;
  esac
done
