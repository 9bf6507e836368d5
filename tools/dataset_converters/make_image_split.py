"""Write the seeded split of a class-folder image collection that a self-supervised study reads
(``mmskysense/datasets/image_split.py``: per class, half for unlabelled pretraining, the rest
halved into the k-NN reference and query sets).

    python tools/dataset_converters/make_image_split.py data/AID data/aid_split.json --seed 0
"""

import argparse
import collections
import json
import os
import os.path as osp
from collections.abc import Sequence

from mmskysense.datasets.image_split import make_image_split


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('root', help='ROOT/<ClassName>/<image> (AID, RESISC-45, ...)')
    parser.add_argument('out', help='the split JSON to write')
    parser.add_argument('--seed', type=int, default=0)
    parser.add_argument('--pretrain-frac', type=float, default=0.5)
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> None:
    args = parse_args(argv)
    split = make_image_split(args.root, args.seed, args.pretrain_frac)
    os.makedirs(osp.dirname(osp.abspath(args.out)), exist_ok=True)
    tmp = args.out + '.tmp'
    with open(tmp, 'w') as f:
        json.dump(split, f)
    os.replace(tmp, args.out)  # never a half-written split
    per_class = collections.Counter(label for _, label in split['query'])
    print(
        f'{args.out}: {len(split["classes"])} classes, {len(split["pretrain"])} pretrain, '
        f'{len(split["reference"])} reference, {len(split["query"])} query images '
        f'(query per class {min(per_class.values())}-{max(per_class.values())})'
    )


if __name__ == '__main__':
    main()
