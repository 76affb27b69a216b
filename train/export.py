"""Checkpoint -> a Hugging Face / transformers.js model folder: config.json, generation_config.json, tokenizer.json,
tokenizer_config.json and two graphs in fp32 and int8 that share one weights file per dtype:
- onnx/model.onnx, model_quantized.onnx: the transformers.js graph (past_key_values.N.key/value in, present out);
- onnx/stepper.onnx, stepper_quantized.onnx: the pipeline's graph, a fixed set of cache slots in and only the new
  keys/values out, so a step copies nothing but what it adds, and the next token's logits and softmax (src/model.ts);
- onnx/model.onnx_data, model_quantized.onnx_data: the weights of each pair.
Also writes reference.json (torch's logits for fixed tokens) next to the checkpoint, and when Node is here runs
train/check.ts, which compares every graph with it through the real inference path and records the differences.
"""
import base64
import json
import os
import shutil
import subprocess
import tempfile

import numpy as np
import onnx
import torch

from configure import override
from model import GPT, Config
from quantize import quantize, save_sharing_weights

out_dir = 'out'  # holds ckpt.pt
data_dir = 'data'  # holds tokenizer.json and meta.json
model_dir = 'model'  # the folder written
name = 'llmc'
window = 512  # context window the pipeline uses by default (= training block_size)
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


def write_graphs(model):
    """Both graphs in fp32 and int8, each pair sharing one weights file."""
    onnx_dir = os.path.join(model_dir, 'onnx')
    os.makedirs(onnx_dir, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        export_onnx(model, os.path.join(tmp, 'model.onnx'))
        export_stepper(model, os.path.join(tmp, 'stepper.onnx'))
        graphs = {g: onnx.load(os.path.join(tmp, f'{g}.onnx')) for g in ('model', 'stepper')}
    quantized = {g: quantize(m) for g, m in graphs.items()}
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


def check_in_node(reference):
    """train/check.ts's report (max |logit differences|), or a note when Node is not here."""
    if shutil.which('node') is None:
        return {'skipped': 'no node on this machine; run: node --import tsx train/check.ts MODEL_DIR REFERENCE'}
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    result = subprocess.run(['node', '--import', 'tsx', 'train/check.ts', os.path.abspath(model_dir), os.path.abspath(reference)],
                            cwd=root, check=True, capture_output=True, text=True)
    return json.loads(result.stdout)


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
    config['llmc']['export_check'] = check_in_node(reference)
    print(config['llmc']['export_check'], flush=True)
    json.dump(config, open(config_path, 'w'), indent=1)
    print(f'wrote {model_dir}: {model.num_params() / 1e6:.2f}M parameters', flush=True)


if __name__ == '__main__':
    main()
