"""A checkpoint -> a deeper one that computes the same function, to train a larger model from a smaller one.

Every `every`-th layer (all of them by default: twice as deep) is followed by a copy of itself whose two output
projections (attention's o_proj, the MLP's down_proj) are zero, so the copy adds nothing to the residual stream
until training moves them. The copies start from trained weights rather than noise, and the run begins at the
smaller model's loss instead of far above it (the block expansion of LLaMA Pro, Wu et al. 2024).
"""
import os

import torch

from configure import override

init_from = 'out/ckpt.pt'  # the smaller model's checkpoint (train.py's, or ckpt_of_onnx.py's)
out_dir = 'deeper'  # where the deeper ckpt.pt goes
every = 1  # layers i with i % every == every - 1 get a copy: 1 doubles the depth, 2 makes 16 layers 24
override(globals())

OUTPUT_PROJECTIONS = ('self_attn.o_proj.weight', 'mlp.down_proj.weight')


def deepen(state, n_layer):
    """The state dict of the deeper model: each layer in order, those chosen by `every` followed by a silent copy."""
    deeper = {name: w for name, w in state.items() if not name.startswith('layers.')}
    at = 0  # the index layer i takes in the deeper model
    for i in range(n_layer):
        copied = i % every == every - 1
        prefix = f'layers.{i}.'
        for name, w in state.items():
            if name.startswith(prefix):
                rest = name[len(prefix):]
                deeper[f'layers.{at}.{rest}'] = w.clone()
                if copied:
                    deeper[f'layers.{at + 1}.{rest}'] = torch.zeros_like(w) if rest in OUTPUT_PROJECTIONS else w.clone()
        at += 2 if copied else 1
    return deeper, at


def main():
    ckpt = torch.load(init_from, map_location='cpu')
    model, n_layer = deepen(ckpt['model'], ckpt['config']['n_layer'])
    config = dict(ckpt['config'], n_layer=n_layer)
    os.makedirs(out_dir, exist_ok=True)
    torch.save({'model': model, 'config': config, 'settings': ckpt['settings'],
                'iter': 0, 'val_loss': ckpt['val_loss'], 'val_bpb': ckpt['val_bpb']}, os.path.join(out_dir, 'ckpt.pt'))
    print(f"wrote {out_dir}/ckpt.pt: {ckpt['config']['n_layer']} -> {config['n_layer']} layers", flush=True)


if __name__ == '__main__':
    main()
