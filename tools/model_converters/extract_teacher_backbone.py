"""Extract the teacher backbone of a SkySense V2 pretraining checkpoint (paper Figure 5: "the
parameters from the teacher branch are utilized for downstream applications").

    python tools/model_converters/extract_teacher_backbone.py work_dirs/pretrain/iter_600000.pth \
        work_dirs/skysense_v2_backbone.pth

The output holds ``state_dict`` with keys ``backbone.*`` and can be loaded by downstream configs:
``backbone=dict(type='SkySenseV2SingleModal', ..., init_cfg=dict(type='Pretrained',
checkpoint='...'))``. The keys are selected by ``checkpoint_filter_fn``, which the downstream
loading also runs: a whole pretraining checkpoint loads there too (its teacher by default); this
tool writes the backbone alone, a fraction of the file.
"""

import argparse
import os
import os.path as osp
import sys
from collections import OrderedDict
from collections.abc import Mapping, Sequence

import torch

if __package__ in (None, ''):
    sys.path.insert(0, osp.abspath(osp.join(osp.dirname(__file__), '..', '..')))


def extract_backbone(
    checkpoint: Mapping, source: str = 'teacher'
) -> 'OrderedDict[str, torch.Tensor]':
    """``teacher.backbone.*`` (or the student's ``backbone.*``) -> ``backbone.*``, through
    ``checkpoint_filter_fn`` (checkpoint dict or state dict; DDP / FSDP key segments)."""
    from mmskysense.models.backbones import checkpoint_filter_fn
    from mmskysense.models.backbones.checkpoint_rules import PRETRAINING_PREFIXES

    if source not in PRETRAINING_PREFIXES:
        raise ValueError(
            f'extract_backbone: `source` must be one of '
            f'{sorted(PRETRAINING_PREFIXES)}, got {source!r}'
        )
    state = checkpoint_filter_fn(checkpoint, prefix=PRETRAINING_PREFIXES[source])
    return OrderedDict(('backbone.' + k, v.detach().clone()) for k, v in state.items())


def main(argv: Sequence[str] = None) -> str:
    from mmskysense.models.backbones import read_checkpoint
    from mmskysense.models.backbones.checkpoint_rules import PRETRAINING_PREFIXES

    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('src', help='pretraining checkpoint (.pth)')
    parser.add_argument('dst', help='output backbone checkpoint (.pth)')
    parser.add_argument(
        '--source',
        choices=sorted(PRETRAINING_PREFIXES),
        default='teacher',
        help='which network to extract (default: the EMA teacher)',
    )
    args = parser.parse_args(argv)
    if not osp.isfile(args.src):
        raise SystemExit(f'extract_teacher_backbone: {args.src} does not exist')
    ckpt = read_checkpoint(args.src)
    out = extract_backbone(ckpt, args.source)
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
