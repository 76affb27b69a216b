#!/bin/bash
# Steps of the model recipe as run on the GPU machine (see train/README.md). Usage: train/device.sh STEP...
# Work files go to work/ (ignored, kept while the machine stays warm); results to $OUT.
set -euo pipefail
cd "$(dirname "$0")"
export PYTHONUNBUFFERED=1
OUT=${OUT:-../work/out}
mkdir -p ../work "$OUT"
t_start=$(date +%s)
export PATH=$PATH:/opt/tools/usr/bin LD_LIBRARY_PATH=${LD_LIBRARY_PATH:+$LD_LIBRARY_PATH:}/opt/tools/usr/lib/x86_64-linux-gnu  # carried zstd
# the two sizes trained for the default model; both use the 16k data and a 512-token window
sizes() {
  local common='--data_dir=../work/data16k --block_size=512 --batch_size=128'
  case $1 in
    S) echo "$common --n_layer=6 --n_embd=256 --n_head=4 --n_kv_head=2 --ffn=704 --learning_rate=2e-3 --max_iters=12000" ;;
    M) echo "$common --n_layer=8 --n_embd=384 --n_head=6 --n_kv_head=2 --ffn=1024 --learning_rate=1.5e-3 --max_iters=10000" ;;
  esac
}
# follow PATTERN LOG...: wait until no process naming train.py and then PATTERN is left or WAIT seconds pass, then show and keep the logs
follow() {
  local pattern=$1 end=$(( $(date +%s) + ${WAIT:-540} )); shift
  while pgrep -f "train.py.*$pattern" > /dev/null && [ $(date +%s) -lt $end ]; do sleep 10; done
  for log in "$@"; do { grep ': val' $log || true; } | tail -2; tail -1 $log; cp $log "$OUT/"; done
}
# pack DIR NAME: the model folder work/DIR/NAME, int8 graphs only, in 15 MB parts for the trip back; without
# integer.7bit, which integer.py derives from the weights here (v4's would take $OUT past its 64 MiB)
pack() {
  local dir=$1 name=$2
  (cd ../work/$dir && tar cf - --exclude="$name/onnx/model.onnx*" --exclude=$name/onnx/stepper.onnx \
    --exclude=$name/onnx/coder.onnx --exclude=$name/onnx/integer.7bit $name) | split -b 15M - "$OUT/$dir.tar.part-"
}
# keep_weights RUN NAME: work/RUN's checkpoint without its optimizer, in fp16, in 15 MB parts: the first four in
# $OUT/NAME.pt.part-*, the rest left in work/ for `moreweights` (one call's $OUT brings back 64 MiB; v6's are 88 MB)
keep_weights() {
  python -c "import torch;c=torch.load('../work/$1/ckpt.pt',map_location='cpu');c.pop('optimizer',None);c['model']={k:v.half() for k,v in c['model'].items()};torch.save(c,'../work/$2.pt')"
  rm -f ../work/$2.pt.part-*
  split -b 15M ../work/$2.pt ../work/$2.pt.part-
  sha256sum ../work/$2.pt
  more_weights
}
# more_weights: up to four parts of weights that keep_weights left in work/, into $OUT
more_weights() {
  for part in $(ls ../work/*.pt.part-* 2> /dev/null | head -4); do mv "$part" "$OUT/"; done
}
# background_run N NAME SECONDS BASELINES ARGS...: train.py with the M shape and ARGS on v3's mix MIX (default B) into
# work/outN, a cosine over SECONDS, then evaluate.py of BASELINES and the run by kind and export.py as NAME (default
# window WINDOW, 384 unless set) into work/vN, all in one background job, so that the model folder is on disk the
# moment the run ends; NAME - is a control run, evaluated and not exported
background_run() {
  local n=$1 name=$2 seconds=$3 baselines=$4 data=../work/v3/${MIX:-B}; shift 4
  local export="python export.py --out_dir=../work/out$n --data_dir=$data --model_dir=../work/v$n/$name \
    --name=$name --window=${WINDOW:-384} && touch ../work/v$n/exported"
  [ "$name" = - ] && export=true
  setsid nohup bash -c "python train.py $(sizes M) --data_dir=$data --out_dir=../work/out$n $* \
    --min_lr=3e-5 --warmup_iters=300 --max_iters=1000000 --schedule_seconds=$seconds --max_seconds=$seconds \
    --eval_interval=2000 \
    && python evaluate.py --checkpoints='$baselines ../work/out$n/ckpt.pt' \
         --data_dirs='../work/v3/prose ../work/v3/rest' > ../work/eval$n.md && $export" > ../work/train$n.log 2>&1 < /dev/null &
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
      keep_weights out-$size weights-$size ;;
    fetchfp32S|fetchfp32M)  # the fp32 graph, in parts small enough to come back from the GPU machine
      size=${step#fetchfp32}
      split -b 15M ../work/model-$size/onnx/model.onnx "$OUT/model-$size.onnx.part-" ;;
    stage)  # copy the shards carried in this call to work/shards (one shard per call fits beside the repo)
      mkdir -p ../work/shards && cp -v ../.data*/shard-*.jsonl.* ../work/shards/ ;;
    vocabdata)  # vocabulary experiment, data (train/README.md, "Vocabulary size"): the staged shards 0-1 tokenized with
      # tokenizer-16k.json (16384) and with BPEs that prepare.py trains on their first 200 MB of training text
      # (8192, 32768, and 16384r: the same procedure at 16384), all four in parallel
      pids=() fail=0
      for v in 8192 16384 32768 16384r; do
        tok=''; if [ $v = 16384 ]; then tok=--tokenizer=tokenizer-16k.json; fi
        python prepare.py --shards='../work/shards/shard-0[01].*' --out_dir=../work/vocab$v --vocab_size=${v%r} $tok \
          > ../work/prep-$v.log 2>&1 & pids+=($!)
      done
      for p in "${pids[@]}"; do wait $p || fail=1; done
      for f in ../work/prep-*.log; do echo "-- $f"; cat $f; cp $f "$OUT/"; done
      [ $fail = 0 ]
      python -c "import json;a=json.load(open('../work/vocab16384r/tokenizer.json'))['model'];b=json.load(open('tokenizer-16k.json'))['model'];print('16384r vs tokenizer-16k.json: identical',a==b,'shared tokens',len(set(a['vocab'])&set(b['vocab'])))" ;;
    vocabtrain)  # vocabulary experiment, training: the M shape, 3000 steps of 128x512 tokens, on each of VOCABS (default
      # all four) with seed SEED (default 1337); a run starts only if >= 270 s of VOCAB_BUDGET (default 560 s from
      # the start of this call) are left, so repeat the call until all are done (work/ must survive in between)
      seed=${SEED:-1337}; sfx=''; if [ $seed != 1337 ]; then sfx=-seed$seed; fi
      for v in ${VOCABS:-8192 16384 32768 16384r}; do
        d=../work/vocab$v-out$sfx; mkdir -p $d
        if [ -e $d/done ]; then echo "vocab $v$sfx: done before"; continue; fi
        left=$((t_start + ${VOCAB_BUDGET:-560} - $(date +%s)))
        if [ $left -lt 270 ]; then echo "vocab $v$sfx: only ${left}s left in this call, not started"; continue; fi
        s=$(date +%s)
        python train.py $(sizes M) --data_dir=../work/vocab$v --out_dir=$d --max_iters=3000 --warmup_iters=200 \
          --min_lr=2e-4 --eval_interval=1000 --seed=$seed --resume=1 \
          --max_seconds=$((left - 40)) 2>&1 | tee -a $d/train.log
        echo "wall $(( $(date +%s) - s ))s" | tee -a $d/train.log
        if grep -q '^iter 3000: val' $d/train.log; then touch $d/done; fi
        cp $d/train.log "$OUT/train-$v$sfx.log"
      done ;;
    vocabreport)  # vocabulary experiment, table of what vocabdata and vocabtrain logged
      python - <<'EOF' | tee "$OUT/vocab-summary.md"
