"""An exported folder's fp32 graph -> the checkpoint it was exported from (ckpt.pt), bit for bit: the weights are
the graph's initializers (linear layers were stored transposed under their node's name). Lets export.py rebuild
a folder whose training checkpoint was not kept.
"""
import json
import os

import onnx
import torch
from onnx import numpy_helper

from configure import override

model_dir = 'model'  # an exported folder with config.json and onnx/model.onnx
out_dir = 'out'  # where ckpt.pt is written
override(globals())


def main():
    config = json.load(open(os.path.join(model_dir, 'config.json')))
    graph = onnx.load(os.path.join(model_dir, 'onnx', 'model.onnx')).graph
    weights = {i.name: numpy_helper.to_array(i) for i in graph.initializer}
    state = {name.removeprefix('model.'): torch.from_numpy(w.copy()) for name, w in weights.items() if name.startswith('model.')}
    for node in graph.node:  # '/layers.0/self_attn/q_proj/MatMul' -> 'layers.0.self_attn.q_proj.weight'
        if node.op_type == 'MatMul' and node.input[1] in weights and node.name != '/MatMul':  # '/MatMul': the tied head
            state[node.name.strip('/').removesuffix('/MatMul').replace('/', '.') + '.weight'] = torch.from_numpy(weights[node.input[1]].T.copy())
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
