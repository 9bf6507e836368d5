"""A seeded split of a class-folder image collection for self-supervised studies.

The collection is laid out as image-classification releases are (AID, RESISC-45, mmpretrain's
``CustomDataset``): ``ROOT/<ClassName>/<image>``. Per class, with a seeded shuffle, half the
images (``pretrain_frac``) form the unlabelled pretraining set; the rest is halved into the
k-NN reference set and the k-NN query set. Every run of a study reads the same split file, so
their figures are comparable; no image is in two parts.

Split file (JSON)::

    {"format": "mmskysense-image-split", "version": 1, "seed": 0, "pretrain_frac": 0.5,
     "classes": ["Airport", ...],
     "pretrain": ["Airport/airport_1.jpg", ...],
     "reference": [["Airport/airport_7.jpg", 0], ...],
     "query": [["Airport/airport_2.jpg", 0], ...]}

Paths are relative to the collection's root, which is given where the split is read.

The scene-classification protocol of the paper (AID TR 20 % / 50 %, RESISC-45 TR 10 % / 20 %)
has its own kind of split file, a training-ratio split (``make_ratio_split``): per class,
``round(train_ratio * n)`` images for training (``splits.stratified_ratio_split``, the draw the
datasets make when given no file) and the rest for testing::

    {"format": "mmskysense-ratio-split", "version": 1, "seed": 0, "train_ratio": 0.2,
     "classes": ["Airport", ...],
     "train": [["Airport/airport_3.jpg", 0], ...],
     "test": [["Airport/airport_1.jpg", 0], ...]}
"""

import json
import os
import os.path as osp
from collections import Counter
from typing import Any

import numpy as np

from .downstream.splits import stratified_ratio_split

SPLIT_FORMAT = 'mmskysense-image-split'
SPLIT_VERSION = 1
RATIO_SPLIT_FORMAT = 'mmskysense-ratio-split'
RATIO_SPLIT_VERSION = 1
IMAGE_EXTENSIONS = ('.jpg', '.jpeg', '.png', '.tif', '.tiff', '.bmp')


def list_class_folders(root: str) -> dict[str, list[str]]:
    """``class name -> sorted image paths relative to root`` for every sub-folder of ``root``
    that holds images (by extension)."""
    if not osp.isdir(root):
        raise FileNotFoundError(f'image folder {root!r} does not exist or is not a folder')
    out = {}
    for name in sorted(os.listdir(root)):
        folder = osp.join(root, name)
        if not osp.isdir(folder):
            continue
        files = sorted(
            f for f in os.listdir(folder) if osp.splitext(f)[1].lower() in IMAGE_EXTENSIONS
        )
        if files:
            out[name] = [f'{name}/{f}' for f in files]
    if not out:
        raise FileNotFoundError(
            f'image folder {root!r} has no class sub-folder holding images '
            f'({", ".join(IMAGE_EXTENSIONS)}); expected ROOT/<ClassName>/<image>'
        )
    return out


def make_image_split(root: str, seed: int = 0, pretrain_frac: float = 0.5) -> dict[str, Any]:
    """The split of ``root`` (see the module docstring); every class keeps at least one
    reference and one query image."""
    if not 0.0 <= pretrain_frac < 1.0:
        raise ValueError(
            f'make_image_split: `pretrain_frac` must be in [0, 1), got {pretrain_frac}'
        )
    classes = list_class_folders(root)
    rng = np.random.default_rng(seed)
    split: dict[str, Any] = dict(
        format=SPLIT_FORMAT,
        version=SPLIT_VERSION,
        seed=seed,
        pretrain_frac=pretrain_frac,
        classes=list(classes),
        pretrain=[],
        reference=[],
        query=[],
    )
    for label, (name, files) in enumerate(classes.items()):
        if len(files) < 2:
            raise ValueError(
                f'make_image_split: class folder {osp.join(root, name)!r} holds '
                f'{len(files)} image(s); a class needs at least 2 (one reference, one query)'
            )
        order = [files[i] for i in rng.permutation(len(files))]
        n_pre = min(int(round(len(files) * pretrain_frac)), len(files) - 2)
        rest = order[n_pre:]
        n_ref = (len(rest) + 1) // 2
        split['pretrain'] += order[:n_pre]
        split['reference'] += [[f, label] for f in rest[:n_ref]]
        split['query'] += [[f, label] for f in rest[n_ref:]]
    return split


