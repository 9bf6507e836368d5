"""Write ``pinned_losses.pt``: every loss term, a fingerprint of every gradient (the whole
gradient when small) and the loss buffers after one step of the tiny SkySenseV2 on the seeded
batch of ``tiny_pretraining.py``, from the weights of ``deterministic_init``.

Run once, at commit 5e59d61 (before the objectives moved into heads and the batch became a
``PretrainBatch``), with that commit's configuration of the algorithm (below):

    PYTHONPATH=<checkout of 5e59d61> .venv/bin/python \
        tests/test_selfsup/data/make_pinned_reference.py [--full /tmp/pinned_full.pt]

``--full`` also saves every gradient whole (65 MB, not committed) for a bit-for-bit comparison
on the same machine. ``test_selfsup_pinned_losses.py`` rebuilds the model with today's code,
starts it from the same weights (keyed by the old module names) and requires the same numbers.
"""

import os.path as osp
import sys

import torch

HERE = osp.dirname(osp.abspath(__file__))
sys.path.insert(0, osp.dirname(HERE))
from tiny_pretraining import (  # noqa: E402
    collate,
    deterministic_init,
    fingerprint,
    pinned_samples,
    text_embeddings,
)

SMALL = 1024  # gradients up to this size are stored whole


def old_model_cfg(text_path: str) -> dict:
    last, fused = 256, 32
    head = dict(type='DINOHead', hidden_dims=32, bottleneck_dims=16)
    return dict(
        type='SkySenseV2',
        data_preprocessor=dict(type='SkySenseDataPreprocessor'),
        backbone=dict(type='SkySenseV2Backbone', arch='tiny', out_indices=(3,), drop_path_rate=0.0),
        fusion=dict(
            type='MultiModalTemporalFusion',
            in_dims=last,
            embed_dims=fused,
            num_layers=1,
            num_heads=2,
        ),
        query_aggregation=dict(
            type='QueryAggregation', embed_dims=fused, num_queries=3, num_heads=2
        ),
        heads=dict(
            pixel=dict(head, in_dims=last, out_dims=32),
            object=dict(head, in_dims=last, out_dims=32),
            image=dict(head, in_dims=last, out_dims=48),
            query=dict(head, in_dims=fused, out_dims=40),
        ),
        mgcl_loss=dict(type='MGCLLoss', out_dims=dict(pixel=32, object=32, image=48)),
        qsacl_loss=dict(type='QSACLLoss', out_dims=40),
        gcpl_loss=dict(type='GCPLLoss', num_regions=10, num_prototypes=4, dims=16),
        ita_loss=dict(type='ITALoss', text_embeddings=text_path),
        num_objects=2,
    )


def main() -> None:
    import argparse
    import tempfile

    parser = argparse.ArgumentParser()
    parser.add_argument('--full', help='also save every gradient whole here')
    args = parser.parse_args()

    from mmskysense.registry import MODELS
    from mmskysense.utils import register_all_modules

    register_all_modules()
    torch.set_num_threads(1)
    with tempfile.TemporaryDirectory() as tmp:
        cfg = old_model_cfg(text_embeddings(osp.join(tmp, 'text.pth')))
        torch.manual_seed(0)
        model = MODELS.build(cfg)
        model.init_weights()
        deterministic_init(model)
        model.train()
        data = model.data_preprocessor(collate(pinned_samples()), True)
        losses = model.loss(**data)
        total, _ = model.parse_losses(losses)
        total.backward()
    grads = {k: p.grad.detach().clone() for k, p in model.named_parameters() if p.grad is not None}
    if args.full:
        torch.save(dict(losses=losses, grads=grads), args.full)
    out = dict(
        losses={k: v.detach().clone() for k, v in losses.items()},
        total=total.detach().clone(),
        grad_fingerprints={k: fingerprint(k, g) for k, g in grads.items()},
        small_grads={k: g for k, g in grads.items() if g.numel() <= SMALL},
        no_grad=[k for k, p in model.named_parameters() if p.requires_grad and p.grad is None],
        buffers_after={
            k: v.detach().clone()
            for k, v in model.named_buffers()
            if 'centering' in k or 'prototypes' in k
        },
    )
    path = osp.join(HERE, 'pinned_losses.pt')
    torch.save(out, path)
    print(
        f'wrote {path}: {len(out["losses"])} loss entries, {len(grads)} gradients '
        f'({len(out["small_grads"])} whole), total {out["total"].item():.6f}'
    )


if __name__ == '__main__':
    main()
