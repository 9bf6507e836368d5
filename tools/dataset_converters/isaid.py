"""Cut the iSAID release into patches with class-id masks for ``ISAIDDataset``.

Input (the release's archives extracted where they stand: ``unzip train/images/part1.zip -d
train`` for the DOTA-v1.0 images, ``unzip train/Semantic_masks/images.zip -d
train/Semantic_masks`` for iSAID's colour-coded semantic masks; the archives hold an ``images/``
folder)::

    ISAID_ROOT/{train,val}/images/P0000.png
    ISAID_ROOT/{train,val}/Semantic_masks/images/P0000_instance_color_RGB.png

Output (the names of mmsegmentation's converter, so that ``ISAIDDataset`` reads either)::

    OUT/img_dir/{train,val}/P0000_<y0>_<y1>_<x0>_<x1>.png                      RGB patch
    OUT/ann_dir/{train,val}/P0000_<y0>_<y1>_<x0>_<x1>_instance_color_RGB.png   class ids 0..15

Usage:
    python tools/dataset_converters/isaid.py ISAID_ROOT -o data/iSAID --patch-size 896 --stride 512
"""

import argparse
import os
import os.path as osp

import mmcv

from mmskysense.datasets.downstream.converter_geometry import colours_to_ids
from mmskysense.datasets.downstream.isaid import ISAID_PALETTE
from mmskysense.datasets.tiling import iter_windows

MASK_SUFFIX = '_instance_color_RGB.png'


def convert_image(
    img_path: str, mask_path: str, out_dir: str, split: str, patch_size: int, stride: int
) -> int:
    """Cut one image and its mask; returns the number of patches written."""
    if not osp.isfile(mask_path):
        raise FileNotFoundError(f'iSAID mask not found for {img_path}: {mask_path}')
    img = mmcv.imread(img_path, channel_order='bgr')
    rgb_mask = mmcv.imread(mask_path, channel_order='rgb')
    if img is None or rgb_mask is None:
        raise ValueError(f'cannot read {img_path} or {mask_path}')
    if img.shape[:2] != rgb_mask.shape[:2]:
        raise ValueError(f'{img_path} is {img.shape[:2]} but its mask is {rgb_mask.shape[:2]}')
    ids = colours_to_ids(rgb_mask, ISAID_PALETTE)
    if (ids == 255).any():
        bad = rgb_mask[ids == 255][0].tolist()
        raise ValueError(f'{mask_path}: colour {bad} is not an iSAID class colour')
    stem = osp.splitext(osp.basename(img_path))[0]
    count = 0
    for y0, x0, y1, x1 in iter_windows(*img.shape[:2], patch_size, stride):
        name = f'{stem}_{y0}_{y1}_{x0}_{x1}'
        mmcv.imwrite(img[y0:y1, x0:x1], osp.join(out_dir, 'img_dir', split, name + '.png'))
        mmcv.imwrite(ids[y0:y1, x0:x1], osp.join(out_dir, 'ann_dir', split, name + MASK_SUFFIX))
        count += 1
    return count


def convert(
    src: str, out_dir: str, splits: list[str], patch_size: int = 896, stride: int = 512
) -> int:
    """Convert the given splits of the release; returns the number of patches written."""
    total = 0
    for split in splits:
        img_dir = osp.join(src, split, 'images')
        if not osp.isdir(img_dir):
            raise FileNotFoundError(f'iSAID images folder not found: {img_dir}')
        mask_dir = osp.join(src, split, 'Semantic_masks', 'images')
        for fname in sorted(os.listdir(img_dir)):
            if not fname.endswith('.png') or fname.endswith(MASK_SUFFIX):
                continue
            stem = osp.splitext(fname)[0]
            total += convert_image(
                osp.join(img_dir, fname),
                osp.join(mask_dir, stem + MASK_SUFFIX),
                out_dir,
                split,
                patch_size,
                stride,
            )
    return total


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('src', help='extracted iSAID release')
    parser.add_argument('-o', '--out-dir', required=True)
    parser.add_argument('--splits', nargs='+', default=['train', 'val'])
    parser.add_argument('--patch-size', type=int, default=896)
    parser.add_argument('--stride', type=int, default=512)
    args = parser.parse_args(argv)
    n = convert(args.src, args.out_dir, args.splits, args.patch_size, args.stride)
    print(f'wrote {n} patches to {args.out_dir}')


if __name__ == '__main__':
    main()