def make_ratio_split(root: str, train_ratio: float, seed: int = 0) -> dict[str, Any]:
    """The training-ratio split of ``root`` (see the module docstring): classes are the
    sub-folders in sorted order (their labels), and every class keeps at least one test image."""
    classes = list_class_folders(root)
    items = [(path, label) for label, files in enumerate(classes.values()) for path in files]
    train = set(stratified_ratio_split([label for _, label in items], train_ratio, seed))
    n_train = Counter(items[i][1] for i in train)
    for label, (name, files) in enumerate(classes.items()):
        if n_train[label] >= len(files):
            raise ValueError(
                f'make_ratio_split: class folder {osp.join(root, name)!r} holds {len(files)} '
                f'image(s); train_ratio {train_ratio} leaves none for testing'
            )
    return dict(
        format=RATIO_SPLIT_FORMAT,
        version=RATIO_SPLIT_VERSION,
        seed=seed,
        train_ratio=train_ratio,
        classes=list(classes),
        train=[[p, y] for i, (p, y) in enumerate(items) if i in train],
        test=[[p, y] for i, (p, y) in enumerate(items) if i not in train],
    )


def _read_split(path: str, fmt: str, version: int) -> dict[str, Any]:
    """The JSON object of a split file of format ``fmt``, with a non-empty ``classes`` list."""
    try:
        with open(path) as f:
            split = json.load(f)
    except FileNotFoundError:
        raise FileNotFoundError(
            f'image split {path!r} does not exist; make one with '
            'tools/dataset_converters/make_image_split.py'
        ) from None
    except json.JSONDecodeError as err:
        raise ValueError(f'image split {path!r} is not valid JSON: {err}') from None
    if not isinstance(split, dict) or split.get('format') != fmt:
        raise ValueError(f'image split {path!r}: field "format" must be {fmt!r}')
    if split.get('version') != version:
        raise ValueError(f'image split {path!r}: version {split.get("version")!r} is not {version}')
    classes = split.get('classes')
    if not isinstance(classes, list) or not classes:
        raise ValueError(f'image split {path!r}: field "classes" must be a non-empty list')
    return split


def _check_labelled(path: str, split: dict[str, Any], part: str) -> None:
    """``split[part]`` is a non-empty list of ``[relative path, class index]``."""
    items = split.get(part)
    num_classes = len(split['classes'])
    if not isinstance(items, list) or not items:
        raise ValueError(f'image split {path!r}: field {part!r} must be a non-empty list')
    for i, item in enumerate(items):
        if (
            not isinstance(item, list)
            or len(item) != 2
            or not isinstance(item[0], str)
            or not isinstance(item[1], int)
            or not 0 <= item[1] < num_classes
        ):
            raise ValueError(
                f'image split {path!r}: {part}[{i}] must be [path, class index < '
                f'{num_classes}], got {item!r}'
            )


def load_image_split(path: str) -> dict[str, Any]:
    """Read and check a split file; errors name the file and the field."""
    split = _read_split(path, SPLIT_FORMAT, SPLIT_VERSION)
    if not isinstance(split.get('pretrain'), list):
        raise ValueError(f'image split {path!r}: field "pretrain" must be a list of paths')
    for part in ('reference', 'query'):
        _check_labelled(path, split, part)
    return split


def load_ratio_split(path: str) -> dict[str, Any]:
    """Read and check a training-ratio split file (``make_ratio_split``); errors name the file
    and the field. Train and test must be disjoint."""
    split = _read_split(path, RATIO_SPLIT_FORMAT, RATIO_SPLIT_VERSION)
    ratio = split.get('train_ratio')
    if not isinstance(ratio, (int, float)) or not 0.0 < ratio <= 1.0:
        raise ValueError(
            f'image split {path!r}: field "train_ratio" must be in (0, 1], got {ratio!r}'
        )
    if not isinstance(split.get('seed'), int):
        raise ValueError(f'image split {path!r}: field "seed" must be an integer')
    for part in ('train', 'test'):
        _check_labelled(path, split, part)
    both = {p for p, _ in split['train']} & {p for p, _ in split['test']}
    if both:
        raise ValueError(
            f'image split {path!r}: {len(both)} image(s) are in both "train" and "test", '
            f'e.g. {sorted(both)[0]!r}'
        )
    return split
