"""Turn a sharded pretraining checkpoint (a directory written by ``FSDP2Strategy`` with
``state_dict_type='sharded'``) into one mmengine checkpoint file with the keys of a DDP run, in
one process, without GPUs or a process group. The file then serves as any pretraining
checkpoint: ``tools/model_converters/extract_teacher_backbone.py`` (fine-tuning), ``load_from``,
``mmskysense.apis.init_model``.

    python tools/model_converters/sharded_to_full.py work_dirs/pretrain/iter_600000.pth \
        work_dirs/pretrain/iter_600000_full.pth [--with-optimizer] [--max-memory-gb 1]

Only the model's tensors are read (the optimiser's with ``--with-optimizer``), a group of at
most ``--max-memory-gb`` at a time, each written into its place in the output and freed; the
output is written beside ``dst`` and renamed onto it once complete.
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
    parser.add_argument(
        '--max-memory-gb',
        type=float,
        default=None,
        help='tensors held at once while converting, in GiB (default: 1; a larger tensor alone)',
    )
    args = parser.parse_args(argv)
    from mmskysense.engine.strategies.sharded_checkpoint import (
        DEFAULT_MAX_MEMORY_GB,
        convert_sharded_checkpoint,
    )

    budget = DEFAULT_MAX_MEMORY_GB if args.max_memory_gb is None else args.max_memory_gb
    try:
        ckpt = convert_sharded_checkpoint(
            args.src, args.dst, with_optimizer=args.with_optimizer, max_memory_gb=budget
        )
    except (FileNotFoundError, ValueError) as e:
        raise SystemExit(f'sharded_to_full: {e}') from None
    print(
        f'sharded_to_full: {args.src} -> {args.dst} ({len(ckpt["state_dict"])} tensors, '
        f'iteration {ckpt["meta"].get("iter")})'
    )
    return args.dst


if __name__ == '__main__':
    main()
