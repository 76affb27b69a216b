"""Checkpoint -> a Hugging Face / transformers.js model folder:
config.json, generation_config.json, tokenizer.json, tokenizer_config.json, onnx/model.onnx (fp32, with
past_key_values.N.key/value inputs and present.N.key/value outputs) and onnx/model_quantized.onnx (int8).
Then checks with onnxruntime that the graph matches torch and that cached steps match a full pass.
"""
import json
import os
import shutil

import numpy as np
import onnxruntime as ort
import torch
from onnxruntime.quantization import QuantType, quantize_dynamic

from configure import override
from model import GPT, Config

out_dir = 'out'  # holds ckpt.pt
data_dir = 'data'  # holds tokenizer.json and meta.json
model_dir = 'model'  # the folder written
name = 'llmc'
window = 512  # context window the pipeline uses by default (= training block_size)
override(globals())


class OnnxWrapper(torch.nn.Module):
    """Flat tensor arguments, as ONNX and transformers.js name them."""

    def __init__(self, model):
        super().__init__()
        self.model = model

    def forward(self, input_ids, attention_mask, position_ids, *flat_past):
        past = [(flat_past[i], flat_past[i + 1]) for i in range(0, len(flat_past), 2)]
        logits, presents = self.model.forward_cached(input_ids, attention_mask, position_ids, past)
        return (logits, *[t for kv in presents for t in kv])


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


def run_onnx(session, c, ids, past=None):
    """Runs the graph on ids [B, T] after an optional past (list of arrays); returns logits and presents."""
    B, T = ids.shape
    P = 0 if past is None else past[0].shape[2]
    if past is None:
        past = [np.zeros((B, c.n_kv_head, 0, c.head_dim), np.float32)] * (2 * c.n_layer)
    feeds = {'input_ids': ids, 'attention_mask': np.ones((B, P + T), np.int64),
             'position_ids': np.tile(np.arange(P, P + T), (B, 1))}
    feeds.update({f'past_key_values.{i // 2}.{("key", "value")[i % 2]}': p for i, p in enumerate(past)})
    out = session.run(None, feeds)
    return out[0], out[1:]


def check(path, model, c, label):
    """Max |logit difference| against torch for a full pass, and of cached steps against that full pass."""
    session = ort.InferenceSession(path, providers=['CPUExecutionProvider'])
    ids = np.random.default_rng(0).integers(1, c.vocab_size, (2, 24)).astype(np.int64)
    with torch.no_grad():
        ref = model(torch.from_numpy(ids)).numpy()
    full, _ = run_onnx(session, c, ids)
    logits, past = run_onnx(session, c, ids[:, :8])
    steps = [logits]
    for t in range(8, ids.shape[1]):
        logits, past = run_onnx(session, c, ids[:, t:t + 1], past)
        steps.append(logits)
    stepped = np.concatenate(steps, axis=1)
    report = {f'{label}_vs_torch': float(np.abs(full - ref).max()),
              f'{label}_cached_vs_full': float(np.abs(stepped - full).max())}
    print(report, flush=True)
    return report


def main():
    ckpt = torch.load(os.path.join(out_dir, 'ckpt.pt'), map_location='cpu')
    c = Config(**ckpt['config'])
    model = GPT(c)
    model.load_state_dict(ckpt['model'])
    model.eval()
    os.makedirs(os.path.join(model_dir, 'onnx'), exist_ok=True)
    fp32 = os.path.join(model_dir, 'onnx', 'model.onnx')
    int8 = os.path.join(model_dir, 'onnx', 'model_quantized.onnx')
    export_onnx(model, fp32)
    quantize_dynamic(fp32, int8, weight_type=QuantType.QInt8)
    report = {**check(fp32, model, c, 'fp32'), **check(int8, model, c, 'int8')}

    shutil.copy(os.path.join(data_dir, 'tokenizer.json'), model_dir)
    meta = json.load(open(os.path.join(data_dir, 'meta.json')))
    config = {
        'model_type': 'llama', 'architectures': ['LlamaForCausalLM'], 'vocab_size': c.vocab_size,
        'hidden_size': c.n_embd, 'intermediate_size': c.ffn, 'num_hidden_layers': c.n_layer,
        'num_attention_heads': c.n_head, 'num_key_value_heads': c.n_kv_head, 'head_dim': c.head_dim,
        'hidden_act': 'silu', 'rms_norm_eps': c.norm_eps, 'rope_theta': c.rope_theta,
        'max_position_embeddings': window, 'tie_word_embeddings': True,
        'bos_token_id': 0, 'eos_token_id': 0, 'torch_dtype': 'float32',
        'llmc': {'name': name, 'window': window, 'params': model.num_params(), 'iters': ckpt['iter'],
                 'val_loss': ckpt['val_loss'], 'val_bpb': ckpt['val_bpb'], 'settings': ckpt['settings'],
                 'data': meta, 'export_check': report},
    }
    json.dump(config, open(os.path.join(model_dir, 'config.json'), 'w'), indent=1)
    json.dump({'bos_token_id': 0, 'eos_token_id': 0}, open(os.path.join(model_dir, 'generation_config.json'), 'w'))
    json.dump({'tokenizer_class': 'PreTrainedTokenizerFast', 'bos_token': '<|endoftext|>',
               'eos_token': '<|endoftext|>', 'unk_token': None, 'clean_up_tokenization_spaces': False,
               'model_max_length': window}, open(os.path.join(model_dir, 'tokenizer_config.json'), 'w'), indent=1)
    print(f'wrote {model_dir}: {model.num_params() / 1e6:.2f}M parameters', flush=True)


if __name__ == '__main__':
    main()
