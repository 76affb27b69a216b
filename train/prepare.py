"""Corpus shards -> byte-level BPE tokenizer -> token files for train.py.

Reads JSONL shards ({"title", "text", ...} per line; zstd, xz or plain), each glob of `shards` up to its cap of
text, so that the caps set the mix of kinds; holds out every document whose title hashes into the validation bucket, trains a byte-level BPE with no
normalisation (so decode(encode(text)) == text for any UTF-8 string), and writes uint16 token files with
<|endoftext|> (id 0) before every document.
"""
import glob
import json
import lzma
import multiprocessing as mp
import os
import subprocess
import time
import zlib

import numpy as np
from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers

from configure import override

shards = '../.data*/shard-*.jsonl.*'  # globs of shard files, separated by spaces, each with an optional '=MB' cap
out_dir = 'data'
vocab_size = 16384
tokenizer_sample_mb = 200  # training text the BPE merges are learnt from
max_train_mb = 0  # 0 = all training text
val_bucket = 128  # one document in this many (by title hash) goes to validation
tokenizer = ''  # an existing tokenizer.json to reuse instead of training one (to add shards to a data set)

EOT = '<|endoftext|>'


def open_shard(path):
    if path.endswith('.zst'):
        return subprocess.Popen(['zstd', '-dc', '--long=27', path], stdout=subprocess.PIPE).stdout
    return lzma.open(path, 'rb') if path.endswith('.xz') else open(path, 'rb')


def documents():
    """(source, title, text) of every document, each source (one glob of `shards`) up to its cap of text."""
    for source in shards.split():
        pattern, _, cap = source.partition('=')
        taken = 0
        for path in sorted(glob.glob(pattern)):
            for line in open_shard(path):
                if cap and taken >= float(cap) * 1e6:
                    break
                doc = json.loads(line)
                taken += len(doc['text'])
                yield pattern, doc['title'], doc['text']


def is_validation(title):
    return zlib.crc32(title.encode()) % val_bucket == 0


def train_tokenizer(texts):
    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=vocab_size, special_tokens=[EOT], show_progress=False,
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet())
    tok.train_from_iterator(texts, trainer)
    return tok


def _start_worker(tokenizer_json):
    global _tok
    _tok = Tokenizer.from_str(tokenizer_json)


def _encode(texts):
    """One batch as uint16 tokens with <|endoftext|> before each document, its count of text tokens and of bytes."""
    eot = _tok.token_to_id(EOT)
    ids = [np.array([eot] + enc.ids, dtype=np.uint16) for enc in _tok.encode_batch(texts)]
    return np.concatenate(ids), sum(len(i) - 1 for i in ids), sum(len(t.encode()) for t in texts)


def write_tokens(tok, texts, path):
    """Tokenizes in a pool of processes (one process spent most of model v2's data step here), in order."""
    n_tokens = n_bytes = 0
    batches = (texts[i:i + 256] for i in range(0, len(texts), 256))
    with mp.get_context('fork').Pool(os.cpu_count(), _start_worker, (tok.to_str(),)) as pool, open(path, 'wb') as f:
        for ids, count, size in pool.imap(_encode, batches, chunksize=4):
            f.write(ids.tobytes())
            n_tokens += count
            n_bytes += size
    return n_tokens, n_bytes


def main():
    t0 = time.time()
    os.makedirs(out_dir, exist_ok=True)
    train_texts, val_texts = [], []
    train_bytes = 0
    per_source = {}
    for source, title, text in documents():
        if is_validation(title):
            val_texts.append(text)
        elif not max_train_mb or train_bytes < max_train_mb * 1e6:
            train_texts.append(text)
            train_bytes += len(text)
            per_source[source] = per_source.get(source, 0) + len(text)
    print(f'{len(train_texts)} train docs ({train_bytes / 1e6:.0f} MB), {len(val_texts)} validation docs, {time.time() - t0:.0f}s')
    print('training text per source (M characters):', {k: round(v / 1e6) for k, v in per_source.items()})

    if tokenizer:
        tok = Tokenizer.from_file(tokenizer)
    else:
        # every k-th document, so that the sample holds each source in its share (shards are shuffled within)
        sample, size = [], 0
        for text in train_texts[::max(1, int(train_bytes / (tokenizer_sample_mb * 1e6)))]:
            if size > tokenizer_sample_mb * 1e6:
                break
            sample.append(text)
            size += len(text)
        tok = train_tokenizer(sample)
        print(f'tokenizer {vocab_size}: trained on {size / 1e6:.0f} MB in {time.time() - t0:.0f}s')
    tok.save(os.path.join(out_dir, 'tokenizer.json'))
    assert all(tok.decode(tok.encode(t).ids) == t for t in val_texts[:50]), 'tokenizer does not round-trip'

    val_tokens, val_bytes = write_tokens(tok, val_texts, os.path.join(out_dir, 'val.bin'))
    train_tokens, _ = write_tokens(tok, train_texts, os.path.join(out_dir, 'train.bin'))
    meta = dict(vocab_size=vocab_size, train_tokens=train_tokens, val_tokens=val_tokens,
                val_bytes=val_bytes, val_bytes_per_token=val_bytes / val_tokens, train_chars_per_source=per_source)
    with open(os.path.join(out_dir, 'meta.json'), 'w') as f:
        json.dump(meta, f, indent=1)
    print(json.dumps(meta), f'{time.time() - t0:.0f}s')


if __name__ == '__main__':
    override(globals())  # here, so that vocab_bytes.py can import is_validation with the defaults
    main()
