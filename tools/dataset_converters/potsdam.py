"""Cut ISPRS Potsdam tiles into patches with class-id masks for ``PotsdamDataset``.

Input (the release's archives extracted in POTSDAM_ROOT: ``2_Ortho_RGB.zip`` holds a
``2_Ortho_RGB/`` folder, while ``5_Labels_all_noBoundary.zip`` and ``5_Labels_all.zip`` hold their
tiles without a top folder, so they land in POTSDAM_ROOT itself; a folder named after the
archive is accepted too)::

    POTSDAM_ROOT/2_Ortho_RGB/top_potsdam_2_10_RGB.tif (+ .tfw)                      6000 x 6000
    POTSDAM_ROOT/top_potsdam_2_10_label_noBoundary.tif                              colour codes
      or POTSDAM_ROOT/5_Labels_all_noBoundary/top_potsdam_2_10_label_noBoundary.tif

Output (tiles split by the official 24 training / 14 test tile lists)::

    OUT/img_dir/{train,val}/2_10_<y>_<x>.png      RGB patch
    OUT/ann_dir/{train,val}/2_10_<y>_<x>.png      ids 0..5 (clutter = 5), 255 = eroded boundary

Usage: python tools/dataset_converters/potsdam.py POTSDAM_ROOT -o data/potsdam
"""

import argparse
import os
import os.path as osp
import re
import warnings

import mmcv
import numpy as np

from mmskysense.datasets.downstream.converter_geometry import colours_to_ids
from mmskysense.datasets.downstream.potsdam import (
    POTSDAM_PALETTE,
    POTSDAM_TEST_TILES,
    POTSDAM_TRAIN_TILES,
)
from mmskysense.datasets.raster import read_raster
from mmskysense.datasets.tiling import iter_windows

TILE_RE = re.compile(r'top_potsdam_(\d+_\d+)_RGB\.tif$')


def label_ids(path: str) -> np.ndarray:
    """Class ids of a colour-coded label tile; colours are snapped to 0/255 per channel first,
    since some tiles carry slightly off codes, and black (boundary) or other colours -> 255."""
    rgb = read_raster(path, bands=[1, 2, 3])
    snapped = np.where(rgb >= 128, 255, 0).astype(np.uint8)
    return colours_to_ids(snapped, POTSDAM_PALETTE)


def find_label(src: str, label_dir: str, name: str) -> str:
    """The label tile ``name`` in ``src/label_dir/`` or, as its archive extracts, in ``src/``."""
    candidates = [osp.join(src, label_dir, name), osp.join(src, name)]
    for path in candidates:
        if osp.isfile(path):
            return path
    raise FileNotFoundError(
        f'Potsdam label {name} not found; looked for {" and ".join(candidates)}'
    )


def convert_tile(
    img_path: str, label_path: str, out_dir: str, split: str, patch_size: int, stride: int
) -> int:
    """Cut one tile and its label; returns the number of patches written."""
    tile = TILE_RE.search(osp.basename(img_path)).group(1)
    img = read_raster(img_path, bands=[1, 2, 3])
    ids = label_ids(label_path)
    if img.shape[:2] != ids.shape:
        raise ValueError(f'{img_path} is {img.shape[:2]} but {label_path} is {ids.shape}')
    bgr = np.ascontiguousarray(img[..., ::-1].astype(np.uint8))
    count = 0
    for y0, x0, y1, x1 in iter_windows(*ids.shape, patch_size, stride):
        name = f'{tile}_{y0}_{x0}.png'
        mmcv.imwrite(bgr[y0:y1, x0:x1], osp.join(out_dir, 'img_dir', split, name))
        mmcv.imwrite(ids[y0:y1, x0:x1], osp.join(out_dir, 'ann_dir', split, name))
        count += 1
    return count


def convert(
    src: str,
    out_dir: str,
    patch_size: int = 512,
    train_stride: int = 256,
    val_stride: int = 512,
    label_dir: str = '5_Labels_all_noBoundary',
    label_suffix: str = '_label_noBoundary.tif',
) -> int:
    """Convert every tile of the release; returns the number of patches written."""
    img_dir = osp.join(src, '2_Ortho_RGB')
    if not osp.isdir(img_dir):
        raise FileNotFoundError(f'Potsdam RGB folder not found: {img_dir}')
    total = 0
    for fname in sorted(os.listdir(img_dir)):
        match = TILE_RE.search(fname)
        if not match:
            continue
        tile = match.group(1)
        if tile in POTSDAM_TRAIN_TILES:
            split, stride = 'train', train_stride
        elif tile in POTSDAM_TEST_TILES:
            split, stride = 'val', val_stride
        else:
            warnings.warn(f'{fname}: tile {tile} is in neither official split, skipped')
            continue
        label_path = find_label(src, label_dir, f'top_potsdam_{tile}{label_suffix}')
        total += convert_tile(
            osp.join(img_dir, fname), label_path, out_dir, split, patch_size, stride
        )
    return total


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('src', help='extracted Potsdam release')
    parser.add_argument('-o', '--out-dir', required=True)
    parser.add_argument('--patch-size', type=int, default=512)
    parser.add_argument('--train-stride', type=int, default=256)
    parser.add_argument('--val-stride', type=int, default=512)
    parser.add_argument('--label-dir', default='5_Labels_all_noBoundary')
    parser.add_argument('--label-suffix', default='_label_noBoundary.tif')
    args = parser.parse_args(argv)
    n = convert(
        args.src,
        args.out_dir,
        args.patch_size,
        args.train_stride,
        args.val_stride,
        args.label_dir,
        args.label_suffix,
    )
    print(f'wrote {n} patches to {args.out_dir}')


if __name__ == '__main__':
    main()
