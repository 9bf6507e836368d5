"""Convert SkySense V1's HR backbone (an mmcls/mmpretrain ``SwinTransformerV2`` checkpoint,
keys prefixed ``backbone.``) into a ``SkySenseV2Backbone`` checkpoint.

    python tools/model_converters/skysense_v1_to_mmskysense.py SRC DST [--arch huge]
        [--head-dim N] [--hr-name hr]

* stages 1-2 (Swin V2 blocks, APM of stage 2, patch embedding -> HR tokenizer) map exactly;
* stages 3-4 (global blocks here): qkv, q/v bias (-> qkv bias with a zero key bias), proj, FFN,
  norms and the APM reduction fit; the window-only tensors (``logit_scale``, ``cpb_mlp``, the extra
  ``norm3`` of the huge/giant presets) have no counterpart and are dropped;
* buffers that are not weights (relative position index, coordinate table) are not written: the
  backbone rebuilds them from its window size;
* dense FFN weights of the blocks that carry a MoE in our model are loaded into every expert
  (sparse upcycling) by the backbone at load time; the gates start from scratch.

The conversion is the one every checkpoint goes through
(``mmskysense.models.backbones.checkpoint_filter_fn``): a raw V1 checkpoint also loads directly
with ``init_cfg=dict(type='Pretrained', checkpoint=V1.pth)``; this tool writes the result once.

The output is checked against the target architecture built on the meta device; tensors whose
shape does not fit (e.g. ``cpb_mlp``/``logit_scale`` when the number of heads differs: mmpretrain's
``huge`` has 8 heads in stage 1, i.e. head dim 44, ours 32) are left out and listed. Build the
backbone with ``arch=dict(..., head_dim=44)`` (or pass ``--head-dim 44`` here) for an exact
stage 1-2 match of such a checkpoint.
"""

import argparse
import copy
import os.path as osp
import sys
from collections import OrderedDict

import torch

if __package__ in (None, ''):
    sys.path.insert(0, osp.abspath(osp.join(osp.dirname(__file__), '..', '..')))


def source_head_dim(converted: dict[str, torch.Tensor], hr_name: str = 'hr') -> int | None:
    """C / heads of stage 1 of the source, read from its patch embedding and position-bias MLP
    (one output per head), after conversion."""
    cpb = converted.get('stages.0.blocks.0.attn.cpb_mlp.2.weight')
    emb = converted.get(f'tokenizers.{hr_name}.proj.weight')
    if cpb is None or emb is None:
        return None
    return emb.shape[0] // cpb.shape[0]


def convert(
    src: str,
    dst: str,
    arch: str = 'huge',
    head_dim: int | None = None,
    hr_name: str = 'hr',
    verbose: bool = True,
) -> dict:
    """Convert SRC to DST; return a report (written, dropped, mismatched, unexpected, missing
    keys). SRC goes through ``checkpoint_filter_fn`` with the dense target on the meta device,
    as every checkpoint does (wrappers, the ``backbone.`` prefix, V1 keys, rebuilt buffers)."""
    from mmskysense.models.backbones import (
        SkySenseV2Backbone,
        checkpoint_filter_fn,
        read_checkpoint,
    )
    from mmskysense.models.utils import compare_with_model
    from mmskysense.structures.modalities import backbone_modalities

    arch_cfg = (
        copy.deepcopy(SkySenseV2Backbone.arch_zoo[arch])
        if isinstance(arch, str)
        else copy.deepcopy(arch)
    )
    if head_dim is not None:
        arch_cfg['head_dim'] = head_dim
    # the V1 patch embedding becomes the tokenizer of `hr_name`
    modalities = {hr_name if k == 'hr' else k: v for k, v in backbone_modalities().items()}
    with torch.device('meta'):
        target = SkySenseV2Backbone(
            arch=arch_cfg, modalities=modalities, use_moe=False, drop_path_rate=0.0
        )
    dropped: list[str] = []
    converted = checkpoint_filter_fn(read_checkpoint(src), target, dropped=dropped)
    out, missing, unexpected, mismatched = compare_with_model(converted, target)
    out.update((k, converted[k]) for k in unexpected)
    mismatched = [
        m.replace('checkpoint (', 'source (').replace('vs model', 'vs target') for m in mismatched
    ]
    torch.save(
        dict(
            state_dict=OrderedDict(('backbone.' + k, v) for k, v in out.items()),
            meta=dict(
                converted_from=osp.basename(src), arch=arch_cfg, tool='skysense_v1_to_mmskysense'
            ),
        ),
        dst,
    )
    report = dict(
        written=list(out),
        dropped=dropped,
        mismatched=mismatched,
        unexpected=unexpected,
        missing=missing,
        source_head_dim=source_head_dim(converted, hr_name),
        target_head_dim=arch_cfg['head_dim'],
    )
    if verbose:
        print(
            f'{src} -> {dst}: {len(out)} tensors written '
            f'({sum(v.numel() for v in out.values()) / 1e6:.2f} M parameters)'
        )
        print(
            f'source head dim {report["source_head_dim"]}, target head dim '
            f'{report["target_head_dim"]}'
        )
        for label in ('dropped', 'mismatched', 'unexpected', 'missing'):
            items = report[label]
            print(
                f'{label} ({len(items)}):'
                + ''.join(f'\n  {x}' for x in items[:40])
                + ('\n  ...' if len(items) > 40 else '')
            )
    return report


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(
        description='SkySense V1 HR (mmpretrain SwinTransformerV2) -> SkySenseV2Backbone checkpoint'
    )
    parser.add_argument('src', help='source checkpoint (.pth)')
    parser.add_argument('dst', help='output checkpoint (.pth), keys prefixed backbone.')
    parser.add_argument('--arch', default='huge', help='target arch_zoo preset')
    parser.add_argument(
        '--head-dim',
        type=int,
        default=None,
        help="override the target arch's head_dim (44 for mmpretrain's huge)",
    )
    parser.add_argument('--hr-name', default='hr', help='modality of the HR tokenizer')
    args = parser.parse_args(argv)
    return convert(args.src, args.dst, args.arch, args.head_dim, args.hr_name)


if __name__ == '__main__':
    main()
