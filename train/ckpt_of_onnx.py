"""An exported folder's graph -> a checkpoint (ckpt.pt) that train.py and export.py read.

From the fp32 graph (onnx/model.onnx) the checkpoint is the one it was exported from, bit for bit: the weights are
the graph's initializers (linear layers were stored transposed under their node's name). Where a folder ships only
its int8 graph (onnx/model_quantized.onnx, as llmc-base-v2 does), the weights are that graph's 8-bit values times
their scales: not the trained weights, but close enough to start a run from (train.py's init_from). The tied head's
symmetric int8 copy is used for the shared embedding, as it is the finer of the two.
"""
import json
import os

import onnx
import torch
from onnx import numpy_helper

from configure import override

model_dir = 'model'  # an exported folder with config.json and onnx/model.onnx or onnx/model_quantized.onnx
out_dir = 'out'  # where ckpt.pt is written
override(globals())


def linear_weights(path):
    """{module path ('layers.0/self_attn/q_proj', '' for the tied head): weight as stored (in x out)}, and the other
    weights by name."""
    graph = onnx.load(path).graph
    raw = {i.name: numpy_helper.to_array(i) for i in graph.initializer}

    def value(name):  # an initializer, dequantized where the int8 graph stored it as 8-bit values and a scale
        if not name.endswith('_quantized'):
            return raw[name]
        base = name.removesuffix('_quantized')
        zero_point = raw[base + '_zero_point'].astype('float32')
        return (raw[name].astype('float32') - zero_point) * raw[base + '_scale']

    others = {name: w for name, w in raw.items()
              if name.startswith('model.') and not name.endswith(('_quantized', '_scale', '_zero_point'))}
    linears = {}
    for node in graph.node:  # '/layers.0/self_attn/q_proj/MatMul' (or '.../MatMul_quant') -> its weight
        if node.op_type in ('MatMul', 'MatMulInteger') and node.input[1] in raw:
            linears[node.name.removesuffix('_quant').removesuffix('MatMul').strip('/')] = value(node.input[1])
    return linears, others


def main():
    config = json.load(open(os.path.join(model_dir, 'config.json')))
    fp32 = os.path.join(model_dir, 'onnx', 'model.onnx')
    linears, others = linear_weights(fp32 if os.path.exists(fp32) else os.path.join(model_dir, 'onnx', 'model_quantized.onnx'))
    state = {name.removeprefix('model.'): torch.from_numpy(w.copy()) for name, w in others.items()}
    for name, w in linears.items():
        if name == '':  # the tied head: the embedding, transposed
            state.setdefault('embed_tokens.weight', torch.from_numpy(w.T.copy()))
        else:
            state[name.replace('/', '.') + '.weight'] = torch.from_numpy(w.T.copy())
    llmc = config['llmc']
    model_config = dict(vocab_size=config['vocab_size'], n_layer=config['num_hidden_layers'], n_head=config['num_attention_heads'],
                        n_kv_head=config['num_key_value_heads'], n_embd=config['hidden_size'], ffn=config['intermediate_size'],
                        rope_theta=config['rope_theta'], norm_eps=config['rms_norm_eps'])
    os.makedirs(out_dir, exist_ok=True)
    torch.save({'model': state, 'config': model_config, 'settings': llmc['settings'], 'iter': llmc['iters'],
                'val_loss': llmc['val_loss'], 'val_bpb': llmc['val_bpb']}, os.path.join(out_dir, 'ckpt.pt'))
    print(f'wrote {out_dir}/ckpt.pt: {len(state)} tensors', flush=True)


if __name__ == '__main__':
    main()
