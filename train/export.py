"""Checkpoint -> a Hugging Face / transformers.js model folder: config.json, generation_config.json, tokenizer.json,
tokenizer_config.json and three graphs in fp32 and int8 that share one weights file per dtype:
- onnx/model.onnx, model_quantized.onnx: the transformers.js graph (past_key_values.N.key/value in, present out);
- onnx/stepper.onnx, stepper_quantized.onnx: the pipeline's graph, a fixed set of cache slots in and only the new
  keys/values out, so a step copies nothing but what it adds, and the next token's logits and softmax (src/model.ts);
- onnx/coder.onnx, coder_quantized.onnx: for GPUs, the cache in and out (it stays on the device, keys transposed)
  and the exact coder's frequencies computed in the graph, so a step returns a few numbers per row;
- onnx/model.onnx_data, model_quantized.onnx_data: the weights of each pair;
- onnx/integer.onnx, integer.json: the integer graph (integer.py), the pipeline's default on the CPU, whose
  attention shifts come from train/calibrate.ts on corpus text when Node is here.
Also writes reference.json (torch's logits for fixed tokens) next to the checkpoint, and when Node is here runs
train/check.ts, which compares every graph with it through the real inference path and records the differences.
"""
import base64
import json
import os
import shutil
import subprocess
import sys
import tempfile

import numpy as np
import onnx
import torch
import torch.nn.functional as F

from configure import override
from integer import write_integer_graph
from model import GPT, Config
from quantize import quantize, save_sharing_weights

out_dir = 'out'  # holds ckpt.pt
data_dir = 'data'  # holds tokenizer.json and meta.json
model_dir = 'model'  # the folder written
name = 'llmc'
window = 512  # context window the pipeline uses by default (= training block_size)
calibration_shard = '../../shared/corpus/shard-00.jsonl.zst'  # corpus text for the integer graph's attention shifts
override(globals())
REFERENCE_POSITIONS = [0, 7, 15, 23]  # of 24 tokens, in 2 rows


class OnnxWrapper(torch.nn.Module):
    """Flat tensor arguments, as ONNX and transformers.js name them."""

    def __init__(self, model):
        super().__init__()
        self.model = model

    def forward(self, input_ids, attention_mask, position_ids, *flat_past):
        past = [(flat_past[i], flat_past[i + 1]) for i in range(0, len(flat_past), 2)]
        logits, presents = self.model.forward_cached(input_ids, attention_mask, position_ids, past)
        return (logits, *[t for kv in presents for t in kv])


class StepperWrapper(torch.nn.Module):
    """The stepper graph's flat arguments; it also gives the softmax, which onnxruntime computes many times
    faster than JavaScript can, and the same way on both sides."""

    def __init__(self, model):
        super().__init__()
        self.model = model

    def forward(self, input_ids, position_ids, slot_mask, *flat_slots):
        slots = [(flat_slots[i], flat_slots[i + 1]) for i in range(0, len(flat_slots), 2)]
        logits, news = self.model.forward_slots(input_ids, position_ids, slot_mask, slots)
        return (logits, torch.softmax(logits, dim=-1), *[t for kv in news for t in kv])


class CoderWrapper(torch.nn.Module):
    """The coder graph: the stepper's step with the cache in and out (a device keeps it between steps), and the
    exact coder's integer frequencies computed in the graph, so that a step moves a few numbers per row, not a
    distribution. `code` is, per row, the token to code (encoder) or the rANS decoder's value (decoder); the graph
    answers for both, with frequencies summing to `total` (2^precision): `coded` = [start, frequency, rank, probability] of token `code`, and `decoded` = [token,
    start, frequency, rank, probability] of the token whose interval holds `code`."""

    def __init__(self, model):
        super().__init__()
        self.model = model

    def forward(self, input_ids, position_ids, code, total, *flat_cache):
        cache = [(flat_cache[i], flat_cache[i + 1]) for i in range(0, len(flat_cache), 2)]
        logits, updated = self.model.forward_window(input_ids, position_ids, cache)
        probs = torch.softmax(logits, dim=-1)
        coded, decoded = code_tables(logits, probs, code.float()[:, None], total)
        return (coded, decoded, *[t for kv in updated for t in kv])


def upper(n, diagonal=0):
    """The n x n matrix of ones on and above the given diagonal, zeros below."""
    return (torch.arange(n)[:, None] + diagonal <= torch.arange(n)[None, :]).float()


