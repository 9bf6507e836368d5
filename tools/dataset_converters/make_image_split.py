"""Write a seeded split of a class-folder image collection (``mmskysense/datasets/image_split.py``).

Two kinds, both reproducible from the seed:

- the self-supervised study's split (default): per class, half for unlabelled pretraining, the
  rest halved into the k-NN reference and query sets;
- with ``--train-ratio R``, the paper's scene-classification protocol (AID TR 20 % / 50 %,
  RESISC-45 TR 10 % / 20 %): ``round(R * n)`` images of every class for training, the rest for
  testing, which the datasets' ``split_file`` reads.

    python tools/dataset_converters/make_image_split.py data/AID data/aid_split.json --seed 0
    python tools/dataset_converters/make_image_split.py data/AID \\
        data/aid_splits/aid_tr20_seed0.json --train-ratio 0.2 --seed 0
"""

import argparse
import collections
import json
import os
import os.path as osp
from collections.abc import Sequence
from typing import Any

from mmskysense.datasets.image_split import make_image_split, make_ratio_split


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('root', help='ROOT/<ClassName>/<image> (AID, RESISC-45, ...)')
    parser.add_argument('out', help='the split JSON to write')
    parser.add_argument('--seed', type=int, default=0)
    parser.add_argument(
        '--pretrain-frac', type=float, default=0.5, help='the study split: pretraining share'
    )
    parser.add_argument(
        '--train-ratio',
        type=float,
        default=None,
        help='write a training-ratio split (train / test) with this share of every class '
        "for training (the paper's TR), instead of the study split",
    )
    return parser.parse_args(argv)


def _summary(split: dict[str, Any], parts: Sequence[str], per_class_part: str) -> str:
    counts = ', '.join(f'{len(split[p])} {p}' for p in parts)
    per_class = collections.Counter(label for _, label in split[per_class_part])
    return (
        f'{len(split["classes"])} classes, {counts} images '
        f'({per_class_part} per class {min(per_class.values())}-{max(per_class.values())})'
    )


def main(argv: Sequence[str] | None = None) -> None:
    args = parse_args(argv)
    if args.train_ratio is None:
        split = make_image_split(args.root, args.seed, args.pretrain_frac)
        summary = _summary(split, ('pretrain', 'reference', 'query'), 'query')
    else:
        split = make_ratio_split(args.root, args.train_ratio, args.seed)
        summary = _summary(split, ('train', 'test'), 'train')
    os.makedirs(osp.dirname(osp.abspath(args.out)), exist_ok=True)
    tmp = args.out + '.tmp'
    with open(tmp, 'w') as f:
        json.dump(split, f)
    os.replace(tmp, args.out)  # never a half-written split
    print(f'{args.out}: {summary}')


if __name__ == '__main__':
    main()
