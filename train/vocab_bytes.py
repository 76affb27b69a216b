"""Bytes per token of tokenizers, on a JSONL sample's validation documents by kind and on files: the speed side of the
vocabulary question (a model's cost is per token, so bytes per token scale its speed in bytes; what each vocabulary
does to bits per byte needs a model trained with it, on the GPU machine: README.md, "Vocabulary size").

    python vocab_bytes.py --sample=mix.jsonl --tokenizers='a/tokenizer.json b/tokenizer.json' --files='x.txt y.js'

The validation documents are prepare.py's (is_validation: one in 128 by title); prose is Gutenberg and Wikipedia, the rest everything else.
"""
import json
import os

from tokenizers import Tokenizer

from configure import override
from prepare import is_validation

sample = ''  # JSONL documents ({"title", "text", "kind"}), e.g. every 8th line of `corpus.py export`
tokenizers = ''  # tokenizer.json files, separated by spaces
files = ''  # files, separated by spaces
override(globals())


def parts():
    """{part: texts} of the sample's validation documents, then each file as a part of its own."""
    found = {'prose': [], 'rest': []}
    with open(sample, 'rb') as f:
        for line in f:
            doc = json.loads(line)
            if is_validation(doc['title']):
                found['prose' if doc.get('kind') in ('prose-gutenberg', 'prose-wikipedia') else 'rest'].append(doc['text'])
    for path in files.split():
        found[os.path.basename(path)] = [open(path, encoding='utf-8', newline='').read()]
    return found


texts = parts()
print('| tokenizer | vocabulary | ' + ' | '.join(f'{k} ({sum(len(t.encode()) for t in v) / 1e3:.0f} kB)' for k, v in texts.items()) + ' |')
print('|---|---:|' + '---:|' * len(texts))
for path in tokenizers.split():
    tok = Tokenizer.from_file(path)
    cells = []
    for part in texts.values():
        count = sum(len(e.ids) for e in tok.encode_batch(part, add_special_tokens=False))
        cells.append(f'{sum(len(t.encode()) for t in part) / count:.3f}')
    print(f'| {path} | {tok.get_vocab_size()} | ' + ' | '.join(cells) + ' |', flush=True)