def inclusive_cumsum(x, within_block):
    """Cumulative sums along the last axis as two small matrix products (within blocks, by within_block =
    upper(block), then across blocks): exact for integer values whose sums stay below 2^24 in float32, and a
    device runs it as fast as any matrix product, where a plain cumulative sum may be one long serial loop."""
    B, V = x.shape
    block = within_block.shape[0]
    blocks = -(-V // block)
    if blocks * block > V:
        x = F.pad(x, (0, blocks * block - V))
    within = x.view(B, blocks, block) @ within_block
    before = within[..., -1] @ upper(blocks, 1)
    return (within + before[..., None]).view(B, blocks * block)[:, :V]


def code_tables(logits, probs, code, total):
    """The exact coder's table per row, as src/ranks.ts Frequencies defines it in JavaScript, in float32: each
    token 1 + floor(p * scale), the rest of `total` to the most probable token (the first of equals), which comes
    first in the cumulative order, the others after it by id. Every value is an integer below 2^24, so float32
    holds it exactly. scale keeps 2^-12 of the total in hand, so rounding in the sum of p cannot overdraw it."""
    V = probs.shape[-1]
    ids = torch.arange(V, dtype=torch.float32)[None]
    within_block = upper(128)
    freq = 1 + torch.floor(probs * ((total - V) * (1 - 2 ** -12) / probs.sum(-1, keepdim=True)))
    best = (probs == probs.max(-1, keepdim=True).values).float()
    top = (best * (inclusive_cumsum(best, within_block) == 1)).float()  # one-hot of the first most probable token
    freq = freq + top * (total - freq.sum(-1, keepdim=True))
    top_freq = (freq * top).sum(-1, keepdim=True)
    rest = freq * (1 - top)
    ends = top_freq + inclusive_cumsum(rest, within_block)  # end of each token's interval (the top token's lies at 0)
    starts = (ends - rest) * (1 - top)  # arithmetic, not a Where on zeros: onnxruntime makes those on the CPU

    # Logic over whole rows is done in float32 (products of 0/1 values): WebGPU has no kernel for And on
    # booleans, and onnxruntime would take each row to the CPU and back for it.
    def describe(token_onehot):
        pick = lambda t: (t * token_onehot).sum(-1, keepdim=True)
        target = pick(logits)
        ties_before = (logits == target).float() * (ids < pick(ids)).float()
        rank = (logits > target).float().sum(-1, keepdim=True) + ties_before.sum(-1, keepdim=True)
        return [pick(starts), pick(freq), rank, pick(probs)]

    coded = describe((ids == code.clamp(max=V - 1)).float())
    holder = (starts <= code).float() * (code < starts + freq).float()
    decoded = describe(holder)
    token = (holder * ids).sum(-1, keepdim=True)
    return torch.cat(coded, -1), torch.cat([token] + decoded, -1)


def export_onnx(model, path):
    c = model.c
    names_past = [f'past_key_values.{i}.{kv}' for i in range(c.n_layer) for kv in ('key', 'value')]
    names_present = [f'present.{i}.{kv}' for i in range(c.n_layer) for kv in ('key', 'value')]
    B, T, P = 2, 3, 4
    args = (torch.randint(0, c.vocab_size, (B, T)), torch.ones(B, P + T, dtype=torch.int64),
            torch.arange(P, P + T)[None].repeat(B, 1),
            *[torch.randn(B, c.n_kv_head, P, c.head_dim) for _ in names_past])
    dynamic = {'input_ids': {0: 'batch_size', 1: 'sequence_length'},
               'attention_mask': {0: 'batch_size', 1: 'total_sequence_length'},
               'position_ids': {0: 'batch_size', 1: 'sequence_length'},
               'logits': {0: 'batch_size', 1: 'sequence_length'}}
    dynamic.update({n: {0: 'batch_size', 2: 'past_sequence_length'} for n in names_past})
    dynamic.update({n: {0: 'batch_size', 2: 'total_sequence_length'} for n in names_present})
    torch.onnx.export(OnnxWrapper(model), args, path, dynamo=False, opset_version=17,
                      input_names=['input_ids', 'attention_mask', 'position_ids', *names_past],
                      output_names=['logits', *names_present], dynamic_axes=dynamic)


def export_stepper(model, path):
    c = model.c
    names_slots = [f'slots.{i}.{kv}' for i in range(c.n_layer) for kv in ('key', 'value')]
    names_new = [f'new.{i}.{kv}' for i in range(c.n_layer) for kv in ('key', 'value')]
    B, T, S = 2, 3, 4
    args = (torch.randint(0, c.vocab_size, (B, T)), torch.arange(S, S + T)[None].repeat(B, 1),
            torch.ones(B, S, dtype=torch.bool), *[torch.randn(B, c.n_kv_head, S, c.head_dim) for _ in names_slots])
    dynamic = {'input_ids': {0: 'batch_size', 1: 'sequence_length'}, 'position_ids': {0: 'batch_size', 1: 'sequence_length'},
               'slot_mask': {0: 'batch_size', 1: 'slots'}, 'logits': {0: 'batch_size'}, 'probs': {0: 'batch_size'}}
    dynamic.update({n: {0: 'batch_size', 2: 'slots'} for n in names_slots})
    dynamic.update({n: {0: 'batch_size', 2: 'sequence_length'} for n in names_new})
    torch.onnx.export(StepperWrapper(model), args, path, dynamo=False, opset_version=17,
                      input_names=['input_ids', 'position_ids', 'slot_mask', *names_slots],
                      output_names=['logits', 'probs', *names_new], dynamic_axes=dynamic)


def export_coder(model, path):
    c = model.c
    names_cache = [f'cache.{i}.{kv}' for i in range(c.n_layer) for kv in ('key', 'value')]
    names_updated = [f'updated.{i}.{kv}' for i in range(c.n_layer) for kv in ('key', 'value')]
    B, T, S = 2, 3, 4
    shape = lambda name, length: (B, c.n_kv_head, c.head_dim, length) if name.endswith('key') else (B, c.n_kv_head, length, c.head_dim)
    args = (torch.randint(0, c.vocab_size, (B, T)), torch.arange(S, S + T)[None].repeat(B, 1),
            torch.randint(0, c.vocab_size, (B,), dtype=torch.int32), torch.tensor([2.0 ** 24]),
            *[torch.randn(shape(n, S)) for n in names_cache])
    dynamic = {'input_ids': {0: 'batch_size', 1: 'sequence_length'}, 'position_ids': {0: 'batch_size', 1: 'sequence_length'},
               'code': {0: 'batch_size'}, 'coded': {0: 'batch_size'}, 'decoded': {0: 'batch_size'}}
    length_axis = lambda name: 3 if name.endswith('key') else 2  # keys are kept transposed (model.py)
    dynamic.update({n: {0: 'batch_size', length_axis(n): 'cache_length'} for n in names_cache})
    dynamic.update({n: {0: 'batch_size', length_axis(n): 'updated_length'} for n in names_updated})
    torch.onnx.export(CoderWrapper(model), args, path, dynamo=False, opset_version=17,
                      input_names=['input_ids', 'position_ids', 'code', 'total', *names_cache],
                      output_names=['coded', 'decoded', *names_updated], dynamic_axes=dynamic)


def write_graphs(model):
    """Both graphs in fp32 and int8, each pair sharing one weights file."""
    onnx_dir = os.path.join(model_dir, 'onnx')
    os.makedirs(onnx_dir, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        export_onnx(model, os.path.join(tmp, 'model.onnx'))
        export_stepper(model, os.path.join(tmp, 'stepper.onnx'))
        export_coder(model, os.path.join(tmp, 'coder.onnx'))
        graphs = {g: onnx.load(os.path.join(tmp, f'{g}.onnx')) for g in ('model', 'stepper', 'coder')}
    # The coder graph runs on devices without integer matrix kernels: its int8 weights are widened to float32
    # for float32 products (the same weights, shared with the other graphs' file).
    quantized = {g: quantize(m, weights_only=g == 'coder') for g, m in graphs.items()}
    save_sharing_weights({os.path.join(onnx_dir, f'{g}.onnx'): m for g, m in graphs.items()}, os.path.join(onnx_dir, 'model.onnx_data'))
    save_sharing_weights({os.path.join(onnx_dir, f'{g}_quantized.onnx'): m for g, m in quantized.items()},
                         os.path.join(onnx_dir, 'model_quantized.onnx_data'))


def write_reference(model, c, path):
    """torch's logits at REFERENCE_POSITIONS for two rows of 24 fixed tokens (float32, base64)."""
    ids = np.random.default_rng(0).integers(1, c.vocab_size, (2, 24)).astype(np.int64)
    with torch.no_grad():
        logits = model(torch.from_numpy(ids))[:, REFERENCE_POSITIONS].float().numpy()
    json.dump({'ids': ids.tolist(), 'positions': REFERENCE_POSITIONS,
               'logits': base64.b64encode(logits.astype('<f4').tobytes()).decode()}, open(path, 'w'))


def run_in_node(script, *args):
    """A script of the repository run with Node from its root; its standard output, or its error output as the
    reason when it fails (a bare exit status said nothing when check.ts failed on the GPU machine)."""
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    result = subprocess.run(['node', '--import', 'tsx', script, *args], cwd=root, capture_output=True, text=True)
    if result.returncode != 0:
        sys.exit(f'export.py: {script} failed ({result.returncode}):\n{result.stderr[-2000:]}')
    return result.stdout


def calibrate_in_node():
    """train/calibrate.ts's measurements on corpus text (calibration.json next to the checkpoint), or '' when Node or
    the corpus shard is not here, as on the GPU machine (the integer graph then takes default shifts; rerun
    integer.py with --calibration later)."""
    if shutil.which('node') is None or not os.path.exists(calibration_shard):
        return ''
    path = os.path.abspath(os.path.join(out_dir, 'calibration.json'))
    open(path, 'w').write(run_in_node('train/calibrate.ts', os.path.abspath(model_dir), os.path.abspath(calibration_shard), '3000'))
    return path


def check_in_node(reference):
    """train/check.ts's report (max |logit differences|), or a note when Node is not here."""
    if shutil.which('node') is None:
        return {'skipped': 'no node on this machine; run: node --import tsx train/check.ts MODEL_DIR REFERENCE'}
    return json.loads(run_in_node('train/check.ts', os.path.abspath(model_dir), os.path.abspath(reference)))


def main():
    ckpt = torch.load(os.path.join(out_dir, 'ckpt.pt'), map_location='cpu')
    c = Config(**ckpt['config'])
    model = GPT(c)
    model.load_state_dict(ckpt['model'])
    model.eval()
    write_graphs(model)
    reference = os.path.join(out_dir, 'reference.json')
    write_reference(model, c, reference)

    shutil.copy(os.path.join(data_dir, 'tokenizer.json'), model_dir)
    meta = json.load(open(os.path.join(data_dir, 'meta.json')))
    config = {
        'model_type': 'llama', 'architectures': ['LlamaForCausalLM'], 'vocab_size': c.vocab_size,
        'hidden_size': c.n_embd, 'intermediate_size': c.ffn, 'num_hidden_layers': c.n_layer,
        'num_attention_heads': c.n_head, 'num_key_value_heads': c.n_kv_head, 'head_dim': c.head_dim,
        'hidden_act': 'silu', 'rms_norm_eps': c.norm_eps, 'rope_theta': c.rope_theta,
        'max_position_embeddings': window, 'tie_word_embeddings': True,
        'bos_token_id': 0, 'eos_token_id': 0, 'torch_dtype': 'float32',
        'transformers.js_config': {'use_external_data_format': {'model.onnx': 1, 'model_quantized.onnx': 1}},
        'llmc': {'name': name, 'window': window, 'params': model.num_params(), 'iters': ckpt['iter'],
                 'val_loss': ckpt['val_loss'], 'val_bpb': ckpt['val_bpb'], 'settings': ckpt['settings'],
                 'data': meta},
    }
    config_path = os.path.join(model_dir, 'config.json')
    json.dump(config, open(config_path, 'w'), indent=1)
    json.dump({'bos_token_id': 0, 'eos_token_id': 0}, open(os.path.join(model_dir, 'generation_config.json'), 'w'))
    json.dump({'tokenizer_class': 'PreTrainedTokenizerFast', 'bos_token': '<|endoftext|>',
               'eos_token': '<|endoftext|>', 'unk_token': None, 'clean_up_tokenization_spaces': False,
               'model_max_length': window}, open(os.path.join(model_dir, 'tokenizer_config.json'), 'w'), indent=1)
    write_integer_graph(model_dir)  # default shifts first: calibration runs the integer model itself
    write_integer_graph(model_dir, calibrate_in_node())
    config['llmc']['export_check'] = check_in_node(reference)
    print(config['llmc']['export_check'], flush=True)
    json.dump(config, open(config_path, 'w'), indent=1)
    print(f'wrote {model_dir}: {model.num_params() / 1e6:.2f}M parameters', flush=True)


if __name__ == '__main__':
    main()