import glob, json, re
print('| run | val bits/byte (1k / 2k / 3k steps) | bytes/token (val) | params | train tokens in data | passes | steady tok/s | training wall | prepare wall |')
print('|---|---|---:|---:|---:|---:|---:|---:|---:|')
for log in sorted(glob.glob('../work/vocab*-out*/train.log')):
    run = log.split('/')[2].replace('vocab', '').replace('-out', '')
    v = run.split('-')[0]
    meta = json.load(open(f'../work/vocab{v}/meta.json'))
    prep = open(f'../work/prep-{v}.log').read().split()[-1]
    lines = open(log).read().splitlines()
    params = next((l.split('M')[0] + ' M' for l in lines if 'M parameters' in l), '?')
    vals = ' / '.join(m.group(1) for l in lines for m in [re.match(r'iter \d+: val loss \S+ nats/token, (\S+)', l)] if m)
    walls = [l.split()[1] for l in lines if l.startswith('wall ')]
    seg = []  # (iter, seconds) of the last run segment, past warm-up and compilation
    for l in lines:
        if 'starting at iter' in l:
            seg = []
        m = re.match(r'iter (\d+) loss \S+ lr \S+ \S+M tok/s (\d+)s', l)
        if m and int(m.group(1)) >= 500:
            seg.append((int(m.group(1)), int(m.group(2))))
    rate = f'{(seg[-1][0] - seg[0][0]) * 65536 / (seg[-1][1] - seg[0][1]) / 1e6:.2f} M' if len(seg) > 1 else '?'
    print(f"| {run} | {vals} | {meta['val_bytes_per_token']:.3f} | {params} | {meta['train_tokens'] / 1e6:.1f} M | "
          f"{3000 * 65536 / meta['train_tokens']:.2f} | {rate} | {' + '.join(walls)} | {prep} |")
