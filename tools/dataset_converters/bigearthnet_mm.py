"""The BEN-MM pair list from the BigEarthNet v1.0 release's own Sentinel-1 metadata.

BigEarthNet-S1 v1.0 pairs each Sentinel-1 patch with its Sentinel-2 patch inside the S1 patch's
metadata (``corresponding_s2_patch``); the archives ship no pair list. This writes the one
``BigEarthNetMMDataset`` reads with the S2-only split files (``train.csv`` ...), from those
JSON files alone::

    DATA_ROOT/BigEarthNet-v1.0/<S2 patch>/...                                  (BigEarthNet-S2)
    DATA_ROOT/BigEarthNet-S1-v1.0/<S1 patch>/<S1 patch>_labels_metadata.json   (BigEarthNet-S1)
        {"labels": [...], "corresponding_s2_patch": "<S2 patch>", ...}
    ->  DATA_ROOT/s1s2_mapping.csv        "<S2 patch>,<S1 patch>" per line, sorted by S2 patch

Every S1 patch folder must hold its JSON with a ``corresponding_s2_patch`` that names an S2
patch folder of the release, and no two S1 patches may name the same S2 patch; otherwise
nothing is written and the error names the file. The list is written to a temporary file and
renamed, so a failed run leaves no partial list.

Usage:
    python tools/dataset_converters/bigearthnet_mm.py data/BigEarthNet
    python tools/dataset_converters/bigearthnet_mm.py data/BigEarthNet --out pairs.csv
"""

import argparse
import json
import os
import os.path as osp
import tempfile

S1_DIR = 'BigEarthNet-S1-v1.0'
S2_DIR = 'BigEarthNet-v1.0'
MAPPING = 's1s2_mapping.csv'
PAIR_KEY = 'corresponding_s2_patch'


def s1_pair(s1_folder: str) -> str:
    """The S2 patch named by the S1 patch folder's ``<name>_labels_metadata.json``."""
    name = osp.basename(osp.normpath(s1_folder))
    path = osp.join(s1_folder, f'{name}_labels_metadata.json')
    if not osp.isfile(path):
        raise FileNotFoundError(f'{path}: missing (every BigEarthNet-S1 patch folder has one)')
    try:
        with open(path) as f:
            meta = json.load(f)
    except json.JSONDecodeError as err:
        raise ValueError(f'{path}: not valid JSON: {err}') from None
    pair = meta.get(PAIR_KEY) if isinstance(meta, dict) else None
    if not isinstance(pair, str) or not pair.strip():
        raise ValueError(f'{path}: no {PAIR_KEY!r} naming the S2 patch of this S1 patch')
    return pair.strip()


def build_pairs(data_root: str, s1_dir: str = S1_DIR, s2_dir: str = S2_DIR) -> list[tuple]:
    """``[(S2 patch, S1 patch), ...]`` sorted by S2 patch, checked against the S2 folders."""
    s1_root, s2_root = osp.join(data_root, s1_dir), osp.join(data_root, s2_dir)
    for root, what in ((s1_root, 'BigEarthNet-S1 v1.0'), (s2_root, 'BigEarthNet-S2 v1.0')):
        if not osp.isdir(root):
            raise FileNotFoundError(f'{root}: not a folder (expected the extracted {what})')
    pairs: dict[str, str] = {}
    for s1 in sorted(os.listdir(s1_root)):
        folder = osp.join(s1_root, s1)
        if not osp.isdir(folder):
            continue
        s2 = s1_pair(folder)
        if not osp.isdir(osp.join(s2_root, s2)):
            raise FileNotFoundError(
                f'{folder}: its {PAIR_KEY} {s2!r} is not a patch folder of {s2_root}'
            )
        if s2 in pairs:
            raise ValueError(
                f'{folder}: names the S2 patch {s2!r}, which {pairs[s2]} names too; a pair '
                'list holds one S1 patch per S2 patch'
            )
        pairs[s2] = s1
    if not pairs:
        raise ValueError(f'{s1_root}: holds no S1 patch folder')
    return sorted(pairs.items())


def write_pairs(pairs: list[tuple], out: str) -> str:
    """Write ``<S2>,<S1>`` lines to ``out`` through a temporary file beside it."""
    out_dir = osp.dirname(osp.abspath(out))
    os.makedirs(out_dir, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f'.{osp.basename(out)}.', suffix='.partial', dir=out_dir)
    try:
        with os.fdopen(fd, 'w') as f:
            f.writelines(f'{s2},{s1}\n' for s2, s1 in pairs)
        os.replace(tmp, out)
    except BaseException:
        if osp.exists(tmp):
            os.remove(tmp)
        raise
    return out


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('data_root', help='folder holding both extracted v1.0 archives')
    parser.add_argument('--s1-dir', default=S1_DIR, help=f'S1 patch folders (default {S1_DIR})')
    parser.add_argument('--s2-dir', default=S2_DIR, help=f'S2 patch folders (default {S2_DIR})')
    parser.add_argument(
        '--out', default=None, help=f'the pair list (default DATA_ROOT/{MAPPING}, read by '
        'BigEarthNetMMDataset with one-column split files)',
    )  # fmt: skip
    return parser.parse_args(argv)


def main(argv=None) -> str:
    args = parse_args(argv)
    pairs = build_pairs(args.data_root, args.s1_dir, args.s2_dir)
    out = write_pairs(pairs, args.out or osp.join(args.data_root, MAPPING))
    print(f'{len(pairs)} S2 / S1 pairs from the S1 metadata -> {out}')
    return out


if __name__ == '__main__':
    main()
