"""Bits per byte of checkpoints on the validation tokens of data folders (prepare.py's val.bin and meta.json), each
folder apart: how a run does on each kind of text, where train.py reports one number for its whole mix.

    python evaluate.py --checkpoints='../work/out3A/ckpt.pt ../work/out3B/ckpt.pt' --data_dirs='../work/v3/prose ../work/v3/rest'

Every checkpoint sees the same windows (a fixed seed), so the numbers compare across checkpoints.
"""
import json
import math
import os

import numpy as np
import torch

from configure import override
from model import GPT, Config

checkpoints = ''  # ckpt.pt files, separated by spaces
data_dirs = ''  # folders with val.bin and meta.json, separated by spaces
block_size = 512
batch_size = 64
batches = 40
override(globals())
device = 'cuda' if torch.cuda.is_available() else 'cpu'


def bits_per_byte(model, data_dir):
    tokens = np.memmap(os.path.join(data_dir, 'val.bin'), dtype=np.uint16, mode='r')
    meta = json.load(open(os.path.join(data_dir, 'meta.json')))
    return model.mean_loss(tokens, block_size, batch_size, batches) / math.log(2) / meta['val_bytes_per_token']


print('| checkpoint | ' + ' | '.join(data_dirs.split()) + ' |')
print('|---|' + '---:|' * len(data_dirs.split()))
for path in checkpoints.split():
    ckpt = torch.load(path, map_location=device)
    model = GPT(Config(**ckpt['config'])).to(device).eval()
    model.load_state_dict({k: v.float() for k, v in ckpt['model'].items()})
    print(f'| {path} | ' + ' | '.join(f'{bits_per_byte(model, d):.4f}' for d in data_dirs.split()) + ' |', flush=True)
