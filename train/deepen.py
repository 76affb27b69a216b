"""A checkpoint -> one twice as deep that computes the same function, to train a larger model from a smaller one.

Each layer is followed by a copy of itself whose two output projections (attention's o_proj, the MLP's down_proj)
are zero, so the copy adds nothing to the residual stream until training moves them. The copies start from trained
weights rather than noise, and the run begins at the smaller model's loss instead of far above it (the block
expansion of LLaMA Pro, Wu et al. 2024).
"""
import os

import torch

from configure import override

init_from = 'out/ckpt.pt'  # the smaller model's checkpoint (train.py's, or ckpt_of_onnx.py's)
out_dir = 'deeper'  # where the deeper ckpt.pt goes
override(globals())

OUTPUT_PROJECTIONS = ('self_attn.o_proj.weight', 'mlp.down_proj.weight')


def deepen(state):
    """The state dict of a 2 * n_layer model: layer i becomes layers 2i (itself) and 2i + 1 (its silent copy)."""
    deeper = {name: w for name, w in state.items() if not name.startswith('layers.')}
    for name, w in state.items():
        if name.startswith('layers.'):
            _, index, rest = name.split('.', 2)
            deeper[f'layers.{2 * int(index)}.{rest}'] = w.clone()
            deeper[f'layers.{2 * int(index) + 1}.{rest}'] = torch.zeros_like(w) if rest in OUTPUT_PROJECTIONS else w.clone()
    return deeper


def main():
    ckpt = torch.load(init_from, map_location='cpu')
    config = dict(ckpt['config'], n_layer=2 * ckpt['config']['n_layer'])
    os.makedirs(out_dir, exist_ok=True)
    torch.save({'model': deepen(ckpt['model']), 'config': config, 'settings': ckpt['settings'],
                'iter': 0, 'val_loss': ckpt['val_loss'], 'val_bpb': ckpt['val_bpb']}, os.path.join(out_dir, 'ckpt.pt'))
    print(f"wrote {out_dir}/ckpt.pt: {ckpt['config']['n_layer']} -> {config['n_layer']} layers", flush=True)


if __name__ == '__main__':
    main()
