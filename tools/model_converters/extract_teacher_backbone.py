"""Extract the teacher backbone of a SkySense V2 pretraining checkpoint (paper Figure 5: "the
parameters from the teacher branch are utilized for downstream applications").

    python tools/model_converters/extract_teacher_backbone.py work_dirs/pretrain/iter_600000.pth \
        work_dirs/skysense_v2_backbone.pth

The output holds ``state_dict`` with keys ``backbone.*`` and can be loaded by downstream configs:
``backbone=dict(type='SkySenseV2Backbone', ..., init_cfg=dict(type='Pretrained',
checkpoint='...', prefix='backbone.'))`` or ``load_from``.
"""

import argparse
import os
import os.path as osp
from collections import OrderedDict
from collections.abc import Sequence

import torch

SOURCES = dict(teacher='teacher.backbone.', student='backbone.')


def extract_backbone(
    state_dict: dict[str, torch.Tensor], source: str = 'teacher'
) -> 'OrderedDict[str, torch.Tensor]':
    """``teacher.backbone.*`` (or the student's ``backbone.*``) -> ``backbone.*``."""
    if source not in SOURCES:
        raise ValueError(
            f'extract_backbone: `source` must be one of {sorted(SOURCES)}, got {source!r}'
        )
    prefix = SOURCES[source]
    # a model wrapped in DDP when saved has `module.` in front of every key
    keys = {k[len('module.') :] if k.startswith('module.') else k: k for k in state_dict}
    out = OrderedDict(
        ('backbone.' + k[len(prefix) :], state_dict[orig].detach().clone())
        for k, orig in keys.items()
        if k.startswith(prefix)
    )
    if not out:
        raise KeyError(
            f'extract_backbone: no key starts with {prefix!r}; is this a SkySenseV2 '
            f'pretraining checkpoint? First keys: {list(state_dict)[:5]}'
        )
    return out


def main(argv: Sequence[str] = None) -> str:
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('src', help='pretraining checkpoint (.pth)')
    parser.add_argument('dst', help='output backbone checkpoint (.pth)')
    parser.add_argument(
        '--source',
        choices=sorted(SOURCES),
        default='teacher',
        help='which network to extract (default: the EMA teacher)',
    )
    args = parser.parse_args(argv)
    if not osp.isfile(args.src):
        raise SystemExit(f'extract_teacher_backbone: {args.src} does not exist')
    ckpt = torch.load(args.src, map_location='cpu', weights_only=False)
    state_dict = ckpt.get('state_dict', ckpt) if isinstance(ckpt, dict) else None
    if not isinstance(state_dict, dict):
        raise SystemExit(f'extract_teacher_backbone: {args.src} holds no state dict')
    out = extract_backbone(state_dict, args.source)
    meta = dict(source_checkpoint=osp.abspath(args.src), network=args.source)
    if isinstance(ckpt.get('meta'), dict):
        meta.update({k: ckpt['meta'][k] for k in ('iter', 'epoch') if k in ckpt['meta']})
    os.makedirs(osp.dirname(osp.abspath(args.dst)), exist_ok=True)
    torch.save(dict(state_dict=out, meta=meta), args.dst)
    n = sum(v.numel() for v in out.values())
    print(
        f'wrote {len(out)} tensors ({n / 1e6:.2f} M values) of the {args.source} backbone to '
        f'{args.dst}'
    )
    return args.dst


if __name__ == '__main__':
    main()