EOF
      ;;
    receive)  # one part of corpus v2's archive, carried in .xfer/ (train/README.md, "Moving the data"), kept in /root/xfer
      mkdir -p /root/xfer && cp -v ../.xfer/part-* /root/xfer/ && du -sh /root/xfer ;;
    unpack)  # the archive's parts -> /root/cdata (new shards, prose shards, held-out hashes, zstd), checked by sha256
      mkdir -p /root/cdata /opt/tools && cat /root/xfer/part-* | tar xf - -C /root/cdata
      (cd /root/cdata && sha256sum --quiet -c SHA256SUMS)
      for f in /root/cdata/debs/*.deb; do dpkg -x "$f" /opt/tools; done ;;
    corpus2)  # training documents: corpus v2 and the prose minus its drops, and this machine's own code (corpus.py local)
      mkdir -p ../work/v2
      CORPUS_DATA=/root/cdata CORPUS_SHARED=/root/cdata/shared python3 corpus.py export > ../work/v2/corpus.jsonl
      site=$(python3 -c 'import site; print(site.getsitepackages()[0])')
      CORPUS_DATA=/root/cdata CORPUS_JOBS=16 python3 corpus.py local ../work/v2/local /usr/include "$site" /usr/lib/python3.12
      cp ../work/v2/local/local-manifest.json "$OUT/" ;;
    data2)  # model v2's data: a 16k BPE trained on the mix, every document tokenized; the device's code capped at LOCAL_MB
      python prepare.py --shards="../work/v2/corpus.jsonl ../work/v2/local/local-*.jsonl=${LOCAL_MB:-300}" \
        --out_dir=../work/data2 --vocab_size=16384 2>&1 | tee "$OUT/data2.log" ;;
    train2)  # model v2 (the M shape) in the background, so that it outlasts a call; `wait2` follows it
      setsid nohup python train.py $(sizes M) --data_dir=../work/data2 --out_dir=../work/out2 --resume=1 \
        --max_iters=${ITERS2:-20000} --max_seconds=${SECONDS2:-900} > ../work/train2.log 2>&1 < /dev/null &
      sleep 60; tail -n 3 ../work/train2.log ;;
    tiny2)  # its test twin: 2 layers of width 64 on the same tokens, 3000 steps of 64x256 (49 M tokens)
      python train.py --data_dir=../work/data2 --out_dir=../work/tiny2 --n_layer=2 --n_head=4 \
        --n_kv_head=2 --n_embd=64 --ffn=192 --block_size=256 --batch_size=64 --max_iters=3000 \
        --learning_rate=3e-3 --min_lr=3e-4 --compile=0 --eval_interval=1000 2>&1 | tee ../work/tiny2.log ;;
    twindata)  # the twin's data alone (when data2 is gone): v2's tokenizer over a sample of the mix carried in .xfer/tiny
      python prepare.py --shards='../.xfer/tiny/*.jsonl.xz' --tokenizer=../.xfer/tiny/tokenizer.json \
        --out_dir=../work/data2 2>&1 | tee "$OUT/twindata.log" ;;
    wait2)  # until the v2 training ends or WAIT seconds pass
      end=$(( $(date +%s) + ${WAIT:-540} ))
      while pgrep -f 'train.py.*out2' > /dev/null && [ $(date +%s) -lt $end ]; do sleep 10; done
      grep ': val' ../work/train2.log | tail -3; tail -2 ../work/train2.log; cp ../work/train2.log "$OUT/" ;;
    export2)  # the v2 models trained here as folders, with torch's reference logits, in 15 MB parts for the trip back
      # (the base model's fp32 graphs stay: export.py rebuilds them from weights2's checkpoint)
      for m in base:out2:384 tiny:tiny2:256; do IFS=: read -r size run window <<< "$m"
        if [ -f ../work/$run/ckpt.pt ]; then
          python export.py --out_dir=../work/$run --data_dir=../work/data2 --model_dir=../work/llmc-$size-v2 \
            --name=llmc-$size-v2 --window=$window
          cp ../work/$run/reference.json ../work/llmc-$size-v2/
        fi
      done
      (cd ../work && tar cf - --exclude='llmc-base-v2/onnx/model.onnx*' --exclude=llmc-base-v2/onnx/stepper.onnx \
        --exclude=llmc-base-v2/onnx/coder.onnx llmc-*-v2) | split -b 15M - "$OUT/models-v2.tar.part-" ;;
    weights2)  # the v2 checkpoint's weights in fp16 (the optimizer's state stays there)
      keep_weights out2 weights2 ;;
    init3)  # model v3 starts from v2's weights, as its int8 graph holds them (v2's training checkpoint was not kept); V2 is
      # v2's folder, or a copy of its config, tokenizer and int8 graph carried while models/ is set aside for the transfers
      python ckpt_of_onnx.py --model_dir=${V2:-../models/llmc-base-v2} --out_dir=../work/v2ckpt ;;
    data3)  # v3's data: v2's documents (after `unpack`), books and encyclopedia prose apart from the rest (code, data,
      # trees and this machine's code), tokenized with v2's tokenizer; mix A is v2's mix, mix B has the prose twice;
      # MIXES="NAME:TIMES ..." makes others (v7's mix C: the prose three times)
      mkdir -p ../work/v3
      for part in prose rest; do
        CORPUS_DATA=/root/cdata CORPUS_SHARED=/root/cdata/shared python3 corpus.py export all $part > ../work/v3/$part.jsonl
      done
      site=$(python3 -c 'import site; print(site.getsitepackages()[0])')
      [ -d ../work/v2/local ] || CORPUS_DATA=/root/cdata CORPUS_JOBS=16 python3 corpus.py local ../work/v2/local /usr/include "$site" /usr/lib/python3.12
      tok=${V2:-../models/llmc-base-v2}/tokenizer.json
      python prepare.py --shards=../work/v3/prose.jsonl --tokenizer=$tok --out_dir=../work/v3/prose 2>&1 | tee "$OUT/data3-prose.log"
      python prepare.py --shards="../work/v3/rest.jsonl ../work/v2/local/local-*.jsonl=${LOCAL_MB:-300}" --tokenizer=$tok \
        --out_dir=../work/v3/rest 2>&1 | tee "$OUT/data3-rest.log"
      for mix in ${MIXES:-A:1 B:2}; do IFS=: read -r name times <<< "$mix"; d=../work/v3/$name; mkdir -p $d; cp $tok $d/
        cat ../work/v3/rest/train.bin $(for i in $(seq $times); do echo ../work/v3/prose/train.bin; done) > $d/train.bin
        cat ../work/v3/rest/val.bin ../work/v3/prose/val.bin > $d/val.bin
        python -c "import json,os;a,b=(json.load(open(f'../work/v3/{k}/meta.json')) for k in ('rest','prose'));t=a['val_tokens']+b['val_tokens'];n=a['val_bytes']+b['val_bytes'];json.dump(dict(vocab_size=a['vocab_size'],train_tokens=os.path.getsize('$d/train.bin')//2,val_tokens=t,val_bytes=n,val_bytes_per_token=n/t,prose_times=$times),open('$d/meta.json','w'),indent=1)"
        cat $d/meta.json
      done ;;
    train3)  # v3: the M shape from v2's weights on mixes A and B side by side in the background, a cosine over SECONDS3
      for mix in A B; do
        setsid nohup python train.py $(sizes M) --data_dir=../work/v3/$mix --out_dir=../work/out3$mix \
          --init_from=../work/v2ckpt/ckpt.pt --learning_rate=${LR3:-7.5e-4} --min_lr=3e-5 --warmup_iters=300 \
          --max_iters=1000000 --schedule_seconds=${SECONDS3:-900} --max_seconds=${SECONDS3:-900} --eval_interval=2000 \
          > ../work/train3$mix.log 2>&1 < /dev/null &
      done
      sleep 90; tail -n 2 ../work/train3?.log ;;
    wait3)  # until both v3 runs end or WAIT seconds pass
      follow out3 ../work/train3A.log ../work/train3B.log ;;
    eval3)  # each kind's validation bits/byte, v2 against both v3 runs
      python evaluate.py --checkpoints='../work/v2ckpt/ckpt.pt ../work/out3A/ckpt.pt ../work/out3B/ckpt.pt' \
        --data_dirs='../work/v3/prose ../work/v3/rest' | tee "$OUT/eval3.md" ;;
    export3)  # the v3 run of mix MIX as a model folder, int8 only, in 15 MB parts for the trip back
      python export.py --out_dir=../work/out3$MIX --data_dir=../work/v3/$MIX --model_dir=../work/v3$MIX/llmc-base-v3 \
        --name=llmc-base-v3 --window=384
      cp ../work/out3$MIX/reference.json ../work/v3$MIX/llmc-base-v3/
      pack v3$MIX llmc-base-v3 ;;
    init4)  # model v4 starts from v3's weights (its int8 graph; V3 is its folder or a carried copy), each layer followed
      # by a copy that adds nothing until trained (deepen.py): 16 layers computing what v3's 8 compute
      python ckpt_of_onnx.py --model_dir=${V3:-../models/llmc-base-v3} --out_dir=../work/v3ckpt
      python deepen.py --init_from=../work/v3ckpt/ckpt.pt --out_dir=../work/v4init ;;
    train4)  # v4: the deepened model on v3's mix B (prose twice; `data3` makes it), a cosine over SECONDS4, evaluated
      # by kind against v3 and exported in the same background job (`wait4` follows it, `pack4` brings it back)
      background_run 4 llmc-base-v4 ${SECONDS4:-900} ../work/v3ckpt/ckpt.pt \
        --n_layer=16 --init_from=../work/v4init/ckpt.pt --learning_rate=${LR4:-7.5e-4}
      sleep 90; tail -n 3 ../work/train4.log ;;
    init5)  # the distillation run (#14): the student starts from v3's weights (`init4` reads them), the teacher is v4 as
      # its int8 graph holds it (V4: its folder, or a carried copy of its config, tokenizer and int8 graph)
      python ckpt_of_onnx.py --model_dir=${V4:-../models/llmc-base-v4} --out_dir=../work/v4ckpt ;;
    train5)  # v5: v3's shape from v3's weights, learning from the data and from v4's next-token distributions
      # (`--distill` of the loss is the KL divergence from the teacher), otherwise as train4; evaluated against v3 and v4.
      # Beside it on the same GPU, for the same time, the control 5c: the same from v3's weights without the teacher
      # (the same batches in the same order), so that what the teacher adds is measured apart from the extra training
      background_run 5 llmc-base-v5 ${SECONDS5:-900} "../work/v3ckpt/ckpt.pt ../work/v4ckpt/ckpt.pt" \
        --init_from=../work/v3ckpt/ckpt.pt --teacher=../work/v4ckpt/ckpt.pt --distill=${DISTILL5:-0.5} \
        --learning_rate=${LR5:-7.5e-4}
      background_run 5c - ${SECONDS5:-900} "" --init_from=../work/v3ckpt/ckpt.pt --learning_rate=${LR5:-7.5e-4}
      sleep 90; tail -n 3 ../work/train5.log ../work/train5c.log ;;
    init6)  # model v6 starts from v4's weights (`init5` reads them from its int8 graph), every other layer followed by
      # a silent copy (deepen.py --every=2): 24 layers computing what v4's 16 compute
      python deepen.py --init_from=../work/v4ckpt/ckpt.pt --out_dir=../work/v6init --every=2 ;;
    train6)  # v6: the deepened v4 on mix B, a cosine over SECONDS6, evaluated by kind against v3 and v4 and exported
      background_run 6 llmc-base-v6 ${SECONDS6:-900} "../work/v3ckpt/ckpt.pt ../work/v4ckpt/ckpt.pt" \
        --n_layer=24 --init_from=../work/v6init/ckpt.pt --learning_rate=${LR6:-5e-4}
      sleep 90; tail -n 3 ../work/train6.log ;;
    weights)  # parts of fp16 weights carried in .xfer/weights/ (with their SHA256SUMS), kept in /root/weights; a
      # checkpoint of 88 MB does not fit one call beside the tree, so it comes in two
      mkdir -p /root/weights && cp -v ../.xfer/weights/* /root/weights/ ;;
    init7)  # model v7 starts from v6's fp16 weights (`weights` carried them: weights6.pt.part-*), checked by sha256
      cat /root/weights/weights6.pt.part-* > /root/weights/weights6.pt
      (cd /root/weights && sha256sum -c SHA256SUMS) ;;
    train7)  # v7: v6 trained on at a low peak (LR7) on mix C (prose three times: `MIXES=C:3 ... data3`), so that
      # prose gains most; evaluated by kind against v6 and exported with the window it was trained at, 512
      MIX=C WINDOW=512 background_run 7 llmc-base-v7 ${SECONDS7:-900} /root/weights/weights6.pt \
        --n_layer=24 --init_from=/root/weights/weights6.pt --learning_rate=${LR7:-1.5e-4}
      sleep 90; tail -n 3 ../work/train7.log ;;
    wait4|wait5|wait6|wait7)  # until the run, its evaluation and its export end, or WAIT seconds pass; unless the export is done
      # (then pack brings the folder, and both would not fit $OUT), the last checkpoint's weights come back too, so
      # that a machine lost between calls loses only what came after (a new run can start from them)
      run=${step#wait}
      follow out$run ../work/train$run*.log  # the run's shell names train.py and its out folder until the export ends
      [ -f ../work/v$run/exported ] || [ ! -f ../work/out$run/ckpt.pt ] || keep_weights out$run weights$run ;;
    moreweights)  # the parts of the last weights that the call before had no room for
      more_weights ;;
    pack4|pack5|pack6|pack7)  # the run's model folder (int8 graphs only) in 15 MB parts for the trip back, and its evaluation
      run=${step#pack}
      cp ../work/out$run/reference.json ../work/v$run/llmc-base-v$run/ && cp ../work/eval$run*.md "$OUT/"
      pack v$run llmc-base-v$run ;;
    vocab3)  # #14's vocabulary on the new mix (train/README.md, "Vocabulary on the new mix"): for each size, one
      # background job tokenizes about half of mix A's documents (each source in its share; `data3` writes them) with
      # a BPE that prepare.py trains on them (16384: v3's tokenizer), and each kind's validation documents apart, then
      # trains the M shape from scratch for VSTEPS steps and evaluates it by kind; the three share the machine
      local_mb=$((${LOCAL_MB:-300} / 2))
      shards="../work/v3/prose.jsonl=365 ../work/v3/rest.jsonl=517 ../work/v2/local/local-*.jsonl=$local_mb"
      for v in 8192 16384 32768; do d=../work/vocab3-$v; tok=''
        [ $v = 16384 ] && tok=--tokenizer=../work/v3/A/tokenizer.json  # data3 keeps v3's tokenizer there
        setsid nohup bash -c "python prepare.py --shards='$shards' --vocab_size=$v $tok --out_dir=$d/A \
          && for part in prose rest; do \
               python prepare.py --shards=../work/v3/\$part.jsonl --tokenizer=$d/A/tokenizer.json --max_train_mb=1 \
                 --out_dir=$d/\$part || exit 1; done \
          && python train.py $(sizes M) --data_dir=$d/A --out_dir=$d/out --max_iters=${VSTEPS:-4000} \
               --warmup_iters=200 --min_lr=2e-4 --eval_interval=1000 \
          && python evaluate.py --checkpoints=$d/out/ckpt.pt --data_dirs='$d/prose $d/rest' > $d/eval.md" \
          > ../work/vocab3-$v.log 2>&1 < /dev/null &
      done
      sleep 60; tail -n 2 ../work/vocab3-*.log ;;
    waitvocab3)  # until the three jobs end, or WAIT seconds pass; then each one's table and bytes per token
      follow vocab3- ../work/vocab3-*.log  # each job's shell names train.py and its folder from its start to its end
      for v in 8192 16384 32768; do cat ../work/vocab3-$v/eval.md 2>/dev/null || true
        grep -h val_bytes_per_token ../work/vocab3-$v/*/meta.json 2>/dev/null | tr -d ' ' || true; done ;;
    *) echo "unknown step $step"; exit 1 ;;
  esac
done
