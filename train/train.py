"""Trains the model of model.py on the token files of prepare.py. Plain values below; override with --key=value.

Writes out_dir/ckpt.pt at every evaluation and when max_seconds runs out, and resumes from it when
resume=1, so a run longer than one 10-minute GPU call continues in the next call.
"""
import json
import math
import os
import time

import numpy as np
import torch

from configure import override
from model import GPT, Config

data_dir = 'data'
out_dir = 'out'
n_layer = 6
n_head = 6
n_kv_head = 2
n_embd = 384
ffn = 1024
block_size = 512  # context length in training; the pipeline's default window matches it
batch_size = 64
max_iters = 10000
warmup_iters = 200
learning_rate = 2e-3
min_lr = 2e-4
weight_decay = 0.1
grad_clip = 1.0
eval_interval = 1000
eval_iters = 40
max_seconds = 0  # stop (with a checkpoint) after this long; 0 = no limit
schedule_seconds = 0  # when set, the cosine runs over this many seconds instead of max_iters (runs sharing a GPU,
                      # whose speed is not known beforehand); set max_seconds to the same
resume = 0
init_from = ''  # a ckpt.pt whose weights start this run (continued training: new data, a fresh optimizer and schedule)
teacher = ''  # a ckpt.pt of a model with the same vocabulary to learn from as well as from the data (distillation)
distill = 0.5  # with a teacher, the loss's share that is the KL divergence from the teacher's next-token distribution
seed = 1337
compile = 1
override(globals())

settings = {k: v for k, v in globals().items() if not k.startswith('_') and isinstance(v, (int, float, str))}
meta = json.load(open(os.path.join(data_dir, 'meta.json')))
config = Config(vocab_size=meta['vocab_size'], n_layer=n_layer, n_head=n_head, n_kv_head=n_kv_head,
                n_embd=n_embd, ffn=ffn)
device = 'cuda'
torch.manual_seed(seed)
torch.backends.cuda.matmul.allow_tf32 = True
os.makedirs(out_dir, exist_ok=True)
ckpt_path = os.path.join(out_dir, 'ckpt.pt')

splits = {s: np.memmap(os.path.join(data_dir, f'{s}.bin'), dtype=np.uint16, mode='r') for s in ('train', 'val')}
batch_rng = np.random.default_rng(seed)


def get_batch():
    data = splits['train']
    starts = batch_rng.integers(0, len(data) - block_size - 1, batch_size)
    rows = np.stack([data[s:s + block_size + 1] for s in starts]).astype(np.int64)
    rows = torch.from_numpy(rows).pin_memory().to(device, non_blocking=True)
    return rows[:, :-1], rows[:, 1:]


def lr_at(it, elapsed):
    if it < warmup_iters:
        return learning_rate * (it + 1) / warmup_iters
    if schedule_seconds:
        progress = min(1.0, elapsed / schedule_seconds)
    else:
        progress = min(1.0, (it - warmup_iters) / max(1, max_iters - warmup_iters))
    return min_lr + 0.5 * (learning_rate - min_lr) * (1 + math.cos(math.pi * progress))


def evaluate(model):
    model.eval()
    loss = model.mean_loss(splits['val'], block_size, batch_size, eval_iters)  # the same validation windows every time
    model.train()
    return loss, loss / math.log(2) / meta['val_bytes_per_token']


model = GPT(config).to(device)
decay = [p for p in model.parameters() if p.dim() >= 2]
no_decay = [p for p in model.parameters() if p.dim() < 2]
optimizer = torch.optim.AdamW([{'params': decay, 'weight_decay': weight_decay},
                               {'params': no_decay, 'weight_decay': 0.0}],
                              lr=learning_rate, betas=(0.9, 0.95), fused=True)
it = 0
if resume and os.path.exists(ckpt_path):
    ckpt = torch.load(ckpt_path, map_location=device)
    model.load_state_dict(ckpt['model'])
    optimizer.load_state_dict(ckpt['optimizer'])
    it = ckpt['iter']
    batch_rng = np.random.default_rng([seed, it])  # a fresh, reproducible stream for the continued run
elif init_from:
    model.load_state_dict({k: v.float() for k, v in torch.load(init_from, map_location=device)['model'].items()})
print(f'{model.num_params() / 1e6:.2f}M parameters, starting at iter {it}', flush=True)
step = torch.compile(model) if compile else model
teacher_step = None
if teacher:
    t = torch.load(teacher, map_location=device)
    assert t['config']['vocab_size'] == config.vocab_size, 'the teacher must share the vocabulary'
    teacher_model = GPT(Config(**t['config'])).to(device).eval().requires_grad_(False)
    teacher_model.load_state_dict({k: v.float() for k, v in t['model'].items()})
    teacher_step = torch.compile(teacher_model) if compile else teacher_model
    print(f'distilling from {teacher} ({teacher_model.num_params() / 1e6:.2f}M parameters), share {distill}', flush=True)


def save(val_loss, val_bpb):  # written whole, then renamed: a reader beside the run never sees half a checkpoint
    torch.save({'model': model.state_dict(), 'optimizer': optimizer.state_dict(), 'iter': it,
                'config': config.__dict__, 'settings': settings, 'val_loss': val_loss, 'val_bpb': val_bpb}, ckpt_path + '.part')
    os.replace(ckpt_path + '.part', ckpt_path)


t0 = time.time()
start_iter = it
tokens_per_iter = batch_size * block_size
x, y = get_batch()
while it < max_iters:
    for group in optimizer.param_groups:
        group['lr'] = lr_at(it, time.time() - t0)
    with torch.autocast('cuda', dtype=torch.bfloat16):
        if teacher_step is None:
            loss = step(x, y)
        else:
            with torch.no_grad():
                teacher_logits = teacher_step(x)
            loss = step(x, y, teacher_logits, distill)
    x, y = get_batch()  # fetch the next batch while the GPU works
    loss.backward()
    torch.nn.utils.clip_grad_norm_(model.parameters(), grad_clip)
    optimizer.step()
    optimizer.zero_grad(set_to_none=True)
    it += 1
    elapsed = time.time() - t0
    if it % 100 == 0:
        print(f'iter {it} loss {loss.item():.4f} lr {optimizer.param_groups[0]["lr"]:.2e} {(it - start_iter) * tokens_per_iter / elapsed / 1e6:.2f}M tok/s {elapsed:.0f}s', flush=True)
    out_of_time = max_seconds and elapsed > max_seconds
    if it % eval_interval == 0 or it == max_iters or out_of_time:
        val_loss, val_bpb = evaluate(model)
        print(f'iter {it}: val loss {val_loss:.4f} nats/token, {val_bpb:.4f} bits/byte', flush=True)
        save(val_loss, val_bpb)
    if out_of_time:
        print(f'stopping at iter {it}: max_seconds reached; resume=1 continues', flush=True)
        break
