"""Turn a sharded pretraining checkpoint (a directory written by ``FSDP2Strategy`` with
``state_dict_type='sharded'``) into one mmengine checkpoint file with the keys of a DDP run, in
one process, without GPUs or a process group. The file then serves as any pretraining
checkpoint: ``tools/model_converters/extract_teacher_backbone.py`` (fine-tuning), ``load_from``,
``mmskysense.apis.init_model``.

    python tools/model_converters/sharded_to_full.py work_dirs/pretrain/iter_600000.pth \
        work_dirs/pretrain/iter_600000_full.pth [--with-optimizer]
"""

import argparse
import os.path as osp
import sys
from collections.abc import Sequence

if __package__ in (None, ''):
    sys.path.insert(0, osp.abspath(osp.join(osp.dirname(__file__), '..', '..')))


def main(argv: Sequence[str] | None = None) -> str:
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('src', help='sharded checkpoint directory (iter_N.pth/)')
    parser.add_argument('dst', help='output checkpoint file (.pth)')
    parser.add_argument(
        '--with-optimizer',
        action='store_true',
        help='keep the optimizer state (keyed by parameter names; not needed to fine-tune)',
    )
    args = parser.parse_args(argv)
    from mmskysense.engine.strategies.fsdp2 import convert_sharded_checkpoint

    try:
        ckpt = convert_sharded_checkpoint(args.src, args.dst, with_optimizer=args.with_optimizer)
    except FileNotFoundError as e:
        raise SystemExit(f'sharded_to_full: {e}') from None
    print(
        f'sharded_to_full: {args.src} -> {args.dst} ({len(ckpt["state_dict"])} tensors, '
        f'iteration {ckpt["meta"].get("iter")})'
    )
    return args.dst


if __name__ == '__main__':
    main()
